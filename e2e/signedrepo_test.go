package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// repoServer serves a signed repository folder like a static server (ETag
// from size and mtime, as nginx) and logs "STATUS /first-path-element".
type repoServer struct {
	dir string
	mu  sync.Mutex
	log []string
	URL string
}

func newRepoServer(t *testing.T, dir string) *repoServer {
	s := &repoServer{dir: dir}
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := 200
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(r.URL.Path))); err == nil {
			w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
			if r.Header.Get("If-None-Match") == w.Header().Get("ETag") {
				status = 304
			}
		} else {
			status = 404
		}
		s.mu.Lock()
		s.log = append(s.log, fmt.Sprintf("%d %s", status, strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]))
		s.mu.Unlock()
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/"
	return s
}

func (s *repoServer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := strings.Join(s.log, ", ")
	s.log = nil
	return l
}

// TestSignedRepoHead: the real binary against a repository published by
// "ota publish": the check is the small signed head, an update adds a
// manifest delta and one pack, a no-op is one 304; a tampered manifest
// delta falls back to the whole manifest; a tampered manifest and a
// replayed head are refused (exit 4) without touching the folder.
func TestSignedRepoHead(t *testing.T) {
	d := t.TempDir()
	keys, srvDir, target := filepath.Join(d, "keys"), filepath.Join(d, "repo"), filepath.Join(d, "device")
	none := filepath.Join(d, "none.json")
	if r := ota(t, none, nil, "keygen", keys); r.code != 0 {
		t.Fatal(r)
	}
	pub, _ := os.ReadFile(filepath.Join(keys, "root.pub"))
	versions := []map[string]string{{}, {}, {}, {}}
	for i := range 30 {
		versions[0][fmt.Sprintf("lib/m%02d.py", i)] = strings.Repeat(fmt.Sprintf("value_%d = %d\n", i, i), 10)
	}
	for v := 1; v < 4; v++ {
		for p, c := range versions[v-1] {
			versions[v][p] = c
		}
		versions[v][fmt.Sprintf("lib/m%02d.py", v)] = strings.Repeat(fmt.Sprintf("value_%d = %d\n", v, 100*v), 10)
		versions[v][fmt.Sprintf("new%d.txt", v)] = "new\n"
	}
	publish := func(v int) {
		t.Helper()
		src := filepath.Join(d, fmt.Sprintf("src%d", v))
		for p, c := range versions[v] {
			os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755)
			os.WriteFile(filepath.Join(src, p), []byte(c), 0o644)
		}
		if r := ota(t, none, nil, "publish", "--src", src, "--ref", fmt.Sprintf("v%d", v+1), "--out", srvDir, "--keys", keys); r.code != 0 {
			t.Fatal(r)
		}
	}
	want := func(v int) treesnap.Snap {
		s := treesnap.Snap{"lib": "dir"}
		for p, c := range versions[v] {
			s[p] = "file:0:" + c
		}
		return s
	}
	publish(0)
	srv := newRepoServer(t, srvDir)
	os.MkdirAll(target, 0o755)
	cfg := writeConfig(t, target, "ota_config.json", map[string]any{
		"source": "http", "url": srv.URL, "trusted_keys": []string{strings.TrimSpace(string(pub))}})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if got := srv.take(); got != "200 head.json, 200 manifests, 200 packs" {
		t.Fatalf("first install: %s", got)
	}
	headV1, _ := os.ReadFile(filepath.Join(srvDir, "head.json"))

	publish(1)
	okJSON(t, cfg, nil, &up, "update")
	if got := srv.take(); !up.Updated || got != "200 head.json, 200 manifest-deltas, 200 packs" {
		t.Fatalf("update to v2 (a delta and a new file): %s, %+v", got, up)
	}
	if d := treesnap.Diff(want(1), snap(t, target)); d != nil {
		t.Fatal(d)
	}
	if r := ota(t, cfg, nil, "check"); r.code != 0 || srv.take() != "304 head.json" {
		t.Fatalf("no-op check: %v", r)
	}

	// v3 with its manifest delta damaged: the whole manifest instead.
	publish(2)
	deltas, _ := filepath.Glob(filepath.Join(srvDir, "manifest-deltas", "*"))
	for _, p := range deltas {
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	okJSON(t, cfg, nil, &up, "update")
	if got := srv.take(); got != "200 head.json, 200 manifest-deltas, 200 manifests, 200 packs" {
		t.Fatalf("damaged manifest delta: %s", got)
	}
	if d := treesnap.Diff(want(2), snap(t, target)); d != nil {
		t.Fatal(d)
	}

	// v4 with its manifest delta missing and its manifest tampered with.
	publish(3)
	os.RemoveAll(filepath.Join(srvDir, "manifest-deltas"))
	mans, _ := filepath.Glob(filepath.Join(srvDir, "manifests", "*"))
	for _, p := range mans {
		b, _ := os.ReadFile(p)
		os.WriteFile(p, append(b[:len(b)-1], b[len(b)-1]^1), 0o644)
	}
	before := rawSnap(t, target)
	if r := ota(t, cfg, nil, "update"); r.code != 4 || !strings.Contains(r.stderr, "does not match signed metadata") {
		t.Fatalf("tampered manifest: %v", r)
	}
	if got := srv.take(); got != "200 head.json, 404 manifest-deltas, 200 manifests" {
		t.Fatalf("tampered manifest: %s", got)
	}
	if d := treesnap.Diff(before, rawSnap(t, target)); d != nil {
		t.Fatalf("a refused update changed the folder: %v", d)
	}

	// A replayed v1 head is refused before anything else is fetched.
	os.WriteFile(filepath.Join(srvDir, "head.json"), headV1, 0o644)
	if r := ota(t, cfg, nil, "check"); r.code != 4 || !strings.Contains(r.stderr, "rollback") {
		t.Fatalf("replayed head: %v", r)
	}
	if got := srv.take(); got != "200 head.json" {
		t.Fatalf("replayed head: %s", got)
	}
}
