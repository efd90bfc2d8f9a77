package ota

import (
	"io"

	"fmt"
	"github.com/otafleet/ota/delta"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/dirrepo"
	"github.com/otafleet/ota/internal/source/github"
	"github.com/otafleet/ota/internal/source/httprepo"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// SeenFile (in state_dir) records the highest signed-repository versions
// accepted, so replayed older metadata is refused across restarts.
const SeenFile = "repo-seen.json"

// ManifestFile (in state_dir) is the last verified manifest of a signed
// repository: the base of the next manifest delta.
const ManifestFile = "repo-manifest"

// httpOptions maps the config's transfer keys onto the HTTP client.
func httpOptions(cfg config.Config, log *slog.Logger) httpx.Options {
	return httpx.Options{
		ConnectTimeout: seconds(cfg.ConnectTimeoutSec),
		Timeout:        seconds(cfg.HTTPTimeoutSec),
		UserAgent:      cfg.UserAgent,
		Attempts:       cfg.HTTPRetries,
		Backoff:        seconds(cfg.BackoffSec),
		MaxBackoff:     seconds(cfg.MaxBackoffSec),
		Logger:         log,
	}
}

// newSource builds the configured transport.
func newSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	switch cfg.Source {
	case "http", "dir":
		return newRepoSource(cfg, cache, log)
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
		gc := github.Config{
			Owner: cfg.Owner, Repo: cfg.Repo, Channel: cfg.Channel, Branch: cfg.Branch,
			Tag: cfg.Tag, Commit: cfg.Commit, Token: httpx.Secret(cfg.Token),
			APIURL: cfg.APIURL, RawURL: cfg.RawURL,
			MaxTreeSizeKB: maxKB, MaxTreeFiles: maxFiles,
			HTTP: httpOptions(cfg, log), Cache: cache, Logger: log,
		}
		switch {
		case len(cfg.TrustedKeys) > 0:
			trust, err := newTrust(cfg)
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
	return nil, fmt.Errorf("%w: source %q is not available in this build", errNoSource, cfg.Source)
}

// newRepoSource builds a signed static repository source (http or dir).
func newRepoSource(cfg config.Config, cache source.Cache, log *slog.Logger) (source.Source, error) {
	trust, err := newTrust(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Source == "dir" {
		s := dirrepo.New(cfg.RepoPath, trust)
		s.Logger = log
		return s, nil
	}
	return httprepo.New(httprepo.Options{
		URL: cfg.URL, Trust: trust, Cache: cache, Logger: log, HTTP: httpOptions(cfg, log),
	})
}

// newTrust is what every signed source verifies with: trusted_keys, clock
// slack, limits, and the highest versions seen in <state_dir>/repo-seen.json.
func newTrust(cfg config.Config) (signedrepo.Trust, error) {
	keys, err := repo.ParsePublicKeys(cfg.TrustedKeys)
	if err != nil {
		return signedrepo.Trust{}, &config.Error{Path: cfg.Path, Problems: []string{fmt.Sprintf("key \"trusted_keys\": %v", err)}}
	}
	state := path.Join(filepath.ToSlash(cfg.TargetDir), cfg.StateDir)
	return signedrepo.Trust{
		Verifier: repo.Verifier{
			TrustedKeys: keys,
			ClockSlack:  seconds(cfg.ClockSlackSec),
			Limits:      repo.Limits{MaxFiles: cfg.MaxTreeFiles, MaxMetadataSize: cfg.MaxTreeSizeKB << 10},
		},
		Seen:      repo.FileSeen{Path: path.Join(state, SeenFile)},
		Manifests: signedrepo.FileManifest{Path: path.Join(state, ManifestFile)},
	}, nil
}

// defaultPatcher applies v1 and v2 deltas with the delta package: patch read
// front to back, the installed file by offset, constant memory. The fetcher
// bounds the output to the entry's size and verifies its hashes.
func defaultPatcher() fetch.Patcher {
	return func(old io.ReaderAt, oldSize int64, patch io.Reader, out io.Writer) error {
		_, err := delta.Apply(old, oldSize, patch, out, delta.ApplyOptions{})
		return err
	}
}
