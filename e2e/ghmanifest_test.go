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

// releaseAssets publishes ref of the fixture repository with the real
// binary (ota publish --format FORMAT) into out and returns every file
// there, except the publisher's hidden state folder, as release assets.
func releaseAssets(t *testing.T, e *env, out string, args ...string) []fakegithub.Asset {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none.json")
	if r := ota(t, none, nil, append([]string{"publish", "--src", e.repo.Dir, "--out", out}, args...)...); r.code != 0 {
		t.Fatalf("publish %v: %v", args, r)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var assets []fakegithub.Asset
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		assets = append(assets, fakegithub.Asset{Name: de.Name(), Data: b})
	}
	return assets
}

// refused runs an update that must fail with exit code 4, mentioning msg,
// and leave the folder byte for byte as it was.
func refused(t *testing.T, e *env, cfg, msg string) result {
	t.Helper()
	os.RemoveAll(filepath.Join(e.target, ".ota_stage"))
	before := rawSnap(t, e.target)
	r := ota(t, cfg, nil, "update")
	if r.code != 4 || !strings.Contains(r.stderr, msg) {
		t.Fatalf("want exit 4 mentioning %q: %v", msg, r)
	}
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("a refused update changed the folder: %v", d)
	}
	return r
}

// TestSignedReleaseManifest: with trusted_keys, the GitHub source installs
// exactly what the release's signed ota-manifest.json lists (objects from
// the release assets), and refuses a tampered object, a manifest for
// another commit, a replayed older manifest and a release without one.
func TestSignedReleaseManifest(t *testing.T) {
	e := newEnv(t)
	d := t.TempDir()
	keys, out := filepath.Join(d, "keys"), filepath.Join(d, "dist")
	none := filepath.Join(d, "none.json")
	if r := ota(t, none, nil, "keygen", keys); r.code != 0 {
		t.Fatal(r)
	}
	pub, err := os.ReadFile(filepath.Join(keys, "root.pub"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t, map[string]any{"trusted_keys": []string{strings.TrimSpace(string(pub))}})

	c1 := e.repo.Commit("v1", filesV1)
	e.repo.Tag("v1.0", c1)
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0"})
	refused(t, e, cfg, "no signed manifest")

	assets1 := releaseAssets(t, e, out, "--ref", "v1.0", "--keys", keys, "--format", "github-release")
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0", Assets: assets1})
	e.gh.ResetRequests()
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if !up.Updated || up.Current.Commit != c1 || up.Current.Ref != "v1.0" {
		t.Fatalf("install: %+v", up)
	}
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
	fromAssets := 0
	for _, r := range e.gh.Requests() {
		if strings.Contains(r.Path, "/releases/assets/") {
			fromAssets++
		}
	}
	if fromAssets < 2 { // the manifest and at least one object
		t.Fatalf("objects were not fetched from release assets: %v", e.gh.Requests())
	}

	// Version 2 with one object asset tampered with.
	c2 := e.repo.Commit("v2", filesV2)
	e.repo.Tag("v2.0", c2)
	assets2 := releaseAssets(t, e, out, "--ref", "v2.0", "--keys", keys, "--format", "github-release")
	bad := append([]fakegithub.Asset(nil), assets2...)
	for i, a := range bad {
		if strings.HasPrefix(a.Name, "obj-") && len(a.Data) > 0 {
			data := append([]byte(nil), a.Data...)
			data[0] ^= 0xff
			bad[i].Data = data
		}
	}
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0", Assets: bad})
	refused(t, e, cfg, "does not match signed metadata")

	// A validly signed manifest (version 3) of commit c1 attached to v2.0.
	assets3 := releaseAssets(t, e, out, "--ref", "v1.0", "--keys", keys, "--format", "github-release")
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0", Assets: assets3})
	refused(t, e, cfg, "another commit")

	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0", Assets: assets2})
	okJSON(t, cfg, nil, &up, "update")
	if up.Current.Commit != c2 {
		t.Fatalf("update: %+v", up)
	}
	if d := treesnap.Diff(expect(filesV2), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}

	// Replay: the old release (version 1, commit c1, valid signature) again.
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0", Assets: assets1})
	refused(t, e, cfg, "rollback")
}

// TestSeedManifestHMAC: the original's manifest.json (ota publish --format
// seed) on the stable channel with manifest_key: accepted with a warning,
// only listed files installed; a wrong HMAC or a missing manifest is refused.
func TestSeedManifestHMAC(t *testing.T) {
	e := newEnv(t)
	d := t.TempDir()
	c1 := e.repo.Commit("v1", filesV1)
	e.repo.Tag("v1.0", c1)
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v1.0",
		Assets: releaseAssets(t, e, filepath.Join(d, "m1"), "--ref", "v1.0", "--format", "seed", "--key", "s3cret")})
	cfg := e.config(t, map[string]any{"manifest_key": "s3cret"})
	r := ota(t, cfg, nil, "update")
	if r.code != 0 || !strings.Contains(r.stderr, "HMAC key is weak") {
		t.Fatalf("want success with a warning: %v", r)
	}
	want := expect(filesV1)
	delete(want, "link.py") // the seed format cannot carry symlinks: not listed, not installed
	if d := treesnap.Diff(want, snap(t, e.target)); d != nil {
		t.Fatal(d)
	}

	c2 := e.repo.Commit("v2", filesV2)
	e.repo.Tag("v2.0", c2)
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0",
		Assets: releaseAssets(t, e, filepath.Join(d, "m2"), "--ref", "v2.0", "--format", "seed", "--key", "other")})
	refused(t, e, cfg, "signature mismatch")
	e.gh.AddRelease("acme", "app", fakegithub.Release{TagName: "v2.0"})
	refused(t, e, cfg, "no manifest.json")
}

