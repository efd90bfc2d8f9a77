package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/pathx"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo/seedmanifest"
)

// treeItem is one element of a /git/trees answer.
type treeItem struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	SHA  string `json:"sha"`
	Size *int64 `json:"size"`
}

// treeWalk carries the limits across the requests of one Tree call.
type treeWalk struct {
	target   string
	maxBytes int64 // < 0: none
	maxFiles int   // < 0: none
	files    int
	seen     map[string]bool
	entries  []source.Entry
	subtrees []treeRef // pending when walking a truncated tree
	requests int
	listed   int // entries read from the server

	// TreeSince: installed folder tree SHAs and the installed files, sorted.
	known map[string]string
	base  []source.Entry
}

type treeRef struct{ sha, prefix string }

// Tree implements source.Source. It lists every blob of t.Commit with
// validated paths, sorted by path; submodules and the .deltas folder are
// skipped.
func (s *Source) Tree(ctx context.Context, t source.Target) ([]source.Entry, error) {
	if t.Tree != nil {
		return t.Tree, nil
	}
	if s.cfg.Trust != nil {
		return signedrepo.Tree(t) // never an unsigned listing
	}
	if m, ok := t.Extra[extraSeed].(*seedmanifest.Manifest); ok {
		t.Extra = nil
		all, err := s.Tree(ctx, t)
		if err != nil {
			return nil, err
		}
		return seedTree(m, all)
	}
	if !isSHA(t.Commit) {
		return nil, fmt.Errorf("tree: target has no commit SHA (%q); resolve first", t.Commit)
	}
	w := s.newWalk(t.Commit)
	truncated, err := s.fetchTree(ctx, w, t.Commit, "", true)
	if err != nil {
		return nil, err
	}
	if truncated {
		// GitHub cut the recursive listing (100k entries / 7 MB). Start over
		// walking one folder per request, within the same limits.
		s.log.Info("tree truncated by server, walking sub-trees", "commit", t.Commit)
		w = s.newWalk(t.Commit)
		w.subtrees = []treeRef{{sha: t.Commit}}
		for len(w.subtrees) > 0 {
			next := w.subtrees[0]
			w.subtrees = w.subtrees[1:]
			if w.maxFiles >= 0 && w.requests > w.maxFiles {
				return nil, fmt.Errorf("tree %s: more than %d folders; raise max_tree_files: %w", t.Commit, w.maxFiles, source.ErrTooLarge)
			}
			tr, err := s.fetchTree(ctx, w, next.sha, next.prefix, false)
			if err != nil {
				return nil, err
			}
			if tr {
				return nil, fmt.Errorf("tree %s: folder %q is too large for the GitHub API even without recursion: %w",
					t.Commit, strings.TrimSuffix(next.prefix, "/"), source.ErrTruncated)
			}
		}
	}
	sort.Slice(w.entries, func(i, j int) bool { return w.entries[i].Path < w.entries[j].Path })
	return w.entries, nil
}

func (s *Source) newWalk(target string) *treeWalk {
	mb := int64(-1)
	if s.cfg.MaxTreeSizeKB > 0 {
		mb = s.cfg.MaxTreeSizeKB * 1024
	}
	return &treeWalk{target: target, maxBytes: mb, maxFiles: s.cfg.MaxTreeFiles, seen: map[string]bool{}}
}

