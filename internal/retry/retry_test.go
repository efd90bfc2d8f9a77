package retry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// recorder is a fake Sleep: it records each wait instead of sleeping.
type recorder struct {
	waits  []time.Duration
	cancel context.CancelFunc // called on the first wait when set
}

func (r *recorder) Sleep(ctx context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	if r.cancel != nil {
		r.cancel()
	}
	return ctx.Err()
}

func upper(d time.Duration) time.Duration { return d }

var errFlaky = errors.New("flaky")

func TestCeiling(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want []time.Duration // ceilings of retries 1, 2, ...
	}{
		{Policy{Backoff: 3 * time.Second, MaxBackoff: 10 * time.Second}, []time.Duration{3e9, 6e9, 10e9, 10e9}},
		{Policy{}, []time.Duration{DefaultBackoff, 2 * DefaultBackoff, 4 * DefaultBackoff, 8 * DefaultBackoff, 16 * DefaultBackoff, DefaultMaxBackoff}},
		{Policy{Backoff: 5 * time.Second, MaxBackoff: time.Second}, []time.Duration{5e9, 5e9}}, // max raised to backoff
		{Policy{Backoff: time.Second}, []time.Duration{1e9, 2e9}},                              // max defaults
	} {
		for i, w := range tc.want {
			if got := tc.p.Ceiling(i + 1); got != w {
				t.Errorf("%+v: Ceiling(%d) = %v, want %v", tc.p, i+1, got, w)
			}
		}
	}
	// No overflow, whatever the retry count or the cap.
	p := Policy{Backoff: time.Nanosecond, MaxBackoff: time.Duration(1<<63 - 1)}
	for _, n := range []int{62, 63, 64, 200, 1 << 30} {
		if c := p.Ceiling(n); c <= 0 {
			t.Fatalf("Ceiling(%d) = %v overflowed", n, c)
		}
	}
}

func TestDelayJitter(t *testing.T) {
	p := Policy{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n := 1; n <= 8; n++ {
		c := p.Ceiling(n)
		var lo, hi bool
		for range 2000 {
			d := p.Delay(n)
			if d < 0 || d > c {
				t.Fatalf("Delay(%d) = %v outside [0, %v]", n, d, c)
			}
			lo = lo || d < c/4
			hi = hi || d > 3*c/4
		}
		if !lo || !hi {
			t.Errorf("Delay(%d) does not spread over [0, %v] (low %v, high %v)", n, c, lo, hi)
		}
	}
	// A misbehaving injected jitter is clamped to the bounds.
	p.Jitter = func(d time.Duration) time.Duration { return 2*d + 1 }
	if d := p.Delay(1); d != 100*time.Millisecond {
		t.Fatalf("clamped delay = %v", d)
	}
	p.Jitter = func(time.Duration) time.Duration { return -1 }
	if d := p.Delay(1); d != 0 {
		t.Fatalf("clamped delay = %v", d)
	}
}

func TestDo(t *testing.T) {
	after := 7 * time.Second
	for _, tc := range []struct {
		name      string
		attempts  int
		results   []error // per attempt; past the end: success
		wantCalls int
		wantWaits []time.Duration
		wantErr   error // nil: success
		exhausted bool
	}{
		{"ok first", 3, nil, 1, nil, nil, false},
		{"retry then ok", 3, []error{errFlaky}, 2, []time.Duration{time.Second}, nil, false},
		{"exhausted", 3, []error{errFlaky, errFlaky, errFlaky}, 3, []time.Duration{time.Second, 2 * time.Second}, errFlaky, true},
		{"attempts 0 means one", 0, []error{errFlaky}, 1, nil, errFlaky, true},
		{"permanent stops", 3, []error{Permanent(errFlaky)}, 1, nil, errFlaky, false},
		{"retry-after replaces backoff", 3, []error{errFlaky, After(after, errFlaky)}, 3, []time.Duration{time.Second, after}, nil, false},
		{"retry-after on last attempt", 2, []error{After(after, errFlaky), After(after, errFlaky)}, 2, []time.Duration{after}, errFlaky, true},
		{"backoff continues after a server wait", 4, []error{After(after, errFlaky), errFlaky, errFlaky}, 4, []time.Duration{after, 2 * time.Second, 4 * time.Second}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := Policy{Attempts: tc.attempts, Backoff: time.Second, MaxBackoff: 10 * time.Second, Sleep: rec.Sleep, Jitter: upper}
			var notified []int
			p.Notify = func(n int, _ time.Duration, _ error) { notified = append(notified, n) }
			calls := 0
			err := p.Do(context.Background(), func(_ context.Context, attempt int) error {
				calls++
				if attempt != calls {
					t.Fatalf("attempt %d on call %d", attempt, calls)
				}
				if attempt <= len(tc.results) {
					return tc.results[attempt-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if !slices.Equal(rec.waits, tc.wantWaits) {
				t.Errorf("waits = %v, want %v", rec.waits, tc.wantWaits)
			}
			if len(notified) != len(tc.wantWaits) {
				t.Errorf("notified %v for %d waits", notified, len(tc.wantWaits))
			}
			if (err == nil) != (tc.wantErr == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ex *ExhaustedError
			if errors.As(err, &ex) != tc.exhausted {
				t.Fatalf("err = %#v, exhausted want %v", err, tc.exhausted)
			}
			if tc.exhausted && ex.Attempts != max(tc.attempts, 1) {
				t.Fatalf("exhausted after %d attempts, want %d", ex.Attempts, tc.attempts)
			}
		})
	}
}

func TestDoCancel(t *testing.T) {
	t.Run("during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{cancel: cancel}
		p := Policy{Attempts: 5, Sleep: rec.Sleep, Jitter: upper}
		calls := 0
		err := p.Do(ctx, func(context.Context, int) error { calls++; return errFlaky })
		var st *StoppedError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &st) || st.Last != errFlaky {
			t.Fatalf("err = %v", err)
		}
		if calls != 1 || len(rec.waits) != 1 {
			t.Fatalf("calls %d, waits %v after cancel", calls, rec.waits)
		}
	})
	t.Run("during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{}
		p := Policy{Attempts: 5, Sleep: rec.Sleep}
		err := p.Do(ctx, func(ctx context.Context, _ int) error { cancel(); return fmt.Errorf("get: %w", ctx.Err()) })
		if !errors.Is(err, context.Canceled) || len(rec.waits) != 0 {
			t.Fatalf("err %v, waits %v", err, rec.waits)
		}
	})
	t.Run("real sleep returns early", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep on a cancelled context = %v", err)
		}
	})
}
