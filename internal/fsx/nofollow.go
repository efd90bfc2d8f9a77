package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLinkInPath is wrapped by every operation of a rooted OS whose path runs
// through a symbolic link below the root. ota never follows a link inside
// target_dir: a folder it manages is a real folder, so a link where a folder
// should be is either an attack (someone who can write there replaced it) or
// a leftover that the plan must replace, never a way to reach elsewhere.
var ErrLinkInPath = errors.New("a symbolic link stands where ota expects a real folder; ota does not follow links inside target_dir")

// LinkInPathError names the link that stopped a path walk.
type LinkInPathError struct {
	Op, Path, Link string // Link is the absolute path of the symbolic link
}

func (e *LinkInPathError) Error() string {
	return fmt.Sprintf("%s %s: %s is a symbolic link, and ota does not follow links inside target_dir (if someone replaced a folder with a link, remove the link)", e.Op, e.Path, e.Link)
}

func (e *LinkInPathError) Unwrap() error { return ErrLinkInPath }

// rel returns name relative to o.Root when name lies strictly below it.
func (o OS) rel(name string) (string, bool) {
	if o.Root == "" {
		return "", false
	}
	name = path.Clean(name)
	root := path.Clean(o.Root)
	if root == "/" {
		return strings.TrimPrefix(name, "/"), name != "/"
	}
	r, ok := strings.CutPrefix(name, root+"/")
	return r, ok && r != ""
}

// parent opens the folder that holds name, walking from Root one component
// at a time with O_NOFOLLOW, and returns it with the last component. For a
// name not below Root it returns AT_FDCWD and name unchanged. The caller
// closes the descriptor with closeFd.
func (o OS) parent(op, name string) (int, string, error) {
	rel, ok := o.rel(name)
	if !ok {
		return unix.AT_FDCWD, name, nil
	}
	fd, err := unix.Open(o.Root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	comps := strings.Split(rel, "/")
	walked := path.Clean(o.Root)
	for _, c := range comps[:len(comps)-1] {
		walked = path.Join(walked, c)
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				var st unix.Stat_t
				if unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
					unix.Close(fd)
					return -1, "", &LinkInPathError{Op: op, Path: name, Link: walked}
				}
			}
			unix.Close(fd)
			return -1, "", &fs.PathError{Op: op, Path: name, Err: err}
		}
		unix.Close(fd)
		fd = next
	}
	return fd, comps[len(comps)-1], nil
}

func closeFd(fd int) {
	if fd >= 0 && fd != unix.AT_FDCWD {
		unix.Close(fd)
	}
}

