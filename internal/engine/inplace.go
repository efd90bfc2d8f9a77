package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/otafleet/ota/internal/apply"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/previous"
	"github.com/otafleet/ota/internal/state"
)

// inPlace is the original's layout: files replaced in target_dir through
// the apply journal, version.json the commit point, the displaced files
// kept in state_dir/objects for rollback.
type inPlace struct{ e *Engine }

func (l *inPlace) installed() *Version { return state.ReadVersion(l.e.fs, l.e.dirs.Target) }

func (l *inPlace) previous() *Version {
	if p := state.ReadPrevious(l.e.fs, l.e.dirs.State); p != nil {
		return p.Version
	}
	return nil
}

func (l *inPlace) status(s *Status) error {
	s.Previous = l.previous()
	if s.Current != nil {
		s.Version = s.Current.Number
	}
	j, err := apply.ReadJournal(l.e.fs, l.e.dirs)
	if err != nil {
		return err
	}
	if j != nil {
		s.Pending = true
		to := j.To
		s.PendingTo = &to
	} else if apply.StaleBackups(l.e.fs, l.e.dirs) {
		s.Pending = true // recovery would remove them
	}
	return nil
}

func (l *inPlace) recover() (string, error) {
	e := l.e
	out, j, err := apply.Recover(e.fs, e.dirs)
	if err != nil {
		return string(out), err
	}
	switch out {
	case apply.RolledBack:
		e.log.Warn("an interrupted update was rolled back", "to", state.Format(j.From), "abandoned", state.Format(&j.To))
	case apply.RolledFwd:
		e.log.Warn("an interrupted update was completed", "version", state.Format(&j.To))
	case apply.StaleCleaned:
		if err := fsx.RemoveAll(e.fs, e.dirs.Backup); err != nil {
			return string(out), fmt.Errorf("remove stale backups: %w", err)
		}
	}
	return string(out), nil
}

func (l *inPlace) plan(ctx context.Context, src source.Source, t source.Target, p *Plan) error {
	e := l.e
	cur := p.Current
	idx := e.installedIndex(ctx, src, cur)
	tree, err := source.TreeSince(ctx, src, t, func() []source.Entry { return installedEntries(cur, idx) })
	if err != nil {
		return fmt.Errorf("list files of %s: %w", state.Format(&t.Version), err)
	}
	pl, err := plan.Make(plan.Input{
		FS: e.fs, TargetDir: e.dirs.Target, Tree: tree, Index: idx,
		Filter: e.cfg.Filter(), Reserved: e.reserved(),
		// A verified publisher's deletes remove files ota never installed,
		// as the original did.
		DeletePatterns: append(append([]string{}, e.cfg.DeletePatterns...), t.Deletes...),
	})
	if err != nil {
		return fmt.Errorf("plan update to %s: %w", state.Format(&t.Version), err)
	}
	for _, s := range pl.Skipped {
		e.log.Warn("skipping target path", "reason", s)
	}
	p.fill(pl, tree)
	p.index = idx // the update reuses it instead of reading installed.json again
	p.DownloadBytes = pl.DownloadBytes()
	for _, c := range changes(pl) {
		if !c.SameContent {
			p.DownloadFiles++
		}
	}
	p.UpdateAvailable = !pl.Empty() || cur == nil || cur.Commit != t.Commit || cur.Ref != t.Ref || cur.Number != t.Number
	return nil
}

func (l *inPlace) fetchSet(p *Plan) ([]plan.Change, int64, string) {
	return changes(p.plan), p.plan.DownloadBytes(), l.e.dirs.Target
}

func (l *inPlace) prepare() error { return nil }

func (l *inPlace) activate(p *Plan, _ []plan.Change) error {
	e := l.e
	if err := p.plan.CheckLinks(e.readLink(e.dirs.Target)); err != nil {
		return err
	}
	j := apply.FromPlan(e.fs, e.dirs, p.plan, p.index, p.Current, p.Target)
	if err := apply.Apply(e.fs, e.dirs, j); err != nil {
		return fmt.Errorf("apply %s: %w", state.Format(&p.Target), err)
	}
	return nil
}

func (l *inPlace) unchanged() error { return nil }

// revert re-applies the previous version from the files the last update
// displaced (state_dir/objects): no download.
func (l *inPlace) revert(_ context.Context, to Version) (source.Source, *Result, error) {
	src, err := previous.New(l.e.fs, l.e.dirs.State, l.e.dirs.Objects())
	if err != nil {
		return nil, nil, err
	}
	if v := src.Version(); v.Commit != to.Commit {
		return nil, nil, fmt.Errorf("the kept previous version is %s, not %s: it cannot be restored without a download; install it with an update",
			state.Format(&v), state.Format(&to))
	}
	return src, nil, nil
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
func (e *Engine) reserved() []string {
	r := e.cfg.ManagedExcluded()
	if e.cfg.Path != "" {
		r = append(r, pathsInside(e.cfg.TargetDir, e.cfg.Path)...)
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
