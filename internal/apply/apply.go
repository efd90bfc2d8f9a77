// Package apply activates a staged update in place, crash-safely.
//
// Protocol (each step durable before the next):
//  0. indexes: the index being replaced and the new one are written to
//     state_dir/index.prev and state_dir/index.next (write, fsync, rename,
//     fsync folder), streamed, so no step holds them as one buffer.
//  1. journal: the intent (every operation, the old and new version, and the
//     SHA-256 of the two index files it names) is written to
//     state_dir/journal.json. It stays small whatever the tree's size.
//  2. backup: every file that will be replaced or deleted is hard-linked (or,
//     where links are unsupported, renamed) into backup_dir; backup folders
//     are fsynced.
//  3. activate: deleted files are unlinked, folders that become files are
//     removed, new folders are created, staged files are renamed into place;
//     every touched folder is fsynced.
//  4. commit: version.json is written atomically. This is the commit point.
//  5. finish: the new index is written, emptied folders pruned, index.prev
//     renamed to previous.json, backups and the journal removed, then the
//     index files.
//
// Recover, run before every command, reads a leftover journal: if
// version.json names the journal's new version it finishes the update (roll
// forward, reading the index files the journal names and checking their
// SHA-256), otherwise it restores the old version exactly (roll back, which
// needs no index). A journal of format 1 (earlier versions) embeds both
// indexes and is recovered the same way. Both
// directions are idempotent, so a crash during recovery is recovered too.
// A failed rollback never deletes backups: the journal stays for the next run.
package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/pathx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// JournalFile is the journal's name inside state_dir.
const JournalFile = statedir.Journal

// The index files a journal of format 2 names, inside state_dir. Only these
// names are accepted from a journal read from disk.
const (
	NextIndexFile = "index.next" // the new version's index (before the stat cache is refreshed)
	PrevIndexFile = "index.prev" // the index being replaced, with the version it belonged to
)

// journalFormat is written by this version; 1 embedded both indexes.
const journalFormat = 2

// Dirs are the absolute folders apply works in. Stage, Backup and State must
// be on the target's filesystem (rename is only atomic within one).
type Dirs struct {
	Target, Stage, Backup, State string
}

// Objects is the content-addressed store of the previous version's displaced
// files: Objects/<git blob sha1>.
func (d Dirs) Objects() string { return path.Join(d.State, statedir.Objects) }

// Op kinds.
const (
	Put    = "put"    // install the staged file at Path
	Delete = "delete" // remove Path
)

// Op is one journaled operation.
type Op struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	HadOld bool   `json:"had_old,omitempty"` // a file existed at Path and is backed up
}

// Journal is the durable intent of one update.
type Journal struct {
	Format     int             `json:"format"`
	From       *source.Version `json:"from"`
	To         source.Version  `json:"to"`
	Ops        []Op            `json:"ops"`
	MakeDirs   []string        `json:"make_dirs,omitempty"`   // created before puts, outermost first
	RemoveDirs []string        `json:"remove_dirs,omitempty"` // folders replaced by files, removed after deletes
	PruneDirs  []string        `json:"prune_dirs,omitempty"`  // removed after commit when empty, deepest first
	// Index is the index of the new version. In a journal of format 2 it is
	// not in journal.json but in the file NextIndex names, read by Recover
	// when it rolls forward.
	Index state.Index `json:"index,omitzero"`
	// Prev is the index of the version being replaced. After the commit the
	// files it lists that the update displaced are kept in the object store,
	// so `ota rollback` can re-apply it without a download. Format 2: in
	// the file PrevIndex names.
	Prev      state.Index `json:"prev,omitzero"`
	NextIndex *IndexRef   `json:"next_index,omitempty"`
	PrevIndex *IndexRef   `json:"prev_index,omitempty"`
}

// IndexRef names an index file written durably before the journal.
type IndexRef struct {
	Name   string `json:"name"`   // inside state_dir
	SHA256 string `json:"sha256"` // of the whole file
}

