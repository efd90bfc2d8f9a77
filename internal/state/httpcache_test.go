package state

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// A body of any size survives a restart (no cap turns a 304 into a 200), the
// index stays small, replaced bodies are removed, and a body file that does
// not hash to what the index says is a miss, never wrong bytes.
func TestHTTPCacheLargeBodies(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir())
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20/16) // 2 MiB, 8x the old cap
	c := OpenHTTPCache(fsx.OS{}, dir)
	c.Put("latest", `"a"`, big)
	c.Put("small", `"s"`, []byte("tiny"))
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = OpenHTTPCache(fsx.OS{}, dir)
	if etag, b, ok := c.Get("latest"); !ok || etag != `"a"` || !bytes.Equal(b, big) {
		t.Fatalf("large body after reopen: ok=%v etag=%q len=%d", ok, etag, len(b))
	}
	if etag, b, ok := c.Get("small"); !ok || etag != `"s"` || string(b) != "tiny" {
		t.Fatalf("small body after reopen: %v %q %q", ok, etag, b)
	}
	if fi, err := os.Stat(filepath.Join(dir, HTTPCacheFile)); err != nil || fi.Size() > 1024 {
		t.Fatalf("index %v: %v bytes", err, fi)
	}
	files := func() []string {
		ents, _ := os.ReadDir(filepath.Join(dir, HTTPCacheDir))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if n := files(); len(n) != 1 {
		t.Fatalf("body files %v", n)
	}
	big2 := append(bytes.Clone(big), 'x')
	c.Put("latest", `"b"`, big2)
	if _, b, ok := c.Get("latest"); !ok || !bytes.Equal(b, big2) {
		t.Fatal("unsaved body not returned")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	n := files()
	if len(n) != 1 || n[0] != sum(big2) {
		t.Fatalf("after replace, body files %v", n)
	}
	// A damaged body file is a miss.
	os.WriteFile(filepath.Join(dir, HTTPCacheDir, n[0]), big, 0o644)
	if _, _, ok := OpenHTTPCache(fsx.OS{}, dir).Get("latest"); ok {
		t.Fatal("damaged body file returned")
	}
}
