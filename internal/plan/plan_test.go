package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

func entry(p, data string) source.Entry {
	return source.Entry{Path: p, Mode: source.ModeFile, Size: int64(len(data)), BlobSHA1: gitobj.BlobSHA1Bytes([]byte(data))}
}

// TestMakeRefusesBadTrees: duplicates and a path that is both a file and a
// folder are found in the sorted tree, also when entries sort between them
// ("a" < "a.txt" < "a/b").
func TestMakeRefusesBadTrees(t *testing.T) {
	dir := t.TempDir()
	for name, tree := range map[string][]source.Entry{
		"file and folder": {entry("a/b", "1"), entry("a.txt", "2"), entry("a", "3"), entry("a-b", "4")},
		"deep":            {entry("x/y", "1"), entry("x/y.z", "2"), entry("x/y/z/w", "3")},
		"twice":           {entry("b", "1"), entry("a", "2"), entry("b", "1")},
	} {
		if _, err := Make(Input{FS: fsx.OS{Root: dir}, TargetDir: dir, Tree: tree}); !errors.Is(err, source.ErrBadData) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestMakeMergesIndex: files of the index the tree no longer lists are
// deleted, unchanged ones are neither read nor changed, new ones added.
func TestMakeMergesIndex(t *testing.T) {
	dir := t.TempDir()
	fsys := fsx.OS{Root: dir}
	files := map[string]string{"a.py": "a", "d/gone.py": "g", "d/same.py": "s", "z.py": "z1", "local.db": "mine"}
	for p, data := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644)
	}
	var idx []state.IndexEntry
	for _, p := range []string{"z.py", "d/same.py", "d/gone.py", "a.py"} {
		e := entry(p, files[p])
		idx = append(idx, state.IndexEntry{Path: p, FileState: state.FileState{SHA1: e.BlobSHA1, Mode: e.Mode, Size: e.Size}})
	}
	tree := []source.Entry{entry("z.py", "z2"), entry("new/n.py", "n"), entry("d/same.py", "s"), entry("a.py", "a")}
	p, err := Make(Input{FS: fsys, TargetDir: dir, Tree: tree, Index: state.NewIndex(nil, idx)})
	if err != nil {
		t.Fatal(err)
	}
	paths := func(cs []Change) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Path)
		}
		return strings.Join(s, ",")
	}
	if paths(p.Add) != "new/n.py" || paths(p.Modify) != "z.py" || paths(p.Delete) != "d/gone.py" || p.Unchanged != 2 {
		t.Fatalf("add %s, modify %s, delete %s, unchanged %d", paths(p.Add), paths(p.Modify), paths(p.Delete), p.Unchanged)
	}
	if p.Tree[0].Path != "a.py" || p.Tree[3].Path != "z.py" {
		t.Fatalf("tree not sorted: %v", p.Tree)
	}
}
