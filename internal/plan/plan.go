// Package plan compares a target tree with what is installed and decides what
// to add, modify and delete. It reads the disk but never writes it.
//
// Invariants: files the agent never managed are never deleted (except under
// configured delete_patterns); the agent's own files (version.json, the error
// file, stage/backup/state folders, the config file) are never part of a plan;
// a path whose local content already matches is never downloaded.
package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/pathx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// ErrConflict is wrapped when what is on the device (a file, folder or link
// ota did not install) stands where the target tree needs something else.
var ErrConflict = errors.New("the device folder conflicts with the target tree")

// Local is what is on disk at a path.
type Local struct {
	Mode uint32 // git-style mode: ModeFile, ModeExecutable, ModeSymlink; 0 for a directory
	Dir  bool
	Size int64
	SHA1 string
}

// Change is one path that differs.
type Change struct {
	Path  string        `json:"path"`
	Entry *source.Entry `json:"-"` // target entry; nil for deletes
	Old   *Local        `json:"-"` // what is on disk now; nil for adds
	// SameContent is set for a modify whose bytes already match (only the
	// mode differs), so nothing needs downloading.
	SameContent bool `json:"-"`
}

// Plan is the difference between installed and target.
type Plan struct {
	Add, Modify, Delete []Change
	Unchanged           int
	// Tree is the filtered target tree, sorted by path.
	Tree []source.Entry
	// Skipped lists target paths left out, with the reason.
	Skipped []string
}

// Empty reports whether nothing needs to change.
func (p *Plan) Empty() bool { return len(p.Add)+len(p.Modify)+len(p.Delete) == 0 }

// DownloadBytes is the number of bytes that must be fetched.
func (p *Plan) DownloadBytes() int64 {
	var n int64
	for _, cs := range [][]Change{p.Add, p.Modify} {
		for _, c := range cs {
			if !c.SameContent {
				n += c.Entry.Size
			}
		}
	}
	return n
}

// Input is everything Make needs.
type Input struct {
	FS             fsx.FS
	TargetDir      string
	Tree           []source.Entry
	Index          state.Index
	Filter         pathx.Filter
	Reserved       []string // names/prefixes inside target_dir the agent owns
	DeletePatterns []string
	// CompareOnly means the tree is built in a new folder and TargetDir is
	// only compared against (releases layout): no file/folder conflicts.
	CompareOnly bool
}

