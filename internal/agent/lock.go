package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/otafleet/ota"
)

// LockFile serialises agent runs (update under trial, recovery, daemon
// apply). The core Updater takes its own lock per call; this one spans the
// whole trial (hooks, health check, revert), which happens between Updater
// calls.
const LockFile = "agent.lock"

// lock takes the agent lock without waiting; the error wraps ota.ErrBusy
// (exit code 7). The kernel releases it when the process dies.
func (a *Agent) lock() (func(), error) {
	if err := os.MkdirAll(a.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	p := filepath.Join(a.StateDir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open agent lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (agent lock %s held by an update or the daemon): wait for it to finish", ota.ErrBusy, p)
	}
	return func() { f.Close() }, nil
}
