package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/otafleet/ota/internal/daemon"
	"github.com/otafleet/ota/internal/guard"
	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/sdnotify"
	"github.com/otafleet/ota/internal/state"
)

// RunningMarker exists in the state directory while the daemon runs; finding
// it at start means the previous run did not stop cleanly (crash, kill,
// power loss), which is recorded in the crash log.
const RunningMarker = statedir.Running

// DaemonOptions are the daemon's inputs besides the agent.
type DaemonOptions struct {
	Signals <-chan os.Signal
	// Reload re-reads the configuration and returns a new agent; nil
	// disables SIGHUP reloads.
	Reload func() (*Engine, error)
	Notify sdnotify.Notifier
	Getenv func(string) string // for WATCHDOG_USEC; os.Getenv when nil
}

// Daemon runs the engine until ctx ends or SIGTERM/SIGINT arrives.
func (a *Engine) Daemon(ctx context.Context, o DaemonOptions) error {
	log := a.log
	// The daemon holds the lock for its lifetime: a manual `ota update`
	// meanwhile fails with "busy" (use SIGUSR1 to check now), and `ota
	// check` checks read-only.
	unlock, err := a.lock()
	if err != nil {
		return err
	}
	a.held = true
	defer func() {
		a.held = false
		unlock()
	}()
	marker := path.Join(a.dirs.State, RunningMarker)
	if _, err := a.fs.Stat(marker); err == nil {
		log.Warn("the previous agent run did not stop cleanly; recording a crash")
		if err := policy.CrashLog(a.fs, a.dirs.State).Record(a.now(), "agent did not stop cleanly"); err != nil {
			log.Error("record crash", "err", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Warn("check running marker", "err", err)
	}
	if err := a.store().SetNextCheck(time.Time{}); err != nil { // also creates the state dir
		return fmt.Errorf("state directory %s is not writable: %w", a.dirs.State, err)
	}
	if f, err := a.fs.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err == nil {
		f.Close()
		_ = a.fs.SyncDir(a.dirs.State)
	}
	defer func() {
		_ = a.fs.Remove(marker)
		_ = a.fs.SyncDir(a.dirs.State)
	}()

	// Finishing a trial may revert: never interrupted by a stop request.
	if _, rec, err := a.recoverSteps(context.WithoutCancel(ctx), true); err != nil {
		log.Error("recovery at start", "trial", rec, "err", err)
	} else if rec != "" {
		log.Info("pending trial finished", "result", rec)
	}

	id, err := a.DeviceID()
	if err != nil {
		return err
	}
	rnd := newRand(id)
	st := a.store().Status()
	first := a.now()
	if sc, err := a.settings.Schedule(); err == nil && !st.LastCheck.IsZero() {
		if f := st.LastCheck.Add(sc.MinInterval); f.After(first) {
			first = f
		}
	}
	wd, _ := sdnotify.WatchdogInterval(o.Getenv)
	deps := daemon.Deps{
		Check: func(ctx context.Context) (daemon.Result, error) {
			if rev, err := a.guard().ExpireIfDue(context.WithoutCancel(ctx), a.dirs.Target); rev {
				log.Error("trial expired unconfirmed", "err", err)
			}
			r, err := a.plan(ctx, a.src, a.cfg.Force, true)
			if err != nil {
				return daemon.Result{}, err
			}
			rep := r
			if err := a.evaluate(ctx, r, false); err != nil {
				return daemon.Result{}, err
			}
			sum := "up to date at " + state.Format(r.Current)
			if r.UpdateAvailable {
				sum = fmt.Sprintf("%s -> %s", state.Format(r.Current), state.Format(&r.Target))
				if !rep.Eligible {
					sum += " held back: " + fmt.Sprint(rep.HeldBack)
				}
			}
			return daemon.Result{Apply: rep.UpdateAvailable && rep.Eligible, Summary: sum, Data: rep}, nil
		},
		Apply: func(ctx context.Context, r daemon.Result) error {
			_, err := a.applyLocked(ctx, r.Data.(*Plan))
			return err
		},
		Next: func(now, last time.Time, failures int) (time.Time, error) {
			sc, err := a.settings.Schedule()
			if err != nil {
				return time.Time{}, err
			}
			next, err := sc.Next(now, last, failures, rnd)
			if err != nil {
				return next, err
			}
			// Wake up for a trial deadline (confirm_timeout_sec).
			if tr, _ := a.store().Load(); tr != nil && !tr.Deadline.IsZero() && tr.Deadline.Before(next) {
				next = tr.Deadline.Add(time.Second)
			}
			return next, nil
		},
		FirstCheck: first,
		Failures:   st.ConsecutiveFailures,
		Recorded:   func(now time.Time, err error, next time.Time) { a.recordCheck(err, next) },
		Applied: func(now time.Time, r daemon.Result, err error) {
			if errors.Is(err, guard.ErrReverted) {
				log.Error("update reverted", "update", r.Summary, "err", err)
			}
		},
		Notify:           o.Notify,
		WatchdogInterval: wd,
		Signals:          o.Signals,
		Logger:           log,
	}
	if o.Reload != nil {
		deps.Reload = func() error {
			na, err := o.Reload()
			if err != nil {
				return err
			}
			na.held = true
			*a = *na
			return nil
		}
	}
	return daemon.Run(ctx, deps)
}
