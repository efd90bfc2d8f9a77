package crashfs

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// NodeKind is the type of a tree entry in a snapshot.
type NodeKind string

// Node kinds.
const (
	KindFile    NodeKind = "file"
	KindDir     NodeKind = "dir"
	KindSymlink NodeKind = "symlink"
)

// Node describes one entry of a snapshot. Snapshots are plain comparable
// values, so two trees are equal exactly when their maps are equal.
type Node struct {
	Kind   NodeKind
	Mode   fs.FileMode // permission bits (0 for symlinks)
	Data   string      // file content
	Target string      // symlink target
	// LinkOf is, for a file with several hard links inside the snapshot,
	// the smallest path of the group (empty for that path itself).
	LinkOf string
}

func (n Node) String() string {
	switch n.Kind {
	case KindDir:
		return fmt.Sprintf("dir %#o", n.Mode)
	case KindSymlink:
		return "symlink -> " + n.Target
	}
	s := fmt.Sprintf("file %#o", n.Mode)
	if len(n.Data) <= 40 {
		s += fmt.Sprintf(" %q", n.Data)
	} else {
		s += fmt.Sprintf(" len=%d sha256=%x", len(n.Data), sha256.Sum256([]byte(n.Data)))
	}
	if n.LinkOf != "" {
		s += " (hard link of " + n.LinkOf + ")"
	}
	return s
}

// Snapshot walks root on any fsx.FS (crashfs or the real OS) and returns
// every entry below it keyed by slash path relative to root (root itself is
// not included). Symlinks are not followed.
func Snapshot(fsys fsx.FS, root string) (map[string]Node, error) {
	out := map[string]Node{}
	type id struct{ dev, ino uint64 }
	groups := map[id][]string{}
	var walk func(abs, rel string) error
	walk = func(abs, rel string) error {
		ents, err := fsys.ReadDir(abs)
		if err != nil {
			return err
		}
		for _, e := range ents {
			a, r := path.Join(abs, e.Name()), path.Join(rel, e.Name())
			fi, err := fsys.Lstat(a)
			if err != nil {
				return err
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := fsys.Readlink(a)
				if err != nil {
					return err
				}
				out[r] = Node{Kind: KindSymlink, Target: t}
			case fi.IsDir():
				out[r] = Node{Kind: KindDir, Mode: fi.Mode().Perm()}
				if err := walk(a, r); err != nil {
					return err
				}
			default:
				data, err := fsx.ReadFile(fsys, a)
				if err != nil {
					return err
				}
				out[r] = Node{Kind: KindFile, Mode: fi.Mode().Perm(), Data: string(data)}
				if dev, ino, ok := fsx.FileID(fi); ok {
					groups[id{dev, ino}] = append(groups[id{dev, ino}], r)
				}
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		sort.Strings(g)
		for _, p := range g[1:] {
			n := out[p]
			n.LinkOf = g[0]
			out[p] = n
		}
	}
	return out, nil
}

// MustSnapshot is Snapshot that fails t on error.
func MustSnapshot(t testing.TB, fsys fsx.FS, root string) map[string]Node {
	t.Helper()
	s, err := Snapshot(fsys, root)
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return s
}

// Diff lists the differences between two snapshots, one line per path,
// sorted; it is empty when they are equal.
func Diff(want, got map[string]Node) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing (want %s)", p, w))
		case g != w:
			out = append(out, fmt.Sprintf("%s: got %s, want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("%s: unexpected %s", p, g))
		}
	}
	sort.Strings(out)
	return out
}

// WriteTree creates the entries of a snapshot below root (creating root and
// missing parents with mode 0755) and then checkpoints, so the seeded tree
// is durable and the op log is empty. Call it before CrashAfter.
func (f *FS) WriteTree(root string, tree map[string]Node) error {
	if _, err := fsx.MkdirAll(f, root, 0o755); err != nil {
		return err
	}
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children, link groups' first path first
	for _, p := range paths {
		n, abs := tree[p], path.Join(root, p)
		if _, err := fsx.MkdirAll(f, path.Dir(abs), 0o755); err != nil {
			return err
		}
		var err error
		switch {
		case n.Kind == KindDir:
			err = f.Mkdir(abs, n.Mode)
			if err == nil {
				err = f.Chmod(abs, n.Mode)
			}
		case n.Kind == KindSymlink:
			err = f.Symlink(n.Target, abs)
		case n.LinkOf != "":
			err = f.Link(path.Join(root, n.LinkOf), abs)
		default:
			var h fsx.File
			h, err = f.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, n.Mode)
			if err == nil {
				_, err = h.Write([]byte(n.Data))
				h.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("write tree %s: %w", abs, err)
		}
	}
	f.Checkpoint()
	return nil
}

// FromOS returns a checkpointed FS holding a copy of the real directory dir
// at the same absolute path (so absolute symlink targets keep working).
func FromOS(dir string) (*FS, error) {
	abs, err := fsx.Abs(dir)
	if err != nil {
		return nil, err
	}
	tree, err := Snapshot(fsx.OS{}, abs)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	f := New()
	if err := f.WriteTree(abs, tree); err != nil {
		return nil, err
	}
	return f, nil
}
