package ota

import (
	"context"
	"fmt"
	"path"

	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/releases"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

func (u *Updater) layout() releases.Layout {
	return releases.Layout{FS: u.fs, Target: u.dirs.Target, Store: path.Join(u.dirs.State, "store")}
}

func (u *Updater) releasesMode() bool { return u.cfg.Layout == "releases" }

// releaseVersion returns the version of a release folder, or nil.
func (u *Updater) releaseVersion(commit string) *Version {
	if commit == "" {
		return nil
	}
	if m, err := u.layout().ReadMeta(commit); err == nil {
		v := m.Version
		return &v
	}
	return &Version{Commit: commit}
}

// linkVersion prepares the version marker before current switches to the
// release of commit to ("" for none): both releases hold their version.json
// and target_dir/version.json is the symlink into current, so the marker
// switches with the symlink, atomically.
func (u *Updater) linkVersion(to string) error {
	l := u.layout()
	for _, c := range []string{l.Current(), to} {
		if c == "" {
			continue
		}
		if err := l.EnsureVersion(c, *u.releaseVersion(c)); err != nil {
			return fmt.Errorf("write version.json of release %s: %w", c, err)
		}
	}
	return l.LinkVersion()
}

// markerPending reports whether version.json names another version than
// current (a folder converted by an earlier version of ota, interrupted
// between the switch and its version.json): recovery would rewrite it.
func (u *Updater) markerPending() (pending bool, cur *Version) {
	cur = u.releaseVersion(u.layout().Current())
	if cur == nil {
		return false, nil
	}
	v := state.ReadVersion(u.fs, u.dirs.Target)
	return v == nil || *v != *cur, cur
}

func (u *Updater) checkReleases(ctx context.Context, src source.Source, force bool) (*CheckResult, error) {
	defer u.saveCache()
	t, err := src.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve target: %w", err)
	}
	l := u.layout()
	curCommit := l.Current()
	cur := u.releaseVersion(curCommit)
	r := &CheckResult{Current: cur, Target: t.Version, target: t, Add: []string{}, Modify: []string{}, Delete: []string{}}
	if cur != nil && cur.Commit == t.Commit && (t.Number == 0 || t.Number == cur.Number) && !force {
		return r, nil
	}
	tree, err := src.Tree(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("list files of %s: %w", state.Format(&t.Version), err)
	}
	base := path.Join(u.dirs.Target, releases.ReleasesDir, "none")
	if curCommit != "" {
		base = path.Join(u.dirs.Target, releases.ReleasesDir, curCommit)
	}
	p, err := plan.Make(plan.Input{FS: u.fs, TargetDir: base, Tree: tree, Index: state.Index{}, Filter: u.cfg.Filter(), CompareOnly: true})
	if err != nil {
		return nil, fmt.Errorf("plan update to %s: %w", state.Format(&t.Version), err)
	}
	// Deletes need no work here: the new release simply lacks the file.
	p.Delete = nil
	r.plan = p
	r.archive = archiveOf(tree)
	for _, c := range p.Add {
		r.Add = append(r.Add, c.Path)
	}
	for _, c := range p.Modify {
		r.Modify = append(r.Modify, c.Path)
	}
	if cur != nil {
		in := map[string]bool{}
		for _, e := range p.Tree {
			in[e.Path] = true
		}
		if m, err := l.ReadMeta(curCommit); err == nil {
			for _, e := range m.Files {
				if !in[e.Path] {
					r.Delete = append(r.Delete, e.Path)
				}
			}
		}
	}
	for _, c := range append(append([]plan.Change{}, p.Add...), p.Modify...) {
		if !l.HasObject(*c.Entry) {
			r.DownloadBytes += c.Entry.Size
			r.DownloadFiles++
		}
	}
	r.UpdateAvailable = cur == nil || cur.Commit != t.Commit || cur.Ref != t.Ref || cur.Number != t.Number || force
	return r, nil
}

func (u *Updater) updateReleases(ctx context.Context, src source.Source, force bool) (*UpdateResult, error) {
	r, err := u.checkReleases(ctx, src, force)
	if err != nil {
		return nil, err
	}
	return u.applyReleases(ctx, src, r)
}

