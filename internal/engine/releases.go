package engine

import (
	"context"
	"fmt"
	"path"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/releases"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/statedir"
)

// releasesLayout keeps each version in its own immutable folder under
// target_dir/releases, built from a content-addressed store; the `current`
// symlink switch is the commit point and version.json is a symlink into it.
type releasesLayout struct{ e *Engine }

func (r *releasesLayout) l() releases.Layout {
	return releases.Layout{FS: r.e.fs, Target: r.e.dirs.Target, Store: path.Join(r.e.dirs.State, statedir.Store)}
}

func (r *releasesLayout) installed() *Version { return r.version(r.l().Current()) }

func (r *releasesLayout) previous() *Version { return r.version(r.l().Previous()) }

// version returns the version of a release folder, or nil.
func (r *releasesLayout) version(commit string) *Version {
	if commit == "" {
		return nil
	}
	if m, err := r.l().ReadMeta(commit); err == nil {
		v := m.Version
		return &v
	}
	return &Version{Commit: commit}
}

func (r *releasesLayout) status(s *Status) error {
	s.Previous = r.previous()
	if s.Pending, s.Current = r.markerPending(); s.Pending {
		s.PendingTo = s.Current
	}
	return nil
}

// linkVersion prepares the version marker before current switches to the
// release of commit to ("" for none): both releases hold their version.json
// and target_dir/version.json is the symlink into current, so the marker
// switches with the symlink, atomically.
func (r *releasesLayout) linkVersion(to string) error {
	l := r.l()
	for _, c := range []string{l.Current(), to} {
		if c == "" {
			continue
		}
		if err := l.EnsureVersion(c, *r.version(c)); err != nil {
			return fmt.Errorf("write version.json of release %s: %w", c, err)
		}
	}
	return l.LinkVersion()
}

// markerPending reports whether version.json names another version than
// current (a folder converted by an earlier version of ota, interrupted
// between the switch and its version.json): recovery would rewrite it.
func (r *releasesLayout) markerPending() (pending bool, cur *Version) {
	cur = r.installed()
	if cur == nil {
		return false, nil
	}
	v := state.ReadVersion(r.e.fs, r.e.dirs.Target)
	return v == nil || *v != *cur, cur
}

// recover gives version.json its link into current: a folder converted by
// an earlier version of ota, or interrupted between the switch and the
// marker, gets it here.
func (r *releasesLayout) recover() (string, error) {
	pending, _ := r.markerPending()
	if r.l().Current() == "" || (!pending && r.l().VersionLinked()) {
		return "", nil
	}
	if err := r.linkVersion(""); err != nil {
		return "", fmt.Errorf("recover: %w", err)
	}
	if pending {
		return "version.json now names current", nil
	}
	return "", nil
}

func (r *releasesLayout) dir(v *Version) string {
	if v == nil {
		return path.Join(r.e.dirs.Target, releases.ReleasesDir, "none")
	}
	return path.Join(r.e.dirs.Target, releases.ReleasesDir, v.Commit)
}

func (r *releasesLayout) plan(ctx context.Context, src source.Source, t source.Target, p *Plan) error {
	e := r.e
	cur := p.Current
	tree, err := src.Tree(ctx, t)
	if err != nil {
		return fmt.Errorf("list files of %s: %w", state.Format(&t.Version), err)
	}
	pl, err := plan.Make(plan.Input{FS: e.fs, TargetDir: r.dir(cur), Tree: tree, Index: state.Index{}, Filter: e.cfg.Filter(), CompareOnly: true})
	if err != nil {
		return fmt.Errorf("plan update to %s: %w", state.Format(&t.Version), err)
	}
	// Deletes need no work here: the new release simply lacks the file.
	pl.Delete = nil
	p.fill(pl, tree)
	l := r.l()
	if cur != nil {
		in := map[string]bool{}
		for _, en := range pl.Tree {
			in[en.Path] = true
		}
		if m, err := l.ReadMeta(cur.Commit); err == nil {
			for _, en := range m.Files {
				if !in[en.Path] {
					p.Delete = append(p.Delete, en.Path)
				}
			}
		}
	}
	need, bytes, _ := r.fetchSet(p)
	p.DownloadFiles, p.DownloadBytes = len(need), bytes
	p.UpdateAvailable = cur == nil || cur.Commit != t.Commit || cur.Ref != t.Ref || cur.Number != t.Number
	return nil
}

