package signedrepo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/repo"
)

// device is a Trust with in-memory state and a getter over the fixture's
// folder that records what it reads.
type device struct {
	trust signedrepo.Trust
	seen  *repo.MemSeen
	man   *signedrepo.MemManifest
	dir   string
	reads []string
}

func newDevice(f *repotest.Fixture) *device {
	d := &device{seen: &repo.MemSeen{}, man: &signedrepo.MemManifest{}, dir: f.Repo}
	d.trust = signedrepo.Trust{Verifier: f.Verifier(), Seen: d.seen, Manifests: d.man}
	return d
}

func (d *device) get(_ context.Context, rel string, limit int64) ([]byte, error) {
	d.reads = append(d.reads, strings.SplitN(rel, "/", 2)[0])
	b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", rel, source.ErrNotFound)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w", rel, source.ErrTooLarge)
	}
	return b, err
}

func (d *device) resolve(t *testing.T) (source.Target, error) {
	t.Helper()
	d.reads = nil
	head, err := os.ReadFile(filepath.Join(d.dir, repo.HeadPath))
	if err != nil {
		t.Fatal(err)
	}
	return d.trust.AcceptHead(context.Background(), head, d.get, nil)
}

func (d *device) mustResolve(t *testing.T, version int64, reads string) source.Target {
	t.Helper()
	tg, err := d.resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Number != version || strings.Join(d.reads, " ") != reads {
		t.Fatalf("resolved version %d reading %q; want version %d reading %q", tg.Number, d.reads, version, reads)
	}
	return tg
}

// publish3 publishes three versions; v2 changes one file and adds one.
func publish3(t *testing.T) *repotest.Fixture {
	f := repotest.New(t)
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("lib/m%02d.py", i)] = strings.Repeat(fmt.Sprintf("line %d\n", i), 20)
	}
	f.Commit("v1", files)
	f.Publish("v1")
	return f
}

func heldManifest(t *testing.T, d *device) []byte {
	b, _ := d.man.Load()
	return b
}

func manifestOf(t *testing.T, f *repotest.Fixture) []byte {
	t.Helper()
	hb := f.Head()
	var sum string
	if _, err := fmt.Sscanf(string(hb.Head.Signed[bytes.Index(hb.Head.Signed, []byte(`"sha256":"`))+10:]), "%64s", &sum); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(f.Repo, filepath.FromSlash(repo.ManifestPath(sum))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHeadManifestDelta(t *testing.T) {
	f := publish3(t)
	d := newDevice(f)
	d.mustResolve(t, 1, "manifests") // nothing held: the whole manifest
	d.mustResolve(t, 1, "")          // held: no request beyond the head
	f.Commit("v2", map[string]string{"lib/m03.py": "changed\n", "new.txt": "new\n"})
	f.Publish("v2")
	tg := d.mustResolve(t, 2, "manifest-deltas")
	if len(tg.Tree) != 41 || !bytes.Equal(heldManifest(t, d), manifestOf(t, f)) {
		t.Fatalf("v2: %d files; held manifest is v2's: %v", len(tg.Tree), bytes.Equal(heldManifest(t, d), manifestOf(t, f)))
	}
	if rel, _ := signedrepo.Release(tg); len(rel.Deltas) != 0 || rel.Commit != f.RunGit("rev-parse", "v2") {
		t.Fatalf("release %+v", rel)
	}
	// A device two versions behind uses the delta from its manifest.
	f.Commit("v3", map[string]string{"lib/m04.py": strings.Repeat("line 4\n", 19) + "line four\n"})
	f.Publish("v3")
	behind := newDevice(f)
	behind.man.Save(heldFromVersion(t, f, 1))
	tg = behind.mustResolve(t, 3, "manifest-deltas")
	if rel, _ := signedrepo.Release(tg); len(rel.Deltas) != 1 {
		t.Fatalf("v3 deltas %+v", rel.Deltas)
	}
}

// heldFromVersion is the manifest a device that accepted version v keeps.
func heldFromVersion(t *testing.T, f *repotest.Fixture, v int64) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Repo, repo.MetadataPath(v)))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := repo.UnverifiedRelease(b)
	if err != nil {
		t.Fatal(err)
	}
	man, err := repo.EncodeManifest(rel)
	if err != nil {
		t.Fatal(err)
	}
	return man
}

func TestHeadFallsBackToWholeManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(path string)
	}{
		{"missing delta", func(p string) { os.Remove(p) }},
		{"tampered delta", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}},
		{"delta of other bytes", func(p string) { os.WriteFile(p, []byte("not a delta"), 0o644) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := publish3(t)
			d := newDevice(f)
			d.mustResolve(t, 1, "manifests")
			from := sha(heldManifest(t, d))
			f.Commit("v2", map[string]string{"lib/m03.py": "changed\n"})
			f.Publish("v2")
			c.damage(filepath.Join(f.Repo, filepath.FromSlash(repo.ManifestDeltaPath(from, sha(manifestOf(t, f))))))
			d.mustResolve(t, 2, "manifest-deltas manifests")
			if !bytes.Equal(heldManifest(t, d), manifestOf(t, f)) {
				t.Fatal("the held manifest is not v2's")
			}
		})
	}
}

