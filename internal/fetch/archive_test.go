package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/testutil/memsource"
)

// archiver serves a memsource version as an archive that can lack, alter or
// break off.
type archiver struct {
	*memsource.Source
	files   memsource.Tree
	drop    string // left out (export-ignore)
	alter   string // other content (export-subst, or tampering)
	breakAt int    // > 0: fail after this many files
	calls   int
}

func (a *archiver) Archive(ctx context.Context, t source.Target, limit int64, fn func(string, int64, io.Reader) error) error {
	a.calls++
	n := 0
	for _, p := range sortedKeys(a.files) {
		f := a.files[p]
		if p == a.drop || f.Mode == source.ModeSymlink {
			continue
		}
		if a.breakAt > 0 && n == a.breakAt {
			return fmt.Errorf("connection reset")
		}
		data := f.Data
		if p == a.alter {
			data = strings.ToUpper(data)
		}
		if err := fn(p, int64(len(data)), strings.NewReader(data)); err != nil {
			return err
		}
		n++
	}
	return nil
}

func sortedKeys(t memsource.Tree) []string {
	var out []string
	for k := range t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestFromArchive(t *testing.T) {
	files := memsource.Tree{"link": {Data: "a/f0.txt", Mode: source.ModeSymlink}}
	for i := range 8 {
		files[fmt.Sprintf("a/f%d.txt", i)] = memsource.File{Data: fmt.Sprintf("content %d\n", i)}
	}
	for _, tc := range []struct {
		name       string
		a          archiver
		attributes bool
		opens      int // per-file downloads (the symlink is always one)
		wantErr    error
	}{
		{name: "whole archive", opens: 1},
		{name: "export-ignore", a: archiver{drop: "a/f3.txt"}, opens: 2},
		{name: "export-subst", a: archiver{alter: "a/f5.txt"}, attributes: true, opens: 2},
		{name: "tampered", a: archiver{alter: "a/f5.txt"}, wantErr: source.ErrUnverified},
		{name: "broken off", a: archiver{breakAt: 3}, opens: 1 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := memsource.New()
			v := ms.Publish("v1", files)
			a := tc.a
			a.Source, a.files = ms, files
			tgt := source.Target{Version: v}
			tree, _ := ms.Tree(context.Background(), tgt)
			var changes []plan.Change
			var bytes int64
			for i := range tree {
				changes = append(changes, plan.Change{Path: tree[i].Path, Entry: &tree[i]})
				bytes += tree[i].Size
			}
			dir := filepath.ToSlash(t.TempDir())
			stage := path.Join(dir, ".stage")
			st, err := Run(context.Background(), Options{FS: fsx.OS{Root: dir}, Source: &a, Target: tgt, TargetDir: dir, StageDir: stage, PartDir: path.Join(dir, ".ota", "partial"),
				Archive: Archive{Files: len(tree), Bytes: bytes, Attributes: tc.attributes}}, changes)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				if b, err := os.ReadFile(path.Join(stage, tc.a.alter)); err == nil {
					t.Fatalf("tampered content staged: %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.calls != 1 || ms.Opens != tc.opens || st.Files != len(tree) {
				t.Fatalf("archive calls %d, opens %d (want %d), stats %+v", a.calls, ms.Opens, tc.opens, st)
			}
			for p, f := range files {
				if f.Mode == source.ModeSymlink {
					continue
				}
				if b, err := os.ReadFile(path.Join(stage, p)); err != nil || string(b) != f.Data {
					t.Fatalf("%s staged as %q (%v), want %q", p, b, err, f.Data)
				}
			}
		})
	}
}
