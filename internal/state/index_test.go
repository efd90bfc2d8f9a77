package state

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
)

func testIndex(n int) Index {
	v := source.Version{Ref: "v1", Commit: strings.Repeat("c", 40), Number: 3}
	var files []IndexEntry
	for i := range n {
		files = append(files, IndexEntry{Path: fmt.Sprintf("d%d/f %d.txt", i%7, i), FileState: FileState{
			SHA1: fmt.Sprintf("%040x", i), Mode: source.ModeExecutable, Size: int64(i), MTime: int64(i) * 1e9, Ino: uint64(i), Dev: 2049}})
	}
	files = append(files, IndexEntry{Path: "ünïcødé/файл", FileState: FileState{SHA1: strings.Repeat("a", 40), Mode: source.ModeSymlink, MTime: -5}})
	return NewIndex(&v, files)
}

func TestIndexRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fsys := fsx.OS{Root: dir}
	idx := testIndex(500)
	if err := WriteIndex(fsys, dir, idx); err != nil {
		t.Fatal(err)
	}
	got := ReadIndex(fsys, dir)
	if *got.Version != *idx.Version || !slices.Equal(got.Files, idx.Files) {
		t.Fatalf("round trip: %d files, version %v", len(got.Files), got.Version)
	}
	for _, e := range idx.Files {
		if st, ok := got.Lookup(e.Path); !ok || st != e.FileState {
			t.Fatalf("lookup %s: %v %v", e.Path, st, ok)
		}
	}
	if _, ok := got.Lookup("d0/nope"); ok {
		t.Fatal("lookup of a missing path")
	}
	// An empty index (no version, no files) is an index too.
	if err := WriteIndex(fsys, dir, Index{}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := ReadIndexFile(fsys, path.Join(dir, IndexFile)); err != nil || !got.IsZero() {
		t.Fatalf("empty index: %+v %v", got, err)
	}
}

// TestIndexReadsJSON: installed.json and previous.json written by earlier
// versions (one JSON object) are still read.
func TestIndexReadsJSON(t *testing.T) {
	dir := t.TempDir()
	fsys := fsx.OS{Root: dir}
	legacy := `{"version":{"ref":"v1","commit":"abc"},"files":{"b/x.py":{"sha1":"` + strings.Repeat("1", 40) + `","mode":33188,"size":3,"mtime_ns":7,"ino":9,"dev":1},"a.py":{"sha1":"` + strings.Repeat("2", 40) + `","mode":33261,"size":4}}}`
	os.WriteFile(path.Join(dir, IndexFile), []byte(legacy), 0o644)
	os.WriteFile(path.Join(dir, PreviousFile), []byte(legacy), 0o644)
	for _, idx := range []Index{ReadIndex(fsys, dir), *ReadPrevious(fsys, dir)} {
		if idx.Version.Commit != "abc" || len(idx.Files) != 2 || idx.Files[0].Path != "a.py" || idx.Files[1].Ino != 9 || idx.Files[1].MTime != 7 {
			t.Fatalf("legacy index: %+v", idx)
		}
	}
}

func TestIndexRefusesCorrupt(t *testing.T) {
	dir := t.TempDir()
	fsys := fsx.OS{Root: dir}
	sha := strings.Repeat("a", 40)
	for name, body := range map[string]string{
		"no header":     sha + " 100644 1 0 0 0 a\n",
		"unsorted":      indexMagic + "\n" + sha + " 100644 1 0 0 0 b\n" + sha + " 100644 1 0 0 0 a\n",
		"duplicate":     indexMagic + "\n" + sha + " 100644 1 0 0 0 a\n" + sha + " 100644 1 0 0 0 a\n",
		"traversal":     indexMagic + "\n" + sha + " 100644 1 0 0 0 ../x\n",
		"bad sha1":      indexMagic + "\n" + strings.Repeat("A", 40) + " 100644 1 0 0 0 a\n",
		"torn":          indexMagic + "\n" + sha + " 100644 1 0 0 0 a",
		"bad number":    indexMagic + "\n" + sha + " 100644 1x 0 0 0 a\n",
		"short":         indexMagic + "\n" + sha + " 100644 1 0\n",
		"legacy broken": `{"files":{"../x":{"sha1":"` + sha + `"}}}`,
	} {
		os.WriteFile(path.Join(dir, IndexFile), []byte(body), 0o644)
		if _, _, err := ReadIndexFile(fsys, path.Join(dir, IndexFile)); err == nil {
			t.Errorf("%s: read", name)
		}
		if idx := ReadIndex(fsys, dir); !idx.IsZero() {
			t.Errorf("%s: ReadIndex returned %+v", name, idx)
		}
	}
}

// TestIndexSize: the file stays well under the ~150 B a file of the JSON
// form.
func TestIndexSize(t *testing.T) {
	dir := t.TempDir()
	idx := testIndex(1000)
	if err := WriteIndex(fsx.OS{Root: dir}, dir, idx); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path.Join(dir, IndexFile))
	if per := fi.Size() / 1000; per > 100 {
		t.Fatalf("%d bytes a file", per)
	}
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(indexMagic + "\nversion {\"ref\":\"v\"}\n" + strings.Repeat("a", 40) + " 100644 1 2 3 4 a/b\n"))
	f.Add([]byte(`{"files":{"a":{"sha1":"` + strings.Repeat("a", 40) + `"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := decodeIndex(bufio.NewReaderSize(bytes.NewReader(b), 4096), bytes.Count(b, []byte{'\n'}))
		if err != nil || idx.Check() != nil {
			return
		}
		var files []IndexEntry
		for _, e := range idx.Files {
			files = append(files, e)
		}
		if !slices.IsSortedFunc(files, func(a, b IndexEntry) int { return strings.Compare(a.Path, b.Path) }) {
			t.Fatal("checked index not sorted")
		}
	})
}