// ReadJournal returns the pending journal, or nil when there is none.
func ReadJournal(fsys fsx.FS, d Dirs) (*Journal, error) {
	b, err := fsx.ReadFile(fsys, path.Join(d.State, JournalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var j Journal
	err = json.Unmarshal(b, &j)
	if err == nil {
		err = j.check()
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s is corrupt (%v): restore the folder from a backup or remove the journal after checking the files", path.Join(d.State, JournalFile), err)
	}
	return &j, nil
}

// check validates every path a journal read from disk names, as strictly as
// a tree path: recovery acts on them, so a crafted journal must never lead
// outside target_dir.
func (j *Journal) check() error {
	for _, op := range j.Ops {
		if op.Kind != Put && op.Kind != Delete {
			return fmt.Errorf("unknown operation %q", op.Kind)
		}
		if err := pathx.Validate(op.Path); err != nil {
			return err
		}
	}
	for _, dirs := range [][]string{j.MakeDirs, j.RemoveDirs, j.PruneDirs} {
		for _, d := range dirs {
			if err := pathx.Validate(d); err != nil {
				return err
			}
		}
	}
	if err := j.Index.Check(); err != nil {
		return fmt.Errorf("new index: %w", err)
	}
	if err := j.Prev.Check(); err != nil {
		return fmt.Errorf("previous index: %w", err)
	}
	switch j.Format {
	case 0, 1: // before format 2 the indexes were embedded
		if j.NextIndex != nil || j.PrevIndex != nil {
			return fmt.Errorf("format %d journal names index files", j.Format)
		}
	case journalFormat:
		for _, r := range []struct {
			ref  *IndexRef
			name string
		}{{j.NextIndex, NextIndexFile}, {j.PrevIndex, PrevIndexFile}} {
			if r.ref == nil || r.ref.Name != r.name || !isSHA256(r.ref.SHA256) {
				return fmt.Errorf("index file: want %s with its sha256, got %+v", r.name, r.ref)
			}
		}
		if !j.Index.IsZero() || !j.Prev.IsZero() {
			return errors.New("format 2 journal embeds an index")
		}
	default:
		return fmt.Errorf("unknown format %d (written by a newer ota?)", j.Format)
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// loadIndexes reads the index files a format-2 journal names, checking
// their SHA-256. index.prev may already have been renamed to previous.json
// by an interrupted finish: the same bytes, so the same SHA-256.
func (j *Journal) loadIndexes(fsys fsx.FS, d Dirs) error {
	if j.Format != journalFormat {
		return nil
	}
	load := func(ref *IndexRef, alt string) (state.Index, error) {
		idx, sum, err := state.ReadIndexFile(fsys, path.Join(d.State, ref.Name))
		if errors.Is(err, fs.ErrNotExist) && alt != "" {
			idx, sum, err = state.ReadIndexFile(fsys, path.Join(d.State, alt))
		}
		if err != nil {
			return state.Index{}, err
		}
		if sum != ref.SHA256 {
			return state.Index{}, fmt.Errorf("%s: sha256 %s, the journal says %s", ref.Name, sum, ref.SHA256)
		}
		return idx, nil
	}
	var err error
	if j.Index, err = load(j.NextIndex, ""); err != nil {
		return fmt.Errorf("journal %s names a new index that cannot be used (%v): restore the folder from a backup or remove the journal after checking the files", path.Join(d.State, JournalFile), err)
	}
	if j.Prev, err = load(j.PrevIndex, state.PreviousFile); err != nil {
		return fmt.Errorf("journal %s names a previous index that cannot be used (%v): restore the folder from a backup or remove the journal after checking the files", path.Join(d.State, JournalFile), err)
	}
	return nil
}

// encode renders journal.json: without the indexes when they are in their
// own files (format 2).
func (j *Journal) encode() ([]byte, error) {
	enc := *j
	if j.Format == journalFormat {
		enc.Index, enc.Prev = state.Index{}, state.Index{}
	}
	return json.Marshal(&enc)
}

// writeIndexes writes j's indexes to the files a format-2 journal names.
func (j *Journal) writeIndexes(fsys fsx.FS, d Dirs) error {
	prevSum, err := state.WriteIndexFile(fsys, path.Join(d.State, PrevIndexFile), j.From, slices.Values(j.Prev.Files))
	if err != nil {
		return fmt.Errorf("write %s: %w", PrevIndexFile, err)
	}
	nextSum, err := state.WriteIndexFile(fsys, path.Join(d.State, NextIndexFile), j.Index.Version, slices.Values(j.Index.Files))
	if err != nil {
		return fmt.Errorf("write %s: %w", NextIndexFile, err)
	}
	j.PrevIndex = &IndexRef{Name: PrevIndexFile, SHA256: prevSum}
	j.NextIndex = &IndexRef{Name: NextIndexFile, SHA256: nextSum}
	return nil
}

// Apply runs the protocol for j. Staged files must already be complete and
// fsynced at Stage/<path>. On error everything done is rolled back; the
// returned error then also lists any rollback failures.
func Apply(fsys fsx.FS, d Dirs, j *Journal) error {
	j.Format = journalFormat
	if _, err := fsx.MkdirAll(fsys, d.State, 0o755); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	if err := fsx.RemoveAll(fsys, d.Backup); err != nil {
		return fmt.Errorf("clear backup folder %s: %w", d.Backup, err)
	}
	if _, err := fsx.MkdirAll(fsys, d.Backup, 0o755); err != nil {
		return fmt.Errorf("create backup folder: %w", err)
	}
	if err := j.writeIndexes(fsys, d); err != nil {
		return err
	}
	b, err := j.encode()
	if err != nil {
		return err
	}
	if err := fsx.WriteFileAtomic(fsys, path.Join(d.State, JournalFile), b, 0o644); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := activate(fsys, d, j); err != nil {
		if rerr := rollback(fsys, d, j); rerr != nil {
			return fmt.Errorf("%w; rollback failed too, backups and journal kept for the next run: %v", err, rerr)
		}
		return err
	}
	if err := state.WriteVersion(fsys, d.Target, j.To); err != nil {
		if rerr := rollback(fsys, d, j); rerr != nil {
			return fmt.Errorf("commit version.json: %w; rollback failed too: %v", err, rerr)
		}
		return fmt.Errorf("commit version.json: %w", err)
	}
	return finish(fsys, d, j)
}

func activate(fsys fsx.FS, d Dirs, j *Journal) error {
	syncs := newSyncSet()
	// Backups first, all durable before anything visible changes.
	for _, op := range j.Ops {
		if !op.HadOld {
			continue
		}
		tgt, bak := path.Join(d.Target, op.Path), path.Join(d.Backup, op.Path)
		if _, err := fsx.MkdirAll(fsys, path.Dir(bak), 0o755); err != nil {
			return fmt.Errorf("backup %s: %w", op.Path, err)
		}
		if err := fsys.Link(tgt, bak); err != nil {
			if err := fsys.Rename(tgt, bak); err != nil {
				return fmt.Errorf("backup %s: %w", op.Path, err)
			}
			syncs.add(path.Dir(tgt))
		}
		syncs.add(path.Dir(bak))
	}
	if err := syncs.sync(fsys); err != nil {
		return fmt.Errorf("sync backups: %w", err)
	}
	for _, op := range j.Ops {
		if op.Kind != Delete {
			continue
		}
		tgt := path.Join(d.Target, op.Path)
		if err := fsys.Remove(tgt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", op.Path, err)
		}
		syncs.add(path.Dir(tgt))
	}
	// A folder's entries must be durably gone before the folder goes.
	if err := syncs.sync(fsys); err != nil {
		return fmt.Errorf("sync deletes: %w", err)
	}
	for _, dir := range j.RemoveDirs {
		if err := removeDirDurably(fsys, path.Join(d.Target, dir)); err != nil {
			return fmt.Errorf("remove folder %s (to put a file there): %w", dir, err)
		}
	}
	for _, dir := range j.MakeDirs {
		full := path.Join(d.Target, dir)
		if err := fsys.Mkdir(full, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create folder %s: %w", dir, err)
		}
		if err := fsys.SyncDir(path.Dir(full)); err != nil {
			return fmt.Errorf("create folder %s: %w", dir, err)
		}
	}
	for _, op := range j.Ops {
		if op.Kind != Put {
			continue
		}
		tgt, stg := path.Join(d.Target, op.Path), path.Join(d.Stage, op.Path)
		if err := fsys.Rename(stg, tgt); err != nil {
			return fmt.Errorf("install %s: %w", op.Path, err)
		}
		syncs.add(path.Dir(tgt))
		syncs.add(path.Dir(stg))
	}
	if err := syncs.sync(fsys); err != nil {
		return fmt.Errorf("sync installed files: %w", err)
	}
	return nil
}

// rollback restores the old version. It is idempotent.
func rollback(fsys fsx.FS, d Dirs, j *Journal) error {
	var errs []error
	syncs := newSyncSet()
	// 1. Remove files that did not exist before and were installed.
	for i := len(j.Ops) - 1; i >= 0; i-- {
		op := j.Ops[i]
		if op.Kind != Put || op.HadOld {
			continue
		}
		tgt, stg := path.Join(d.Target, op.Path), path.Join(d.Stage, op.Path)
		if exists(fsys, stg) {
			continue // never installed
		}
		if fi, err := fsys.Lstat(tgt); err == nil && !fi.IsDir() {
			if err := fsys.Remove(tgt); err != nil {
				errs = append(errs, fmt.Errorf("remove new file %s: %w", op.Path, err))
			}
			syncs.add(path.Dir(tgt))
		}
	}
	if err := syncs.sync(fsys); err != nil {
		errs = append(errs, fmt.Errorf("sync removed files: %w", err))
	}
	// 2. Remove folders the update created, if empty. Only a folder: a
	// file of the old version may sit where the new version wanted one.
	for i := len(j.MakeDirs) - 1; i >= 0; i-- {
		full := path.Join(d.Target, j.MakeDirs[i])
		if fi, err := fsys.Lstat(full); err == nil && fi.IsDir() {
			if ents, err := fsys.ReadDir(full); err == nil && len(ents) == 0 {
				if err := removeDirDurably(fsys, full); err != nil {
					errs = append(errs, fmt.Errorf("remove new folder %s: %w", j.MakeDirs[i], err))
				}
			}
		}
	}
	// 3. Restore every backup (replaced and deleted files).
	for _, op := range j.Ops {
		if !op.HadOld {
			continue
		}
		tgt, bak := path.Join(d.Target, op.Path), path.Join(d.Backup, op.Path)
		if _, err := fsys.Lstat(bak); err != nil {
			continue // not backed up yet (so untouched), or already restored
		}
		if _, err := fsx.MkdirAll(fsys, path.Dir(tgt), 0o755); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", op.Path, err))
			continue
		}
		if err := fsys.Rename(bak, tgt); err != nil {
			errs = append(errs, fmt.Errorf("restore %s from %s: %w", op.Path, bak, err))
			continue
		}
		syncs.add(path.Dir(tgt))
		syncs.add(path.Dir(bak))
	}
	if err := syncs.sync(fsys); err != nil {
		errs = append(errs, fmt.Errorf("sync restored files: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Only now may backups go: the old version is complete and durable.
	return cleanup(fsys, d)
}

// finish completes a committed update. It is idempotent.
func finish(fsys fsx.FS, d Dirs, j *Journal) error {
	syncs := newSyncSet()
	for _, op := range j.Ops {
		if op.Kind == Delete {
			tgt := path.Join(d.Target, op.Path)
			if fi, err := fsys.Lstat(tgt); err == nil && !fi.IsDir() {
				if err := fsys.Remove(tgt); err != nil {
					return fmt.Errorf("finish: delete %s: %w", op.Path, err)
				}
				syncs.add(path.Dir(tgt))
			}
		}
	}
	if err := syncs.sync(fsys); err != nil {
		return fmt.Errorf("finish: sync: %w", err)
	}
	for _, dir := range j.RemoveDirs {
		full := path.Join(d.Target, dir)
		if fi, err := fsys.Lstat(full); err == nil && fi.IsDir() {
			if err := removeDirDurably(fsys, full); err != nil {
				return fmt.Errorf("finish: remove folder %s: %w", dir, err)
			}
		}
	}
	for _, dir := range j.MakeDirs {
		full := path.Join(d.Target, dir)
		if err := fsys.Mkdir(full, 0o755); err == nil {
			if err := fsys.SyncDir(path.Dir(full)); err != nil {
				return fmt.Errorf("finish: create folder %s: %w", dir, err)
			}
		}
	}
	for _, op := range j.Ops {
		if op.Kind != Put {
			continue
		}
		tgt, stg := path.Join(d.Target, op.Path), path.Join(d.Stage, op.Path)
		if exists(fsys, stg) {
			if err := fsys.Rename(stg, tgt); err != nil {
				return fmt.Errorf("finish: install %s: %w", op.Path, err)
			}
			syncs.add(path.Dir(tgt))
			syncs.add(path.Dir(stg))
		}
	}
	if err := syncs.sync(fsys); err != nil {
		return fmt.Errorf("finish: sync: %w", err)
	}
	if v := state.ReadVersion(fsys, d.Target); v == nil || *v != j.To {
		if err := state.WriteVersion(fsys, d.Target, j.To); err != nil {
			return fmt.Errorf("finish: write version.json: %w", err)
		}
	}
	idx := j.Index
	for i, f := range idx.Files {
		if fi, err := fsys.Lstat(path.Join(d.Target, f.Path)); err == nil && fi.Mode().IsRegular() {
			idx.Files[i].FileState = state.Stamp(f.FileState, fi)
		}
	}
	if err := state.WriteIndex(fsys, d.State, idx); err != nil {
		return fmt.Errorf("finish: write index: %w", err)
	}
	for _, dir := range j.PruneDirs {
		full := path.Join(d.Target, dir)
		if fi, err := fsys.Lstat(full); err == nil && fi.IsDir() {
			if ents, err := fsys.ReadDir(full); err == nil && len(ents) == 0 {
				if err := removeDirDurably(fsys, full); err != nil {
					return fmt.Errorf("finish: prune folder %s: %w", dir, err)
				}
			}
		}
	}
	if err := keepPrevious(fsys, d, j); err != nil {
		return fmt.Errorf("finish: keep the previous version for rollback: %w", err)
	}
	return cleanup(fsys, d)
}

// keepPrevious records the previous version and moves the backups of the
// files this update displaced into the object store, dropping objects no
// longer needed. Idempotent.
func keepPrevious(fsys fsx.FS, d Dirs, j *Journal) error {
	if j.From == nil || len(j.Prev.Files) == 0 {
		return nil
	}
	if j.Format == journalFormat {
		// index.prev already holds the previous version's index with
		// j.From as its version.
		if err := fsys.Rename(path.Join(d.State, PrevIndexFile), path.Join(d.State, state.PreviousFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := fsys.SyncDir(d.State); err != nil {
			return err
		}
	} else {
		prev := j.Prev
		prev.Version = j.From
		if err := state.WritePrevious(fsys, d.State, prev); err != nil {
			return err
		}
	}
	obj := d.Objects()
	if _, err := fsx.MkdirAll(fsys, obj, 0o755); err != nil {
		return err
	}
	keep := make([]string, 0, len(j.Prev.Files))
	for _, st := range j.Prev.Files {
		keep = append(keep, st.SHA1)
	}
	slices.Sort(keep)
	moved := newSyncSet()
	for _, op := range j.Ops {
		st, ok := j.Prev.Lookup(op.Path)
		if !op.HadOld || !ok {
			continue
		}
		bak := path.Join(d.Backup, op.Path)
		if _, err := fsys.Lstat(bak); err != nil {
			continue
		}
		if err := fsys.Rename(bak, path.Join(obj, st.SHA1)); err != nil {
			return err
		}
		moved.add(path.Dir(bak))
	}
	// A rename is durable once both folders are synced (obj below); the
	// backups are removed right after.
	if err := moved.sync(fsys); err != nil {
		return err
	}
	ents, err := fsys.ReadDir(obj)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, ok := slices.BinarySearch(keep, e.Name()); !ok {
			if err := fsys.Remove(path.Join(obj, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return fsys.SyncDir(obj)
}

// cleanup drops backups, then the journal (last: it is what makes recovery run).
func cleanup(fsys fsx.FS, d Dirs) error {
	if err := fsx.RemoveAll(fsys, d.Backup); err != nil {
		return fmt.Errorf("remove backups: %w", err)
	}
	if err := fsys.SyncDir(path.Dir(d.Backup)); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := fsys.Remove(path.Join(d.State, JournalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	if err := fsys.SyncDir(d.State); err != nil {
		return err
	}
	return removeIndexFiles(fsys, d)
}

// removeIndexFiles drops the index files of a journal that is gone (or
// never was written): nothing reads them without one.
func removeIndexFiles(fsys fsx.FS, d Dirs) error {
	for _, name := range []string{NextIndexFile, PrevIndexFile} {
		if err := fsys.Remove(path.Join(d.State, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return nil
}

// Outcome says what Recover did.
type Outcome string

const (
	Nothing      Outcome = ""
	RolledBack   Outcome = "rolled back"
	RolledFwd    Outcome = "rolled forward"
	StaleCleaned Outcome = "cleaned"
)

// Recover finishes or undoes an interrupted update. It is safe to call at any
// time and after a crash at any point, including during an earlier Recover.
func Recover(fsys fsx.FS, d Dirs) (Outcome, *Journal, error) {
	// A torn version.json.tmp is never the commit point; drop it.
	_ = fsys.Remove(path.Join(d.Target, state.VersionFile+".tmp"))
	j, err := ReadJournal(fsys, d)
	if err != nil {
		return Nothing, nil, err
	}
	if j == nil {
		// Index files without a journal: a crash before the journal was
		// written, or after it was removed.
		_ = removeIndexFiles(fsys, d)
		if StaleBackups(fsys, d) {
			return StaleCleaned, nil, nil
		}
		return Nothing, nil, nil
	}
	if v := state.ReadVersion(fsys, d.Target); v != nil && *v == j.To {
		if err := j.loadIndexes(fsys, d); err != nil {
			return RolledFwd, j, err
		}
		if err := finish(fsys, d, j); err != nil {
			return RolledFwd, j, fmt.Errorf("finish interrupted update to %s: %w", state.Format(&j.To), err)
		}
		return RolledFwd, j, nil
	}
	if err := rollback(fsys, d, j); err != nil {
		return RolledBack, j, fmt.Errorf("restore %s after an interrupted update (backups kept in %s): %w", state.Format(j.From), d.Backup, err)
	}
	return RolledBack, j, nil
}

// StaleBackups reports backups with no journal: leftovers (for example from
// the original updater), since a journal always precedes a backup here.
func StaleBackups(fsys fsx.FS, d Dirs) bool {
	if !exists(fsys, d.Backup) {
		return false
	}
	ents, _ := fsys.ReadDir(d.Backup)
	return len(ents) > 0
}

// removeDirDurably removes an empty folder and fsyncs its parent, so that a
// later removal of the parent is never durable before this one.
func removeDirDurably(fsys fsx.FS, dir string) error {
	if err := fsys.Remove(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return fsys.SyncDir(path.Dir(dir))
}

func exists(fsys fsx.FS, p string) bool {
	_, err := fsys.Lstat(p)
	return err == nil
}

type syncSet map[string]bool

func newSyncSet() syncSet      { return syncSet{} }
func (s syncSet) add(d string) { s[d] = true }

// sync fsyncs every folder in the set, deepest first, and empties the set.
func (s syncSet) sync(fsys fsx.FS) error {
	dirs := make([]string, 0, len(s))
	for d := range s {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool {
		if a, b := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/"); a != b {
			return a > b
		}
		return dirs[i] < dirs[j]
	})
	for _, d := range dirs {
		delete(s, d)
		if err := fsys.SyncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
