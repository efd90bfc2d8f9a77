// Package source defines where updates come from. Every transport (the GitHub
// REST API, a static HTTP update repository, a local folder) implements Source,
// and every one of them must pass the same conformance suite.
//
// Invariants every implementation keeps:
//   - Resolve names one immutable commit; everything after it is fetched by that
//     commit (never by a branch name that could move mid-update).
//   - Tree returns validated, slash-separated, relative paths only.
//   - Open and Delta return raw bytes; the caller verifies them against Entry.
//   - No response body is ever read whole into memory beyond a documented limit.
package source

import (
	"context"
	"errors"
	"io"
)

// Version identifies one release of the application tree.
type Version struct {
	Ref    string `json:"ref"`    // tag, branch or published version label
	Commit string `json:"commit"` // git commit SHA (or content id for plain-folder sources)
	// Number is the monotonically increasing published version of a signed
	// repository; 0 for sources that have none (GitHub).
	Number int64 `json:"version,omitempty"`
}

// Git file modes as they appear in git trees.
const (
	ModeFile       uint32 = 0o100644
	ModeExecutable uint32 = 0o100755
	ModeSymlink    uint32 = 0o120000
)

// Entry is one file of a target tree.
type Entry struct {
	Path     string `json:"path"` // relative, slash-separated, validated
	Mode     uint32 `json:"mode"` // ModeFile, ModeExecutable or ModeSymlink
	Size     int64  `json:"size"`
	BlobSHA1 string `json:"sha1"`             // git blob SHA-1, hex; always set
	SHA256   string `json:"sha256,omitempty"` // set by signed sources
}

// Target is a resolved version plus whatever a source needs to fetch it.
type Target struct {
	Version
	// Tree, when not nil, is the complete file list already known from
	// resolution (signed metadata carries it); Tree() may then return it as is.
	Tree []Entry `json:"-"`
	// Extra carries source-specific data (e.g. a rollout policy).
	Extra map[string]any `json:"-"`
	// Deletes lists paths (files or folders) a verified publisher says to
	// remove even if ota did not install them: the "deletes" of the original
	// system's HMAC manifest. Validated, relative, slash-separated.
	Deletes []string `json:"-"`
}

// Source is one place updates come from.
type Source interface {
	// Resolve finds the target version. When nothing changed since the last
	// call it should cost one conditional request answered 304.
	Resolve(ctx context.Context) (Target, error)
	// Tree lists every file of the target.
	Tree(ctx context.Context, t Target) ([]Entry, error)
	// Open streams the content of e from byte offset (HTTP Range where the
	// transport allows it; an implementation that cannot resume returns
	// ErrNoRange when offset > 0).
	Open(ctx context.Context, t Target, e Entry, offset int64) (io.ReadCloser, error)
	// Delta streams a patch that turns the blob fromSHA1 into e, or returns an
	// error wrapping ErrNotFound when there is none.
	Delta(ctx context.Context, t Target, e Entry, fromSHA1 string) (io.ReadCloser, error)
}

// Incremental is implemented by sources that list a target's tree at a cost
// that follows the change when they know what is installed (the GitHub
// source walks only the folders whose git tree SHA differs). installed is
// the managed files of the installed version; TreeSince returns the same
// list Tree would.
type Incremental interface {
	TreeSince(ctx context.Context, t Target, installed []Entry) ([]Entry, error)
}

// TreeSince lists t's files through src's Incremental implementation when
// it has one and installed is not empty, else through Tree.
func TreeSince(ctx context.Context, src Source, t Target, installed func() []Entry) ([]Entry, error) {
	if inc, ok := src.(Incremental); ok {
		if base := installed(); len(base) > 0 {
			return inc.TreeSince(ctx, t, base)
		}
	}
	return src.Tree(ctx, t)
}

// Archiver is implemented by sources that can stream every file of a target
// in one response (GitHub's commit tarball). The fetch step uses it when
// most of the tree is needed; every file is still verified against its
// Entry, and files the archive lacks or carries with other content are
// fetched one by one with Open.
type Archiver interface {
	// Archive calls fn for each regular file of t's archive, in archive
	// order, with its path (relative, slash-separated, as in Tree), its
	// declared size and its content, which fn reads before returning. At
	// most limit uncompressed bytes are read. An error from fn is returned
	// as is; an archive the source cannot offer wraps ErrNotFound.
	Archive(ctx context.Context, t Target, limit int64, fn func(path string, size int64, r io.Reader) error) error
}

// Cache persists conditional-request validators (ETags) and the small bodies
// they validate, so a check survives restarts and still costs one 304.
type Cache interface {
	Get(key string) (etag string, body []byte, ok bool)
	Put(key, etag string, body []byte)
}

// Errors that callers test with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrNoRange    = errors.New("server does not support resuming (HTTP Range)")
	ErrRateLimit  = errors.New("rate limited")
	ErrAuth       = errors.New("authentication failed")
	ErrServer     = errors.New("server error")
	ErrTransfer   = errors.New("transfer interrupted")
	ErrTooLarge   = errors.New("response exceeds configured limit")
	ErrBadData    = errors.New("invalid data from server")
	ErrTruncated  = errors.New("tree truncated")
	ErrUnverified = errors.New("verification failed")
)

// Want is one file a fetch needs: its target entry and, when a delta from
// the installed content may be used, that content's git blob SHA-1.
type Want struct {
	Entry    Entry
	FromSHA1 string
}

// Prefetcher is implemented by sources that can bring many files' bytes in
// one request before Open and Delta are called for them (a pack of the small
// files of an update). It is an optimisation only: when it cannot, Open and
// Delta fetch one file at a time as without it.
type Prefetcher interface {
	Prefetch(ctx context.Context, t Target, wants []Want)
}
