// Package agent joins the core Updater (check, update, rollback) with the
// policy around it: eligibility (rollout, windows, gates, bad releases), the
// trial around activation (hooks, health check, confirm or revert), the
// status record, metrics, and the daemon loop. The CLI calls it and only
// formats results.
//
// Invariants:
//   - A release is applied only when Evaluate says it is eligible (or the
//     operator forces it with IgnoreSchedule, which still honours bad
//     releases, inhibit, battery and crash gates).
//   - The trial record is written before the Updater activates anything and
//     resolved (confirmed, reverted or dropped) before Update returns, or by
//     Recover at the next start.
//   - A failed health check ends in the previous release restored, the
//     failed one on the bad list, and an error wrapping ota.ErrRejected
//     (exit code 6).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"time"

	"github.com/otafleet/ota"
	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/guard"
	"github.com/otafleet/ota/internal/metrics"
	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/rollout"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/trial"
)

// Updater is what the agent needs from *ota.Updater.
type Updater interface {
	Check(ctx context.Context) (*ota.CheckResult, error)
	Update(ctx context.Context) (*ota.UpdateResult, error)
	// Apply installs what Check found without resolving again.
	Apply(ctx context.Context, r *ota.CheckResult) (*ota.UpdateResult, error)
	Status(ctx context.Context) (*ota.Status, error)
	// Recover finishes or undoes an interrupted update.
	Recover(ctx context.Context) (string, error)
}

// rollbacker is implemented by *ota.Updater (`ota rollback`).
type rollbacker interface {
	Rollback(ctx context.Context) (*ota.UpdateResult, error)
}

// MetricsStateFile is the persisted metrics snapshot in the state directory.
const MetricsStateFile = "metrics.json"

// Agent is one configured agent.
type Agent struct {
	U        Updater
	Settings policy.Settings // with defaults
	FS       fsx.FS
	// TargetDir and StateDir are absolute, slash-separated.
	TargetDir, StateDir string
	Logger              *slog.Logger
	Now                 func() time.Time
	// DeviceIDPath overrides /etc/machine-id; PowerSupplyDir
	// /sys/class/power_supply (tests).
	DeviceIDPath, PowerSupplyDir string
}

// New builds the agent for u, configured by cfg.
func New(u *ota.Updater, cfg config.Config, log *slog.Logger) *Agent {
	d := u.Dirs()
	return &Agent{U: u, Settings: cfg.Policy(), FS: fsx.OS{Root: d.Target}, TargetDir: d.Target, StateDir: d.State, Logger: log}
}

func (a *Agent) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Agent) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// Store is the trial/status store; ota_error.json stays where the original
// kept it (target_dir), shared with the core.
func (a *Agent) Store() trial.Store {
	s := a.Settings.Store(a.FS, a.StateDir)
	s.ErrorPath = path.Join(a.TargetDir, state.ErrorFile)
	return s
}

// Metrics is the exporter (its File is empty when metrics_file is unset).
func (a *Agent) Metrics() *metrics.Exporter {
	return &metrics.Exporter{FS: a.FS, StatePath: path.Join(a.StateDir, MetricsStateFile), File: a.Settings.MetricsFile}
}

// Guard is the trial guard for this agent.
func (a *Agent) Guard() guard.Guard {
	h := a.Settings.Hooks()
	h.Logger = a.Logger
	return guard.Guard{
		Hooks:          h,
		Health:         a.Settings.Health(),
		Store:          a.Store(),
		Crashes:        policy.CrashLog(a.FS, a.StateDir),
		Metrics:        a.Metrics(),
		Revert:         a.revert,
		Now:            a.Now,
		ConfirmTimeout: time.Duration(a.Settings.ConfirmTimeoutSec) * time.Second,
		Logger:         a.Logger,
	}
}

// revert installs to, the version a trial came from. It is not "step back
// once": when to is installed already (an operator rolled back by hand),
// there is nothing to do.
func (a *Agent) revert(ctx context.Context, to source.Version) error {
	if to.Commit == "" {
		return errors.New("there is no previous release to return to (first install)")
	}
	if st, err := a.U.Status(ctx); err == nil && st.Current != nil && st.Current.Commit == to.Commit && !st.Pending {
		return nil
	}
	rb, ok := a.U.(rollbacker)
	if !ok {
		return errors.New("this build cannot roll back (no Rollback in the updater)")
	}
	res, err := rb.Rollback(ctx)
	if err != nil {
		return err
	}
	if res == nil || res.Current.Commit != to.Commit {
		got := "nothing"
		if res != nil {
			got = state.Format(&res.Current)
		}
		return fmt.Errorf("rollback restored %s, expected %s", got, state.Format(&to))
	}
	return nil
}

