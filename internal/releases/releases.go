// Package releases implements the releases layout: every verified version is
// an immutable folder target_dir/releases/<commit>/ built from hard links into
// a content-addressed store, and target_dir/current is a symlink to the
// active one. Activation and rollback are one atomic symlink switch:
//
//	symlink current.tmp -> releases/<commit>; rename current.tmp current; fsync target_dir
//
// The version marker switches with current: each release folder holds its
// own version.json, and target_dir/version.json is a symlink to
// current/version.json (made once, before the first switch that needs it),
// so no crash can leave version.json naming another release than current.
//
// Invariants: a release folder is complete and durable, version.json
// included, before its name appears (it is built as releases/.<commit>.tmp
// and renamed); current and previous always name complete releases; the
// store holds each (content, mode) once; releases are never written after
// activation (objects are read-only), except that a release built by an
// earlier version without version.json gets one before it is activated.
package releases

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/pathx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// Names inside target_dir.
const (
	ReleasesDir = statedir.Releases
	CurrentLink = statedir.Current
	PrevLink    = statedir.Previous
	// VersionLink is the target of target_dir/version.json.
	VersionLink = CurrentLink + "/" + state.VersionFile
)

// Layout locates the releases layout of one target folder.
type Layout struct {
	FS     fsx.FS
	Target string // target_dir
	Store  string // content-addressed store (state_dir/store)
}

// Meta is stored beside each release as releases/<commit>.json.
type Meta struct {
	Version source.Version `json:"version"`
	Files   []source.Entry `json:"files"`
}

func (l Layout) relDir(commit string) string { return path.Join(l.Target, ReleasesDir, commit) }

// Key names an object in the store: the blob id plus the mode, because hard
// links share their mode.
func Key(e source.Entry) string {
	switch e.Mode {
	case source.ModeExecutable:
		return e.BlobSHA1 + "-x"
	case source.ModeSymlink:
		return e.BlobSHA1 + "-l"
	}
	return e.BlobSHA1
}

// HasObject reports whether the store holds e.
func (l Layout) HasObject(e source.Entry) bool {
	_, err := l.FS.Lstat(path.Join(l.Store, Key(e)))
	return err == nil
}

// AddObject moves a verified staged file (or symlink) into the store.
func (l Layout) AddObject(staged string, e source.Entry) error {
	if _, err := fsx.MkdirAll(l.FS, l.Store, 0o755); err != nil {
		return err
	}
	dst := path.Join(l.Store, Key(e))
	if e.Mode != source.ModeSymlink {
		perm := fs.FileMode(0o444)
		if e.Mode == source.ModeExecutable {
			perm = 0o555
		}
		if err := l.FS.Chmod(staged, perm); err != nil {
			return err
		}
	}
	return l.FS.Rename(staged, dst)
}

// Current returns the commit current points to ("" when none).
func (l Layout) Current() string { return l.linkCommit(CurrentLink) }

// Previous returns the commit previous points to ("" when none).
func (l Layout) Previous() string { return l.linkCommit(PrevLink) }

func (l Layout) linkCommit(name string) string {
	t, err := l.FS.Readlink(path.Join(l.Target, name))
	if err != nil || !strings.HasPrefix(t, ReleasesDir+"/") {
		return ""
	}
	c := strings.TrimPrefix(t, ReleasesDir+"/")
	if pathx.Validate(c) != nil || strings.Contains(c, "/") {
		return "" // a link ota did not make never names a folder to act on
	}
	return c
}

// ReadMeta loads a release's metadata.
func (l Layout) ReadMeta(commit string) (*Meta, error) {
	b, err := fsx.ReadFile(l.FS, l.relDir(commit)+".json")
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("release %s metadata: %w", commit, err)
	}
	for _, e := range m.Files {
		if err := pathx.Validate(e.Path); err != nil {
			return nil, fmt.Errorf("release %s metadata: %w", commit, err)
		}
	}
	return &m, nil
}

// Build makes the release folder for m from store objects. Every entry must
// be in the store. It is a no-op when the release already exists.
func (l Layout) Build(m Meta) error {
	final := l.relDir(m.Version.Commit)
	if fi, err := l.FS.Lstat(final); err == nil && fi.IsDir() {
		return nil
	}
	rels := path.Join(l.Target, ReleasesDir)
	if _, err := fsx.MkdirAll(l.FS, rels, 0o755); err != nil {
		return err
	}
	tmp := path.Join(rels, "."+m.Version.Commit+".tmp")
	if err := fsx.RemoveAll(l.FS, tmp); err != nil {
		return err
	}
	if err := l.FS.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	dirs := map[string]bool{tmp: true}
	for _, e := range m.Files {
		dst := path.Join(tmp, e.Path)
		created, err := fsx.MkdirAll(l.FS, path.Dir(dst), 0o755)
		if err != nil {
			return fmt.Errorf("build release: %w", err)
		}
		for _, c := range created {
			dirs[c] = true
		}
		obj := path.Join(l.Store, Key(e))
		if e.Mode == source.ModeSymlink {
			t, err := l.FS.Readlink(obj)
			if err != nil {
				return fmt.Errorf("build release: %s: %w", e.Path, err)
			}
			err = l.FS.Symlink(t, dst)
			if err != nil {
				return fmt.Errorf("build release: %s: %w", e.Path, err)
			}
		} else if err := l.FS.Link(obj, dst); err != nil {
			return fmt.Errorf("build release: link %s: %w (the releases layout needs hard links: use layout = \"inplace\" on this filesystem)", e.Path, err)
		}
	}
	if err := state.WriteVersion(l.FS, tmp, m.Version); err != nil {
		return fmt.Errorf("build release: %w", err)
	}
	for d := range dirs {
		if err := l.FS.SyncDir(d); err != nil {
			return err
		}
	}
	if err := l.FS.SyncDir(l.Store); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := fsx.WriteFileAtomic(l.FS, final+".json", b, 0o644); err != nil {
		return err
	}
	if err := l.FS.Rename(tmp, final); err != nil {
		return err
	}
	return l.FS.SyncDir(rels)
}

