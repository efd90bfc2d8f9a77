package httprepo

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/repo"
)

// TestOnlyVerifiedMetadataIsCached: a latest.json that fails verification
// is never stored in the ETag cache (a later 304 would make it trusted
// input); a verified one is, so the next check is a 304.
func TestOnlyVerifiedMetadataIsCached(t *testing.T) {
	f := repotest.New(t)
	f.Commit("v1", map[string]string{"main.py": "print(1)\n"})
	f.Publish("v1")
	good, err := os.ReadFile(filepath.Join(f.Repo, repo.LatestPath))
	if err != nil {
		t.Fatal(err)
	}
	body, etag := []byte(`{"signed": "tampered"}`), `"bad"`
	var conditional []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+repo.LatestPath {
			http.NotFound(w, r) // a repository of the format before head.json
			return
		}
		conditional = append(conditional, r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	cache := &MemCache{}
	s, err := New(Options{URL: srv.URL, Cache: cache, HTTP: httpx.Options{Backoff: time.Millisecond},
		Trust: signedrepo.Trust{Verifier: f.Verifier(), Seen: &repo.MemSeen{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := s.Resolve(ctx); err == nil {
			t.Fatal("tampered latest.json accepted")
		}
	}
	if _, _, ok := cache.Get(srv.URL + "/" + repo.LatestPath); ok || conditional[1] != "" {
		t.Fatalf("an unverified latest.json was cached (If-None-Match sent: %q)", conditional[1])
	}
	body, etag = good, `"good"`
	for range 2 {
		if tg, err := s.Resolve(ctx); err != nil || tg.Number != 1 {
			t.Fatalf("resolve: %v", err)
		}
	}
	if conditional[3] != `"good"` {
		t.Fatalf("the verified latest.json was not cached: %q", conditional)
	}
}

// TestOnlyVerifiedHeadIsCached: the same for head.json, the format devices
// read first: a head whose signature fails is never sent back as
// If-None-Match; a verified one is, and the next check is one 304.
func TestOnlyVerifiedHeadIsCached(t *testing.T) {
	f := repotest.New(t)
	f.Commit("v1", map[string]string{"main.py": "print(1)\n"})
	f.Publish("v1")
	good, err := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	if err != nil {
		t.Fatal(err)
	}
	// Change one character of the last signature: still a head, but
	// unverifiable.
	i := bytes.LastIndex(good, []byte(`"sig"`))
	j := i + bytes.IndexByte(good[i+6:], '"') + 7 // first character of the base64
	bad := bytes.Clone(good)
	if bad[j] == 'A' {
		bad[j] = 'B'
	} else {
		bad[j] = 'A'
	}
	if bytes.Equal(bad, good) || !repo.IsHeadBundle(bad) {
		t.Fatal("could not forge a head with a bad signature")
	}
	body, etag := bad, `"bad"`
	var conditional []string
	files := http.FileServer(http.Dir(f.Repo))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+repo.HeadPath {
			files.ServeHTTP(w, r) // manifests and deltas, immutable
			return
		}
		conditional = append(conditional, r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	s, err := New(Options{URL: srv.URL, Cache: &MemCache{}, HTTP: httpx.Options{Backoff: time.Millisecond},
		Trust: signedrepo.Trust{Verifier: f.Verifier(), Seen: &repo.MemSeen{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := s.Resolve(ctx); err == nil {
			t.Fatal("a head with a bad signature was accepted")
		}
	}
	if conditional[1] != "" {
		t.Fatalf("an unverified head was cached (If-None-Match sent: %q)", conditional[1])
	}
	body, etag = good, `"good"`
	for range 2 {
		if tg, err := s.Resolve(ctx); err != nil || tg.Number != 1 {
			t.Fatalf("resolve: %v", err)
		}
	}
	if conditional[3] != `"good"` {
		t.Fatalf("the verified head was not cached: %q", conditional)
	}
}
