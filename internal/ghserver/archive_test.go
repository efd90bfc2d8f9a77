package ghserver

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

// TestArchiveStreamed: the tarball is streamed as codeload does (no
// Content-Length, so the first bytes leave before the archive is complete)
// and is a complete gzip tar of the commit.
func TestArchiveStreamed(t *testing.T) {
	r := gitfixture.New(t)
	sha := r.Commit("v1", map[string]gitfixture.File{"a.txt": {Content: "a\n"}, "d/b.txt": {Content: "b\n"}})
	s := Start(t.TempDir())
	defer s.Close()
	s.AddRepo("o", "r", r.Dir)
	resp, err := http.Get(s.API.URL + "/repos/o/r/tarball/" + sha) // follows the 302
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("status %d, Content-Length %d: want 200 and a streamed body", resp.StatusCode, resp.ContentLength)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			got[h.Name] = true
		}
	}
	if _, err := io.ReadAll(zr); err != nil { // gzip trailer checked
		t.Fatal(err)
	}
	pre := "o-r-" + sha[:7] + "/"
	if len(got) != 2 || !got[pre+"a.txt"] || !got[pre+"d/b.txt"] {
		t.Fatalf("archive files %v", got)
	}
}
