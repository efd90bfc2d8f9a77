// Package guard wraps the activation of a release in a trial: pre_update
// before anything changes, a durable trial record before activation,
// post_update, restart_command and the health check after it, then confirm,
// or revert to the previous release, mark the failed one bad, run
// on_rollback, and record the crash.
//
// Order of durable effects, and why:
//  1. Before: pre_update runs (a failure aborts with nothing changed); then
//     trial.json is written. A power loss after this point finds the trial
//     at start-up and Recover finishes it.
//  2. The caller activates the new tree.
//  3. After: hooks and health. On failure the release is marked bad
//     (trial.Fail) *before* the revert, so a crash during the revert can
//     never lead to the same release being tried again.
//
// The package does not activate or revert trees itself; Revert is injected
// (the apply package owns the tree).
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/otafleet/ota/internal/gate"
	"github.com/otafleet/ota/internal/health"
	"github.com/otafleet/ota/internal/hooks"
	"github.com/otafleet/ota/internal/metrics"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/trial"
)

// ErrReverted is wrapped by After and Recover when the new release failed
// and the previous one was restored (CLI exit code 6).
var ErrReverted = errors.New("the previous release was restored")

// ErrPreUpdate is wrapped by Before when pre_update refused the update.
var ErrPreUpdate = hooks.ErrRefused

// DefaultMaxAttempts is how many times a trial may be (re)started by agent
// starts before it is declared a crash loop and reverted.
const DefaultMaxAttempts = 3

// Transition is the release change being guarded.
type Transition struct {
	From, To  source.Version
	TargetDir string
}

func (t Transition) versions() hooks.Versions {
	return hooks.Versions{FromRef: t.From.Ref, FromCommit: t.From.Commit, ToRef: t.To.Ref, ToCommit: t.To.Commit, TargetDir: t.TargetDir}
}

// Guard holds the configured hooks and checks and the state it records into.
type Guard struct {
	Hooks   hooks.Hooks
	Health  health.Checker // template; Check == "" means no health check
	Store   trial.Store
	Crashes gate.CrashLog
	Metrics *metrics.Exporter // nil: no metrics
	// Revert restores the tree to version to (the previous release).
	Revert func(ctx context.Context, to source.Version) error
	Now    func() time.Time // time.Now when nil
	// MaxAttempts bounds trial restarts (DefaultMaxAttempts when ≤ 0).
	MaxAttempts int
	// ConfirmTimeout > 0 leaves a release that passed its checks on trial
	// until `ota confirm` (the application confirming itself), and reverts
	// it when the timeout passes unconfirmed. 0 confirms automatically.
	ConfirmTimeout time.Duration
	Logger         *slog.Logger
}

func (g Guard) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

func (g Guard) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// deadline allows every step of After plus a margin.
func (g Guard) deadline(now time.Time) time.Time {
	ht := g.Health.Timeout
	if ht <= 0 {
		ht = health.DefaultTimeout
	}
	hk := g.Hooks.Timeout
	if hk <= 0 {
		hk = hooks.DefaultTimeout
	}
	return now.Add(ht + 2*hk + time.Minute)
}

// Before runs pre_update and writes the trial record. Call it after the new
// tree is staged and verified, right before activation.
func (g Guard) Before(ctx context.Context, tr Transition) error {
	if err := g.Hooks.Run(ctx, hooks.PreUpdate, tr.versions()); err != nil {
		g.recordError(fmt.Sprintf("update to %s aborted: %v", tr.To.Ref, err))
		return fmt.Errorf("%w: %w", ErrPreUpdate, err)
	}
	now := g.now()
	if _, err := g.Store.Begin(now, tr.To, tr.From, g.deadline(now)); err != nil {
		return fmt.Errorf("record the trial before activating %s: %w", tr.To.Ref, err)
	}
	g.metrics(func(s *metrics.Snapshot) { s.TrialPending = true })
	return nil
}

// Retarget rewrites the trial record when the Updater installed another
// release than the one Before was told about (a newer one was published
// between check and update).
func (g Guard) Retarget(tr Transition) error {
	now := g.now()
	if _, err := g.Store.Begin(now, tr.To, tr.From, g.deadline(now)); err != nil {
		return fmt.Errorf("record the trial of %s: %w", describe(tr.To), err)
	}
	return nil
}

