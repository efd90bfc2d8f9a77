package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/fsx/faultfs"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/testutil/memsource"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

func newReleasesEngine(t *testing.T, dir string, src *memsource.Source, fsys fsx.FS) *Engine {
	t.Helper()
	cfg := config.Default()
	cfg.Owner, cfg.Repo, cfg.TargetDir, cfg.Layout = "o", "r", dir, "releases"
	cfg.Parallel = 1
	u, err := New(cfg, Options{Source: src, FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func currentSnap(t *testing.T, dir string) treesnap.Snap {
	t.Helper()
	s, err := treesnap.Take(filepath.Join(dir, "current")+"/", "version.json") // the release's own marker
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func inode(t *testing.T, p string) uint64 {
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestReleasesLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := memsource.New()
	v1 := src.Publish("v1", treeV1)
	u := newReleasesEngine(t, dir, src, nil)
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	if d := treesnap.Diff(treesnap.FromTree(treeV1), currentSnap(t, dir)); d != nil {
		t.Fatalf("v1: %v", d)
	}
	v2 := src.Publish("v2", treeV2)
	opens := src.Opens
	res, err := u.Update(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := treesnap.Diff(treesnap.FromTree(treeV2), currentSnap(t, dir)); d != nil {
		t.Fatalf("v2: %v", d)
	}
	// unchanged files cost neither a download nor disk space
	if got := src.Opens - opens; got != res.FilesDownloaded || got > 9 {
		t.Errorf("downloaded %d files (%+v)", got, res)
	}
	a := inode(t, filepath.Join(dir, "releases", v1.Commit, "unchanged/x.json"))
	b := inode(t, filepath.Join(dir, "releases", v2.Commit, "unchanged/x.json"))
	if a != b {
		t.Error("an unchanged file is stored twice")
	}
	if v := state.ReadVersion(fsx.OS{}, dir); *v != v2 {
		t.Errorf("version.json %+v", v)
	}
	st, _ := u.Status(ctx)
	if *st.Current != v2 || st.Previous == nil || *st.Previous != v1 {
		t.Fatalf("status %+v", st)
	}
	rb, err := u.Rollback(ctx)
	if err != nil || rb.Current != v1 {
		t.Fatalf("rollback %+v %v", rb, err)
	}
	if d := treesnap.Diff(treesnap.FromTree(treeV1), currentSnap(t, dir)); d != nil {
		t.Fatalf("after rollback: %v", d)
	}
	if v := state.ReadVersion(fsx.OS{}, dir); *v != v1 {
		t.Errorf("version.json after rollback %+v", v)
	}
	// GC keeps at least two releases; older ones go.
	src.Publish("v3", memsource.Tree{"only.txt": {Data: "3"}})
	u.Update(ctx, true)
	src.Publish("v4", memsource.Tree{"only.txt": {Data: "4"}})
	u.Update(ctx, true)
	src.Publish("v5", memsource.Tree{"only.txt": {Data: "5"}})
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "releases"))
	dirs := 0
	for _, e := range ents {
		if e.IsDir() {
			dirs++
		}
	}
	if dirs != 3 {
		t.Errorf("releases kept: %d, want keep_releases=3", dirs)
	}
	objs, _ := os.ReadDir(filepath.Join(dir, ".ota", "store"))
	if len(objs) > 3 {
		t.Errorf("store holds %d objects for 3 one-file releases", len(objs))
	}
}

// TestReleasesCrashPoints: at every failed operation, current names a
// complete old or new release.
func TestReleasesCrashPoints(t *testing.T) {
	ctx := context.Background()
	tried := 0
	for n := 0; ; n += crashStride() {
		dir := t.TempDir()
		src := memsource.New()
		v1 := src.Publish("v1", treeV1)
		if _, err := newReleasesEngine(t, dir, src, nil).Update(ctx, true); err != nil {
			t.Fatal(err)
		}
		v2 := src.Publish("v2", treeV2)
		ffs := faultfs.New(fsx.OS{Root: filepath.ToSlash(dir)}, n)
		_, err := newReleasesEngine(t, dir, src, ffs).Update(ctx, true)
		if err == nil {
			t.Logf("crash points tried (releases layout): %d", tried)
			break
		}
		if !errors.Is(err, faultfs.ErrInjected) {
			t.Fatalf("op %d: %v", n, err)
		}
		tried++
		u := newReleasesEngine(t, dir, src, nil)
		st, err := u.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := currentSnap(t, dir)
		switch {
		case *st.Current == v1 && treesnap.Equal(treesnap.FromTree(treeV1), got):
		case *st.Current == v2 && treesnap.Equal(treesnap.FromTree(treeV2), got):
		default:
			t.Fatalf("op %d: current %+v is not a complete release", n, st.Current)
		}
		if _, err := u.Update(ctx, true); err != nil {
			t.Fatalf("op %d: following update: %v", n, err)
		}
		if d := treesnap.Diff(treesnap.FromTree(treeV2), currentSnap(t, dir)); d != nil {
			t.Fatalf("op %d: following update: %v", n, d)
		}
		if v := state.ReadVersion(fsx.OS{}, dir); *v != v2 {
			t.Fatalf("op %d: version.json %+v", n, v)
		}
	}
}

// BenchmarkRollback times `ota rollback` v2 → v1 in each layout (each
// iteration first updates to v2 again, untimed).
func BenchmarkRollback(b *testing.B) {
	for _, layout := range []string{"inplace", "releases"} {
		b.Run(layout, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			src := memsource.New()
			src.Publish("v1", treeV1)
			cfg := config.Default()
			cfg.Owner, cfg.Repo, cfg.TargetDir, cfg.Layout = "o", "r", dir, layout
			u, err := New(cfg, Options{Source: src})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := u.Update(ctx, true); err != nil {
				b.Fatal(err)
			}
			src.Publish("v2", treeV2)
			for b.Loop() {
				b.StopTimer()
				if _, err := u.Update(ctx, true); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := u.Rollback(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// noLinks is the real filesystem without hard links (as vfat).
type noLinks struct{ fsx.OS }

func (noLinks) Link(o, n string) error {
	return &os.LinkError{Op: "link", Old: o, New: n, Err: syscall.EPERM}
}

// The releases layout refuses, before downloading anything, a filesystem
// that lacks what it needs, with an error that says what to use instead.
func TestReleasesRefusesFilesystemWithoutLinks(t *testing.T) {
	dir := t.TempDir()
	src := memsource.New()
	src.Publish("v1", treeV1)
	u := newReleasesEngine(t, dir, src, noLinks{})
	_, err := u.Update(context.Background(), true)
	if !errors.Is(err, ErrUnsupportedFS) || Classify(err) != KindLocal || !strings.Contains(err.Error(), `layout = "inplace"`) {
		t.Fatalf("got %v (kind %d)", err, Classify(err))
	}
	if src.Opens != 0 {
		t.Errorf("%d downloads before the refusal", src.Opens)
	}
}

// A stage on another filesystem would turn renames into copies: refused
// before any download, with the folder untouched, in both layouts.
func TestRefusesStageOnAnotherFilesystem(t *testing.T) {
	for _, layout := range []string{"inplace", "releases"} {
		dir := t.TempDir()
		src := memsource.New()
		src.Publish("v1", treeV1)
		u := newTestEngine(t, dir, src, nil)
		u.cfg.Layout = layout
		u.sameFS = func(a, b string) (bool, error) { return false, nil }
		_, err := u.Update(context.Background(), true)
		if !errors.Is(err, ErrCrossFS) || Classify(err) != KindLocal || !strings.Contains(err.Error(), "stage_dir") {
			t.Fatalf("%s: got %v", layout, err)
		}
		if src.Opens != 0 {
			t.Errorf("%s: %d downloads before the refusal", layout, src.Opens)
		}
		if d := treesnap.Diff(treesnap.Snap{}, mustSnap(t, dir)); d != nil {
			t.Errorf("%s: folder changed: %v", layout, d)
		}
	}
}