// fetchTree reads one /git/trees answer, stream-decoding it under the
// remaining byte budget, and reports its "truncated" flag.
func (s *Source) fetchTree(ctx context.Context, w *treeWalk, sha, prefix string, recursive bool) (truncated bool, err error) {
	path := "/git/trees/" + sha
	if recursive {
		path += "?recursive=1" // any value enables recursion; omit it to disable
	}
	req, err := s.apiRequest(ctx, path, acceptJSON)
	if err != nil {
		return false, err
	}
	w.requests++
	resp, err := s.http.Do(ctx, req, w.maxBytes)
	if err != nil {
		return false, s.treeErr(w, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("tree %s: %w: unexpected status %d", w.target, source.ErrBadData, resp.StatusCode)
	}
	counted := &countReader{r: resp.Body}
	truncated, err = s.decodeTree(w, counted, prefix, recursive)
	if w.maxBytes >= 0 {
		w.maxBytes -= counted.n
	}
	if err != nil {
		return false, s.treeErr(w, err)
	}
	return truncated, nil
}

func (s *Source) treeErr(w *treeWalk, err error) error {
	var tl *httpx.TooLargeError
	if errors.As(err, &tl) {
		limitKB := s.cfg.MaxTreeSizeKB
		if used := limitKB*1024 - w.maxBytes; used > 0 && w.requests > 1 {
			// The limit spans every folder listed: say so, or "71220 bytes
			// (limit: 16384 KB)" reads as a contradiction.
			return fmt.Errorf("tree %s: listing too large: more than %d KB in %d responses (limit: %d KB for the whole listing, %d bytes read before this response); raise max_tree_size_kb: %w",
				w.target, limitKB, w.requests, limitKB, used, source.ErrTooLarge)
		}
		if tl.Size >= 0 {
			return fmt.Errorf("tree %s: response too large: %d bytes (limit: %d KB); raise max_tree_size_kb: %w", w.target, tl.Size, limitKB, source.ErrTooLarge)
		}
		return fmt.Errorf("tree %s: response too large: more than %d KB (limit: %d KB); raise max_tree_size_kb: %w", w.target, limitKB, limitKB, source.ErrTooLarge)
	}
	if errors.Is(err, source.ErrTooLarge) || errors.Is(err, source.ErrBadData) {
		return err
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("tree %s: %w: %v", w.target, source.ErrBadData, err)
	}
	return s.notFound("tree of commit "+w.target, err)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeTree walks the JSON token by token so only one entry is decoded at
// a time; memory grows with the kept entries, which max_tree_files bounds.
func (s *Source) decodeTree(w *treeWalk, r io.Reader, prefix string, recursive bool) (truncated bool, err error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return false, err
	}
	sawTree := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		key, _ := tok.(string)
		switch key {
		case "truncated":
			if err := dec.Decode(&truncated); err != nil {
				return false, err
			}
		case "tree":
			sawTree = true
			if err := expectDelim(dec, '['); err != nil {
				return false, err
			}
			for dec.More() {
				var it treeItem
				if err := dec.Decode(&it); err != nil {
					return false, err
				}
				if err := s.addItem(w, it, prefix, recursive); err != nil {
					return false, err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return false, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return false, err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return false, err
	}
	if !sawTree {
		return false, fmt.Errorf("tree %s: %w: answer has no \"tree\" list", w.target, source.ErrBadData)
	}
	if w.maxFiles >= 0 && w.files > w.maxFiles {
		return false, fmt.Errorf("tree %s: tree contains too many files: %d (limit: %d); raise max_tree_files: %w",
			w.target, w.files, w.maxFiles, source.ErrTooLarge)
	}
	return truncated, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected %q in tree JSON, got %v", source.ErrBadData, want, tok)
	}
	return nil
}

func (s *Source) addItem(w *treeWalk, it treeItem, prefix string, recursive bool) error {
	w.listed++
	full := prefix + it.Path
	bad := func(why string) error {
		return fmt.Errorf("tree %s: %w: entry %q: %s", w.target, source.ErrBadData, full, why)
	}
	if err := validPath(full); err != nil {
		return fmt.Errorf("tree %s: %w", w.target, err)
	}
	if full == DeltaDir || strings.HasPrefix(full, DeltaDir+"/") {
		return nil
	}
	it.SHA = strings.ToLower(it.SHA)
	if !isSHA(it.SHA) {
		return bad("bad sha " + strconv.Quote(it.SHA))
	}
	switch it.Type {
	case "commit":
		s.log.Debug("skipping submodule", "path", full, "commit", it.SHA)
		return nil
	case "tree":
		switch {
		case recursive:
		case w.known != nil && w.known[full+"/"] == it.SHA:
			w.reuse(full + "/")
		default:
			w.subtrees = append(w.subtrees, treeRef{sha: it.SHA, prefix: full + "/"})
		}
		return nil
	case "blob":
	default:
		return bad("unknown type " + strconv.Quote(it.Type))
	}
	var mode uint32
	switch it.Mode {
	case "100644", "100664":
		mode = source.ModeFile
	case "100755":
		mode = source.ModeExecutable
	case "120000":
		mode = source.ModeSymlink
	default:
		return bad("unsupported mode " + strconv.Quote(it.Mode))
	}
	if it.Size == nil || *it.Size < 0 {
		return bad("missing or negative size")
	}
	w.files++
	if w.maxFiles >= 0 && w.files > w.maxFiles {
		return nil // keep counting (cheap, bounded by the byte cap) for an exact message; keep nothing
	}
	if w.seen[full] {
		return bad("listed twice")
	}
	w.seen[full] = true
	w.entries = append(w.entries, source.Entry{Path: full, Mode: mode, Size: *it.Size, BlobSHA1: it.SHA})
	return nil
}

// validPath applies the shared path rules (internal/pathx) to a tree path.
func validPath(p string) error {
	if err := pathx.Validate(p); err != nil {
		return fmt.Errorf("%w: unsafe %v", source.ErrBadData, err)
	}
	return nil
}
