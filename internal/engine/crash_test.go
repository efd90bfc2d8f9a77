package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/fsx/faultfs"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/testutil/memsource"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// The two versions exercise every kind of change: new, replaced and deleted
// files, nested folders created and removed, a file that becomes a folder
// and a folder that becomes a file, mode changes, symlinks, empty files.
var (
	treeV1 = memsource.Tree{
		"main.py":          {Data: "print('v1')\n"},
		"lib/util.py":      {Data: "def f(): return 1\n"},
		"lib/old/gone.py":  {Data: "gone\n"},
		"run.sh":           {Data: "#!/bin/sh\necho v1\n", Mode: 0o100755},
		"mode.sh":          {Data: "same bytes\n"},
		"becomes_dir":      {Data: "i am a file\n"},
		"becomes_file/a":   {Data: "in a folder\n"},
		"link":             {Data: "main.py", Mode: 0o120000},
		"empty.txt":        {Data: ""},
		"unchanged/x.json": {Data: "{}\n"},
	}
	treeV2 = memsource.Tree{
		"main.py":            {Data: "print('v2')\n"},
		"lib/util.py":        {Data: "def f(): return 2\n"},
		"lib/new/deep/n.py":  {Data: "new\n"},
		"run.sh":             {Data: "#!/bin/sh\necho v2\n", Mode: 0o100755},
		"mode.sh":            {Data: "same bytes\n", Mode: 0o100755},
		"becomes_dir/inside": {Data: "now a folder\n"},
		"becomes_file":       {Data: "now a file\n"},
		"link":               {Data: "lib/util.py", Mode: 0o120000},
		"empty.txt":          {Data: ""},
		"new_empty":          {Data: ""},
		"unchanged/x.json":   {Data: "{}\n"},
		"ünïcødé/файл 1.txt": {Data: "unicode\n"},
	}
)

// agentFiles are the names ota owns inside the target folder.
var agentFiles = []string{".ota", ".ota_stage", ".ota_backup", "version.json", "ota_error.json", "ota_config.json"}

