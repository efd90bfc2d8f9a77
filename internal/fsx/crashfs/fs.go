package crashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otafleet/ota/internal/fsx"
)

// ErrCrashed is returned (wrapped in a *fs.PathError or *os.LinkError) by
// every operation at and after the configured crash point.
var ErrCrashed = errors.New("crashfs: simulated crash")

// OpKind names a recorded operation.
type OpKind string

// Recorded operation kinds.
const (
	OpCreate  OpKind = "create"   // OpenFile that created the file
	OpOpen    OpKind = "open"     // OpenFile of an existing file for writing (or with O_CREATE/O_TRUNC)
	OpWrite   OpKind = "write"    // File.Write
	OpSync    OpKind = "fsync"    // File.Sync
	OpSyncDir OpKind = "fsyncdir" // FS.SyncDir
	OpRename  OpKind = "rename"   // FS.Rename
	OpUnlink  OpKind = "unlink"   // FS.Remove of a file or symlink
	OpRmdir   OpKind = "rmdir"    // FS.Remove of a directory
	OpMkdir   OpKind = "mkdir"    // FS.Mkdir
	OpSymlink OpKind = "symlink"  // FS.Symlink
	OpLink    OpKind = "link"     // FS.Link
	OpChmod   OpKind = "chmod"    // FS.Chmod
)

// Op is one recorded mutating operation. Operations that failed with an
// ordinary error (ENOENT, EEXIST, ...) are recorded too, with Err set: they
// were attempted and count as crash points.
type Op struct {
	Index int
	Kind  OpKind
	Path  string
	Path2 string // rename/link destination, symlink name
	Desc  string // human-readable description
	Err   error
}

func (o Op) String() string {
	s := fmt.Sprintf("#%d %s", o.Index, o.Desc)
	if o.Err != nil {
		s += " -> " + o.Err.Error()
	}
	return s
}

type durable struct {
	has    bool   // data holds durable content
	data   []byte // content as of the last fsync (or checkpoint)
	syncAt int    // op index of that fsync, -1 for the checkpoint
	truncs []int  // op indexes of truncations
}

type syncRec struct {
	idx int
	ino uint64
}

// FS is a deterministic in-memory fsx.FS that records mutations and can
// simulate a crash. The zero value is not usable; call New.
type FS struct {
	mu         sync.Mutex
	dev        uint64
	next       uint64 // next inode number
	live       *tree
	base       *tree // durable state at the last checkpoint
	dur        map[uint64]*durable
	ops        []Op
	ns         []nsOp
	syncs      []syncRec
	crashAfter int // <0: never
	crashed    bool
	clock      int64
}

var _ fsx.FS = (*FS)(nil)

// New returns an empty filesystem holding only "/" (mode 0755).
func New() *FS {
	f := &FS{dev: 1, next: rootIno + 1, live: newTree(), crashAfter: -1}
	f.checkpoint()
	return f
}

// Checkpoint makes the current state fully durable (like sync(2) followed by
// a clean reboot), clears the op log and restarts operation counting. Setup
// code calls it before the code under test runs; WriteTree and FromOS call it.
func (f *FS) Checkpoint() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkpoint()
}

func (f *FS) checkpoint() {
	f.base = f.live.clone()
	f.dur = map[uint64]*durable{}
	for ino, n := range f.live.nodes {
		if n.kind == kFile {
			f.dur[ino] = &durable{has: true, data: append([]byte(nil), n.data...), syncAt: -1}
		}
	}
	f.ops, f.ns, f.syncs = nil, nil, nil
}

// CrashAfter makes the (n+1)-th mutating operation counted from the last
// checkpoint, and every operation after it, fail with ErrCrashed without
// effect. n < 0 disables the crash.
func (f *FS) CrashAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAfter = n
}

// Crashed reports whether the simulated crash has happened.
func (f *FS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// Ops returns a copy of the operations performed since the last checkpoint.
func (f *FS) Ops() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.ops...)
}

