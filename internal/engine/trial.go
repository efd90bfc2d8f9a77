package engine

import (
	"context"
	"math/rand/v2"
	"path"
	"time"

	"github.com/otafleet/ota/internal/guard"
	"github.com/otafleet/ota/internal/metrics"
	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/statedir"
	"github.com/otafleet/ota/internal/trial"
)

// store is the trial/status store; ota_error.json stays where the original
// kept it (target_dir).
func (e *Engine) store() trial.Store {
	s := e.settings.Store(e.fs, e.dirs.State)
	s.ErrorPath = path.Join(e.dirs.Target, state.ErrorFile)
	return s
}

// metrics is the exporter (its File is empty when metrics_file is unset).
func (e *Engine) metrics() *metrics.Exporter {
	return &metrics.Exporter{FS: e.fs, StatePath: path.Join(e.dirs.State, statedir.Metrics), File: e.settings.MetricsFile}
}

// guard is the trial around activation; its Revert is the engine's, under
// the lock the caller holds.
func (e *Engine) guard() guard.Guard {
	h := e.settings.Hooks()
	h.Logger = e.log
	return guard.Guard{
		Hooks:   h,
		Health:  e.settings.Health(),
		Store:   e.store(),
		Crashes: policy.CrashLog(e.fs, e.dirs.State),
		Metrics: e.metrics(),
		Revert: func(ctx context.Context, to source.Version) error {
			_, err := e.revertLocked(ctx, to)
			return err
		},
		Now:            e.now,
		ConfirmTimeout: time.Duration(e.settings.ConfirmTimeoutSec) * time.Second,
		Logger:         e.log,
	}
}

// Confirm is `ota confirm`. It does not take the lock: the application
// confirms while `ota update` waits for its health check.
func (e *Engine) Confirm() (*trial.Record, error) { return e.guard().Confirm() }

// newRand seeds jitter from the device id so a fleet spreads out even when
// every device boots at the same second.
func newRand(seed string) *rand.Rand {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(seed); i++ {
		h = (h ^ uint64(seed[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, uint64(time.Now().UnixNano())))
}
