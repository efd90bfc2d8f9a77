package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/otafleet/ota/internal/guard"
)

// Recover finishes what a crash, kill or power cut interrupted, in the
// documented order: (1) the layout's switch of files (the folder then holds
// one complete version), then, when trial is true, (2) a pending trial
// (crash-loop breaker, deadline, re-verification against that version).
// `ota recover` at boot runs step 1 only: the trial's hooks and health
// check need the application running, so the agent finishes it. It returns
// what each step did ("" for nothing).
func (e *Engine) Recover(ctx context.Context, trial bool) (files, trialDone string, err error) {
	unlock, err := e.lock()
	if err != nil {
		return "", "", err
	}
	defer unlock()
	return e.recoverSteps(ctx, trial)
}

// recover is recovery under the lock, for the calls that begin with it.
func (e *Engine) recover(ctx context.Context, trial bool) (string, error) {
	files, _, err := e.recoverSteps(ctx, trial)
	return files, err
}

func (e *Engine) recoverSteps(ctx context.Context, trial bool) (files, trialDone string, err error) {
	files, err = e.layout.recover()
	if err != nil {
		return files, "", fmt.Errorf("recover an interrupted update: %w", err)
	}
	if files != "" {
		e.log.Warn("recovered an interrupted update", "result", files)
	}
	if !trial {
		return files, "", nil
	}
	pending, err := e.guard().Recover(ctx, e.dirs.Target, e.installed())
	switch {
	case errors.Is(err, guard.ErrReverted):
		return files, "reverted", fmt.Errorf("%w: %w", ErrRejected, err)
	case err != nil:
		return files, "", err
	case pending:
		return files, "verified", nil
	}
	return files, "", nil
}
