package dirrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/publish"
	"github.com/otafleet/ota/repo"
)

var bigV1 = bytes.Repeat([]byte("0123456789abcdef the quick brown fox\n"), 400)

func v2Of(b []byte) []byte {
	out := bytes.Clone(b)
	copy(out[5000:], "CHANGED IN VERSION TWO")
	return out
}

func readAll(t *testing.T, s source.Source, tg source.Target, e source.Entry) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), tg, e, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", e.Path, err)
	}
	return b
}

func entry(t *testing.T, tg source.Target, p string) source.Entry {
	t.Helper()
	for _, e := range tg.Tree {
		if e.Path == p {
			return e
		}
	}
	t.Fatalf("%s not in target %d", p, tg.Number)
	return source.Entry{}
}

func TestPublishAndRead(t *testing.T) {
	f := repotest.New(t)
	f.Commit("v1.0", map[string]string{"main.py": "print(1)\n", "lib/big.bin": string(bigV1), "run.sh": "#!/bin/sh\n", "link": "symlink:lib/big.bin"})
	f.Publish("v1.0")
	seen := &repo.MemSeen{}
	s := New(f.Repo, signedrepo.Trust{Verifier: f.Verifier(), Seen: seen})
	ctx := context.Background()

	tg, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Number != 1 || tg.Ref != "v1.0" || tg.Commit != f.RunGit("rev-parse", "v1.0") || len(tg.Tree) != 4 {
		t.Fatalf("target %+v", tg.Version)
	}
	if e := entry(t, tg, "run.sh"); e.Mode != source.ModeExecutable || e.BlobSHA1 != f.RunGit("rev-parse", "v1.0:run.sh") {
		t.Fatalf("run.sh entry %+v", e)
	}
	if got := readAll(t, s, tg, entry(t, tg, "lib/big.bin")); !bytes.Equal(got, bigV1) {
		t.Fatal("big.bin content differs")
	}
	if got := readAll(t, s, tg, entry(t, tg, "link")); string(got) != "lib/big.bin" {
		t.Fatalf("symlink content %q", got)
	}
	// Resume from an offset still verifies the whole object.
	rc, err := s.Open(ctx, tg, entry(t, tg, "lib/big.bin"), 100)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(rest, bigV1[100:]) {
		t.Fatalf("resume: %v", err)
	}

	f.Commit("v2.0", map[string]string{"lib/big.bin": string(v2Of(bigV1))})
	res := f.Publish("v2.0")
	if res.Version != 2 || res.Deltas != 1 {
		t.Fatalf("v2 result %+v", res)
	}
	tg2, err := s.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := seen.Load(); tg2.Number != 2 || got.Release != 2 {
		t.Fatalf("v2 target %d, seen %+v", tg2.Number, got)
	}
	big2 := entry(t, tg2, "lib/big.bin")
	rc, err = s.Delta(ctx, tg2, big2, entry(t, tg, "lib/big.bin").BlobSHA1)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(patch) >= len(bigV1)/4 {
		t.Fatalf("delta: %d bytes, %v", len(patch), err)
	}
	out, err := publish.ApplyDelta(bigV1, patch)
	if err != nil || !bytes.Equal(out, v2Of(bigV1)) {
		t.Fatalf("delta does not reproduce v2: %v", err)
	}
	if _, err := s.Delta(ctx, tg2, big2, "0000000000000000000000000000000000000000"); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("unknown delta: %v", err)
	}
	// A client whose patcher does not know the format sees no delta.
	plain := New(f.Repo, signedrepo.Trust{Verifier: f.Verifier(), DeltaFormats: []string{"v1"}})
	if _, err := plain.Delta(ctx, tg2, big2, entry(t, tg, "lib/big.bin").BlobSHA1); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("delta in a format the client cannot apply: %v", err)
	}
}