// Abort removes the trial record after an activation that failed and was
// rolled back by the apply step itself (the release is not blamed: the
// failure was local).
func (g Guard) Abort(tr Transition, cause error) {
	if _, err := g.Store.Confirm(); err != nil && !errors.Is(err, trial.ErrNoTrial) {
		g.log().Error("clear trial record", "err", err)
	}
	g.recordError(fmt.Sprintf("update to %s failed before activation completed: %v", tr.To.Ref, cause))
	g.metrics(func(s *metrics.Snapshot) { s.TrialPending = false })
}

// After runs post_update, restart_command and the health check on the
// activated release, then confirms it, or reverts. A revert returns an error
// wrapping ErrReverted (and the cause); a failed revert returns an error that
// does not wrap ErrReverted and says what to do.
func (g Guard) After(ctx context.Context, tr Transition) error {
	err := g.verify(ctx, tr)
	if err != nil {
		return g.revert(ctx, tr, err)
	}
	if g.ConfirmTimeout > 0 {
		now := g.now()
		_, err := g.Store.Extend(now.Add(g.ConfirmTimeout))
		if errors.Is(err, trial.ErrNoTrial) { // `ota confirm` ran during the checks
			g.log().Info("release confirmed by the application", "release", describe(tr.To))
			return nil
		}
		if err != nil {
			return fmt.Errorf("keep %s on trial until confirmation: %w", describe(tr.To), err)
		}
		g.log().Info("release on trial until `ota confirm`", "release", describe(tr.To), "deadline", now.Add(g.ConfirmTimeout))
		return nil
	}
	return g.confirm(tr)
}

func (g Guard) verify(ctx context.Context, tr Transition) error {
	v := tr.versions()
	if err := g.Hooks.Run(ctx, hooks.PostUpdate, v); err != nil {
		return err
	}
	if err := g.Hooks.Run(ctx, hooks.Restart, v); err != nil {
		return err
	}
	if g.Health.Check == "" {
		return nil
	}
	c := g.Health
	c.TargetDir, c.FromCommit, c.ToCommit = tr.TargetDir, tr.From.Commit, tr.To.Commit
	if c.Logger == nil {
		c.Logger = g.Logger
	}
	_, err := c.Wait(ctx)
	return err
}

func (g Guard) confirm(tr Transition) error {
	if _, err := g.Store.Confirm(); err != nil && !errors.Is(err, trial.ErrNoTrial) {
		return fmt.Errorf("confirm %s: %w", tr.To.Ref, err)
	}
	g.log().Info("release confirmed", "ref", tr.To.Ref, "commit", tr.To.Commit)
	g.metrics(func(s *metrics.Snapshot) {
		s.Updates++
		s.TrialPending = false
		s.Ref, s.Commit = tr.To.Ref, tr.To.Commit
	})
	return nil
}

func (g Guard) revert(ctx context.Context, tr Transition, cause error) error {
	now := g.now()
	log := g.log()
	log.Error("new release failed; reverting", "to", tr.From.Ref, "err", cause)
	if _, err := g.Store.Fail(now, cause.Error()); errors.Is(err, trial.ErrNoTrial) {
		// No record (caller skipped Before): still never retry this release.
		if err := g.Store.MarkBad(now, tr.To, cause.Error()); err != nil {
			log.Error("mark release bad", "err", err)
		}
	} else if err != nil {
		log.Error("record failed trial", "err", err)
	}
	if err := g.Crashes.Record(now, fmt.Sprintf("release %s failed: %v", tr.To.Ref, cause)); err != nil {
		log.Error("record crash", "err", err)
	}
	if err := g.Revert(ctx, tr.From); err != nil {
		msg := fmt.Sprintf("revert to %s after failed update to %s: %v", tr.From.Ref, tr.To.Ref, err)
		g.recordError(msg)
		return fmt.Errorf("%s (cause: %v); check `ota status`, then run `ota rollback`, or reinstall with force = true in the config and `ota update`", msg, cause)
	}
	back := Transition{From: tr.To, To: tr.From, TargetDir: tr.TargetDir}
	if err := g.Hooks.Run(ctx, hooks.Restart, back.versions()); err != nil {
		log.Error("restart after revert", "err", err)
	}
	// on_rollback sees the failed release as "from" and the restored one as "to".
	if err := g.Hooks.Run(ctx, hooks.OnRollback, back.versions()); err != nil {
		log.Error("on_rollback", "err", err)
	}
	g.recordError(fmt.Sprintf("update to %s reverted to %s: %v", describe(tr.To), describe(tr.From), cause))
	g.metrics(func(s *metrics.Snapshot) {
		s.Rollbacks++
		s.TrialPending = false
		s.Ref, s.Commit = tr.From.Ref, tr.From.Commit
	})
	return fmt.Errorf("%s failed: %w; %w (%s)", describe(tr.To), cause, ErrReverted, describe(tr.From))
}