// Count returns the number of mutating operations performed since the last
// checkpoint (the ones refused because of the crash are not counted).
func (f *FS) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

// Clone returns an independent deep copy: tree, durability state, op log and
// crash configuration. Open files are not carried over.
func (f *FS) Clone() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &FS{dev: f.dev, next: f.next, live: f.live.clone(), base: f.base.clone(),
		dur: make(map[uint64]*durable, len(f.dur)), crashAfter: f.crashAfter, crashed: f.crashed, clock: f.clock}
	for k, d := range f.dur {
		nd := *d
		nd.data = append([]byte(nil), d.data...)
		nd.truncs = append([]int(nil), d.truncs...)
		c.dur[k] = &nd
	}
	c.ops = append([]Op(nil), f.ops...)
	c.ns = append([]nsOp(nil), f.ns...)
	c.syncs = append([]syncRec(nil), f.syncs...)
	return c
}

// Links returns the link count of name (not followed). Directories count
// "." and ".." as Linux does: 2 plus the number of subdirectories.
func (f *FS) Links(name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return 0, &fs.PathError{Op: "lstat", Path: name, Err: ErrCrashed}
	}
	_, _, n, errno := f.live.resolve(name, false)
	if errno == nil && n == nil {
		errno = syscall.ENOENT
	}
	if errno != nil {
		return 0, &fs.PathError{Op: "lstat", Path: name, Err: errno}
	}
	if n.kind == kDir {
		links := 2
		for _, c := range n.entries {
			if f.live.nodes[c].kind == kDir {
				links++
			}
		}
		return links, nil
	}
	return n.nlink, nil
}

// begin gates a mutating operation; f.mu must be held.
func (f *FS) begin() error {
	if f.crashed {
		return ErrCrashed
	}
	if f.crashAfter >= 0 && len(f.ops) >= f.crashAfter {
		f.crashed = true
		return ErrCrashed
	}
	f.clock++
	return nil
}

// read gates a read-only operation; f.mu must be held.
func (f *FS) read() error {
	if f.crashed {
		return ErrCrashed
	}
	return nil
}

func (f *FS) record(op Op) int {
	op.Index = len(f.ops)
	f.ops = append(f.ops, op)
	return op.Index
}

// applyNS applies a validated namespace operation belonging to the op that
// was recorded last.
func (f *FS) applyNS(op nsOp) {
	op.idx = len(f.ops) - 1
	if !f.live.apply(op, f.clock) {
		panic(fmt.Sprintf("crashfs: internal error: validated op %+v did not apply", op))
	}
	f.ns = append(f.ns, op)
}

func (f *FS) dur0(ino uint64) *durable {
	d := f.dur[ino]
	if d == nil {
		d = &durable{syncAt: -1}
		f.dur[ino] = d
	}
	return d
}

// fsync records that n's data and (for the journal) everything before it is
// durable; f.mu must be held and the op already recorded.
func (f *FS) fsync(n *inode) {
	idx := len(f.ops) - 1
	f.syncs = append(f.syncs, syncRec{idx: idx, ino: n.ino})
	if n.kind == kFile {
		d := f.dur0(n.ino)
		d.has, d.data, d.syncAt = true, append([]byte(nil), n.data...), idx
	}
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func linkErr(op, old, new string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: op, Old: old, New: new, Err: err}
}

func flagString(flag int) string {
	var s []string
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		s = append(s, "O_RDONLY")
	case os.O_WRONLY:
		s = append(s, "O_WRONLY")
	case os.O_RDWR:
		s = append(s, "O_RDWR")
	}
	for _, b := range []struct {
		f int
		n string
	}{{os.O_CREATE, "O_CREATE"}, {os.O_EXCL, "O_EXCL"}, {os.O_TRUNC, "O_TRUNC"}, {os.O_APPEND, "O_APPEND"}} {
		if flag&b.f != 0 {
			s = append(s, b.n)
		}
	}
	return strings.Join(s, "|")
}

