// Package health decides whether a freshly activated release is healthy.
//
// health_check is either a shell command (run with /bin/sh -c, environment
// OTA_TARGET_DIR, OTA_FROM_COMMIT, OTA_TO_COMMIT, killed with its process
// group on timeout) that must exit 0, or an http:// / https:// URL that must
// answer 2xx. Wait retries the check every Interval until it passes or
// health_timeout_sec runs out; it returns nil only after a passing attempt.
//
// Invariant: Wait never reports healthy by default. An empty check is the
// caller's business (no health check configured means "confirm on apply").
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/otafleet/ota/internal/runcmd"
)

// Defaults.
const (
	DefaultTimeout  = 60 * time.Second
	DefaultInterval = 2 * time.Second
	maxAttemptTime  = 10 * time.Second
)

// ErrUnhealthy is wrapped by Wait's error when the release never passed.
var ErrUnhealthy = errors.New("health check failed")

// Checker runs one configured health check.
type Checker struct {
	Check    string        // health_check: shell command or URL
	Timeout  time.Duration // health_timeout_sec: total time allowed
	Interval time.Duration // pause between attempts
	// TargetDir, FromCommit, ToCommit are exported to the command's environment.
	TargetDir, FromCommit, ToCommit string
	Client                          *http.Client // nil: a client with per-attempt timeouts
	Logger                          *slog.Logger
	PassToken                       bool // keep OTA_TOKEN/GITHUB_TOKEN in the command's environment
}

// IsURL reports whether check is an HTTP(S) probe rather than a command.
func IsURL(check string) bool {
	return strings.HasPrefix(check, "http://") || strings.HasPrefix(check, "https://")
}

func (c Checker) attemptTimeout() time.Duration {
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return min(t, maxAttemptTime)
}

// Once runs the check a single time.
func (c Checker) Once(ctx context.Context) error {
	if strings.TrimSpace(c.Check) == "" {
		return fmt.Errorf("%w: no health_check configured", ErrUnhealthy)
	}
	if IsURL(c.Check) {
		return c.probe(ctx)
	}
	_, err := runcmd.Run(ctx, runcmd.Spec{
		Name: "health_check", Command: c.Check, Dir: c.TargetDir, Timeout: c.attemptTimeout(), PassToken: c.PassToken,
		Env: []string{"OTA_TARGET_DIR=" + c.TargetDir, "OTA_FROM_COMMIT=" + c.FromCommit, "OTA_TO_COMMIT=" + c.ToCommit},
	})
	return err
}

func (c Checker) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Check, nil)
	if err != nil {
		return fmt.Errorf("health_check URL %q: %w", c.Check, err)
	}
	req.Header.Set("User-Agent", "ota-health")
	cl := c.Client
	if cl == nil {
		cl = &http.Client{}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("health_check GET %s: %w", c.Check, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("health_check GET %s: HTTP %s: %s", c.Check, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Wait retries the check until it passes (nil) or the timeout runs out (an
// error wrapping ErrUnhealthy and the last attempt's error). attempts is the
// number of attempts made.
func (c Checker) Wait(ctx context.Context) (attempts int, err error) {
	total := c.Timeout
	if total <= 0 {
		total = DefaultTimeout
	}
	iv := c.Interval
	if iv <= 0 {
		iv = DefaultInterval
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	var last error
	for {
		attempts++
		last = c.Once(ctx)
		if last == nil {
			log.Info("health check passed", "attempts", attempts)
			return attempts, nil
		}
		log.Warn("health check attempt failed", "attempt", attempts, "err", last)
		// No attempt can start after the deadline: when the next one would,
		// give up now rather than sleep until then (it speeds up the revert).
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= iv {
			return attempts, fmt.Errorf("%w after %d attempt(s) within %v (health_timeout_sec): %w", ErrUnhealthy, attempts, total, last)
		}
		t := time.NewTimer(iv)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempts, fmt.Errorf("%w after %d attempt(s) within %v (health_timeout_sec): %w", ErrUnhealthy, attempts, total, last)
		case <-t.C:
		}
	}
}
