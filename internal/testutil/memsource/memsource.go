// Package memsource is an in-memory source.Source for tests whose subject is
// not the transport (apply, crash points, planning). Transport behaviour is
// tested against real servers elsewhere.
package memsource

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/source"
)

// File is one file of a version: content plus mode (0 means ModeFile).
type File struct {
	Data string
	Mode uint32
}

// Tree maps paths to files.
type Tree map[string]File

// Source serves versions; Current selects what Resolve returns.
type Source struct {
	mu       sync.Mutex
	versions map[string]Tree
	current  source.Version
	Opens    int
}

// New returns an empty source.
func New() *Source { return &Source{versions: map[string]Tree{}} }

// Publish adds a version under ref and makes it current; it returns its id.
func (s *Source) Publish(ref string, t Tree) source.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha1.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", k, t[k].Mode, t[k].Data)
	}
	v := source.Version{Ref: ref, Commit: hex.EncodeToString(h.Sum(nil))}
	s.versions[v.Commit] = t
	s.current = v
	return v
}

// SetCurrent selects the version Resolve returns.
func (s *Source) SetCurrent(v source.Version) { s.mu.Lock(); s.current = v; s.mu.Unlock() }

func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return source.Target{Version: s.current}, nil
}

func (s *Source) Tree(ctx context.Context, t source.Target) ([]source.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree, ok := s.versions[t.Commit]
	if !ok {
		return nil, fmt.Errorf("commit %s: %w", t.Commit, source.ErrNotFound)
	}
	var out []source.Entry
	for p, f := range tree {
		m := f.Mode
		if m == 0 {
			m = source.ModeFile
		}
		out = append(out, source.Entry{Path: p, Mode: m, Size: int64(len(f.Data)), BlobSHA1: gitobj.BlobSHA1Bytes([]byte(f.Data))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (s *Source) Open(ctx context.Context, t source.Target, e source.Entry, off int64) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Opens++
	f, ok := s.versions[t.Commit][e.Path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", e.Path, source.ErrNotFound)
	}
	if off > int64(len(f.Data)) {
		off = int64(len(f.Data))
	}
	return io.NopCloser(bytes.NewReader([]byte(f.Data[off:]))), nil
}

func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, from string) (io.ReadCloser, error) {
	return nil, source.ErrNotFound
}