func newTestEngine(t *testing.T, dir string, src *memsource.Source, fsys fsx.FS) *Engine {
	t.Helper()
	cfg := config.Default()
	cfg.Owner, cfg.Repo, cfg.TargetDir = "o", "r", dir
	cfg.Parallel = 1 // a deterministic order of operations for crash enumeration
	u, err := New(cfg, Options{Source: src, FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustSnap(t *testing.T, dir string) treesnap.Snap {
	t.Helper()
	s, err := treesnap.Take(dir, agentFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUpdateAllChangeKinds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "local_data.db"), []byte("user data"), 0o644)
	src := memsource.New()
	v1 := src.Publish("v1", treeV1)
	u := newTestEngine(t, dir, src, nil)
	res, err := u.Update(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Updated || res.FilesDownloaded != len(treeV1) {
		t.Fatalf("v1 install: %+v", res)
	}
	local := treesnap.Snap{"local_data.db": "file:0:user data"}
	if d := treesnap.Diff(treesnap.Merge(treesnap.FromTree(treeV1), local), mustSnap(t, dir)); d != nil {
		t.Fatalf("after v1: %v", d)
	}
	if v := state.ReadVersion(fsx.OS{}, dir); v == nil || *v != v1 {
		t.Fatalf("version.json %+v", v)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "version.json"))
	if want := `{"ref": "v1", "commit": "` + v1.Commit + `"}`; string(b) != want {
		t.Fatalf("version.json text %s, want %s", b, want)
	}
	src.Publish("v2", treeV2)
	opens := src.Opens
	res, err = u.Update(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	// unchanged files are never downloaded; a mode-only change needs no download.
	if got := src.Opens - opens; got != res.FilesDownloaded || res.FilesDownloaded != 9 {
		t.Errorf("downloads: opens %d, result %+v", got, res)
	}
	if d := treesnap.Diff(treesnap.Merge(treesnap.FromTree(treeV2), local), mustSnap(t, dir)); d != nil {
		t.Fatalf("after v2: %v", d)
	}
	res, err = u.Update(ctx, true)
	if err != nil || res.Updated {
		t.Fatalf("third update should be a no-op: %+v %v", res, err)
	}
}

// crashStride is 1 (every failure point), or with -short 3, so a
// developer's loop stays fast; CI tries them all.
func crashStride() int {
	if testing.Short() {
		return 3
	}
	return 1
}

// TestCrashPoints fails the update after each filesystem operation in turn,
// then recovers with the real filesystem: the tree must be exactly v1 or v2,
// version.json must say which, and a following update must complete.
func TestCrashPoints(t *testing.T) {
	ctx := context.Background()
	tried, old, new_ := 0, 0, 0
	for n := 0; ; n += crashStride() {
		dir := t.TempDir()
		src := memsource.New()
		v1 := src.Publish("v1", treeV1)
		if _, err := newTestEngine(t, dir, src, nil).Update(ctx, true); err != nil {
			t.Fatal(err)
		}
		v2 := src.Publish("v2", treeV2)
		ffs := faultfs.New(fsx.OS{Root: filepath.ToSlash(dir)}, n)
		_, err := newTestEngine(t, dir, src, ffs).Update(ctx, true)
		if err == nil {
			t.Logf("crash points tried: %d (update needs %d mutating operations); recovered to old %d, new %d", tried, ffs.Count(), old, new_)
			break
		}
		if !errors.Is(err, faultfs.ErrInjected) {
			t.Fatalf("crash at op %d: unexpected error %v", n, err)
		}
		tried++
		u := newTestEngine(t, dir, src, nil)
		if _, _, err := u.Recover(ctx, true); err != nil {
			t.Fatalf("crash at op %d: recover: %v", n, err)
		}
		got := mustSnap(t, dir)
		v := state.ReadVersion(fsx.OS{}, dir)
		switch {
		case treesnap.Equal(treesnap.FromTree(treeV1), got) && v != nil && *v == v1:
			old++
		case treesnap.Equal(treesnap.FromTree(treeV2), got) && v != nil && *v == v2:
			new_++
		default:
			t.Fatalf("crash at op %d (%s): tree is neither v1 nor v2 (version %+v)\nvs v1: %v\nvs v2: %v", n,
				strings.Join(ffs.Log[max(0, len(ffs.Log)-3):], "; "), v,
				treesnap.Diff(treesnap.FromTree(treeV1), got), treesnap.Diff(treesnap.FromTree(treeV2), got))
		}
		if _, err := u.Update(ctx, true); err != nil {
			t.Fatalf("crash at op %d: following update: %v", n, err)
		}
		if d := treesnap.Diff(treesnap.FromTree(treeV2), mustSnap(t, dir)); d != nil {
			t.Fatalf("crash at op %d: following update left %v", n, d)
		}
	}
	if tried < 50 {
		t.Fatalf("only %d crash points: the test is not exercising the apply", tried)
	}
}

func TestRollbackInPlace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := memsource.New()
	v1 := src.Publish("v1", treeV1)
	u := newTestEngine(t, dir, src, nil)
	if _, err := u.Rollback(ctx); err == nil {
		t.Fatal("rollback with nothing installed must fail")
	}
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	v2 := src.Publish("v2", treeV2)
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	st, _ := u.Status(ctx)
	if st.Previous == nil || *st.Previous != v1 || *st.Current != v2 {
		t.Fatalf("status %+v", st)
	}
	opens := src.Opens
	for i, want := range []struct {
		tree memsource.Tree
		v    Version
	}{{treeV1, v1}, {treeV2, v2}, {treeV1, v1}} {
		res, err := u.Rollback(ctx)
		if err != nil {
			t.Fatalf("rollback %d: %v", i, err)
		}
		if !res.Updated || res.Current != want.v {
			t.Fatalf("rollback %d: %+v", i, res)
		}
		if d := treesnap.Diff(treesnap.FromTree(want.tree), mustSnap(t, dir)); d != nil {
			t.Fatalf("rollback %d: %v", i, d)
		}
		if v := state.ReadVersion(fsx.OS{}, dir); *v != want.v {
			t.Fatalf("rollback %d: version %+v", i, v)
		}
	}
	if src.Opens != opens {
		t.Errorf("rollback downloaded %d files; it must use kept objects", src.Opens-opens)
	}
}
