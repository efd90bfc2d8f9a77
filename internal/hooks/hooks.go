// Package hooks runs the user's lifecycle commands around an update:
// pre_update (a failure aborts the update before anything changes),
// post_update (after activation, before the health check), on_rollback
// (after a revert) and restart_command (the successor of the original
// reset_mode: how the application is restarted onto the new tree; "none" or
// empty does nothing).
//
// Every command runs with /bin/sh -c in its own process group, with a
// timeout, and sees OTA_FROM_REF, OTA_FROM_COMMIT, OTA_TO_REF, OTA_TO_COMMIT
// and OTA_TARGET_DIR. The package never decides what a failure means; the
// caller does (abort, revert, record a crash).
package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/otafleet/ota/internal/runcmd"
)

// DefaultTimeout applies to each hook when none is configured.
const DefaultTimeout = 5 * time.Minute

// Kind names a hook; the value is its configuration key.
type Kind string

const (
	PreUpdate  Kind = "pre_update"
	PostUpdate Kind = "post_update"
	OnRollback Kind = "on_rollback"
	Restart    Kind = "restart_command"
)

// Versions is the transition a hook is told about.
type Versions struct {
	FromRef, FromCommit string
	ToRef, ToCommit     string
	TargetDir           string
}

// Env returns the OTA_* variables.
func (v Versions) Env() []string {
	return []string{
		"OTA_FROM_REF=" + v.FromRef, "OTA_FROM_COMMIT=" + v.FromCommit,
		"OTA_TO_REF=" + v.ToRef, "OTA_TO_COMMIT=" + v.ToCommit,
		"OTA_TARGET_DIR=" + v.TargetDir,
	}
}

// Hooks is the configured set of commands.
// ErrRefused is wrapped when pre_update exits non-zero: the update is
// refused before anything changes (exit code 8).
var ErrRefused = errors.New("pre_update hook refused the update")

// Hooks are the lifecycle commands.
type Hooks struct {
	PreUpdate, PostUpdate, OnRollback string
	RestartCommand                    string        // "none" or "" = no restart
	Timeout                           time.Duration // per command; DefaultTimeout when zero
	Logger                            *slog.Logger
	PassToken                         bool // keep OTA_TOKEN/GITHUB_TOKEN in the hooks' environment
}

func (h Hooks) command(k Kind) string {
	switch k {
	case PreUpdate:
		return h.PreUpdate
	case PostUpdate:
		return h.PostUpdate
	case OnRollback:
		return h.OnRollback
	case Restart:
		if strings.TrimSpace(h.RestartCommand) == "none" {
			return ""
		}
		return h.RestartCommand
	}
	return ""
}

// Configured reports whether hook k has a command.
func (h Hooks) Configured(k Kind) bool { return strings.TrimSpace(h.command(k)) != "" }

// Run runs hook k for the transition v; an unconfigured hook is a no-op.
// The working directory is v.TargetDir when set.
func (h Hooks) Run(ctx context.Context, k Kind, v Versions) error {
	cmd := h.command(k)
	if strings.TrimSpace(cmd) == "" {
		return nil
	}
	to := h.Timeout
	if to <= 0 {
		to = DefaultTimeout
	}
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	out, err := runcmd.Run(ctx, runcmd.Spec{Name: string(k), Command: cmd, Env: v.Env(), Dir: v.TargetDir, Timeout: to, PassToken: h.PassToken})
	log.Info("hook ran", "hook", string(k), "duration", time.Since(start).Round(time.Millisecond), "err", err, "output", lastLine(out))
	if err != nil {
		return fmt.Errorf("run %s hook: %w (fix the command in the config or remove %s)", k, err, k)
	}
	return nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// LoopDetector flags a crash loop: N failures within T (e.g. the restart or
// health command failing repeatedly while a release is on trial). It is a
// pure value over failure times; persist Times to survive restarts.
type LoopDetector struct {
	N      int
	Within time.Duration
	Times  []time.Time // failure times, oldest first, pruned to Within
}

// Fail records a failure at now and reports whether this completes a loop.
func (d *LoopDetector) Fail(now time.Time) bool {
	d.Times = append(d.Times, now)
	keep := d.Times[:0]
	for _, t := range d.Times {
		if now.Sub(t) < d.Within {
			keep = append(keep, t)
		}
	}
	d.Times = keep
	return d.N > 0 && len(d.Times) >= d.N
}

// Reset forgets failures (after a success).
func (d *LoopDetector) Reset() { d.Times = d.Times[:0] }
