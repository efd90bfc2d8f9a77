// Package config loads and validates the agent's configuration.
//
// The file format is chosen by extension (.json, .yaml/.yml, .toml). Keys are
// the original MicroPython updater's keys with the same meaning, plus the
// additions documented in the README. Load never touches the network or the
// target folder: a bad file is reported, key by key, before any work starts.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	yaml "go.yaml.in/yaml/v3"

	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/schedule"
	"github.com/otafleet/ota/repo"
)

// Config is the agent configuration. Field tags are the config keys.
type Config struct {
	// Source selection.
	Source string `json:"source"` // "github" (default), "http" or "dir"

	// GitHub source (the original's keys).
	Owner     string `json:"owner"`
	Repo      string `json:"repo"`
	Channel   string `json:"channel"` // "stable" (latest release) or "developer" (branch tip)
	Branch    string `json:"branch"`
	Tag       string `json:"tag"`    // pin a tag
	Commit    string `json:"commit"` // pin a commit
	Token     Secret `json:"token"`
	APIURL    string `json:"api_url"`
	RawURL    string `json:"raw_url"`
	UserAgent string `json:"user_agent"`

	// Signed update repository (source "http" or "dir"; see package repo).
	URL      string `json:"url"`  // http: repository root URL (holding latest.json)
	RepoPath string `json:"path"` // dir: repository folder (e.g. a USB stick mount)
	// TrustedKeys are the root public keys ("ed25519:<base64>", root.pub).
	// Required for http/dir; for github they make a signed manifest
	// mandatory (see docs/repository.md, "GitHub releases").
	TrustedKeys []string `json:"trusted_keys"`
	// ClockSlackSec tolerates this much clock error when checking expiry.
	ClockSlackSec float64 `json:"clock_slack_sec"`
	// ManifestKey is the original system's shared HMAC key for its
	// manifest.json (accepted for migrating existing fleets, with a warning).
	ManifestKey string `json:"manifest_key"`

	// What is managed.
	TargetDir      string   `json:"target_dir"`
	Allow          []string `json:"allow"`
	Ignore         []string `json:"ignore"`
	DeletePatterns []string `json:"delete_patterns"`
	StageDir       string   `json:"stage_dir"`
	BackupDir      string   `json:"backup_dir"`
	StateDir       string   `json:"state_dir"`

	// Transfer.
	Chunk             int     `json:"chunk"`
	HTTPRetries       int     `json:"http_retries"`
	BackoffSec        float64 `json:"backoff_sec"`
	MaxBackoffSec     float64 `json:"max_backoff_sec"`
	ConnectTimeoutSec float64 `json:"connect_timeout_sec"`
	HTTPTimeoutSec    float64 `json:"http_timeout_sec"`
	MaxTreeSizeKB     int64   `json:"max_tree_size_kb"`
	MaxTreeFiles      int     `json:"max_tree_files"`
	MinFreeStorage    int64   `json:"min_free_storage"`
	Parallel          int     `json:"parallel_downloads"`
	// EnableDeltaUpdates defaults to true for signed sources (http, dir,
	// github with trusted_keys), false otherwise.
	EnableDeltaUpdates bool `json:"enable_delta_updates"`

	// Layout: "inplace" (default: files live in target_dir, as in the
	// original) or "releases" (immutable release folders, current symlink).
	Layout       string `json:"layout"`
	KeepReleases int    `json:"keep_releases"`

	Force bool `json:"force"`
	Debug bool `json:"debug"`

	// AllowOtherWriters accepts a target_dir or state folder that another
	// user can write to (for example the application's own user while ota
	// runs as root). Off, ota refuses to run there: such a user could plant
	// links or files for ota to act on. On, ota still never follows a link
	// inside target_dir.
	AllowOtherWriters bool `json:"allow_other_writers"`

	// Scheduling, rollouts, gates, health checks, hooks and metrics
	// (check_interval, update windows, rollout_percent, health_check, ...);
	// see internal/policy.Settings for every key and its default.
	policy.Settings

	// Path is the file the config was read from (not a key).
	Path string `json:"-"`
	// Warnings collects non-fatal findings (unknown keys, ignored keys).
	Warnings []string `json:"-"`
}

// Policy returns the scheduling/rollout/health settings with defaults filled.
func (c Config) Policy() policy.Settings { return c.Settings.WithDefaults() }

