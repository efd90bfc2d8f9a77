package policy

import (
	"encoding/json"
	"testing"
)

// FuzzSettingsJSON: decoding arbitrary JSON into Settings and validating it
// never panics, and whatever validates yields a usable schedule.
func FuzzSettingsJSON(f *testing.F) {
	f.Add(`{"check_interval":"1h","update_window_start_hour":22,"update_window_end_hour":4}`)
	f.Add(`{"check_interval":3600,"power_source":"solar","rollout_percent":12.5}`)
	f.Add(`{"check_interval":"-5m","min_update_interval_sec":-1}`)
	f.Add(`{"update_window_tz":"Europe/Berlin","update_window_start_hour":3,"update_window_end_hour":3}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Settings
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		s = s.WithDefaults()
		if s.Validate() != nil {
			return
		}
		sc, err := s.Schedule()
		if err != nil {
			t.Fatalf("validated settings give no schedule: %v", err)
		}
		if sc.CheckInterval <= 0 || sc.MinInterval < 0 {
			t.Fatalf("schedule %+v from %s", sc, in)
		}
	})
}