// Rollback is `ota rollback`, under the agent lock like every change. A
// release on trial is rejected: the version it came from is restored, the
// release is not retried, and on_rollback runs. Otherwise the previous
// version is reinstalled.
func (a *Agent) Rollback(ctx context.Context) (*ota.UpdateResult, error) {
	unlock, err := a.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rb, ok := a.U.(rollbacker)
	if !ok {
		return nil, errors.New("this build cannot roll back (no Rollback in the updater)")
	}
	st, err := a.U.Status(ctx)
	if err != nil {
		return nil, err
	}
	g := a.Guard()
	r, err := g.Store.Load()
	if err != nil {
		return nil, err
	}
	if r != nil && st.Current != nil && st.Current.Commit == r.Pending.Commit {
		err := g.Reject(ctx, a.TargetDir, errors.New("rolled back by `ota rollback` before it was confirmed"))
		if !errors.Is(err, guard.ErrReverted) {
			return nil, err
		}
		return &ota.UpdateResult{Updated: true, Current: r.Previous, Previous: &r.Pending}, nil
	}
	if r != nil {
		// A trial of a release that is not installed is stale.
		if err := g.Cancel(); err != nil {
			return nil, err
		}
	}
	return rb.Rollback(ctx)
}

// DeviceID resolves device_id / machine id / hostname.
func (a *Agent) DeviceID() (string, error) {
	return rollout.DeviceID(a.Settings.DeviceID, a.DeviceIDPath)
}

// CheckReport is `ota check --json`: the core's result plus the policy decision.
type CheckReport struct {
	*ota.CheckResult
	// Eligible is true when an update is available and may be installed now.
	Eligible bool `json:"eligible"`
	// HeldBack lists why an available update is not installed now.
	HeldBack []string          `json:"held_back"`
	Rollout  *rollout.Decision `json:"rollout,omitempty"`
	// WindowOpens is set when the update window is closed now.
	WindowOpens time.Time `json:"window_opens,omitzero"`
}

// Check runs the core check and evaluates the policy; it records the check
// in status.json and the metrics.
func (a *Agent) Check(ctx context.Context, ignoreSchedule bool) (*CheckReport, error) {
	r, err := a.U.Check(ctx)
	a.recordCheck(err, time.Time{})
	if err != nil {
		return nil, err
	}
	return a.evaluate(ctx, r, ignoreSchedule)
}

func (a *Agent) evaluate(ctx context.Context, r *ota.CheckResult, ignoreSchedule bool) (*CheckReport, error) {
	rep := &CheckReport{CheckResult: r, HeldBack: []string{}}
	if !r.UpdateAvailable {
		return rep, nil
	}
	id, err := a.DeviceID()
	if err != nil {
		return rep, err
	}
	d, err := a.Settings.Evaluate(ctx, policy.Input{
		Now: a.now(), Target: r.ResolvedTarget(), DeviceID: id, FS: a.FS, StateDir: a.StateDir,
		TargetDir: a.TargetDir, NeedBytes: r.DownloadBytes, PowerSupplyDir: a.PowerSupplyDir, IgnoreSchedule: ignoreSchedule,
	})
	if err != nil {
		return rep, err
	}
	rep.Eligible, rep.Rollout, rep.WindowOpens = d.Eligible, d.Rollout, d.WindowOpens
	if d.HeldBack != nil {
		rep.HeldBack = d.HeldBack
	}
	return rep, nil
}

func (a *Agent) recordCheck(err error, next time.Time) {
	now := a.now()
	if _, werr := a.Store().RecordCheck(now, err, next); werr != nil {
		a.log().Warn("could not record the check in status.json", "err", werr)
	}
	if werr := a.Metrics().Update(func(s *metrics.Snapshot) {
		s.LastCheck = now
		if err != nil {
			s.CheckFailures++
		} else {
			s.LastSuccess = now
		}
	}); werr != nil {
		a.log().Warn("could not write metrics", "err", werr)
	}
}

// UpdateReport is `ota update --json`: the core's result plus what the
// policy and the trial did.
type UpdateReport struct {
	*ota.UpdateResult
	// Reverted is true when the new release failed its checks and the
	// previous one was restored (the command exits with code 6).
	Reverted bool     `json:"reverted"`
	HeldBack []string `json:"held_back,omitempty"`
	// OnTrial is true when the release waits for `ota confirm`.
	OnTrial bool `json:"on_trial,omitempty"`
	// Recovered describes a trial finished at start ("" when none).
	TrialRecovered string `json:"trial_recovered,omitempty"`
}

// Recover finishes or undoes an update interrupted by a crash or power cut,
// then finishes a trial left by a crash or reboot (crash-loop breaker,
// deadline, re-verification). Call it before checking: the daemon calls it
// first thing, so a folder is whole again before its first check is due.
func (a *Agent) Recover(ctx context.Context) (string, error) {
	if rec, err := a.U.Recover(ctx); err != nil {
		return "", fmt.Errorf("recover an interrupted update: %w", err)
	} else if rec != "" {
		a.log().Warn("recovered an interrupted update", "result", rec)
	}
	st, err := a.U.Status(ctx)
	if err != nil {
		return "", err
	}
	pending, err := a.Guard().Recover(ctx, a.TargetDir, st.Current)
	switch {
	case errors.Is(err, guard.ErrReverted):
		return "reverted", fmt.Errorf("%w: %w", ota.ErrRejected, err)
	case err != nil:
		return "", err
	case pending:
		return "verified", nil
	}
	return "", nil
}