// Open opens name for reading.
func (f *FS) Open(name string) (fsx.File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

// OpenFile opens name with os.O_* flags. Opening for writing, with O_CREATE
// or with O_TRUNC is a recorded (mutating) operation; read-only opens are not.
// The umask is not applied: a created file gets perm.Perm() exactly.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	wr := acc == os.O_WRONLY || acc == os.O_RDWR
	rd := acc == os.O_RDONLY || acc == os.O_RDWR
	mutating := wr || flag&(os.O_CREATE|os.O_TRUNC) != 0
	if mutating {
		if err := f.begin(); err != nil {
			return nil, pathErr("open", name, err)
		}
	} else if err := f.read(); err != nil {
		return nil, pathErr("open", name, err)
	}
	excl := flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0
	parent, base, n, errno := f.live.resolve(name, !excl)
	op := Op{Kind: OpOpen, Path: name, Desc: fmt.Sprintf("open %s %s", name, flagString(flag))}
	fail := func(errno error) (fsx.File, error) {
		if mutating {
			op.Err = pathErr("open", name, errno)
			f.record(op)
		}
		return nil, pathErr("open", name, errno)
	}
	switch {
	case errno != nil:
		return fail(errno)
	case n == nil && flag&os.O_CREATE == 0:
		return fail(syscall.ENOENT)
	case n == nil:
		ino := f.next
		f.next++
		op.Kind = OpCreate
		op.Desc = fmt.Sprintf("create %s %s %#o", name, flagString(flag), perm.Perm())
		f.record(op)
		f.applyNS(nsOp{kind: nsCreate, dir: parent.ino, name: base, ino: ino, mode: perm.Perm()})
		n = f.live.nodes[ino]
	case excl:
		return fail(syscall.EEXIST)
	case n.kind == kDir && (wr || flag&os.O_TRUNC != 0):
		return fail(syscall.EISDIR)
	default:
		if mutating {
			f.record(op)
		}
		if flag&os.O_TRUNC != 0 && n.kind == kFile { // Linux truncates even with O_RDONLY
			n.data = nil
			n.mtime = f.clock
			d := f.dur0(n.ino)
			d.truncs = append(d.truncs, len(f.ops)-1)
		}
	}
	return &file{fs: f, n: n, name: name, rd: rd, wr: wr, app: flag&os.O_APPEND != 0}, nil
}

// Rename renames oldname to newname, atomically replacing a file at newname.
// Renaming one hard link of an inode over another is a successful no-op, as
// in POSIX. Like os.Rename on Unix (which checks before calling rename(2)),
// it refuses with EEXIST to replace a directory, even an empty one, and to
// rename a directory onto its own name.
func (f *FS) Rename(oldname, newname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return linkErr("rename", oldname, newname, err)
	}
	op := Op{Kind: OpRename, Path: oldname, Path2: newname, Desc: fmt.Sprintf("rename %s -> %s", oldname, newname)}
	ns, errno := f.rename(oldname, newname)
	op.Err = linkErr("rename", oldname, newname, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	if ns != nil {
		f.applyNS(*ns)
	}
	return nil
}

