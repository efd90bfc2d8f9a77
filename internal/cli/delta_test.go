package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/delta"
)

func runDelta(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewDeltaCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestDeltaCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	old := bytes.Repeat([]byte("firmware block 0123456789\n"), 400)
	new := append(append([]byte(nil), old[:5000]...), append([]byte("PATCHED"), old[5000:]...)...)
	if err := os.WriteFile(p("old"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("new"), new, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"v1", "v2"} {
		t.Run(format, func(t *testing.T) {
			patch, out := p("patch."+format), p("out."+format)
			if _, err := runDelta(t, "diff", p("old"), p("new"), patch, "--format", format); err != nil {
				t.Fatalf("diff: %v", err)
			}
			if _, err := runDelta(t, "apply", p("old"), patch, out); err != nil {
				t.Fatalf("apply: %v", err)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, new) {
				t.Fatalf("apply output differs (%v)", err)
			}
			js, err := runDelta(t, "info", "--json", patch)
			if err != nil {
				t.Fatalf("info: %v", err)
			}
			var info deltaInfoJSON
			if err := json.Unmarshal([]byte(js), &info); err != nil {
				t.Fatalf("info --json output %q: %v", js, err)
			}
			if info.Format != format || info.NewSize != int64(len(new)) {
				t.Fatalf("info = %+v", info)
			}
		})
	}

	t.Run("wrong base leaves no output", func(t *testing.T) {
		other := append([]byte("x"), old[1:]...)
		if err := os.WriteFile(p("other"), other, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := runDelta(t, "apply", p("other"), p("patch.v2"), p("never"))
		if !errors.Is(err, delta.ErrWrongBase) || DeltaExitCode(err) != 4 {
			t.Fatalf("err = %v (exit %d), want ErrWrongBase and exit 4", err, DeltaExitCode(err))
		}
		if !strings.Contains(err.Error(), "different version of OLD") {
			t.Errorf("error does not say what to do: %v", err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() == "never" || strings.HasPrefix(e.Name(), ".never") {
				t.Fatalf("failed apply left %s behind", e.Name())
			}
		}
	})

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"missing argument", []string{"apply", p("old"), p("patch.v2")}, 2},
		{"bad format", []string{"diff", p("old"), p("new"), p("x"), "--format", "v9"}, 2},
		{"missing old", []string{"diff", p("nope"), p("new"), p("x")}, 5},
		{"garbage patch", []string{"apply", p("old"), p("new"), p("x")}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runDelta(t, tc.args...)
			if got := DeltaExitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
		})
	}
}
