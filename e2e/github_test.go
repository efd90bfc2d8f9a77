package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

var (
	filesV1 = map[string]gitfixture.File{
		"main.py":              {Content: "print('v1')\n"},
		"lib/util.py":          {Content: "X = 1\n"},
		"lib/old.py":           {Content: "old\n"},
		"bin/run.sh":           {Content: "#!/bin/sh\necho v1\n", Executable: true},
		"link.py":              {Symlink: "main.py"},
		"empty.txt":            {Content: ""},
		"ünïcødé/naïve 文件.txt": {Content: "unicode\n"},
		"deep/a/b/c/d.txt":     {Content: "deep\n"},
	}
	filesV2 = map[string]gitfixture.File{
		"main.py":              {Content: "print('v2')\n"},
		"lib/util.py":          {Content: "X = 2\n"},
		"lib/new.py":           {Content: "new\n"},
		"bin/run.sh":           {Content: "#!/bin/sh\necho v2\n", Executable: true},
		"link.py":              {Symlink: "lib/util.py"},
		"empty.txt":            {Content: ""},
		"ünïcødé/naïve 文件.txt": {Content: "unicode\n"},
		"deep/a/b/c/d.txt":     {Content: "deep\n"},
	}
)

type env struct {
	gh     *fakegithub.Server
	repo   *gitfixture.Repo
	target string
	cfg    map[string]any
}

func newEnv(t testing.TB) *env {
	gh := fakegithub.New(t)
	repo := gitfixture.New(t)
	gh.AddRepo("acme", "app", repo.Dir)
	target := t.TempDir()
	return &env{gh: gh, repo: repo, target: target, cfg: map[string]any{
		"owner": "acme", "repo": "app", "api_url": gh.API.URL, "raw_url": gh.Raw.URL,
		"backoff_sec": 0.01, "max_backoff_sec": 0.05,
	}}
}

func (e *env) config(t testing.TB, extra map[string]any) string {
	kv := map[string]any{}
	for k, v := range e.cfg {
		kv[k] = v
	}
	for k, v := range extra {
		kv[k] = v
	}
	return writeConfig(t, e.target, "ota_config.json", kv)
}

type checkJSON struct {
	UpdateAvailable bool `json:"update_available"`
	Current         *struct{ Ref, Commit string }
	Target          struct{ Ref, Commit string }
	Add, Modify     []string
	Delete          []string
	DownloadBytes   int64 `json:"download_bytes"`
	DownloadFiles   int   `json:"download_files"`
}

type updateJSON struct {
	Updated         bool `json:"updated"`
	Current         struct{ Ref, Commit string }
	FilesDownloaded int   `json:"files_downloaded"`
	BytesDownloaded int64 `json:"bytes_downloaded"`
}

// TestDeveloperChannel: fresh install, check, update with every kind of
// change, then a no-op check that costs one request answered 304.
func TestDeveloperChannel(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", filesV1)
	os.WriteFile(filepath.Join(e.target, "user.db"), []byte("local data"), 0o600)
	cfg := e.config(t, map[string]any{"channel": "developer"})

	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.Current.Commit != c1 || up.Current.Ref != "main" || up.FilesDownloaded != len(filesV1) {
		t.Fatalf("install: %+v", up)
	}
	local := treesnap.Snap{"user.db": "file:0:local data"}
	if d := treesnap.Diff(treesnap.Merge(expect(filesV1), local), snap(t, e.target)); d != nil {
		t.Fatalf("after install: %v", d)
	}
	b, _ := os.ReadFile(filepath.Join(e.target, "version.json"))
	if string(b) != `{"ref": "main", "commit": "`+c1+`"}` {
		t.Fatalf("version.json = %s", b)
	}

	c2 := e.repo.Commit("v2", filesV2)
	var ck checkJSON
	okJSON(t, cfg, nil, &ck, "check")
	if !ck.UpdateAvailable || ck.Target.Commit != c2 || ck.Current.Commit != c1 ||
		strings.Join(ck.Add, ",") != "lib/new.py" || strings.Join(ck.Delete, ",") != "lib/old.py" ||
		strings.Join(ck.Modify, ",") != "bin/run.sh,lib/util.py,link.py,main.py" {
		t.Fatalf("check: %+v", ck)
	}
	e.gh.ResetRequests()
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.FilesDownloaded != 5 {
		t.Fatalf("update: %+v", up)
	}
	api := 0
	for _, r := range e.gh.Requests() {
		if r.Server == "raw" && !strings.Contains(r.Path, c2) {
			t.Errorf("file fetched by something other than the resolved commit: %s", r.Path)
		}
		if r.Server == "api" {
			api++
		}
	}
	if api != 2 {
		t.Errorf("update made %d API requests, want 2 (commit, tree): %v", api, e.gh.Requests())
	}
	if d := treesnap.Diff(treesnap.Merge(expect(filesV2), local), snap(t, e.target)); d != nil {
		t.Fatalf("after update: %v", d)
	}

	e.gh.ResetRequests()
	okJSON(t, cfg, nil, &ck, "check") // timed by BenchmarkNoopCheck
	reqs := e.gh.Requests()
	if ck.UpdateAvailable || len(reqs) != 1 || reqs[0].Status != 304 {
		t.Fatalf("no-op check: %+v, requests %v", ck, reqs)
	}
	t.Logf("MEASURE no-op check: %d request (%s), %d body bytes", len(reqs), reqs[0], reqs[0].Bytes)

	r := ota(t, cfg, nil, "update")
	if r.code != 0 || !strings.Contains(r.stdout, "Already up to date") {
		t.Fatalf("up-to-date update: %v", r)
	}
	var st struct {
		Current, Previous *struct{ Ref, Commit string }
		Pending           bool
	}
	okJSON(t, cfg, nil, &st, "status")
	if st.Current.Commit != c2 || st.Previous.Commit != c1 || st.Pending {
		t.Fatalf("status: %+v", st)
	}
	okJSON(t, cfg, nil, &up, "rollback")
	if d := treesnap.Diff(treesnap.Merge(expect(filesV1), local), snap(t, e.target)); d != nil {
		t.Fatalf("after rollback: %v", d)
	}
}