func TestHeadRefusesTamperedManifest(t *testing.T) {
	f := publish3(t)
	d := newDevice(f)
	d.mustResolve(t, 1, "manifests")
	held := heldManifest(t, d)
	f.Commit("v2", map[string]string{"lib/m03.py": "changed\n"})
	f.Publish("v2")
	man := manifestOf(t, f)
	manPath := filepath.Join(f.Repo, filepath.FromSlash(repo.ManifestPath(sha(man))))
	deltaPath := filepath.Join(f.Repo, filepath.FromSlash(repo.ManifestDeltaPath(sha(held), sha(man))))
	os.Remove(deltaPath)
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"one byte changed", append(bytes.Clone(man[:len(man)-1]), man[len(man)-1]^1), repo.ErrHashMismatch},
		{"truncated", man[:len(man)-1], repo.ErrHashMismatch},
		{"empty", nil, repo.ErrHashMismatch},
		{"larger than signed", append(bytes.Clone(man), 0), source.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.WriteFile(manPath, c.data, 0o644)
			defer os.WriteFile(manPath, man, 0o644)
			_, err := d.resolve(t)
			if !errors.Is(err, c.want) || !errors.Is(err, source.ErrUnverified) {
				t.Fatalf("got %v, want %v and ErrUnverified", err, c.want)
			}
			if s, _ := d.seen.Load(); s.Release != 1 || !bytes.Equal(heldManifest(t, d), held) {
				t.Fatalf("a refused head changed the device's state: seen %+v", s)
			}
		})
	}
	d.mustResolve(t, 2, "manifest-deltas manifests")
}

func TestHeadReplayRefused(t *testing.T) {
	f := publish3(t)
	v1, _ := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	f.Commit("v2", map[string]string{"lib/m03.py": "changed\n"})
	f.Publish("v2")
	d := newDevice(f)
	d.mustResolve(t, 2, "manifests")
	os.WriteFile(filepath.Join(f.Repo, repo.HeadPath), v1, 0o644)
	if _, err := d.resolve(t); !errors.Is(err, repo.ErrRollback) || !errors.Is(err, source.ErrUnverified) {
		t.Fatalf("replayed head: %v", err)
	}
	if len(d.reads) != 0 {
		t.Fatalf("a replayed head made the device read %v", d.reads)
	}
}

// A device that last accepted the old format (latest.json) keeps the
// manifest of that release, so its first head costs a manifest delta.
func TestLegacyThenHead(t *testing.T) {
	f := publish3(t)
	d := newDevice(f)
	latest, _ := os.ReadFile(filepath.Join(f.Repo, repo.LatestPath))
	tg, err := d.trust.Accept(latest)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := signedrepo.Release(tg)
	if err := d.trust.KeepManifest(rel); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(heldManifest(t, d), manifestOf(t, f)) {
		t.Fatal("the manifest kept from latest.json differs from the published one")
	}
	f.Commit("v2", map[string]string{"lib/m03.py": "changed\n"})
	f.Publish("v2")
	d.mustResolve(t, 2, "manifest-deltas")
}

func sha(b []byte) string { return repotest.SHA256(b) }

// TestHeldManifestNotDecoded: when the kept manifest (a file) is the one the
// head names, AcceptHead reads nothing and decodes nothing; the file list is
// read, and verified against the head again, when first asked for.
func TestHeldManifestNotDecoded(t *testing.T) {
	f := publish3(t)
	d := newDevice(f)
	manPath := filepath.ToSlash(filepath.Join(t.TempDir(), "repo-manifest"))
	d.trust.Manifests = signedrepo.FileManifest{Path: manPath}
	first := d.mustResolve(t, 1, "manifests")
	want, err := signedrepo.Tree(first)
	if err != nil {
		t.Fatal(err)
	}
	again := d.mustResolve(t, 1, "") // nothing fetched
	if again.Tree != nil {
		t.Fatalf("the file list was built at resolve: %d entries", len(again.Tree))
	}
	got, err := signedrepo.Tree(again)
	if err != nil || len(got) != len(want) || got[3] != want[3] {
		t.Fatalf("lazy tree: %d entries (want %d), %v", len(got), len(want), err)
	}
	// Changed after resolve: verified again against the head, refused.
	lazy := d.mustResolve(t, 1, "")
	if err := os.WriteFile(filepath.FromSlash(manPath), []byte("not it"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := signedrepo.Tree(lazy); !errors.Is(err, source.ErrUnverified) {
		t.Fatalf("a kept manifest changed after resolve: %v", err)
	}
	// A kept manifest that is not the head's is not trusted for it.
	d.mustResolve(t, 1, "manifest-deltas manifests")
}