// Default returns the configuration used for keys a file leaves out.
func Default() Config {
	return Config{
		Source:         "github",
		Channel:        "stable",
		Branch:         "main",
		APIURL:         "https://api.github.com",
		RawURL:         "https://raw.githubusercontent.com",
		UserAgent:      "ota-updater",
		StageDir:       ".ota_stage",
		BackupDir:      ".ota_backup",
		StateDir:       ".ota",
		Chunk:          1024,
		HTTPRetries:    3,
		BackoffSec:     3,
		MaxBackoffSec:  60,
		HTTPTimeoutSec: 10,
		// A 100,000-file GitHub tree listed folder by folder is ~23 MB of
		// JSON; decoded as it streams, so memory follows max_tree_files.
		MaxTreeSizeKB: 32768,
		MaxTreeFiles:  100000,
		Parallel:      4,
		Layout:        "inplace",
		KeepReleases:  3,
	}
}

// seedOnly are the original's keys that have no meaning for a Linux agent
// (Wi-Fi, cellular, LEDs, MicroPython resources). They are accepted so an
// existing config file loads, and reported once as ignored.
var seedOnly = map[string]bool{
	"ssid": true, "password": true, "retries": true, "min_free_mem": true, "min_cpu_mhz": true,
	"battery_adc_pin": true, "battery_divider_ratio": true, "battery_v_max": true, "battery_v_min": true,
	"watchdog_timeout_ms": true, "status_led_pin": true, "cellular_enabled": true, "lora_enabled": true,
	"wifi_enabled": true, "wifi_ssid": true, "wifi_password": true, "wifi_timeout_sec": true,
	"cellular_uart": true, "cellular_tx_pin": true, "cellular_rx_pin": true, "cellular_baud": true,
	"cellular_apn": true, "cellular_tech": true, "cellular_cost_per_mb": true, "lora_spi_pins": true,
	"lora_cs_pin": true, "lora_rst_pin": true, "lora_freq": true,
}

// Error is a configuration problem; the CLI maps it to the config exit code.
type Error struct {
	Path     string
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("config %s: %s", e.Path, e.Problems[0])
	}
	return fmt.Sprintf("config %s:\n  - %s", e.Path, strings.Join(e.Problems, "\n  - "))
}

// Load reads, decodes and validates the config file at path.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &Error{Path: path, Problems: []string{fmt.Sprintf("cannot read the file: %v (create it, or pass --config)", err)}}
	}
	return Parse(path, raw)
}

// Parse decodes and validates config bytes; path selects the format and is
// the default target_dir's parent.
func Parse(path string, raw []byte) (Config, error) {
	m, err := decodeMap(path, raw)
	if err != nil {
		return Config{}, &Error{Path: path, Problems: []string{err.Error()}}
	}
	c := Default()
	// Absolute from the start: the config file is protected from updates by
	// comparing it with target_dir, which is absolute too.
	c.Path = path
	if abs, err := filepath.Abs(path); err == nil {
		c.Path = abs
	}
	known := jsonKeys(reflect.TypeOf(c))
	var problems []string
	// The original's documented nested form {"update_scheduling": {...}}
	// means the same as the flat keys.
	warns, err := schedule.Flatten(m)
	c.Warnings = append(c.Warnings, warns...)
	if err != nil {
		problems = append(problems, err.Error())
	}
	clean := map[string]any{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case strings.HasPrefix(k, "_"): // the original's "_key_comment" siblings
		case known[k]:
			clean[k] = v
		case seedOnly[k]:
			c.Warnings = append(c.Warnings, fmt.Sprintf("key %q is a MicroPython-only setting and is ignored here", k))
		case k == "reset_mode":
			// The original rebooted the board after every update by default.
			c.Warnings = append(c.Warnings, `key "reset_mode" is ignored: set restart_command instead `+
				`(for example "systemctl restart myapp", or "systemctl reboot" for the original's hard reset)`)
		default:
			c.Warnings = append(c.Warnings, fmt.Sprintf("unknown key %q is ignored (check its spelling against the README)", k))
		}
	}
	// Null means "use the default" for every key.
	for k, v := range clean {
		if v == nil {
			delete(clean, k)
		}
	}
	buf, err := json.Marshal(clean)
	if err != nil {
		return Config{}, &Error{Path: path, Problems: []string{err.Error()}}
	}
	// Decode key by key so that every type problem is reported, not just the first.
	for _, k := range sortedKeys(clean) {
		one, _ := json.Marshal(map[string]any{k: clean[k]})
		if err := json.Unmarshal(one, &c); err != nil {
			problems = append(problems, typeProblem(k, clean[k], err))
		}
	}
	_ = buf
	// Signed metadata lists every delta it offers, so trying one costs
	// nothing when there is none: on by default for signed sources.
	if _, set := clean["enable_delta_updates"]; !set && (c.Source == "http" || c.Source == "dir" || len(c.TrustedKeys) > 0) {
		c.EnableDeltaUpdates = true
	}
	if c.TargetDir == "" {
		c.TargetDir = filepath.Dir(path)
	} else if !filepath.IsAbs(c.TargetDir) {
		c.TargetDir = filepath.Join(filepath.Dir(path), c.TargetDir)
	}
	if abs, err := filepath.Abs(c.TargetDir); err == nil {
		c.TargetDir = abs
	}
	if c.RepoPath != "" && !filepath.IsAbs(c.RepoPath) {
		c.RepoPath = filepath.Join(filepath.Dir(path), c.RepoPath)
	}
	if c.Token == "" {
		if t := os.Getenv("OTA_TOKEN"); t != "" {
			c.Token = Secret(t)
		} else {
			c.Token = Secret(os.Getenv("GITHUB_TOKEN"))
		}
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return c, &Error{Path: path, Problems: problems}
	}
	return c, nil
}

