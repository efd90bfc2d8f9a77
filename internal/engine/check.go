package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/lockfile"
	"github.com/otafleet/ota/internal/metrics"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/rollout"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// Plan is what Check found: the target, what would change, and whether the
// policy lets it be installed now. It is `ota check --json`.
type Plan struct {
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
	// Eligible is true when an update is available and may be installed now.
	Eligible bool `json:"eligible"`
	// HeldBack lists why an available update is not installed now.
	HeldBack []string          `json:"held_back"`
	Rollout  *rollout.Decision `json:"rollout,omitempty"`
	// WindowOpens is set when the update window is closed now.
	WindowOpens time.Time `json:"window_opens,omitzero"`
	// ReadOnly is set when another ota process held the lock, so the check
	// neither recovered nor recorded anything.
	ReadOnly bool `json:"read_only,omitempty"`

	plan    *plan.Plan
	index   state.Index // in place: the installed index the plan was made from
	target  source.Target
	archive fetch.Archive
}

// ResolvedTarget returns the target as the source resolved it, including
// source-specific data such as a published rollout policy.
func (p *Plan) ResolvedTarget() source.Target { return p.target }

// Check recovers, resolves the target, plans the update and evaluates the
// policy, without changing the application files; it records the check in
// status.json and the metrics. While another ota process holds the lock (the
// daemon), it checks read-only: no recovery, nothing recorded.
func (e *Engine) Check(ctx context.Context, ignoreSchedule bool) (*Plan, error) {
	unlock, err := e.lock()
	if errors.Is(err, lockfile.ErrBusy) {
		p, err := e.plan(ctx, e.src, e.cfg.Force, false)
		if err != nil {
			return nil, err
		}
		p.ReadOnly = true
		return p, e.evaluate(ctx, p, ignoreSchedule)
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := e.recover(ctx, true)
	if err != nil {
		return nil, err
	}
	p, err := e.checkLocked(ctx, ignoreSchedule)
	if p != nil {
		p.Recovered = rec
	}
	return p, err
}

// checkLocked is Check after recovery.
func (e *Engine) checkLocked(ctx context.Context, ignoreSchedule bool) (*Plan, error) {
	p, err := e.plan(ctx, e.src, e.cfg.Force, true)
	e.recordCheck(err, time.Time{})
	if err != nil {
		return nil, err
	}
	return p, e.evaluate(ctx, p, ignoreSchedule)
}

// plan resolves the target of src and plans the update to it; save keeps
// the HTTP cache for the next check.
func (e *Engine) plan(ctx context.Context, src source.Source, force, save bool) (*Plan, error) {
	if save {
		defer e.saveCache()
	}
	t, err := src.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve target: %w", err)
	}
	cur := e.installed()
	p := &Plan{Current: cur, Target: t.Version, target: t, Add: []string{}, Modify: []string{}, Delete: []string{}, HeldBack: []string{}}
	if cur != nil && cur.Commit == t.Commit && (t.Number == 0 || t.Number == cur.Number) && !force {
		return p, nil
	}
	if err := e.layout.plan(ctx, src, t, p); err != nil {
		return nil, err
	}
	if force {
		p.UpdateAvailable = true
	}
	return p, nil
}

// fill copies a plan's changes into p's lists.
func (p *Plan) fill(pl *plan.Plan, tree []source.Entry) {
	p.plan = pl
	p.archive = archiveOf(tree)
	for _, c := range pl.Add {
		p.Add = append(p.Add, c.Path)
	}
	for _, c := range pl.Modify {
		p.Modify = append(p.Modify, c.Path)
	}
	for _, c := range pl.Delete {
		p.Delete = append(p.Delete, c.Path)
	}
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

// evaluate decides whether an available update may be installed now.
func (e *Engine) evaluate(ctx context.Context, p *Plan, ignoreSchedule bool) error {
	if !p.UpdateAvailable {
		return nil
	}
	id, err := e.DeviceID()
	if err != nil {
		return err
	}
	in := policy.Input{
		Now: e.now(), Target: p.target, DeviceID: id, FS: e.fs, StateDir: e.dirs.State,
		NeedBytes: p.DownloadBytes, PowerSupplyDir: e.powerSupplyDir, IgnoreSchedule: ignoreSchedule,
	}
	if _, ok := e.fs.(fsx.OS); ok {
		in.TargetDir = e.dirs.Target // free space is a real filesystem's
	}
	d, err := e.settings.Evaluate(ctx, in)
	if err != nil {
		return err
	}
	p.Eligible, p.Rollout, p.WindowOpens = d.Eligible, d.Rollout, d.WindowOpens
	if d.HeldBack != nil {
		p.HeldBack = d.HeldBack
	}
	return nil
}

// DeviceID resolves device_id / machine id / hostname.
func (e *Engine) DeviceID() (string, error) {
	return rollout.DeviceID(e.settings.DeviceID, e.deviceIDPath)
}

// recordCheck records a check in status.json and the metrics.
func (e *Engine) recordCheck(err error, next time.Time) {
	now := e.now()
	if _, werr := e.store().RecordCheck(now, err, next); werr != nil {
		e.log.Warn("could not record the check in status.json", "err", werr)
	}
	if werr := e.metrics().Update(func(s *metrics.Snapshot) {
		s.LastCheck = now
		if err != nil {
			s.CheckFailures++
		} else {
			s.LastSuccess = now
		}
	}); werr != nil {
		e.log.Warn("could not write metrics", "err", werr)
	}
}

// stale reports whether p was planned against another installed version
// than the one in place now.
func (e *Engine) stale(p *Plan) bool {
	cur := e.installed()
	return (p.plan == nil && p.UpdateAvailable) || (cur == nil) != (p.Current == nil) || (cur != nil && *cur != *p.Current)
}
