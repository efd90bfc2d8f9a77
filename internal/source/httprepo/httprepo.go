// Package httprepo reads a signed static update repository (see package
// repo) over HTTP(S), e.g. from nginx, S3 or a CDN.
//
//   - Resolve is one conditional GET of latest.json (If-None-Match with the
//     cached ETag): a check with nothing new costs one 304. The cached body
//     is re-verified every time (expiry, rollback), and only verified bodies
//     are cached.
//   - Open and Delta stream content-addressed objects, resume with HTTP Range,
//     refuse more bytes than the signed size, and check the SHA-256 at EOF
//     when the download started at offset 0.
//   - A delta the signed metadata does not list is source.ErrNotFound without
//     any request; one the server lacks (404) is source.ErrNotFound at once.
//
// The small retry loop here stands in for internal/httpx (retry, backoff,
// rate-limit pacing) which is being written separately; switch to it once
// merged.
package httprepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// Options configures a Source.
type Options struct {
	// URL of the repository root (the folder holding latest.json).
	URL    string
	Client *http.Client // default: 30 s response-header timeout, no overall timeout
	Trust  signedrepo.Trust
	Cache  source.Cache // ETag cache; nil means in memory
	// Attempts per request for network errors, 5xx and 429; default 3.
	Attempts int
	Backoff  time.Duration // first retry delay; default 500 ms, doubled per try
	Logger   *slog.Logger
}

// Source is a repository over HTTP.
type Source struct {
	base *url.URL
	o    Options
	log  *slog.Logger
}

var _ source.Source = (*Source)(nil)

// New checks the options and returns a Source.
func New(o Options) (*Source, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http repository url %q: want http(s)://host/path", o.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 30 * time.Second,
			TLSHandshakeTimeout:   15 * time.Second,
			IdleConnTimeout:       60 * time.Second,
		}}
	}
	if o.Cache == nil {
		o.Cache = &MemCache{}
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{base: u, o: o, log: log}, nil
}

func (s *Source) url(rel string) string {
	return s.base.ResolveReference(&url.URL{Path: rel}).String()
}

// get performs a GET with retries on transport errors, 5xx and 429. The
// caller closes the body of the response it gets.
func (s *Source) get(ctx context.Context, rel string, hdr http.Header) (*http.Response, error) {
	u := s.url(rel)
	delay := s.o.Backoff
	var last error
	for i := 0; i < s.o.Attempts; i++ {
		if i > 0 {
			s.log.Debug("retrying", "url", u, "attempt", i+1, "err", last)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := s.o.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = err
			continue
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			resp.Body.Close()
			last = fmt.Errorf("GET %s: %s", u, resp.Status)
			if resp.StatusCode == http.StatusTooManyRequests {
				last = fmt.Errorf("%w: %w", source.ErrRateLimit, last)
			}
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("GET %s failed after %d attempts: %w", u, s.o.Attempts, last)
}

func statusErr(resp *http.Response) error {
	err := fmt.Errorf("GET %s: %s", resp.Request.URL, resp.Status)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", source.ErrNotFound, err)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %w", source.ErrAuth, err)
	}
	return err
}

// Resolve fetches latest.json conditionally and verifies it.
func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	key := s.url(repo.LatestPath)
	etag, cached, haveCache := s.o.Cache.Get(key)
	hdr := http.Header{}
	if haveCache && etag != "" {
		hdr.Set("If-None-Match", etag)
	}
	resp, err := s.get(ctx, repo.LatestPath, hdr)
	if err != nil {
		return source.Target{}, err
	}
	defer resp.Body.Close()
	var data []byte
	switch {
	case resp.StatusCode == http.StatusNotModified && haveCache:
		data = cached
	case resp.StatusCode == http.StatusOK:
		limit := s.o.Trust.Verifier.Limits.MaxMetadataSize
		if limit <= 0 {
			limit = repo.DefaultMaxMetadataSize
		}
		if resp.ContentLength > limit {
			return source.Target{}, fmt.Errorf("%s: %w: %d bytes, limit %d", key, source.ErrTooLarge, resp.ContentLength, limit)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return source.Target{}, fmt.Errorf("read %s: %w", key, err)
		}
		if int64(len(data)) > limit {
			return source.Target{}, fmt.Errorf("%s: %w: limit %d bytes", key, source.ErrTooLarge, limit)
		}
	default:
		return source.Target{}, statusErr(resp)
	}
	t, err := s.o.Trust.Accept(data)
	if err != nil {
		return source.Target{}, fmt.Errorf("http repository %s: %w", s.base, err)
	}
	if resp.StatusCode == http.StatusOK {
		if et := resp.Header.Get("ETag"); et != "" {
			s.o.Cache.Put(key, et, data)
		}
	}
	return t, nil
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
	return s.fetch(ctx, repo.ObjectPath(e.SHA256), e.SHA256, e.Size, offset, e.Path)
}

// Delta streams the signed delta fromSHA1 → e.
func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, fromSHA1 string) (io.ReadCloser, error) {
	d, err := s.o.Trust.FindDelta(t, e, fromSHA1)
	if err != nil {
		return nil, err
	}
	return s.fetch(ctx, d.Object, d.SHA256, d.Size, 0, "delta for "+e.Path)
}

func (s *Source) fetch(ctx context.Context, rel, sum string, size, offset int64, what string) (io.ReadCloser, error) {
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d", what, offset, size)
	}
	if offset == size && offset > 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := s.get(ctx, rel, hdr)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			resp.Body.Close()
		}
	}()
	switch {
	case offset == 0 && resp.StatusCode == http.StatusOK:
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			return nil, fmt.Errorf("%s: %w: Content-Range %q for offset %d", what, source.ErrBadData, resp.Header.Get("Content-Range"), offset)
		}
	case offset > 0 && resp.StatusCode == http.StatusOK:
		return nil, fmt.Errorf("%s: %w", what, source.ErrNoRange)
	default:
		return nil, fmt.Errorf("%s: %w", what, statusErr(resp))
	}
	if resp.ContentLength > size-offset {
		return nil, signedrepo.Unverified(fmt.Errorf("%s: %w: server sends %d bytes, signed size leaves %d",
			what, repo.ErrTooLarge, resp.ContentLength, size-offset))
	}
	ok = true
	return signedrepo.NewReader(resp.Body, sum, size, offset, nil, what), nil
}

func contentRangeStart(cr string) (int64, error) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, errors.New("no bytes unit")
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, errors.New("no range")
	}
	return strconv.ParseInt(a, 10, 64)
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
