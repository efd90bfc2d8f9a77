package crashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// step is one scripted operation; it returns a description of its outcome
// (data read, offsets, errors) which must be identical on both filesystems.
type step struct {
	name string
	do   func(fsys fsx.FS, r string) string
}

func errStr(err error) string {
	if err == nil {
		return "ok"
	}
	return fmt.Sprintf("%T %v", err, err)
}

func openWrite(fsys fsx.FS, name string, flag int, perm fs.FileMode, data string) string {
	f, err := fsys.OpenFile(name, flag, perm)
	if err != nil {
		return errStr(err)
	}
	n, err := f.Write([]byte(data))
	cerr := f.Close()
	return fmt.Sprintf("n=%d %s close=%s", n, errStr(err), errStr(cerr))
}

func readAll(fsys fsx.FS, name string) string {
	b, err := fsx.ReadFile(fsys, name)
	return fmt.Sprintf("%q %s", b, errStr(err))
}

func nlink(fsys fsx.FS, name string) string {
	if c, ok := fsys.(*FS); ok {
		n, err := c.Links(name)
		return fmt.Sprintf("%d %s", n, errStr(err))
	}
	fi, err := fsys.Lstat(name)
	if err != nil {
		return "0 " + errStr(err)
	}
	return fmt.Sprintf("%d ok", fi.Sys().(*syscall.Stat_t).Nlink)
}

func statStr(fi fs.FileInfo, err error) string {
	if err != nil {
		return errStr(err)
	}
	s := fmt.Sprintf("%s %v", fi.Name(), fi.Mode())
	if fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0 {
		s += fmt.Sprintf(" size=%d", fi.Size())
	}
	return s
}

const (
	wrCreate = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
)

