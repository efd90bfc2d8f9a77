package publish

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/repo"
	"github.com/otafleet/ota/repo/seedmanifest"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func verifier(t *testing.T, keys string) *repo.Verifier {
	b, err := os.ReadFile(filepath.Join(keys, RootPubFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := repo.ParsePublicKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return &repo.Verifier{TrustedKeys: []repo.PublicKey{k}}
}

func verifyLatest(t *testing.T, out, keys string) *repo.Release {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, repo.LatestPath))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier(t, keys).Verify(b, repo.Seen{})
	if err != nil {
		t.Fatal(err)
	}
	return v.Release
}

func TestPlainFolderTwoVersions(t *testing.T) {
	d := t.TempDir()
	src, keys, out := filepath.Join(d, "src"), filepath.Join(d, "keys"), filepath.Join(d, "repo")
	if err := Keygen(KeygenOptions{Dir: keys}); err != nil {
		t.Fatal(err)
	}
	if err := Keygen(KeygenOptions{Dir: keys}); err == nil {
		t.Fatal("keygen overwrote existing keys")
	}
	write(t, src, map[string]string{"main.py": "x = 1\n", "lib/util.py": strings.Repeat("def f(): pass\n", 50), "sub/.git/config": "ignored"})
	os.Chmod(filepath.Join(src, "main.py"), 0o755)
	os.Symlink("lib/util.py", filepath.Join(src, "util"))
	ctx := context.Background()
	r1, err := Run(ctx, Options{Src: src, Out: out, Keys: keys, Deltas: 1})
	if err != nil {
		t.Fatal(err)
	}
	write(t, src, map[string]string{"lib/util.py": strings.Repeat("def f(): pass\n", 49) + "def g(): pass\n"})
	r2, err := Run(ctx, Options{Src: src, Out: out, Keys: keys, Deltas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 || r2.Version != 2 || r1.Files != 3 || r2.NewObjects != 1 || r2.Deltas != 1 || r1.Commit == r2.Commit {
		t.Fatalf("results %+v %+v", r1, r2)
	}
	rel := verifyLatest(t, out, keys)
	if rel.Version != 2 || rel.Ref != "v2" || len(rel.Deltas) != 1 {
		t.Fatalf("latest %+v", rel)
	}
	modes := map[string]uint32{}
	for _, f := range rel.Files {
		modes[f.Path] = f.Mode
	}
	if modes["main.py"] != repo.ModeExecutable || modes["util"] != repo.ModeSymlink || modes["lib/util.py"] != repo.ModeFile {
		t.Fatalf("modes %v", modes)
	}
	// Layout: immutable metadata per version, no temporary files left.
	for _, p := range []string{"metadata/1.json", "metadata/2.json", rel.Deltas[0].Object} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(out, func(p string, de os.DirEntry, err error) error {
		if strings.HasPrefix(de.Name(), ".tmp") || de.Name() == ".publish.lock" {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestRepoAndKeysInsideSrcAreSkipped(t *testing.T) {
	src := t.TempDir()
	keys, out := filepath.Join(src, "keys"), filepath.Join(src, "repo")
	Keygen(KeygenOptions{Dir: keys})
	write(t, src, map[string]string{"a.txt": "a"})
	for i := 0; i < 2; i++ {
		res, err := Run(context.Background(), Options{Src: src, Out: out, Keys: keys})
		if err != nil || res.Files != 1 {
			t.Fatalf("run %d: %+v %v", i, res, err)
		}
	}
}

func TestGitNeedsRef(t *testing.T) {
	d := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", d).CombinedOutput(); err != nil {
		t.Skipf("git: %v %s", err, out)
	}
	keys := filepath.Join(t.TempDir(), "keys")
	Keygen(KeygenOptions{Dir: keys})
	_, err := Run(context.Background(), Options{Src: d, Out: t.TempDir(), Keys: keys})
	if err == nil || !strings.Contains(err.Error(), "--ref") {
		t.Fatalf("want a --ref hint, got %v", err)
	}
}

func TestSeedFormat(t *testing.T) {
	d := t.TempDir()
	src, out := filepath.Join(d, "src"), filepath.Join(d, "out")
	write(t, src, map[string]string{"main.py": "print(1)\n", "lib/a.py": "é\n", ".github/x.yml": "a", "lib/__pycache__/a.pyc": "b", "lib.py": "c"})
	res, err := Run(context.Background(), Options{Src: src, Ref: "v1.2", Out: out, Format: "seed", SeedKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	m, err := seedmanifest.Verify(data, "secret")
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
		if f.Path == "lib/a.py" && *f.CRC32 != crc32.ChecksumIEEE([]byte("é\n")) {
			t.Fatal("crc32")
		}
	}
	// Python sorts Path objects by parts: "lib/a.py" before "lib.py".
	if got := strings.Join(paths, ","); got != "lib/a.py,lib.py,main.py" || m.Version != "v1.2" || res.Files != 3 {
		t.Fatalf("files %s version %s", got, m.Version)
	}
	if _, err := seedmanifest.Verify(data, "other"); !errors.Is(err, seedmanifest.ErrSignature) {
		t.Fatal(err)
	}
}

func TestResignRotatesAndRevokes(t *testing.T) {
	d := t.TempDir()
	src, keys, out := filepath.Join(d, "src"), filepath.Join(d, "keys"), filepath.Join(d, "repo")
	Keygen(KeygenOptions{Dir: keys})
	write(t, src, map[string]string{"a": "1"})
	if _, err := Run(context.Background(), Options{Src: src, Out: out, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(keys, SigningKeyFile))
	oldKey, _ := repo.ParsePrivateKey(old)
	root, err := Resign(ResignOptions{Dir: keys, NewSigningKey: true, Revoke: []string{oldKey.Public().ID()}})
	if err != nil {
		t.Fatal(err)
	}
	if root.Version != 2 || len(root.SigningKeys) != 2 {
		t.Fatalf("root %+v", root)
	}
	if _, err := os.Stat(filepath.Join(keys, SigningKeyFile+".revoked")); err != nil {
		t.Fatal("revoked key file not set aside")
	}
	if _, err := Run(context.Background(), Options{Src: src, Out: out, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if rel := verifyLatest(t, out, keys); rel.Version != 2 {
		t.Fatalf("version %d", rel.Version)
	}
}

// The head format: head.json names the manifest, manifest deltas come from
// the previous versions, latest.json stays for older agents unless HeadOnly.
func TestHeadAndManifestDeltas(t *testing.T) {
	d := t.TempDir()
	src, keys, out := filepath.Join(d, "src"), filepath.Join(d, "keys"), filepath.Join(d, "repo")
	if err := Keygen(KeygenOptions{Dir: keys}); err != nil {
		t.Fatal(err)
	}
	v := verifier(t, keys)
	var mans []string
	many := map[string]string{}
	for i := range 30 { // a manifest big enough that its deltas are smaller
		many[fmt.Sprintf("b/c%02d.txt", i)] = strings.Repeat("c", i)
	}
	write(t, src, many)
	for i, body := range []string{"one\n", "two\n", "three\n"} {
		write(t, src, map[string]string{"a.txt": body})
		o := Options{Src: src, Out: out, Keys: keys, ManifestDeltas: 2, HeadOnly: i == 2}
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		b, vh, rel := readHead(t, v, out)
		if rel.Version != int64(i+1) || len(rel.Files) != 31 || len(b) > 1500 {
			t.Fatalf("version %d: %d-byte head", i+1, len(b))
		}
		mans = append(mans, vh.Head.Manifest.SHA256)
		if _, err := os.Stat(filepath.Join(out, repo.LatestPath)); (err == nil) != (i < 2) {
			t.Fatalf("version %d: latest.json present: %v", i+1, err == nil)
		}
	}
	for _, p := range [][2]int{{0, 1}, {0, 2}, {1, 2}} {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(repo.ManifestDeltaPath(mans[p[0]], mans[p[1]])))); err != nil {
			t.Errorf("manifest delta %d → %d: %v", p[0]+1, p[1]+1, err)
		}
	}
}

// TestHeadOnlyLargeRelease: the full bundle (metadata/N.json) is over the
// device's bundle limit. Served as latest.json it is refused with a hint;
// with HeadOnly no device reads it, so the release is published.
func TestHeadOnlyLargeRelease(t *testing.T) {
	d := t.TempDir()
	src, keys, out := filepath.Join(d, "src"), filepath.Join(d, "keys"), filepath.Join(d, "repo")
	if err := Keygen(KeygenOptions{Dir: keys}); err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("f%02d.txt", i)] = fmt.Sprint(i)
	}
	write(t, src, many)
	o := Options{Src: src, Out: out, Keys: keys, maxBundle: 2000}
	_, err := Run(context.Background(), o)
	if !errors.Is(err, repo.ErrTooLarge) || !strings.Contains(err.Error(), "--legacy-latest=false") {
		t.Fatalf("legacy latest.json over the limit: want ErrTooLarge with a hint, got %v", err)
	}
	o.HeadOnly = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("head only: %v", err)
	}
	if _, _, rel := readHead(t, verifier(t, keys), out); len(rel.Files) != 20 {
		t.Fatalf("manifest: %d files", len(rel.Files))
	}
}

// readHead reads and verifies the head published in out and the manifest it
// names; it returns the head's bytes too.
func readHead(t *testing.T, v *repo.Verifier, out string) ([]byte, *repo.VerifiedHead, *repo.Release) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, repo.HeadPath))
	if err != nil {
		t.Fatal(err)
	}
	vh, err := v.VerifyHead(b, repo.Seen{})
	if err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(repo.ManifestPath(vh.Head.Manifest.SHA256))))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := v.Manifest(vh, man)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return b, vh, rel
}
