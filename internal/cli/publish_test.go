package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// TestKeygenPublishUpdate drives the CLI end to end: keygen, publish a plain
// folder, and update a device folder from the repository (source "dir").
func TestKeygenPublishUpdate(t *testing.T) {
	d := t.TempDir()
	keys, src, out, dev := filepath.Join(d, "keys"), filepath.Join(d, "src"), filepath.Join(d, "repo"), filepath.Join(d, "dev")
	os.MkdirAll(filepath.Join(src, "lib"), 0o755)
	os.MkdirAll(dev, 0o755)
	os.WriteFile(filepath.Join(src, "lib", "app.py"), []byte("print('hi')\n"), 0o644)

	code, stdout, stderr := run(t, "keygen", keys, "--json")
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	var kg struct {
		TrustedKey string `json:"trusted_key"`
	}
	json.Unmarshal([]byte(stdout), &kg)

	if code, _, stderr = run(t, "publish", "--src", src, "--out", out); code != 2 {
		t.Fatalf("publish without --keys: exit %d, want 2 (%s)", code, stderr)
	}
	code, stdout, stderr = run(t, "publish", "--src", src, "--out", out, "--keys", keys, "--expires", "7d", "--rollout-percent", "10", "--rollout-ramp", "2d")
	if code != 0 || !strings.Contains(stdout, "Published version 1") {
		t.Fatalf("publish: %d %s %s", code, stdout, stderr)
	}

	cfg := filepath.Join(dev, "ota_config.json")
	b, _ := json.Marshal(map[string]any{"source": "dir", "path": out, "trusted_keys": []string{kg.TrustedKey}})
	os.WriteFile(cfg, b, 0o644)
	// The release is published at 10 % ramping over 2 days: this device
	// (device_id "dev-1", cohort ≥ 10 % for this release) is held back, and
	// --now ignores the staged rollout.
	b, _ = json.Marshal(map[string]any{"source": "dir", "path": out, "trusted_keys": []string{kg.TrustedKey}, "device_id": "dev-1"})
	os.WriteFile(cfg, b, 0o644)
	code, stdout, stderr = run(t, "--config", cfg, "check", "--json")
	var ck struct {
		Eligible bool     `json:"eligible"`
		HeldBack []string `json:"held_back"`
	}
	json.Unmarshal([]byte(stdout), &ck)
	if code != 0 || ck.Eligible || len(ck.HeldBack) != 1 || !strings.Contains(ck.HeldBack[0], "staged rollout at 10") {
		t.Fatalf("check of a 10 %% rollout: %d %+v %s", code, ck, stderr)
	}
	if code, stdout, stderr = run(t, "--config", cfg, "update"); code != 0 || !strings.Contains(stdout, "Held back: staged rollout") {
		t.Fatalf("held-back update: %d %s %s", code, stdout, stderr)
	}
	if code, stdout, stderr = run(t, "--config", cfg, "update", "--now"); code != 0 {
		t.Fatalf("update: %d %s %s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dev, "lib", "app.py")); string(got) != "print('hi')\n" {
		t.Fatalf("device file %q", got)
	}

	// A device trusting another root key refuses the repository: exit 4.
	os.MkdirAll(filepath.Join(d, "keys2"), 0o755)
	run(t, "keygen", filepath.Join(d, "keys2"))
	other, _ := os.ReadFile(filepath.Join(d, "keys2", "root.pub"))
	b, _ = json.Marshal(map[string]any{"source": "dir", "path": out, "trusted_keys": []string{strings.TrimSpace(string(other))}})
	os.WriteFile(cfg, b, 0o644)
	if code, _, stderr = run(t, "--config", cfg, "check"); code != 4 {
		t.Fatalf("untrusted repository: exit %d, want 4 (%s)", code, stderr)
	}
}
