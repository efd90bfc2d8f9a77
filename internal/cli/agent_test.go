package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/otafleet/ota/internal/testutil/memsource"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// TestUpdateRevertsOnFailingHealthCheck drives the CLI: a release whose
// health check fails is reverted (old tree exact), `update --json` says
// "reverted": true with exit code 6, `check --json` then holds it back, and
// `status --json` lists it as bad.
func TestUpdateRevertsOnFailingHealthCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "ota.json")
	os.WriteFile(cfg, []byte(`{"owner":"o","repo":"r","target_dir":"`+dir+`","device_id":"d1",
		"health_check":"grep -q good app.txt","health_timeout_sec":1,"health_interval_sec":1}`), 0o644)
	src := memsource.New()
	src.Publish("v1", memsource.Tree{"app.txt": {Data: "good\n"}, "lib/x": {Data: "x1\n"}, "gone": {Data: "g\n"}})
	cli := func(args ...string) (int, map[string]any) {
		var out, errb bytes.Buffer
		g := &Global{IO: &IOStreams{In: &bytes.Buffer{}, Out: &out, Err: &errb}, source: src}
		code := mainWith(context.Background(), g, append([]string{"--config", cfg, "--json"}, args...))
		m := map[string]any{}
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("%v: stdout is not one JSON document: %v\n%s\nstderr: %s", args, err, out.String(), errb.String())
		}
		return code, m
	}
	if code, m := cli("update"); code != 0 || m["updated"] != true {
		t.Fatalf("install v1: %d %v", code, m)
	}
	before, _ := treesnap.Take(dir, ".ota", ".ota_stage", ".ota_backup", "version.json", "ota_error.json")
	src.Publish("v2", memsource.Tree{"app.txt": {Data: "bad\n"}, "lib/x": {Data: "x2\n"}, "new": {Data: "n\n"}})
	code, m := cli("update")
	if code != 6 || m["reverted"] != true || m["exit_code"] != 6.0 || m["kind"] != "rejected" {
		t.Fatalf("update v2: exit %d, %v", code, m)
	}
	after, _ := treesnap.Take(dir, ".ota", ".ota_stage", ".ota_backup", "version.json", "ota_error.json")
	if d := treesnap.Diff(before, after); len(d) > 0 {
		t.Errorf("tree after revert differs: %v", d)
	}
	code, m = cli("check")
	if code != 0 || m["update_available"] != true || m["eligible"] != false || len(m["held_back"].([]any)) != 1 {
		t.Errorf("check after revert: %d %v", code, m)
	}
	code, m = cli("status")
	bad, _ := m["bad_releases"].([]any)
	if code != 0 || len(bad) != 1 || m["last_check"] == nil || m["trial"] != nil {
		t.Errorf("status: %d %v", code, m)
	}
	if code, m := cli("confirm"); code != 0 || m["confirmed"] != false {
		t.Errorf("confirm with nothing on trial: %d %v", code, m)
	}
}