// rename validates a rename; it returns the operation to apply, nil for a
// no-op.
func (f *FS) rename(oldname, newname string) (*nsOp, error) {
	sp, sb, sn, serr := f.live.resolve(oldname, false)
	dp, db, dn, derr := f.live.resolve(newname, false)
	// os.Rename first Lstats newname; if it is a directory it reports
	// Lstat(oldname)'s error, or EEXIST unless both names are one file.
	if derr == nil && dn != nil && dn.kind == kDir {
		switch {
		case serr != nil:
			return nil, serr
		case sn == nil:
			return nil, syscall.ENOENT
		case oldname == newname || dn != sn:
			return nil, syscall.EEXIST
		}
	}
	// Then rename(2): both parents are resolved before the old name is
	// looked up.
	if serr != nil {
		return nil, serr
	}
	if derr != nil {
		return nil, derr
	}
	if sn == nil {
		return nil, syscall.ENOENT
	}
	if sp == nil || dp == nil {
		return nil, syscall.EBUSY
	}
	if dn == sn {
		return nil, nil
	}
	if sn.kind == kDir && f.live.isAncestor(sn.ino, dp.ino) {
		return nil, syscall.EINVAL
	}
	if dn != nil {
		// Unreachable through os.Rename semantics for directory targets
		// (above), kept for rename(2) fidelity.
		switch {
		case sn.kind == kDir && dn.kind != kDir:
			return nil, syscall.ENOTDIR
		case sn.kind != kDir && dn.kind == kDir:
			return nil, syscall.EISDIR
		case dn.kind == kDir && len(dn.entries) > 0:
			return nil, syscall.ENOTEMPTY
		}
	}
	return &nsOp{kind: nsRename, sdir: sp.ino, sname: sb, dir: dp.ino, name: db, ino: sn.ino}, nil
}

// Remove removes a file, a symlink (not its target) or an empty directory.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return pathErr("remove", name, err)
	}
	op := Op{Kind: OpUnlink, Path: name, Desc: "unlink " + name}
	p, b, n, errno := f.live.resolve(name, false)
	switch {
	case errno != nil:
	case n == nil:
		errno = syscall.ENOENT
	case p == nil:
		errno = syscall.EBUSY
	case n.kind == kDir:
		op.Kind, op.Desc = OpRmdir, "rmdir "+name
		if len(n.entries) > 0 {
			errno = syscall.ENOTEMPTY
		}
	}
	op.Err = pathErr("remove", name, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	f.applyNS(nsOp{kind: nsUnlink, dir: p.ino, name: b, ino: n.ino})
	return nil
}

// create runs the shared validation of Mkdir and Symlink.
func (f *FS) create(name string) (*inode, string, error) {
	p, b, n, errno := f.live.resolve(name, false)
	switch {
	case errno != nil:
		return nil, "", errno
	case n != nil:
		return nil, "", syscall.EEXIST
	}
	return p, b, nil
}

// Mkdir creates a directory with mode perm.Perm() (no umask).
func (f *FS) Mkdir(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return pathErr("mkdir", name, err)
	}
	op := Op{Kind: OpMkdir, Path: name, Desc: fmt.Sprintf("mkdir %s %#o", name, perm.Perm())}
	p, b, errno := f.create(name)
	op.Err = pathErr("mkdir", name, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	ino := f.next
	f.next++
	f.applyNS(nsOp{kind: nsMkdir, dir: p.ino, name: b, ino: ino, mode: perm.Perm()})
	return nil
}

// Symlink creates name as a symbolic link to target.
func (f *FS) Symlink(target, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return linkErr("symlink", target, name, err)
	}
	op := Op{Kind: OpSymlink, Path: target, Path2: name, Desc: fmt.Sprintf("symlink %s -> %s", name, target)}
	p, b, errno := f.create(name)
	op.Err = linkErr("symlink", target, name, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	ino := f.next
	f.next++
	f.applyNS(nsOp{kind: nsSymlink, dir: p.ino, name: b, ino: ino, target: target})
	return nil
}

// Link creates newname as a hard link to oldname. Like linkat(2) without
// AT_SYMLINK_FOLLOW (what os.Link does), a final symlink is linked itself.
func (f *FS) Link(oldname, newname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return linkErr("link", oldname, newname, err)
	}
	op := Op{Kind: OpLink, Path: oldname, Path2: newname, Desc: fmt.Sprintf("link %s -> %s", newname, oldname)}
	_, _, sn, errno := f.live.resolve(oldname, false)
	var p *inode
	var b string
	switch {
	case errno != nil:
	case sn == nil:
		errno = syscall.ENOENT
	default:
		// As linkat(2): the new name is looked up before the type check.
		p, b, errno = f.create(newname)
		if errno == nil && sn.kind == kDir {
			errno = syscall.EPERM
		}
	}
	op.Err = linkErr("link", oldname, newname, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	f.applyNS(nsOp{kind: nsLink, dir: p.ino, name: b, ino: sn.ino})
	return nil
}

