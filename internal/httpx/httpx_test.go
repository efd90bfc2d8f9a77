package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/source"
)

// fakeClock records sleeps instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func newTestClient(clk *fakeClock, o Options) *Client {
	o.Sleep = clk.Sleep
	o.Now = clk.Now
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d } // upper bound
	}
	return New(o)
}

type reply struct {
	code   int
	header map[string]string
	body   string
}

// scripted serves replies in order; the last one repeats.
func scripted(t *testing.T, replies ...reply) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := min(n, len(replies)-1)
		n++
		mu.Unlock()
		rp := replies[i]
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rp.code)
		io.WriteString(w, rp.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func get(t *testing.T, c *Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(context.Background(), req, -1)
}

func TestRetryPolicy(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	reset := strconv.FormatInt(t0.Add(30*time.Second).Unix(), 10)
	farReset := strconv.FormatInt(t0.Add(2*time.Hour).Unix(), 10)
	tests := []struct {
		name      string
		attempts  int
		replies   []reply
		wantReqs  int
		wantErr   error // nil: success
		wantSleep []time.Duration
	}{
		{"ok first", 3, []reply{{code: 200, body: "x"}}, 1, nil, nil},
		{"500 then ok", 3, []reply{{code: 500}, {code: 200}}, 2, nil, []time.Duration{3 * time.Second}},
		{"502 503 504 gives up", 3, []reply{{code: 502}, {code: 503}, {code: 504}}, 3, errAny, []time.Duration{3 * time.Second, 6 * time.Second}},
		{"408 retried", 2, []reply{{code: 408}, {code: 200}}, 2, nil, []time.Duration{3 * time.Second}},
		{"401 not retried", 3, []reply{{code: 401}}, 1, source.ErrAuth, nil},
		{"404 not retried", 3, []reply{{code: 404}}, 1, source.ErrNotFound, nil},
		{"400 not retried", 3, []reply{{code: 400}}, 1, errAny, nil},
		{"403 plain not retried", 3, []reply{{code: 403, body: "forbidden"}}, 1, source.ErrAuth, nil},
		{"429 retry-after short", 3, []reply{{code: 429, header: map[string]string{"Retry-After": "5"}}, {code: 200}}, 2, nil, []time.Duration{5 * time.Second}},
		{"429 retry-after date", 3, []reply{{code: 429, header: map[string]string{"Retry-After": t0.Add(20 * time.Second).UTC().Format(http.TimeFormat)}}, {code: 200}}, 2, nil, []time.Duration{20 * time.Second}},
		{"backoff doubles after a server wait", 4, []reply{{code: 429, header: map[string]string{"Retry-After": "5"}}, {code: 503}, {code: 503}, {code: 200}}, 4, nil, []time.Duration{5 * time.Second, 6 * time.Second, 12 * time.Second}},
		{"429 no hint uses backoff", 3, []reply{{code: 429}, {code: 200}}, 2, nil, []time.Duration{3 * time.Second}},
		{"403 reset short", 3, []reply{{code: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}}, {code: 200}}, 2, nil, []time.Duration{30 * time.Second}},
		{"403 reset far fails", 3, []reply{{code: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": farReset}}}, 1, source.ErrRateLimit, nil},
		{"429 retry-after long fails", 3, []reply{{code: 429, header: map[string]string{"Retry-After": "3600"}}}, 1, source.ErrRateLimit, nil},
		{"403 secondary limit body", 2, []reply{{code: 403, body: `{"message":"You have exceeded a secondary rate limit"}`}, {code: 200}}, 2, nil, []time.Duration{3 * time.Second}},
		{"attempts 0 means one", 0, []reply{{code: 500}}, 1, errAny, nil},
		{"attempts 1 no retry", 1, []reply{{code: 500}}, 1, errAny, nil},
		{"rate limit on last attempt", 1, []reply{{code: 429, header: map[string]string{"Retry-After": "5"}}}, 1, source.ErrRateLimit, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := scripted(t, tt.replies...)
			clk := &fakeClock{now: t0}
			c := newTestClient(clk, Options{Attempts: tt.attempts, Backoff: 3 * time.Second, MaxBackoff: 60 * time.Second})
			resp, err := get(t, c, srv.URL+"/x")
			if resp != nil {
				resp.Body.Close()
			}
			if *n != tt.wantReqs {
				t.Errorf("requests = %d, want %d", *n, tt.wantReqs)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("want error %v, got success", tt.wantErr)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v does not wrap %v", err, tt.wantErr)
			}
			if fmt.Sprint(clk.sleeps) != fmt.Sprint(tt.wantSleep) {
				t.Errorf("sleeps = %v, want %v", clk.sleeps, tt.wantSleep)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestRateLimitErrorSaysWhen(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	srv, _ := scripted(t, reply{code: 403, header: map[string]string{
		"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(t0.Add(time.Hour).Unix(), 10)}})
	c := newTestClient(&fakeClock{now: t0}, Options{})
	_, err := get(t, c, srv.URL)
	var rl *RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("want *RateLimitError, got %v", err)
	}
	if !rl.Until.Equal(t0.Add(time.Hour)) || !strings.Contains(err.Error(), t0.Add(time.Hour).UTC().Format(time.RFC3339)) {
		t.Fatalf("error does not name the reset time: %v", err)
	}
}

func TestRemainingZeroPacesNextRequest(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	srv, n := scripted(t,
		reply{code: 200, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(t0.Add(2*time.Hour).Unix(), 10)}},
		reply{code: 200})
	c := newTestClient(&fakeClock{now: t0}, Options{})
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = get(t, c, srv.URL)
	if !errors.Is(err, source.ErrRateLimit) {
		t.Fatalf("want ErrRateLimit without a request, got %v", err)
	}
	if *n != 1 {
		t.Fatalf("second call sent a request (%d total)", *n)
	}
}

func TestBackoffBounds(t *testing.T) {
	c := New(Options{Backoff: 3 * time.Second, MaxBackoff: 10 * time.Second})
	want := []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := c.BackoffCeiling(i + 1); got != w {
			t.Errorf("ceiling(%d) = %v, want %v", i+1, got, w)
		}
	}
	// Full jitter stays within [0, ceiling], and huge retry counts do not overflow.
	for i := 1; i < 200; i++ {
		d := c.backoff(i)
		if d < 0 || d > 10*time.Second {
			t.Fatalf("backoff(%d) = %v out of bounds", i, d)
		}
	}
}

func TestSizeCap(t *testing.T) {
	body := strings.Repeat("a", 100)
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // no Content-Length
		io.WriteString(w, body)
	}))
	defer chunked.Close()
	withCL, _ := scripted(t, reply{code: 200, body: body})
	forever := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bytes.Repeat([]byte("z"), 1024)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer forever.Close()

	tests := []struct {
		name    string
		url     string
		limit   int64
		wantErr bool
		early   bool // rejected before reading (Content-Length)
	}{
		{"exact limit ok", chunked.URL, 100, false, false},
		{"chunked over limit", chunked.URL, 99, true, false},
		{"content-length over limit", withCL.URL, 50, true, true},
		{"no limit", withCL.URL, -1, false, false},
		{"stream forever cut off", forever.URL, 1 << 16, true, false},
	}
	c := New(Options{Attempts: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			resp, err := c.Do(context.Background(), req, tt.limit)
			if tt.early {
				if !errors.Is(err, source.ErrTooLarge) {
					t.Fatalf("want early ErrTooLarge, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if tt.wantErr {
				if !errors.Is(err, source.ErrTooLarge) {
					t.Fatalf("want ErrTooLarge, got %v", err)
				}
				if tt.limit >= 0 && int64(len(b)) > tt.limit {
					t.Fatalf("read %d bytes past limit %d", len(b), tt.limit)
				}
				return
			}
			if err != nil || string(b) != body {
				t.Fatalf("body %q err %v", b, err)
			}
		})
	}
}

func TestTokenScoping(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[name] = r.Header.Get("Authorization")
			mu.Unlock()
			io.WriteString(w, "ok")
		}
	}
	other := httptest.NewServer(record("other"))
	defer other.Close()
	raw := httptest.NewServer(record("raw"))
	defer raw.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got["api"+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		switch r.URL.Path {
		case "/to-other":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/to-raw":
			http.Redirect(w, r, raw.URL+"/x", http.StatusFound)
		default:
			io.WriteString(w, "ok")
		}
	}))
	defer api.Close()
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	var logBuf bytes.Buffer
	c := New(Options{Attempts: 1, Token: "s3cr3t", TokenHosts: []string{hostOf(api.URL), hostOf(raw.URL)},
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	for _, p := range []string{"/plain", "/to-other", "/to-raw"} {
		req, _ := http.NewRequest(http.MethodGet, api.URL+p, nil)
		// A caller-set header must not leak to other hosts either.
		if p == "/to-other" {
			req.Header.Set("Authorization", "Bearer s3cr3t")
		}
		resp, err := c.Do(context.Background(), req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got["api/plain"] != "Bearer s3cr3t" {
		t.Errorf("API host did not get the token: %q", got["api/plain"])
	}
	if got["other"] != "" {
		t.Errorf("token leaked to another host on redirect: %q", got["other"])
	}
	if got["raw"] != "Bearer s3cr3t" {
		t.Errorf("configured raw host did not get the token: %q", got["raw"])
	}
	// Direct request to an unlisted host: no token.
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/direct", nil)
	req.Header.Set("Authorization", "Bearer s3cr3t")
	resp, err := c.Do(context.Background(), req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got["other"] != "" {
		t.Errorf("token sent to unlisted host: %q", got["other"])
	}
	// CheckRedirect itself strips the header (defence in depth).
	r2, _ := http.NewRequest(http.MethodGet, other.URL, nil)
	r2.Header.Set("Authorization", "x")
	via, _ := http.NewRequest(http.MethodGet, api.URL, nil)
	if err := c.hc.CheckRedirect(r2, []*http.Request{via}); err != nil || r2.Header.Get("Authorization") != "" {
		t.Errorf("CheckRedirect kept Authorization (err %v)", err)
	}
	// The secret never prints.
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("cfg", "token", Secret("s3cr3t"))
	if s := fmt.Sprintf("%v %+v %#v %s", Secret("s3cr3t"), Secret("s3cr3t"), Secret("s3cr3t"), logBuf.String()); strings.Contains(s, "s3cr3t") {
		t.Errorf("secret leaked: %s", s)
	}
}

func TestRefuseHTTPSDowngrade(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	r2, _ := http.NewRequest(http.MethodGet, plain.URL, nil)
	via, _ := http.NewRequest(http.MethodGet, "https://api.example/", nil)
	if err := New(Options{}).hc.CheckRedirect(r2, []*http.Request{via}); err == nil {
		t.Fatal("https → http redirect allowed")
	}
}

type mapCache struct{ m map[string][2]string }

func (c *mapCache) Get(k string) (string, []byte, bool) {
	v, ok := c.m[k]
	return v[0], []byte(v[1]), ok
}
func (c *mapCache) Put(k, e string, b []byte) { c.m[k] = [2]string{e, string(b)} }

func TestGetCached(t *testing.T) {
	var n, n304 int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			n304++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "payload")
	}))
	defer srv.Close()
	c := New(Options{Attempts: 1})
	cache := &mapCache{m: map[string][2]string{}}
	// The first two answers are not stored (the caller never calls Store,
	// as after a failed verification): both are full 200s.
	for i, wantNM := range []bool{false, false, false, true, true} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		got, err := c.GetCached(context.Background(), req, cache, "k", 1024)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Body) != "payload" || got.NotModified != wantNM {
			t.Fatalf("call %d: %+v", i, got)
		}
		if len(cache.m) != 0 && i < 2 {
			t.Fatalf("call %d: body cached before Store", i)
		}
		if i >= 2 {
			got.Store()
		}
	}
	if n != 5 || n304 != 2 {
		t.Fatalf("requests %d, 304s %d", n, n304)
	}
}

