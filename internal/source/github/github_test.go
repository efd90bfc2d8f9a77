package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/sourcetest"
	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

const owner, repoName = "acme", "app"

var ctx = context.Background()

// sleeps records injected sleeps so retries cost no wall time.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

type env struct {
	fg   *fakegithub.Server
	repo *gitfixture.Repo
	sl   *sleeps
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{fg: fakegithub.New(t), repo: gitfixture.New(t), sl: &sleeps{}}
	e.fg.AddRepo(owner, repoName, e.repo.Dir)
	return e
}

// src builds a Source against the fake; cfg fields left empty get defaults.
func (e *env) src(t *testing.T, cfg Config) *Source {
	t.Helper()
	cfg.Owner, cfg.Repo = owner, repoName
	cfg.APIURL, cfg.RawURL = e.fg.API.URL, e.fg.Raw.URL
	cfg.HTTP.Sleep = e.sl.sleep
	if cfg.HTTP.Attempts == 0 {
		cfg.HTTP.Attempts = 3
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var v1 = map[string]gitfixture.File{
	"main.py":      {Content: "print('v1')\n"},
	"lib/util.py":  {Content: "X = 1\n"},
	"bin/run":      {Content: "#!/bin/sh\n", Executable: true},
	"lib/link":     {Symlink: "util.py"},
	"empty":        {},
	"dätä/ü ß.txt": {Content: "ü"},
}

var v2 = map[string]gitfixture.File{
	"main.py":     {Content: "print('v2')\n"},
	"lib/util.py": {Content: "X = 2\n"},
}

func TestResolve(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", v1)
	e.repo.Tag("light", c1)
	e.repo.AnnotatedTag("v1.0", c1, "release 1")
	e.repo.AnnotatedTag("nested", "v1.0", "tag of a tag")
	c2 := e.repo.Commit("v2", v2)
	e.repo.AnnotatedTag("v2.0", c2, "release 2")
	e.repo.Branch("feature/x", c1)
	e.repo.Tag("pre", c2)
	e.fg.AddRelease(owner, repoName, fakegithub.Release{TagName: "v1.0"})
	e.fg.AddRelease(owner, repoName, fakegithub.Release{TagName: "v2.0"})
	e.fg.AddRelease(owner, repoName, fakegithub.Release{TagName: "pre", Prerelease: true})

	tests := []struct {
		name     string
		cfg      Config
		ref      string
		commit   string
		requests int
	}{
		{"pinned commit", Config{Commit: strings.ToUpper(c1)}, c1, c1, 0},
		{"lightweight tag", Config{Tag: "light"}, "light", c1, 1},
		{"annotated tag", Config{Tag: "v1.0"}, "v1.0", c1, 2},
		{"nested annotated tag", Config{Tag: "nested"}, "nested", c1, 3},
		{"developer main", Config{Channel: ChannelDeveloper}, "main", c2, 1},
		{"developer slash branch", Config{Channel: ChannelDeveloper, Branch: "feature/x"}, "feature/x", c1, 1},
		{"stable skips prerelease", Config{Channel: ChannelStable}, "v2.0", c2, 3},
		{"tag pin beats channel", Config{Channel: ChannelDeveloper, Tag: "v1.0"}, "v1.0", c1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fg.ResetRequests()
			got, err := e.src(t, tt.cfg).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != tt.ref || got.Commit != tt.commit {
				t.Fatalf("got %+v, want ref %s commit %s", got.Version, tt.ref, tt.commit)
			}
			if n := len(e.fg.Requests()); n != tt.requests {
				t.Fatalf("%d requests, want %d: %v", n, tt.requests, e.fg.Requests())
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", v1)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no release", Config{Channel: ChannelStable}, "no published release"},
		{"missing tag", Config{Tag: "nope"}, `tag "nope" not found`},
		{"missing branch", Config{Channel: ChannelDeveloper, Branch: "nope"}, `branch "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fg.ResetRequests()
			_, err := e.src(t, tt.cfg).Resolve(ctx)
			if !errors.Is(err, source.ErrNotFound) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want ErrNotFound %q, got %v", tt.want, err)
			}
			if n := len(e.fg.Requests()); n != 1 {
				t.Fatalf("a not-found answer was retried: %v", e.fg.Requests())
			}
		})
	}
	for _, cfg := range []Config{{Owner: "", Repo: "x"}, {Owner: "a/b", Repo: "x"}, {Owner: "a", Repo: "b", Channel: "beta"},
		{Owner: "a", Repo: "b", Commit: "abc"}, {Owner: "a", Repo: "b", Branch: "a..b"}, {Owner: "a", Repo: "b", APIURL: "ftp://x"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", cfg)
		}
	}
}

// mapCache stands in for the persisted state cache.
type mapCache struct {
	mu sync.Mutex
	m  map[string][2]string
}

func (c *mapCache) Get(k string) (string, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v[0], []byte(v[1]), ok
}

func (c *mapCache) Put(k, etag string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = [2]string{etag, string(b)}
}

func TestNoopCheckIsOne304(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", v1)
	e.repo.AnnotatedTag("v1.0", c1, "r1")
	e.fg.AddRelease(owner, repoName, fakegithub.Release{TagName: "v1.0"})
	e.fg.SetPrivate(owner, repoName, "tok")
	for _, cfg := range []Config{{Channel: ChannelStable}, {Channel: ChannelDeveloper}, {Tag: "v1.0"}} {
		name := cfg.Channel + cfg.Tag
		t.Run(name, func(t *testing.T) {
			cfg.Token = "tok"
			cfg.Cache = &mapCache{m: map[string][2]string{}}
			first, err := e.src(t, cfg).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Same client, then a fresh client sharing the persisted cache (a restart).
			for _, s := range []*Source{e.src(t, cfg), e.src(t, cfg)} {
				e.fg.ResetRequests()
				before := e.fg.RateRemaining()
				got, err := s.Resolve(ctx)
				if err != nil {
					t.Fatal(err)
				}
				reqs := e.fg.Requests()
				if got.Commit != first.Commit || len(reqs) != 1 || reqs[0].Status != 304 {
					t.Fatalf("no-op check: commit %s, requests %v", got.Commit, reqs)
				}
				if e.fg.RateRemaining() != before {
					t.Errorf("authenticated 304 consumed rate limit")
				}
			}
		})
	}
	// A new release is noticed.
	c2 := e.repo.Commit("v2", v2)
	e.repo.AnnotatedTag("v2.0", c2, "r2")
	e.fg.AddRelease(owner, repoName, fakegithub.Release{TagName: "v2.0"})
	s := e.src(t, Config{Token: "tok"})
	if got, err := s.Resolve(ctx); err != nil || got.Commit != c2 || got.Ref != "v2.0" {
		t.Fatalf("new release: %+v %v", got.Version, err)
	}
}

func TestTreeMatchesGit(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", v1)
	withSub := e.repo.AddSubmodule("vendor/sub", c1)
	s := e.src(t, Config{Channel: ChannelDeveloper})
	tgt, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ge := range e.repo.LsTree(withSub) {
		if ge.Type == "blob" {
			want = append(want, fmt.Sprintf("%s %o %d %s", ge.Path, ge.Mode, ge.Size, ge.SHA))
		}
	}
	var have []string
	for _, en := range got {
		have = append(have, fmt.Sprintf("%s %o %d %s", en.Path, en.Mode, en.Size, en.BlobSHA1))
	}
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tree:\n%s\nwant (git ls-tree, submodule skipped):\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

func TestTreeTruncatedIsCompleted(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{}
	for i := range 12 {
		files[fmt.Sprintf("d%d/sub/f%d.txt", i%3, i)] = gitfixture.File{Content: fmt.Sprint(i)}
	}
	files["top.txt"] = gitfixture.File{Content: "top"}
	c := e.repo.Commit("many", files)
	s := e.src(t, Config{Commit: c})
	tgt, _ := s.Resolve(ctx)
	full, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	e.fg.SetKnobs(fakegithub.Knobs{TruncateTreesAt: 4})
	e.fg.ResetRequests()
	walked, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(walked) != fmt.Sprint(full) || len(full) != 13 {
		t.Fatalf("walked tree differs:\n%v\nfull:\n%v", walked, full)
	}
	// 1 truncated recursive listing + root + 3 d* + 3 sub folders.
	if n := len(e.fg.Requests()); n != 8 {
		t.Fatalf("%d requests, want 8: %v", n, e.fg.Requests())
	}
	// A folder too big even without recursion is an error, never a silent cut.
	for _, r := range e.fg.Requests()[1:] {
		if strings.Contains(r.Path, "recursive") {
			t.Fatalf("walk used recursion: %s", r.Path)
		}
	}
}

func TestTreeLimitsAndBadPaths(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{}
	for i := range 40 {
		files[fmt.Sprintf("file-with-a-long-name-%02d.txt", i)] = gitfixture.File{Content: fmt.Sprint(i)}
	}
	c := e.repo.Commit("many", files)
	size := int64(1)
	sha := strings.Repeat("a", 40)
	bad := func(p string) []fakegithub.TreeItem {
		return []fakegithub.TreeItem{{Path: p, Mode: "100644", Type: "blob", SHA: sha, Size: &size}}
	}
	tests := []struct {
		name  string
		knobs fakegithub.Knobs
		cfg   Config
		is    error
		msg   string
	}{
		{"oversize by Content-Length", fakegithub.Knobs{}, Config{MaxTreeSizeKB: 2}, source.ErrTooLarge, "(limit: 2 KB)"},
		{"oversize by body", fakegithub.Knobs{HideLength: true}, Config{MaxTreeSizeKB: 2}, source.ErrTooLarge, "response too large: more than 2 KB"},
		{"too many files", fakegithub.Knobs{}, Config{MaxTreeFiles: 30}, source.ErrTooLarge, "tree contains too many files: 40 (limit: 30)"},
		{"dotdot", fakegithub.Knobs{ExtraTreeEntries: bad("../evil")}, Config{}, source.ErrBadData, `"../evil"`},
		{"inner dotdot", fakegithub.Knobs{ExtraTreeEntries: bad("a/../../evil")}, Config{}, source.ErrBadData, "a/../../evil"},
		{"absolute", fakegithub.Knobs{ExtraTreeEntries: bad("/etc/passwd")}, Config{}, source.ErrBadData, "/etc/passwd"},
		{"dot", fakegithub.Knobs{ExtraTreeEntries: bad("a/./b")}, Config{}, source.ErrBadData, "a/./b"},
		{"empty component", fakegithub.Knobs{ExtraTreeEntries: bad("a//b")}, Config{}, source.ErrBadData, "a//b"},
		{"backslash", fakegithub.Knobs{ExtraTreeEntries: bad(`a\..\b`)}, Config{}, source.ErrBadData, "backslash"},
		{"NUL", fakegithub.Knobs{ExtraTreeEntries: bad("a\x00b")}, Config{}, source.ErrBadData, "control character"},
		{"control", fakegithub.Knobs{ExtraTreeEntries: bad("a\nb")}, Config{}, source.ErrBadData, "control character"},
		{"bad mode", fakegithub.Knobs{ExtraTreeEntries: []fakegithub.TreeItem{{Path: "x", Mode: "100600", Type: "blob", SHA: sha, Size: &size}}}, Config{}, source.ErrBadData, "unsupported mode"},
		{"no size", fakegithub.Knobs{ExtraTreeEntries: []fakegithub.TreeItem{{Path: "x", Mode: "100644", Type: "blob", SHA: sha}}}, Config{}, source.ErrBadData, "size"},
		{"within limits", fakegithub.Knobs{}, Config{MaxTreeSizeKB: 64, MaxTreeFiles: 40}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fg.SetKnobs(tt.knobs)
			e.fg.ResetRequests()
			cfg := tt.cfg
			cfg.Commit = c
			s := e.src(t, cfg)
			tgt, _ := s.Resolve(ctx)
			entries, err := s.Tree(ctx, tgt)
			if tt.is == nil {
				if err != nil || len(entries) != 40 {
					t.Fatalf("%d entries, %v", len(entries), err)
				}
				return
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("want %v containing %q, got %v", tt.is, tt.msg, err)
			}
			if n := len(e.fg.Requests()); n != 1 {
				t.Fatalf("limit errors must not be retried: %v", e.fg.Requests())
			}
		})
	}
}

func TestOpenByCommitWithRange(t *testing.T) {
	e := newEnv(t)
	content := strings.Repeat("0123456789", 1000)
	c1 := e.repo.Commit("v1", map[string]gitfixture.File{"dir/a file.bin": {Content: content}})
	s := e.src(t, Config{Channel: ChannelDeveloper})
	tgt, err := s.Resolve(ctx)
	if err != nil || tgt.Commit != c1 {
		t.Fatal(tgt, err)
	}
	entries, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	ent := entries[0]
	// The branch moves on mid-update; Open must still serve the resolved commit.
	e.repo.Commit("v2", map[string]gitfixture.File{"dir/a file.bin": {Content: "changed"}})

	read := func(off int64) (string, error) {
		rc, err := s.Open(ctx, tgt, ent, off)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	e.fg.ResetRequests()
	if got, err := read(0); err != nil || got != content {
		t.Fatalf("full read: %d bytes, %v", len(got), err)
	}
	if r := e.fg.Requests()[0]; r.Server != "raw" || !strings.Contains(r.Path, "/"+c1+"/dir/a%20file.bin") {
		t.Fatalf("not fetched by commit from the raw host: %v", r)
	}
	// A download cut mid-body resumes with Range from where it stopped.
	e.fg.Inject(fakegithub.Fault{Server: "raw", Kind: fakegithub.FailAfter, N: 4000, Times: 1})
	got, err := read(0)
	if err == nil {
		t.Fatal("cut download reported success")
	}
	rest, err := read(int64(len(got)))
	if err != nil || got+rest != content {
		t.Fatalf("resume at %d: %v", len(got), err)
	}
	if last := e.fg.Requests()[len(e.fg.Requests())-1]; last.Status != 206 || last.Range == "" {
		t.Fatalf("resume was not a 206 range request: %v", last)
	}
	e.fg.Inject(fakegithub.Fault{Server: "raw", Kind: fakegithub.IgnoreRange, Times: 1})
	if _, err := read(10); !errors.Is(err, source.ErrNoRange) {
		t.Fatalf("server ignoring Range: want ErrNoRange, got %v", err)
	}
	if got, err := read(ent.Size); err != nil || got != "" {
		t.Fatalf("offset at size: %q %v", got, err)
	}
	// A server streaming forever is cut off at the entry size.
	e.fg.Inject(fakegithub.Fault{Server: "raw", Kind: fakegithub.StreamForever, Times: 1})
	if _, err := read(0); !errors.Is(err, source.ErrTooLarge) {
		t.Fatalf("endless body: want ErrTooLarge, got %v", err)
	}
}

func TestDeltaMissingIsFast(t *testing.T) {
	e := newEnv(t)
	c := e.repo.Commit("v1", v1)
	s := e.src(t, Config{Commit: c})
	tgt, _ := s.Resolve(ctx)
	e.fg.ResetRequests()
	ent := source.Entry{Path: "main.py", Size: 12, BlobSHA1: sourcetest.BlobSHA1([]byte("print('v1')\n"))}
	_, err := s.Delta(ctx, tgt, ent, strings.Repeat("b", 40))
	if !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if n := len(e.fg.Requests()); n != 1 || len(e.sl.d) != 0 {
		t.Fatalf("missing delta cost %d requests and %d sleeps", n, len(e.sl.d))
	}
}

func TestRateLimited(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", v1)
	far := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name     string
		fault    fakegithub.Fault
		ok       bool
		requests int
	}{
		{"403 reset far fails with time", fakegithub.Fault{Kind: fakegithub.RateLimit403, Reset: far, Times: 1}, false, 1},
		{"403 retry-after short waits", fakegithub.Fault{Kind: fakegithub.RateLimit403, RetryAfter: 2, Times: 1}, true, 2},
		{"429 retry-after short waits", fakegithub.Fault{Kind: fakegithub.RateLimit429, RetryAfter: 1, Times: 1}, true, 2},
		{"429 retry-after long fails", fakegithub.Fault{Kind: fakegithub.RateLimit429, RetryAfter: 7200, Times: 1}, false, 1},
		{"500 then ok", fakegithub.Fault{Kind: fakegithub.Status500, Times: 1}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fg.ClearFaults()
			e.fg.Inject(tt.fault)
			e.fg.ResetRequests()
			s := e.src(t, Config{Channel: ChannelDeveloper, HTTP: httpx.Options{MaxBackoff: time.Minute}})
			_, err := s.Resolve(ctx)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok {
				var rl *httpx.RateLimitError
				if !errors.Is(err, source.ErrRateLimit) || !errors.As(err, &rl) || rl.Until.Before(time.Now().Add(59*time.Minute)) {
					t.Fatalf("want rate-limit error with a retry time ~1h ahead, got %v", err)
				}
			}
			if n := len(e.fg.Requests()); n != tt.requests {
				t.Fatalf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestPrivateRepo(t *testing.T) {
	e := newEnv(t)
	c := e.repo.Commit("v1", v1)
	e.fg.SetPrivate(owner, repoName, "s3cret")
	if _, err := e.src(t, Config{Channel: ChannelDeveloper}).Resolve(ctx); !errors.Is(err, source.ErrNotFound) ||
		!strings.Contains(err.Error(), "private") {
		t.Fatalf("no token: want not-found with a token hint, got %v", err)
	}
	if _, err := e.src(t, Config{Channel: ChannelDeveloper, Token: "wrong"}).Resolve(ctx); !errors.Is(err, source.ErrAuth) {
		t.Fatalf("wrong token: want ErrAuth, got %v", err)
	}
	s := e.src(t, Config{Channel: ChannelDeveloper, Token: "s3cret"})
	tgt, err := s.Resolve(ctx)
	if err != nil || tgt.Commit != c {
		t.Fatal(tgt, err)
	}
	entries, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, tgt, entries[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	for _, r := range e.fg.Requests() {
		if r.Status == 200 && !r.Auth {
			t.Errorf("request without token succeeded on a private repo: %v", r)
		}
	}
}

func TestValidPath(t *testing.T) {
	for _, p := range []string{"a", "a/b.c", "...", ".hidden/x", "dätä/ü ß.txt", "a b"} {
		if err := validPath(p); err != nil {
			t.Errorf("%q rejected: %v", p, err)
		}
	}
	for _, p := range []string{"", "/a", "a/", "./a", "a/.", "..", "a/../b", "a//b", `a\b`, "a\x00", "a\tb", "a\x7f", string([]byte{0xff})} {
		if err := validPath(p); !errors.Is(err, source.ErrBadData) {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, fx sourcetest.Fixture) source.Source {
		e := newEnv(t)
		files := map[string]gitfixture.File{}
		for p, f := range fx.Files {
			switch f.Mode {
			case source.ModeSymlink:
				files[p] = gitfixture.File{Symlink: string(f.Data)}
			default:
				files[p] = gitfixture.File{Content: string(f.Data), Executable: f.Mode == source.ModeExecutable}
			}
		}
		for _, d := range fx.Deltas {
			to := sourcetest.BlobSHA1(fx.Files[d.Path].Data)
			files[DeltaDir+"/"+d.FromSHA1+"-"+to+".delta"] = gitfixture.File{Content: string(d.Data)}
		}
		e.repo.Commit("fixture", files)
		return e.src(t, Config{Channel: ChannelDeveloper})
	})
}

func TestRequestHeaders(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", v1)
	s := e.src(t, Config{Channel: ChannelDeveloper, Token: "tok", HTTP: httpx.Options{UserAgent: "ota-test/1"}})
	tgt, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, tgt, entries[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	reqs := e.fg.Requests()
	if len(reqs) != 3 {
		t.Fatalf("requests %v", reqs)
	}
	for _, r := range reqs {
		h := r.Header
		if h.Get("User-Agent") != "ota-test/1" || h.Get("Authorization") != "present" {
			t.Errorf("%v: headers %v", r, h)
		}
		if r.Server == "api" && (h.Get("X-GitHub-Api-Version") != "2022-11-28" || !strings.HasPrefix(h.Get("Accept"), "application/vnd.github")) {
			t.Errorf("%v: API headers %v", r, h)
		}
	}
	if reqs[0].Header.Get("Accept") != "application/vnd.github.sha" || !strings.Contains(reqs[1].Path, "recursive=1") {
		t.Errorf("unexpected request shapes: %v", reqs)
	}
}

func TestLyingServers(t *testing.T) {
	e := newEnv(t)
	c := e.repo.Commit("v1", v1)
	s := e.src(t, Config{Commit: c})
	tgt, _ := s.Resolve(ctx)
	// A tree answer whose Content-Length lies is cut at the declared length
	// and then fails to decode: bad data, never a partial tree.
	e.fg.Inject(fakegithub.Fault{Server: "api", Kind: fakegithub.LieLength, N: 100, Times: 1})
	if _, err := s.Tree(ctx, tgt); !errors.Is(err, source.ErrBadData) {
		t.Fatalf("lying tree: want ErrBadData, got %v", err)
	}
	entries, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt bytes pass through Open untouched; the caller's blob hash check catches them.
	var ent source.Entry
	for _, en := range entries {
		if en.Path == "main.py" {
			ent = en
		}
	}
	e.fg.Inject(fakegithub.Fault{Server: "raw", Kind: fakegithub.Corrupt, Times: 1})
	rc, err := s.Open(ctx, tgt, ent, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if int64(len(data)) != ent.Size || sourcetest.BlobSHA1(data) == ent.BlobSHA1 {
		t.Fatal("corruption fault did not corrupt")
	}
}

// TestTreeWalkBudgetMessage: max_tree_size_kb bounds every folder a
// truncated tree's walk lists together; running out midway is ErrTooLarge
// and the message says the limit is for the whole listing (a single 10 KB
// response "over a 15 KB limit" would read as a contradiction).
func TestTreeWalkBudgetMessage(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{}
	for i := range 150 {
		files[fmt.Sprintf("d%d/a-rather-long-file-name-%03d.txt", i%3, i)] = gitfixture.File{Content: fmt.Sprint(i)}
	}
	c := e.repo.Commit("many", files)
	e.fg.SetKnobs(fakegithub.Knobs{TruncateTreesAt: 4})
	s := e.src(t, Config{Commit: c})
	tgt, _ := s.Resolve(ctx)
	e.fg.ResetRequests()
	if _, err := s.Tree(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	reqs := e.fg.Requests() // truncated recursive, root, d0, d1, d2
	if len(reqs) != 5 {
		t.Fatalf("%d requests: %v", len(reqs), reqs)
	}
	root, folder := reqs[1].Bytes, reqs[2].Bytes
	limitKB := (root + folder + folder/2) / 1024 // room for root and d0, not d1
	if limitKB*1024 <= root+folder || limitKB*1024 >= root+2*folder {
		t.Fatalf("fixture: root %d, folder %d bytes leave no limit between two and three listings", root, folder)
	}
	s = e.src(t, Config{Commit: c, MaxTreeSizeKB: limitKB})
	_, err := s.Tree(ctx, tgt)
	if !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("(limit: %d KB for the whole listing", limitKB)) {
		t.Fatalf("want ErrTooLarge naming the limit for the whole listing, got %v", err)
	}
}
