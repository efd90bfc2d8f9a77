package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/otafleet/ota/repo"
)

// FormatGitHubRelease lays a signed repository out as GitHub release assets.
const FormatGitHubRelease = "github-release"

// Asset names of --format github-release. Release assets cannot live in
// folders, so the repository is flattened: the signed bundle of the release
// (the bytes of latest.json) plus content-addressed objects and deltas.
const (
	// ManifestAsset is the signed bundle (repo.Bundle) of the release.
	ManifestAsset = "ota-manifest.json"
	// ObjectAssetPrefix + sha256 hex is a file's content.
	ObjectAssetPrefix = "obj-"
	// DeltaAssetPrefix + "<from-sha256>-<to-sha256>.<format>" is a delta.
	DeltaAssetPrefix = "delta-"
	// GitHubStateDir (inside --out) keeps the full signed repository the
	// assets are exported from: versions, old objects for deltas. It is not
	// uploaded (a shell glob such as OUT/* skips it).
	GitHubStateDir = ".ota-publish"
	// RepoManifestPath is where a commit may carry the signed manifest
	// instead of a release asset (any channel, e.g. a developer branch):
	// commit ota-manifest.json there on top of the published commit. The
	// publisher never lists this path in a release.
	RepoManifestPath = ".ota-manifest.json"
)

// ObjectAsset is the asset name of the object with this SHA-256.
func ObjectAsset(sha256hex string) string { return ObjectAssetPrefix + sha256hex }

// DeltaAsset is the asset name of a delta (repo.Delta.Object flattened).
func DeltaAsset(fromSHA256, toSHA256, format string) string {
	return DeltaAssetPrefix + fromSHA256 + "-" + toSHA256 + "." + format
}

// runGitHubRelease publishes into OUT/.ota-publish with the signed-repository
// code path (same signing, same version numbering) and then writes the
// release's assets flat into OUT, removing assets of earlier versions. When
// the state folder is missing but OUT holds the previous ota-manifest.json
// (for example downloaded from the previous release in CI), numbering
// continues after its version.
func runGitHubRelease(ctx context.Context, log *slog.Logger, o Options) (*Result, error) {
	state := filepath.Join(o.Out, GitHubStateDir)
	if err := os.MkdirAll(filepath.Join(state, "metadata"), 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	prev, err := lastVersion(state)
	if err != nil {
		return nil, err
	}
	if prev == 0 {
		if data, err := os.ReadFile(filepath.Join(o.Out, ManifestAsset)); err == nil {
			rel, err := repo.UnverifiedRelease(data)
			if err != nil {
				return nil, fmt.Errorf("publish: previous %s: %w", ManifestAsset, err)
			}
			if err := writeNew(state, repo.MetadataPath(rel.Version), data); err != nil {
				return nil, fmt.Errorf("publish: %w", err)
			}
			log.Info("continuing the version numbers of the previous manifest", "version", rel.Version)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	inner := o
	inner.Format = ""
	inner.Out = state
	inner.HeadOnly = false // ota-manifest.json is the bundle of latest.json
	inner.skip = o.Out
	res, err := Run(ctx, inner)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(state, repo.LatestPath))
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	rel, err := repo.UnverifiedRelease(data)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	want := map[string]string{} // asset name → path in the state repository
	for _, f := range rel.Files {
		if f.Size > 0 { // GitHub refuses empty assets; clients read empty files from raw
			want[ObjectAsset(f.SHA256)] = repo.ObjectPath(f.SHA256)
		}
	}
	for _, d := range rel.Deltas {
		want[DeltaAsset(d.FromSHA256, d.ToSHA256, d.Format)] = d.Object
	}
	ents, err := os.ReadDir(o.Out)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if (strings.HasPrefix(n, ObjectAssetPrefix) || strings.HasPrefix(n, DeltaAssetPrefix)) && want[n] == "" {
			if err := os.Remove(filepath.Join(o.Out, n)); err != nil {
				return nil, fmt.Errorf("publish: remove stale asset: %w", err)
			}
		}
	}
	for name, src := range want {
		if err := exportAsset(filepath.Join(state, filepath.FromSlash(src)), filepath.Join(o.Out, name)); err != nil {
			return nil, fmt.Errorf("publish: asset %s: %w", name, err)
		}
	}
	if err := syncDir(o.Out); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := replace(o.Out, ManifestAsset, data); err != nil { // last
		return nil, fmt.Errorf("publish: %s: %w", ManifestAsset, err)
	}
	res.Metadata = filepath.Join(o.Out, ManifestAsset)
	res.Assets = len(want) + 1
	log.Info("release assets ready", "dir", o.Out, "assets", res.Assets)
	return res, nil
}

// exportAsset hard-links (or copies) a content-addressed file; an existing
// asset of that name has the same content.
func exportAsset(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
