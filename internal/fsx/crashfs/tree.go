package crashfs

import (
	"io/fs"
	"strings"
	"syscall"
)

type kind uint8

const (
	kFile kind = iota
	kDir
	kSymlink
)

// inode is one file, directory or symlink. Directory entries refer to inodes
// by number so that a tree can be cloned and replayed without pointers.
type inode struct {
	ino     uint64
	kind    kind
	mode    fs.FileMode // permission bits only
	data    []byte
	target  string
	entries map[string]uint64 // directories
	parent  uint64            // directories: the one directory holding them
	nlink   int               // files and symlinks: number of directory entries
	mtime   int64
}

func (n *inode) clone() *inode {
	c := *n
	if n.data != nil {
		c.data = append([]byte(nil), n.data...)
	}
	if n.entries != nil {
		c.entries = make(map[string]uint64, len(n.entries))
		for k, v := range n.entries {
			c.entries[k] = v
		}
	}
	return &c
}

// tree is a namespace: inodes by number, rooted at rootIno.
type tree struct {
	nodes map[uint64]*inode
}

const rootIno = 1

func newTree() *tree {
	t := &tree{nodes: map[uint64]*inode{}}
	t.nodes[rootIno] = &inode{ino: rootIno, kind: kDir, mode: 0o755, entries: map[string]uint64{}, parent: rootIno}
	return t
}

func (t *tree) clone() *tree {
	c := &tree{nodes: make(map[uint64]*inode, len(t.nodes))}
	for k, v := range t.nodes {
		c.nodes[k] = v.clone()
	}
	return c
}

func (t *tree) root() *inode { return t.nodes[rootIno] }

