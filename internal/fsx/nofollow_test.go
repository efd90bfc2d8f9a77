package fsx_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// rooted makes root/{dir/f, link -> outside} and outside/{secret}.
func rooted(t *testing.T) (fsx.OS, string, string) {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "dir", "f"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return fsx.OS{Root: filepath.ToSlash(root)}, filepath.ToSlash(root), filepath.ToSlash(outside)
}

func TestRootedOSNeverFollowsLinksBelowRoot(t *testing.T) {
	o, root, outside := rooted(t)
	through := root + "/link/secret"
	ops := map[string]func() error{
		"open":   func() error { _, err := o.Open(through); return err },
		"create": func() error { _, err := o.OpenFile(root+"/link/new", os.O_WRONLY|os.O_CREATE, 0o644); return err },
		"remove": func() error { return o.Remove(through) },
		"rename": func() error { return o.Rename(through, root+"/stolen") },
		"rename to": func() error {
			return o.Rename(root+"/dir/f", root+"/link/f")
		},
		"link":     func() error { return o.Link(through, root+"/stolen") },
		"mkdir":    func() error { return o.Mkdir(root+"/link/d", 0o755) },
		"symlink":  func() error { return o.Symlink("x", root+"/link/l") },
		"chmod":    func() error { return o.Chmod(through, 0o777) },
		"lstat":    func() error { _, err := o.Lstat(through); return err },
		"stat":     func() error { _, err := o.Stat(through); return err },
		"readlink": func() error { _, err := o.Readlink(through); return err },
		"readdir":  func() error { _, err := o.ReadDir(root + "/link/."); return err },
		"write atomic": func() error {
			return fsx.WriteFileAtomic(o, root+"/link/secret", []byte("x"), 0o644)
		},
		"remove all": func() error { return fsx.RemoveAll(o, root+"/link/secret") },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, fsx.ErrLinkInPath) {
			t.Errorf("%s through a link: got %v, want ErrLinkInPath", name, err)
		}
	}
	if b, _ := os.ReadFile(outside + "/secret"); string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	if fi, _ := os.Stat(outside + "/secret"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("outside mode changed: %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Fatalf("outside folder changed: %v", ents)
	}
}

func TestRootedOSFinalLinkIsNotFollowed(t *testing.T) {
	o, root, outside := rooted(t)
	// A link as the last component: reading or writing it is refused,
	// removing or renaming it acts on the link itself.
	if err := os.Symlink(outside+"/secret", root+"/dir/f.tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(root + "/dir/f.tmp"); !errors.Is(err, fsx.ErrLinkInPath) {
		t.Fatalf("open a link: %v", err)
	}
	if err := o.Chmod(root+"/dir/f.tmp", 0o777); err == nil {
		t.Fatal("chmod through a final link succeeded")
	}
	// WriteFileAtomic replaces the planted link, writing nothing outside.
	if err := fsx.WriteFileAtomic(o, root+"/dir/f", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(root + "/dir/f"); string(b) != "new" {
		t.Fatalf("got %q", b)
	}
	if b, _ := os.ReadFile(outside + "/secret"); string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	fi, err := o.Lstat(root + "/link")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("lstat link: %v %v", fi, err)
	}
	if err := o.Remove(root + "/link"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outside + "/secret"); err != nil {
		t.Fatal("removing the link removed its target")
	}
}

func TestRootedOSOrdinaryOperations(t *testing.T) {
	o, root, _ := rooted(t)
	if _, err := fsx.MkdirAll(o, root+"/a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileAtomic(o, root+"/a/b/c/x", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.Chmod(root+"/a/b/c/x", 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := o.Stat(root + "/a/b/c/x")
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Size() != 1 || fi.Name() != "x" || !fi.Mode().IsRegular() {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if _, _, ok := fsx.FileID(fi); !ok {
		t.Fatal("no file id")
	}
	if err := o.Link(root+"/a/b/c/x", root+"/a/y"); err != nil {
		t.Fatal(err)
	}
	if err := o.Rename(root+"/a/y", root+"/dir/y"); err != nil {
		t.Fatal(err)
	}
	if err := o.Symlink("y", root+"/dir/l"); err != nil {
		t.Fatal(err)
	}
	if tg, err := o.Readlink(root + "/dir/l"); err != nil || tg != "y" {
		t.Fatalf("readlink: %q %v", tg, err)
	}
	ents, err := o.ReadDir(root + "/dir")
	if err != nil || len(ents) != 3 || ents[0].Name() != "f" || ents[1].Name() != "l" || ents[2].Name() != "y" {
		t.Fatalf("readdir: %v %v", ents, err)
	}
	if err := o.SyncDir(root + "/dir"); err != nil {
		t.Fatal(err)
	}
	if err := fsx.RemoveAll(o, root+"/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Lstat(root + "/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
	if _, err := o.Lstat(root + "/dir/f/x"); err == nil || errors.Is(err, fsx.ErrLinkInPath) {
		t.Fatalf("a file as a folder: %v", err)
	}
	if _, err := o.Lstat(root + "/missing/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing parent: %v", err)
	}
	// The root itself and paths outside it are plain os calls.
	if _, err := o.Stat(root); err != nil {
		t.Fatal(err)
	}
	if err := o.SyncDir(root); err != nil {
		t.Fatal(err)
	}
}

func TestResolveInside(t *testing.T) {
	o, root, outside := rooted(t)
	os.Mkdir(root+"/releases", 0o755)
	os.Mkdir(root+"/releases/c1", 0o755)
	os.WriteFile(root+"/releases/c1/version.json", []byte("v"), 0o644)
	os.Symlink("releases/c1", root+"/current")
	os.Symlink("current/version.json", root+"/version.json")
	os.Symlink("../outside/secret", root+"/up")
	os.Symlink(outside+"/secret", root+"/abs")
	p, err := fsx.ResolveInside(o, root, "version.json")
	if err != nil || p != root+"/releases/c1/version.json" {
		t.Fatalf("resolve: %q %v", p, err)
	}
	if b, err := fsx.ReadFile(o, p); err != nil || string(b) != "v" {
		t.Fatalf("read: %q %v", b, err)
	}
	for _, bad := range []string{"up", "abs", "link/secret"} {
		if _, err := fsx.ResolveInside(o, root, bad); !errors.Is(err, fsx.ErrLinkInPath) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
