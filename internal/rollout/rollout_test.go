package rollout

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdmittedShares(t *testing.T) {
	const n = 1000
	release := "3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e"
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("device-%04d", i)
	}
	admittedAt := map[float64][]bool{}
	for _, pct := range []float64{10, 20, 50, 100} {
		adm := make([]bool, n)
		count := 0
		for i, id := range ids {
			d := Decide(id, release, nil, pct, time.Time{})
			if d2 := Decide(id, release, nil, pct, time.Time{}); d2 != d {
				t.Fatalf("%s: decision not stable: %+v vs %+v", id, d, d2)
			}
			adm[i] = d.Admitted
			if d.Admitted {
				count++
			}
		}
		p := pct / 100
		sigma := math.Sqrt(n * p * (1 - p))
		t.Logf("rollout_percent %3.0f%%: %d/%d admitted (%.1f%%), expected %.0f ± %.1f (4σ)", pct, count, n, 100*float64(count)/n, n*p, 4*sigma)
		if math.Abs(float64(count)-n*p) > 4*sigma+1e-9 {
			t.Errorf("%v%%: %d admitted, outside %.0f ± 4σ (%.1f)", pct, count, n*p, 4*sigma)
		}
		admittedAt[pct] = adm
	}
	for i := range ids {
		if admittedAt[20][i] && !admittedAt[50][i] || admittedAt[10][i] && !admittedAt[20][i] {
			t.Errorf("%s admitted at a lower percent but not at a higher one", ids[i])
		}
	}
	// Independence between releases: the 10 % cohorts of two releases overlap
	// by about 1 %, not 10 %.
	both := 0
	for _, id := range ids {
		if Decide(id, release, nil, 10, time.Time{}).Admitted && Decide(id, "other", nil, 10, time.Time{}).Admitted {
			both++
		}
	}
	if both > 30 {
		t.Errorf("%d devices are canaries for both releases; cohorts are not independent", both)
	}
}

func TestCohortRange(t *testing.T) {
	for i := range 1000 {
		c := Cohort(fmt.Sprint(i), "r")
		if c < 0 || c >= 1 {
			t.Fatalf("cohort %v out of [0,1)", c)
		}
	}
	if Cohort("a", "bc") == Cohort("ab", "c") {
		t.Error("separator missing: (a,bc) and (ab,c) collide")
	}
}

func TestPolicyFraction(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{StartTime: t0, StartPercent: 10, RampDuration: 10 * time.Hour}
	tests := []struct {
		name string
		p    Policy
		now  time.Time
		want float64
	}{
		{"before start", p, t0.Add(-time.Second), 0},
		{"at start", p, t0, 0.10},
		{"halfway", p, t0.Add(5 * time.Hour), 0.55},
		{"done", p, t0.Add(10 * time.Hour), 1},
		{"long after", p, t0.Add(100 * time.Hour), 1},
		{"paused", Policy{StartTime: t0, StartPercent: 10, RampDuration: time.Hour, Paused: true}, t0.Add(5 * time.Hour), 0.10},
		{"pulled", Policy{StartTime: t0, StartPercent: 100, Pulled: true}, t0.Add(5 * time.Hour), 0},
		{"no ramp", Policy{StartTime: t0}, t0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Fraction(tt.now); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Fraction = %v, want %v", got, tt.want)
			}
		})
	}
	// Monotone over the ramp for every device.
	for i := range 200 {
		id := fmt.Sprint("d", i)
		was := false
		for h := 0; h <= 10; h++ {
			a := Decide(id, "r", &p, 100, t0.Add(time.Duration(h)*time.Hour)).Admitted
			if was && !a {
				t.Fatalf("%s dropped out of the ramp at hour %d", id, h)
			}
			was = a
		}
		if !was {
			t.Fatalf("%s not admitted at the end of the ramp", id)
		}
	}
	if d := Decide("x", "r", &Policy{Pulled: true}, 100, t0); d.Admitted || !strings.Contains(d.Reason, "pulled") {
		t.Errorf("pulled: %+v", d)
	}
}

func TestPolicyFromExtra(t *testing.T) {
	p, ok, err := PolicyFromExtra(map[string]any{"rollout": map[string]any{
		"start_epoch": 1700000000.0, "start_percentage": 5.0, "duration_minutes": int64(60), "paused": true}})
	if err != nil || !ok || p.StartPercent != 5 || p.RampDuration != time.Hour || !p.Paused || p.StartTime.Unix() != 1700000000 {
		t.Errorf("got %+v %v %v", p, ok, err)
	}
	// The signed repository's shape (any type that encodes like repo.Rollout).
	type repoRollout struct {
		Start        time.Time `json:"start,omitzero"`
		StartPercent float64   `json:"start_percent"`
		RampDuration string    `json:"ramp_duration,omitempty"`
		Pulled       bool      `json:"pulled,omitempty"`
	}
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	p, ok, err = PolicyFromExtra(map[string]any{"rollout": &repoRollout{Start: t0, StartPercent: 10, RampDuration: "48h", Pulled: true}})
	if err != nil || !ok || !p.StartTime.Equal(t0) || p.StartPercent != 10 || p.RampDuration != 48*time.Hour || !p.Pulled {
		t.Errorf("repo shape: %+v %v %v", p, ok, err)
	}
	if _, ok, err := PolicyFromExtra(nil); ok || err != nil {
		t.Error("nil extra")
	}
	if _, _, err := PolicyFromExtra(map[string]any{"rollout": map[string]any{"start_percentage": 150.0}}); err == nil {
		t.Error("150 % accepted")
	}
}

func TestDeviceID(t *testing.T) {
	dir := t.TempDir()
	mid := filepath.Join(dir, "machine-id")
	if id, _ := DeviceID(" cfg ", mid); id != "cfg" {
		t.Errorf("configured: %q", id)
	}
	os.WriteFile(mid, []byte("0123abcd\n"), 0o444)
	if id, _ := DeviceID("", mid); id != "0123abcd" {
		t.Errorf("machine-id: %q", id)
	}
	host, _ := os.Hostname()
	if id, _ := DeviceID("", filepath.Join(dir, "missing")); id != host {
		t.Errorf("hostname fallback: %q, want %q", id, host)
	}
}
