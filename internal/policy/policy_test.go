package policy

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
)

func TestSettingsDecode(t *testing.T) {
	var s Settings
	err := json.Unmarshal([]byte(`{"check_interval": "15m", "update_window_start_hour": 2, "update_window_end_hour": 4,
		"update_window_tz": "UTC", "rollout_percent": 25, "health_timeout_sec": 30}`), &s)
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if time.Duration(s.CheckInterval) != 15*time.Minute || *s.MinUpdateIntervalSec != 900 || s.RestartCommand != "none" {
		t.Errorf("defaults: %+v", s)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`3600`), &d); err != nil || time.Duration(d) != time.Hour {
		t.Errorf("numeric duration: %v %v", d, err)
	}
	for _, bad := range []string{
		`{"update_window_start_hour": 2}`,
		`{"update_window_start_hour": 3, "update_window_end_hour": 3}`,
		`{"rollout_percent": 101}`,
		`{"power_source": "wind"}`,
		`{"update_window_tz": "Mars/Olympus"}`,
		`{"check_interval": "soon"}`,
		`{"check_interval": "-5m"}`,
	} {
		var s Settings
		err := json.Unmarshal([]byte(bad), &s)
		if err == nil {
			err = s.WithDefaults().Validate()
		}
		if err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestEvaluate(t *testing.T) {
	dir, _ := fsx.Abs(t.TempDir())
	state := dir + "/state"
	ps := dir + "/ps"
	os.MkdirAll(ps+"/BAT0", 0o755)
	os.WriteFile(ps+"/BAT0/type", []byte("Battery"), 0o644)
	os.WriteFile(ps+"/BAT0/capacity", []byte("15"), 0o644)
	start, end, pct := 2, 4, 100.0
	s := Settings{UpdateWindowStartHour: &start, UpdateWindowEndHour: &end, UpdateWindowTZ: "UTC", RolloutPercent: &pct, MinBatteryPercent: 20}
	target := source.Target{Version: source.Version{Ref: "v2", Commit: "c2c2c2c2c2"}}
	in := Input{Now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Target: target, DeviceID: "dev1", FS: fsx.OS{}, StateDir: state, PowerSupplyDir: ps}
	ctx := context.Background()

	d, err := s.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Eligible || len(d.HeldBack) != 2 || !strings.Contains(d.HeldBack[0], "window") || !strings.Contains(d.HeldBack[1], "battery") {
		t.Errorf("held back: %q", d.HeldBack)
	}
	in.Now = time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	os.WriteFile(ps+"/BAT0/capacity", []byte("90"), 0o644)
	if d, _ := s.Evaluate(ctx, in); !d.Eligible {
		t.Errorf("should be eligible: %q", d.HeldBack)
	}
	// Bad release.
	s.Store(fsx.OS{}, state).MarkBad(in.Now, target.Version, "health check failed")
	if d, _ := s.Evaluate(ctx, in); d.Eligible || !strings.Contains(d.HeldBack[0], "not retried until a newer release") {
		t.Errorf("bad release: %q", d.HeldBack)
	}
	// A newer release is eligible; a pulled one is not.
	in.Target.Commit = "c3c3c3c3"
	if d, _ := s.Evaluate(ctx, in); !d.Eligible {
		t.Errorf("newer release: %q", d.HeldBack)
	}
	in.Target.Extra = map[string]any{"rollout": map[string]any{"pulled": true}}
	if d, _ := s.Evaluate(ctx, in); d.Eligible || len(d.HeldBack) != 1 || !strings.Contains(d.HeldBack[0], "pulled") {
		t.Errorf("pulled: %q", d.HeldBack)
	}
	// Rollout at 0 %, inhibit file.
	in.Target.Extra = nil
	zero := 0.0
	s.RolloutPercent = &zero
	os.WriteFile(state+"/inhibit", []byte("maintenance"), 0o644)
	d, _ = s.Evaluate(ctx, in)
	if d.Eligible || len(d.HeldBack) != 2 || !strings.Contains(d.HeldBack[0], "staged rollout") || !strings.Contains(d.HeldBack[1], "maintenance") {
		t.Errorf("rollout+inhibit: %q", d.HeldBack)
	}
	in.IgnoreSchedule = true
	if d, _ := s.Evaluate(ctx, in); len(d.HeldBack) != 1 {
		t.Errorf("IgnoreSchedule still holds by rollout: %q", d.HeldBack)
	}
}
