package metrics

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
)

func TestExporter(t *testing.T) {
	dir, _ := fsx.Abs(t.TempDir())
	e := Exporter{FS: fsx.OS{}, StatePath: dir + "/metrics.json", File: dir + "/ota.prom"}
	t0 := time.Unix(1767225600, 500e6)
	if err := e.Update(func(s *Snapshot) { s.LastCheck = t0; s.CheckFailures++; s.Ref = `v1"x`; s.Commit = "abc" }); err != nil {
		t.Fatal(err)
	}
	// A second exporter (a later one-shot run) continues the counters.
	e2 := Exporter{FS: fsx.OS{}, StatePath: e.StatePath, File: e.File}
	if err := e2.Update(func(s *Snapshot) { s.CheckFailures++; s.Updates++; s.LastSuccess = t0 }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.File)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"# TYPE ota_check_failures_total counter\nota_check_failures_total 2\n",
		"ota_updates_total 1\n",
		"ota_rollbacks_total 0\n",
		"ota_last_check_timestamp_seconds 1767225600.500\n",
		"ota_last_success_timestamp_seconds 1767225600.500\n",
		`ota_current_version_info{ref="v1\"x",commit="abc"} 1` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	// Every sample line is "name[{labels}] value"; every metric has HELP and TYPE.
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "# ") && len(strings.Fields(line)) != 2 {
			t.Errorf("malformed sample %q", line)
		}
	}
	if _, err := os.Stat(e.File + ".tmp"); !os.IsNotExist(err) {
		t.Error("tmp file left")
	}
	bad := Exporter{FS: fsx.OS{}, StatePath: dir + "/m2.json", File: dir + "/missing/ota.prom"}
	if err := bad.Update(func(*Snapshot) {}); err == nil || !strings.Contains(err.Error(), "metrics_file") {
		t.Errorf("missing dir: %v", err)
	}
}