// Chmod sets the permission bits of name (symlinks followed); other mode
// bits are ignored.
func (f *FS) Chmod(name string, mode fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return pathErr("chmod", name, err)
	}
	op := Op{Kind: OpChmod, Path: name, Desc: fmt.Sprintf("chmod %s %#o", name, mode.Perm())}
	_, _, n, errno := f.live.resolve(name, true)
	if errno == nil && n == nil {
		errno = syscall.ENOENT
	}
	op.Err = pathErr("chmod", name, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	f.applyNS(nsOp{kind: nsChmod, ino: n.ino, mode: mode.Perm()})
	return nil
}

// SyncDir fsyncs the directory name (symlinks followed). Any fsync commits
// the journal; see the package comment.
func (f *FS) SyncDir(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return pathErr("sync", name, err)
	}
	op := Op{Kind: OpSyncDir, Path: name, Desc: "fsyncdir " + name}
	_, _, n, errno := f.live.resolve(name, true)
	if errno == nil && n == nil {
		errno = syscall.ENOENT
	}
	op.Err = pathErr("open", name, errno)
	f.record(op)
	if errno != nil {
		return op.Err
	}
	f.fsync(n)
	return nil
}

// Readlink returns the target of the symlink name.
func (f *FS) Readlink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read(); err != nil {
		return "", pathErr("readlink", name, err)
	}
	_, _, n, errno := f.live.resolve(name, false)
	switch {
	case errno != nil:
	case n == nil:
		errno = syscall.ENOENT
	case n.kind != kSymlink:
		errno = syscall.EINVAL
	}
	if errno != nil {
		return "", pathErr("readlink", name, errno)
	}
	return n.target, nil
}

func (f *FS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read(); err != nil {
		return nil, pathErr(op, name, err)
	}
	_, _, n, errno := f.live.resolve(name, follow)
	if errno == nil && n == nil {
		errno = syscall.ENOENT
	}
	if errno != nil {
		return nil, pathErr(op, name, errno)
	}
	return f.info(path.Base(name), n), nil
}

// Lstat describes name without following a final symlink.
func (f *FS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

// Stat describes name, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

// ReadDir lists the directory name sorted by file name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read(); err != nil {
		return nil, pathErr("open", name, err)
	}
	_, _, n, errno := f.live.resolve(name, true)
	if errno == nil && n == nil {
		errno = syscall.ENOENT
	}
	if errno != nil {
		return nil, pathErr("open", name, errno)
	}
	if n.kind != kDir {
		return nil, pathErr("open", name, syscall.ENOTDIR)
	}
	names := make([]string, 0, len(n.entries))
	for k := range n.entries {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]fs.DirEntry, len(names))
	for i, k := range names {
		out[i] = fs.FileInfoToDirEntry(f.info(k, f.live.nodes[n.entries[k]]))
	}
	return out, nil
}

// epoch makes ModTime deterministic: it advances one millisecond per
// mutating operation.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *FS) info(name string, n *inode) fs.FileInfo {
	fi := &fileInfo{name: name, mode: n.mode, mtime: epoch.Add(time.Duration(n.mtime) * time.Millisecond),
		sys: &fsx.Stat{Dev: f.dev, Ino: n.ino}}
	switch n.kind {
	case kFile:
		fi.size = int64(len(n.data))
	case kDir:
		fi.mode |= fs.ModeDir
		fi.size = 4096
	case kSymlink:
		fi.mode = fs.ModeSymlink | 0o777
		fi.size = int64(len(n.target))
	}
	return fi
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	sys   *fsx.Stat
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return fi.sys }

