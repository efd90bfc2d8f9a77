package signedrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sync"

	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/repo"
)

// Getter reads one immutable metadata file of the repository (a path such as
// repo.ManifestPath), refusing more than limit bytes; a missing file is an
// error wrapping source.ErrNotFound.
type Getter func(ctx context.Context, rel string, limit int64) ([]byte, error)

// AcceptHead verifies a head bundle (head.json), obtains the manifest it
// names (a delta from the manifest the device holds when the repository has
// one, else the whole manifest), verifies it against the head's size and
// SHA-256, records the highest versions seen and the new manifest, and
// returns the target.
//
// Nothing unverified is persisted: the manifest is saved only after its
// digest matched the signed head.
func (tr *Trust) AcceptHead(ctx context.Context, data []byte, get Getter, log *slog.Logger) (source.Target, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if tr.Seen == nil {
		tr.Seen = &repo.MemSeen{}
	}
	seen, err := tr.Seen.Load()
	if err != nil {
		return source.Target{}, err
	}
	vh, err := tr.Verifier.VerifyHead(data, seen)
	if err != nil {
		return source.Target{}, Unverified(err)
	}
	if t, ok := tr.heldTarget(vh, log); ok {
		if ns := vh.Seen(seen); ns != seen {
			if err := tr.Seen.Save(ns); err != nil {
				return source.Target{}, fmt.Errorf("record highest version seen: %w", err)
			}
		}
		return t, nil
	}
	rel, man, fresh, err := tr.manifest(ctx, vh, get, log)
	if err != nil {
		return source.Target{}, err
	}
	if ns := vh.Seen(seen); ns != seen {
		if err := tr.Seen.Save(ns); err != nil {
			return source.Target{}, fmt.Errorf("record highest version seen: %w", err)
		}
	}
	if fresh {
		if err := tr.manifests().Save(man); err != nil {
			// Only the next update's size depends on it.
			log.Warn("could not keep the verified manifest; the next update fetches it whole", "err", err)
		}
	}
	return target(rel), nil
}

// heldTarget returns the target of vh without reading its file list when
// the manifest the device keeps is the one vh names (the usual check: the
// head answered 304, or names the installed version): only the kept file's
// SHA-256 is computed, streaming. The manifest is decoded, and verified
// again against vh, when the target's files are first asked for.
func (tr *Trust) heldTarget(vh *repo.VerifiedHead, log *slog.Logger) (source.Target, bool) {
	sm, ok := tr.manifests().(ManifestSummer)
	if !ok {
		return source.Target{}, false
	}
	want := vh.Head.Manifest
	sum, size, err := sm.Sum()
	if err != nil || sum != want.SHA256 || size != want.Size {
		return source.Target{}, false
	}
	h := vh.Head
	lazy := &lazyRelease{load: func() (*repo.Release, error) {
		held, err := tr.manifests().Load()
		if err != nil {
			return nil, err
		}
		if held == nil {
			return nil, fmt.Errorf("manifest of version %d: the kept manifest is gone", h.Version)
		}
		rel, err := tr.Verifier.Manifest(vh, held)
		if err != nil {
			return nil, Unverified(err)
		}
		return rel, nil
	}}
	t := source.Target{
		Version: source.Version{Ref: h.Ref, Commit: h.Commit, Number: h.Version},
		Extra:   map[string]any{ExtraRelease: lazy},
	}
	if h.Rollout != nil {
		t.Extra[ExtraRollout] = h.Rollout
	}
	log.Debug("the kept manifest is the head's; not decoded until needed", "version", h.Version)
	return t, true
}

