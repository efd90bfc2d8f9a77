package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// manyFiles is a tree of n files in folders of 10, plus a symlink.
func manyFiles(n int, version string) map[string]gitfixture.File {
	files := map[string]gitfixture.File{"link.txt": {Symlink: "pkg00/f0000.txt"}}
	for i := range n {
		files[fmt.Sprintf("pkg%02d/f%04d.txt", i/10, i)] = gitfixture.File{Content: fmt.Sprintf("file %d %s\n", i, version)}
	}
	files["bin/tool.sh"] = gitfixture.File{Content: "#!/bin/sh\necho " + version + "\n", Executable: true}
	return files
}

type tally struct {
	api, raw, archive, recursive int
	apiBytes, bytes              int64
}

func count(reqs []fakegithub.Request) tally {
	var t tally
	for _, r := range reqs {
		t.bytes += r.Bytes
		switch r.Server {
		case "api":
			t.api++
			t.apiBytes += r.Bytes
		case "raw":
			t.raw++
		case "archive":
			t.archive++
		}
		if strings.Contains(r.Path, "recursive") {
			t.recursive++
		}
	}
	return t
}

// TestFirstInstallByTarball: a first install is the commit, one tree and
// one tarball (redirected to the archive host, never with the token), plus
// a raw request per symlink; every file verified and installed.
func TestFirstInstallByTarball(t *testing.T) {
	e := newEnv(t)
	files := manyFiles(120, "v1")
	e.repo.Commit("v1", files)
	e.gh.SetPrivate("acme", "app", "s3cret")
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, []string{"OTA_TOKEN=s3cret"}, &up, "update")
	if !up.Updated || up.FilesDownloaded != len(files) {
		t.Fatalf("install: %+v", up)
	}
	if d := treesnap.Diff(expect(files), snap(t, e.target)); d != nil {
		t.Fatalf("after install: %v", d)
	}
	reqs := e.gh.Requests()
	c := count(reqs)
	// commit, recursive tree, tarball (302); the archive; the symlink.
	if len(reqs) > 10 || c.api != 3 || c.archive != 1 || c.raw != 1 {
		t.Fatalf("install made %d requests (%+v), want at most 10: %v", len(reqs), c, reqs)
	}
	for _, r := range reqs {
		if r.Server == "archive" && (r.Auth || r.Status != 200 || !strings.Contains(r.Path, "token=")) {
			t.Fatalf("archive request %v (auth %v): the token must not follow the redirect", r, r.Auth)
		}
	}
	t.Logf("MEASURE first install of %d files: %d requests, %d body bytes", len(files), len(reqs), c.bytes)
}

// TestSubtreeWalkUpdate: an update of a 302-file tree lists only the folders
// that changed (root plus two), never the recursive tree, and fetches the
// changed files.
func TestSubtreeWalkUpdate(t *testing.T) {
	e := newEnv(t)
	files := manyFiles(300, "v1")
	e.repo.Commit("v1", files)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	full := count(e.gh.Requests())
	for _, p := range []string{"pkg03/f0031.txt", "pkg03/f0032.txt", "pkg27/f0270.txt", "pkg27/f0279.txt"} {
		files[p] = gitfixture.File{Content: "changed " + p}
	}
	e.repo.Commit("v2", files)
	e.gh.ResetRequests()
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.FilesDownloaded != 4 {
		t.Fatalf("update: %+v", up)
	}
	if d := treesnap.Diff(expect(files), snap(t, e.target)); d != nil {
		t.Fatalf("after update: %v", d)
	}
	reqs := e.gh.Requests()
	c := count(reqs)
	// commit, root tree, pkg03/, pkg27/; four raw files.
	if c.api != 4 || c.recursive != 0 || c.raw != 4 || c.archive != 0 {
		t.Fatalf("update requests %+v: %v", c, reqs)
	}
	if c.apiBytes*4 > full.apiBytes {
		t.Fatalf("update's API bytes %d, more than a quarter of the install's %d (recursive tree)", c.apiBytes, full.apiBytes)
	}
	t.Logf("MEASURE update of 4 files in 2 of 31 folders: %d requests, %d body bytes (API %d; install's API %d)",
		len(reqs), c.bytes, c.apiBytes, full.apiBytes)
}

// TestTarballExportAttributes: files the archive leaves out (export-ignore)
// or rewrites (export-subst) are fetched one by one and installed as in the
// tree, not as in the archive.
func TestTarballExportAttributes(t *testing.T) {
	e := newEnv(t)
	files := manyFiles(30, "v1")
	files[".gitattributes"] = gitfixture.File{Content: "secret.txt export-ignore\nversion.txt export-subst\n"}
	files["secret.txt"] = gitfixture.File{Content: "not in archives\n"}
	files["version.txt"] = gitfixture.File{Content: "commit $Format:%H$\n"}
	e.repo.Commit("v1", files)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if d := treesnap.Diff(expect(files), snap(t, e.target)); d != nil {
		t.Fatalf("after install: %v", d)
	}
	var raw []string
	for _, r := range e.gh.Requests() {
		if r.Server == "raw" {
			raw = append(raw, r.Path)
		}
	}
	if c := count(e.gh.Requests()); c.archive != 1 || len(raw) != 3 {
		t.Fatalf("want one archive and raw requests for link.txt, secret.txt, version.txt: %+v %v", c, raw)
	}
}

// TestTamperedTarballRefused: an archive whose content is not the tree's
// blob (and no .gitattributes explains it) is refused with the verification
// exit code, and the folder is left exactly as it was.
func TestTamperedTarballRefused(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", manyFiles(40, "v1"))
	cfg := e.config(t, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	e.repo.Commit("v2", manyFiles(40, "v2"))
	e.gh.Inject(fakegithub.Fault{Server: "archive", Kind: fakegithub.Corrupt})
	before := rawSnap(t, e.target)
	r := ota(t, cfg, nil, "update")
	if r.code != 4 || !strings.Contains(r.stderr, "tampered") {
		t.Fatalf("tampered archive: %v", r)
	}
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("refused update changed the folder: %v", d)
	}
	if c := count(e.gh.Requests()); c.archive != 2 {
		t.Fatalf("want the v1 and v2 archives: %+v", c)
	}
}
