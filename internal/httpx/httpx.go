// Package httpx is the HTTP plumbing every HTTP source shares: timeouts, a
// User-Agent, retries (the internal/retry policy) with rate-limit
// pacing, size-capped bodies, conditional GETs and Range resumes.
//
// Invariants:
//   - Only idempotent GET/HEAD requests without a body are sent (so any
//     attempt may be repeated).
//   - 401 and 404 are never retried; they come back wrapping source.ErrAuth and
//     source.ErrNotFound. Retries happen only on network errors, 5xx, 408,
//     429 and 403 responses that carry rate-limit signals.
//   - A rate-limit wait longer than Options.MaxRateLimitWait is never slept
//     through: the call fails with a *RateLimitError (wrapping
//     source.ErrRateLimit) that names the absolute time to retry.
//   - The token is added per hop by the transport, only to Options.TokenHosts,
//     so it never follows a redirect to another host; it is never logged.
//   - A body opened with a limit fails with source.ErrTooLarge as soon as more
//     than the limit is read, whatever Content-Length claimed.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"github.com/otafleet/ota/config"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otafleet/ota/internal/retry"
	"github.com/otafleet/ota/internal/source"
)

// Defaults used when an Options field is zero.
const (
	DefaultAttempts       = 3
	DefaultBackoff        = retry.DefaultBackoff
	DefaultMaxBackoff     = retry.DefaultMaxBackoff
	DefaultTimeout        = 10 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultUserAgent      = "ota-updater"
	maxRedirects          = 10
	errorBodyLimit        = 4 << 10
)

// Secret is a credential; it is config.Secret, the one secret type (prints
// and logs as REDACTED; Reveal gives the value).
type Secret = config.Secret

// Options configures a Client. Zero values select the defaults.
type Options struct {
	// ConnectTimeout bounds TCP connect and TLS handshake (connect_timeout_sec).
	ConnectTimeout time.Duration
	// Timeout bounds the wait for response headers and the idle time between
	// two reads of a body (http_timeout_sec). It is not a cap on a whole
	// transfer, so a large download on a slow link still completes.
	Timeout   time.Duration
	UserAgent string
	// Attempts is the total number of attempts per request (http_retries).
	// Values < 1 mean one attempt: 0 never disables requests.
	Attempts int
	// Backoff is the first retry's backoff ceiling (backoff_sec); it doubles
	// per retry up to MaxBackoff (max_backoff_sec). Full jitter: the sleep is
	// uniform in [0, ceiling]. The policy is internal/retry's, as in fetch.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxRateLimitWait is the longest rate-limit wait slept through before
	// retrying; longer waits fail with *RateLimitError. Zero means MaxBackoff.
	MaxRateLimitWait time.Duration
	// Token is sent as "Authorization: Bearer <token>" to TokenHosts only.
	Token Secret
	// TokenHosts lists host[:port] values (as in URL.Host) that may see the
	// token. Matching is exact and case-insensitive.
	TokenHosts []string
	Logger     *slog.Logger
	// Sleep waits d or until ctx is done; tests inject a fake. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now returns the current time; tests inject a fake. Default: time.Now.
	Now func() time.Time
	// Jitter returns a value in [0, d]; tests inject one. Default: uniform.
	Jitter func(d time.Duration) time.Duration
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
}

// Client performs GETs with the policy described in the package comment.
// It is safe for concurrent use.
type Client struct {
	hc     *http.Client
	opts   Options
	policy retry.Policy // attempts, backoff and jitter (shared with fetch)
	log    *slog.Logger

	mu      sync.Mutex
	blocked map[string]time.Time // host → rate limit reset announced by the server
}

// New returns a Client. Options are copied.
func New(o Options) *Client {
	if o.Sleep == nil {
		o.Sleep = retry.Sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pol := retry.Policy{Attempts: o.Attempts, Backoff: o.Backoff, MaxBackoff: o.MaxBackoff, Sleep: o.Sleep, Jitter: o.Jitter}
	o.Attempts, o.Backoff, o.MaxBackoff = max(o.Attempts, 1), pol.Ceiling(1), pol.Ceiling(math.MaxInt)
	if o.MaxRateLimitWait <= 0 {
		o.MaxRateLimitWait = o.MaxBackoff
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := o.Transport
	if base == nil {
		d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
		base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   o.ConnectTimeout,
			ResponseHeaderTimeout: o.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
			ForceAttemptHTTP2:     true,
		}
	}
	hosts := make(map[string]bool, len(o.TokenHosts))
	for _, h := range o.TokenHosts {
		hosts[strings.ToLower(h)] = true
	}
	c := &Client{opts: o, policy: pol, log: log, blocked: map[string]time.Time{}}
	c.hc = &http.Client{
		Transport: &authTransport{base: base, token: o.Token, hosts: hosts},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("%w: stopped after %d redirects", errRedirect, maxRedirects)
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: refusing redirect from https to %s (%s)", errRedirect, req.URL.Scheme, req.URL.Host)
			}
			// Belt and braces: Go keeps Authorization when only the port
			// differs; the transport re-adds the token where allowed.
			if !hosts[strings.ToLower(req.URL.Host)] {
				req.Header.Del("Authorization")
			}
			return nil
		},
	}
	return c
}

