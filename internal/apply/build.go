package apply

import (
	"path"
	"sort"
	"strings"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

// FromPlan builds the journal for p. old is the current index (its stat
// cache is carried over for unchanged files).
func FromPlan(fsys fsx.FS, d Dirs, p *plan.Plan, old state.Index, from *source.Version, to source.Version) *Journal {
	j := &Journal{From: from, To: to, Index: state.Index{Version: &to, Files: make([]state.IndexEntry, 0, len(p.Tree))}, Prev: old}
	inTreeDir := map[string]bool{}
	k := 0 // p.Tree and old.Files are both sorted by path: one merge walk
	for _, e := range p.Tree {
		st := state.FileState{SHA1: e.BlobSHA1, Mode: e.Mode, Size: e.Size}
		for k < len(old.Files) && old.Files[k].Path < e.Path {
			k++
		}
		if k < len(old.Files) && old.Files[k].Path == e.Path {
			if o := old.Files[k].FileState; o.SHA1 == e.BlobSHA1 && o.Mode == e.Mode {
				st = o
			}
		}
		j.Index.Files = append(j.Index.Files, state.IndexEntry{Path: e.Path, FileState: st})
		for dir := path.Dir(e.Path); dir != "." && !inTreeDir[dir]; dir = path.Dir(dir) {
			inTreeDir[dir] = true
		}
	}
	deleting := map[string]bool{}
	for _, c := range p.Delete {
		j.Ops = append(j.Ops, Op{Kind: Delete, Path: c.Path, HadOld: true})
		deleting[c.Path] = true
	}
	removeDir := map[string]bool{}
	for _, c := range p.Add {
		j.Ops = append(j.Ops, Op{Kind: Put, Path: c.Path})
		if fi, err := fsys.Lstat(path.Join(d.Target, c.Path)); err == nil && fi.IsDir() {
			collectDirs(fsys, d.Target, c.Path, removeDir)
		}
	}
	for _, c := range p.Modify {
		j.Ops = append(j.Ops, Op{Kind: Put, Path: c.Path, HadOld: true})
	}
	mk := map[string]bool{}
	for _, op := range j.Ops {
		if op.Kind != Put {
			continue
		}
		for dir := path.Dir(op.Path); dir != "."; dir = path.Dir(dir) {
			fi, err := fsys.Lstat(path.Join(d.Target, dir))
			if err != nil || !fi.IsDir() || removeDir[dir] {
				mk[dir] = true
			}
		}
	}
	j.MakeDirs = sortedDirs(mk, false)
	j.RemoveDirs = sortedDirs(removeDir, true)
	prune := map[string]bool{}
	for _, c := range p.Delete {
		for dir := path.Dir(c.Path); dir != "." && !inTreeDir[dir]; dir = path.Dir(dir) {
			prune[dir] = true
		}
	}
	for dir := range removeDir {
		delete(prune, dir)
	}
	j.PruneDirs = sortedDirs(prune, true)
	return j
}

func collectDirs(fsys fsx.FS, root, rel string, into map[string]bool) {
	into[rel] = true
	ents, _ := fsys.ReadDir(path.Join(root, rel))
	for _, e := range ents {
		if e.IsDir() {
			collectDirs(fsys, root, rel+"/"+e.Name(), into)
		}
	}
}

// sortedDirs orders folders outermost first, or deepest first.
func sortedDirs(set map[string]bool, deepestFirst bool) []string {
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if a != b {
			return (a > b) == deepestFirst
		}
		return out[i] < out[j]
	})
	return out
}