// Make builds the plan. The target tree and the index are both sorted by
// path, so it needs no map over the whole tree: membership is a binary
// search in the sorted tree, and only what changes (deletes, folders
// checked on disk) is held in maps.
func Make(in Input) (*Plan, error) {
	p := &Plan{Tree: make([]source.Entry, 0, len(in.Tree))}
	for i := range in.Tree {
		e := &in.Tree[i]
		if err := pathx.Validate(e.Path); err != nil {
			return nil, fmt.Errorf("%w: %v", source.ErrBadData, err)
		}
		if isReserved(e.Path, in.Reserved) {
			p.Skipped = append(p.Skipped, e.Path+": reserved for ota's own files")
			continue
		}
		if !in.Filter.Permitted(e.Path) {
			continue
		}
		p.Tree = append(p.Tree, *e)
	}
	if !slices.IsSortedFunc(p.Tree, byPath) {
		slices.SortFunc(p.Tree, byPath)
	}
	for i := range p.Tree {
		e := &p.Tree[i]
		if i > 0 && p.Tree[i-1].Path == e.Path {
			return nil, fmt.Errorf("%w: path %q listed twice", source.ErrBadData, e.Path)
		}
		// Entries below e.Path/ sort after it, not always right after it
		// ("a.txt" < "a/b"): the first one at or after "e.Path/".
		if j := p.find(e.Path + "/"); j < len(p.Tree) && strings.HasPrefix(p.Tree[j].Path, e.Path+"/") {
			return nil, fmt.Errorf("%w: %q is both a file and a folder in the target tree", source.ErrBadData, e.Path)
		}
	}
	want := func(rel string) bool {
		j := p.find(rel)
		return j < len(p.Tree) && p.Tree[j].Path == rel
	}

	// Deletes: files ota installed that the target no longer has, plus
	// unmanaged files under delete_patterns.
	deleting := map[string]bool{}
	addDelete := func(rel string) error {
		if deleting[rel] || want(rel) || isReserved(rel, in.Reserved) || !in.Filter.Permitted(rel) {
			return nil
		}
		cached, _ := in.Index.Lookup(rel)
		l, err := Inspect(in.FS, in.TargetDir, rel, cached)
		if err != nil || l == nil || l.Dir {
			return err
		}
		deleting[rel] = true
		p.Delete = append(p.Delete, Change{Path: rel, Old: l})
		return nil
	}
	k := 0 // merge walk: the index and the tree are both sorted
	for _, f := range in.Index.Files {
		rel := f.Path
		for k < len(p.Tree) && p.Tree[k].Path < rel {
			k++
		}
		if k < len(p.Tree) && p.Tree[k].Path == rel {
			continue
		}
		if pathx.Validate(rel) != nil {
			continue // a corrupt index never leads to deleting outside the tree
		}
		if err := addDelete(rel); err != nil {
			return nil, err
		}
	}
	for _, pat := range in.DeletePatterns {
		pat = strings.Trim(pat, "/")
		if pathx.Validate(pat) != nil {
			continue
		}
		err := walk(in.FS, in.TargetDir, pat, func(rel string) error { return addDelete(rel) })
		if err != nil {
			return nil, err
		}
	}

	dirOK := map[string]bool{} // folders seen on disk as folders (or absent)
	for i := range p.Tree {
		e := &p.Tree[i]
		// A parent on disk that is a file must itself be deleted first.
		for d := path.Dir(e.Path); d != "." && !in.CompareOnly && !dirOK[d]; d = path.Dir(d) {
			fi, err := in.FS.Lstat(path.Join(in.TargetDir, d))
			if err != nil || fi.IsDir() {
				dirOK[d] = true
			}
			if err == nil && !fi.IsDir() && !deleting[d] {
				what := "a file"
				if fi.Mode()&fs.ModeSymlink != 0 {
					what = "a symbolic link ota did not install"
				}
				return nil, fmt.Errorf("%w: %q is %s on the device but a folder in the target (needed for %s): move it away, or add it to ignore", ErrConflict, d, what, e.Path)
			}
		}
		cached, _ := in.Index.Lookup(e.Path)
		l, err := Inspect(in.FS, in.TargetDir, e.Path, cached)
		if err != nil {
			return nil, err
		}
		switch {
		case l == nil:
			p.Add = append(p.Add, Change{Path: e.Path, Entry: e})
		case l.Dir && in.CompareOnly:
			p.Add = append(p.Add, Change{Path: e.Path, Entry: e})
		case l.Dir:
			if err := emptiedByDeletes(in.FS, in.TargetDir, e.Path, deleting); err != nil {
				return nil, err
			}
			p.Add = append(p.Add, Change{Path: e.Path, Entry: e})
		case l.SHA1 == e.BlobSHA1 && l.Mode == e.Mode:
			p.Unchanged++
		default:
			same := l.SHA1 == e.BlobSHA1 && l.Mode != source.ModeSymlink && e.Mode != source.ModeSymlink
			p.Modify = append(p.Modify, Change{Path: e.Path, Entry: e, Old: l, SameContent: same})
		}
	}
	sort.Slice(p.Delete, func(i, j int) bool { return p.Delete[i].Path < p.Delete[j].Path })
	return p, nil
}

func byPath(a, b source.Entry) int { return strings.Compare(a.Path, b.Path) }

// find returns the index of the first entry of the sorted tree at or after
// rel.
func (p *Plan) find(rel string) int {
	i, _ := slices.BinarySearchFunc(p.Tree, rel, func(e source.Entry, rel string) int { return strings.Compare(e.Path, rel) })
	return i
}

