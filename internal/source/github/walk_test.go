package github

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

// The folder tree SHAs derived from a file list are git's own.
func TestTreeSHAsMatchGit(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{"a/b/c/deep.txt": {Content: "deep"}, "a/b-c": {Content: "sorts before a/b/"}, "a/b.d": {}}
	for k, f := range v1 {
		files[k] = f
	}
	c := e.repo.Commit("v1", files)
	s := e.src(t, Config{Commit: c})
	tgt, _ := s.Resolve(ctx)
	list, err := s.Tree(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	got := treeSHAs(list)
	want := map[string]string{"": e.repo.RevParse(c + "^{tree}")}
	out, err := gitfixture.ParseLsTree([]byte(e.repo.Git("ls-tree", "-r", "-t", "-l", "-z", c)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ge := range out {
		if ge.Type == "tree" {
			want[ge.Path+"/"] = ge.SHA
		}
	}
	if len(want) < 4 {
		t.Fatalf("fixture has too few folders: %v", want)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("derived tree SHAs\n%v\nwant (git)\n%v", got, want)
	}
}

// An update lists only the folders whose tree SHA changed, and the answer is
// exactly the full tree; a base the derivation cannot reproduce (a file
// missing, as with an ignore filter) costs more folders, never a wrong list.
func TestTreeSinceWalksOnlyChangedFolders(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{"top.txt": {Content: "top"}}
	for i := range 60 {
		files[fmt.Sprintf("pkg%d/sub%d/f%02d.txt", i%6, i%2, i)] = gitfixture.File{Content: fmt.Sprint("v1 ", i)}
	}
	c1 := e.repo.Commit("v1", files)
	files["pkg1/sub1/f01.txt"] = gitfixture.File{Content: "changed"}
	files["pkg4/new.txt"] = gitfixture.File{Content: "new"}
	delete(files, "pkg5/sub1/f05.txt")
	c2 := e.repo.Commit("v2", files)
	s := e.src(t, Config{Commit: c1})
	s.minWalkFiles = 0
	base, err := s.Tree(ctx, tgtOf(c1))
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Tree(ctx, tgtOf(c2))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		base  []source.Entry
		paths []string // tree requests expected, in order
	}{
		// root; pkg1, pkg4, pkg5 changed; in them pkg1/sub1 and pkg5/sub1.
		{"exact base", base, []string{c2, "pkg1", "pkg4", "pkg5", "pkg1/sub1", "pkg5/sub1"}},
		{"same version", want, []string{c2}},
		{"base missing pkg0/sub0/f00.txt", base[1:], []string{c2, "pkg0", "pkg1", "pkg4", "pkg5", "pkg0/sub0", "pkg1/sub1", "pkg5/sub1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fg.ResetRequests()
			got, err := s.TreeSince(ctx, tgtOf(c2), tc.base)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("walked tree differs:\n%v\nwant:\n%v", got, want)
			}
			var reqs []string
			for _, r := range e.fg.Requests() {
				if strings.Contains(r.Path, "recursive") {
					t.Fatalf("recursive listing: %s", r.Path)
				}
				reqs = append(reqs, r.Path)
			}
			if len(reqs) != len(tc.paths) {
				t.Fatalf("%d tree requests, want %d (%v): %v", len(reqs), len(tc.paths), tc.paths, reqs)
			}
			if !strings.HasSuffix(reqs[0], "/git/trees/"+c2) {
				t.Fatalf("first request %s, want the root by commit", reqs[0])
			}
		})
	}
}

// Past maxWalkRequests folders the walk gives way to one recursive listing.
func TestTreeSinceFallsBackToRecursive(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{}
	for i := range 2 * maxWalkRequests {
		files[fmt.Sprintf("d%02d/f.txt", i)] = gitfixture.File{Content: fmt.Sprint(i)}
	}
	c1 := e.repo.Commit("v1", files)
	for k := range files {
		files[k] = gitfixture.File{Content: "all changed " + k}
	}
	c2 := e.repo.Commit("v2", files)
	s := e.src(t, Config{Commit: c1})
	s.minWalkFiles = 0
	base, _ := s.Tree(ctx, tgtOf(c1))
	want, _ := s.Tree(ctx, tgtOf(c2))
	e.fg.ResetRequests()
	got, err := s.TreeSince(ctx, tgtOf(c2), base)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v\n%v\nwant\n%v", err, got, want)
	}
	reqs := e.fg.Requests()
	if last := reqs[len(reqs)-1].Path; !strings.Contains(last, "recursive") || len(reqs) > 2 {
		t.Fatalf("requests %v: want the root then one recursive listing", reqs)
	}
}

func tgtOf(c string) source.Target {
	return source.Target{Version: source.Version{Ref: c, Commit: c}}
}

// A small tree is listed in one recursive request.
func TestTreeSinceSmallTreeIsOneRequest(t *testing.T) {
	e := newEnv(t)
	c1 := e.repo.Commit("v1", v1)
	c2 := e.repo.Commit("v2", v2)
	s := e.src(t, Config{Commit: c1})
	base, _ := s.Tree(ctx, tgtOf(c1))
	e.fg.ResetRequests()
	if _, err := s.TreeSince(ctx, tgtOf(c2), base); err != nil {
		t.Fatal(err)
	}
	if reqs := e.fg.Requests(); len(reqs) != 1 || !strings.Contains(reqs[0].Path, "recursive") {
		t.Fatalf("requests %v", reqs)
	}
}
