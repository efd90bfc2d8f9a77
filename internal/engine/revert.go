package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/otafleet/ota/internal/guard"
	"github.com/otafleet/ota/internal/state"
)

// Revert installs to, the version a trial came from (or an operator names),
// through the layout: the in-place layout re-applies the files the last
// update displaced, with no download; the releases layout switches back to
// the kept release folder. It is not "step back once": with to installed
// already, nothing happens.
func (e *Engine) Revert(ctx context.Context, to Version) (*Result, error) {
	return locked(e, func() (*Result, error) {
		if _, err := e.recover(ctx, false); err != nil {
			return nil, err
		}
		return e.revertLocked(ctx, to)
	})
}

func (e *Engine) revertLocked(ctx context.Context, to Version) (*Result, error) {
	if to.Commit == "" {
		return nil, errors.New("there is no previous release to return to (first install)")
	}
	cur := e.installed()
	if cur != nil && cur.Commit == to.Commit {
		return &Result{Current: *cur, Previous: cur}, nil
	}
	src, res, err := e.layout.revert(ctx, to)
	if err != nil || res != nil {
		return res, err
	}
	p, err := e.plan(ctx, src, true, false)
	if err != nil {
		return nil, err
	}
	return e.install(ctx, src, p)
}

// Rollback is `ota rollback`. A release on trial is rejected: the version it
// came from is restored, the release is not retried, and on_rollback runs.
// Otherwise the version before the current one is reinstalled (twice
// returns to where it started).
func (e *Engine) Rollback(ctx context.Context) (*Result, error) {
	return locked(e, func() (*Result, error) {
		if _, err := e.recover(ctx, false); err != nil {
			return nil, err
		}
		g := e.guard()
		r, err := g.Store.Load()
		if err != nil {
			return nil, err
		}
		cur := e.installed()
		if r != nil && cur != nil && cur.Commit == r.Pending.Commit {
			err := g.Reject(ctx, e.dirs.Target, errors.New("rolled back by `ota rollback` before it was confirmed"))
			if !errors.Is(err, guard.ErrReverted) {
				return nil, err
			}
			return &Result{Updated: true, Current: r.Previous, Previous: &r.Pending}, nil
		}
		if r != nil {
			// A trial of a release that is not installed is stale.
			if err := g.Cancel(); err != nil {
				return nil, err
			}
		}
		prev := e.layout.previous()
		if prev == nil {
			return nil, fmt.Errorf("no previous version is kept (rollback is possible after an update made by this ota)")
		}
		res, err := e.revertLocked(ctx, *prev)
		if err == nil && res != nil && res.Current.Commit != prev.Commit {
			err = fmt.Errorf("rollback restored %s, expected %s", state.Format(&res.Current), state.Format(prev))
		}
		return res, err
	})
}
