package github

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/source"
)

// Limits of the subtree walk: past them one recursive listing is cheaper
// than many small ones, and TreeSince falls back to it.
const (
	maxWalkRequests = 32
	// defaultMinWalkFiles: below this many installed files the recursive
	// listing (about 220 bytes a file) is small, and one request beats
	// several (GitHub allows 60 an hour without a token).
	defaultMinWalkFiles = 256
)

// TreeSince implements source.Incremental: the tree of t, fetching only the
// folders whose git tree SHA differs from the installed one.
//
// Git trees are a Merkle tree, so the SHA of every installed folder is
// derived from the installed files (path, mode, blob SHA-1) without any
// stored state: the walk fetches the root (GET /git/trees/{commit},
// non-recursive), and descends only into folders whose SHA is not the
// derived one; an unchanged folder's files are taken from installed. A
// folder the derivation cannot reproduce (files left out by allow/ignore,
// a submodule, a 100664 mode) simply differs and is fetched, so the answer
// is always the one Tree gives. A small tree (under 256 files) is listed
// recursively in one request. Byte and file caps span the whole walk.
// When the folders still to list would take it past maxWalkRequests, or it
// has listed more entries than half of what is installed, it falls back to
// the one recursive listing.
func (s *Source) TreeSince(ctx context.Context, t source.Target, installed []source.Entry) ([]source.Entry, error) {
	if t.Tree != nil || s.cfg.Trust != nil || t.Extra[extraSeed] != nil || !isSHA(t.Commit) || len(installed) < s.minWalkFiles {
		return s.Tree(ctx, t)
	}
	known := treeSHAs(installed)
	if known == nil {
		return s.Tree(ctx, t)
	}
	base := installed // the installed index comes sorted: no copy
	if !sort.SliceIsSorted(base, func(i, j int) bool { return base[i].Path < base[j].Path }) {
		base = append([]source.Entry(nil), installed...)
		sort.Slice(base, func(i, j int) bool { return base[i].Path < base[j].Path })
	}
	w := s.newWalk(t.Commit)
	w.known, w.base = known, base
	w.subtrees = []treeRef{{sha: t.Commit}}
	for len(w.subtrees) > 0 {
		if w.requests+len(w.subtrees) > maxWalkRequests || w.listed > len(installed)/2+100 {
			s.log.Debug("many folders changed, listing the whole tree", "requests", w.requests, "listed", w.listed)
			return s.Tree(ctx, t)
		}
		next := w.subtrees[0]
		w.subtrees = w.subtrees[1:]
		tr, err := s.fetchTree(ctx, w, next.sha, next.prefix, false)
		if err != nil {
			return nil, err
		}
		if tr {
			return nil, fmt.Errorf("tree %s: folder %q is too large for the GitHub API even without recursion: %w",
				t.Commit, strings.TrimSuffix(next.prefix, "/"), source.ErrTruncated)
		}
	}
	if w.maxFiles >= 0 && w.files > w.maxFiles {
		return nil, fmt.Errorf("tree %s: tree contains too many files: %d (limit: %d); raise max_tree_files: %w",
			w.target, w.files, w.maxFiles, source.ErrTooLarge)
	}
	sort.Slice(w.entries, func(i, j int) bool { return w.entries[i].Path < w.entries[j].Path })
	s.log.Debug("tree walked", "commit", t.Commit, "requests", w.requests, "listed", w.listed, "files", len(w.entries))
	return w.entries, nil
}

// reuse adds the installed files under prefix (a folder whose tree SHA is
// unchanged) to the walk.
func (w *treeWalk) reuse(prefix string) {
	i := sort.Search(len(w.base), func(i int) bool { return w.base[i].Path >= prefix })
	for ; i < len(w.base) && strings.HasPrefix(w.base[i].Path, prefix); i++ {
		w.files++
		if w.maxFiles >= 0 && w.files > w.maxFiles {
			continue
		}
		w.entries = append(w.entries, w.base[i])
	}
}

// treeSHAs derives the git tree SHA-1 of every folder of files, keyed by
// folder path with a trailing slash ("" is the root). It returns nil when
// an entry cannot be part of a git tree (bad SHA-1 or mode).
func treeSHAs(files []source.Entry) map[string]string {
	// One item per installed file, held until its folder is hashed: kept
	// small and without pointers but the name (a substring of the path).
	type item struct {
		name string
		mode uint32
		sha  [sha1.Size]byte
	}
	const modeDir = 0o40000
	dirs := map[string][]item{"": nil}
	for _, e := range files {
		var sha [sha1.Size]byte
		if len(e.BlobSHA1) != 2*sha1.Size {
			return nil
		}
		if _, err := hex.Decode(sha[:], []byte(e.BlobSHA1)); err != nil || validPath(e.Path) != nil {
			return nil
		}
		switch e.Mode {
		case source.ModeFile, source.ModeExecutable, source.ModeSymlink:
		default:
			return nil
		}
		mode := e.Mode
		dir, name := path.Split(e.Path)
		// Every ancestor folder exists (created with the first file in it).
		for d := dir; d != ""; d, _ = path.Split(strings.TrimSuffix(d, "/")) {
			if _, ok := dirs[d]; ok {
				break
			}
			dirs[d] = nil
		}
		dirs[dir] = append(dirs[dir], item{name: name, mode: mode, sha: sha})
	}
	// Deepest folders first, so a folder's subfolders are hashed before it.
	order := make([]string, 0, len(dirs))
	for d := range dirs {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool {
		di, dj := strings.Count(order[i], "/"), strings.Count(order[j], "/")
		if di != dj {
			return di > dj
		}
		return order[i] < order[j]
	})
	out := make(map[string]string, len(dirs))
	for _, d := range order {
		items := dirs[d]
		// git orders entries by name, a folder's name compared as if it
		// ended with "/".
		key := func(it item) string {
			if it.mode == modeDir {
				return it.name + "/"
			}
			return it.name
		}
		sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
		var body []byte
		for _, it := range items {
			body = strconv.AppendUint(body, uint64(it.mode), 8)
			body = append(body, ' ')
			body = append(body, it.name...)
			body = append(body, 0)
			body = append(body, it.sha[:]...)
		}
		h := sha1.New()
		fmt.Fprintf(h, "tree %d\x00", len(body))
		h.Write(body)
		var sum [sha1.Size]byte
		h.Sum(sum[:0])
		out[d] = hex.EncodeToString(sum[:])
		dirs[d] = nil // hashed: its items are no longer needed
		if d != "" {
			parent, name := path.Split(strings.TrimSuffix(d, "/"))
			dirs[parent] = append(dirs[parent], item{name: name, mode: modeDir, sha: sum})
		}
	}
	return out
}

var _ source.Incremental = (*Source)(nil)