// TestStableAndPins: latest release, a pinned tag and a pinned commit, with
// TOML and YAML configs.
func TestStableAndPins(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", filesV1)
	e.repo.AnnotatedTag("v1.0", c1, "release 1")
	c2 := e.repo.Commit("v2", filesV2)
	e.repo.Tag("v2.0", c2)
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0"})
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0", Prerelease: true})

	cfgPath := writeConfig(t, e.target, "ota.toml", merge(e.cfg, map[string]any{"channel": "stable"}))
	var up updateJSON
	okJSON(t, cfgPath, nil, &up, "update")
	if up.Current.Ref != "v1.0" || up.Current.Commit != c1 {
		t.Fatalf("stable (prerelease v2.0 must be skipped): %+v", up)
	}
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0"})
	okJSON(t, cfgPath, nil, &up, "update")
	if up.Current.Ref != "v2.0" || up.Current.Commit != c2 {
		t.Fatalf("stable after release: %+v", up)
	}
	os.Remove(cfgPath)

	yaml := filepath.Join(e.target, "ota.yaml")
	os.WriteFile(yaml, []byte("owner: acme\nrepo: app\napi_url: "+e.gh.API.URL+"\nraw_url: "+e.gh.Raw.URL+"\ntag: v1.0\n"), 0o644)
	okJSON(t, yaml, nil, &up, "update")
	if up.Current.Ref != "v1.0" || up.Current.Commit != c1 {
		t.Fatalf("pinned tag: %+v", up)
	}
	os.Remove(yaml)
	cfg := e.config(t, map[string]any{"commit": c2})
	okJSON(t, cfg, nil, &up, "update")
	if up.Current.Commit != c2 {
		t.Fatalf("pinned commit: %+v", up)
	}
	if d := treesnap.Diff(expect(filesV2), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestPrivateRepoToken: without a token the update fails with the network
// exit code and changes nothing; OTA_TOKEN makes it work.
func TestPrivateRepoToken(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	e.gh.SetPrivate("acme", "app", "s3cret")
	cfg := e.config(t, map[string]any{"channel": "developer"})
	before := rawSnap(t, e.target)
	r := ota(t, cfg, nil, "update")
	if r.code != 3 || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("no token: %v", r)
	}
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("failed update changed the folder: %v", d)
	}
	r = ota(t, cfg, []string{"OTA_TOKEN=s3cret"}, "update", "--debug")
	if r.code != 0 {
		t.Fatalf("with token: %v", r)
	}
	if strings.Contains(r.stderr+r.stdout, "s3cret") {
		t.Fatal("the token was printed")
	}
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}

// TestTruncatedTreeIsCompleted: a tree GitHub truncates is completed by
// walking subtrees, never treated as complete.
func TestTruncatedTreeIsCompleted(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	e.gh.SetKnobs(fakegithub.Knobs{TruncateTreesAt: 3})
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}

