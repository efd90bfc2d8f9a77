package engine

import (
	"context"

	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
)

// layout is how a version sits in target_dir: in place (files replaced
// through a journal, version.json the commit point) or releases (immutable
// release folders, a symlink switch). The engine runs the same pipeline
// over either; everything that differs is here.
type layout interface {
	// installed is the version in place, nil when none.
	installed() *Version
	// previous is the version a rollback returns to, nil when none is kept.
	previous() *Version
	// status fills what the layout knows: previous and pending.
	status(s *Status) error
	// recover finishes or undoes an interrupted switch (recovery step 1);
	// it returns what it did ("" for nothing).
	recover() (string, error)
	// plan compares the target tree with what is installed and fills p's
	// plan, changes, download size and UpdateAvailable.
	plan(ctx context.Context, src source.Source, t source.Target, p *Plan) error
	// fetchSet is what must be downloaded for p, and the folder deltas
	// apply against.
	fetchSet(p *Plan) (need []plan.Change, bytes int64, baseDir string)
	// prepare refuses, before any download, what the layout cannot do.
	prepare() error
	// activate switches to the staged version, atomically and durably.
	activate(p *Plan, need []plan.Change) error
	// current keeps the commit point consistent when nothing changes.
	unchanged() error
	// revertSource returns the source that reinstalls to, or nil when the
	// layout switched to it itself (res filled).
	revert(ctx context.Context, to Version) (src source.Source, res *Result, err error)
}