// applyReleases builds and activates the release r describes.
func (u *Updater) applyReleases(ctx context.Context, src source.Source, r *CheckResult) (*UpdateResult, error) {
	res := &UpdateResult{Current: r.Target, Previous: r.Current}
	if !r.UpdateAvailable {
		res.Current = *r.Current
		return res, u.linkVersion("")
	}
	l := u.layout()
	if _, err := fsx.MkdirAll(u.fs, u.dirs.State, 0o755); err != nil {
		return res, fmt.Errorf("create state folder: %w", err)
	}
	if err := releases.Probe(u.fs, u.dirs.State); err != nil {
		return res, fmt.Errorf("%w: %w", ErrUnsupportedFS, err)
	}
	if err := u.preflight(r.plan); err != nil {
		return res, err
	}
	p := r.plan
	var need []plan.Change
	for _, c := range append(append([]plan.Change{}, p.Add...), p.Modify...) {
		if !l.HasObject(*c.Entry) {
			need = append(need, c)
		}
	}
	if u.prog != nil {
		u.prog.Start(len(need), r.DownloadBytes)
	}
	fo := u.fetchOptions(src, r.target, u.releaseDir(r.Current))
	fo.Archive = r.archive
	st, err := fetch.Run(ctx, fo, need)
	if u.prog != nil {
		u.prog.Finish()
	}
	res.FilesDownloaded, res.BytesDownloaded, res.DeltasApplied = st.Files, st.Bytes, st.Deltas
	if err != nil {
		return res, err
	}
	staged := u.readLink(u.releaseDir(r.Current))
	err = p.CheckLinks(func(e source.Entry) (string, error) {
		if t, err := staged(e); err == nil {
			return t, nil
		}
		return u.fs.Readlink(path.Join(l.Store, releases.Key(e)))
	})
	if err != nil {
		return res, err
	}
	for _, c := range need {
		if err := l.AddObject(path.Join(u.dirs.Stage, c.Path), *c.Entry); err != nil {
			return res, fmt.Errorf("store %s: %w", c.Path, err)
		}
	}
	// Unchanged files whose object is gone (a pruned store) come from the
	// current release.
	for _, e := range p.Tree {
		if !l.HasObject(e) {
			if err := u.storeFromRelease(l, r.Current, e); err != nil {
				return res, err
			}
		}
	}
	if err := l.Build(releases.Meta{Version: r.Target, Files: p.Tree}); err != nil {
		return res, fmt.Errorf("build release %s: %w", state.Format(&r.Target), err)
	}
	if err := u.linkVersion(r.Target.Commit); err != nil {
		return res, err
	}
	if err := l.Activate(r.Target.Commit); err != nil {
		return res, err
	}
	res.Updated = true
	res.Added, res.Modified, res.Deleted = len(p.Add), len(p.Modify), len(r.Delete)
	if err := l.GC(u.cfg.KeepReleases); err != nil {
		u.log.Warn("could not remove old releases", "err", err)
	}
	u.clearStage()
	return res, nil
}

func (u *Updater) releaseDir(v *Version) string {
	if v == nil {
		return path.Join(u.dirs.Target, releases.ReleasesDir, "none")
	}
	return path.Join(u.dirs.Target, releases.ReleasesDir, v.Commit)
}

func (u *Updater) storeFromRelease(l releases.Layout, cur *Version, e source.Entry) error {
	if cur == nil {
		return fmt.Errorf("store %s: content missing", e.Path)
	}
	from := path.Join(u.releaseDir(cur), e.Path)
	staged := path.Join(u.dirs.Stage, e.Path)
	if _, err := fsx.MkdirAll(u.fs, path.Dir(staged), 0o755); err != nil {
		return err
	}
	if e.Mode == source.ModeSymlink {
		t, err := u.fs.Readlink(from)
		if err != nil {
			return err
		}
		if err := u.fs.Symlink(t, staged); err != nil {
			return err
		}
	} else if err := u.fs.Link(from, staged); err != nil {
		return fmt.Errorf("store %s: %w", e.Path, err)
	}
	return l.AddObject(staged, e)
}

// rollbackReleases switches current back to previous: one rename.
func (u *Updater) rollbackReleases() (*UpdateResult, error) {
	l := u.layout()
	if prev := l.Previous(); prev != "" && l.Current() != "" {
		if err := u.linkVersion(prev); err != nil {
			return nil, err
		}
	}
	from, to, err := l.Rollback()
	if err != nil {
		return nil, err
	}
	return &UpdateResult{Updated: true, Current: *u.releaseVersion(to), Previous: u.releaseVersion(from)}, nil
}
