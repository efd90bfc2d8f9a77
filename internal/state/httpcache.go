package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"path"
	"sync"

	"github.com/otafleet/ota/internal/fsx"
)

// HTTPCacheDir holds the cached bodies too large to inline in HTTPCacheFile,
// one file per body, named by the body's SHA-256.
const HTTPCacheDir = statedir.HTTPCacheDir

// inlineMax is the largest body kept inside the index file; larger bodies get
// their own file, so the index stays small (a few hundred bytes per entry)
// whatever the size of the documents it validates (a 100,000-file
// latest.json is tens of MB).
const inlineMax = 4 << 10

// HTTPCache is a source.Cache persisted in state_dir. There is no size cap:
// a cap would silently turn every no-op check of a large repository into a
// full 200.
//
// Layout: http-cache.json maps key → {etag, body (small bodies inline) or
// sha256+size}; http-cache/<sha256> holds each large body. Bodies are named
// by content, so a crash between writing a body and writing the index never
// leaves an index entry pointing at other bytes: Get re-hashes a body file
// and treats a mismatch as a miss. Save writes new body files first
// (write, fsync, rename, fsync dir), then the index, then removes body files
// no entry names any more.
type HTTPCache struct {
	mu      sync.Mutex
	fsys    fsx.FS
	file    string
	dir     string
	entries map[string]cacheEntry
	pending map[string][]byte // sha256 → body not yet written to dir
	dirty   bool
}

type cacheEntry struct {
	ETag   string `json:"etag"`
	Body   []byte `json:"body,omitempty"`   // inline (small) body
	SHA256 string `json:"sha256,omitempty"` // large body: the file http-cache/<sha256>
	Size   int64  `json:"size,omitempty"`
}

// OpenHTTPCache loads the cache index (empty when missing or corrupt). Large
// bodies are read on demand by Get.
func OpenHTTPCache(fsys fsx.FS, stateDir string) *HTTPCache {
	c := &HTTPCache{fsys: fsys, file: path.Join(stateDir, HTTPCacheFile), dir: path.Join(stateDir, HTTPCacheDir),
		entries: map[string]cacheEntry{}, pending: map[string][]byte{}}
	if b, err := fsx.ReadFile(fsys, c.file); err == nil {
		if json.Unmarshal(b, &c.entries) != nil {
			c.entries = map[string]cacheEntry{}
		}
	}
	return c
}

// Get returns the cached ETag and body for key. A large body whose file is
// missing or does not hash to what the index says is a miss.
func (c *HTTPCache) Get(key string) (string, []byte, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	var body []byte
	if ok && e.SHA256 != "" {
		body, ok = c.pending[e.SHA256]
	}
	c.mu.Unlock()
	if !ok {
		if e.SHA256 == "" {
			return "", nil, false
		}
		b, err := fsx.ReadFile(c.fsys, path.Join(c.dir, e.SHA256))
		if err != nil || int64(len(b)) != e.Size || sum(b) != e.SHA256 {
			return "", nil, false
		}
		return e.ETag, b, true
	}
	if e.SHA256 == "" {
		body = e.Body
	}
	return e.ETag, body, true
}

// Put records body under key; callers put only verified bodies (see
// httpx.Cached.Store). It is written by Save.
func (c *HTTPCache) Put(key, etag string, body []byte) {
	ne := cacheEntry{ETag: etag}
	if len(body) > inlineMax {
		ne.SHA256, ne.Size = sum(body), int64(len(body))
	} else {
		ne.Body = append([]byte(nil), body...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && e.ETag == ne.ETag && e.SHA256 == ne.SHA256 && string(e.Body) == string(ne.Body) {
		return
	}
	if ne.SHA256 != "" {
		c.pending[ne.SHA256] = body // the caller does not modify a verified body
	}
	c.entries[key] = ne
	c.dirty = true
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Save writes the cache if it changed.
func (c *HTTPCache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	if _, err := fsx.MkdirAll(c.fsys, path.Dir(c.file), 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, e := range c.entries {
		if e.SHA256 != "" {
			keep[e.SHA256] = true
		}
	}
	if len(c.pending) > 0 {
		if _, err := fsx.MkdirAll(c.fsys, c.dir, 0o755); err != nil {
			return err
		}
	}
	for h, body := range c.pending {
		if !keep[h] {
			continue
		}
		if err := fsx.WriteFileAtomic(c.fsys, path.Join(c.dir, h), body, 0o644); err != nil {
			return err
		}
	}
	b, err := json.Marshal(c.entries)
	if err != nil {
		return err
	}
	if err := fsx.WriteFileAtomic(c.fsys, c.file, b, 0o644); err != nil {
		return err
	}
	c.pending = map[string][]byte{}
	c.dirty = false
	return c.gc(keep)
}

// gc removes body files the index no longer names (and temporaries of an
// interrupted Save).
func (c *HTTPCache) gc(keep map[string]bool) error {
	ents, err := c.fsys.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := false
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := c.fsys.Remove(path.Join(c.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed = true
		}
	}
	if removed {
		return c.fsys.SyncDir(c.dir)
	}
	return nil
}