// prune drops inodes no longer reachable from the root (unlinked files whose
// last descriptor is gone, as after a reboot).
func (t *tree) prune() {
	seen := map[uint64]bool{}
	var walk func(ino uint64)
	walk = func(ino uint64) {
		if seen[ino] {
			return
		}
		seen[ino] = true
		if n := t.nodes[ino]; n != nil && n.kind == kDir {
			for _, c := range n.entries {
				walk(c)
			}
		}
	}
	walk(rootIno)
	for ino := range t.nodes {
		if !seen[ino] {
			delete(t.nodes, ino)
		}
	}
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

const maxSymlinks = 40 // Linux MAXSYMLINKS

// resolve walks name. Intermediate symlinks are always followed, the final one
// only if follow is set. It returns the directory holding the final component,
// the component's name and its inode (nil if missing). For names that end at a
// directory without a final component ("/", "/a/.."), parent is nil.
func (t *tree) resolve(name string, follow bool) (parent *inode, base string, n *inode, errno error) {
	if !strings.HasPrefix(name, "/") {
		return nil, "", nil, syscall.EINVAL
	}
	stack := []*inode{t.root()}
	comps := splitPath(name)
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		cur := stack[len(stack)-1]
		if c == ".." {
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		last := len(comps) == 0
		childIno, ok := cur.entries[c]
		if !ok {
			if last {
				return cur, c, nil, nil
			}
			return nil, "", nil, syscall.ENOENT
		}
		child := t.nodes[childIno]
		if child.kind == kSymlink && (!last || follow) {
			links++
			if links > maxSymlinks {
				return nil, "", nil, syscall.ELOOP
			}
			if strings.HasPrefix(child.target, "/") {
				stack = stack[:1]
			}
			comps = append(splitPath(child.target), comps...)
			continue
		}
		if last {
			return cur, c, child, nil
		}
		if child.kind != kDir {
			return nil, "", nil, syscall.ENOTDIR
		}
		stack = append(stack, child)
	}
	return nil, "", stack[len(stack)-1], nil
}

// isAncestor reports whether dir a is d or one of d's ancestors.
func (t *tree) isAncestor(a, d uint64) bool {
	for {
		if a == d {
			return true
		}
		n := t.nodes[d]
		if n == nil || d == rootIno {
			return false
		}
		d = n.parent
	}
}

// nsKind is a namespace (metadata) operation that the journal orders.
type nsKind uint8

const (
	nsCreate nsKind = iota
	nsMkdir
	nsSymlink
	nsLink
	nsUnlink
	nsRename
	nsChmod
)

// nsOp is a replayable namespace operation, addressed by inode numbers so it
// replays the same way on any earlier version of the tree.
type nsOp struct {
	idx    int // index in the op log
	kind   nsKind
	dir    uint64 // directory of name (destination for rename)
	name   string
	sdir   uint64 // rename source directory
	sname  string // rename source name
	ino    uint64 // inode created, linked, unlinked, renamed or chmod-ed
	mode   fs.FileMode
	target string
}

// touched lists the inodes whose fsync makes op durable in the strict model.
func (op nsOp) touched() []uint64 {
	switch op.kind {
	case nsRename:
		return []uint64{op.sdir, op.dir}
	case nsChmod:
		return []uint64{op.ino}
	}
	return []uint64{op.dir}
}

func (t *tree) dirNode(ino uint64) *inode {
	if n := t.nodes[ino]; n != nil && n.kind == kDir {
		return n
	}
	return nil
}

// apply performs op if its preconditions hold and reports whether it did.
// Live operations validate (and produce errors) before calling apply, so
// there it always succeeds; during a strict-model replay some operations are
// dropped and later ones may then no longer apply.
func (t *tree) apply(op nsOp, clock int64) bool {
	switch op.kind {
	case nsCreate, nsMkdir, nsSymlink:
		d := t.dirNode(op.dir)
		if d == nil {
			return false
		}
		if _, ok := d.entries[op.name]; ok {
			return false
		}
		if _, ok := t.nodes[op.ino]; ok {
			return false
		}
		n := &inode{ino: op.ino, mode: op.mode, mtime: clock}
		switch op.kind {
		case nsCreate:
			n.kind, n.nlink = kFile, 1
		case nsMkdir:
			n.kind, n.entries, n.parent = kDir, map[string]uint64{}, d.ino
		case nsSymlink:
			n.kind, n.nlink, n.mode, n.target = kSymlink, 1, 0o777, op.target
		}
		t.nodes[op.ino] = n
		d.entries[op.name] = op.ino
		d.mtime = clock
	case nsLink:
		d := t.dirNode(op.dir)
		n := t.nodes[op.ino]
		if d == nil || n == nil || n.kind == kDir || n.nlink == 0 {
			return false
		}
		if _, ok := d.entries[op.name]; ok {
			return false
		}
		d.entries[op.name] = op.ino
		n.nlink++
		d.mtime = clock
	case nsUnlink:
		d := t.dirNode(op.dir)
		if d == nil || d.entries[op.name] != op.ino {
			return false
		}
		n := t.nodes[op.ino]
		if n.kind == kDir && len(n.entries) > 0 {
			return false
		}
		delete(d.entries, op.name)
		if n.kind == kDir {
			delete(t.nodes, n.ino)
		} else {
			n.nlink--
		}
		d.mtime = clock
	case nsRename:
		sd, dd := t.dirNode(op.sdir), t.dirNode(op.dir)
		if sd == nil || dd == nil || sd.entries[op.sname] != op.ino {
			return false
		}
		n := t.nodes[op.ino]
		if old, ok := dd.entries[op.name]; ok {
			if old == op.ino {
				return true
			}
			on := t.nodes[old]
			if (n.kind == kDir) != (on.kind == kDir) || (on.kind == kDir && len(on.entries) > 0) {
				return false
			}
		}
		if n.kind == kDir && t.isAncestor(n.ino, dd.ino) {
			return false
		}
		if old, ok := dd.entries[op.name]; ok {
			on := t.nodes[old]
			if on.kind == kDir {
				delete(t.nodes, old)
			} else {
				on.nlink--
			}
		}
		delete(sd.entries, op.sname)
		dd.entries[op.name] = op.ino
		if n.kind == kDir {
			n.parent = dd.ino
		}
		sd.mtime, dd.mtime = clock, clock
	case nsChmod:
		n := t.nodes[op.ino]
		if n == nil {
			return false
		}
		n.mode = op.mode
	}
	return true
}
