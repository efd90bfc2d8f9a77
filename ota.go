// Package ota keeps a device's application folder equal to a repository at a
// chosen release, tag, branch tip or commit, and never leaves it broken.
//
// An Updater runs the pipeline
//
//	recover ─► resolve ─► plan ─► fetch (stage, verify) ─► apply (journal) ─► commit
//
// Every method first finishes or undoes an update interrupted by a crash, so
// the folder always holds one complete version and version.json names it.
// The ota command-line tool is a thin layer over this package.
package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/apply"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/lockfile"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/previous"
	"github.com/otafleet/ota/internal/state"
)

// Version is a release of the application tree.
type Version = source.Version

// Progress receives progress of an update; see ProgressFunc for a simple one.
type Progress interface {
	// Start announces the work: files and bytes to fetch.
	Start(files int, bytes int64)
	Add(bytes int64)
	FileDone(path string)
	Finish()
}

// Options are the optional collaborators of an Updater.
type Options struct {
	Logger   *slog.Logger
	FS       fsx.FS        // default: the real filesystem
	Source   source.Source // default: built from the config
	Progress Progress      // default: none
	// Patcher applies deltas; nil uses the built-in delta engine.
	Patcher fetch.Patcher
}

// Updater updates one target folder from one source.
type Updater struct {
	cfg   config.Config
	log   *slog.Logger
	fs    fsx.FS
	src   source.Source
	cache *state.HTTPCache
	prog  Progress
	patch fetch.Patcher
	// sameFS reports whether two folders are on one filesystem (a seam for
	// the cross-device refusal test; a real second mount cannot be assumed).
	sameFS func(a, b string) (bool, error)
	dirs   apply.Dirs
}

// New returns an Updater for cfg (from config.Load).
func New(cfg config.Config, o Options) (*Updater, error) {
	u := &Updater{cfg: cfg, log: o.Logger, fs: o.FS, src: o.Source, prog: o.Progress, patch: o.Patcher, sameFS: sameDevice}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	target := filepath.ToSlash(cfg.TargetDir)
	if u.fs == nil {
		// Confined to target_dir: no link inside it is ever followed.
		u.fs = fsx.OS{Root: target}
	}
	u.dirs = apply.Dirs{
		Target: target,
		Stage:  path.Join(target, cfg.StageDir),
		Backup: path.Join(target, cfg.BackupDir),
		State:  path.Join(target, cfg.StateDir),
	}
	u.cache = state.OpenHTTPCache(u.fs, u.dirs.State)
	if u.patch == nil {
		u.patch = defaultPatcher()
	}
	if u.src == nil {
		s, err := newSource(cfg, u.cache, u.log)
		if err != nil {
			return nil, err
		}
		u.src = s
	}
	return u, nil
}

// lock serialises ota processes on one target folder, after checking that
// nobody else can plant files where ota works.
func (u *Updater) lock() (func(), error) {
	if _, ok := u.fs.(fsx.OS); !ok {
		return func() {}, nil // an in-memory test filesystem has no other process
	}
	if err := checkWriters(u.cfg.AllowOtherWriters, u.dirs.Target, u.dirs.State); err != nil {
		return nil, err
	}
	if _, err := fsx.MkdirAll(u.fs, u.dirs.State, 0o755); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	return lockfile.Lock(u.fs, path.Join(u.dirs.State, LockFile), "lock")
}

// LockFile is the lock every command that may change target_dir takes,
// inside state_dir.
const LockFile = "lock"

// Config returns the configuration the Updater was built with.
func (u *Updater) Config() config.Config { return u.cfg }

// Dirs returns the folders the Updater works in.
func (u *Updater) Dirs() apply.Dirs { return u.dirs }

// CheckResult describes what an update would do.
type CheckResult struct {
	UpdateAvailable bool     `json:"update_available"`
	Current         *Version `json:"current"`
	Target          Version  `json:"target"`
	Add             []string `json:"add"`
	Modify          []string `json:"modify"`
	Delete          []string `json:"delete"`
	DownloadBytes   int64    `json:"download_bytes"`
	DownloadFiles   int      `json:"download_files"`
	// Recovered says what recovery did before the check ("" when nothing).
	Recovered string `json:"recovered,omitempty"`

	plan    *plan.Plan
	index   state.Index // the installed index the plan was made from
	target  source.Target
	archive fetch.Archive
}

