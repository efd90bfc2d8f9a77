// Package fsx is the filesystem the agent writes through. Every mutating
// operation goes through FS so that crash tests can record, interrupt and
// replay them; OS is the real implementation.
//
// Durability rule used everywhere: write, fsync the file, rename, fsync the
// directory. Helpers here (WriteFileAtomic, MkdirAll) follow it.
package fsx

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// File is an open file.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.Seeker
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
}

// FS is the set of operations the agent performs on disk. Names are absolute
// slash-separated paths.
type FS interface {
	Open(name string) (File, error)
	// OpenFile opens with os.O_* flags (O_CREATE, O_TRUNC, O_APPEND, O_EXCL, O_WRONLY, O_RDWR).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldname, newname string) error
	// Remove removes a file, a symlink or an empty directory.
	Remove(name string) error
	Mkdir(name string, perm fs.FileMode) error
	Symlink(target, name string) error
	Readlink(name string) (string, error)
	// Link makes a hard link; it may fail with ErrUnsupported-like errors on
	// filesystems without hard links, and callers must fall back.
	Link(oldname, newname string) error
	Chmod(name string, mode fs.FileMode) error
	Lstat(name string) (fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	// SyncDir fsyncs a directory so the entries created, renamed or removed in
	// it are durable.
	SyncDir(name string) error
}

// OS is the real filesystem. With Root set, every path strictly below Root
// is resolved one component at a time from Root without following symbolic
// links (openat with O_NOFOLLOW), and the final component is never followed
// either, except by Stat: a link planted inside target_dir never makes ota
// read, write, create or delete anything elsewhere (ErrLinkInPath). Paths
// outside Root, and all paths when Root is "", behave as the os package.
type OS struct {
	Root string // absolute, slash-separated; "" = no confinement
}

func (o OS) Open(name string) (File, error) { return o.openFile(name, os.O_RDONLY, 0) }
func (o OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return o.openFile(name, flag, perm)
}
func (o OS) Rename(oldname, newname string) error      { return o.rename(oldname, newname) }
func (o OS) Remove(name string) error                  { return o.remove(name) }
func (o OS) Mkdir(name string, perm fs.FileMode) error { return o.mkdir(name, perm) }
func (o OS) Symlink(target, name string) error         { return o.symlink(target, name) }
func (o OS) Readlink(name string) (string, error)      { return o.readlink(name) }
func (o OS) Link(oldname, newname string) error        { return o.link(oldname, newname) }
func (o OS) Chmod(name string, m fs.FileMode) error    { return o.chmod(name, m) }
func (o OS) Lstat(name string) (fs.FileInfo, error)    { return o.stat(name, false) }
func (o OS) Stat(name string) (fs.FileInfo, error)     { return o.stat(name, true) }
func (o OS) ReadDir(name string) ([]fs.DirEntry, error) {
	return o.readDir(name)
}
func (o OS) SyncDir(name string) error { return o.syncDir(name) }

func syncDirPath(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	return syncAndClose(d)
}

func syncAndClose(d File) error {
	err := d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some filesystems (and some FUSE/vfat drivers) refuse fsync on a
	// directory; their renames are as durable as they will ever be.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// FileID returns the device and inode of fi when the filesystem exposes them.
// Implementations of FS other than OS may return infos whose Sys() is a *Stat.
func FileID(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(s.Dev), uint64(s.Ino), true
	case *unix.Stat_t:
		return uint64(s.Dev), uint64(s.Ino), true
	case *Stat:
		return s.Dev, s.Ino, true
	}
	return 0, 0, false
}

// Stat is what in-memory test filesystems return from FileInfo.Sys().
type Stat struct{ Dev, Ino uint64 }

// WriteFileAtomic durably replaces name with data: it writes name+".tmp",
// fsyncs it, renames it over name and fsyncs the directory. The temporary
// file is created exclusively: whatever stands at name+".tmp" (a torn write,
// or a link planted there) is removed, never opened or written through.
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	return WriteAtomic(fsys, name, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic is WriteFileAtomic for content produced by write, so a large
// file (the installed index) is streamed instead of built in memory first.
// Writes reach the file through a 64 KiB buffer.
func WriteAtomic(fsys FS, name string, perm fs.FileMode, write func(io.Writer) error) error {
	tmp := name + ".tmp"
	f, err := CreateExclusive(fsys, tmp, perm)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(path.Dir(name))
}

// CreateExclusive creates name for writing with O_EXCL, first removing
// whatever is there (Remove never follows a link). It never opens an
// existing file, so a planted link or hard link is never written through.
func CreateExclusive(fsys FS, name string, perm fs.FileMode) (File, error) {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		f, err = fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	}
	return f, err
}

// ReadFile reads a whole (small) file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// MkdirAll creates dir and its missing parents, fsyncing each parent whose
// entries changed. It returns the directories it created, outermost first.
func MkdirAll(fsys FS, dir string, perm fs.FileMode) ([]string, error) {
	dir = path.Clean(dir)
	fi, err := fsys.Stat(dir)
	if err == nil {
		if fi.IsDir() {
			return nil, nil
		}
		return nil, &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	parent := path.Dir(dir)
	var created []string
	if parent != dir {
		created, err = MkdirAll(fsys, parent, perm)
		if err != nil {
			return created, err
		}
	}
	if err := fsys.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return created, err
	}
	created = append(created, dir)
	return created, fsys.SyncDir(parent)
}

// RemoveAll removes name and everything below it. It does not fsync; callers
// that need durability sync the parent afterwards.
func RemoveAll(fsys FS, name string) error {
	fi, err := fsys.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		ents, err := fsys.ReadDir(name)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := RemoveAll(fsys, path.Join(name, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Abs returns an absolute, slash-separated, cleaned form of p.
func Abs(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(a), nil
}
