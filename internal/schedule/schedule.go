// Package schedule decides when the agent checks for updates next and whether
// the current moment lies inside the allowed update window.
//
// Invariants:
//   - Next never returns a time earlier than lastCheck+MinInterval
//     (min_update_interval_sec): the agent never checks more often than that,
//     whatever the jitter, the backoff or a window opening say.
//   - After n consecutive failures the base delay is CheckInterval·2ⁿ, capped
//     at MaxBackoff (never below CheckInterval).
//   - Jitter is drawn from an injected *rand.Rand so tests are deterministic;
//     it spreads a fleet that booted together over ±Jitter of the delay.
//   - Window hours are evaluated in Window.Loc (update_window_tz), never in
//     whatever the device clock's zone happens to be unless the user asked for
//     local time.
//
// Window semantics (documented choice): start < end allows start ≤ h < end;
// end < start spans midnight (h ≥ start or h < end). start == end is rejected
// by Validate: the original silently never updated in that case, and "always"
// is spelled by omitting both keys. power_source = "solar" additionally
// restricts to hours 10..15 inclusive, as the original did; the two
// restrictions intersect.
package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults used when the configuration leaves a value unset.
const (
	DefaultCheckInterval = time.Hour
	DefaultMinInterval   = time.Hour // min_update_interval_sec = 3600, as the original
	DefaultMaxBackoff    = 24 * time.Hour
	DefaultJitter        = 0.1
	DefaultWindowSpread  = 15 * time.Minute
)

// Solar hours: power_source = "solar" allows only 10:00–15:59 local window time.
const (
	solarStart = 10
	solarEnd   = 16 // exclusive
)

// Window restricts updates to some hours of the day.
type Window struct {
	// Set is false when no window is configured (every hour allowed).
	Set        bool
	Start, End int // 0..23
	// Loc is the zone the hours are read in; nil means time.Local.
	Loc *time.Location
	// Solar adds the power_source = "solar" restriction (10..15 inclusive).
	Solar bool
}

// Config is the scheduling part of the agent configuration.
type Config struct {
	CheckInterval time.Duration // check_interval
	MinInterval   time.Duration // min_update_interval_sec
	MaxBackoff    time.Duration // cap of exponential backoff after failures
	// Jitter is the relative spread of each delay: 0.1 means ±10 %.
	Jitter float64
	// WindowSpread spreads checks pushed to a window opening over
	// [open, open+WindowSpread) so a fleet does not hit the server at once.
	WindowSpread time.Duration
	Window       Window
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.MinInterval < 0 {
		c.MinInterval = 0
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.CheckInterval {
		c.MaxBackoff = c.CheckInterval
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.WindowSpread < 0 {
		c.WindowSpread = 0
	}
	return c
}

// Validate reports configuration mistakes with the key names a user edits.
func (c Config) Validate() error {
	if c.Jitter >= 1 {
		return fmt.Errorf("check jitter %.2f must be below 1 (it is a fraction of check_interval)", c.Jitter)
	}
	return c.Window.Validate()
}

// Validate checks the window's hours.
func (w Window) Validate() error {
	if !w.Set {
		return nil
	}
	for _, h := range []struct {
		key string
		v   int
	}{{"update_window_start_hour", w.Start}, {"update_window_end_hour", w.End}} {
		if h.v < 0 || h.v > 23 {
			return fmt.Errorf("%s = %d: must be an hour 0..23", h.key, h.v)
		}
	}
	if w.Start == w.End {
		return fmt.Errorf("update_window_start_hour = update_window_end_hour = %d: an empty window would never update; "+
			"remove both keys to allow every hour", w.Start)
	}
	if w.Solar {
		ok := false
		for h := solarStart; h < solarEnd; h++ {
			ok = ok || w.hourInWindow(h)
		}
		if !ok {
			return fmt.Errorf("update window %02d:00–%02d:00 does not overlap the solar hours 10:00–16:00 (power_source = \"solar\"): "+
				"the device would never update; widen the window or change power_source", w.Start, w.End)
		}
	}
	return nil
}

func (w Window) loc() *time.Location {
	if w.Loc == nil {
		return time.Local
	}
	return w.Loc
}

func (w Window) hourInWindow(h int) bool {
	if !w.Set {
		return true
	}
	if w.Start < w.End {
		return w.Start <= h && h < w.End
	}
	return h >= w.Start || h < w.End
}

// Allows reports whether t lies inside the window (and the solar hours).
func (w Window) Allows(t time.Time) bool {
	h := t.In(w.loc()).Hour()
	if w.Solar && (h < solarStart || h >= solarEnd) {
		return false
	}
	return w.hourInWindow(h)
}

// NextOpen returns the earliest instant ≥ now at which the window allows
// updates; ok is false when it never does (an invalid window).
func (w Window) NextOpen(now time.Time) (t time.Time, ok bool) {
	if w.Allows(now) {
		return now, true
	}
	loc := w.loc()
	t = now.In(loc)
	// Walk hour boundaries in the window's zone; 49 steps cover a full day
	// plus any DST transition.
	for range 49 {
		next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		if !next.After(t) { // DST fall-back repeats an hour
			next = t.Add(time.Hour).Truncate(time.Hour)
		}
		t = next
		if w.Allows(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

// ErrNeverOpen is returned by Next when the window never allows an update.
var ErrNeverOpen = errors.New("update window never opens; fix update_window_start_hour/update_window_end_hour/power_source")

// Next returns when the next check should happen.
//
// now is the current time, lastCheck the time of the last check attempt (zero
// if none), failures the number of consecutive failed checks.
func (c Config) Next(now, lastCheck time.Time, failures int, rnd *rand.Rand) (time.Time, error) {
	c = c.WithDefaults()
	d := c.Backoff(failures)
	if c.Jitter > 0 && rnd != nil {
		d += time.Duration((rnd.Float64()*2 - 1) * c.Jitter * float64(d))
	}
	next := now.Add(d)
	if !lastCheck.IsZero() {
		if floor := lastCheck.Add(c.MinInterval); next.Before(floor) {
			next = floor
		}
	}
	if !c.Window.Allows(next) {
		open, ok := c.Window.NextOpen(next)
		if !ok {
			return time.Time{}, ErrNeverOpen
		}
		if c.WindowSpread > 0 && rnd != nil {
			open = open.Add(time.Duration(rnd.Int64N(int64(c.WindowSpread))))
		}
		next = open
	}
	return next, nil
}

// Backoff is the base delay after failures consecutive failures, before jitter.
func (c Config) Backoff(failures int) time.Duration {
	c = c.WithDefaults()
	d := c.CheckInterval
	for i := 0; i < failures && d < c.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.MaxBackoff)
}

// MayCheck reports whether a check is allowed now under min_update_interval_sec
// and, if not, how long to wait (the original's _check_rate_limit).
func (c Config) MayCheck(now, lastCheck time.Time) (ok bool, wait time.Duration) {
	if lastCheck.IsZero() || c.MinInterval <= 0 {
		return true, 0
	}
	if el := now.Sub(lastCheck); el < c.MinInterval {
		return false, c.MinInterval - el
	}
	return true, 0
}

// NextWindowOpen is when updates are next allowed by the window and the
// solar hours (now itself when they are allowed now); ok is false when
// never.
func (c Config) NextWindowOpen(now time.Time) (time.Time, bool) { return c.Window.NextOpen(now) }
