package daemon

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

type fakeNotify struct {
	mu    sync.Mutex
	lines []string
}

func (f *fakeNotify) Notify(lines ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, strings.Join(lines, "|"))
	return nil
}

func (f *fakeNotify) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

type harness struct {
	mu       sync.Mutex
	checks   []time.Time
	fails    []int // failures passed to Next
	applies  int
	sigs     chan os.Signal
	notify   *fakeNotify
	deps     Deps
	done     chan error
	cancel   context.CancelFunc
	checkErr error
}

func newHarness(t *testing.T) *harness {
	h := &harness{sigs: make(chan os.Signal, 4), notify: &fakeNotify{}, done: make(chan error, 1)}
	h.deps = Deps{
		Check: func(ctx context.Context) (Result, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.checks = append(h.checks, time.Now())
			return Result{Summary: "up to date"}, h.checkErr
		},
		Apply: func(ctx context.Context, r Result) error { h.applies++; return nil },
		Next: func(now, last time.Time, failures int) (time.Time, error) {
			h.mu.Lock()
			h.fails = append(h.fails, failures)
			h.mu.Unlock()
			return now.Add(time.Hour << failures), nil
		},
		Notify:  h.notify,
		Signals: h.sigs,
	}
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- Run(ctx, h.deps) }()
}

func (h *harness) nChecks() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.checks)
}

func TestPeriodicChecksAndSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.deps.WatchdogInterval = 10 * time.Minute
		reloads := 0
		h.deps.Reload = func() error { reloads++; return nil }
		t0 := time.Now()
		h.start()
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		if n := h.nChecks(); n != 4 { // t0, +1h, +2h, +3h
			t.Fatalf("%d checks in 3 h, want 4", n)
		}
		if !h.checks[3].Equal(t0.Add(3 * time.Hour)) {
			t.Errorf("4th check at %v, want t0+3h", h.checks[3].Sub(t0))
		}
		if n := h.notify.count("WATCHDOG=1"); n != 18 {
			t.Errorf("%d watchdog pings in 3h01m at 10 min, want 18", n)
		}
		h.sigs <- syscall.SIGUSR1
		synctest.Wait()
		if n := h.nChecks(); n != 5 {
			t.Fatalf("SIGUSR1 did not check now: %d checks", n)
		}
		h.sigs <- syscall.SIGHUP
		synctest.Wait()
		if reloads != 1 || h.nChecks() != 5 {
			t.Errorf("SIGHUP: reloads %d checks %d", reloads, h.nChecks())
		}
		h.sigs <- syscall.SIGTERM
		synctest.Wait()
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		if h.notify.count("READY=1") != 1 || h.notify.count("STOPPING=1") != 1 {
			t.Errorf("notifications: %q", h.notify.lines)
		}
		h.cancel()
	})
}

func TestBackoffAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.checkErr = errors.New("server down")
		var recorded []error
		h.deps.Recorded = func(now time.Time, err error, next time.Time) { recorded = append(recorded, err) }
		h.start()
		// Checks at 0, +2h, +6h (backoff 2h, 4h), then +14h.
		time.Sleep(7 * time.Hour)
		synctest.Wait()
		if n := h.nChecks(); n != 3 {
			t.Fatalf("%d checks, want 3", n)
		}
		h.mu.Lock()
		h.checkErr = nil
		h.mu.Unlock()
		time.Sleep(7*time.Hour + 30*time.Minute)
		synctest.Wait()
		if !slices.Equal(h.fails, []int{1, 2, 3, 0}) {
			t.Errorf("failures passed to Next = %v, want [1 2 3 0]", h.fails)
		}
		if len(recorded) != 4 || recorded[0] == nil || recorded[3] != nil {
			t.Errorf("recorded = %v", recorded)
		}
		h.cancel()
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestSIGTERMDoesNotInterruptApply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.deps.WatchdogInterval = time.Minute
		h.deps.Check = func(ctx context.Context) (Result, error) { return Result{Apply: true, Summary: "v2"}, nil }
		var applyCtxErr error
		finished := false
		h.deps.Apply = func(ctx context.Context, r Result) error {
			time.Sleep(10 * time.Minute) // a long apply
			applyCtxErr = ctx.Err()
			finished = true
			return nil
		}
		var applied []string
		h.deps.Applied = func(now time.Time, r Result, err error) { applied = append(applied, r.Summary) }
		h.start()
		time.Sleep(time.Minute)
		h.sigs <- syscall.SIGTERM
		h.cancel() // parent cancellation too
		synctest.Wait()
		select {
		case <-h.done:
			t.Fatal("Run returned while Apply was in progress")
		default:
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		if !finished || applyCtxErr != nil {
			t.Errorf("apply finished %v, ctx err %v", finished, applyCtxErr)
		}
		if len(applied) != 1 {
			t.Errorf("Applied called %d times", len(applied))
		}
		if n := h.notify.count("WATCHDOG=1"); n < 9 {
			t.Errorf("watchdog not fed during apply: %d pings", n)
		}
	})
}

func TestSIGTERMCancelsCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var checkErr error
		h.deps.Check = func(ctx context.Context) (Result, error) {
			<-ctx.Done()
			checkErr = ctx.Err()
			return Result{}, ctx.Err()
		}
		applied := false
		h.deps.Apply = func(context.Context, Result) error { applied = true; return nil }
		h.start()
		synctest.Wait()
		h.sigs <- syscall.SIGTERM
		synctest.Wait()
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(checkErr, context.Canceled) || applied {
			t.Errorf("check err %v, applied %v", checkErr, applied)
		}
		h.cancel()
	})
}
