// Package e2e drives the real ota binary end to end: real git repositories
// served by a GitHub-compatible test server (and, for the signed repository,
// by a real nginx), with config files written as a user would.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

var bin string // path of the ota binary under test

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ota-e2e-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "ota")
	build := exec.Command("go", "build", "-o", bin, "../cmd/ota")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ota: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// ota runs the binary with the config and arguments; env adds variables.
func ota(t testing.TB, cfg string, env []string, args ...string) result {
	t.Helper()
	return otaIn(t, "", env, append([]string{"--config", cfg}, args...)...)
}

// otaIn runs the binary in dir ("" = the test's) with the arguments as
// given, with no token in its environment unless env adds one.
func otaIn(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(append(os.Environ(), "OTA_TOKEN=", "GITHUB_TOKEN="), env...)
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run ota: %v", err)
	}
	return r
}

// okJSON runs ota with --json, requires exit 0 and decodes stdout.
func okJSON(t testing.TB, cfg string, env []string, v any, args ...string) {
	t.Helper()
	r := ota(t, cfg, env, append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("ota %v: %v", args, r)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("ota %v: bad JSON %v: %s", args, err, r.stdout)
	}
}

// writeConfig writes a config file into dir and returns its path.
func writeConfig(t testing.TB, dir, name string, kv map[string]any) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var b []byte
	switch filepath.Ext(name) {
	case ".toml":
		var sb strings.Builder
		for k, v := range kv {
			j, _ := json.Marshal(v)
			fmt.Fprintf(&sb, "%s = %s\n", k, j)
		}
		b = []byte(sb.String())
	default:
		b, _ = json.MarshalIndent(kv, "", "  ")
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// expect describes how a git snapshot looks once installed.
func expect(files map[string]gitfixture.File) treesnap.Snap {
	s := treesnap.Snap{}
	for p, f := range files {
		switch {
		case f.Symlink != "":
			s[p] = "link:" + f.Symlink
		case f.Executable:
			s[p] = "file:111:" + f.Content
		default:
			s[p] = "file:0:" + f.Content
		}
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			s[filepath.ToSlash(d)] = "dir"
		}
	}
	return s
}

var agentFiles = []string{".ota", ".ota_stage", ".ota_backup", "version.json", "ota_error.json", "ota_config.json", "ota.toml", "ota.yaml"}

func snap(t testing.TB, dir string) treesnap.Snap {
	t.Helper()
	s, err := treesnap.Take(dir, agentFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawSnap captures everything including ota's own version.json, for
// byte-for-byte "unchanged" assertions.
func rawSnap(t testing.TB, dir string) treesnap.Snap {
	t.Helper()
	s, err := treesnap.Take(dir, ".ota", ".ota_stage", ".ota_backup", "ota_error.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
