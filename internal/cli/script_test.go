package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as the ota command inside the
// testscript scenarios (testdata/script/*.txtar).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ota": func() { os.Exit(Main(context.Background(), os.Args[1:], System())) },
	})
}

// TestScript runs the CLI's human-output scenarios end to end: the real
// command line, a signed dir repository made in the script with ota keygen
// and ota publish, and a device folder.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"subst":    cmdSubst,
		},
	})
}

// exitcode N PROG [ARGS...] runs PROG like exec and requires exit code N;
// stdout and stderr are kept for the next stdout/stderr commands.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// subst FILE WORD FROM replaces WORD in FILE with the content of the file
// FROM, trimmed (a public key into a config, say).
func cmdSubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: subst FILE WORD FROM")
	}
	file := ts.MkAbs(args[0])
	b, err := os.ReadFile(file)
	ts.Check(err)
	from, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	if !strings.Contains(string(b), args[1]) {
		ts.Fatalf("subst: %s does not contain %q", args[0], args[1])
	}
	out := strings.ReplaceAll(string(b), args[1], strings.TrimSpace(string(from)))
	ts.Check(os.WriteFile(file, []byte(out), 0o644))
}