// manifest returns the release of vh and the manifest bytes it came from;
// fresh is false when they are the ones already held.
func (tr *Trust) manifest(ctx context.Context, vh *repo.VerifiedHead, get Getter, log *slog.Logger) (*repo.Release, []byte, bool, error) {
	want := vh.Head.Manifest
	held, err := tr.manifests().Load()
	if err != nil {
		log.Warn("cannot read the kept manifest; fetching the whole manifest", "err", err)
		held = nil
	}
	if held != nil {
		heldSum := sha256Hex(held)
		if heldSum == want.SHA256 {
			if rel, err := tr.Verifier.Manifest(vh, held); err == nil {
				return rel, held, false, nil
			}
		} else {
			rel, man, err := tr.fromDelta(ctx, vh, held, heldSum, get)
			if err == nil {
				return rel, man, true, nil
			}
			if ctx.Err() != nil {
				return nil, nil, false, ctx.Err()
			}
			lvl := slog.LevelWarn
			if errors.Is(err, source.ErrNotFound) {
				lvl = slog.LevelDebug // older than the repository's manifest deltas
			}
			log.Log(ctx, lvl, "no usable manifest delta; fetching the whole manifest", "version", vh.Head.Version, "err", err)
		}
	}
	man, err := get(ctx, repo.ManifestPath(want.SHA256), want.Size)
	if err != nil {
		if errors.Is(err, source.ErrTooLarge) {
			err = Unverified(fmt.Errorf("%w: %w", repo.ErrTooLarge, err))
		}
		return nil, nil, false, fmt.Errorf("manifest of version %d: %w", vh.Head.Version, err)
	}
	rel, err := tr.Verifier.Manifest(vh, man)
	if err != nil {
		return nil, nil, false, Unverified(err)
	}
	return rel, man, true, nil
}

// fromDelta rebuilds the head's manifest from the held one and a manifest
// delta; any failure (missing, damaged, wrong result) is an error and the
// caller falls back to the whole manifest.
func (tr *Trust) fromDelta(ctx context.Context, vh *repo.VerifiedHead, held []byte, heldSum string, get Getter) (*repo.Release, []byte, error) {
	want := vh.Head.Manifest
	patch, err := get(ctx, repo.ManifestDeltaPath(heldSum, want.SHA256), max(want.Size, 1))
	if err != nil {
		return nil, nil, err
	}
	sum, _ := hex.DecodeString(want.SHA256)
	var out bytes.Buffer
	if _, err := delta.Apply(bytes.NewReader(held), int64(len(held)), bytes.NewReader(patch), &out,
		delta.ApplyOptions{MaxOutput: max(want.Size, 1), ExpectSHA256: sum}); err != nil {
		return nil, nil, Unverified(fmt.Errorf("manifest delta: %w: %w", repo.ErrHashMismatch, err))
	}
	rel, err := tr.Verifier.Manifest(vh, out.Bytes())
	if err != nil {
		return nil, nil, Unverified(err)
	}
	return rel, out.Bytes(), nil
}

// KeepManifest records the manifest of a release accepted in the old
// format (a full latest.json), so that the first check of a head can use a
// manifest delta. rel is verified; its canonical encoding is the manifest
// the publisher names in the head of the same version.
func (tr *Trust) KeepManifest(rel *repo.Release) error {
	man, err := repo.EncodeManifest(rel)
	if err != nil {
		return err
	}
	if held, err := tr.manifests().Load(); err == nil && bytes.Equal(held, man) {
		return nil // a check with nothing new writes nothing
	}
	return tr.manifests().Save(man)
}

func (tr *Trust) manifests() ManifestStore {
	if tr.Manifests == nil {
		tr.Manifests = &MemManifest{}
	}
	return tr.Manifests
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ManifestStore keeps the last verified manifest of a device.
type ManifestStore interface {
	// Load returns the manifest, or nil when there is none.
	Load() ([]byte, error)
	Save([]byte) error
}

// ManifestSummer is implemented by a ManifestStore that can tell the kept
// manifest's SHA-256 (hex) and size without holding it in memory; it
// returns "" when none is kept.
type ManifestSummer interface {
	Sum() (sha256 string, size int64, err error)
}

// MemManifest is an in-memory ManifestStore.
type MemManifest struct {
	mu sync.Mutex
	b  []byte
}

func (m *MemManifest) Load() ([]byte, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.b, nil }
func (m *MemManifest) Save(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = bytes.Clone(b)
	return nil
}

// FileManifest keeps the manifest in one file (state_dir/repo-manifest),
// replaced durably.
type FileManifest struct {
	FS   fsx.FS // nil means fsx.OS
	Path string // absolute, slash-separated
}

func (f FileManifest) fs() fsx.FS {
	if f.FS == nil {
		return fsx.OS{}
	}
	return f.FS
}

func (f FileManifest) Load() ([]byte, error) {
	b, err := fsx.ReadFile(f.fs(), f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	return b, nil
}

// Sum hashes the kept manifest as it is read, in constant memory.
func (f FileManifest) Sum() (string, int64, error) {
	r, err := f.fs().Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", f.Path, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", f.Path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func (f FileManifest) Save(b []byte) error {
	if _, err := fsx.MkdirAll(f.fs(), path.Dir(f.Path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := fsx.WriteFileAtomic(f.fs(), f.Path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return nil
}
