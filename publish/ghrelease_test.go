package publish

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/otafleet/ota/repo"
)

// TestGitHubReleaseFormat: two versions as flat release assets; stale assets
// of version 1 disappear, numbering continues, and without the state folder
// it continues from the previous ota-manifest.json.
func TestGitHubReleaseFormat(t *testing.T) {
	d := t.TempDir()
	src, keys, out := filepath.Join(d, "src"), filepath.Join(d, "keys"), filepath.Join(d, "src", "dist")
	if err := Keygen(KeygenOptions{Dir: keys}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("line of text\n", 200)
	write(t, src, map[string]string{"a.txt": big + "1", "b.txt": "same", "empty": ""})
	o := Options{Src: src, Out: out, Keys: keys, Format: FormatGitHubRelease, Deltas: 1}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	write(t, src, map[string]string{"a.txt": big + "2"})
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rel := verifyAsset(t, out, keys)
	if res.Version != 2 || rel.Version != 2 || len(rel.Files) != 3 || len(rel.Deltas) != 1 {
		t.Fatalf("result %+v release %+v", res, rel)
	}
	var names []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	want := []string{GitHubStateDir, DeltaAsset(rel.Deltas[0].FromSHA256, rel.Deltas[0].ToSHA256, rel.Deltas[0].Format), ManifestAsset}
	for _, f := range rel.Files {
		if f.Size > 0 {
			want = append(want, ObjectAsset(f.SHA256))
		}
	}
	sort.Strings(want)
	if strings.Join(names, " ") != strings.Join(want, " ") || res.Assets != len(want)-1 {
		t.Fatalf("assets %v, want %v (%d)", names, want, res.Assets)
	}
	for _, f := range rel.Files {
		if f.Size > 0 {
			b, _ := os.ReadFile(filepath.Join(out, ObjectAsset(f.SHA256)))
			if int64(len(b)) != f.Size {
				t.Fatalf("%s: %d bytes", f.Path, len(b))
			}
		}
	}
	// CI without the state folder: numbering continues from the manifest.
	os.RemoveAll(filepath.Join(out, GitHubStateDir))
	if res, err = Run(context.Background(), o); err != nil || res.Version != 3 {
		t.Fatalf("continue: %+v %v", res, err)
	}
}

func verifyAsset(t *testing.T, out, keys string) *repo.Release {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, ManifestAsset))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier(t, keys).Verify(b, repo.Seen{})
	if err != nil {
		t.Fatal(err)
	}
	return v.Release
}
