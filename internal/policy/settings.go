// Package policy turns the scheduling, rollout, gate, health and hook
// configuration keys into decisions: when to check next, and whether a
// release that is newer than the installed one may be installed now
// ("eligible") or is "held back", and why.
//
// Settings is meant to be embedded in the agent configuration (its fields
// carry json/toml/yaml tags with the documented key names). Evaluate is pure
// apart from reading the gates' inputs (sysfs, inhibit file, crash log,
// bad-release list); it never changes anything.
package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otafleet/ota/internal/gate"
	"github.com/otafleet/ota/internal/health"
	"github.com/otafleet/ota/internal/hooks"
	"github.com/otafleet/ota/internal/schedule"
)

// Duration is a config duration: a Go duration string ("90s", "1h30m") or a
// number of seconds.
type Duration time.Duration

// UnmarshalText accepts "1h", "90s" or "3600".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number of seconds or a string like \"1h\" or \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts a string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.UnmarshalText([]byte(s))
	}
	return d.UnmarshalText(b)
}

// MarshalText writes the Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Settings are the configuration keys this package owns. Zero values mean
// "unset"; WithDefaults fills them.
type Settings struct {
	CheckInterval         Duration `json:"check_interval,omitempty" toml:"check_interval" yaml:"check_interval"`
	MinUpdateIntervalSec  *int     `json:"min_update_interval_sec,omitempty" toml:"min_update_interval_sec" yaml:"min_update_interval_sec"`
	UpdateWindowStartHour *int     `json:"update_window_start_hour,omitempty" toml:"update_window_start_hour" yaml:"update_window_start_hour"`
	UpdateWindowEndHour   *int     `json:"update_window_end_hour,omitempty" toml:"update_window_end_hour" yaml:"update_window_end_hour"`
	UpdateWindowTZ        string   `json:"update_window_tz,omitempty" toml:"update_window_tz" yaml:"update_window_tz"`
	PowerSource           string   `json:"power_source,omitempty" toml:"power_source" yaml:"power_source"`

	RolloutPercent *float64 `json:"rollout_percent,omitempty" toml:"rollout_percent" yaml:"rollout_percent"`
	DeviceID       string   `json:"device_id,omitempty" toml:"device_id" yaml:"device_id"`

	MinBatteryPercent     float64 `json:"min_battery_percent,omitempty" toml:"min_battery_percent" yaml:"min_battery_percent"`
	BatteryCommand        string  `json:"battery_command,omitempty" toml:"battery_command" yaml:"battery_command"`
	InhibitFile           string  `json:"inhibit_file,omitempty" toml:"inhibit_file" yaml:"inhibit_file"`
	MaxCrashesBeforeDelay *int    `json:"max_crashes_before_delay,omitempty" toml:"max_crashes_before_delay" yaml:"max_crashes_before_delay"`
	ErrorHistoryLimit     int     `json:"error_history_limit,omitempty" toml:"error_history_limit" yaml:"error_history_limit"`

	HealthCheck       string `json:"health_check,omitempty" toml:"health_check" yaml:"health_check"`
	HealthTimeoutSec  int    `json:"health_timeout_sec,omitempty" toml:"health_timeout_sec" yaml:"health_timeout_sec"`
	HealthIntervalSec int    `json:"health_interval_sec,omitempty" toml:"health_interval_sec" yaml:"health_interval_sec"`
	// ConfirmTimeoutSec > 0 keeps a new release on trial until the
	// application runs `ota confirm`; unconfirmed, it is reverted.
	ConfirmTimeoutSec int `json:"confirm_timeout_sec,omitempty" toml:"confirm_timeout_sec" yaml:"confirm_timeout_sec"`

	PreUpdate      string `json:"pre_update,omitempty" toml:"pre_update" yaml:"pre_update"`
	PostUpdate     string `json:"post_update,omitempty" toml:"post_update" yaml:"post_update"`
	OnRollback     string `json:"on_rollback,omitempty" toml:"on_rollback" yaml:"on_rollback"`
	RestartCommand string `json:"restart_command,omitempty" toml:"restart_command" yaml:"restart_command"`
	HookTimeoutSec int    `json:"hook_timeout_sec,omitempty" toml:"hook_timeout_sec" yaml:"hook_timeout_sec"`
	// PassTokenToHooks keeps OTA_TOKEN and GITHUB_TOKEN in the environment
	// of hooks and health-check commands; by default they are removed.
	PassTokenToHooks bool `json:"pass_token_to_hooks,omitempty" toml:"pass_token_to_hooks" yaml:"pass_token_to_hooks"`

	MetricsFile string `json:"metrics_file,omitempty" toml:"metrics_file" yaml:"metrics_file"`
}

// Defaults.
const (
	DefaultHealthTimeoutSec = 60
	DefaultHookTimeoutSec   = 300
	DefaultRolloutPercent   = 100.0
)

