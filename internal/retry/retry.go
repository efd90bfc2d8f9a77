// Package retry is the updater's one retry policy: how many attempts, how
// long to wait between them, and when to stop. The HTTP client (every
// request) and the fetcher (a download that broke mid-body) both use it, so
// http_retries, backoff_sec and max_backoff_sec mean the same everywhere.
//
// Invariants:
//   - Attempts is the total number of tries; a value below 1 means one try
//     (0 never disables the operation).
//   - The wait before retry n (1-based) is uniform in [0, Ceiling(n)], with
//     Ceiling(n) = Backoff·2^(n-1) capped at MaxBackoff ("full jitter").
//   - A server-directed wait (After) replaces the backoff; it is never added
//     to it.
//   - A Permanent error, or the context ending, stops at once; a wait is cut
//     short when the context ends.
//
// It is written here rather than taken from github.com/cenkalti/backoff/v5
// because v5 cannot inject the wait (its timer option is unexported, so
// tests would sleep for real), its jitter is ±RandomizationFactor rather
// than full jitter, and its default 15-minute MaxElapsedTime runs on the
// wall clock; adapting all three costs more than these hundred lines.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults used when a Policy field is zero (the config's defaults too).
const (
	DefaultBackoff    = 3 * time.Second
	DefaultMaxBackoff = 60 * time.Second
)

// Policy says how often and how patiently an operation is retried. The zero
// value is one attempt. A Policy is a value; copy it to change a field.
type Policy struct {
	// Attempts is the total number of tries (http_retries); < 1 means 1.
	Attempts int
	// Backoff is the first retry's wait ceiling (backoff_sec), doubled per
	// retry up to MaxBackoff (max_backoff_sec). Zero selects the defaults;
	// MaxBackoff below Backoff is raised to Backoff.
	Backoff, MaxBackoff time.Duration
	// Sleep waits d or until ctx is done; tests inject a fake. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0, d]; tests inject one. Default: uniform.
	Jitter func(d time.Duration) time.Duration
	// Notify, when set, is told about each retry before its wait.
	Notify func(retry int, wait time.Duration, err error)
}

// normal returns p with the defaults filled in.
func (p Policy) normal() Policy {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.Backoff {
		p.MaxBackoff = p.Backoff
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Jitter == nil {
		p.Jitter = fullJitter
	}
	return p
}

// Ceiling is the upper bound of the wait before retry n (1-based).
func (p Policy) Ceiling(n int) time.Duration {
	p = p.normal()
	ceil := p.Backoff
	for i := 1; i < n && ceil < p.MaxBackoff; i++ {
		if ceil > p.MaxBackoff/2 {
			return p.MaxBackoff // doubling would pass the cap (or overflow)
		}
		ceil *= 2
	}
	return min(ceil, p.MaxBackoff)
}

// Delay is the jittered wait before retry n (1-based), in [0, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	p = p.normal()
	return max(0, min(p.Jitter(p.Ceiling(n)), p.Ceiling(n)))
}

// Do calls op until it returns nil, a Permanent error, or Attempts tries
// were made; attempt counts from 1. Between tries it waits Delay(retry), or
// the wait an After error asked for. It returns nil, the permanent error
// (unmarked), an *ExhaustedError holding the last error, or a *StoppedError
// when the context ended during a wait.
func (p Policy) Do(ctx context.Context, op func(ctx context.Context, attempt int) error) error {
	p = p.normal()
	for attempt := 1; ; attempt++ {
		err := op(ctx, attempt)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		wait, hinted := p.Delay(attempt), false
		var after *afterError
		if errors.As(err, &after) {
			wait, hinted, err = after.wait, true, after.err
		}
		if ctx.Err() != nil {
			return err
		}
		if attempt >= p.Attempts {
			return &ExhaustedError{Attempts: p.Attempts, Err: err}
		}
		if p.Notify != nil {
			p.Notify(attempt, wait, err)
		}
		if serr := p.Sleep(ctx, wait); serr != nil {
			return &StoppedError{Err: serr, Last: err, ServerWait: hinted}
		}
	}
}

// Permanent marks err as not worth retrying; Do returns err itself.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// After asks Do to wait d before the next try instead of the backoff (a
// server's Retry-After or rate-limit reset). On the last attempt it is an
// ordinary failure.
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &afterError{wait: max(d, 0), err: err}
}

type afterError struct {
	wait time.Duration
	err  error
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// ExhaustedError is the last failure after every attempt was used.
type ExhaustedError struct {
	Attempts int
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("giving up after %d attempts: %v", e.Attempts, e.Err)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

// StoppedError says the context ended while waiting to retry. It wraps the
// context's error; Last is the failure that was going to be retried.
type StoppedError struct {
	Err        error
	Last       error
	ServerWait bool // the wait was the server's (rate limit), not a backoff
}

func (e *StoppedError) Error() string {
	if e.ServerWait {
		return fmt.Sprintf("%v (waiting for rate limit; last error: %v)", e.Err, e.Last)
	}
	return fmt.Sprintf("%v (last error: %v)", e.Err, e.Last)
}

func (e *StoppedError) Unwrap() error { return e.Err }

// Sleep waits d, or until ctx is done (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}