// TestSignedManifestInCommit: on the developer channel the signed manifest
// is committed as .ota-manifest.json on top of the commit it was made from;
// the device installs the signed list (not the manifest itself). A branch
// tip whose manifest names an unrelated commit is refused.
func TestSignedManifestInCommit(t *testing.T) {
	e := newEnv(t)
	d := t.TempDir()
	keys, out := filepath.Join(d, "keys"), filepath.Join(d, "dist")
	if r := ota(t, filepath.Join(d, "none.json"), nil, "keygen", keys); r.code != 0 {
		t.Fatal(r)
	}
	pub, _ := os.ReadFile(filepath.Join(keys, "root.pub"))
	cfg := e.config(t, map[string]any{"channel": "developer", "trusted_keys": []string{strings.TrimSpace(string(pub))}})
	withManifest := func(files map[string]gitfixture.File, m []byte) map[string]gitfixture.File {
		out := map[string]gitfixture.File{".ota-manifest.json": {Content: string(m)}}
		for k, v := range files {
			out[k] = v
		}
		return out
	}
	c1 := e.repo.Commit("v1", filesV1)
	refused(t, e, cfg, "no signed manifest")
	releaseAssets(t, e, out, "--ref", c1, "--keys", keys, "--format", "github-release")
	m1, _ := os.ReadFile(filepath.Join(out, "ota-manifest.json"))
	c1s := e.repo.Commit("sign v1", withManifest(filesV1, m1))
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")
	if up.Current.Commit != c1s {
		t.Fatalf("install: %+v", up)
	}
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
	// v2's tip carries a (newer, validly signed) manifest of commit c1.
	releaseAssets(t, e, out, "--ref", c1, "--keys", keys, "--format", "github-release")
	m2, _ := os.ReadFile(filepath.Join(out, "ota-manifest.json"))
	e.repo.Commit("v2", filesV2)
	e.repo.Commit("sign v2 wrongly", withManifest(filesV2, m2))
	refused(t, e, cfg, "another commit")
}
