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
	"os"
	"path/filepath"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// Source reads a repository folder.
type Source struct {
	Root  string // repository root folder
	Trust signedrepo.Trust
}

// New returns a source for the repository at root.
func New(root string, trust signedrepo.Trust) *Source { return &Source{Root: root, Trust: trust} }

var _ source.Source = (*Source)(nil)

func (s *Source) path(rel string) string { return filepath.Join(s.Root, filepath.FromSlash(rel)) }

// Resolve reads and verifies latest.json.
func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	f, err := os.Open(s.path(repo.LatestPath))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return source.Target{}, fmt.Errorf("%s: %w: is the update medium mounted and published to?", s.path(repo.LatestPath), source.ErrNotFound)
		}
		return source.Target{}, err
	}
	defer f.Close()
	limit := s.Trust.Verifier.Limits.MaxMetadataSize
	if limit <= 0 {
		limit = repo.DefaultMaxMetadataSize
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return source.Target{}, err
	}
	if int64(len(data)) > limit {
		return source.Target{}, fmt.Errorf("%s: %w (%d bytes)", repo.LatestPath, source.ErrTooLarge, limit)
	}
	t, err := s.Trust.Accept(data)
	if err != nil {
		return source.Target{}, fmt.Errorf("dir repository %s: %w", s.Root, err)
	}
	return t, nil
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
