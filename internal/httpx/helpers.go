package httpx

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/source"
)

// Cached is the result of GetCached.
type Cached struct {
	Body        []byte
	ETag        string
	NotModified bool // the server answered 304 and Body came from the cache

	store func()
}

// Store records a 200 body and its ETag in the cache. GetCached never stores
// by itself: the caller calls Store only once it has verified and accepted
// the body (signature, expiry, parse), so an unverified body can never be
// served from the cache on a later 304. Store does nothing for a 304 (the
// cache already holds the body), without an ETag, or without a cache.
func (c Cached) Store() {
	if c.store != nil {
		c.store()
	}
}

// GetCached performs a conditional GET. When cache holds an entry for key it
// sends If-None-Match; a 304 returns the cached body. A 200 body is read
// whole (at most limit bytes; limit >= 0 is required because the body is
// held in memory) and is not cached until the caller calls Cached.Store.
func (c *Client) GetCached(ctx context.Context, req *http.Request, cache source.Cache, key string, limit int64) (Cached, error) {
	if limit < 0 {
		return Cached{}, fmt.Errorf("httpx: GetCached needs a limit")
	}
	var (
		oldTag  string
		oldBody []byte
		have    bool
	)
	if cache != nil {
		oldTag, oldBody, have = cache.Get(key)
		if have && oldTag != "" {
			req.Header.Set("If-None-Match", oldTag)
		}
	}
	resp, err := c.Do(ctx, req, limit)
	if err != nil {
		return Cached{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		if !have {
			return Cached{}, fmt.Errorf("%s %s: %w: 304 Not Modified without a cached copy", req.Method, req.URL.Redacted(), source.ErrBadData)
		}
		return Cached{Body: oldBody, ETag: oldTag, NotModified: true}, nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Cached{}, fmt.Errorf("%s %s: reading body: %w", req.Method, req.URL.Redacted(), err)
	}
	res := Cached{Body: body, ETag: resp.Header.Get("ETag")}
	if cache != nil && res.ETag != "" {
		res.store = func() { cache.Put(key, res.ETag, body) }
	}
	return res, nil
}

// GetRange GETs req starting at byte offset. For offset > 0 it sends
// "Range: bytes=offset-" and accepts a 206 whose Content-Range starts at
// offset. start reports where the returned body begins: offset on a 206, 0
// when the server ignored the range and sent the whole body (200); the
// caller then restarts from 0 or discards. limit caps the bytes from
// offset on (limit < 0: no cap); a whole-body 200 may hold offset+limit.
func (c *Client) GetRange(ctx context.Context, req *http.Request, offset, limit int64) (body io.ReadCloser, start int64, err error) {
	if offset < 0 {
		return nil, 0, fmt.Errorf("httpx: negative offset %d", offset)
	}
	doLimit := limit
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		if limit >= 0 {
			doLimit = limit + offset // so a 200 with the whole body is recognised, not refused
		}
	}
	resp, err := c.Do(ctx, req, doLimit)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		if offset == 0 {
			// Nothing asked; a 206 for a full GET is nonsense.
			resp.Body.Close()
			return nil, 0, fmt.Errorf("GET %s: %w: unexpected 206 without a Range request", req.URL.Redacted(), source.ErrBadData)
		}
		got, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || got != offset {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("GET %s: %w: asked for bytes from %d, server sent Content-Range %q",
				req.URL.Redacted(), source.ErrBadData, offset, resp.Header.Get("Content-Range"))
		}
		if limit >= 0 {
			if resp.ContentLength > limit {
				resp.Body.Close()
				return nil, 0, fmt.Errorf("GET %s: %w", req.URL.Redacted(), &TooLargeError{Limit: limit, Size: resp.ContentLength})
			}
			return cappedCloser{NewCappedReader(resp.Body, limit), resp.Body}, offset, nil
		}
		return resp.Body, offset, nil
	}
	resp.Body.Close()
	return nil, 0, fmt.Errorf("GET %s: %w: unexpected status %d", req.URL.Redacted(), source.ErrBadData, resp.StatusCode)
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return n, err == nil && n >= 0
}

type cappedCloser struct {
	io.Reader
	io.Closer
}