// EnsureVersion gives the release of commit its version.json when it has
// none (a release built by an earlier version of ota).
func (l Layout) EnsureVersion(commit string, v source.Version) error {
	dir := l.relDir(commit)
	if state.ReadVersion(l.FS, dir) != nil {
		return nil
	}
	return state.WriteVersion(l.FS, dir, v)
}

// VersionLinked reports whether target_dir/version.json is the symlink into
// current.
func (l Layout) VersionLinked() bool {
	t, err := l.FS.Readlink(path.Join(l.Target, state.VersionFile))
	return err == nil && t == VersionLink
}

// LinkVersion makes target_dir/version.json the symlink to
// current/version.json, atomically replacing the regular file earlier
// versions wrote. The release current names must already hold its
// version.json, so the marker names the same version before and after.
func (l Layout) LinkVersion() error {
	if l.VersionLinked() {
		return nil
	}
	name := path.Join(l.Target, state.VersionFile)
	tmp := name + ".tmp"
	if err := l.FS.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := l.FS.Symlink(VersionLink, tmp); err != nil {
		return fmt.Errorf("link version.json: %w", err)
	}
	if err := l.FS.Rename(tmp, name); err != nil {
		return fmt.Errorf("link version.json: %w", err)
	}
	return l.FS.SyncDir(l.Target)
}

// Activate makes commit current and the old current previous. The switch of
// current is the commit point.
func (l Layout) Activate(commit string) error {
	old := l.Current()
	if old == commit {
		return nil
	}
	if old != "" {
		if err := l.setLink(PrevLink, old); err != nil {
			return fmt.Errorf("record previous release: %w", err)
		}
	}
	if err := l.setLink(CurrentLink, commit); err != nil {
		return fmt.Errorf("activate release %s: %w", commit, err)
	}
	return nil
}

func (l Layout) setLink(name, commit string) error {
	tmp := path.Join(l.Target, name+".tmp")
	if err := l.FS.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := l.FS.Symlink(ReleasesDir+"/"+commit, tmp); err != nil {
		return err
	}
	if err := l.FS.Rename(tmp, path.Join(l.Target, name)); err != nil {
		return err
	}
	return l.FS.SyncDir(l.Target)
}

// Rollback swaps current and previous: one symlink switch.
func (l Layout) Rollback() (from, to string, err error) {
	cur, prev := l.Current(), l.Previous()
	if prev == "" || cur == "" {
		return "", "", errors.New("no previous release to roll back to")
	}
	if _, err := l.FS.Lstat(l.relDir(prev)); err != nil {
		return "", "", fmt.Errorf("previous release %s is missing: %w", prev, err)
	}
	return cur, prev, l.Activate(prev)
}

// GC removes releases other than current, previous and the newest keep-2
// others, unfinished builds, and store objects no kept release uses.
func (l Layout) GC(keep int) error {
	rels := path.Join(l.Target, ReleasesDir)
	ents, err := l.FS.ReadDir(rels)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cur, prev := l.Current(), l.Previous()
	type rel struct {
		commit string
		mtime  int64
	}
	var others []rel
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") {
			if err := fsx.RemoveAll(l.FS, path.Join(rels, name)); err != nil {
				return err
			}
			continue
		}
		if !e.IsDir() || name == cur || name == prev {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		others = append(others, rel{name, fi.ModTime().UnixNano()})
	}
	sort.Slice(others, func(i, j int) bool { return others[i].mtime > others[j].mtime })
	if keep < 2 {
		keep = 2
	}
	kept := map[string]bool{cur: true, prev: true}
	for i, r := range others {
		if i < keep-2 {
			kept[r.commit] = true
			continue
		}
		if err := l.FS.Remove(path.Join(rels, r.commit+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := fsx.RemoveAll(l.FS, path.Join(rels, r.commit)); err != nil {
			return err
		}
	}
	used := map[string]bool{}
	for c := range kept {
		if c == "" {
			continue
		}
		m, err := l.ReadMeta(c)
		if err != nil {
			return fmt.Errorf("gc: cannot read release %s, keeping every object: %w", c, err)
		}
		for _, e := range m.Files {
			used[Key(e)] = true
		}
	}
	objs, err := l.FS.ReadDir(l.Store)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, o := range objs {
		if !used[o.Name()] {
			if err := l.FS.Remove(path.Join(l.Store, o.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return l.FS.SyncDir(rels)
}

// Probe checks that the filesystem at dir supports symlinks and hard links.
func Probe(fsys fsx.FS, dir string) error {
	a, b, c := path.Join(dir, ".probe-a"), path.Join(dir, ".probe-b"), path.Join(dir, ".probe-l")
	clean := func() {
		for _, p := range []string{a, b, c} {
			fsys.Remove(p)
		}
	}
	clean() // left by a crash during an earlier probe
	defer clean()
	f, err := fsys.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := fsys.Link(a, b); err != nil {
		return fmt.Errorf("the filesystem at %s has no hard links (%w): use layout = \"inplace\"", dir, err)
	}
	if err := fsys.Symlink(".probe-a", c); err != nil {
		return fmt.Errorf("the filesystem at %s has no symlinks (%w): use layout = \"inplace\"", dir, err)
	}
	return nil
}
