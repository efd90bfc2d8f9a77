package agent

import (
	"context"
	"errors"
	"fmt"
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
const RunningMarker = "daemon.running"

// DaemonOptions are the daemon's inputs besides the agent.
type DaemonOptions struct {
	Signals <-chan os.Signal
	// Reload re-reads the configuration and returns a new agent; nil
	// disables SIGHUP reloads.
	Reload func() (*Agent, error)
	Notify sdnotify.Notifier
	Getenv func(string) string // for WATCHDOG_USEC; os.Getenv when nil
}

// Daemon runs the agent until ctx ends or SIGTERM/SIGINT arrives.
func (a *Agent) Daemon(ctx context.Context, o DaemonOptions) error {
	log := a.log()
	// The daemon holds the agent lock for its lifetime: a manual `ota
	// update` meanwhile fails with "busy" (use SIGUSR1 to check now).
	unlock, err := a.lock()
	if err != nil {
		return err
	}
	defer unlock()
	marker := path.Join(a.StateDir, RunningMarker)
	if _, err := a.FS.Stat(marker); err == nil {
		log.Warn("the previous agent run did not stop cleanly; recording a crash")
		if err := policy.CrashLog(a.FS, a.StateDir).Record(a.now(), "agent did not stop cleanly"); err != nil {
			log.Error("record crash", "err", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Warn("check running marker", "err", err)
	}
	if err := a.Store().SetNextCheck(time.Time{}); err != nil { // also creates the state dir
		return fmt.Errorf("state directory %s is not writable: %w", a.StateDir, err)
	}
	if f, err := a.FS.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err == nil {
		f.Close()
		_ = a.FS.SyncDir(a.StateDir)
	}
	defer func() {
		_ = a.FS.Remove(marker)
		_ = a.FS.SyncDir(a.StateDir)
	}()

	// Finishing a trial may revert: never interrupted by a stop request.
	if rec, err := a.Recover(context.WithoutCancel(ctx)); err != nil {
		log.Error("pending trial", "result", rec, "err", err)
	} else if rec != "" {
		log.Info("pending trial finished", "result", rec)
	}

	id, err := a.DeviceID()
	if err != nil {
		return err
	}
	rnd := newRand(id)
	st := a.Store().Status()
	first := a.now()
	if sc, err := a.Settings.Schedule(); err == nil && !st.LastCheck.IsZero() {
		if f := st.LastCheck.Add(sc.MinInterval); f.After(first) {
			first = f
		}
	}
	wd, _ := sdnotify.WatchdogInterval(o.Getenv)
	deps := daemon.Deps{
		Check: func(ctx context.Context) (daemon.Result, error) {
			if rev, err := a.Guard().ExpireIfDue(context.WithoutCancel(ctx), a.TargetDir); rev {
				log.Error("trial expired unconfirmed", "err", err)
			}
			r, err := a.U.Check(ctx)
			if err != nil {
				return daemon.Result{}, err
			}
			rep, err := a.evaluate(ctx, r, false)
			if err != nil {
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
			_, err := a.Apply(ctx, r.Data.(*CheckReport))
			return err
		},
		Next: func(now, last time.Time, failures int) (time.Time, error) {
			sc, err := a.Settings.Schedule()
			if err != nil {
				return time.Time{}, err
			}
			next, err := sc.Next(now, last, failures, rnd)
			if err != nil {
				return next, err
			}
			// Wake up for a trial deadline (confirm_timeout_sec).
			if tr, _ := a.Store().Load(); tr != nil && !tr.Deadline.IsZero() && tr.Deadline.Before(next) {
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
			*a = *na
			return nil
		}
	}
	return daemon.Run(ctx, deps)
}
