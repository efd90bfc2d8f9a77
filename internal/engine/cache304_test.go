package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/repo"
)

// etagServer serves a folder with strong ETags (sha256 of the content) and
// logs each request's path and status.
type etagServer struct {
	dir string
	mu  sync.Mutex
	log []string
}

func (s *etagServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
	rec := &statusRec{ResponseWriter: w, code: 200}
	if err != nil {
		http.NotFound(rec, r)
	} else {
		h := sha256.Sum256(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(h[:8])+`"`)
		http.ServeContent(rec, r, "", time.Time{}, strings.NewReader(string(b)))
	}
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf("%s %d", r.URL.Path, rec.code))
	s.mu.Unlock()
}

func (s *etagServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

type statusRec struct {
	http.ResponseWriter
	code int
}

func (r *statusRec) WriteHeader(c int) { r.code = c; r.ResponseWriter.WriteHeader(c) }

// TestNoOpCheckIs304AtAnySize: for a 1,000-file repository (its legacy
// latest.json well above the old 256 KiB cache cap), a no-op check by a new
// process is one request answered 304; and a body that fails verification
// is never cached (issue 13 item 6): after a forged head.json, the next
// check still revalidates the last good one.
func TestNoOpCheckIs304AtAnySize(t *testing.T) {
	f := repotest.New(t)
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("pkg%02d/module-with-a-rather-long-descriptive-file-name-%04d.py", i%30, i)] = fmt.Sprintf("print(%d)\n", i)
	}
	f.Commit("v1", files)
	f.Publish("v1")
	if fi, err := os.Stat(filepath.Join(f.Repo, repo.LatestPath)); err != nil || fi.Size() <= 256<<10 {
		t.Fatalf("latest.json should exceed the old 256 KiB cap: %v %v", fi, err)
	}
	srv := &etagServer{dir: f.Repo}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	target := t.TempDir()
	cfgJSON, _ := json.Marshal(map[string]any{
		"source": "http", "url": hs.URL + "/", "trusted_keys": []string{f.RootKeys()[0].String()}, "target_dir": target,
	})
	cfg, err := config.Parse(filepath.Join(target, "ota_config.json"), cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	newUpdater := func() *Engine { // a fresh process: the cache comes from disk
		u, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if _, err := newUpdater().Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	srv.take()
	check := func() ([]string, error) {
		_, err := newUpdater().Check(ctx, true)
		return srv.take(), err
	}
	if l, err := check(); err != nil || len(l) != 1 || l[0] != "/head.json 304" {
		t.Fatalf("no-op check: %v %v", l, err)
	}
	// A forged head.json (a head, but its last signature changed) is
	// refused and not cached.
	head := filepath.Join(f.Repo, repo.HeadPath)
	good, _ := os.ReadFile(head)
	i := strings.LastIndex(string(good), `"sig"`)
	j := i + strings.IndexByte(string(good[i+6:]), '"') + 7
	forged := []byte(string(good))
	forged[j] ^= 1
	os.WriteFile(head, forged, 0o644)
	if l, err := check(); err == nil || len(l) != 1 || l[0] != "/head.json 200" {
		t.Fatalf("forged head.json: %v %v", l, err)
	}
	os.WriteFile(head, good, 0o644)
	if l, err := check(); err != nil || len(l) != 1 || l[0] != "/head.json 304" {
		t.Fatalf("after the forged answer, the good body should still be cached: %v %v", l, err)
	}
}
