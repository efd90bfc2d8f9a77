package fsx

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileStream(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.bin")
	os.WriteFile(name, []byte("old"), 0o600)
	boom := errors.New("boom")
	err := WriteFileStream(name, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(name); string(b) != "old" {
		t.Fatalf("a failed write changed the file: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary file left: %v", ents)
	}
	if err := WriteFileStream(name, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(name)
	if b, _ := os.ReadFile(name); string(b) != "new" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("got %q %v", b, fi.Mode())
	}
}
