package runcmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	out, err := Run(ctx, Spec{Name: "t", Command: `echo "$FOO"`, Env: []string{"FOO=bar"}})
	if err != nil || strings.TrimSpace(string(out)) != "bar" {
		t.Errorf("env: %q %v", out, err)
	}
	_, err = Run(ctx, Spec{Name: "hook", Command: "echo nope >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "hook") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("failure: %v", err)
	}
	out, _ = Run(ctx, Spec{Name: "big", Command: "head -c 100000 /dev/zero"})
	if len(out) != MaxOutput {
		t.Errorf("output not bounded: %d", len(out))
	}
}

func TestTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "survived")
	start := time.Now()
	// The background child would write the marker after 0.3 s if it survived.
	_, err := Run(context.Background(), Spec{Name: "slow", Timeout: 100 * time.Millisecond,
		Command: "(sleep 0.3; touch " + marker + ") & sleep 10"})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v", el)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("a child of the timed-out command survived the group kill")
	}
}

func TestTokenIsNotPassedUnlessAsked(t *testing.T) {
	t.Setenv("OTA_TOKEN", "secret-ota")
	t.Setenv("GITHUB_TOKEN", "secret-gh")
	out, err := Run(context.Background(), Spec{Name: "hook", Command: `echo "[$OTA_TOKEN][$GITHUB_TOKEN][$HOME]"`})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") || !strings.Contains(string(out), "[][]") {
		t.Fatalf("token leaked to a hook: %s", out)
	}
	out, err = Run(context.Background(), Spec{Name: "hook", Command: `echo "[$OTA_TOKEN]"`, PassToken: true})
	if err != nil || !strings.Contains(string(out), "[secret-ota]") {
		t.Fatalf("pass_token_to_hooks: %s %v", out, err)
	}
}
