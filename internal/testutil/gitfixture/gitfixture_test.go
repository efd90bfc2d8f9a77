package gitfixture

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"testing"
)

func TestCommitAndTags(t *testing.T) {
	r := New(t)
	files := map[string]File{
		"main.py":       {Content: "print(1)\n"},
		"bin/run":       {Content: "#!/bin/sh\n", Executable: true},
		"lib/link":      {Symlink: "../main.py"},
		"empty":         {},
		"dätä/ファイル.txt": {Content: "ü"},
	}
	c1 := r.Commit("v1", files)
	c2 := r.Commit("v2", map[string]File{"only": {Content: "x"}})
	if c1 == c2 || len(c1) != 40 {
		t.Fatalf("commits %s %s", c1, c2)
	}
	want := map[string]uint32{"main.py": 0o100644, "bin/run": 0o100755, "lib/link": 0o120000, "empty": 0o100644, "dätä/ファイル.txt": 0o100644}
	got := r.LsTree(c1)
	if len(got) != len(want) {
		t.Fatalf("tree %+v", got)
	}
	for _, e := range got {
		if want[e.Path] != e.Mode {
			t.Errorf("%s mode %o", e.Path, e.Mode)
		}
		data := r.CatBlob(e.SHA)
		h := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
		if hex.EncodeToString(h[:]) != e.SHA || int64(len(data)) != e.Size {
			t.Errorf("%s: blob hash/size mismatch", e.Path)
		}
		if e.Path == "lib/link" && string(data) != "../main.py" {
			t.Errorf("symlink target %q", data)
		}
	}
	if len(r.LsTree(c2)) != 1 {
		t.Error("commit is not a full snapshot")
	}
	r.Tag("light", c1)
	inner := r.AnnotatedTag("inner", c1, "inner")
	outer := r.AnnotatedTag("outer", "inner", "outer")
	if r.Git("cat-file", "-t", outer) != "tag" || r.RevParse("outer^{commit}") != c1 || inner == outer {
		t.Fatal("nested annotated tag not created")
	}
	if r.Git("cat-file", "-p", outer)[:47] != "object "+inner {
		t.Fatal("outer tag does not point at inner tag object")
	}
	// Deterministic: same calls, same SHA.
	r2 := New(t)
	if r2.Commit("v1", files) != c1 {
		t.Error("commit SHAs are not deterministic")
	}
}
