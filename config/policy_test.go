package config

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyKeys(t *testing.T) {
	c, err := Load(write(t, "c.toml", `owner = "o"
repo = "r"
check_interval = "15m"
rollout_percent = 25
health_check = "http://127.0.0.1:8080/healthz"
health_timeout_sec = 30
restart_command = "systemctl restart app"
metrics_file = "/var/lib/node_exporter/textfile_collector/ota.prom"
power_source = "solar"

[update_scheduling]
min_update_interval_sec = 600
update_window_start_hour = 9
update_window_end_hour = 17
update_window_tz = "Europe/Berlin"
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy()
	if time.Duration(p.CheckInterval) != 15*time.Minute || *p.MinUpdateIntervalSec != 600 || *p.RolloutPercent != 25 ||
		*p.UpdateWindowStartHour != 9 || *p.UpdateWindowEndHour != 17 || p.UpdateWindowTZ != "Europe/Berlin" ||
		p.HealthTimeoutSec != 30 || p.PowerSource != "solar" || p.RestartCommand != "systemctl restart app" {
		t.Errorf("policy settings: %+v", p)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "power_source") || strings.Contains(w, "update_window") {
			t.Errorf("unexpected warning %q", w)
		}
	}
	_, err = Load(write(t, "c.json", `{"owner":"o","repo":"r","rollout_percent":10,
		"update_scheduling":{"rollout_percent":20,"update_window_start_hour":3,"update_window_end_hour":3},
		"check_interval":"soon"}`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`"rollout_percent" is set both`, `"check_interval": invalid duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	c, err = Load(write(t, "c.json", `{"owner":"o","repo":"r","reset_mode":"hard"}`))
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "restart_command") {
		t.Errorf("reset_mode: %v %q", err, c.Warnings)
	}
	_, err = Load(write(t, "c.json", `{"owner":"o","repo":"r","update_window_start_hour":3,"update_window_end_hour":3}`))
	if err == nil || !strings.Contains(err.Error(), "remove both keys") {
		t.Errorf("start == end: %v", err)
	}
}
