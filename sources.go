package ota

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/github"
)

// httpOptions maps the config's transfer keys onto the HTTP client.
func httpOptions(cfg config.Config, log *slog.Logger) httpx.Options {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	return httpx.Options{
		ConnectTimeout: sec(cfg.ConnectTimeoutSec),
		Timeout:        sec(cfg.HTTPTimeoutSec),
		UserAgent:      cfg.UserAgent,
		Attempts:       cfg.HTTPRetries,
		Backoff:        sec(cfg.BackoffSec),
		MaxBackoff:     sec(cfg.MaxBackoffSec),
		Logger:         log,
	}
}

// newSource builds the configured transport.
func newSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	switch cfg.Source {
	case "github":
		for _, u := range []string{cfg.APIURL, cfg.RawURL} {
			if _, err := url.Parse(u); err != nil {
				return nil, fmt.Errorf("invalid URL %q: %w", u, err)
			}
		}
		maxKB := cfg.MaxTreeSizeKB
		if maxKB == 0 {
			maxKB = -1 // 0 in the config means no limit
		}
		maxFiles := cfg.MaxTreeFiles
		if maxFiles == 0 {
			maxFiles = -1
		}
		return github.New(github.Config{
			Owner: cfg.Owner, Repo: cfg.Repo, Channel: cfg.Channel, Branch: cfg.Branch,
			Tag: cfg.Tag, Commit: cfg.Commit, Token: httpx.Secret(cfg.Token),
			APIURL: cfg.APIURL, RawURL: cfg.RawURL,
			MaxTreeSizeKB: maxKB, MaxTreeFiles: maxFiles,
			HTTP: httpOptions(cfg, log), Cache: cache, Logger: log,
		})
	}
	return nil, fmt.Errorf("%w: source %q is not available in this build", errNoSource, cfg.Source)
}

func defaultPatcher() fetch.Patcher { return nil }