var script = []step{
	{"mkdir", func(f fsx.FS, r string) string { return errStr(f.Mkdir(r+"/a", 0o755)) }},
	{"mkdir exists", func(f fsx.FS, r string) string { return errStr(f.Mkdir(r+"/a", 0o755)) }},
	{"mkdir no parent", func(f fsx.FS, r string) string { return errStr(f.Mkdir(r+"/x/y", 0o755)) }},
	{"create", func(f fsx.FS, r string) string { return openWrite(f, r+"/a/f", wrCreate, 0o644, "hello") }},
	{"excl exists", func(f fsx.FS, r string) string {
		return openWrite(f, r+"/a/f", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644, "x")
	}},
	{"excl new", func(f fsx.FS, r string) string {
		return openWrite(f, r+"/a/g", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600, "gee")
	}},
	{"append", func(f fsx.FS, r string) string {
		return openWrite(f, r+"/a/f", os.O_WRONLY|os.O_APPEND, 0, " world") + readAll(f, r+"/a/f")
	}},
	{"open no create", func(f fsx.FS, r string) string { return openWrite(f, r+"/a/nope", os.O_WRONLY, 0, "") }},
	{"trunc", func(f fsx.FS, r string) string {
		return openWrite(f, r+"/a/t", wrCreate, 0o644, "long content") +
			openWrite(f, r+"/a/t", os.O_WRONLY|os.O_TRUNC, 0, "hi") + readAll(f, r+"/a/t")
	}},
	{"rdonly trunc", func(f fsx.FS, r string) string {
		out := openWrite(f, r+"/a/rt", wrCreate, 0o644, "content")
		h, err := f.OpenFile(r+"/a/rt", os.O_RDONLY|os.O_TRUNC, 0)
		if err == nil {
			h.Close()
		}
		return out + errStr(err) + readAll(f, r+"/a/rt")
	}},
	{"overwrite no trunc", func(f fsx.FS, r string) string {
		return openWrite(f, r+"/a/t", os.O_WRONLY, 0, "H") + readAll(f, r+"/a/t")
	}},
	{"seek readat", func(f fsx.FS, r string) string {
		h, err := f.OpenFile(r+"/a/s", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return errStr(err)
		}
		defer h.Close()
		out := ""
		_, err = h.Write([]byte("0123456789"))
		out += errStr(err)
		off, err := h.Seek(3, io.SeekStart)
		out += fmt.Sprintf(" seek=%d %s", off, errStr(err))
		b := make([]byte, 4)
		n, err := h.Read(b)
		out += fmt.Sprintf(" read=%q %s", b[:n], errStr(err))
		off, err = h.Seek(-2, io.SeekEnd)
		out += fmt.Sprintf(" seek=%d %s", off, errStr(err))
		off, err = h.Seek(1, io.SeekCurrent)
		out += fmt.Sprintf(" seek=%d %s", off, errStr(err))
		n, err = h.Read(b)
		out += fmt.Sprintf(" read=%d %v", n, err)
		b = make([]byte, 5)
		n, err = h.ReadAt(b, 7)
		out += fmt.Sprintf(" readat=%q %v", b[:n], err)
		n, err = h.ReadAt(b, 2)
		out += fmt.Sprintf(" readat=%q %v", b[:n], err)
		_, err = h.Seek(-1, io.SeekStart)
		out += " negseek=" + fmt.Sprint(errors.Is(err, syscall.EINVAL))
		off, _ = h.Seek(12, io.SeekStart)
		_, err = h.Write([]byte("Z"))
		out += fmt.Sprintf(" off=%d %s", off, errStr(err))
		fi, err := h.Stat()
		return out + " " + statStr(fi, err) + " " + readAll(f, r+"/a/s")
	}},
	{"bad fd", func(f fsx.FS, r string) string {
		h, err := f.Open(r + "/a/f")
		if err != nil {
			return errStr(err)
		}
		_, werr := h.Write([]byte("x"))
		h.Close()
		h, err = f.OpenFile(r+"/a/f", os.O_WRONLY, 0)
		if err != nil {
			return errStr(err)
		}
		_, rerr := h.Read(make([]byte, 1))
		cerr := h.Close()
		c2 := h.Close()
		return fmt.Sprintf("%v %v %v %s", errors.Is(werr, syscall.EBADF), errors.Is(rerr, syscall.EBADF), cerr, errStr(c2))
	}},
	{"chmod", func(f fsx.FS, r string) string {
		return errStr(f.Chmod(r+"/a/f", 0o755)) + errStr(f.Chmod(r+"/a/missing", 0o755))
	}},
	{"symlink", func(f fsx.FS, r string) string {
		out := errStr(f.Symlink("f", r+"/a/l"))
		t, err := f.Readlink(r + "/a/l")
		out += " " + t + " " + errStr(err)
		_, err = f.Readlink(r + "/a/f")
		out += " " + errStr(err)
		out += " " + errStr(f.Symlink("g", r+"/a/l"))
		fi, err := f.Lstat(r + "/a/l")
		out += " " + statStr(fi, err)
		fi, err = f.Stat(r + "/a/l")
		out += " " + statStr(fi, err)
		return out + " " + readAll(f, r+"/a/l")
	}},
	{"symlink dir abs", func(f fsx.FS, r string) string {
		out := errStr(f.Symlink(r+"/a", r+"/la"))
		out += readAll(f, r+"/la/f") + readAll(f, r+"/la/../a/g")
		ents, err := f.ReadDir(r + "/la")
		for _, e := range ents {
			out += " " + e.Name()
		}
		return out + errStr(err)
	}},
	{"dangling create", func(f fsx.FS, r string) string {
		out := errStr(f.Symlink("target", r+"/a/d"))
		out += openWrite(f, r+"/a/d", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644, "x")
		out += openWrite(f, r+"/a/d", os.O_WRONLY|os.O_CREATE, 0o644, "via link")
		return out + readAll(f, r+"/a/target")
	}},
	{"symlink loop", func(f fsx.FS, r string) string {
		out := errStr(f.Symlink("l2", r+"/l1")) + errStr(f.Symlink("l1", r+"/l2"))
		_, err := f.Stat(r + "/l1")
		_, err2 := f.Open(r + "/l1/x")
		return out + errStr(err) + errStr(err2)
	}},
	{"link", func(f fsx.FS, r string) string {
		out := errStr(f.Link(r+"/a/f", r+"/a/h")) + nlink(f, r+"/a/h")
		out += errStr(f.Link(r+"/a/f", r+"/a/g"))
		out += errStr(f.Link(r+"/a", r+"/a2"))
		out += errStr(f.Link(r+"/a/missing", r+"/a/m2"))
		out += errStr(f.Link(r+"/a/l", r+"/a/l2")) + nlink(f, r+"/a/l") // links the symlink itself
		return out
	}},
	{"rename same inode", func(f fsx.FS, r string) string {
		return errStr(f.Rename(r+"/a/f", r+"/a/h")) + nlink(f, r+"/a/f") + readAll(f, r+"/a/h")
	}},
	{"rename same name", func(f fsx.FS, r string) string {
		return errStr(f.Rename(r+"/a/g", r+"/a/g")) + readAll(f, r+"/a/g")
	}},
	{"rename replace file", func(f fsx.FS, r string) string {
		out := openWrite(f, r+"/a/new", wrCreate, 0o640, "replacement")
		return out + errStr(f.Rename(r+"/a/new", r+"/a/h")) + readAll(f, r+"/a/h") + nlink(f, r+"/a/f")
	}},
	{"rename dirs", func(f fsx.FS, r string) string {
		out := errStr(f.Mkdir(r+"/e1", 0o700)) + errStr(f.Mkdir(r+"/e2", 0o755))
		out += errStr(f.Rename(r+"/e1", r+"/e2")) // empty target dir: EEXIST (os.Rename's check)
		out += errStr(f.Rename(r+"/e1", r+"/e1")) // dir onto itself: EEXIST too
		out += errStr(f.Rename(r+"/e1", r+"/e3")) + errStr(f.Rename(r+"/e3", r+"/e1"))
		out += errStr(f.Rename(r+"/e2", r+"/a"))            // non-empty target
		out += errStr(f.Rename(r+"/e2", r+"/a/g"))          // dir over file
		out += errStr(f.Rename(r+"/a/g", r+"/e2"))          // file over dir
		out += errStr(f.Rename(r+"/a", r+"/a/sub"))         // into itself
		out += errStr(f.Mkdir(r+"/e2/in", 0o755))           //
		out += errStr(f.Rename(r+"/e2", r+"/e2/in/deeper")) // into own subtree
		out += errStr(f.Rename(r+"/missing", r+"/x"))       // missing source
		out += errStr(f.Rename(r+"/a/g", r+"/nodir/g"))     // missing target dir
		out += errStr(f.Rename(r+"/e2/in", r+"/a/in"))      // move a dir
		out += errStr(f.Rename(r+"/a/g", r+"/a/f/g"))       // through a file
		return out
	}},
	{"remove", func(f fsx.FS, r string) string {
		out := errStr(f.Remove(r + "/a"))
		out += errStr(f.Remove(r + "/a/missing"))
		out += errStr(f.Remove(r + "/a/l"))
		out += readAll(f, r+"/a/f")
		out += errStr(f.Remove(r + "/a/in"))
		out += errStr(f.Remove(r + "/a/f/x"))
		out += errStr(f.Remove(r + "/l2"))
		return out
	}},
	{"notdir", func(f fsx.FS, r string) string {
		_, err := f.Open(r + "/a/f/x")
		_, err2 := f.Stat(r + "/a/f/x")
		_, err3 := f.ReadDir(r + "/a/f")
		return errStr(err) + errStr(err2) + errStr(err3) + errStr(f.Mkdir(r+"/a/f/x", 0o755))
	}},
	{"dir as file", func(f fsx.FS, r string) string {
		h, err := f.Open(r + "/a")
		out := errStr(err)
		if err == nil {
			_, err = h.Read(make([]byte, 4))
			out += errStr(err)
			h.Close()
		}
		out += openWrite(f, r+"/a", os.O_WRONLY, 0, "")
		out += openWrite(f, r+"/a", os.O_RDWR|os.O_CREATE, 0o644, "")
		return out
	}},
	{"open unlinked", func(f fsx.FS, r string) string {
		out := openWrite(f, r+"/a/tmp", wrCreate, 0o644, "ghost")
		h, err := f.Open(r + "/a/tmp")
		if err != nil {
			return errStr(err)
		}
		out += errStr(f.Rename(r+"/a/tmp", r+"/a/tmp2")) + errStr(f.Remove(r+"/a/tmp2"))
		b, err := io.ReadAll(h)
		h.Close()
		return out + fmt.Sprintf("%q %s", b, errStr(err))
	}},
	{"syncdir", func(f fsx.FS, r string) string {
		return errStr(f.SyncDir(r+"/a")) + errStr(f.SyncDir(r+"/missing"))
	}},
	{"helpers", func(f fsx.FS, r string) string {
		out := errStr(fsx.WriteFileAtomic(f, r+"/w/cfg", []byte("v1"), 0o644))
		created, err := fsx.MkdirAll(f, r+"/w/x/y", 0o750)
		for _, c := range created {
			out += " " + path.Base(c)
		}
		out += errStr(err) + errStr(fsx.WriteFileAtomic(f, r+"/w/x/y/cfg", []byte("v2"), 0o600))
		out += errStr(fsx.RemoveAll(f, r+"/w/x"))
		return out
	}},
}

