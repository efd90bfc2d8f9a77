package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// TestFailingHealthCheckReverts: the real binary installs v1, then v2 whose
// health check fails: v2 is reverted with the v1 tree restored byte for
// byte, `update --json` says "reverted": true and exits 6, on_rollback sees
// the versions, v2 is held back afterwards, and a newer v3 installs.
func TestFailingHealthCheckReverts(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", filesV1)
	hookLog := filepath.Join(t.TempDir(), "hooks.log")
	healthLog := filepath.Join(t.TempDir(), "health.log")
	os.WriteFile(filepath.Join(e.target, "user.db"), []byte("local data"), 0o600)
	cfg := e.config(t, map[string]any{
		"channel":             "developer",
		"health_check":        `date +%s.%N >> ` + healthLog + `; ! grep -q v2 main.py`,
		"health_timeout_sec":  1,
		"health_interval_sec": 1,
		"post_update":         `echo "post $OTA_FROM_COMMIT>$OTA_TO_COMMIT" >> ` + hookLog,
		"on_rollback":         `echo "rollback $OTA_FROM_COMMIT>$OTA_TO_COMMIT" >> ` + hookLog,
		"metrics_file":        filepath.Join(e.target, ".ota", "ota.prom"),
	})
	var up struct {
		Updated, Reverted bool
		Current           struct{ Ref, Commit string }
		ExitCode          int    `json:"exit_code"`
		Kind              string `json:"kind"`
	}
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.Current.Commit != c1 {
		t.Fatalf("install v1: %+v", up)
	}
	local := treesnap.Snap{"user.db": "file:0:local data"}
	before := rawSnap(t, e.target)

	c2 := e.repo.Commit("v2", filesV2)
	r := ota(t, cfg, nil, "update", "--json")
	if r.code != 6 {
		t.Fatalf("update to a failing release: want exit 6, got %v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &up); err != nil {
		t.Fatalf("stdout must be one JSON document: %v\n%s", err, r.stdout)
	}
	if !up.Reverted || up.ExitCode != 6 || up.Kind != "rejected" || up.Current.Commit != c1 {
		t.Fatalf("update JSON: %+v", up)
	}
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("tree after revert is not v1 exactly: %v", d)
	}
	// The time from the failed health checks to the old version restored
	// is measured by BenchmarkHealthCheckRevert.
	if d := treesnap.Diff(treesnap.Merge(expect(filesV1), local), snap(t, e.target)); d != nil {
		t.Fatalf("after revert: %v", d)
	}
	hooks, _ := os.ReadFile(hookLog)
	if want := "post >" + c1 + "\npost " + c1 + ">" + c2 + "\nrollback " + c2 + ">" + c1 + "\n"; string(hooks) != want {
		t.Errorf("hooks ran:\n%s\nwant:\n%s", hooks, want)
	}

	var ck struct {
		UpdateAvailable bool `json:"update_available"`
		Eligible        bool
		HeldBack        []string `json:"held_back"`
	}
	okJSON(t, cfg, nil, &ck, "check")
	if !ck.UpdateAvailable || ck.Eligible || len(ck.HeldBack) != 1 || !strings.Contains(ck.HeldBack[0], "not retried") {
		t.Fatalf("check after revert: %+v", ck)
	}
	r = ota(t, cfg, nil, "update")
	if r.code != 0 || !strings.Contains(r.stdout, "Held back") {
		t.Fatalf("update of the bad release: %v", r)
	}
	var st struct {
		Trial       any
		BadReleases []struct{ Commit string } `json:"bad_releases"`
		LastCheck   string                    `json:"last_check"`
		LastError   string                    `json:"last_error"`
	}
	okJSON(t, cfg, nil, &st, "status")
	if st.Trial != nil || len(st.BadReleases) != 1 || st.BadReleases[0].Commit != c2 || st.LastCheck == "" {
		t.Fatalf("status: %+v", st)
	}
	prom, _ := os.ReadFile(filepath.Join(e.target, ".ota", "ota.prom"))
	if !strings.Contains(string(prom), "ota_rollbacks_total 1\n") || !strings.Contains(string(prom), `commit="`+c1+`"`) {
		t.Errorf("metrics:\n%s", prom)
	}

	files3 := map[string]gitfixture.File{}
	for k, v := range filesV2 {
		files3[k] = v
	}
	files3["main.py"] = gitfixture.File{Content: "print('v3')\n"}
	c3 := e.repo.Commit("v3", files3)
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.Reverted || up.Current.Commit != c3 {
		t.Fatalf("a newer release must install: %+v", up)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDaemon runs `ota daemon` under a fake systemd notify socket: READY,
// watchdog pings, an update on SIGUSR1, STOPPING and exit 0 on SIGTERM.
func TestDaemon(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer", "check_interval": "1h"})
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	cmd := exec.Command(bin, "--config", cfg, "daemon")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000", "OTA_TOKEN=", "GITHUB_TOKEN=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var seen []string
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for !cond() {
			select {
			case m := <-msgs:
				seen = append(seen, m)
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s; notifications %q; stderr:\n%s", what, seen, stderr.String())
			}
		}
	}
	has := func(prefix string) func() bool {
		return func() bool {
			for _, m := range seen {
				if strings.HasPrefix(m, prefix) {
					return true
				}
			}
			return false
		}
	}
	installed := func(commit string) func() bool {
		return func() bool {
			b, _ := os.ReadFile(filepath.Join(e.target, "version.json"))
			return strings.Contains(string(b), commit)
		}
	}
	waitFor("READY=1", has("READY=1"))
	waitFor("first check installs v1", installed(c1))
	waitFor("a watchdog ping", has("WATCHDOG=1"))
	c2 := e.repo.Commit("v2", filesV2)
	cmd.Process.Signal(syscall.SIGUSR1)
	waitFor("SIGUSR1 installs v2", installed(c2))
	if r := ota(t, cfg, nil, "update"); r.code != 7 {
		t.Errorf("manual update while the daemon runs: want exit 7 (busy), got %v", r)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	waitFor("STOPPING=1", has("STOPPING=1"))
	if d := treesnap.Diff(expect(filesV2), snap(t, e.target)); d != nil {
		t.Errorf("after daemon update: %v", d)
	}
}

// TestDaemonRecoversFirst: `ota daemon` finishes or undoes an update a power
// cut interrupted as soon as it starts, before its first check is due (here
// an hour away), so the application never runs on a mixed tree for long.
func TestDaemonRecoversFirst(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer", "check_interval": "1h"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if r := ota(t, cfg, nil, "check"); r.code != 0 { // the next check is an hour away
		t.Fatal(r)
	}
	clean := snap(t, e.target)
	// The state a power cut leaves mid-apply: the journal, main.py replaced
	// (its old bytes in the backup), a new file installed, version.json old.
	journal := fmt.Sprintf(`{"format":1,"from":{"ref":"main","commit":%q},"to":{"ref":"main","commit":"%040d"},`+
		`"ops":[{"kind":"put","path":"main.py","had_old":true},{"kind":"put","path":"half.txt"}],"index":{"files":{}},"prev":{"files":{}}}`, c1, 2)
	os.MkdirAll(filepath.Join(e.target, ".ota_backup"), 0o755)
	if err := os.Rename(filepath.Join(e.target, "main.py"), filepath.Join(e.target, ".ota_backup", "main.py")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.target, "main.py"), []byte("print('v2')\n"), 0o644)
	os.WriteFile(filepath.Join(e.target, "half.txt"), []byte("new\n"), 0o644)
	os.WriteFile(filepath.Join(e.target, ".ota", "journal.json"), []byte(journal), 0o644)
	var st struct{ Pending bool }
	okJSON(t, cfg, nil, &st, "status")
	if !st.Pending {
		t.Fatal("status does not report the interrupted update")
	}

	e.gh.ResetRequests()
	cmd := exec.Command(bin, "--config", cfg, "daemon")
	cmd.Env = append(os.Environ(), "OTA_TOKEN=", "GITHUB_TOKEN=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(15 * time.Second)
	for treesnap.Diff(clean, snap(t, e.target)) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not recover at start: %v\nstderr:\n%s", treesnap.Diff(clean, snap(t, e.target)), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(e.target, ".ota", "journal.json")); err == nil {
		t.Error("journal left after recovery")
	}
	if n := len(e.gh.Requests()); n != 0 {
		t.Errorf("the daemon made %d requests: recovery must not wait for a check", n)
	}
}