// fetchSet is every added or changed file whose content the store lacks.
func (r *releasesLayout) fetchSet(p *Plan) (need []plan.Change, bytes int64, base string) {
	l := r.l()
	for _, c := range changes(p.plan) {
		if !l.HasObject(*c.Entry) {
			need = append(need, c)
			bytes += c.Entry.Size
		}
	}
	return need, bytes, r.dir(p.Current)
}

func (r *releasesLayout) prepare() error {
	if _, err := fsx.MkdirAll(r.e.fs, r.e.dirs.State, 0o755); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	if err := releases.Probe(r.e.fs, r.e.dirs.State); err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupportedFS, err)
	}
	return nil
}

// activate stores the staged files, builds the release folder and switches
// current to it.
func (r *releasesLayout) activate(p *Plan, need []plan.Change) error {
	e, l := r.e, r.l()
	staged := e.readLink(r.dir(p.Current))
	err := p.plan.CheckLinks(func(en source.Entry) (string, error) {
		if t, err := staged(en); err == nil {
			return t, nil
		}
		return e.fs.Readlink(path.Join(l.Store, releases.Key(en)))
	})
	if err != nil {
		return err
	}
	for _, c := range need {
		if err := l.AddObject(path.Join(e.dirs.Stage, c.Path), *c.Entry); err != nil {
			return fmt.Errorf("store %s: %w", c.Path, err)
		}
	}
	// Unchanged files whose object is gone (a pruned store) come from the
	// current release.
	for _, en := range p.plan.Tree {
		if !l.HasObject(en) {
			if err := r.storeFromRelease(p.Current, en); err != nil {
				return err
			}
		}
	}
	if err := l.Build(releases.Meta{Version: p.Target, Files: p.plan.Tree}); err != nil {
		return fmt.Errorf("build release %s: %w", state.Format(&p.Target), err)
	}
	if err := r.switchTo(p.Target.Commit); err != nil {
		return err
	}
	if err := l.GC(e.cfg.KeepReleases); err != nil {
		e.log.Warn("could not remove old releases", "err", err)
	}
	return nil
}

// switchTo makes the release of commit current, version.json with it.
func (r *releasesLayout) switchTo(commit string) error {
	if err := r.linkVersion(commit); err != nil {
		return err
	}
	return r.l().Activate(commit)
}

func (r *releasesLayout) unchanged() error { return r.linkVersion("") }

func (r *releasesLayout) storeFromRelease(cur *Version, en source.Entry) error {
	e := r.e
	if cur == nil {
		return fmt.Errorf("store %s: content missing", en.Path)
	}
	from := path.Join(r.dir(cur), en.Path)
	staged := path.Join(e.dirs.Stage, en.Path)
	if _, err := fsx.MkdirAll(e.fs, path.Dir(staged), 0o755); err != nil {
		return err
	}
	if en.Mode == source.ModeSymlink {
		t, err := e.fs.Readlink(from)
		if err != nil {
			return err
		}
		if err := e.fs.Symlink(t, staged); err != nil {
			return err
		}
	} else if err := e.fs.Link(from, staged); err != nil {
		return fmt.Errorf("store %s: %w", en.Path, err)
	}
	return r.l().AddObject(staged, en)
}

// revert switches current to the release of to, kept on disk: one rename.
func (r *releasesLayout) revert(_ context.Context, to Version) (source.Source, *Result, error) {
	from := r.installed()
	if _, err := r.e.fs.Lstat(r.dir(&to)); err != nil || to.Commit == "" {
		return nil, nil, fmt.Errorf("release %s is not kept on disk (keep_releases): install it with an update", state.Format(&to))
	}
	if from != nil && from.Commit == to.Commit {
		return nil, &Result{Current: *from}, nil
	}
	if err := r.switchTo(to.Commit); err != nil {
		return nil, nil, err
	}
	return nil, &Result{Updated: true, Current: *r.version(to.Commit), Previous: from}, nil
}