// CheckLinks reads the target of every symbolic link of the plan's tree with
// readlink (from the stage when it was just staged, else where it is
// installed), and refuses the tree when its links, followed through each
// other as the kernel would, lead outside it: x/y/s -> ../../a and
// x/y/t -> s/../../b each look inside alone, but t reaches outside through s.
func (p *Plan) CheckLinks(readlink func(e source.Entry) (string, error)) error {
	links := map[string]string{}
	for _, e := range p.Tree {
		if e.Mode != source.ModeSymlink {
			continue
		}
		t, err := readlink(e)
		if err != nil {
			return fmt.Errorf("read symlink %s: %w", e.Path, err)
		}
		links[e.Path] = t
	}
	for l := range links {
		if err := pathx.ResolveInside(l, links); err != nil {
			return fmt.Errorf("%w: %v", source.ErrBadData, err)
		}
	}
	return nil
}

func emptiedByDeletes(fsys fsx.FS, root, dir string, deleting map[string]bool) error {
	return walk(fsys, root, dir, func(rel string) error {
		if !deleting[rel] {
			return fmt.Errorf("%w: %q is a folder on the device holding %s, but a file in the target: move that file away, or add it to ignore", ErrConflict, dir, rel)
		}
		return nil
	})
}

// walk calls fn for every non-directory below root/rel (or rel itself).
func walk(fsys fsx.FS, root, rel string, fn func(string) error) error {
	fi, err := fsys.Lstat(path.Join(root, rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fsx.ErrLinkInPath) {
		return nil // nothing below a link is walked (delete_patterns never reach through one)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fn(rel)
	}
	ents, err := fsys.ReadDir(path.Join(root, rel))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := walk(fsys, root, rel+"/"+e.Name(), fn); err != nil {
			return err
		}
	}
	return nil
}

// isReserved reports whether p is, or lies below, one of ota's own names.
// The comparison ignores case: on vfat, exFAT or a casefolded folder
// "Version.JSON" is version.json, and refusing it on other filesystems
// costs nothing.
func isReserved(p string, reserved []string) bool {
	for _, r := range append([]string{state.VersionFile, state.VersionFile + ".tmp", state.ErrorFile, state.ErrorFile + ".tmp"}, reserved...) {
		if r == "" {
			continue
		}
		if len(p) >= len(r) && strings.EqualFold(p[:len(r)], r) && (len(p) == len(r) || p[len(r)] == '/') {
			return true
		}
	}
	return false
}

// Inspect describes what is on disk at rel. A regular file's SHA-1 comes from
// cached when its size, mtime and inode still match; otherwise the file is
// read. It returns nil when nothing is there.
func Inspect(fsys fsx.FS, root, rel string, cached state.FileState) (*Local, error) {
	full := path.Join(root, rel)
	fi, err := fsys.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || errors.Is(err, fsx.ErrLinkInPath) {
		// Below a link nothing is ours: the link is deleted or refused
		// (see Make), never looked through.
		return nil, nil
	}
	if errors.Is(err, syscall.ENOTDIR) {
		return nil, nil // a parent is a file: nothing here (Make deletes or refuses it)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", full, err)
	}
	switch {
	case fi.IsDir():
		return &Local{Dir: true}, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := fsys.Readlink(full)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", full, err)
		}
		return &Local{Mode: source.ModeSymlink, Size: int64(len(t)), SHA1: gitobj.BlobSHA1Bytes([]byte(t))}, nil
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (device, socket or pipe): remove it or add it to ignore", full)
	}
	l := &Local{Mode: source.ModeFile, Size: fi.Size()}
	if fi.Mode().Perm()&0o111 != 0 {
		l.Mode = source.ModeExecutable
	}
	if cached.SHA1 != "" && cached.Fresh(fi) {
		l.SHA1 = cached.SHA1
		return l, nil
	}
	f, err := fsys.Open(full)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", full, err)
	}
	defer f.Close()
	l.SHA1, err = gitobj.BlobSHA1(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("hash %s (changed while reading?): %w", full, err)
	}
	return l, nil
}