// authTransport adds the token per hop, only for allowed hosts.
type authTransport struct {
	base  http.RoundTripper
	token Secret
	hosts map[string]bool
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	allowed := t.hosts[strings.ToLower(req.URL.Host)]
	switch {
	case allowed && t.token != "":
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.token.Reveal())
	case !allowed && req.Header.Get("Authorization") != "":
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return t.base.RoundTrip(req)
}

// StatusError is an unexpected HTTP status. It wraps source.ErrAuth (401,
// 403), source.ErrNotFound (404, 410) or source.ErrRateLimit (429).
type StatusError struct {
	Method, URL string
	Code        int
	Message     string // start of the response body, for diagnostics
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (check the token and its permissions)"
	}
	return msg
}

func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return source.ErrAuth
	case http.StatusNotFound, http.StatusGone:
		return source.ErrNotFound
	case http.StatusTooManyRequests:
		return source.ErrRateLimit
	}
	return source.ErrServer
}

// RateLimitError says the server asked us to wait longer than we are
// willing to; Until is when to try again.
type RateLimitError struct {
	Host  string
	Until time.Time
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: rate limited until %s; retry after that time or configure a token for a higher limit",
		e.Host, e.Until.UTC().Format(time.RFC3339))
}

func (e *RateLimitError) Unwrap() error { return source.ErrRateLimit }

// TooLargeError is returned when a body exceeds its limit.
type TooLargeError struct {
	Limit int64
	Size  int64 // declared or observed size; -1 when only "more than Limit" is known
}

func (e *TooLargeError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("response too large: %d bytes (limit: %d bytes)", e.Size, e.Limit)
	}
	return fmt.Sprintf("response too large: more than %d bytes (limit: %d bytes)", e.Limit, e.Limit)
}

func (e *TooLargeError) Unwrap() error { return source.ErrTooLarge }

// Do sends req (a GET or HEAD without a body) with the retry policy. It
// returns the response when the status is 2xx or 304; any other status
// becomes an error (*StatusError, *RateLimitError). When limit >= 0 a
// Content-Length above limit fails at once and the body fails with
// *TooLargeError once more than limit bytes are read. The body also fails
// when the server stays silent longer than Options.Timeout. The caller
// closes the body.
func (c *Client) Do(ctx context.Context, req *http.Request, limit int64) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		return nil, errors.New("httpx: requests with a body are not supported (retries could repeat them)")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	host := req.URL.Host
	var resp *http.Response
	p := c.policy
	p.Notify = func(n int, wait time.Duration, err error) {
		if errors.Is(err, source.ErrRateLimit) {
			c.log.Info("rate limited, waiting", "host", host, "wait", wait)
			return
		}
		c.log.Debug("retrying", "url", req.URL.Redacted(), "attempt", n+1, "sleep", wait, "err", err)
	}
	err := p.Do(ctx, func(ctx context.Context, attempt int) error {
		if err := c.waitRateLimit(ctx, host); err != nil {
			return retry.Permanent(err)
		}
		r, wait, err := c.once(ctx, req, limit)
		switch {
		case err == nil:
			resp = r
			return nil
		case wait < 0:
			return retry.Permanent(err)
		case wait == 0:
			return err
		}
		// A server-directed wait replaces the backoff, if we are willing
		// to sleep that long and an attempt is left to use it.
		if wait > c.opts.MaxRateLimitWait {
			return retry.Permanent(&RateLimitError{Host: host, Until: c.opts.Now().Add(wait)})
		}
		if attempt >= c.opts.Attempts {
			return retry.Permanent(fmt.Errorf("giving up after %d attempts: %w (%v)", c.opts.Attempts,
				&RateLimitError{Host: host, Until: c.opts.Now().Add(wait)}, err))
		}
		return retry.After(wait, err)
	})
	var stopped *retry.StoppedError
	if errors.As(err, &stopped) {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return resp, err
}

// waitRateLimit honours a reset announced earlier by X-RateLimit-Remaining: 0.
func (c *Client) waitRateLimit(ctx context.Context, host string) error {
	c.mu.Lock()
	until, ok := c.blocked[host]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	wait := until.Sub(c.opts.Now())
	if wait <= 0 {
		c.mu.Lock()
		delete(c.blocked, host)
		c.mu.Unlock()
		return nil
	}
	if wait > c.opts.MaxRateLimitWait {
		return &RateLimitError{Host: host, Until: until}
	}
	c.log.Info("rate limit exhausted, waiting for reset", "host", host, "wait", wait)
	return c.opts.Sleep(ctx, wait)
}

// backoff returns the full-jitter sleep before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration { return c.policy.Delay(attempt) }

// BackoffCeiling reports the upper bound of the sleep before retry number
// attempt (1-based); exposed for tests and documentation.
func (c *Client) BackoffCeiling(attempt int) time.Duration { return c.policy.Ceiling(attempt) }

