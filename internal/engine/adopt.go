package engine

import (
	"context"
	"path"

	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// installedIndex returns the index of the files ota manages. On the first
// run over a folder another updater installed (the original's version.json,
// no installed.json), it first adopts as managed every file that matches the
// installed commit's tree, same path and git blob SHA-1, so that files the
// new version removes are deleted; files that differ (local edits) or are
// not in that tree stay unmanaged and untouched. The tree is listed once:
// the adopted index is written, so later checks read it. Not with
// trusted_keys: only signed listings decide what may be deleted there.
func (e *Engine) installedIndex(ctx context.Context, src source.Source, cur *Version) state.Index {
	idx := state.ReadIndex(e.fs, e.dirs.State)
	if cur == nil || cur.Commit == "" || len(idx.Files) > 0 || len(e.cfg.TrustedKeys) > 0 {
		return idx
	}
	if _, err := e.fs.Lstat(path.Join(e.dirs.State, state.IndexFile)); err == nil {
		return idx // an index, even empty, means ota managed this folder
	}
	tree, err := src.Tree(ctx, source.Target{Version: *cur})
	if err != nil {
		e.log.Warn("cannot list the installed version to adopt its files; files it had that the new version removes will stay",
			"version", state.Format(cur), "err", err)
		return idx
	}
	// ota's own files are never deleted whatever the index says (plan).
	filter := e.cfg.Filter()
	for _, en := range tree {
		if !filter.Permitted(en.Path) {
			continue
		}
		l, err := plan.Inspect(e.fs, e.dirs.Target, en.Path, state.FileState{})
		if err != nil || l == nil || l.Dir || l.SHA1 != en.BlobSHA1 {
			continue
		}
		idx.Files = append(idx.Files, state.IndexEntry{Path: en.Path, FileState: state.FileState{SHA1: l.SHA1, Mode: l.Mode, Size: l.Size}})
	}
	idx = state.NewIndex(cur, idx.Files)
	if err := state.WriteIndex(e.fs, e.dirs.State, idx); err != nil {
		e.log.Warn("could not record the adopted files (the next check lists the installed version again)", "err", err)
	}
	e.log.Info("adopted the files of the installed version as managed", "version", state.Format(cur), "files", len(idx.Files), "listed", len(tree))
	return idx
}
