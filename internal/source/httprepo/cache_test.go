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

// TestOnlyVerifiedMetadataIsCached: metadata that fails verification is
// never stored in the ETag cache (a later 304 would make it trusted input);
// verified metadata is, so the next check is a 304. For head.json, which
// devices read first, and for latest.json from a repository published before
// the head format.
func TestOnlyVerifiedMetadataIsCached(t *testing.T) {
	// forgeSig changes one character of the last signature: still a head,
	// but unverifiable.
	forgeSig := func(good []byte) []byte {
		i := bytes.LastIndex(good, []byte(`"sig"`))
		j := i + bytes.IndexByte(good[i+6:], '"') + 7 // first character of the base64
		bad := bytes.Clone(good)
		bad[j] ^= 'A' ^ 'B'
		return bad
	}
	for _, c := range []struct {
		name, path string
		forge      func(good []byte) []byte
	}{
		{"head.json", repo.HeadPath, forgeSig},
		{"latest.json", repo.LatestPath, func([]byte) []byte { return []byte(`{"signed": "tampered"}`) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := repotest.New(t)
			f.Commit("v1", map[string]string{"main.py": "print(1)\n"})
			f.Publish("v1")
			good, err := os.ReadFile(filepath.Join(f.Repo, c.path))
			if err != nil {
				t.Fatal(err)
			}
			body, etag := c.forge(good), `"bad"`
			var conditional []string
			files := http.FileServer(http.Dir(f.Repo))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/" + c.path:
				case "/" + repo.HeadPath, "/" + repo.LatestPath:
					http.NotFound(w, r) // the other format is not published
					return
				default:
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
					t.Fatalf("forged %s accepted", c.name)
				}
			}
			if conditional[1] != "" {
				t.Fatalf("an unverified %s was cached (If-None-Match sent: %q)", c.name, conditional[1])
			}
			body, etag = good, `"good"`
			for range 2 {
				if tg, err := s.Resolve(ctx); err != nil || tg.Number != 1 {
					t.Fatalf("resolve: %v", err)
				}
			}
			if conditional[3] != `"good"` {
				t.Fatalf("the verified %s was not cached: %q", c.name, conditional)
			}
		})
	}
}
