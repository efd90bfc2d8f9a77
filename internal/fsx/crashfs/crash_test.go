package crashfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

func seed(t testing.TB, tree map[string]Node) *FS {
	t.Helper()
	f := New()
	if err := f.WriteTree("/", tree); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustRead(t testing.TB, f fsx.FS, name string) string {
	t.Helper()
	b, err := fsx.ReadFile(f, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func writeFile(f fsx.FS, name, data string, sync bool) error {
	h, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := h.Write([]byte(data)); err != nil {
		h.Close()
		return err
	}
	if sync {
		if err := h.Sync(); err != nil {
			h.Close()
			return err
		}
	}
	return h.Close()
}

// unsafeReplace is the classic bug: write a temp file and rename it over the
// target without fsyncing anything.
func unsafeReplace(f fsx.FS, name, data string) error {
	if err := writeFile(f, name+".tmp", data, false); err != nil {
		return err
	}
	return f.Rename(name+".tmp", name)
}

// safeReplaceNoDirSync fsyncs the data but not the directory.
func safeReplaceNoDirSync(f fsx.FS, name, data string) error {
	if err := writeFile(f, name+".tmp", data, true); err != nil {
		return err
	}
	return f.Rename(name+".tmp", name)
}

func TestOpLog(t *testing.T) {
	f := seed(t, map[string]Node{"app": {Kind: KindDir, Mode: 0o755}})
	if f.Count() != 0 {
		t.Fatalf("count after seeding = %d, want 0", f.Count())
	}
	if err := fsx.WriteFileAtomic(f, "/app/cfg", []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range f.Ops() {
		got = append(got, op.String())
	}
	want := []string{
		"#0 create /app/cfg.tmp O_WRONLY|O_CREATE|O_EXCL 0644",
		"#1 write /app/cfg.tmp off=0 len=2",
		"#2 fsync /app/cfg.tmp",
		"#3 rename /app/cfg.tmp -> /app/cfg",
		"#4 fsyncdir /app",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.Count() != len(want) {
		t.Errorf("Count = %d, want %d", f.Count(), len(want))
	}
	// Failed attempts are recorded with their error.
	err := f.Remove("/app/missing")
	ops := f.Ops()
	if last := ops[len(ops)-1]; last.Kind != OpUnlink || !errors.Is(last.Err, fs.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("last op = %v", last)
	}
}

func TestCrashAfter(t *testing.T) {
	f := seed(t, map[string]Node{"d": {Kind: KindDir, Mode: 0o755}, "d/a": {Kind: KindFile, Mode: 0o644, Data: "A"}})
	f.CrashAfter(2)
	h, err := f.OpenFile("/d/b", os.O_WRONLY|os.O_CREATE, 0o644) // op 0
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("b")); err != nil { // op 1
		t.Fatal(err)
	}
	if f.Crashed() {
		t.Fatal("crashed too early")
	}
	err = h.Sync() // op 2: the crash
	if !errors.Is(err, ErrCrashed) {
		t.Fatalf("sync = %v, want ErrCrashed", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Errorf("crash error %T is not a *fs.PathError", err)
	}
	if err := f.Rename("/d/b", "/d/c"); !errors.Is(err, ErrCrashed) {
		t.Errorf("rename after crash = %v", err)
	}
	if _, err := f.Stat("/d/a"); !errors.Is(err, ErrCrashed) {
		t.Errorf("stat after crash = %v, want ErrCrashed (reads fail too)", err)
	}
	if err := h.Close(); !errors.Is(err, ErrCrashed) {
		t.Errorf("close after crash = %v", err)
	}
	if f.Count() != 2 {
		t.Errorf("Count = %d, want 2 (refused ops are not counted)", f.Count())
	}
	// Process kill keeps everything performed.
	after := f.AfterCrash()
	if got := mustRead(t, after, "/d/b"); got != "b" {
		t.Errorf("after crash /d/b = %q, want %q", got, "b")
	}
	// Power cut: the create was never committed by an fsync.
	if _, err := f.AfterPowerCut().Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after power cut /d/b: %v, want not exist", err)
	}
	// The rebooted FS is fresh and usable.
	if after.Crashed() || after.Count() != 0 {
		t.Errorf("after: crashed=%v count=%d", after.Crashed(), after.Count())
	}
	if err := after.Remove("/d/b"); err != nil {
		t.Error(err)
	}
}

func TestPowerCutUnsafeReplaceLosesData(t *testing.T) {
	f := seed(t, map[string]Node{"cfg": {Kind: KindFile, Mode: 0o644, Data: "old"}, "other": {Kind: KindFile, Mode: 0o644, Data: "o"}})
	if err := unsafeReplace(f, "/cfg", "new"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterCrash(), "/cfg"); got != "new" {
		t.Errorf("process kill: %q, want new", got)
	}
	// Nothing fsynced yet: the rename is lost too, old content survives.
	if got := mustRead(t, f.AfterPowerCut(), "/cfg"); got != "old" {
		t.Errorf("power cut before any fsync: %q, want old", got)
	}
	// A background journal commit persists the rename but not the data.
	if got := mustRead(t, f.AfterPowerCutCommitted(), "/cfg"); got != "" {
		t.Errorf("power cut after background commit: %q, want empty", got)
	}
	// Some unrelated fsync commits the journal (the rename), but the data of
	// cfg.tmp was never fsynced: the famous zero-length file.
	h, err := f.OpenFile("/other", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Sync()
	h.Close()
	if got := mustRead(t, f.AfterPowerCut(), "/cfg"); got != "" {
		t.Errorf("power cut after journal commit: %q, want empty (data never fsynced)", got)
	}
}

func TestPowerCutSafeReplaceSurvives(t *testing.T) {
	for _, model := range Models() {
		f := seed(t, map[string]Node{"app": {Kind: KindDir, Mode: 0o755}, "app/cfg": {Kind: KindFile, Mode: 0o644, Data: "old"}})
		if err := safeReplaceNoDirSync(f, "/app/cfg", "new"); err != nil {
			t.Fatal(err)
		}
		if err := f.SyncDir("/app"); err != nil {
			t.Fatal(err)
		}
		after := f.After(model)
		if got := mustRead(t, after, "/app/cfg"); got != "new" {
			t.Errorf("%s: %q, want new", model, got)
		}
		if _, err := after.Lstat("/app/cfg.tmp"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: tmp still there: %v", model, err)
		}
	}
}

func TestPowerCutMissingDirSync(t *testing.T) {
	f := seed(t, map[string]Node{"app": {Kind: KindDir, Mode: 0o755}, "app/cfg": {Kind: KindFile, Mode: 0o644, Data: "old"}})
	// Data fsynced, rename not followed by any fsync: lost in both models,
	// but the old file is intact (atomic either way).
	if err := safeReplaceNoDirSync(f, "/app/cfg", "new"); err != nil {
		t.Fatal(err)
	}
	for _, after := range []*FS{f.AfterPowerCut(), f.AfterPowerCutStrict()} {
		if got := mustRead(t, after, "/app/cfg"); got != "old" {
			t.Errorf("%q, want old", got)
		}
	}
	// A later fsync of another file commits the rename in the ordered model
	// only; strict wants /app itself fsynced.
	if err := writeFile(f, "/log", "x", true); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterPowerCut(), "/app/cfg"); got != "new" {
		t.Errorf("ordered: %q, want new", got)
	}
	if got := mustRead(t, f.AfterPowerCutStrict(), "/app/cfg"); got != "old" {
		t.Errorf("strict: %q, want old", got)
	}
}

func TestPowerCutStrictNeedsParentSync(t *testing.T) {
	// mkdir without fsyncing the parent, then a durable write inside it:
	// ordered keeps it (one journal), strict loses the whole directory.
	f := New()
	f.Checkpoint()
	if err := f.Mkdir("/new", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileAtomic(f, "/new/cfg", []byte("v"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterPowerCut(), "/new/cfg"); got != "v" {
		t.Errorf("ordered: %q", got)
	}
	if _, err := f.AfterPowerCutStrict().Stat("/new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("strict: /new survived without a parent fsync: %v", err)
	}
	// fsx.MkdirAll syncs the parent, so strict keeps everything.
	g := New()
	g.Checkpoint()
	if _, err := fsx.MkdirAll(g, "/new/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileAtomic(g, "/new/sub/cfg", []byte("v"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, g.AfterPowerCutStrict(), "/new/sub/cfg"); got != "v" {
		t.Errorf("strict after MkdirAll: %q", got)
	}
}

func TestPowerCutDataRevertsToLastFsync(t *testing.T) {
	f := seed(t, map[string]Node{"f": {Kind: KindFile, Mode: 0o644, Data: "base"}})
	h, err := f.OpenFile("/f", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("v1--"))
	h.Sync()
	h.Write([]byte("v2"))
	h.Close()
	if got := mustRead(t, f.AfterPowerCut(), "/f"); got != "v1--" {
		t.Errorf("power cut: %q, want v1-- (last fsync)", got)
	}
	if got := mustRead(t, f.AfterCrash(), "/f"); got != "v1--v2" {
		t.Errorf("process kill: %q, want v1--v2", got)
	}
}

func TestPowerCutTruncate(t *testing.T) {
	tree := map[string]Node{"f": {Kind: KindFile, Mode: 0o644, Data: "base"}, "g": {Kind: KindFile, Mode: 0o644}}
	// O_TRUNC + write, nothing committed: old content.
	f := seed(t, tree)
	if err := writeFile(f, "/f", "new", false); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterPowerCut(), "/f"); got != "base" {
		t.Errorf("uncommitted truncate: %q, want base", got)
	}
	// Committed by an unrelated fsync: truncated, new data lost.
	if err := writeFile(f, "/g", "", true); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterPowerCut(), "/f"); got != "" {
		t.Errorf("committed truncate: %q, want empty", got)
	}
	// fsync of the file itself after the truncate keeps the new data.
	if err := writeFile(f, "/f", "newer", true); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f.AfterPowerCut(), "/f"); got != "newer" {
		t.Errorf("synced: %q, want newer", got)
	}
}

func TestPowerCutHardLinksAndChmod(t *testing.T) {
	f := seed(t, map[string]Node{"obj": {Kind: KindFile, Mode: 0o644, Data: "blob"}, "rel": {Kind: KindDir, Mode: 0o755}})
	if err := f.Link("/obj", "/rel/bin"); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod("/rel/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncDir("/rel"); err != nil {
		t.Fatal(err)
	}
	after := f.AfterPowerCut()
	want := map[string]Node{
		"obj":     {Kind: KindFile, Mode: 0o755, Data: "blob"},
		"rel":     {Kind: KindDir, Mode: 0o755},
		"rel/bin": {Kind: KindFile, Mode: 0o755, Data: "blob", LinkOf: "obj"},
	}
	if d := Diff(want, MustSnapshot(t, after, "/")); d != nil {
		t.Errorf("ordered: %v", d)
	}
	if n, _ := after.Links("/obj"); n != 2 {
		t.Errorf("links = %d", n)
	}
	// Strict: the link is durable (its directory was synced), the chmod is
	// not (the inode was never fsynced after it).
	strict := MustSnapshot(t, f.AfterPowerCutStrict(), "/")
	if strict["rel/bin"].LinkOf != "obj" || strict["obj"].Mode != 0o644 {
		t.Errorf("strict: %v", strict)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	f := seed(t, map[string]Node{"f": {Kind: KindFile, Mode: 0o644, Data: "x"}})
	f.Remove("/f")
	c := f.Clone()
	if err := c.Mkdir("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat("/d"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("clone leaked into original: %v", err)
	}
	if f.Count() != 1 || c.Count() != 2 {
		t.Errorf("counts %d %d", f.Count(), c.Count())
	}
	if got := mustRead(t, c.AfterPowerCut(), "/f"); got != "x" {
		t.Errorf("clone lost durability state: %q", got)
	}
}

func TestFromOSRoundTrip(t *testing.T) {
	dir := t.TempDir()
	osfs := fsx.OS{}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(osfs.Mkdir(dir+"/bin", 0o755))
	must(writeFile(osfs, dir+"/bin/tool", "#!/bin/sh\n", false))
	must(osfs.Chmod(dir+"/bin/tool", 0o755))
	must(osfs.Link(dir+"/bin/tool", dir+"/tool-link"))
	must(osfs.Symlink("bin/tool", dir+"/current"))
	must(osfs.Symlink(dir+"/bin", dir+"/abs"))
	want := MustSnapshot(t, osfs, dir)
	f, err := FromOS(dir)
	must(err)
	if d := Diff(want, MustSnapshot(t, f, dir)); d != nil {
		t.Errorf("FromOS differs: %v", d)
	}
	if got := mustRead(t, f, dir+"/abs/tool"); got != "#!/bin/sh\n" {
		t.Errorf("through absolute symlink: %q", got)
	}
	if f.Count() != 0 {
		t.Errorf("FromOS left %d ops in the log", f.Count())
	}
	if d := Diff(want, MustSnapshot(t, f.AfterPowerCut(), dir)); d != nil {
		t.Errorf("seeded tree not durable: %v", d)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("/f%d", i)
			for j := range 20 {
				if err := fsx.WriteFileAtomic(f, name, []byte(fmt.Sprint(j)), 0o644); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.ReadDir("/"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(MustSnapshot(t, f.AfterPowerCut(), "/")); n != 8 {
		t.Errorf("%d entries, want 8", n)
	}
}