// once performs one attempt. wait < 0: permanent error; wait == 0: retry
// with backoff; wait > 0: retry after that server-directed wait.
func (c *Client) once(ctx context.Context, req *http.Request, limit int64) (*http.Response, time.Duration, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	r := req.Clone(rctx)
	resp, err := c.hc.Do(r)
	if err != nil {
		cancel(nil)
		if ctx.Err() != nil {
			return nil, -1, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ctx.Err())
		}
		var rl *RateLimitError
		if errors.As(err, &rl) {
			return nil, -1, err
		}
		if isRedirectPolicy(err) {
			return nil, -1, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
		}
		return nil, 0, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	c.noteRateLimit(resp)
	code := resp.StatusCode
	if code/100 == 2 || code == http.StatusNotModified {
		if limit >= 0 && resp.ContentLength > limit {
			resp.Body.Close()
			cancel(nil)
			return nil, -1, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(),
				&TooLargeError{Limit: limit, Size: resp.ContentLength})
		}
		resp.Body = newIdleBody(rctx, resp.Body, c.opts.Timeout, cancel, limit)
		return resp, 0, nil
	}
	msg := readSnippet(resp.Body)
	resp.Body.Close()
	cancel(nil)
	serr := &StatusError{Method: req.Method, URL: req.URL.Redacted(), Code: code, Message: msg}
	switch {
	case code == http.StatusTooManyRequests || (code == http.StatusForbidden && isRateLimited(resp, msg)):
		wait := c.rateLimitWait(resp)
		if wait <= 0 {
			wait = 0 // no hint: plain backoff
		}
		return nil, wait, fmt.Errorf("%w: %w", source.ErrRateLimit, serr)
	case code == http.StatusRequestTimeout || code >= 500:
		return nil, 0, serr
	}
	return nil, -1, serr
}

// errRedirect marks redirects refused by policy; they are not retried.
var errRedirect = errors.New("redirect refused")

func isRedirectPolicy(err error) bool { return errors.Is(err, errRedirect) }

func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, errorBodyLimit))
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func isRateLimited(resp *http.Response, body string) bool {
	if resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0" {
		return true
	}
	return strings.Contains(strings.ToLower(body), "rate limit")
}

// rateLimitWait computes the wait a rate-limited response asks for.
func (c *Client) rateLimitWait(resp *http.Response) time.Duration {
	now := c.opts.Now()
	if ra := strings.TrimSpace(resp.Header.Get("Retry-After")); ra != "" {
		if s, err := strconv.ParseInt(ra, 10, 64); err == nil && s >= 0 {
			return max(time.Duration(s)*time.Second, time.Second)
		}
		if t, err := http.ParseTime(ra); err == nil {
			return max(t.Sub(now), time.Second)
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, ok := parseReset(resp); ok {
			return max(reset.Sub(now), time.Second)
		}
	}
	return 0
}

func parseReset(resp *http.Response) (time.Time, bool) {
	s, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}, false
	}
	return time.Unix(s, 0), true
}

// noteRateLimit remembers "remaining 0 until reset" so the next request to
// the host waits (or fails fast) instead of burning a request on a 403.
func (c *Client) noteRateLimit(resp *http.Response) {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	reset, ok := parseReset(resp)
	if !ok || !reset.After(c.opts.Now()) {
		return
	}
	c.mu.Lock()
	c.blocked[resp.Request.URL.Host] = reset
	c.mu.Unlock()
}

// idleBody cancels the request when no byte arrives for timeout, and caps
// the bytes read at limit (limit < 0: no cap).
type idleBody struct {
	ctx     context.Context
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	cancel  context.CancelCauseFunc
	capped  *CappedReader
}

var errIdle = errors.New("timed out waiting for data from server")

func newIdleBody(ctx context.Context, rc io.ReadCloser, timeout time.Duration, cancel context.CancelCauseFunc, limit int64) io.ReadCloser {
	b := &idleBody{ctx: ctx, rc: rc, timeout: timeout, cancel: cancel}
	b.timer = time.AfterFunc(timeout, func() { cancel(errIdle) })
	if limit >= 0 {
		b.capped = NewCappedReader(rc, limit)
	}
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	var n int
	var err error
	if b.capped != nil {
		n, err = b.capped.Read(p)
	} else {
		n, err = b.rc.Read(p)
	}
	b.timer.Reset(b.timeout)
	if err != nil && err != io.EOF && context.Cause(b.ctx) == errIdle {
		err = fmt.Errorf("%w (%v): %w", errIdle, b.timeout, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// CappedReader returns *TooLargeError once more than Limit bytes were read.
type CappedReader struct {
	r     io.Reader
	limit int64
	n     int64
}

// NewCappedReader caps r at limit bytes (limit >= 0).
func NewCappedReader(r io.Reader, limit int64) *CappedReader {
	return &CappedReader{r: r, limit: limit}
}

func (c *CappedReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, &TooLargeError{Limit: c.limit, Size: -1}
	}
	// Allow one byte past the limit so an exact-size body still sees EOF.
	if rest := c.limit + 1 - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n - int(c.n-c.limit), &TooLargeError{Limit: c.limit, Size: -1}
	}
	return n, err
}

// Count is how many bytes were read so far.
func (c *CappedReader) Count() int64 { return c.n }
