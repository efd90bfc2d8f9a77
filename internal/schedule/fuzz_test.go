package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzWindow checks the window invariants for any hours, zone and instant:
// NextOpen returns an allowed instant not before now and within two days,
// and Next never undercuts min_update_interval_sec.
func FuzzWindow(f *testing.F) {
	f.Add(22, 4, false, int64(1767225600), "Europe/Berlin")
	f.Add(2, 3, false, int64(1774746000), "Europe/Berlin") // DST gap day
	f.Add(9, 11, true, int64(1761354000), "America/New_York")
	f.Add(0, 23, false, int64(0), "Asia/Kolkata")
	zones := map[string]bool{"Europe/Berlin": true, "America/New_York": true, "Asia/Kolkata": true, "UTC": true, "Australia/Lord_Howe": true}
	f.Fuzz(func(t *testing.T, start, end int, solar bool, unix int64, zone string) {
		if !zones[zone] {
			zone = "UTC"
		}
		loc, err := LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		w := Window{Set: true, Start: start, End: end, Loc: loc, Solar: solar}
		if w.Validate() != nil {
			return
		}
		now := time.Unix(unix%(1<<40), 0)
		open, ok := w.NextOpen(now)
		if !ok {
			t.Fatalf("valid window %+v never opens after %v", w, now)
		}
		if open.Before(now) || open.Sub(now) > 48*time.Hour || !w.Allows(open) {
			t.Fatalf("NextOpen(%v) = %v for %+v", now, open, w)
		}
		c := Config{CheckInterval: time.Minute, MinInterval: time.Hour, Jitter: 0.5, Window: w, WindowSpread: time.Minute}
		last := now.Add(-time.Minute)
		next, err := c.Next(now, last, int(unix%7), rand.New(rand.NewPCG(uint64(unix), 1)))
		if err != nil || next.Before(last.Add(time.Hour)) || !w.Allows(next) {
			t.Fatalf("Next = %v, %v (last %v) for %+v", next, err, last, w)
		}
	})
}
