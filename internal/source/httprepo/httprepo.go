// Package httprepo reads a signed static update repository (see package
// repo) over HTTP(S), e.g. from nginx, S3 or a CDN.
//
//   - Resolve is one conditional GET of head.json (If-None-Match with the
//     cached ETag): a check with nothing new costs one 304. The cached body
//     is re-verified every time (expiry, rollback), and only verified bodies
//     are cached. A new head costs one more GET: the delta of the manifest
//     from the one the device holds (or the whole manifest), verified
//     against the SHA-256 in the signed head. Repositories without head.json
//     are read from latest.json (the format before heads).
//   - Open and Delta stream content-addressed objects, resume with HTTP Range,
//     refuse more bytes than the signed size, and check the SHA-256 at EOF
//     when the download started at offset 0.
//   - A delta the signed metadata does not list is source.ErrNotFound without
//     any request; one the server lacks (404) is source.ErrNotFound at once.
//
// Retries, backoff, rate-limit pacing, timeouts and body caps come from
// internal/httpx.
package httprepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// Options configures a Source.
type Options struct {
	// URL of the repository root (the folder holding latest.json).
	URL   string
	HTTP  httpx.Options // retries, backoff, timeouts (http_retries, backoff_sec, ...)
	Trust signedrepo.Trust
	Cache source.Cache // ETag cache; nil means in memory
	// Logger defaults to HTTP.Logger, then to discarding.
	Logger *slog.Logger
}

// Source is a repository over HTTP.
type Source struct {
	base  *url.URL
	http  *httpx.Client
	trust signedrepo.Trust
	cache source.Cache
	log   *slog.Logger

	mu     sync.Mutex
	packed map[string][]byte // verified pieces of the last pack, by repository path
}

var (
	_ source.Source     = (*Source)(nil)
	_ source.Prefetcher = (*Source)(nil)
)

// New checks the options and returns a Source.
func New(o Options) (*Source, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http repository url %q: want http(s)://host/path", o.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if o.Cache == nil {
		o.Cache = &MemCache{}
	}
	if o.Logger == nil {
		o.Logger = o.HTTP.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTP.Logger == nil {
		o.HTTP.Logger = o.Logger
	}
	return &Source{base: u, http: httpx.New(o.HTTP), trust: o.Trust, cache: o.Cache, log: o.Logger}, nil
}

func (s *Source) request(ctx context.Context, rel string) (*http.Request, error) {
	u := s.base.ResolveReference(&url.URL{Path: rel}).String()
	return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
}

// Resolve fetches head.json conditionally and verifies it (also when the
// answer is 304 and the body comes from the cache), then the manifest it
// names: nothing more when the device holds it, else a manifest delta from
// the one it holds, else the whole manifest. A repository without head.json
// (published before the head format) is read from latest.json.
func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	limit := s.trust.Verifier.Limits.MaxMetadataSize
	if limit <= 0 {
		limit = repo.DefaultMaxMetadataSize
	}
	res, err := s.getCached(ctx, repo.HeadPath, limit)
	if err == nil && repo.IsHeadBundle(res.Body) {
		t, err := s.trust.AcceptHead(ctx, res.Body, s.get, s.log)
		if err != nil {
			return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
		}
		res.Store() // only a verified head may answer a later 304
		return t, nil
	}
	if err != nil && !errors.Is(err, source.ErrNotFound) {
		return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
	}
	// The old format: one bundle with the whole file list.
	res, err = s.getCached(ctx, repo.LatestPath, limit)
	if err != nil {
		return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
	}
	if repo.IsHeadBundle(res.Body) {
		t, err := s.trust.AcceptHead(ctx, res.Body, s.get, s.log)
		if err != nil {
			return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
		}
		res.Store() // only a verified head may answer a later 304
		return t, nil
	}
	t, err := s.trust.Accept(res.Body)
	if err != nil {
		return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
	}
	res.Store() // only a body that verified is ever served from the cache
	if rel, err := signedrepo.Release(t); err == nil {
		if err := s.trust.KeepManifest(rel); err != nil {
			s.log.Debug("could not keep the manifest of latest.json", "err", err)
		}
	}
	return t, nil
}

func (s *Source) getCached(ctx context.Context, rel string, limit int64) (httpx.Cached, error) {
	req, err := s.request(ctx, rel)
	if err != nil {
		return httpx.Cached{}, err
	}
	return s.http.GetCached(ctx, req, s.cache, req.URL.String(), limit)
}