// at runs fn on the parent folder of name and the last component.
func (o OS) at(op, name string, fn func(dir int, base string) error) error {
	dir, base, err := o.parent(op, name)
	if err != nil {
		return err
	}
	defer closeFd(dir)
	if err := fn(dir, base); err != nil {
		var pe *fs.PathError
		var le *LinkInPathError
		if errors.As(err, &pe) || errors.As(err, &le) {
			return err
		}
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (o OS) openFile(name string, flag int, perm fs.FileMode) (File, error) {
	if _, ok := o.rel(name); !ok {
		return os.OpenFile(name, flag, perm)
	}
	var f *os.File
	err := o.at("open", name, func(dir int, base string) error {
		fd, err := unix.Openat(dir, base, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err != nil {
			var st unix.Stat_t
			if (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)) &&
				unix.Fstatat(dir, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %s is a symbolic link, and ota never reads or writes through a link inside target_dir", ErrLinkInPath, name)}
			}
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (o OS) rename(oldname, newname string) error {
	return o.at2("rename", oldname, newname, os.Rename, func(od int, ob string, nd int, nb string) error {
		return unix.Renameat(od, ob, nd, nb)
	})
}

func (o OS) link(oldname, newname string) error {
	// flags 0: a link to a symbolic link links the link itself.
	return o.at2("link", oldname, newname, os.Link, func(od int, ob string, nd int, nb string) error {
		return unix.Linkat(od, ob, nd, nb, 0)
	})
}

// at2 runs a two-path operation: plain (the os function) when neither path
// lies below Root, else fn on both parents walked without following links.
func (o OS) at2(op, oldname, newname string, plain func(string, string) error, fn func(od int, ob string, nd int, nb string) error) error {
	_, ok1 := o.rel(oldname)
	_, ok2 := o.rel(newname)
	if !ok1 && !ok2 {
		return plain(oldname, newname)
	}
	return o.at(op, oldname, func(od int, ob string) error {
		return o.at(op, newname, func(nd int, nb string) error {
			if err := fn(od, ob, nd, nb); err != nil {
				return &os.LinkError{Op: op, Old: oldname, New: newname, Err: err}
			}
			return nil
		})
	})
}

func (o OS) remove(name string) error {
	if _, ok := o.rel(name); !ok {
		return os.Remove(name)
	}
	return o.at("remove", name, func(dir int, base string) error {
		err := unix.Unlinkat(dir, base, 0)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
			if rerr := unix.Unlinkat(dir, base, unix.AT_REMOVEDIR); rerr == nil {
				return nil
			} else if !errors.Is(rerr, unix.ENOTDIR) {
				err = rerr
			}
		}
		return err
	})
}

func (o OS) mkdir(name string, perm fs.FileMode) error {
	if _, ok := o.rel(name); !ok {
		return os.Mkdir(name, perm)
	}
	return o.at("mkdir", name, func(dir int, base string) error {
		return unix.Mkdirat(dir, base, uint32(perm.Perm()))
	})
}

func (o OS) symlink(target, name string) error {
	if _, ok := o.rel(name); !ok {
		return os.Symlink(target, name)
	}
	return o.at("symlink", name, func(dir int, base string) error {
		return unix.Symlinkat(target, dir, base)
	})
}

func (o OS) readlink(name string) (string, error) {
	if _, ok := o.rel(name); !ok {
		return os.Readlink(name)
	}
	var t string
	err := o.at("readlink", name, func(dir int, base string) error {
		buf := make([]byte, 256)
		for {
			n, err := unix.Readlinkat(dir, base, buf)
			if err != nil {
				return err
			}
			if n < len(buf) {
				t = string(buf[:n])
				return nil
			}
			buf = make([]byte, 2*len(buf))
		}
	})
	return t, err
}

// chmod changes the mode of a regular file or folder without following a
// link in its place (fchmodat cannot refuse links on Linux): it opens the
// entry with O_NOFOLLOW and changes the open file.
func (o OS) chmod(name string, mode fs.FileMode) error {
	if _, ok := o.rel(name); !ok {
		return os.Chmod(name, mode)
	}
	return o.at("chmod", name, func(dir int, base string) error {
		fd, err := unix.Openat(dir, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fchmod(fd, uint32(syscallMode(mode)))
	})
}

func (o OS) stat(name string, follow bool) (fs.FileInfo, error) {
	if _, ok := o.rel(name); !ok {
		if follow {
			return os.Stat(name)
		}
		return os.Lstat(name)
	}
	var fi fs.FileInfo
	op := "lstat"
	if follow {
		op = "stat"
	}
	err := o.at(op, name, func(dir int, base string) error {
		st := new(unix.Stat_t)
		flags := unix.AT_SYMLINK_NOFOLLOW
		if follow {
			flags = 0
		}
		if err := unix.Fstatat(dir, base, st, flags); err != nil {
			return err
		}
		fi = &statInfo{name: base, st: st}
		return nil
	})
	return fi, err
}

func (o OS) readDir(name string) ([]fs.DirEntry, error) {
	if _, ok := o.rel(name); !ok {
		return os.ReadDir(name)
	}
	f, err := o.openFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.(*os.File).ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

func (o OS) syncDir(name string) error {
	if _, ok := o.rel(name); !ok {
		return syncDirPath(name)
	}
	f, err := o.openFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	return syncAndClose(f)
}

// syscallMode converts permission and special bits to the kernel's.
func syscallMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		o |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		o |= syscall.S_ISVTX
	}
	return o
}

// statInfo is an fs.FileInfo from fstatat.
type statInfo struct {
	name string
	st   *unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return s.st }
func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ResolveInside resolves the links along rel (relative to root) itself,
// refusing any that would lead out of root, and returns the link-free path
// to read. It is for the few files ota reads that may be links it made
// itself (version.json -> current/version.json in the releases layout),
// since the rooted OS follows none.
func ResolveInside(fsys FS, root, rel string) (string, error) {
	var cur []string
	pending := strings.Split(rel, "/")
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", fmt.Errorf("%s: %w: a link leads outside %s", rel, ErrLinkInPath, root)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		full := path.Join(root, strings.Join(cur, "/"))
		fi, err := fsys.Lstat(full)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue // a missing or plain entry: the read reports it
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many links", rel)
		}
		t, err := fsys.Readlink(full)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			return "", fmt.Errorf("%s: %w: %s is an absolute link", rel, ErrLinkInPath, full)
		}
		cur = cur[:len(cur)-1]
		pending = append(strings.Split(t, "/"), pending...)
	}
	return path.Join(root, strings.Join(cur, "/")), nil
}