// Update is one full run: recover a pending trial, check, evaluate, and when
// eligible update under a trial. A held-back update is not an error.
func (a *Agent) Update(ctx context.Context, ignoreSchedule bool) (*UpdateReport, error) {
	unlock, err := a.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := a.Recover(context.WithoutCancel(ctx)) // may revert: not interruptible
	if err != nil {
		return &UpdateReport{UpdateResult: &ota.UpdateResult{}, Reverted: rec == "reverted", TrialRecovered: rec}, err
	}
	rep, err := a.Check(ctx, ignoreSchedule)
	if err != nil {
		return nil, err
	}
	out, err := a.Apply(ctx, rep)
	if out != nil {
		out.TrialRecovered = rec
	}
	return out, err
}

// Apply installs what Check found, if eligible, under a trial.
func (a *Agent) Apply(ctx context.Context, rep *CheckReport) (*UpdateReport, error) {
	out := &UpdateReport{UpdateResult: &ota.UpdateResult{Previous: rep.Current}}
	if rep.Current != nil {
		out.Current = *rep.Current
	}
	if !rep.UpdateAvailable {
		return out, nil
	}
	if !rep.Eligible {
		out.HeldBack = rep.HeldBack
		for _, h := range rep.HeldBack {
			a.log().Info("update held back", "target", state.Format(&rep.Target), "reason", h)
		}
		return out, nil
	}
	g := a.Guard()
	tr := guard.Transition{To: rep.Target, TargetDir: a.TargetDir}
	if rep.Current != nil {
		tr.From = *rep.Current
	}
	if err := g.Before(ctx, tr); err != nil {
		return out, err
	}
	res, err := a.U.Apply(ctx, rep.CheckResult)
	if res != nil {
		out.UpdateResult = res
	}
	if err != nil {
		g.Abort(tr, err)
		return out, err
	}
	if !res.Updated {
		_ = g.Cancel()
		return out, nil
	}
	if res.Current != tr.To {
		// A newer release was published between check and update: the
		// trial is about what was installed.
		tr.To = res.Current
		if err := g.Retarget(tr); err != nil {
			return out, err
		}
	}
	// Once activated, the trial runs to confirm or revert even if the
	// command is interrupted (a cancelled health check would look failed).
	if err := g.After(context.WithoutCancel(ctx), tr); err != nil {
		if errors.Is(err, guard.ErrReverted) {
			out.Reverted = true
			if st, serr := a.U.Status(ctx); serr == nil && st.Current != nil {
				out.Current = *st.Current
			}
			return out, fmt.Errorf("%w: %w", ota.ErrRejected, err)
		}
		return out, err
	}
	if r, _ := g.Store.Load(); r != nil {
		out.OnTrial = true
	}
	return out, nil
}

// StatusReport is `ota status --json`: the core's status plus the agent's.
type StatusReport struct {
	*ota.Status
	LastCheck   time.Time          `json:"last_check,omitzero"`
	LastSuccess time.Time          `json:"last_success,omitzero"`
	NextCheck   time.Time          `json:"next_check,omitzero"`
	LastError   string             `json:"last_error,omitempty"`
	Trial       *trial.Record      `json:"trial"`
	BadReleases []trial.BadRelease `json:"bad_releases"`
	Failures    int                `json:"consecutive_failures"`
}

// Status reads everything without changing anything.
func (a *Agent) Status(ctx context.Context) (*StatusReport, error) {
	st, err := a.U.Status(ctx)
	if err != nil {
		return nil, err
	}
	s := a.Store()
	ss := s.Status()
	rep := &StatusReport{Status: st, LastCheck: ss.LastCheck, LastSuccess: ss.LastSuccess, NextCheck: ss.NextCheck,
		LastError: ss.LastError, Failures: ss.ConsecutiveFailures, BadReleases: []trial.BadRelease{}}
	if errs, _ := s.Errors(); len(errs) > 0 && rep.LastError == "" {
		rep.LastError = errs[len(errs)-1]
	}
	if rep.Trial, err = s.Load(); err != nil {
		return rep, err
	}
	if b, _ := s.BadReleases(); b != nil {
		rep.BadReleases = b
	}
	return rep, nil
}

// Confirm is `ota confirm`. It does not take the agent lock: the
// application confirms while `ota update` waits for its health check.
func (a *Agent) Confirm() (*trial.Record, error) { return a.Guard().Confirm() }

// newRand seeds jitter from the device id so a fleet spreads out even when
// every device boots at the same second.
func newRand(seed string) *rand.Rand {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(seed); i++ {
		h = (h ^ uint64(seed[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, uint64(time.Now().UnixNano())))
}
