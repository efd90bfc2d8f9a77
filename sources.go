package ota

import (
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/dirrepo"
	"github.com/otafleet/ota/internal/source/httprepo"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// SeenFile (in state_dir) records the highest signed-repository versions
// accepted, so replayed older metadata is refused across restarts.
const SeenFile = "repo-seen.json"

// newSource builds the configured transport.
func newSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	switch cfg.Source {
	case "http", "dir":
		return newRepoSource(cfg, cache, log)
	}
	return nil, fmt.Errorf("%w: source %q is not available in this build", errNoSource, cfg.Source)
}

// newRepoSource builds a signed static repository source (http or dir).
func newRepoSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	keys, err := repo.ParsePublicKeys(cfg.TrustedKeys)
	if err != nil {
		return nil, &config.Error{Path: cfg.Path, Problems: []string{fmt.Sprintf("key \"trusted_keys\": %v", err)}}
	}
	state := path.Join(filepath.ToSlash(cfg.TargetDir), cfg.StateDir)
	trust := signedrepo.Trust{
		Verifier: repo.Verifier{
			TrustedKeys: keys,
			ClockSlack:  time.Duration(cfg.ClockSlackSec * float64(time.Second)),
			Limits:      repo.Limits{MaxFiles: cfg.MaxTreeFiles, MaxMetadataSize: cfg.MaxTreeSizeKB << 10},
		},
		Seen: repo.FileSeen{Path: path.Join(state, SeenFile)},
	}
	if cfg.Source == "dir" {
		return dirrepo.New(cfg.RepoPath, trust), nil
	}
	secs := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	return httprepo.New(httprepo.Options{
		URL: cfg.URL, Trust: trust, Cache: cache, Logger: log,
		HTTP: httpx.Options{
			ConnectTimeout: secs(cfg.ConnectTimeoutSec), Timeout: secs(cfg.HTTPTimeoutSec),
			UserAgent: cfg.UserAgent, Attempts: cfg.HTTPRetries,
			Backoff: secs(cfg.BackoffSec), MaxBackoff: secs(cfg.MaxBackoffSec), Logger: log,
		},
	})
}

func defaultPatcher() fetch.Patcher { return nil }
