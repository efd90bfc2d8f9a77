// Package signedrepo is the transport-independent half of the signed static
// repository sources (dirrepo, httprepo): verify a bundle against the
// device's trust anchors and remember what was seen, map the release to a
// source.Target, find deltas, and verify streamed content.
//
// Every error that means "the repository served something we must not trust"
// wraps source.ErrUnverified as well as the specific repo.Err* sentinel.
package signedrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/repo"
)

// Keys of source.Target.Extra set by signed sources.
const (
	ExtraRelease = "repo.release" // *repo.Release, or one decoded on first use (read it with Release)
	ExtraRollout = "rollout"      // *repo.Rollout (absent when none)
)

// Trust is what a device needs to accept metadata.
type Trust struct {
	Verifier repo.Verifier
	// Seen stores the highest versions accepted; nil keeps them in memory
	// only (no rollback protection across restarts).
	Seen repo.SeenStore
	// DeltaFormats are the delta formats the client can apply; deltas in
	// other formats are treated as absent. nil means DefaultDeltaFormats.
	DeltaFormats []string
	// Manifests keeps the last verified manifest, the base of the next
	// manifest delta; nil keeps it in memory only.
	Manifests ManifestStore
}

// DefaultDeltaFormats are the formats of the delta package (v1 is the
// original system's, v2 the native one).
var DefaultDeltaFormats = []string{"v1", "v2"}

func (tr *Trust) formats() []string {
	if tr.DeltaFormats == nil {
		return DefaultDeltaFormats
	}
	return tr.DeltaFormats
}

// Accept verifies data, persists the new highest versions, and returns the
// target it describes.
func (tr *Trust) Accept(data []byte) (source.Target, error) {
	return tr.AcceptChecked(data, nil)
}

// AcceptChecked is Accept with an extra check of the verified release
// (for example that it names the commit the transport resolved); the
// highest versions are recorded only when check passes. An error from check
// is returned as a verification failure.
func (tr *Trust) AcceptChecked(data []byte, check func(*repo.Release) error) (source.Target, error) {
	if tr.Seen == nil {
		tr.Seen = &repo.MemSeen{}
	}
	seen, err := tr.Seen.Load()
	if err != nil {
		return source.Target{}, err
	}
	v, err := tr.Verifier.Verify(data, seen)
	if err != nil {
		return source.Target{}, Unverified(err)
	}
	if check != nil {
		if err := check(v.Release); err != nil {
			return source.Target{}, Unverified(err)
		}
	}
	if ns := v.Seen(seen); ns != seen {
		if err := tr.Seen.Save(ns); err != nil {
			return source.Target{}, fmt.Errorf("record highest version seen: %w", err)
		}
	}
	return target(v.Release), nil
}

func target(rel *repo.Release) source.Target {
	t := source.Target{
		Version: source.Version{Ref: rel.Ref, Commit: rel.Commit, Number: rel.Version},
		Tree:    Entries(rel),
		Extra:   map[string]any{ExtraRelease: rel},
	}
	if rel.Rollout != nil {
		t.Extra[ExtraRollout] = rel.Rollout
	}
	return t
}

// Unverified marks err as a verification failure.
func Unverified(err error) error {
	if errors.Is(err, source.ErrUnverified) {
		return err
	}
	return fmt.Errorf("%w: %w", source.ErrUnverified, err)
}

// Entries converts the release file list.
func Entries(rel *repo.Release) []source.Entry {
	out := make([]source.Entry, len(rel.Files))
	for i, f := range rel.Files {
		out[i] = source.Entry{Path: f.Path, Mode: f.Mode, Size: f.Size, BlobSHA1: f.SHA1, SHA256: f.SHA256}
	}
	return out
}

// lazyRelease is the release of a verified head whose manifest the device
// already holds: decoded on first use, so a check that finds the version
// installed never reads or decodes the file list.
type lazyRelease struct {
	once sync.Once
	load func() (*repo.Release, error)
	rel  *repo.Release
	err  error
}

func (l *lazyRelease) get() (*repo.Release, error) {
	l.once.Do(func() { l.rel, l.err = l.load() })
	return l.rel, l.err
}

// Release returns the verified release carried by t.
func Release(t source.Target) (*repo.Release, error) {
	var rel *repo.Release
	ok := true
	switch r := t.Extra[ExtraRelease].(type) {
	case *repo.Release:
		rel = r
	case *lazyRelease:
		var err error
		if rel, err = r.get(); err != nil {
			return nil, err
		}
	default:
		ok = false
	}
	if !ok || rel == nil || rel.Version != t.Number {
		return nil, errors.New("target was not resolved by this signed repository source")
	}
	return rel, nil
}

// Tree returns the file list of t.
func Tree(t source.Target) ([]source.Entry, error) {
	if t.Tree != nil {
		return t.Tree, nil
	}
	rel, err := Release(t)
	if err != nil {
		return nil, err
	}
	return Entries(rel), nil
}