// file is an open file. It refers to its inode, so it keeps working after
// the name is renamed or unlinked, as on POSIX.
type file struct {
	fs     *FS
	n      *inode
	name   string
	off    int64
	rd, wr bool
	app    bool
	closed bool
}

func (h *file) check(op string) error {
	if h.closed {
		return pathErr(op, h.name, fs.ErrClosed)
	}
	return nil
}

func (h *file) Read(p []byte) (int, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("read"); err != nil {
		return 0, err
	}
	if err := f.read(); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	if !h.rd {
		return 0, pathErr("read", h.name, syscall.EBADF)
	}
	if h.n.kind == kDir {
		return 0, pathErr("read", h.name, syscall.EISDIR)
	}
	if h.off >= int64(len(h.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, h.n.data[h.off:])
	h.off += int64(n)
	return n, nil
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("read"); err != nil {
		return 0, err
	}
	if err := f.read(); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	if off < 0 {
		return 0, pathErr("readat", h.name, errors.New("negative offset"))
	}
	if !h.rd {
		return 0, pathErr("read", h.name, syscall.EBADF)
	}
	if h.n.kind == kDir {
		return 0, pathErr("read", h.name, syscall.EISDIR)
	}
	var n int
	if off < int64(len(h.n.data)) {
		n = copy(p, h.n.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) Write(p []byte) (int, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("write"); err != nil {
		return 0, err
	}
	if err := f.begin(); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	op := Op{Kind: OpWrite, Path: h.name}
	if !h.wr {
		op.Err = pathErr("write", h.name, syscall.EBADF)
		op.Desc = fmt.Sprintf("write %s len=%d", h.name, len(p))
		f.record(op)
		return 0, op.Err
	}
	if h.app {
		h.off = int64(len(h.n.data))
	}
	op.Desc = fmt.Sprintf("write %s off=%d len=%d", h.name, h.off, len(p))
	f.record(op)
	end := h.off + int64(len(p))
	if end > int64(len(h.n.data)) {
		if end > int64(cap(h.n.data)) {
			nd := make([]byte, end, 2*end)
			copy(nd, h.n.data)
			h.n.data = nd
		} else {
			h.n.data = h.n.data[:end]
		}
	}
	copy(h.n.data[h.off:], p)
	h.off = end
	h.n.mtime = f.clock
	return len(p), nil
}

func (h *file) Seek(offset int64, whence int) (int64, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("seek"); err != nil {
		return 0, err
	}
	if err := f.read(); err != nil {
		return 0, pathErr("seek", h.name, err)
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = h.off + offset
	case io.SeekEnd:
		abs = int64(len(h.n.data)) + offset
	default:
		return 0, pathErr("seek", h.name, syscall.EINVAL)
	}
	if abs < 0 {
		return 0, pathErr("seek", h.name, syscall.EINVAL)
	}
	h.off = abs
	return abs, nil
}

func (h *file) Sync() error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("sync"); err != nil {
		return err
	}
	if err := f.begin(); err != nil {
		return pathErr("sync", h.name, err)
	}
	f.record(Op{Kind: OpSync, Path: h.name, Desc: "fsync " + h.name})
	f.fsync(h.n)
	return nil
}

// Close releases the file. After the crash it marks the file closed and
// returns ErrCrashed like every other call.
func (h *file) Close() error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("close"); err != nil {
		return err
	}
	h.closed = true
	if err := f.read(); err != nil {
		return pathErr("close", h.name, err)
	}
	return nil
}

func (h *file) Stat() (fs.FileInfo, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.check("stat"); err != nil {
		return nil, err
	}
	if err := f.read(); err != nil {
		return nil, pathErr("stat", h.name, err)
	}
	return f.info(path.Base(h.name), h.n), nil
}
