// Package dirrepo reads a signed static update repository (see package repo)
// from a local folder, e.g. a USB stick. It verifies the metadata against the
// trusted root keys before returning a target, refuses objects larger than
// the signed size, and checks each object's SHA-256 while it is read.
package dirrepo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// Source reads a repository folder.
type Source struct {
	Root   string // repository root folder
	Trust  signedrepo.Trust
	Logger *slog.Logger // nil discards
}

// New returns a source for the repository at root.
func New(root string, trust signedrepo.Trust) *Source { return &Source{Root: root, Trust: trust} }

var _ source.Source = (*Source)(nil)

func (s *Source) path(rel string) string { return filepath.Join(s.Root, filepath.FromSlash(rel)) }

// Resolve reads and verifies head.json and the manifest it names (from a
// manifest delta when the device holds an older manifest), or latest.json
// in a repository published before the head format.
func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	limit := s.Trust.Verifier.Limits.MaxMetadataSize
	if limit <= 0 {
		limit = repo.DefaultMaxMetadataSize
	}
	data, err := s.get(ctx, repo.HeadPath, limit)
	if errors.Is(err, source.ErrNotFound) {
		data, err = s.get(ctx, repo.LatestPath, limit)
		if errors.Is(err, source.ErrNotFound) {
			return source.Target{}, fmt.Errorf("%s: %w: is the update medium mounted and published to?", s.path(repo.HeadPath), source.ErrNotFound)
		}
	}
	if err != nil {
		return source.Target{}, err
	}
	if repo.IsHeadBundle(data) {
		t, err := s.Trust.AcceptHead(ctx, data, s.get, s.Logger)
		if err != nil {
			return source.Target{}, fmt.Errorf("dir repository %s: %w", s.Root, err)
		}
		return t, nil
	}
	t, err := s.Trust.Accept(data)
	if err != nil {
		return source.Target{}, fmt.Errorf("dir repository %s: %w", s.Root, err)
	}
	if rel, err := signedrepo.Release(t); err == nil {
		_ = s.Trust.KeepManifest(rel) // only the next update's size depends on it
	}
	return t, nil
}

// get reads a metadata file whole, refusing more than limit bytes.
func (s *Source) get(ctx context.Context, rel string, limit int64) ([]byte, error) {
	f, err := os.Open(s.path(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", s.path(rel), source.ErrNotFound)
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes)", rel, source.ErrTooLarge, limit)
	}
	return data, nil
}

// Tree returns the signed file list.
func (s *Source) Tree(ctx context.Context, t source.Target) ([]source.Entry, error) {
	return signedrepo.Tree(t)
}

// Open streams the object of e from offset; the SHA-256 of the whole object
// is checked at EOF (the skipped prefix is hashed too, locally).
func (s *Source) Open(ctx context.Context, t source.Target, e source.Entry, offset int64) (io.ReadCloser, error) {
	if err := signedrepo.CheckEntry(t, e); err != nil {
		return nil, err
	}
	return s.open(repo.ObjectPath(e.SHA256), e.SHA256, e.Size, offset, e.Path)
}

func (s *Source) open(rel, sum string, size, offset int64, what string) (io.ReadCloser, error) {
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d", what, offset, size)
	}
	f, err := os.Open(s.path(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s (%s): %w", what, rel, source.ErrNotFound)
		}
		return nil, err
	}
	h := sha256.New()
	if offset > 0 {
		if _, err := io.CopyN(h, f, offset); err != nil {
			f.Close()
			return nil, signedrepo.Unverified(fmt.Errorf("%s: %w: shorter than offset %d", what, repo.ErrHashMismatch, offset))
		}
	}
	return signedrepo.NewReader(f, sum, size, offset, h, what), nil
}

// Delta streams the delta fromSHA1 → e listed in the signed metadata, checked
// against its signed size and SHA-256.
func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, fromSHA1 string) (io.ReadCloser, error) {
	d, err := s.Trust.FindDelta(t, e, fromSHA1)
	if err != nil {
		return nil, err
	}
	return s.open(d.Object, d.SHA256, d.Size, 0, "delta for "+e.Path)
}
