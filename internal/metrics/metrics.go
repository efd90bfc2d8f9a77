// Package metrics exports the agent's counters and gauges in the Prometheus
// text exposition format to a file for node_exporter's textfile collector
// (metrics_file, e.g. /var/lib/node_exporter/textfile_collector/ota.prom).
//
// Invariants:
//   - The .prom file is replaced atomically (tmp, fsync, rename, fsync dir),
//     so the collector never reads half a file. The tmp name ends in ".tmp",
//     which the collector ignores (it reads *.prom only).
//   - Counters survive restarts and one-shot runs (`ota update` from a
//     timer): the snapshot is persisted as JSON in the state directory and
//     every Update is load → change → save → render.
package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/otafleet/ota/internal/fsx"
)

// Snapshot is everything exported.
type Snapshot struct {
	LastCheck     time.Time `json:"last_check,omitzero"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	Ref           string    `json:"ref,omitempty"`
	Commit        string    `json:"commit,omitempty"`
	CheckFailures uint64    `json:"check_failures_total"`
	Updates       uint64    `json:"updates_total"`
	Rollbacks     uint64    `json:"rollbacks_total"`
	TrialPending  bool      `json:"trial_pending"`
}

// Exporter owns the persisted snapshot and the .prom file.
type Exporter struct {
	FS        fsx.FS
	StatePath string // JSON snapshot in the state directory
	File      string // metrics_file; "" disables rendering (the snapshot is still kept)
}

// Load returns the persisted snapshot (zero when missing or corrupt).
func (e Exporter) Load() Snapshot {
	var s Snapshot
	b, err := fsx.ReadFile(e.FS, e.StatePath)
	if err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

// Update applies change to the persisted snapshot, saves it and rewrites the
// .prom file.
func (e Exporter) Update(change func(*Snapshot)) error {
	s := e.Load()
	change(&s)
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := fsx.WriteFileAtomic(e.FS, e.StatePath, b, 0o644); err != nil {
		return fmt.Errorf("save metrics state %s: %w", e.StatePath, err)
	}
	if e.File == "" {
		return nil
	}
	if err := fsx.WriteFileAtomic(e.FS, e.File, []byte(Render(s)), 0o644); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write metrics_file %s: %w (create its directory or fix metrics_file)", e.File, err)
		}
		return fmt.Errorf("write metrics_file %s: %w", e.File, err)
	}
	return nil
}

// Render formats s in the Prometheus text format, metrics sorted by name.
func Render(s Snapshot) string {
	type m struct{ name, help, typ, labels, value string }
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000)
	}
	b2f := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	ms := []m{
		{"ota_last_check_timestamp_seconds", "Unix time of the last update check.", "gauge", "", ts(s.LastCheck)},
		{"ota_last_success_timestamp_seconds", "Unix time of the last successful update check.", "gauge", "", ts(s.LastSuccess)},
		{"ota_current_version_info", "Installed release; the value is always 1.", "gauge",
			fmt.Sprintf(`{ref="%s",commit="%s"}`, escape(s.Ref), escape(s.Commit)), "1"},
		{"ota_check_failures_total", "Update checks that failed.", "counter", "", fmt.Sprint(s.CheckFailures)},
		{"ota_updates_total", "Updates applied and kept.", "counter", "", fmt.Sprint(s.Updates)},
		{"ota_rollbacks_total", "Updates reverted (failed health check, trial deadline, crash loop).", "counter", "", fmt.Sprint(s.Rollbacks)},
		{"ota_trial_pending", "1 while a release is on trial and not yet confirmed.", "gauge", "", b2f(s.TrialPending)},
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var sb strings.Builder
	for _, x := range ms {
		fmt.Fprintf(&sb, "# HELP %s %s\n# TYPE %s %s\n%s%s %s\n", x.name, x.help, x.name, x.typ, x.name, x.labels, x.value)
	}
	return sb.String()
}

// escape escapes a label value: backslash, double quote and newline.
func escape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
