package httprepo

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
)

// TestPack: the small files of an update travel in one request (a pack the
// publisher named after what a device on v1 reads); a missing or damaged
// pack falls back to one request per file, and every piece is verified.
func TestPack(t *testing.T) {
	f := repotest.New(t)
	big := strings.Repeat("sensor firmware block 0123456789\n", 300)
	f.Commit("v1", map[string]string{"a.py": "print(1)\n", "big.txt": big, "same.txt": "same\n"})
	f.Publish("v1")
	f.Commit("v2", map[string]string{"a.py": "print(2)\n", "big.txt": strings.Replace(big, "block 0", "BLOCK 0", 1), "new.txt": "new\n"})
	f.Publish("v2")
	ng := startNginx(t, f.Repo)
	ctx := context.Background()
	s, err := New(Options{URL: ng.URL, Trust: signedrepo.Trust{Verifier: f.Verifier()}, HTTP: httpx.Options{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What a device on v1 fetches: a.py (too small for a delta), big.txt (a
	// delta from v1), new.txt.
	v1 := map[string]string{"a.py": f.RunGit("rev-parse", "v1:a.py"), "big.txt": f.RunGit("rev-parse", "v1:big.txt")}
	var wants []source.Want
	for _, e := range tg.Tree {
		if e.Path != "same.txt" {
			wants = append(wants, source.Want{Entry: e, FromSHA1: v1[e.Path]})
		}
	}
	fetchAll := func() {
		t.Helper()
		s.Prefetch(ctx, tg, wants)
		for _, w := range wants {
			var rc io.ReadCloser
			var err error
			if w.FromSHA1 != "" {
				rc, err = s.Delta(ctx, tg, w.Entry, w.FromSHA1)
			}
			if w.FromSHA1 == "" || err != nil {
				rc, err = s.Open(ctx, tg, w.Entry, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(rc); err != nil {
				t.Fatalf("%s: %v", w.Entry.Path, err)
			}
			rc.Close()
		}
	}
	requests := func(from int) []string {
		time.Sleep(100 * time.Millisecond) // nginx logs after the response
		var uris []string
		for _, l := range ng.lines(t)[from:] {
			uris = append(uris, strings.SplitN(strings.TrimPrefix(l.URI, "/"), "/", 2)[0])
		}
		return uris
	}
	n := len(ng.lines(t))
	fetchAll()
	if got := strings.Join(requests(n), " "); got != "packs" {
		t.Fatalf("one pack request expected, got %q", got)
	}
	pack := filepath.Join(f.Repo, filepath.FromSlash(ng.lines(t)[n].URI))
	good, err := os.ReadFile(pack)
	if err != nil || int64(len(good)) != ng.lines(t)[n].Bytes {
		t.Fatalf("pack %s: %v", pack, err)
	}

	// A tampered pack: every piece is checked, the files come one by one.
	os.WriteFile(pack, bytes.ToUpper(good), 0o644)
	n = len(ng.lines(t))
	fetchAll()
	if got := requests(n); len(got) != 4 || got[0] != "packs" || strings.Count(strings.Join(got, " "), "deltas") != 1 {
		t.Fatalf("tampered pack: want the pack then one request per file (big.txt as a delta), got %q", got)
	}
	// A missing pack (a device the publisher did not foresee): the same.
	os.Remove(pack)
	n = len(ng.lines(t))
	fetchAll()
	if got := requests(n); len(got) != 4 || got[0] != "packs" {
		t.Fatalf("missing pack: %q", got)
	}
	if l := ng.lines(t); l[n].Status != 404 {
		t.Fatalf("missing pack: %+v", l[n])
	}
	// Wants that are not files of the release fetch no pack.
	bad := append([]source.Want{}, wants...)
	bad[0].Entry.SHA256 = strings.Repeat("0", 64)
	n = len(ng.lines(t))
	s.Prefetch(ctx, tg, bad)
	if got := requests(n); len(got) != 0 {
		t.Fatalf("forged want fetched %q", got)
	}
}
