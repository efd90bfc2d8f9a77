// Package daemon is the agent's long-running loop: check on a schedule, apply
// when a check says so, answer signals, keep systemd's watchdog fed.
//
// Everything it touches is injected (Deps), so the loop is tested with fakes
// under testing/synctest.
//
// Invariants:
//   - Apply is never interrupted half-way: it runs with a context that
//     SIGTERM, SIGINT and the parent context's cancellation do NOT cancel
//     (context.WithoutCancel). A stop request during Apply is remembered and
//     honoured once Apply has returned (completed or rolled back).
//   - A check in progress is cancelled by a stop request (it changes nothing).
//   - SIGHUP calls Reload between operations, never during one; SIGUSR1 asks
//     for a check now (requests arriving while busy coalesce into one).
//   - While the loop runs, WATCHDOG=1 is sent every WatchdogInterval,
//     including while a check or apply is in progress.
//   - Failed checks are counted and passed to Next, which implements backoff.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// Clock is the time source; tests run under synctest with RealClock.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) *time.Timer
}

// RealClock uses package time.
type RealClock struct{}

func (RealClock) Now() time.Time                       { return time.Now() }
func (RealClock) NewTimer(d time.Duration) *time.Timer { return time.NewTimer(d) }

// Notifier is the systemd notify channel (sdnotify.Notifier satisfies it).
type Notifier interface {
	Notify(lines ...string) error
}

// Result is what a check found.
type Result struct {
	// Apply is true when an eligible update is available and Apply must run.
	Apply bool
	// Summary is a one-line description for logs and STATUS=.
	Summary string
	// Data is passed through to Apply untouched.
	Data any
}

// Deps are the loop's inputs.
type Deps struct {
	Clock Clock // RealClock when nil
	// Check looks for an update; it must not change the installed tree.
	Check func(ctx context.Context) (Result, error)
	// Apply installs what Check found; it runs to completion or rollback.
	Apply func(ctx context.Context, r Result) error
	// Next returns when to check next, given the time of the last check
	// attempt and the number of consecutive failed checks.
	Next func(now, lastCheck time.Time, failures int) (time.Time, error)
	// FirstCheck is when to check first; zero means immediately.
	FirstCheck time.Time
	// Failures is the persisted count of consecutive failed checks.
	Failures int
	// Recorded is called after every check (status file, metrics); may be nil.
	Recorded func(now time.Time, checkErr error, next time.Time)
	// Applied is called after every apply attempt; may be nil.
	Applied func(now time.Time, r Result, err error)

	Notify           Notifier // nil: no notifications
	WatchdogInterval time.Duration
	Signals          <-chan os.Signal // SIGHUP, SIGUSR1, SIGTERM, SIGINT
	Reload           func() error     // nil: SIGHUP only logs
	Logger           *slog.Logger
}

type loop struct {
	Deps
	log       *slog.Logger
	watchdog  <-chan time.Time
	stop      bool // stop requested
	checkNow  bool // SIGUSR1 arrived while busy
	reloadReq bool // SIGHUP arrived while busy
}

