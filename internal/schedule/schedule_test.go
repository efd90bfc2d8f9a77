package schedule

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestWindowAllows(t *testing.T) {
	utc := time.UTC
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, utc) }
	tests := []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"no window", Window{}, at(3, 0), true},
		{"inside", Window{Set: true, Start: 2, End: 5, Loc: utc}, at(2, 0), true},
		{"end exclusive", Window{Set: true, Start: 2, End: 5, Loc: utc}, at(5, 0), false},
		{"before", Window{Set: true, Start: 2, End: 5, Loc: utc}, at(1, 59), false},
		{"midnight span late", Window{Set: true, Start: 22, End: 4, Loc: utc}, at(23, 0), true},
		{"midnight span early", Window{Set: true, Start: 22, End: 4, Loc: utc}, at(3, 59), true},
		{"midnight span out", Window{Set: true, Start: 22, End: 4, Loc: utc}, at(4, 0), false},
		{"solar in", Window{Solar: true, Loc: utc}, at(15, 59), true},
		{"solar out", Window{Solar: true, Loc: utc}, at(16, 0), false},
		{"solar and window", Window{Set: true, Start: 14, End: 20, Solar: true, Loc: utc}, at(17, 0), false},
		// 02:30 UTC is 03:30 in Berlin (CET): inside 3..4 Berlin.
		{"zone", Window{Set: true, Start: 3, End: 4, Loc: mustLoc(t, "Europe/Berlin")}, at(2, 30), true},
		{"zone out", Window{Set: true, Start: 3, End: 4, Loc: mustLoc(t, "Europe/Berlin")}, at(3, 30), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.Allows(tt.t); got != tt.want {
				t.Errorf("Allows(%v) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestWindowValidate(t *testing.T) {
	tests := []struct {
		w    Window
		want string
	}{
		{Window{Set: true, Start: 3, End: 3}, "remove both keys"},
		{Window{Set: true, Start: 24, End: 3}, "update_window_start_hour"},
		{Window{Set: true, Start: 1, End: 5, Solar: true}, "solar"},
		{Window{Set: true, Start: 9, End: 11, Solar: true}, ""},
		{Window{}, ""},
	}
	for _, tt := range tests {
		err := tt.w.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.w, err, tt.want)
		}
	}
}

func TestNextOpen(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	tests := []struct {
		name string
		w    Window
		now  time.Time
		want time.Time
	}{
		{"already open", Window{Set: true, Start: 2, End: 5, Loc: time.UTC},
			time.Date(2026, 1, 1, 3, 17, 0, 0, time.UTC), time.Date(2026, 1, 1, 3, 17, 0, 0, time.UTC)},
		{"later today", Window{Set: true, Start: 2, End: 5, Loc: time.UTC},
			time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)},
		{"tomorrow", Window{Set: true, Start: 2, End: 5, Loc: time.UTC},
			time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC)},
		{"span midnight", Window{Set: true, Start: 22, End: 4, Loc: time.UTC},
			time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 22, 0, 0, 0, time.UTC)},
		{"solar", Window{Solar: true, Loc: time.UTC},
			time.Date(2026, 1, 1, 17, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
		// 2026-03-29 02:00 CET does not exist (spring forward); a window 2..3
		// Berlin time opens at 03:00 CEST on that day? No hour 2 exists, so
		// the next open is 2026-03-30 02:00 CEST.
		{"dst gap", Window{Set: true, Start: 2, End: 3, Loc: berlin},
			time.Date(2026, 3, 29, 0, 30, 0, 0, berlin), time.Date(2026, 3, 30, 2, 0, 0, 0, berlin)},
		{"dst fall back", Window{Set: true, Start: 3, End: 4, Loc: berlin},
			time.Date(2026, 10, 25, 1, 30, 0, 0, berlin), time.Date(2026, 10, 25, 3, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.w.NextOpen(tt.now)
			if !ok || !got.Equal(tt.want) {
				t.Errorf("NextOpen(%v) = %v, %v; want %v", tt.now, got, ok, tt.want)
			}
		})
	}
	if _, ok := (Window{Set: true, Start: 1, End: 5, Solar: true, Loc: time.UTC}).NextOpen(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("NextOpen of a window disjoint from solar hours: ok = true")
	}
}