// TestBadInput: every bad server answer gives a clear error with the right
// exit code, and the folder stays byte-for-byte as it was.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	e.repo.Commit("v2", filesV2)
	size := int64(5)
	cases := []struct {
		name  string
		setup func()
		extra map[string]any
		code  int
		msg   string
	}{
		{"traversal path", func() {
			e.gh.SetKnobs(fakegithub.Knobs{ExtraTreeEntries: []fakegithub.TreeItem{{Path: "../evil", Mode: "100644", Type: "blob", SHA: strings.Repeat("a", 40), Size: &size}}})
		}, nil, 4, "evil"},
		{"absolute path", func() {
			e.gh.SetKnobs(fakegithub.Knobs{ExtraTreeEntries: []fakegithub.TreeItem{{Path: "/etc/passwd", Mode: "100644", Type: "blob", SHA: strings.Repeat("a", 40), Size: &size}}})
		}, nil, 4, "passwd"},
		{"oversize tree by header", nil, map[string]any{"max_tree_size_kb": 1}, 3, "limit"},
		{"oversize tree by body", func() { e.gh.SetKnobs(fakegithub.Knobs{HideLength: true}) }, map[string]any{"max_tree_size_kb": 1}, 3, "limit"},
		{"too many files", nil, map[string]any{"max_tree_files": 3}, 3, "too many files"},
		{"corrupt file", func() {
			e.gh.Inject(fakegithub.Fault{Server: "raw", PathContains: "main.py", Kind: fakegithub.Corrupt})
		}, nil, 4, "main.py"},
		{"server error mid-download", func() {
			e.gh.Inject(fakegithub.Fault{Server: "raw", PathContains: "util.py", Kind: fakegithub.FailAfter, N: 0})
		}, nil, 3, "util.py"},
		{"endless download", func() {
			e.gh.Inject(fakegithub.Fault{Server: "raw", PathContains: "main.py", Kind: fakegithub.StreamForever})
		}, nil, 3, "main.py"},
		{"rate limited 403", func() {
			e.gh.Inject(fakegithub.Fault{Server: "api", Kind: fakegithub.RateLimit403, Reset: time.Now().Add(time.Hour)})
		}, nil, 3, "rate limit"},
		{"rate limited 429", func() {
			e.gh.Inject(fakegithub.Fault{Server: "api", Kind: fakegithub.RateLimit429, RetryAfter: 3600})
		}, nil, 3, "rate limit"},
		{"server error 500", func() { e.gh.Inject(fakegithub.Fault{Server: "api", Kind: fakegithub.Status500}) }, nil, 3, "500"},
		{"bad config value", nil, map[string]any{"chunk": "big"}, 2, `"chunk"`},
		{"not enough free space", nil, map[string]any{"min_free_storage": int64(1) << 60}, 5, "free some space"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.gh.ClearFaults()
			e.gh.SetKnobs(fakegithub.Knobs{})
			// Verified files staged by an earlier failed run are reused
			// (that is resume across runs); start each case without them.
			os.RemoveAll(filepath.Join(e.target, ".ota_stage"))
			if c.setup != nil {
				c.setup()
			}
			cfg := e.config(t, merge(map[string]any{"channel": "developer"}, c.extra))
			before := rawSnap(t, e.target)
			r := ota(t, cfg, nil, "update")
			if r.code != c.code || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(c.msg)) {
				t.Fatalf("want exit %d mentioning %q: %v", c.code, c.msg, r)
			}
			if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
				t.Fatalf("the folder changed: %v", d)
			}
		})
	}
	// After the faults clear, the update goes through.
	e.gh.ClearFaults()
	e.gh.SetKnobs(fakegithub.Knobs{})
	cfg = e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if d := treesnap.Diff(expect(filesV2), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}

// TestProgressBar: --progress always draws bytes, files, rate and ETA on
// stderr; by default (not a terminal) nothing is drawn.
func TestProgressBar(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	r := ota(t, cfg, nil, "update", "--progress", "always")
	if r.code != 0 || !strings.Contains(r.stderr, "downloading") || !strings.Contains(r.stderr, "files") {
		t.Fatalf("no progress bar: %v", r)
	}
	e.repo.Commit("v2", filesV2)
	r = ota(t, cfg, nil, "update")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("progress drawn when stderr is not a terminal: %v", r)
	}
}

// TestResumeMidDownload: a connection cut mid-file is resumed with a Range
// request, so finished bytes are not downloaded again.
func TestResumeMidDownload(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	e.repo.Commit("v1", map[string]gitfixture.File{"big.bin": {Content: big}})
	e.gh.Inject(fakegithub.Fault{Server: "raw", PathContains: "big.bin", Kind: fakegithub.FailAfter, N: 600 << 10, Times: 1})
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	var raw []fakegithub.Request
	var sent int64
	for _, r := range e.gh.Requests() {
		if r.Server == "raw" {
			raw = append(raw, r)
			sent += r.Bytes
		}
	}
	if len(raw) != 2 || raw[1].Range != "bytes=614400-" || sent != int64(len(big)) {
		t.Fatalf("resume: %v (sent %d of %d)", raw, sent, len(big))
	}
	t.Logf("MEASURE resume: %d bytes sent for a %d-byte file cut at 600 KiB", sent, len(big))
}
