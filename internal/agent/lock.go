package agent

import (
	"fmt"
	"path"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/lockfile"
)

// LockFile serialises agent runs (update under trial, recovery, daemon
// apply). The core Updater takes its own lock per call; this one spans the
// whole trial (hooks, health check, revert), which happens between Updater
// calls.
const LockFile = "agent.lock"

// lock takes the agent lock without waiting; the error wraps ota.ErrBusy
// (exit code 7). The kernel releases it when the process dies.
func (a *Agent) lock() (func(), error) {
	if _, err := fsx.MkdirAll(a.FS, a.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	return lockfile.Lock(a.FS, path.Join(a.StateDir, LockFile), "agent lock (held by an update or the daemon)")
}