// CheckEntry makes sure e is a file of t's signed metadata (so that Open can
// never be steered to an object the release does not list).
func CheckEntry(t source.Target, e source.Entry) error {
	rel, err := Release(t)
	if err != nil {
		return err
	}
	for _, f := range rel.Files {
		if f.Path == e.Path {
			if f.SHA256 != e.SHA256 || f.Size != e.Size {
				return Unverified(fmt.Errorf("%w: %s differs from the signed metadata", repo.ErrHashMismatch, e.Path))
			}
			return nil
		}
	}
	return fmt.Errorf("%s: %w in release %d", e.Path, source.ErrNotFound, rel.Version)
}

// FindDelta looks up a delta fromSHA1 → e in a format the client applies in
// the signed metadata; none is source.ErrNotFound, without any I/O.
func (tr *Trust) FindDelta(t source.Target, e source.Entry, fromSHA1 string) (*repo.Delta, error) {
	rel, err := Release(t)
	if err != nil {
		return nil, err
	}
	if d := repo.FindDelta(rel, fromSHA1, fileOf(e), tr.formats()); d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("delta %s → %s for %s: %w", short(fromSHA1), short(e.BlobSHA1), e.Path, source.ErrNotFound)
}

func fileOf(e source.Entry) repo.File {
	return repo.File{Path: e.Path, Size: e.Size, SHA256: e.SHA256, SHA1: e.BlobSHA1, Mode: e.Mode}
}

// PackItems lists what a fetch of wants reads (repo.PackItems): every
// entry must be a file of t's signed metadata.
func (tr *Trust) PackItems(t source.Target, wants []source.Want) ([]repo.PackItem, error) {
	rel, err := Release(t)
	if err != nil {
		return nil, err
	}
	// A map of the wanted paths (an update's few), not of the whole
	// release: one pass over the file list finds them.
	files := make(map[string]*repo.File, len(wants))
	for _, w := range wants {
		files[w.Entry.Path] = nil
	}
	for i := range rel.Files {
		if _, ok := files[rel.Files[i].Path]; ok {
			files[rel.Files[i].Path] = &rel.Files[i]
		}
	}
	pw := make([]repo.PackWant, 0, len(wants))
	for _, w := range wants {
		f := files[w.Entry.Path]
		if f == nil || f.SHA256 != w.Entry.SHA256 || f.Size != w.Entry.Size {
			return nil, Unverified(fmt.Errorf("%w: %s is not a file of release %d", repo.ErrHashMismatch, w.Entry.Path, rel.Version))
		}
		pw = append(pw, repo.PackWant{File: *f, FromSHA1: w.FromSHA1})
	}
	return repo.PackItems(rel, pw, tr.formats()), nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Reader streams at most size bytes and, when it has a hash, checks the
// SHA-256 at EOF: more bytes than size, fewer, or other bytes are errors.
type Reader struct {
	r     io.Reader
	c     io.Closer
	h     hash.Hash // nil: size check only (resumed downloads)
	n     int64
	size  int64
	want  string
	what  string
	state error
}

// NewReader wraps rc. offset bytes are already consumed; prefix, when not
// nil, has hashed them (dirrepo), else the hash cannot be checked (resumed
// HTTP download: the caller verifies the assembled file).
func NewReader(rc io.ReadCloser, sha256hex string, size, offset int64, prefix hash.Hash, what string) *Reader {
	r := &Reader{r: io.LimitReader(rc, size-offset+1), c: rc, n: offset, size: size, want: sha256hex, what: what}
	if offset == 0 {
		r.h = sha256.New()
	} else {
		r.h = prefix
	}
	return r
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.state != nil {
		return 0, r.state
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, source.ErrTooLarge) {
		r.state = Unverified(fmt.Errorf("%s: %w: %w", r.what, repo.ErrTooLarge, err))
		return 0, r.state
	}
	r.n += int64(n)
	if r.n > r.size {
		r.state = Unverified(fmt.Errorf("%s: %w: more than the %d bytes in signed metadata", r.what, repo.ErrTooLarge, r.size))
		return 0, r.state
	}
	if r.h != nil {
		r.h.Write(p[:n])
	}
	if err == io.EOF {
		switch {
		case r.n != r.size:
			r.state = Unverified(fmt.Errorf("%s: %w: got %d of %d bytes", r.what, repo.ErrHashMismatch, r.n, r.size))
		case r.h != nil && hex.EncodeToString(r.h.Sum(nil)) != r.want:
			r.state = Unverified(fmt.Errorf("%s: %w: sha256 differs from signed metadata", r.what, repo.ErrHashMismatch))
		default:
			r.state = io.EOF
		}
		if r.state != io.EOF {
			return n, r.state
		}
	}
	return n, err
}

func (r *Reader) Close() error { return r.c.Close() }