func typeProblem(key string, v any, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("key %q: expected %s, got %s (%v)", key, kindName(te.Type), jsonKind(v), short(v))
	}
	return fmt.Sprintf("key %q: %v", key, err)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of " + kindName(t.Elem()) + "s"
	}
	return t.String()
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int, int64, uint64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}

var (
	hexRe   = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	placeRe = map[string]bool{"YOUR_GITHUB_USERNAME": true, "YOUR_REPO_NAME": true}
)

func (c *Config) validate() []string {
	var p []string
	bad := func(key, format string, a ...any) {
		p = append(p, fmt.Sprintf("key %q: ", key)+fmt.Sprintf(format, a...))
	}
	switch c.Source {
	case "github":
		for key, v := range map[string]string{"owner": c.Owner, "repo": c.Repo} {
			if s := strings.TrimSpace(v); s == "" || placeRe[strings.ToUpper(s)] {
				bad(key, "required for source \"github\": set it to the repository's %s (not a placeholder)", key)
			}
		}
		for _, k := range c.TrustedKeys {
			if _, err := repo.ParsePublicKey(k); err != nil {
				bad("trusted_keys", "%v", err)
			}
		}
	case "http", "dir":
		if c.Source == "http" && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
			bad("url", "required for source \"http\": the http(s):// URL of the folder holding latest.json, got %q", c.URL)
		}
		if c.Source == "dir" && strings.TrimSpace(c.RepoPath) == "" {
			bad("path", "required for source \"dir\": the folder holding latest.json")
		}
		if len(c.TrustedKeys) == 0 {
			bad("trusted_keys", "required for source %q: list the repository's root public key(s) (root.pub, \"ed25519:...\")", c.Source)
		}
		for _, k := range c.TrustedKeys {
			if _, err := repo.ParsePublicKey(k); err != nil {
				bad("trusted_keys", "%v", err)
			}
		}
		if c.ClockSlackSec < 0 {
			bad("clock_slack_sec", "expected zero or more seconds, got %g", c.ClockSlackSec)
		}
	default:
		bad("source", `expected "github", "http" or "dir", got %q`, c.Source)
	}
	if c.Layout != "inplace" && c.Layout != "releases" {
		bad("layout", `expected "inplace" or "releases", got %q`, c.Layout)
	}
	if c.KeepReleases < 2 {
		bad("keep_releases", "expected at least 2 (the current and the previous release), got %d", c.KeepReleases)
	}
	if c.Channel != "stable" && c.Channel != "developer" {
		bad("channel", `expected "stable" (latest release) or "developer" (branch tip), got %q`, c.Channel)
	}
	if c.Tag != "" && c.Commit != "" {
		bad("commit", "pin either a tag or a commit, not both")
	}
	if c.Commit != "" && !hexRe.MatchString(c.Commit) {
		bad("commit", "expected a full 40-hex-digit commit SHA (lower case), got %q", c.Commit)
	}
	if strings.TrimSpace(c.Branch) == "" {
		bad("branch", "must not be empty")
	}
	for key, u := range map[string]string{"api_url": c.APIURL, "raw_url": c.RawURL} {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			bad(key, "expected an http:// or https:// URL, got %q", u)
		}
	}
	if c.Chunk < 256 || c.Chunk > 1<<20 {
		bad("chunk", "expected a buffer size between 256 and 1048576 bytes, got %d", c.Chunk)
	}
	if c.HTTPRetries < 1 || c.HTTPRetries > 100 {
		bad("http_retries", "expected the total number of attempts, 1 to 100, got %d", c.HTTPRetries)
	}
	if c.BackoffSec < 0 || c.MaxBackoffSec < 0 || c.MaxBackoffSec < c.BackoffSec {
		bad("max_backoff_sec", "expected 0 <= backoff_sec <= max_backoff_sec, got %g and %g", c.BackoffSec, c.MaxBackoffSec)
	}
	if c.ConnectTimeoutSec < 0 {
		bad("connect_timeout_sec", "must not be negative")
	}
	if c.HTTPTimeoutSec <= 0 {
		bad("http_timeout_sec", "expected a positive number of seconds, got %g", c.HTTPTimeoutSec)
	}
	if c.MaxTreeSizeKB < 0 {
		bad("max_tree_size_kb", "must not be negative (0 means no limit)")
	}
	if c.MaxTreeFiles < 0 {
		bad("max_tree_files", "must not be negative (0 means no limit)")
	}
	if c.MinFreeStorage < 0 {
		bad("min_free_storage", "must not be negative")
	}
	if c.Parallel < 1 || c.Parallel > 64 {
		bad("parallel_downloads", "expected 1 to 64, got %d", c.Parallel)
	}
	for key, d := range map[string]string{"stage_dir": c.StageDir, "backup_dir": c.BackupDir, "state_dir": c.StateDir} {
		if d == "" || filepath.IsAbs(d) || strings.Contains(filepath.ToSlash(filepath.Clean(d)), "/") || d == "." || d == ".." {
			bad(key, "expected a plain folder name inside target_dir (such as %q), got %q", Default().dirByKey(key), d)
		}
	}
	if c.StageDir == c.BackupDir || c.StageDir == c.StateDir || c.BackupDir == c.StateDir {
		bad("stage_dir", "stage_dir, backup_dir and state_dir must be different folders")
	}
	if _, err := newFilterCheck(c.Allow, c.Ignore); err != nil {
		p = append(p, err.Error())
	}
	for _, d := range c.DeletePatterns {
		if strings.Trim(d, "/ ") == "" {
			bad("delete_patterns", "an empty pattern would match the whole folder; list folder prefixes such as \"lib/old\"")
		}
	}
	if err := c.Settings.WithDefaults().Validate(); err != nil {
		p = append(p, err.Error())
	}
	if fi, err := os.Stat(c.TargetDir); err != nil || !fi.IsDir() {
		bad("target_dir", "folder %s does not exist: create it or fix the path", c.TargetDir)
	}
	return p
}

