package httprepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/publish"
	"github.com/otafleet/ota/repo"
)

// nginx is a real nginx serving one directory, with an access log the test
// reads to count requests and bytes.
type nginx struct {
	URL string
	log string
}

type logLine struct {
	Method, URI string
	Status      int
	Bytes       int64
	Range       string
}

func startNginx(t *testing.T, root string) *nginx {
	t.Helper()
	bin := os.Getenv("OTA_NGINX")
	if bin == "" {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("nginx"); lerr == nil {
			bin = p
		} else if os.Getenv("OTA_REQUIRE_NGINX") == "1" {
			t.Fatalf("nginx not found at %s or in PATH, and OTA_REQUIRE_NGINX=1", bin)
		} else {
			t.Skipf("nginx not installed (looked at %s and PATH); install nginx-light or set OTA_NGINX; set OTA_REQUIRE_NGINX=1 to fail instead", bin)
		}
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // workers must read the test's private temp dirs
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 64; }
http {
  log_format ota '$request_method $uri $status $body_bytes_sent "$http_range"';
  access_log %[2]s/access.log ota;
  client_body_temp_path %[2]s/tmp; proxy_temp_path %[2]s/tmp; fastcgi_temp_path %[2]s/tmp;
  uwsgi_temp_path %[2]s/tmp; scgi_temp_path %[2]s/tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:%[3]d;
    root %[4]s;
    etag on;
  }
}
`, user, dir, port, root)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", cf, "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group, so the workers stop with the master (a killed
	// master alone leaves them orphaned).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pgid := -cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGTERM) // nginx: fast shutdown
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(pgid, syscall.SIGKILL)
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			el, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s %s", stderr.String(), el)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &nginx{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), log: filepath.Join(dir, "access.log")}
}

func (n *nginx) lines(t *testing.T) []logLine {
	t.Helper()
	f, err := os.Open(n.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l logLine
		fs := strings.SplitN(sc.Text(), " ", 5)
		if len(fs) != 5 {
			t.Fatalf("access log line %q", sc.Text())
		}
		l.Method, l.URI = fs[0], fs[1]
		l.Status, _ = strconv.Atoi(fs[2])
		l.Bytes, _ = strconv.ParseInt(fs[3], 10, 64)
		l.Range = strings.Trim(fs[4], `"`)
		out = append(out, l)
	}
	return out
}

