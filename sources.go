package ota

import (
	"fmt"
	"log/slog"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/source"
)

// newSource builds the configured transport.
func newSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	return nil, fmt.Errorf("%w: source %q is not available in this build", errNoSource, cfg.Source)
}

func defaultPatcher() fetch.Patcher { return nil }
