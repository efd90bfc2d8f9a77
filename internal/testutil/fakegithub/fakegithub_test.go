package fakegithub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

func fetch(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestFakeServesRepo(t *testing.T) {
	r := gitfixture.New(t)
	c := r.Commit("v1", map[string]gitfixture.File{"a/b.txt": {Content: "hello"}})
	s := New(t)
	s.AddRepo("o", "r", r.Dir)
	rel := s.AddRelease("o", "r", Release{TagName: "v1", Assets: []Asset{{Name: "manifest.json", Data: []byte("{}")}}})
	r.Tag("v1", c)
	api := s.API.URL + "/repos/o/r"

	// ETag → 304, rate limit counts down, unauthenticated 304 still counts.
	resp, body := fetch(t, api+"/commits/main", map[string]string{"Accept": "application/vnd.github.sha"})
	if string(body) != c || resp.Header.Get("ETag") == "" {
		t.Fatalf("commits: %q", body)
	}
	rem1, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	resp, _ = fetch(t, api+"/commits/main", map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp.StatusCode != 200 {
		t.Fatalf("JSON and sha representations must have different ETags, got %d", resp.StatusCode)
	}
	if r2, _ := fetch(t, api+"/commits/main", map[string]string{"Accept": "application/vnd.github.sha", "If-None-Match": `"x", ` + resp.Header.Get("ETag")}); r2.StatusCode != 200 {
		t.Fatalf("JSON ETag matched the sha representation: %d", r2.StatusCode)
	}
	resp, _ = fetch(t, api+"/commits/main", map[string]string{"Accept": "application/vnd.github.sha"})
	resp, _ = fetch(t, api+"/commits/main", map[string]string{"Accept": "application/vnd.github.sha", "If-None-Match": resp.Header.Get("ETag")})
	rem2, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	if resp.StatusCode != http.StatusNotModified || rem2 >= rem1 {
		t.Fatalf("304 %d, remaining %d → %d", resp.StatusCode, rem1, rem2)
	}

	// Blob as JSON and raw.
	sha := r.LsTree(c)[0].SHA
	_, body = fetch(t, api+"/git/blobs/"+sha, nil)
	var blob struct{ Content string }
	json.Unmarshal(body, &blob)
	if dec, _ := base64.StdEncoding.DecodeString(blob.Content); string(dec) != "hello" {
		t.Fatalf("blob JSON %s", body)
	}
	if _, body = fetch(t, api+"/git/blobs/"+sha, map[string]string{"Accept": "application/vnd.github.raw+json"}); string(body) != "hello" {
		t.Fatalf("raw blob %q", body)
	}
	// Release by tag, raw by ref and by commit with Range.
	if _, body = fetch(t, api+"/releases/tags/v1", nil); !strings.Contains(string(body), `"tag_name":"v1"`) {
		t.Fatalf("release %s", body)
	}
	for _, ref := range []string{c, "main", "v1"} {
		if _, body = fetch(t, s.Raw.URL+"/o/r/"+ref+"/a/b.txt", map[string]string{"Range": "bytes=1-"}); string(body) != "ello" {
			t.Fatalf("raw %s: %q", ref, body)
		}
	}

	// Asset download: 302 from the API host to the raw host; the token is
	// scoped to the API host and must not follow (same IP, other port).
	cl := httpx.New(httpx.Options{Attempts: 1, Token: "tok", TokenHosts: []string{strings.TrimPrefix(s.API.URL, "http://")}})
	s.ResetRequests()
	req, _ := http.NewRequest(http.MethodGet, api+"/releases/assets/"+strconv.FormatInt(rel.Assets[0].ID, 10), nil)
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := cl.Do(context.Background(), req, 1024)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	log := s.Requests()
	if string(body) != "{}" || len(log) != 2 || !log[0].Auth || log[1].Auth || log[1].Server != "raw" {
		t.Fatalf("asset redirect: %q %v", body, log)
	}

	// LieLength: the client reads only the declared bytes.
	s.Inject(Fault{Server: "raw", Kind: LieLength, N: 2, Times: 1})
	if _, body = fetch(t, s.Raw.URL+"/o/r/"+c+"/a/b.txt", nil); string(body) != "he" {
		t.Fatalf("lie: %q", body)
	}
}