func intp(v int) *int { return &v }

// WithDefaults fills unset keys. min_update_interval_sec defaults to the
// original's 3600 s, but never above check_interval: a user who sets
// check_interval = "5m" gets 5-minute checks, not a silent 1-hour floor.
func (s Settings) WithDefaults() Settings {
	if s.CheckInterval == 0 {
		s.CheckInterval = Duration(schedule.DefaultCheckInterval)
	}
	if s.MinUpdateIntervalSec == nil {
		s.MinUpdateIntervalSec = intp(int(max(0, min(schedule.DefaultMinInterval, time.Duration(s.CheckInterval))) / time.Second))
	}
	if s.RolloutPercent == nil {
		p := DefaultRolloutPercent
		s.RolloutPercent = &p
	}
	if s.MaxCrashesBeforeDelay == nil {
		s.MaxCrashesBeforeDelay = intp(gate.DefaultMaxCrashes)
	}
	if s.HealthTimeoutSec <= 0 {
		s.HealthTimeoutSec = DefaultHealthTimeoutSec
	}
	if s.HookTimeoutSec <= 0 {
		s.HookTimeoutSec = DefaultHookTimeoutSec
	}
	if strings.TrimSpace(s.RestartCommand) == "" {
		s.RestartCommand = "none"
	}
	return s
}

// Validate reports mistakes by key name. Call it on WithDefaults' result.
func (s Settings) Validate() error {
	if time.Duration(s.CheckInterval) < time.Second {
		return fmt.Errorf("check_interval = %v: must be at least 1s (for example \"1h\")", time.Duration(s.CheckInterval))
	}
	if (s.UpdateWindowStartHour == nil) != (s.UpdateWindowEndHour == nil) {
		return fmt.Errorf("update_window_start_hour and update_window_end_hour must be set together (or both omitted for no window)")
	}
	if s.MinUpdateIntervalSec != nil && *s.MinUpdateIntervalSec < 0 {
		return fmt.Errorf("min_update_interval_sec = %d must be ≥ 0", *s.MinUpdateIntervalSec)
	}
	if p := s.RolloutPercent; p != nil && (*p < 0 || *p > 100) {
		return fmt.Errorf("rollout_percent = %v must be between 0 and 100", *p)
	}
	switch s.PowerSource {
	case "", "solar", "mains", "battery":
	default:
		return fmt.Errorf("power_source = %q: want \"solar\" (updates only 10:00–16:00), \"mains\" or \"battery\"", s.PowerSource)
	}
	if s.MinBatteryPercent < 0 || s.MinBatteryPercent > 100 {
		return fmt.Errorf("min_battery_percent = %v must be between 0 and 100", s.MinBatteryPercent)
	}
	if h := s.HealthCheck; h != "" && health.IsURL(h) {
		if strings.ContainsAny(h, " \t\n") {
			return fmt.Errorf("health_check URL %q contains spaces", h)
		}
	}
	sc, err := s.Schedule()
	if err != nil {
		return err
	}
	return sc.Validate()
}

// Schedule builds the schedule configuration.
func (s Settings) Schedule() (schedule.Config, error) {
	s = s.WithDefaults()
	c := schedule.Config{
		CheckInterval: time.Duration(s.CheckInterval),
		MinInterval:   time.Duration(*s.MinUpdateIntervalSec) * time.Second,
		Jitter:        schedule.DefaultJitter,
		WindowSpread:  schedule.DefaultWindowSpread,
	}
	loc, err := schedule.LoadLocation(s.UpdateWindowTZ)
	if err != nil {
		return c, err
	}
	c.Window.Loc = loc
	c.Window.Solar = s.PowerSource == "solar"
	if s.UpdateWindowStartHour != nil && s.UpdateWindowEndHour != nil {
		c.Window.Set = true
		c.Window.Start, c.Window.End = *s.UpdateWindowStartHour, *s.UpdateWindowEndHour
	}
	return c, nil
}

// Hooks builds the hook runner.
func (s Settings) Hooks() hooks.Hooks {
	s = s.WithDefaults()
	return hooks.Hooks{
		PreUpdate: s.PreUpdate, PostUpdate: s.PostUpdate, OnRollback: s.OnRollback,
		RestartCommand: s.RestartCommand, Timeout: time.Duration(s.HookTimeoutSec) * time.Second,
		PassToken: s.PassTokenToHooks,
	}
}

// Health builds the health checker template (versions and dir filled by the caller).
func (s Settings) Health() health.Checker {
	s = s.WithDefaults()
	c := health.Checker{Check: s.HealthCheck, Timeout: time.Duration(s.HealthTimeoutSec) * time.Second, PassToken: s.PassTokenToHooks}
	if s.HealthIntervalSec > 0 {
		c.Interval = time.Duration(s.HealthIntervalSec) * time.Second
	}
	return c
}
