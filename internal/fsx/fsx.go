// Package fsx is the filesystem the agent writes through. Every mutating
// operation goes through FS so that crash tests can record, interrupt and
// replay them; OS is the real implementation.
//
// Durability rule used everywhere: write, fsync the file, rename, fsync the
// directory. Helpers here (WriteFileAtomic, MkdirAll) follow it.
package fsx

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
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

// OS is the real filesystem.
type OS struct{}

func (OS) Open(name string) (File, error) { return os.Open(name) }
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}
func (OS) Rename(o, n string) error                  { return os.Rename(o, n) }
func (OS) Remove(name string) error                  { return os.Remove(name) }
func (OS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }
func (OS) Symlink(t, n string) error                 { return os.Symlink(t, n) }
func (OS) Readlink(name string) (string, error)      { return os.Readlink(name) }
func (OS) Link(o, n string) error                    { return os.Link(o, n) }
func (OS) Chmod(name string, m fs.FileMode) error    { return os.Chmod(name, m) }
func (OS) Lstat(name string) (fs.FileInfo, error)    { return os.Lstat(name) }
func (OS) Stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }
func (OS) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(name)
}
func (OS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
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
	case *Stat:
		return s.Dev, s.Ino, true
	}
	return 0, 0, false
}

// Stat is what in-memory test filesystems return from FileInfo.Sys().
type Stat struct{ Dev, Ino uint64 }

// WriteFileAtomic durably replaces name with data: it writes name+".tmp",
// fsyncs it, renames it over name and fsyncs the directory.
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