// get reads an immutable metadata file (manifest, manifest delta) whole.
func (s *Source) get(ctx context.Context, rel string, limit int64) ([]byte, error) {
	req, err := s.request(ctx, rel)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(ctx, req, limit)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %w: status %d", req.URL.Redacted(), source.ErrBadData, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return b, nil
}

// Tree returns the signed file list.
func (s *Source) Tree(ctx context.Context, t source.Target) ([]source.Entry, error) {
	return signedrepo.Tree(t)
}

// Open streams the object of e from offset (HTTP Range when offset > 0).
func (s *Source) Open(ctx context.Context, t source.Target, e source.Entry, offset int64) (io.ReadCloser, error) {
	if err := signedrepo.CheckEntry(t, e); err != nil {
		return nil, err
	}
	rel := repo.ObjectPath(e.SHA256)
	if b, ok := s.fromPack(rel); ok && offset == 0 {
		return signedrepo.NewReader(io.NopCloser(bytes.NewReader(b)), e.SHA256, e.Size, 0, nil, e.Path), nil
	}
	return s.fetch(ctx, rel, e.SHA256, e.Size, offset, e.Path)
}

// Delta streams the signed delta fromSHA1 → e.
func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, fromSHA1 string) (io.ReadCloser, error) {
	d, err := s.trust.FindDelta(t, e, fromSHA1)
	if err != nil {
		return nil, err
	}
	if b, ok := s.fromPack(d.Object); ok {
		return signedrepo.NewReader(io.NopCloser(bytes.NewReader(b)), d.SHA256, d.Size, 0, nil, "delta for "+e.Path), nil
	}
	return s.fetch(ctx, d.Object, d.SHA256, d.Size, 0, "delta for "+e.Path)
}

// Prefetch GETs the pack of what the fetch will read (repo.PackPath: one
// request instead of one per file) when it is at most repo.MaxPackSize,
// checks every piece against its signed size and SHA-256 and keeps them for
// Open and Delta. A missing or damaged pack changes nothing: the files are
// then fetched one by one.
func (s *Source) Prefetch(ctx context.Context, t source.Target, wants []source.Want) {
	s.mu.Lock()
	s.packed = nil
	s.mu.Unlock()
	items, err := s.trust.PackItems(t, wants)
	if err != nil || len(items) < 2 || repo.PackSize(items) > repo.MaxPackSize {
		return
	}
	body, err := s.get(ctx, repo.PackPath(items), repo.PackSize(items))
	if err == nil && int64(len(body)) != repo.PackSize(items) {
		err = fmt.Errorf("%w: %d bytes, want %d", repo.ErrHashMismatch, len(body), repo.PackSize(items))
	}
	if err != nil {
		s.log.Debug("no pack for this update; fetching files one by one", "files", len(items), "err", err)
		return
	}
	pieces := make(map[string][]byte, len(items))
	for _, it := range items {
		b := body[:it.Size]
		body = body[it.Size:]
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != it.SHA256 {
			s.log.Warn("pack does not match the signed metadata; fetching files one by one", "piece", it.Path)
			return
		}
		pieces[it.Path] = b
	}
	s.mu.Lock()
	s.packed = pieces
	s.mu.Unlock()
}

func (s *Source) fromPack(rel string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.packed[rel]
	return b, ok
}

func (s *Source) fetch(ctx context.Context, rel, sum string, size, offset int64, what string) (io.ReadCloser, error) {
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d", what, offset, size)
	}
	if offset == size && offset > 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	req, err := s.request(ctx, rel)
	if err != nil {
		return nil, err
	}
	// Content-addressed objects never change, so no If-Range is needed.
	body, start, err := s.http.GetRange(ctx, req, offset, size-offset)
	if err != nil {
		if errors.Is(err, source.ErrTooLarge) {
			err = signedrepo.Unverified(fmt.Errorf("%w: %w", repo.ErrTooLarge, err))
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if start != offset {
		body.Close()
		return nil, fmt.Errorf("%s: %w", what, source.ErrNoRange)
	}
	return signedrepo.NewReader(body, sum, size, offset, nil, what), nil
}

// MemCache is an in-memory source.Cache.
type MemCache struct {
	mu sync.Mutex
	m  map[string][2]string
}

func (c *MemCache) Get(key string) (string, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v[0], []byte(v[1]), ok
}

func (c *MemCache) Put(key, etag string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][2]string{}
	}
	c.m[key] = [2]string{etag, string(body)}
}