func TestGetRange(t *testing.T) {
	data := []byte("0123456789abcdef")
	ranged := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	defer ranged.Close()
	ignoring, _ := scripted(t, reply{code: 200, body: string(data)})
	lying, _ := scripted(t, reply{code: 206, header: map[string]string{"Content-Range": "bytes 3-15/16"}, body: string(data[3:])})
	tests := []struct {
		name      string
		url       string
		offset    int64
		limit     int64
		wantStart int64
		want      string
		wantErr   error
	}{
		{"from zero", ranged.URL, 0, -1, 0, string(data), nil},
		{"resume", ranged.URL, 10, -1, 10, "abcdef", nil},
		{"resume with exact limit", ranged.URL, 10, 6, 10, "abcdef", nil},
		{"resume over limit", ranged.URL, 10, 5, 0, "", source.ErrTooLarge},
		{"ignored range restarts", ignoring.URL, 10, -1, 0, string(data), nil},
		{"ignored range within limit", ignoring.URL, 10, 6, 0, string(data), nil},
		{"wrong content-range", lying.URL, 10, -1, 0, "", source.ErrBadData},
	}
	c := New(Options{Attempts: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			body, start, err := c.GetRange(context.Background(), req, tt.offset, tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			b, _ := io.ReadAll(body)
			if start != tt.wantStart || string(b) != tt.want {
				t.Fatalf("start %d body %q", start, b)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		io.WriteString(w, "12345")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := New(Options{Attempts: 1, Timeout: 100 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(context.Background(), req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if err == nil || !errors.Is(err, errIdle) {
		t.Fatalf("want idle timeout, got %v", err)
	}
}

// TestCancelStopsRetryWait: a cancelled context ends a backoff or a
// rate-limit wait at once, and the error says which wait it was.
func TestCancelStopsRetryWait(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		r          reply
	}{
		{"backoff", "last error", reply{code: 503}},
		{"rate limit", "waiting for rate limit", reply{code: 429, header: map[string]string{"Retry-After": "5"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := scripted(t, tc.r)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newTestClient(&fakeClock{}, Options{Attempts: 5})
			c.policy.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			_, err := c.Do(ctx, req, -1)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), tc.want) || *n != 1 {
				t.Fatalf("err %v after %d requests", err, *n)
			}
		})
	}
}