func TestNginx(t *testing.T) {
	f := repotest.New(t)
	big := bytes.Repeat([]byte("sensor firmware block 0123456789\n"), 2000)
	f.Commit("v1", map[string]string{"main.py": "print(1)\n", "fw/big.bin": string(big)})
	f.Publish("v1")
	headV1, _ := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	ng := startNginx(t, f.Repo)
	ctx := context.Background()
	seen := &repo.MemSeen{}
	s, err := New(Options{URL: ng.URL, Trust: signedrepo.Trust{Verifier: f.Verifier(), Seen: seen}, HTTP: httpx.Options{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var gets int
	// mark waits until want new access-log lines exist (nginx logs after
	// sending the response), lets stragglers land, and returns the new lines.
	mark := func(want int) []logLine {
		for i := 0; i < 200 && len(ng.lines(t)) < gets+want; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond)
		l := ng.lines(t)
		d := l[gets:]
		gets = len(l)
		return d
	}

	// v1: resolve and read everything.
	tg, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Number != 1 {
		t.Fatalf("version %d", tg.Number)
	}
	for _, e := range tg.Tree {
		rc, err := s.Open(ctx, tg, e, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || int64(len(b)) != e.Size {
			t.Fatalf("%s: %d bytes, %v", e.Path, len(b), err)
		}
	}
	if l := mark(4); len(l) != 4 || l[0].URI != "/head.json" || !strings.HasPrefix(l[1].URI, "/manifests/") {
		t.Fatalf("first check: head.json, then the whole manifest (nothing held): %+v", l)
	}

	// A check with nothing new is one request answered 304.
	tg1, err := s.Resolve(ctx)
	if err != nil || tg1.Number != 1 {
		t.Fatalf("no-op resolve: %v", err)
	}
	if l := mark(1); len(l) != 1 || l[0].URI != "/head.json" || l[0].Status != 304 || l[0].Bytes != 0 {
		t.Fatalf("no-op check should be one 304, access log: %+v", l)
	}

	// Range resume of an object: only the rest travels.
	var bigE source.Entry
	for _, e := range tg.Tree {
		if e.Path == "fw/big.bin" {
			bigE = e
		}
	}
	const off = 50000
	rc, err := s.Open(ctx, tg, bigE, off)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(rest, big[off:]) {
		t.Fatalf("resume: %v", err)
	}
	if l := mark(1); len(l) != 1 || l[0].Status != 206 || l[0].Bytes != int64(len(big)-off) || l[0].Range != "bytes=50000-" {
		t.Fatalf("resume should be one 206 of %d bytes, access log: %+v", len(big)-off, l)
	}

	// v2: a new version is seen, and its delta is served.
	big2 := bytes.Clone(big)
	copy(big2[30000:], "PATCHED")
	f.Commit("v2", map[string]string{"fw/big.bin": string(big2)})
	f.Publish("v2")
	tg2, err := s.Resolve(ctx)
	if err != nil || tg2.Number != 2 {
		t.Fatalf("v2 resolve: %v %d", err, tg2.Number)
	}
	if l := mark(2); len(l) != 2 || l[0].URI != "/head.json" || l[0].Status != 200 || l[0].Bytes > 2000 ||
		!strings.HasPrefix(l[1].URI, "/manifest-deltas/") || l[1].Status != 200 || l[1].Bytes > 300 {
		t.Fatalf("changed metadata should be a small head and a manifest delta: %+v", l)
	}
	var big2E source.Entry
	for _, e := range tg2.Tree {
		if e.Path == "fw/big.bin" {
			big2E = e
		}
	}
	rc, err = s.Delta(ctx, tg2, big2E, bigE.BlobSHA1)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := publish.ApplyDelta(big, patch); err != nil || !bytes.Equal(out, big2) {
		t.Fatalf("delta over nginx does not reproduce v2: %v", err)
	}
	// A delta the metadata does not list costs no request; a missing one is a fast 404.
	if _, err := s.Delta(ctx, tg2, big2E, strings.Repeat("1", 40)); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("unlisted delta: %v", err)
	}
	mark(1)
	tr := signedrepo.Trust{}
	d, _ := tr.FindDelta(tg2, big2E, bigE.BlobSHA1)
	os.Remove(filepath.Join(f.Repo, filepath.FromSlash(d.Object)))
	if _, err := s.Delta(ctx, tg2, big2E, bigE.BlobSHA1); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("missing delta: %v", err)
	}
	if l := mark(1); len(l) != 1 || l[0].Status != 404 {
		t.Fatalf("missing delta should be one 404: %+v", l)
	}

	// Replayed old metadata behind the same URL is refused, even via the cache path.
	os.WriteFile(filepath.Join(f.Repo, repo.HeadPath), headV1, 0o644)
	// (nginx's ETag is mtime and size: both heads may share them)
	os.Chtimes(filepath.Join(f.Repo, repo.HeadPath), time.Unix(1e9, 0), time.Unix(1e9, 0))
	if _, err := s.Resolve(ctx); !errors.Is(err, repo.ErrRollback) {
		t.Fatalf("replay of head.json over http: %v", err)
	}
	// A repository without head.json (published before heads) is read from
	// latest.json, with the same protection.
	os.Remove(filepath.Join(f.Repo, repo.HeadPath))
	old, _ := os.ReadFile(filepath.Join(f.Repo, repo.MetadataPath(1)))
	os.WriteFile(filepath.Join(f.Repo, repo.LatestPath), old, 0o644)
	if _, err := s.Resolve(ctx); !errors.Is(err, repo.ErrRollback) {
		t.Fatalf("replay of latest.json over http: %v", err)
	}
	// A tampered object is detected while streaming.
	obj := filepath.Join(f.Repo, filepath.FromSlash(repo.ObjectPath(big2E.SHA256)))
	os.WriteFile(obj, bytes.ToUpper(big2), 0o644)
	rc, err = s.Open(ctx, tg2, big2E, 0)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, repo.ErrHashMismatch) || !errors.Is(err, source.ErrUnverified) {
		t.Fatalf("tampered object over http: %v", err)
	}
	// An oversized object is refused from its Content-Length, before the body.
	os.WriteFile(obj, append(bytes.Clone(big2), big2...), 0o644)
	if _, err = s.Open(ctx, tg2, big2E, 0); !errors.Is(err, repo.ErrTooLarge) || !errors.Is(err, source.ErrUnverified) {
		t.Fatalf("oversized object over http: %v", err)
	}
}