// UpdateResult describes an update.
type UpdateResult struct {
	Updated         bool     `json:"updated"`
	Current         Version  `json:"current"`
	Previous        *Version `json:"previous"`
	FilesDownloaded int      `json:"files_downloaded"`
	BytesDownloaded int64    `json:"bytes_downloaded"`
	DeltasApplied   int      `json:"deltas_applied"`
	Added           int      `json:"added"`
	Modified        int      `json:"modified"`
	Deleted         int      `json:"deleted"`
	Recovered       string   `json:"recovered,omitempty"`
}

// Status is what is installed.
type Status struct {
	Current  *Version `json:"current"`
	Previous *Version `json:"previous"`
	Pending  bool     `json:"pending"`
	// Version is the published version number of the installed release
	// (signed repositories only).
	Version int64 `json:"version,omitempty"`
	// PendingTo is the version an interrupted update was going to.
	PendingTo *Version `json:"pending_to,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// Status reports the installed version and whether an interrupted update is
// pending. It is read-only: it does not recover (every other call does).
func (u *Updater) Status(ctx context.Context) (*Status, error) {
	s := &Status{Current: state.ReadVersion(u.fs, u.dirs.Target), Errors: state.ReadErrors(u.fs, u.dirs.Target)}
	if u.releasesMode() {
		l := u.layout()
		s.Previous = u.releaseVersion(l.Previous())
		if s.Pending, s.Current = u.markerPending(); s.Pending {
			s.PendingTo = s.Current
		}
		return s, nil
	}
	if p := state.ReadPrevious(u.fs, u.dirs.State); p != nil {
		s.Previous = p.Version
	}
	if s.Current != nil {
		s.Version = s.Current.Number
	}
	j, err := apply.ReadJournal(u.fs, u.dirs)
	if err != nil {
		return s, err
	}
	if j != nil {
		s.Pending = true
		to := j.To
		s.PendingTo = &to
	} else if apply.StaleBackups(u.fs, u.dirs) {
		s.Pending = true // recovery would remove them
	}
	return s, nil
}

// Recover finishes or undoes an interrupted update.
func (u *Updater) Recover(ctx context.Context) (string, error) {
	unlock, err := u.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	return u.recover()
}

// begin takes the lock and recovers an interrupted update, as every command
// that may change the folder must; the caller defers unlock.
func (u *Updater) begin() (unlock func(), recovered string, err error) {
	unlock, err = u.lock()
	if err != nil {
		return nil, "", err
	}
	recovered, err = u.recover()
	if err != nil {
		unlock()
		return nil, recovered, err
	}
	return unlock, recovered, nil
}

func (u *Updater) recover() (string, error) {
	if u.releasesMode() {
		// The current symlink is the commit point and version.json is a
		// symlink into it; a folder converted by an earlier version of ota
		// gets that symlink here.
		pending, _ := u.markerPending()
		if u.layout().Current() == "" || (!pending && u.layout().VersionLinked()) {
			return "", nil
		}
		if err := u.linkVersion(""); err != nil {
			return "", fmt.Errorf("recover: %w", err)
		}
		if pending {
			return "version.json now names current", nil
		}
		return "", nil
	}
	out, j, err := apply.Recover(u.fs, u.dirs)
	if err != nil {
		return string(out), err
	}
	switch out {
	case apply.RolledBack:
		u.log.Warn("an interrupted update was rolled back", "to", state.Format(j.From), "abandoned", state.Format(&j.To))
	case apply.RolledFwd:
		u.log.Warn("an interrupted update was completed", "version", state.Format(&j.To))
	case apply.StaleCleaned:
		if err := fsx.RemoveAll(u.fs, u.dirs.Backup); err != nil {
			return string(out), fmt.Errorf("remove stale backups: %w", err)
		}
	}
	return string(out), nil
}

// Check resolves the target and plans the update without changing the
// application files.
func (u *Updater) Check(ctx context.Context) (*CheckResult, error) {
	unlock, rec, err := u.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := u.check(ctx)
	if r != nil {
		r.Recovered = rec
	}
	return r, err
}

func (u *Updater) check(ctx context.Context) (*CheckResult, error) {
	if u.releasesMode() {
		return u.checkReleases(ctx, u.src, u.cfg.Force)
	}
	return u.checkFrom(ctx, u.src, u.cfg.Force)
}

func (u *Updater) checkFrom(ctx context.Context, src source.Source, force bool) (*CheckResult, error) {
	defer u.saveCache()
	t, err := src.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve target: %w", err)
	}
	cur := state.ReadVersion(u.fs, u.dirs.Target)
	r := &CheckResult{Current: cur, Target: t.Version, target: t, Add: []string{}, Modify: []string{}, Delete: []string{}}
	if cur != nil && cur.Commit == t.Commit && (t.Number == 0 || t.Number == cur.Number) && !force {
		return r, nil
	}
	idx := u.installedIndex(ctx, src, cur)
	tree, err := source.TreeSince(ctx, src, t, func() []source.Entry { return installedEntries(cur, idx) })
	if err != nil {
		return nil, fmt.Errorf("list files of %s: %w", state.Format(&t.Version), err)
	}
	p, err := plan.Make(plan.Input{
		FS: u.fs, TargetDir: u.dirs.Target, Tree: tree, Index: idx,
		Filter: u.cfg.Filter(), Reserved: u.reserved(),
		// A verified publisher's deletes remove files ota never installed,
		// as the original did.
		DeletePatterns: append(append([]string{}, u.cfg.DeletePatterns...), t.Deletes...),
	})
	if err != nil {
		return nil, fmt.Errorf("plan update to %s: %w", state.Format(&t.Version), err)
	}
	for _, s := range p.Skipped {
		u.log.Warn("skipping target path", "reason", s)
	}
	r.plan, r.index = p, idx
	r.archive = archiveOf(tree)
	for _, c := range p.Add {
		r.Add = append(r.Add, c.Path)
	}
	for _, c := range p.Modify {
		r.Modify = append(r.Modify, c.Path)
	}
	for _, c := range p.Delete {
		r.Delete = append(r.Delete, c.Path)
	}
	r.DownloadBytes = p.DownloadBytes()
	for _, c := range append(append([]plan.Change{}, p.Add...), p.Modify...) {
		if !c.SameContent {
			r.DownloadFiles++
		}
	}
	r.UpdateAvailable = !p.Empty() || cur == nil || cur.Commit != t.Commit || cur.Ref != t.Ref || cur.Number != t.Number
	return r, nil
}

// archiveOf describes tree for fetch's choice of one archive over a request
// per file.
func archiveOf(tree []source.Entry) fetch.Archive {
	a := fetch.Archive{Files: len(tree)}
	for _, e := range tree {
		a.Bytes += e.Size
		if path.Base(e.Path) == ".gitattributes" {
			a.Attributes = true
		}
	}
	return a
}

// installedEntries is the installed index as a file list, for sources that
// list only what changed since it (source.Incremental); nil when the index
// is not the installed version's.
func installedEntries(cur *source.Version, idx state.Index) []source.Entry {
	if cur == nil || idx.Version == nil || *idx.Version != *cur {
		return nil
	}
	out := make([]source.Entry, 0, len(idx.Files))
	for _, f := range idx.Files {
		out = append(out, source.Entry{Path: f.Path, Mode: f.Mode, Size: f.Size, BlobSHA1: f.SHA1})
	}
	return out
}

// reserved lists what inside target_dir belongs to ota, never to the app:
// its folders and the config file, wherever a path to it lands inside
// target_dir (as written, or with links resolved). plan compares them
// case-insensitively, as vfat, exFAT and casefolded folders do.
func (u *Updater) reserved() []string {
	r := u.cfg.ManagedExcluded()
	if u.cfg.Path != "" {
		r = append(r, pathsInside(u.cfg.TargetDir, u.cfg.Path)...)
	}
	return r
}

// pathsInside returns the slash-separated paths, relative to dir, at which
// file lies inside dir: lexically from the absolute paths, and again with
// links resolved in either (a config reached through a link, or a link to
// a config elsewhere).
func pathsInside(dir, file string) []string {
	abs := func(s string) string {
		if a, err := filepath.Abs(s); err == nil {
			return a
		}
		return filepath.Clean(s)
	}
	eval := func(s string) string {
		if e, err := filepath.EvalSymlinks(s); err == nil {
			return e
		}
		return s
	}
	d, f := abs(dir), abs(file)
	pairs := [][2]string{
		{d, f},
		{eval(d), filepath.Join(eval(filepath.Dir(f)), filepath.Base(f))},
		{eval(d), eval(f)},
	}
	var out []string
	for _, p := range pairs {
		rel, err := filepath.Rel(p[0], p[1])
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if r := filepath.ToSlash(rel); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (u *Updater) saveCache() {
	if err := u.cache.Save(); err != nil {
		u.log.Warn("could not save the HTTP cache (the next check will cost more requests)", "err", err)
	}
}

// Update brings the target folder to the target version.
func (u *Updater) Update(ctx context.Context) (res *UpdateResult, err error) {
	unlock, rec, err := u.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if u.releasesMode() {
		res, err = u.updateReleases(ctx, u.src, u.cfg.Force)
	} else {
		res, err = u.updateFrom(ctx, u.src, u.cfg.Force)
	}
	if res != nil {
		res.Recovered = rec
	}
	return res, err
}

// Rollback returns to the version installed before the current one. In the
// in-place layout it is a journaled re-apply of the previous version's files,
// kept in the object store by the last update: no download.
func (u *Updater) Rollback(ctx context.Context) (res *UpdateResult, err error) {
	unlock, _, err := u.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if u.releasesMode() {
		return u.rollbackReleases()
	}
	src, err := previous.New(u.fs, u.dirs.State, u.dirs.Objects())
	if err != nil {
		return nil, err
	}
	return u.updateFrom(ctx, src, true)
}

// Apply installs exactly what an earlier Check found, without resolving or
// listing the tree again (the agent checks eligibility in between). If the
// installed version changed since that check, it checks again.
func (u *Updater) Apply(ctx context.Context, r *CheckResult) (res *UpdateResult, err error) {
	unlock, rec, err := u.begin()
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur := state.ReadVersion(u.fs, u.dirs.Target)
	if u.releasesMode() {
		cur = u.releaseVersion(u.layout().Current())
	}
	stale := r == nil || (r.plan == nil && r.UpdateAvailable) || (cur == nil) != (r.Current == nil) || (cur != nil && *cur != *r.Current)
	switch {
	case stale && u.releasesMode():
		res, err = u.updateReleases(ctx, u.src, u.cfg.Force)
	case stale:
		res, err = u.updateFrom(ctx, u.src, u.cfg.Force)
	case u.releasesMode():
		res, err = u.applyReleases(ctx, u.src, r)
	default:
		res, err = u.applyCheck(ctx, u.src, r)
	}
	if res != nil {
		res.Recovered = rec
	}
	return res, err
}

func (u *Updater) updateFrom(ctx context.Context, src source.Source, force bool) (res *UpdateResult, err error) {
	r, err := u.checkFrom(ctx, src, force)
	if err != nil {
		return nil, err
	}
	return u.applyCheck(ctx, src, r)
}

// applyCheck fetches and activates the plan of r.
func (u *Updater) applyCheck(ctx context.Context, src source.Source, r *CheckResult) (res *UpdateResult, err error) {
	res = &UpdateResult{Current: r.Target, Previous: r.Current}
	if !r.UpdateAvailable {
		res.Current = *r.Current
		return res, nil
	}
	if err := u.preflight(r.plan); err != nil {
		return res, err
	}
	p := r.plan
	need := append(append([]plan.Change{}, p.Add...), p.Modify...)
	if u.prog != nil {
		u.prog.Start(len(need), p.DownloadBytes())
	}
	fo := u.fetchOptions(src, r.target, u.dirs.Target)
	fo.Archive = r.archive
	st, err := fetch.Run(ctx, fo, need)
	if u.prog != nil {
		u.prog.Finish()
	}
	res.FilesDownloaded, res.BytesDownloaded, res.DeltasApplied = st.Files, st.Bytes, st.Deltas
	if err != nil {
		return res, err
	}
	if err := p.CheckLinks(u.readLink(u.dirs.Target)); err != nil {
		return res, err
	}
	j := apply.FromPlan(u.fs, u.dirs, p, r.index, r.Current, r.Target)
	if err := apply.Apply(u.fs, u.dirs, j); err != nil {
		return res, fmt.Errorf("apply %s: %w", state.Format(&r.Target), err)
	}
	res.Updated = true
	res.Added, res.Modified, res.Deleted = len(p.Add), len(p.Modify), len(p.Delete)
	u.clearStage()
	u.log.Info("updated", "from", state.Format(r.Current), "to", state.Format(&r.Target),
		"added", res.Added, "modified", res.Modified, "deleted", res.Deleted, "bytes", res.BytesDownloaded)
	return res, nil
}

// partDir holds downloads in progress: inside state_dir, a namespace no
// repository path reaches (the stage mirrors repository paths).
func (u *Updater) partDir() string { return path.Join(u.dirs.State, "partial") }

// clearStage drops the stage and partial downloads after an update.
func (u *Updater) clearStage() {
	for _, d := range []string{u.dirs.Stage, u.partDir()} {
		if err := fsx.RemoveAll(u.fs, d); err != nil {
			u.log.Warn("could not empty the stage folder", "dir", d, "err", err)
		}
	}
}

// readLink reads a link of the target tree from the stage, where it was just
// staged, or else from dir, where it is installed.
func (u *Updater) readLink(dir string) func(source.Entry) (string, error) {
	return func(e source.Entry) (string, error) {
		if t, err := u.fs.Readlink(path.Join(u.dirs.Stage, e.Path)); err == nil {
			return t, nil
		}
		return u.fs.Readlink(path.Join(dir, e.Path))
	}
}

// fetchOptions configures a fetch from src; deltas apply against files in
// baseDir (the target folder, or the current release).
func (u *Updater) fetchOptions(src source.Source, t source.Target, baseDir string) fetch.Options {
	return fetch.Options{
		FS: u.fs, Source: src, Target: t, TargetDir: baseDir, StageDir: u.dirs.Stage, PartDir: u.partDir(),
		Parallel: u.cfg.Parallel, BufSize: u.cfg.Chunk * 32, Patch: u.patchIfEnabled(), Progress: u.prog, Logger: u.log,
		Attempts: u.cfg.HTTPRetries, Backoff: seconds(u.cfg.BackoffSec), MaxBackoff: seconds(u.cfg.MaxBackoffSec),
	}
}

func (u *Updater) patchIfEnabled() fetch.Patcher {
	if !u.cfg.EnableDeltaUpdates {
		return nil
	}
	return u.patch
}

// preflight refuses an update that cannot be applied atomically or has no
// room, before anything is downloaded.
func (u *Updater) preflight(p *plan.Plan) error {
	if _, err := fsx.MkdirAll(u.fs, u.dirs.Stage, 0o755); err != nil {
		return fmt.Errorf("create stage folder: %w", err)
	}
	if _, ok := u.fs.(fsx.OS); ok {
		same, err := u.sameFS(u.dirs.Target, u.dirs.Stage)
		if err != nil {
			return fmt.Errorf("check stage folder: %w", err)
		}
		if !same {
			return fmt.Errorf("%w: %s is a different mount from %s, so renames would not be atomic: unmount it or choose another stage_dir", ErrCrossFS, u.dirs.Stage, u.dirs.Target)
		}
		need := p.DownloadBytes() + u.cfg.MinFreeStorage
		if free, ok := freeBytes(u.dirs.Stage); ok && free < need {
			return fmt.Errorf("%w: %d bytes free in %s, the update needs %d (%d to stage + min_free_storage %d): free some space",
				ErrNoSpace, free, u.dirs.Target, need, p.DownloadBytes(), u.cfg.MinFreeStorage)
		}
	}
	return nil
}

var errNoSource = errors.New("no source")

// seconds converts a config value in seconds (fractions allowed) to a
// duration: the one conversion every *_sec key goes through.
func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
