// Package repotest builds real signed repositories for tests: a git
// repository made with the git CLI, keys from publish.Keygen, versions
// published with publish.Run, and helpers to forge metadata with the real
// signing key (for attack tests).
package repotest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/sourcetest"
	"github.com/otafleet/ota/publish"
	"github.com/otafleet/ota/repo"
)

// Fixture is a git work tree, a keys directory and a repository directory.
type Fixture struct {
	T    testing.TB
	Git  string
	Keys string
	Repo string
}

// New makes an empty fixture with keys.
func New(t testing.TB) *Fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not installed")
	}
	d := t.TempDir()
	f := &Fixture{T: t, Git: filepath.Join(d, "src"), Keys: filepath.Join(d, "keys"), Repo: filepath.Join(d, "repo")}
	if err := publish.Keygen(publish.KeygenOptions{Dir: f.Keys}); err != nil {
		t.Fatal(err)
	}
	f.RunGit("init", "-q", "-b", "main", f.Git)
	return f
}

// RunGit runs git in the work tree.
func (f *Fixture) RunGit(args ...string) string {
	f.T.Helper()
	if args[0] != "init" {
		args = append([]string{"-C", f.Git}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+f.Git)
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.T.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (content "" with a "->" prefix in the name is not
// special; use Symlink for links), commits everything and tags it.
func (f *Fixture) Commit(tag string, files map[string]string) {
	f.T.Helper()
	for p, c := range files {
		full := filepath.Join(f.Git, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.T.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "symlink:"); ok {
			os.Remove(full)
			if err := os.Symlink(target, full); err != nil {
				f.T.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			f.T.Fatal(err)
		}
	}
	f.RunGit("add", "-A")
	f.RunGit("commit", "-q", "-m", tag)
	f.RunGit("tag", tag)
}

// Publish publishes tag into the repository with deltas from 2 versions.
func (f *Fixture) Publish(tag string) *publish.Result {
	f.T.Helper()
	res, err := publish.Run(context.Background(), publish.Options{
		Src: f.Git, Ref: tag, Out: f.Repo, Keys: f.Keys, Deltas: 2,
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return res
}

// RootKeys returns the trusted root public keys (root.pub).
func (f *Fixture) RootKeys() []repo.PublicKey {
	b, err := os.ReadFile(filepath.Join(f.Keys, publish.RootPubFile))
	if err != nil {
		f.T.Fatal(err)
	}
	k, err := repo.ParsePublicKey(string(b))
	if err != nil {
		f.T.Fatal(err)
	}
	return []repo.PublicKey{k}
}

// Key reads a private key file of the keys directory.
func (f *Fixture) Key(name string) repo.PrivateKey {
	b, err := os.ReadFile(filepath.Join(f.Keys, name))
	if err != nil {
		f.T.Fatal(err)
	}
	k, err := repo.ParsePrivateKey(b)
	if err != nil {
		f.T.Fatal(err)
	}
	return k
}

// Latest returns the bundle and the (unverified) root and release of latest.json.
func (f *Fixture) Latest() (*repo.Bundle, *repo.Root, *repo.Release) {
	f.T.Helper()
	b, err := os.ReadFile(filepath.Join(f.Repo, repo.LatestPath))
	if err != nil {
		f.T.Fatal(err)
	}
	bun, err := repo.ParseBundle(b)
	if err != nil {
		f.T.Fatal(err)
	}
	var root repo.Root
	var rel repo.Release
	if err := json.Unmarshal(bun.Root.Signed, &root); err != nil {
		f.T.Fatal(err)
	}
	if err := json.Unmarshal(bun.Release.Signed, &rel); err != nil {
		f.T.Fatal(err)
	}
	return bun, &root, &rel
}

// Forge rewrites latest.json and head.json: mutate may change the root and
// the release; the root is re-signed with rootKeys and the release (and the
// head, over a manifest of the mutated release) with signKeys (nil slices
// keep the original envelope for that part).
func (f *Fixture) Forge(mutate func(*repo.Root, *repo.Release), rootKeys, signKeys []repo.PrivateKey) {
	f.T.Helper()
	bun, root, rel := f.Latest()
	mutate(root, rel)
	var err error
	if rootKeys != nil {
		if bun.Root, err = repo.SignJSON(repo.TypeRoot, root, rootKeys...); err != nil {
			f.T.Fatal(err)
		}
	}
	if signKeys != nil {
		if bun.Release, err = repo.SignJSON(repo.TypeRelease, rel, signKeys...); err != nil {
			f.T.Fatal(err)
		}
	}
	f.WriteLatest(bun)
	hb := f.Head()
	if hb == nil {
		return
	}
	hb.Root = bun.Root
	if signKeys != nil {
		hb.Head = f.SignHead(rel, signKeys)
	}
	f.WriteHead(hb)
}

// Head returns the head bundle of head.json (nil when there is none).
func (f *Fixture) Head() *repo.HeadBundle {
	f.T.Helper()
	b, err := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.T.Fatal(err)
	}
	hb, err := repo.ParseHeadBundle(b)
	if err != nil {
		f.T.Fatal(err)
	}
	return hb
}

// SignHead writes the manifest of rel into the repository and returns a
// head naming it, signed by keys.
func (f *Fixture) SignHead(rel *repo.Release, keys []repo.PrivateKey) *repo.Envelope {
	f.T.Helper()
	man, err := repo.EncodeManifest(rel)
	if err != nil {
		f.T.Fatal(err)
	}
	h := repo.HeadOf(rel, man)
	p := filepath.Join(f.Repo, filepath.FromSlash(repo.ManifestPath(h.Manifest.SHA256)))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, man, 0o644); err != nil {
		f.T.Fatal(err)
	}
	payload, err := json.Marshal(h)
	if err != nil {
		f.T.Fatal(err)
	}
	return repo.Sign(repo.TypeHead, payload, keys...)
}

// WriteHead replaces head.json.
func (f *Fixture) WriteHead(hb *repo.HeadBundle) {
	f.T.Helper()
	data, err := hb.Marshal()
	if err != nil {
		f.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.Repo, repo.HeadPath), data, 0o644); err != nil {
		f.T.Fatal(err)
	}
}

// WriteLatest replaces latest.json.
func (f *Fixture) WriteLatest(bun *repo.Bundle) {
	data, err := bun.Marshal()
	if err != nil {
		f.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.Repo, repo.LatestPath), data, 0o644); err != nil {
		f.T.Fatal(err)
	}
}

// Verifier returns a verifier trusting the fixture's root key.
func (f *Fixture) Verifier() repo.Verifier {
	return repo.Verifier{TrustedKeys: f.RootKeys(), ClockSlack: time.Minute}
}

// FromFixture publishes a sourcetest.Fixture as version 1 of a new signed
// repository (files from a plain folder; the fixture's opaque deltas added
// to the metadata in format "v2" and re-signed with the signing key).
func FromFixture(t testing.TB, fx sourcetest.Fixture) *Fixture {
	t.Helper()
	f := New(t)
	src := filepath.Join(filepath.Dir(f.Git), "fixture")
	for p, file := range fx.Files {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch file.Mode {
		case source.ModeSymlink:
			err = os.Symlink(string(file.Data), full)
		case source.ModeExecutable:
			err = os.WriteFile(full, file.Data, 0o755)
		default:
			err = os.WriteFile(full, file.Data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := publish.Run(context.Background(), publish.Options{Src: src, Ref: "fixture", Out: f.Repo, Keys: f.Keys}); err != nil {
		t.Fatal(err)
	}
	if len(fx.Deltas) == 0 {
		return f
	}
	f.Forge(func(_ *repo.Root, rel *repo.Release) {
		for _, d := range fx.Deltas {
			var to *repo.File
			for i := range rel.Files {
				if rel.Files[i].Path == d.Path {
					to = &rel.Files[i]
				}
			}
			if to == nil {
				t.Fatalf("fixture delta for unknown path %q", d.Path)
			}
			// The suite gives only the base's blob SHA-1; its SHA-256 is
			// made up (clients look deltas up by blob SHA-1).
			from := sha256.Sum256([]byte(d.FromSHA1))
			fromHex := hex.EncodeToString(from[:])
			sum := sha256.Sum256(d.Data)
			obj := repo.DeltaPath(fromHex, to.SHA256, "v2")
			full := filepath.Join(f.Repo, filepath.FromSlash(obj))
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, d.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			rel.Deltas = append(rel.Deltas, repo.Delta{FromSHA256: fromHex, FromSHA1: d.FromSHA1, ToSHA256: to.SHA256,
				ToSHA1: to.SHA1, Format: "v2", Object: obj, Size: int64(len(d.Data)), SHA256: hex.EncodeToString(sum[:])})
		}
	}, nil, []repo.PrivateKey{f.Key(publish.SigningKeyFile)})
	return f
}

// SHA256 is the lowercase hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