// Run runs the loop until ctx is cancelled or SIGTERM/SIGINT arrives. It
// returns nil on a requested stop.
func Run(ctx context.Context, d Deps) error {
	if d.Check == nil || d.Apply == nil || d.Next == nil {
		return errors.New("daemon: Check, Apply and Next are required")
	}
	if d.Clock == nil {
		d.Clock = RealClock{}
	}
	l := &loop{Deps: d, log: d.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if d.WatchdogInterval > 0 {
		t := time.NewTicker(d.WatchdogInterval)
		defer t.Stop()
		l.watchdog = t.C
	}
	next := d.FirstCheck
	var lastCheck time.Time
	failures := d.Failures
	l.notify("READY=1", "STATUS=idle")
	defer l.notify("STOPPING=1")

	for !l.stop {
		now := l.Clock.Now()
		wait := max(next.Sub(now), 0)
		timer := l.Clock.NewTimer(wait)
		l.status("idle, next check at %s", next.Format(time.RFC3339))
		due := false
		for !due && !l.stop && !l.checkNow && !l.reloadReq {
			select {
			case <-ctx.Done():
				l.stop = true
			case <-timer.C:
				due = true
			case <-l.watchdog:
				l.notify("WATCHDOG=1")
			case sig := <-l.Signals:
				l.signal(sig)
			}
		}
		timer.Stop()
		if l.stop {
			break
		}
		if l.reloadReq {
			l.reload()
			if !due && !l.checkNow && !lastCheck.IsZero() {
				// The schedule may have changed: recompute from the last check.
				if n, err := l.Next(l.Clock.Now(), lastCheck, failures); err == nil {
					next = n
				} else {
					l.log.Error("schedule after reload", "err", err)
				}
				continue
			}
		}
		l.checkNow = false

		// Check (cancelled by a stop request).
		l.status("checking for updates")
		cctx, cancel := context.WithCancel(ctx)
		var res Result
		var cerr error
		l.busy(cancel, func() { res, cerr = l.Check(cctx) })
		cancel()
		lastCheck = l.Clock.Now()
		if cerr != nil && l.stop && errors.Is(cerr, context.Canceled) {
			break // cancelled by our own stop; not a failure
		}
		if cerr != nil {
			failures++
			l.log.Warn("update check failed", "err", cerr, "consecutive_failures", failures)
		} else {
			failures = 0
			l.log.Info("update check done", "result", res.Summary, "apply", res.Apply)
		}
		n, err := l.Next(lastCheck, lastCheck, failures)
		if err != nil {
			l.log.Error("cannot schedule the next check", "err", err)
			if l.Recorded != nil {
				l.Recorded(lastCheck, cerr, time.Time{})
			}
			return fmt.Errorf("schedule next check: %w", err)
		}
		next = n
		if l.Recorded != nil {
			l.Recorded(lastCheck, cerr, next)
		}

		// Apply (never cancelled).
		if cerr == nil && res.Apply && !l.stop {
			l.status("applying %s", res.Summary)
			actx := context.WithoutCancel(ctx)
			var aerr error
			l.busy(nil, func() { aerr = l.Apply(actx, res) })
			if aerr != nil {
				l.log.Error("update failed", "update", res.Summary, "err", aerr)
			} else {
				l.log.Info("update applied", "update", res.Summary)
			}
			if l.Applied != nil {
				l.Applied(l.Clock.Now(), res, aerr)
			}
		}
	}
	l.log.Info("daemon stopping")
	return nil
}

// busy runs fn in a goroutine while keeping the watchdog fed and recording
// signals. onStop (may be nil) is called on the first stop request.
func (l *loop) busy(onStop func(), fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	stopped := false
	for {
		if l.stop && !stopped && onStop != nil {
			onStop()
			stopped = true
		}
		select {
		case <-done:
			return
		case <-l.watchdog:
			l.notify("WATCHDOG=1")
		case sig := <-l.Signals:
			l.signal(sig)
			if l.stop && onStop == nil {
				l.status("stop requested; finishing the update in progress first")
			}
		}
	}
}

func (l *loop) signal(sig os.Signal) {
	l.log.Info("signal", "signal", sig.String())
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT:
		l.stop = true
	case syscall.SIGHUP:
		l.reloadReq = true
	case syscall.SIGUSR1:
		l.checkNow = true
	}
}

func (l *loop) reload() {
	l.reloadReq = false
	if l.Reload != nil {
		if err := l.Reload(); err != nil {
			l.log.Error("reload failed; keeping the previous configuration", "err", err)
		} else {
			l.log.Info("configuration reloaded")
		}
	}
	l.status("configuration reloaded")
}

func (l *loop) notify(lines ...string) {
	if l.Notify == nil {
		return
	}
	if err := l.Notify.Notify(lines...); err != nil {
		l.log.Debug("sd_notify", "err", err)
	}
}

func (l *loop) status(format string, args ...any) {
	l.notify("STATUS=" + fmt.Sprintf(format, args...))
}
