package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// originalInstall lays files out as the original MicroPython client left
// them: regular files (it installed a symlink's target text as a file, and
// never a zero-byte file), version.json in its json.dump format, no .ota/.
func originalInstall(t *testing.T, dir, ref, commit string, files map[string]gitfixture.File) {
	t.Helper()
	for p, f := range files {
		c := f.Content
		if f.Symlink != "" {
			c = f.Symlink
		} else if c == "" {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "version.json"), []byte(`{"ref": "`+ref+`", "commit": "`+commit+`"}`), 0o644)
}

// TestAdoptOriginalInstall: the first run over a folder the original client
// installed adopts the files that match the installed commit's tree, so the
// next version's removals are deleted; a file edited on the device and local
// data are left alone, and the installed tree is listed once.
func TestAdoptOriginalInstall(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]gitfixture.File{
		"main.py":         {Content: "print('v1')\n"},
		"lib/old.py":      {Content: "old\n"},
		"lib/edited.py":   {Content: "as shipped\n"},
		"gone/deep/x.txt": {Content: "x\n"},
		"keep.txt":        {Content: "same\n"},
	}
	v2 := map[string]gitfixture.File{
		"main.py":  {Content: "print('v2')\n"},
		"keep.txt": {Content: "same\n"},
		"new.py":   {Content: "new\n"},
	}
	c1 := e.repo.Commit("v1", v1)
	originalInstall(t, e.target, "main", c1, v1)
	os.WriteFile(filepath.Join(e.target, "lib", "edited.py"), []byte("edited on the device\n"), 0o644)
	os.WriteFile(filepath.Join(e.target, "user.db"), []byte("local data"), 0o644)
	c2 := e.repo.Commit("v2", v2)
	cfg := e.config(t, map[string]any{"channel": "developer"})

	var ck checkJSON
	okJSON(t, cfg, nil, &ck, "check")
	var ck2 struct{ Delete []string }
	okJSON(t, cfg, nil, &ck2, "check")
	trees := 0
	for _, r := range e.gh.Requests() {
		if strings.HasPrefix(r.Path, "/repos/acme/app/git/trees/"+c1) {
			trees++
		}
	}
	if trees != 1 {
		t.Errorf("the installed commit's tree was listed %d times, want once", trees)
	}
	var up struct {
		Updated bool
		Current struct{ Commit string }
	}
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.Current.Commit != c2 {
		t.Fatalf("update: %+v", up)
	}
	want := expect(v2)
	want["lib/edited.py"] = "file:0:edited on the device\n" // differs from v1: not adopted, kept
	want["lib"] = "dir"
	want["user.db"] = "file:0:local data"
	if d := treesnap.Diff(want, snap(t, e.target)); d != nil {
		t.Fatalf("after the first update: %v (lib/old.py and gone/deep/x.txt must be deleted)", d)
	}
	if _, err := os.Stat(filepath.Join(e.target, "gone")); err == nil {
		t.Error("emptied folder gone/ left behind")
	}
}

// TestSeedManifestDeletes: the "deletes" of a verified HMAC manifest remove
// files ota never installed (here left by an older release the original
// client installed), as the original client did.
func TestSeedManifestDeletes(t *testing.T) {
	e := newEnv(t)
	d := t.TempDir()
	old := map[string]gitfixture.File{"main.py": {Content: "print('v0')\n"}, "stale.py": {Content: "stale\n"}}
	c0 := e.repo.Commit("v0", old)
	e.repo.Tag("v0.9", c0)
	out := filepath.Join(d, "seed")
	releaseAssets(t, e, out, "--ref", "v0.9", "--format", "seed", "--key", "s3cret")
	c1 := e.repo.Commit("v1", map[string]gitfixture.File{"main.py": {Content: "print('v1')\n"}})
	e.repo.Tag("v1.0", c1)
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0",
		Assets: releaseAssets(t, e, out, "--ref", "v1.0", "--format", "seed", "--key", "s3cret")})
	// The device: stale.py from v0.9, but version.json names a commit that
	// is not in the repository, so nothing can be adopted.
	originalInstall(t, e.target, "v0.9", "0123456789abcdef0123456789abcdef01234567", old)
	cfg := e.config(t, map[string]any{"manifest_key": "s3cret"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	want := treesnap.Snap{"main.py": "file:0:print('v1')\n"}
	if d := treesnap.Diff(want, snap(t, e.target)); d != nil {
		t.Fatalf("deletes of the verified manifest not honoured: %v", d)
	}
}
