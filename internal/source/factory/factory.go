// Package factory builds the configured source (github, http or dir) from a
// config: the one place that maps config keys onto transports. Every limit
// key means "no limit" at 0 (config.NoLimit), for every source.
package factory

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/dirrepo"
	"github.com/otafleet/ota/internal/source/github"
	"github.com/otafleet/ota/internal/source/httprepo"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/statedir"
	"github.com/otafleet/ota/repo"
)

// ErrNoSource means the config names a source this build does not have.
var ErrNoSource = fmt.Errorf("no such source")

// New builds the source cfg configures. cache keeps ETags and verified
// bodies between runs (nil: none); log may be nil.
func New(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Source {
	case "http", "dir":
		return newRepo(cfg, cache, log)
	case "github":
		return newGitHub(cfg, cache, log)
	}
	return nil, fmt.Errorf("%w: source %q is not available in this build", ErrNoSource, cfg.Source)
}

// HTTP maps the config's transfer keys onto the HTTP client.
func HTTP(cfg config.Config, log *slog.Logger) httpx.Options {
	return httpx.Options{
		ConnectTimeout: config.Seconds(cfg.ConnectTimeoutSec),
		Timeout:        config.Seconds(cfg.HTTPTimeoutSec),
		UserAgent:      cfg.UserAgent,
		Attempts:       cfg.HTTPRetries,
		Backoff:        config.Seconds(cfg.BackoffSec),
		MaxBackoff:     config.Seconds(cfg.MaxBackoffSec),
		Logger:         log,
	}
}

func newGitHub(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	for _, u := range []string{cfg.APIURL, cfg.RawURL} {
		if _, err := url.Parse(u); err != nil {
			return nil, &config.Error{Path: cfg.Path, Problems: []string{fmt.Sprintf("invalid URL %q: %v", u, err)}}
		}
	}
	gc := github.Config{
		Owner: cfg.Owner, Repo: cfg.Repo, Channel: cfg.Channel, Branch: cfg.Branch,
		Tag: cfg.Tag, Commit: cfg.Commit, Token: cfg.Token,
		APIURL: cfg.APIURL, RawURL: cfg.RawURL,
		MaxTreeSizeKB: config.NoLimit(cfg.MaxTreeSizeKB), MaxTreeFiles: int(config.NoLimit(int64(cfg.MaxTreeFiles))),
		HTTP: HTTP(cfg, log), Cache: cache, Logger: log,
	}
	switch {
	case len(cfg.TrustedKeys) > 0:
		trust, err := Trust(cfg)
		if err != nil {
			return nil, err
		}
		gc.Trust = &trust
		if cfg.ManifestKey != "" {
			log.Warn("manifest_key is ignored: trusted_keys is set, so only a signed manifest (ota-manifest.json) is accepted")
		}
	case cfg.ManifestKey != "":
		if cfg.Tag != "" || cfg.Commit != "" || cfg.Channel != github.ChannelStable {
			log.Warn("manifest_key only applies to the stable channel's latest release (as in the original); this target is not verified by it")
		}
		gc.ManifestKey = cfg.ManifestKey
	}
	return github.New(gc)
}

// newRepo builds a signed static repository source (http or dir).
func newRepo(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	trust, err := Trust(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Source == "dir" {
		s := dirrepo.New(cfg.RepoPath, trust)
		s.Logger = log
		return s, nil
	}
	return httprepo.New(httprepo.Options{URL: cfg.URL, Trust: trust, Cache: cache, Logger: log, HTTP: HTTP(cfg, log)})
}

// Trust is what every signed source verifies with: trusted_keys, clock
// slack, limits (0: none), and the highest versions seen in
// state_dir/repo-seen.json.
func Trust(cfg config.Config) (signedrepo.Trust, error) {
	keys, err := repo.ParsePublicKeys(cfg.TrustedKeys)
	if err != nil {
		return signedrepo.Trust{}, &config.Error{Path: cfg.Path, Problems: []string{fmt.Sprintf("key \"trusted_keys\": %v", err)}}
	}
	state := path.Join(filepath.ToSlash(cfg.TargetDir), cfg.StateDir)
	return signedrepo.Trust{
		Verifier: repo.Verifier{
			TrustedKeys: keys,
			ClockSlack:  config.Seconds(cfg.ClockSlackSec),
			Limits: repo.Limits{
				MaxFiles:        int(config.NoLimit(int64(cfg.MaxTreeFiles))),
				MaxMetadataSize: config.NoLimit(cfg.MaxTreeSizeKB << 10),
			},
		},
		Seen:      repo.FileSeen{Path: path.Join(state, statedir.Seen)},
		Manifests: signedrepo.FileManifest{Path: path.Join(state, statedir.Manifest)},
	}, nil
}

// Patcher applies v1 and v2 deltas with the delta package: patch read front
// to back, the installed file by offset, constant memory. The fetcher bounds
// the output to the entry's size and verifies its hashes.
func Patcher() fetch.Patcher {
	return func(old io.ReaderAt, oldSize int64, patch io.Reader, out io.Writer) error {
		_, err := delta.Apply(old, oldSize, patch, out, delta.ApplyOptions{})
		return err
	}
}
