// Package runcmd runs user-configured shell commands (hooks, health checks,
// restart commands) the same way everywhere: `/bin/sh -c`, in their own
// process group, with a timeout after which the whole group is killed, with
// output captured but bounded.
//
// Invariant: when Run returns, no process it started is left running in the
// group (SIGKILL to the group on timeout or cancellation; WaitDelay bounds
// waiting for grandchildren that keep the output pipes open).
package runcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// MaxOutput is how many trailing bytes of a command's combined output are kept.
const MaxOutput = 4096

// Spec describes one command.
type Spec struct {
	Name    string   // what it is, for errors: "pre_update", "health_check"
	Command string   // shell text
	Env     []string // added to the agent's environment
	Dir     string   // working directory; "" = the agent's
	Timeout time.Duration
	// PassToken keeps the agent's credentials (TokenVars) in the command's
	// environment; by default they are removed, so a hook or health check
	// never sees the token unless the config says so.
	PassToken bool
}

// TokenVars are the environment variables holding the agent's credentials.
var TokenVars = []string{"OTA_TOKEN", "GITHUB_TOKEN"}

// environ is the agent's environment, without credentials unless kept.
func environ(passToken bool) []string {
	env := os.Environ()
	if passToken {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(TokenVars, name) {
			out = append(out, kv)
		}
	}
	return out
}

// ErrTimeout is wrapped by Run's error when the command ran out of time.
var ErrTimeout = errors.New("command timed out")

// tail keeps the last MaxOutput bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > MaxOutput {
		t.b = append(t.b[:0], t.b[len(t.b)-MaxOutput:]...)
	}
	return len(p), nil
}

// Run runs s and returns its (bounded) combined output. A non-zero exit,
// a timeout or a start failure is an error naming s.Name and quoting the end
// of the output.
func Run(ctx context.Context, s Spec) ([]byte, error) {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.Command)
	cmd.Dir = s.Dir
	cmd.Env = append(environ(s.PassToken), s.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out tail
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err == nil {
		return out.b, nil
	}
	// The shell may have exited while children of the group live on.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	detail := strings.TrimSpace(string(out.b))
	if len(detail) > 400 {
		detail = "…" + detail[len(detail)-400:]
	}
	if detail != "" {
		detail = ": " + detail
	}
	if ctx.Err() == context.DeadlineExceeded {
		return out.b, fmt.Errorf("%s %q: %w after %v%s", s.Name, s.Command, ErrTimeout, s.Timeout, detail)
	}
	return out.b, fmt.Errorf("%s %q: %w%s", s.Name, s.Command, err, detail)
}