func TestNext(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		c         Config
		lastCheck time.Time
		failures  int
		lo, hi    time.Duration // allowed range of next-now
	}{
		{"plain", Config{CheckInterval: time.Hour}, time.Time{}, 0, time.Hour, time.Hour},
		{"jitter", Config{CheckInterval: time.Hour, Jitter: 0.1}, time.Time{}, 0, 54 * time.Minute, 66 * time.Minute},
		{"min interval floor", Config{CheckInterval: time.Minute, MinInterval: time.Hour, Jitter: 0.5}, t0, 0, time.Hour, time.Hour},
		{"backoff 3", Config{CheckInterval: time.Hour}, time.Time{}, 3, 8 * time.Hour, 8 * time.Hour},
		{"backoff capped", Config{CheckInterval: time.Hour, MaxBackoff: 5 * time.Hour}, time.Time{}, 10, 5 * time.Hour, 5 * time.Hour},
		{"backoff huge", Config{CheckInterval: time.Hour}, time.Time{}, 1000, 24 * time.Hour, 24 * time.Hour},
		{"window pushes", Config{CheckInterval: time.Hour, Window: Window{Set: true, Start: 2, End: 4, Loc: time.UTC}},
			time.Time{}, 0, 14 * time.Hour, 14*time.Hour + DefaultWindowSpread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c.WindowSpread == 0 {
				c.WindowSpread = DefaultWindowSpread
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				next, err := c.Next(t0, tt.lastCheck, tt.failures, rnd)
				if err != nil {
					t.Fatal(err)
				}
				if d := next.Sub(t0); d < tt.lo || d > tt.hi {
					t.Fatalf("Next-now = %v, want in [%v, %v]", d, tt.lo, tt.hi)
				}
				if !c.Window.Allows(next) {
					t.Fatalf("Next = %v lies outside the window", next)
				}
			}
		})
	}
	bad := Config{Window: Window{Set: true, Start: 1, End: 5, Solar: true, Loc: time.UTC}}
	if _, err := bad.Next(t0, time.Time{}, 0, nil); err != ErrNeverOpen {
		t.Errorf("Next with a never-open window: err = %v, want ErrNeverOpen", err)
	}
}

func TestMayCheck(t *testing.T) {
	c := Config{MinInterval: time.Hour}
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if ok, _ := c.MayCheck(t0, time.Time{}); !ok {
		t.Error("first check refused")
	}
	if ok, wait := c.MayCheck(t0, t0.Add(-20*time.Minute)); ok || wait != 40*time.Minute {
		t.Errorf("MayCheck 20m after = %v, %v; want false, 40m", ok, wait)
	}
	if ok, _ := c.MayCheck(t0, t0.Add(-time.Hour)); !ok {
		t.Error("check after exactly min interval refused")
	}
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any
		err  string
	}{
		{"none", map[string]any{"a": 1}, map[string]any{"a": 1}, ""},
		{"moves", map[string]any{"update_scheduling": map[string]any{
			"min_update_interval_sec": 600.0, "update_window_start_hour": int64(2), "_min_update_interval_sec_comment": "x"}},
			map[string]any{"min_update_interval_sec": 600.0, "update_window_start_hour": int64(2)}, ""},
		{"same value both", map[string]any{"rollout_percent": int64(10), "update_scheduling": map[string]any{"rollout_percent": 10.0}},
			map[string]any{"rollout_percent": 10.0}, ""},
		{"conflict", map[string]any{"rollout_percent": 20.0, "update_scheduling": map[string]any{"rollout_percent": 10.0}}, nil, "keep one"},
		{"unknown is dropped", map[string]any{"update_scheduling": map[string]any{"windw_start": 1}}, map[string]any{}, ""},
		{"json.Number", map[string]any{"rollout_percent": json.Number("10"), "update_scheduling": map[string]any{"rollout_percent": 10.0}},
			map[string]any{"rollout_percent": 10.0}, ""},
		{"not object", map[string]any{"update_scheduling": true}, nil, "expected a table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Flatten(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.in) != len(tt.want) {
				t.Fatalf("got %v, want %v", tt.in, tt.want)
			}
			for k, v := range tt.want {
				if !sameValue(tt.in[k], v) {
					t.Errorf("%s = %v, want %v", k, tt.in[k], v)
				}
			}
		})
	}
}
