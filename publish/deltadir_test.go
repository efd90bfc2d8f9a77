package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

func lines(version, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if version == 2 && i%300 == 0 {
			b.WriteString("changed line\n")
			continue
		}
		b.WriteString("an unchanged line of text that repeats with its number ")
		b.WriteString(strings.Repeat("x", i%17))
		b.WriteString("\n")
	}
	return b.String()
}

// The seed format's .deltas/ must be what the original client reads: v1
// patches (OTADELTA, version 1) named <path with / as _>.delta, which
// reproduce the new file.
func TestSeedDeltas(t *testing.T) {
	r := gitfixture.New(t)
	old := lines(1, 3000)
	c1 := r.Commit("v1", map[string]gitfixture.File{"lib/app.py": {Content: old}, "tiny.py": {Content: "x = 1\n"}})
	r.Tag("v1", c1)
	neu := lines(2, 3000)
	c2 := r.Commit("v2", map[string]gitfixture.File{"lib/app.py": {Content: neu}, "tiny.py": {Content: "x = 2\n"}})
	r.Tag("v2", c2)
	out := t.TempDir()
	res, err := Run(context.Background(), Options{Src: r.Dir, Ref: "v2", Out: out, Format: "seed", DeltaFrom: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deltas != 1 {
		t.Fatalf("deltas %d, want 1 (tiny.py is below the minimum size)", res.Deltas)
	}
	patch, err := os.ReadFile(filepath.Join(out, ".deltas", "lib_app.py.delta"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(patch, []byte("OTADELTA\x01")) {
		t.Fatalf("not a v1 patch: % x", patch[:9])
	}
	var got bytes.Buffer
	if _, err := delta.Apply(strings.NewReader(old), int64(len(old)), bytes.NewReader(patch), &got, delta.ApplyOptions{}); err != nil || got.String() != neu {
		t.Fatalf("seed delta does not reproduce the new file: %v", err)
	}
	var man map[string]any
	b, _ := os.ReadFile(filepath.Join(out, ".deltas", "delta_manifest.json"))
	if json.Unmarshal(b, &man) != nil || man["deltas"].(float64) != 1 {
		t.Fatalf("delta_manifest.json: %s", b)
	}
}

// NamingSHA: deltas named by blob ids; stale ones (to blobs no longer in
// the tree) are removed on the next build.
func TestDeltaDirSHANaming(t *testing.T) {
	r := gitfixture.New(t)
	c1 := r.Commit("v1", map[string]gitfixture.File{"a.txt": {Content: lines(1, 2000)}})
	r.Tag("v1", c1)
	c2 := r.Commit("v2", map[string]gitfixture.File{"a.txt": {Content: lines(2, 2000)}})
	r.Tag("v2", c2)
	out := t.TempDir()
	res, err := BuildDeltaDir(context.Background(), DeltaDirOptions{Repo: r.Dir, From: "v1", To: "v2", Out: out})
	if err != nil || res.Deltas != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	name := res.Names[0]
	if len(name) != 40+1+40+len(".delta") {
		t.Fatalf("name %s", name)
	}
	c3 := r.Commit("v3", map[string]gitfixture.File{"a.txt": {Content: lines(1, 2000) + "more\n"}})
	res, err = BuildDeltaDir(context.Background(), DeltaDirOptions{Repo: r.Dir, From: "v2", To: c3, Out: out})
	if err != nil || res.Removed != 1 {
		t.Fatalf("stale delta not removed: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, name)); err == nil {
		t.Fatal("stale delta kept")
	}
}