// Recover finishes a trial left pending by a crash or reboot; call it at
// every agent start before anything else. With no trial pending it does
// nothing. A trial restarted more than MaxAttempts times (crash loop) or past
// its deadline is reverted; otherwise verification runs again.
//
// current is the installed version (version.json): when it is not the
// release on trial, the activation never committed (the apply journal rolled
// it back), so the record is dropped without blaming the release.
func (g Guard) Recover(ctx context.Context, targetDir string, current *source.Version) (pending bool, err error) {
	r, err := g.Store.Load()
	if err != nil || r == nil {
		return false, err
	}
	if current == nil || current.Commit != r.Pending.Commit {
		g.log().Warn("dropping trial of a release that was never activated", "release", describe(r.Pending))
		return false, g.Cancel()
	}
	if r, err = g.Store.Resume(); err != nil {
		return true, err
	}
	tr := Transition{From: r.Previous, To: r.Pending, TargetDir: targetDir}
	max := g.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	switch {
	case r.Attempts > max:
		return true, g.revert(ctx, tr, fmt.Errorf("crash loop: the trial of %s was restarted %d times", describe(tr.To), r.Attempts-1))
	case r.Expired(g.now()):
		return true, g.revert(ctx, tr, fmt.Errorf("trial deadline %s passed without confirmation", r.Deadline.Format(time.RFC3339)))
	}
	g.log().Warn("resuming interrupted trial", "release", describe(tr.To), "attempt", r.Attempts)
	return true, g.After(ctx, tr)
}

// Cancel drops the trial record without blaming the release (the update did
// not happen: nothing to install, or activation failed and was rolled back).
func (g Guard) Cancel() error {
	if _, err := g.Store.Confirm(); err != nil && !errors.Is(err, trial.ErrNoTrial) {
		return err
	}
	g.metrics(func(s *metrics.Snapshot) { s.TrialPending = false })
	return nil
}

// ExpireIfDue reverts a release whose trial deadline passed unconfirmed
// (the daemon calls it before every check). reverted is false when there is
// no trial or it is still running.
func (g Guard) ExpireIfDue(ctx context.Context, targetDir string) (reverted bool, err error) {
	r, err := g.Store.Load()
	if err != nil || r == nil || !r.Expired(g.now()) {
		return false, err
	}
	tr := Transition{From: r.Previous, To: r.Pending, TargetDir: targetDir}
	return true, g.revert(ctx, tr, fmt.Errorf("not confirmed before the deadline %s (run `ota confirm` from the application once it is healthy)", r.Deadline.Format(time.RFC3339)))
}

// Reject reverts the release on trial now, for cause (an operator's
// rollback): as a failed trial, it is not retried and on_rollback runs. On
// success the error wraps ErrReverted; with no trial it is trial.ErrNoTrial.
func (g Guard) Reject(ctx context.Context, targetDir string, cause error) error {
	r, err := g.Store.Load()
	if err != nil {
		return err
	}
	if r == nil {
		return trial.ErrNoTrial
	}
	return g.revert(ctx, Transition{From: r.Previous, To: r.Pending, TargetDir: targetDir}, cause)
}

// Confirm is `ota confirm`: keep the release on trial.
func (g Guard) Confirm() (*trial.Record, error) {
	r, err := g.Store.Confirm()
	if err != nil {
		if errors.Is(err, trial.ErrNoTrial) {
			return nil, fmt.Errorf("%w; nothing to confirm", err)
		}
		return nil, err
	}
	g.metrics(func(s *metrics.Snapshot) {
		s.Updates++
		s.TrialPending = false
		s.Ref, s.Commit = r.Pending.Ref, r.Pending.Commit
	})
	return r, nil
}

func (g Guard) recordError(msg string) {
	if err := g.Store.AppendError(g.now(), msg); err != nil {
		g.log().Error("record error", "err", err)
	}
}

func (g Guard) metrics(f func(*metrics.Snapshot)) {
	if g.Metrics == nil {
		return
	}
	if err := g.Metrics.Update(f); err != nil {
		g.log().Warn("metrics", "err", err)
	}
}

func describe(v source.Version) string {
	c := v.Commit
	if len(c) > 7 {
		c = c[:7]
	}
	if v.Ref == "" && c == "" {
		return "(none)"
	}
	if v.Ref == "" {
		return "#" + c
	}
	if c == "" {
		return v.Ref
	}
	return v.Ref + " #" + c
}