// TestAttacks is modelled on go-tuf's updater tests: every forged or damaged
// repository must be refused with ErrUnverified and the specific reason.
func TestAttacks(t *testing.T) {
	f := repotest.New(t)
	f.Commit("v1", map[string]string{"a.txt": "hello\n", "lib/b.bin": string(bigV1)})
	f.Publish("v1")
	headV1, _ := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	f.Commit("v2", map[string]string{"a.txt": "hello again\n"})
	f.Publish("v2")
	ctx := context.Background()
	latest := filepath.Join(f.Repo, repo.LatestPath)
	head := filepath.Join(f.Repo, repo.HeadPath)
	good, _ := os.ReadFile(latest)
	goodHead, _ := os.ReadFile(head)
	rootKey, signKey := f.Key(publish.RootKeyFile), f.Key(publish.SigningKeyFile)
	_, _, rel := f.Latest()
	var aObj string
	for _, fl := range rel.Files {
		if fl.Path == "a.txt" {
			aObj = filepath.Join(f.Repo, filepath.FromSlash(repo.ObjectPath(fl.SHA256)))
		}
	}
	goodObj, _ := os.ReadFile(aObj)
	past := time.Now().Add(-time.Hour)
	_, otherKey, _ := repo.GenerateKey()

	cases := []struct {
		name    string
		prepare func(v *repo.Verifier, seen *repo.MemSeen)
		open    bool // error expected when reading a.txt, not on Resolve
		want    error
	}{
		{"tampered object", func(*repo.Verifier, *repo.MemSeen) {
			os.WriteFile(aObj, bytes.ToUpper(goodObj), 0o644)
		}, true, repo.ErrHashMismatch},
		{"oversized object", func(*repo.Verifier, *repo.MemSeen) {
			os.WriteFile(aObj, append(bytes.Clone(goodObj), bigV1...), 0o644)
		}, true, repo.ErrTooLarge},
		{"tampered metadata", func(*repo.Verifier, *repo.MemSeen) {
			bun, _ := repo.ParseBundle(good)
			bun.Release.Signed = bytes.Replace(bun.Release.Signed, []byte(`"version": 2`), []byte(`"version": 3`), 1)
			f.WriteLatest(bun)
			hb, _ := repo.ParseHeadBundle(goodHead)
			hb.Head.Signed = bytes.Replace(hb.Head.Signed, []byte(`"version":2`), []byte(`"version":3`), 1)
			f.WriteHead(hb)
		}, false, repo.ErrBadSignature},
		{"replayed older metadata", func(_ *repo.Verifier, seen *repo.MemSeen) {
			seen.Save(repo.Seen{Root: 1, Release: 2})
			old, _ := os.ReadFile(filepath.Join(f.Repo, repo.MetadataPath(1)))
			os.WriteFile(latest, old, 0o644)
			os.WriteFile(head, headV1, 0o644)
		}, false, repo.ErrRollback},
		{"expired metadata", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(_ *repo.Root, r *repo.Release) { r.Expires = past }, nil, []repo.PrivateKey{signKey})
		}, false, repo.ErrExpired},
		{"expired root", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(r *repo.Root, _ *repo.Release) { r.Expires = past }, []repo.PrivateKey{rootKey}, nil)
		}, false, repo.ErrExpired},
		{"wrong root key on device", func(v *repo.Verifier, _ *repo.MemSeen) {
			v.TrustedKeys = []repo.PublicKey{otherKey.Public()}
		}, false, repo.ErrUnknownKey},
		{"release signed by a key the root does not delegate", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(*repo.Root, *repo.Release) {}, nil, []repo.PrivateKey{otherKey})
		}, false, repo.ErrUnknownKey},
		{"release signed by the root key only", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(*repo.Root, *repo.Release) {}, nil, []repo.PrivateKey{rootKey})
		}, false, repo.ErrUnknownKey},
		{"revoked signing key", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(r *repo.Root, _ *repo.Release) { r.Version = 2; r.Revoked = []string{signKey.Public().ID()} }, []repo.PrivateKey{rootKey}, nil)
		}, false, repo.ErrKeyRevoked},
		{"expired signing key", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(r *repo.Root, _ *repo.Release) { r.SigningKeys[0].Expires = past }, []repo.PrivateKey{rootKey}, nil)
		}, false, repo.ErrKeyExpired},
		{"signatures below threshold", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(r *repo.Root, _ *repo.Release) { r.Threshold = 2 }, []repo.PrivateKey{rootKey}, nil)
		}, false, repo.ErrThreshold},
		{"one signature counted twice", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(r *repo.Root, _ *repo.Release) { r.Threshold = 2 }, []repo.PrivateKey{rootKey}, []repo.PrivateKey{signKey, signKey})
		}, false, repo.ErrThreshold},
		{"root payload passed off as release", func(*repo.Verifier, *repo.MemSeen) {
			bun, _ := repo.ParseBundle(good)
			bun.Release = bun.Root
			f.WriteLatest(bun)
			hb, _ := repo.ParseHeadBundle(goodHead)
			hb.Head = hb.Root
			f.WriteHead(hb)
		}, false, repo.ErrMalformed},
		{"release payload passed off as head", func(*repo.Verifier, *repo.MemSeen) {
			bun, _ := repo.ParseBundle(good)
			hb, _ := repo.ParseHeadBundle(goodHead)
			hb.Head = bun.Release
			f.WriteHead(hb)
			bun.Release = bun.Root
			f.WriteLatest(bun)
		}, false, repo.ErrMalformed},
		{"oversized file in metadata", func(v *repo.Verifier, _ *repo.MemSeen) {
			v.Limits.MaxFileSize = 1000
		}, false, repo.ErrTooLarge},
		{"path traversal in metadata", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(_ *repo.Root, r *repo.Release) { r.Files[0].Path = "lib/../../etc/passwd" }, nil, []repo.PrivateKey{signKey})
		}, false, repo.ErrUnsafePath},
		{"absolute path in metadata", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(_ *repo.Root, r *repo.Release) { r.Files[0].Path = "/etc/passwd" }, nil, []repo.PrivateKey{signKey})
		}, false, repo.ErrUnsafePath},
		{"symlink escape", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(_ *repo.Root, r *repo.Release) {
				tgt := "../../etc/shadow"
				sum := sha256.Sum256([]byte(tgt))
				r.Files = append(r.Files, repo.File{Path: "lib/evil", Mode: repo.ModeSymlink, Size: int64(len(tgt)),
					SHA256: hex.EncodeToString(sum[:]), SHA1: "0123456789012345678901234567890123456789", LinkTarget: tgt})
			}, nil, []repo.PrivateKey{signKey})
		}, false, repo.ErrUnsafePath},
		{"file shadowed by symlink directory", func(*repo.Verifier, *repo.MemSeen) {
			f.Forge(func(_ *repo.Root, r *repo.Release) { r.Files[0].Path = "lib/b.bin/x" }, nil, []repo.PrivateKey{signKey})
		}, false, repo.ErrUnsafePath},
	}
	// Every attack on both formats: head.json with its manifest (what the
	// publisher writes now) and latest.json alone (older repositories).
	for _, format := range []string{"head", "latest"} {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				defer os.WriteFile(latest, good, 0o644)
				defer os.WriteFile(head, goodHead, 0o644)
				defer os.WriteFile(aObj, goodObj, 0o644)
				v := f.Verifier()
				seen := &repo.MemSeen{}
				c.prepare(&v, seen)
				if format == "latest" {
					os.Remove(head)
				}
				attack(t, ctx, f.Repo, v, seen, c.open, c.want)
			})
		}
	}
}

// attack resolves (and with open, reads a.txt) and wants a refusal.
func attack(t *testing.T, ctx context.Context, dir string, v repo.Verifier, seen *repo.MemSeen, open bool, want error) {
	t.Helper()
	s := New(dir, signedrepo.Trust{Verifier: v, Seen: seen})
	tg, err := s.Resolve(ctx)
	if open {
		if err != nil {
			t.Fatal(err)
		}
		var rc io.ReadCloser
		rc, err = s.Open(ctx, tg, entry(t, tg, "a.txt"), 0)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
	}
	if !errors.Is(err, want) || !errors.Is(err, source.ErrUnverified) {
		t.Fatalf("got %v, want %v (and ErrUnverified)", err, want)
	}
	t.Logf("refused: %v", err)
}