func init() {
	// WriteFileAtomic needs the parent; make it part of the script.
	script = append(script[:len(script)-1], step{"mkdir w", func(f fsx.FS, r string) string {
		return errStr(f.Mkdir(r+"/w", 0o755))
	}}, script[len(script)-1])
}

// TestMatchesOS runs the same script on the real OS and on crashfs, rooted
// at the same absolute path (so absolute symlinks and error texts match),
// and compares every step's outcome and the final trees.
func TestMatchesOS(t *testing.T) {
	root := t.TempDir()
	mem := New()
	if _, err := fsx.MkdirAll(mem, root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range script {
		want := s.do(fsx.OS{}, root)
		got := s.do(mem, root)
		if got != want {
			t.Errorf("step %q:\n  os:      %s\n  crashfs: %s", s.name, want, got)
		}
	}
	wantTree := MustSnapshot(t, fsx.OS{}, root)
	gotTree := MustSnapshot(t, mem, root)
	for _, d := range Diff(wantTree, gotTree) {
		t.Errorf("tree differs: %s", d)
	}
	if len(wantTree) < 10 {
		t.Errorf("script left only %d entries; expected a richer tree", len(wantTree))
	}
	t.Logf("compared %d steps, %d tree entries, %d recorded ops", len(script), len(gotTree), mem.Count())
}
