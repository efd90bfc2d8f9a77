package hooks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunHooks(t *testing.T) {
	dir := t.TempDir()
	v := Versions{FromRef: "v1", FromCommit: "aaa", ToRef: "v2", ToCommit: "bbb", TargetDir: dir}
	h := Hooks{
		PreUpdate:      `echo "$OTA_FROM_REF $OTA_FROM_COMMIT $OTA_TO_REF $OTA_TO_COMMIT $OTA_TARGET_DIR" > pre.txt`,
		PostUpdate:     "exit 4",
		RestartCommand: "none",
		Timeout:        time.Second,
	}
	ctx := context.Background()
	if err := h.Run(ctx, PreUpdate, v); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "pre.txt"))
	if want := "v1 aaa v2 bbb " + dir + "\n"; string(got) != want {
		t.Errorf("env = %q, want %q", got, want)
	}
	if err := h.Run(ctx, PostUpdate, v); err == nil || !strings.Contains(err.Error(), "post_update") {
		t.Errorf("failing post_update: %v", err)
	}
	if h.Configured(Restart) || h.Configured(OnRollback) {
		t.Error("restart_command none / empty on_rollback reported configured")
	}
	if err := h.Run(ctx, Restart, v); err != nil {
		t.Errorf("restart none: %v", err)
	}
	h.OnRollback = "sleep 5"
	h.Timeout = 50 * time.Millisecond
	if err := h.Run(ctx, OnRollback, v); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("timeout: %v", err)
	}
}

func TestLoopDetector(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		fails []time.Duration
		want  bool
	}{
		{"below N", []time.Duration{0, time.Minute}, false},
		{"N within T", []time.Duration{0, time.Minute, 2 * time.Minute}, true},
		{"spread out", []time.Duration{0, 6 * time.Minute, 12 * time.Minute}, false},
	}
	for _, tt := range tests {
		d := LoopDetector{N: 3, Within: 5 * time.Minute}
		var got bool
		for _, f := range tt.fails {
			got = d.Fail(t0.Add(f))
		}
		if got != tt.want {
			t.Errorf("%s: loop = %v, want %v", tt.name, got, tt.want)
		}
	}
}