func (c Config) dirByKey(k string) string {
	switch k {
	case "stage_dir":
		return c.StageDir
	case "backup_dir":
		return c.BackupDir
	}
	return c.StateDir
}

// ManagedExcluded lists the folder names inside target_dir that belong to the
// agent itself and are never part of the application tree.
func (c Config) ManagedExcluded() []string {
	return []string{c.StageDir, c.BackupDir, c.StateDir}
}

func decodeMap(path string, raw []byte) (map[string]any, error) {
	m := map[string]any{}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("invalid YAML: %v", err)
		}
		return normYAML(m).(map[string]any), nil
	case ".toml":
		if _, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(&m); err != nil {
			return nil, fmt.Errorf("invalid TOML: %v", err)
		}
	default:
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
	}
	return m, nil
}

// normYAML turns map[any]any (possible in YAML) into map[string]any.
func normYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normYAML(x)
		}
		return t
	case map[any]any:
		out := map[string]any{}
		for k, x := range t {
			out[fmt.Sprint(k)] = normYAML(x)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = normYAML(x)
		}
	}
	return v
}

func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k := range jsonKeys(f.Type) { // embedded key groups (policy.Settings)
				keys[k] = true
			}
			continue
		}
		tag := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if tag != "" && tag != "-" {
			keys[tag] = true
		}
	}
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
