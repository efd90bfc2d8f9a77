// Package previous is the source `ota rollback` reads in the in-place layout:
// the version before the installed one, listed in state_dir/previous.json,
// with the files the last update displaced kept in state_dir/objects. Files
// the two versions share are already in place and are never read.
package previous

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// ErrNone means no previous version is kept.
var ErrNone = errors.New("no previous version is kept (rollback is possible after an update made by this ota)")

// Source serves the previous version from the object store.
type Source struct {
	fs       fsx.FS
	objects  string
	stateDir string
	version  source.Version
}

// New reads the previous version from stateDir. The file list is read again
// by Tree, so it is not held for the whole rollback.
func New(fsys fsx.FS, stateDir, objects string) (*Source, error) {
	idx := state.ReadPrevious(fsys, stateDir)
	if idx == nil {
		return nil, ErrNone
	}
	return &Source{fs: fsys, objects: objects, stateDir: stateDir, version: *idx.Version}, nil
}

// Version is the previous version.
func (s *Source) Version() source.Version { return s.version }

func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	return source.Target{Version: s.version}, nil
}

func (s *Source) Tree(ctx context.Context, t source.Target) ([]source.Entry, error) {
	idx := state.ReadPrevious(s.fs, s.stateDir)
	if idx == nil || *idx.Version != s.version {
		return nil, ErrNone
	}
	out := make([]source.Entry, 0, len(idx.Files))
	for _, f := range idx.Files { // sorted by path
		out = append(out, source.Entry{Path: f.Path, Mode: f.Mode, Size: f.Size, BlobSHA1: f.SHA1})
	}
	return out, nil
}

func (s *Source) Open(ctx context.Context, t source.Target, e source.Entry, off int64) (io.ReadCloser, error) {
	p := path.Join(s.objects, e.BlobSHA1)
	fi, err := s.fs.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rollback: the previous content of %s is not kept (it was changed outside ota): %w", e.Path, source.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := s.fs.Readlink(p)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader([]byte(t)[min(off, int64(len(t))):])), nil
	}
	f, err := s.fs.Open(p)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, from string) (io.ReadCloser, error) {
	return nil, source.ErrNotFound
}
