package engine

import (
	"context"

	"errors"
	"fmt"
	"github.com/otafleet/ota/config"

	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/guard"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// Result describes an update, a revert or a rollback. It is
// `ota update --json`.
type Result struct {
	Updated         bool     `json:"updated"`
	Current         Version  `json:"current"`
	Previous        *Version `json:"previous"`
	FilesDownloaded int      `json:"files_downloaded"`
	BytesDownloaded int64    `json:"bytes_downloaded"`
	DeltasApplied   int      `json:"deltas_applied"`
	Added           int      `json:"added"`
	Modified        int      `json:"modified"`
	Deleted         int      `json:"deleted"`
	// Recovered says what recovery step 1 did first ("" when nothing).
	Recovered string `json:"recovered,omitempty"`
	// Reverted is true when the new release failed its checks and the
	// previous one was restored (the command exits with code 6).
	Reverted bool     `json:"reverted"`
	HeldBack []string `json:"held_back,omitempty"`
	// OnTrial is true when the release waits for `ota confirm`.
	OnTrial bool `json:"on_trial,omitempty"`
	// TrialRecovered says what recovery step 2 did ("" when nothing).
	TrialRecovered string `json:"trial_recovered,omitempty"`
}

// Update is one full run under the lock: recover, check, evaluate, and when
// eligible install under a trial. A held-back update is not an error.
func (e *Engine) Update(ctx context.Context, ignoreSchedule bool) (*Result, error) {
	return locked(e, func() (*Result, error) {
		rec, trialRec, err := e.recoverSteps(context.WithoutCancel(ctx), true) // may revert: not interruptible
		if err != nil {
			return &Result{Recovered: rec, Reverted: trialRec == "reverted", TrialRecovered: trialRec}, err
		}
		p, err := e.checkLocked(ctx, ignoreSchedule)
		if err != nil {
			return nil, err
		}
		res, err := e.applyLocked(ctx, p)
		if res != nil {
			res.Recovered, res.TrialRecovered = rec, trialRec
		}
		return res, err
	})
}

// Apply installs what an earlier Check planned, if eligible, under a trial,
// without resolving or listing the tree again. If the installed version
// changed since that check, it checks again.
func (e *Engine) Apply(ctx context.Context, p *Plan) (*Result, error) {
	return locked(e, func() (*Result, error) {
		rec, trialRec, err := e.recoverSteps(context.WithoutCancel(ctx), true)
		if err != nil {
			return &Result{Recovered: rec, Reverted: trialRec == "reverted", TrialRecovered: trialRec}, err
		}
		if p == nil || p.ReadOnly || e.stale(p) {
			if p, err = e.checkLocked(ctx, false); err != nil {
				return nil, err
			}
		}
		res, err := e.applyLocked(ctx, p)
		if res != nil {
			res.Recovered, res.TrialRecovered = rec, trialRec
		}
		return res, err
	})
}

// applyLocked installs p under a trial when it is eligible.
func (e *Engine) applyLocked(ctx context.Context, p *Plan) (*Result, error) {
	out := &Result{Previous: p.Current}
	if p.Current != nil {
		out.Current = *p.Current
	}
	if !p.UpdateAvailable {
		return out, e.layout.unchanged()
	}
	if !p.Eligible {
		out.HeldBack = p.HeldBack
		for _, h := range p.HeldBack {
			e.log.Info("update held back", "target", state.Format(&p.Target), "reason", h)
		}
		return out, nil
	}
	g := e.guard()
	tr := guard.Transition{To: p.Target, TargetDir: e.dirs.Target}
	if p.Current != nil {
		tr.From = *p.Current
	}
	if err := g.Before(ctx, tr); err != nil {
		return out, err
	}
	res, err := e.install(ctx, e.src, p)
	if res != nil {
		out = res
	}
	if err != nil {
		g.Abort(tr, err)
		return out, err
	}
	if !res.Updated {
		_ = g.Cancel()
		return out, nil
	}
	// Once activated, the trial runs to confirm or revert even if the
	// command is interrupted (a cancelled health check would look failed).
	if err := g.After(context.WithoutCancel(ctx), tr); err != nil {
		if errors.Is(err, guard.ErrReverted) {
			out.Reverted = true
			if cur := e.installed(); cur != nil {
				out.Current = *cur
			}
			return out, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		return out, err
	}
	if r, _ := g.Store.Load(); r != nil {
		out.OnTrial = true
	}
	return out, nil
}

// install fetches what p needs and activates it through the layout: the
// pipeline every update, revert and rollback runs.
func (e *Engine) install(ctx context.Context, src source.Source, p *Plan) (*Result, error) {
	res := &Result{Current: p.Target, Previous: p.Current}
	if !p.UpdateAvailable {
		res.Current = *p.Current
		return res, e.layout.unchanged()
	}
	if err := e.layout.prepare(); err != nil {
		return res, err
	}
	need, bytes, base := e.layout.fetchSet(p)
	if err := e.preflight(bytes); err != nil {
		return res, err
	}
	if e.prog != nil {
		e.prog.Start(len(need), bytes)
	}
	fo := fetch.Options{
		FS: e.fs, Source: src, Target: p.target, TargetDir: base, StageDir: e.dirs.Stage, PartDir: e.partDir(),
		Parallel: e.cfg.Parallel, BufSize: e.cfg.Chunk * 32, Patch: e.patchIfEnabled(), Progress: e.prog, Logger: e.log,
		Attempts: e.cfg.HTTPRetries, Backoff: config.Seconds(e.cfg.BackoffSec), MaxBackoff: config.Seconds(e.cfg.MaxBackoffSec),
		Archive: p.archive,
	}
	st, err := fetch.Run(ctx, fo, need)
	if e.prog != nil {
		e.prog.Finish()
	}
	res.FilesDownloaded, res.BytesDownloaded, res.DeltasApplied = st.Files, st.Bytes, st.Deltas
	if err != nil {
		return res, err
	}
	if err := e.layout.activate(p, need); err != nil {
		return res, err
	}
	res.Updated = true
	res.Added, res.Modified, res.Deleted = len(p.Add), len(p.Modify), len(p.Delete)
	e.clearStage()
	e.log.Info("updated", "from", state.Format(p.Current), "to", state.Format(&p.Target),
		"added", res.Added, "modified", res.Modified, "deleted", res.Deleted, "bytes", res.BytesDownloaded)
	return res, nil
}

func (e *Engine) patchIfEnabled() fetch.Patcher {
	if !e.cfg.EnableDeltaUpdates {
		return nil
	}
	return e.patch
}

// preflight refuses an update that cannot be applied atomically or has no
// room, before anything is downloaded.
func (e *Engine) preflight(download int64) error {
	if _, err := fsx.MkdirAll(e.fs, e.dirs.Stage, 0o755); err != nil {
		return fmt.Errorf("create stage folder: %w", err)
	}
	if _, ok := e.fs.(fsx.OS); ok {
		same, err := e.sameFS(e.dirs.Target, e.dirs.Stage)
		if err != nil {
			return fmt.Errorf("check stage folder: %w", err)
		}
		if !same {
			return fmt.Errorf("%w: %s is a different mount from %s, so renames would not be atomic: unmount it or choose another stage_dir", ErrCrossFS, e.dirs.Stage, e.dirs.Target)
		}
		need := download + e.cfg.MinFreeStorage
		if free, ok := freeBytes(e.dirs.Stage); ok && free < need {
			return fmt.Errorf("%w: %d bytes free in %s, the update needs %d (%d to stage + min_free_storage %d): free some space",
				ErrNoSpace, free, e.dirs.Target, need, download, e.cfg.MinFreeStorage)
		}
	}
	return nil
}

// readLink reads a link of the target tree from the stage, where it was just
// staged, or else from dir, where it is installed.
func (e *Engine) readLink(dir string) func(source.Entry) (string, error) {
	return func(en source.Entry) (string, error) {
		if t, err := e.fs.Readlink(e.dirs.Stage + "/" + en.Path); err == nil {
			return t, nil
		}
		return e.fs.Readlink(dir + "/" + en.Path)
	}
}

// changes is a plan's additions and modifications: what the target brings.
func changes(p *plan.Plan) []plan.Change {
	return append(append([]plan.Change{}, p.Add...), p.Modify...)
}
