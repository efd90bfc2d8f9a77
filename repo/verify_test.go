package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testNow             = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rootPub, rootKey    = KeyFromSeed(bytes.Repeat([]byte{1}, 32))
	signPub, signKey    = KeyFromSeed(bytes.Repeat([]byte{2}, 32))
	_, sign2Key         = KeyFromSeed(bytes.Repeat([]byte{3}, 32))
	testSHA256          = strings.Repeat("ab", 32)
	testSHA1            = strings.Repeat("cd", 20)
	linkSHA, linkTarget = "867135880e15eb86a3a1958deda8831ea42bcec1f557ed6ae45d946cc344f97b", "sub/x"
)

func testRoot() Root {
	return Root{Kind: KindRoot, Version: 1, Expires: testNow.Add(24 * time.Hour), Threshold: 1,
		SigningKeys: []SigningKey{{KeyID: signPub.ID(), Public: signPub, Expires: testNow.Add(time.Hour)}}}
}

func testRelease() Release {
	return Release{Kind: KindRelease, Version: 3, Ref: "v3", Commit: testSHA1, Created: testNow, Expires: testNow.Add(time.Hour),
		Files:   []File{{Path: "a/b.txt", Size: 5, SHA256: testSHA256, SHA1: testSHA1, Mode: ModeFile}},
		Rollout: &Rollout{StartPercent: 10, RampDuration: Duration(36 * time.Hour)}}
}

func bundle(t testing.TB, root Root, rel Release, rootKeys, signKeys []PrivateKey) []byte {
	re, err := SignJSON(TypeRoot, root, rootKeys...)
	if err != nil {
		t.Fatal(err)
	}
	le, err := SignJSON(TypeRelease, rel, signKeys...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&Bundle{Root: re, Release: le}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testVerifier() *Verifier {
	return &Verifier{TrustedKeys: []PublicKey{rootPub}, Now: func() time.Time { return testNow }, ClockSlack: time.Minute}
}

func TestVerifyGood(t *testing.T) {
	b := bundle(t, testRoot(), testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey})
	v, err := testVerifier().Verify(b, Seen{Root: 1, Release: 3})
	if err != nil {
		t.Fatal(err)
	}
	if v.Release.Version != 3 || v.Release.Rollout.RampDuration != Duration(36*time.Hour) || v.Seen(Seen{}) != (Seen{1, 3}) {
		t.Fatalf("%+v", v.Release)
	}
}

func TestVerifyRefuses(t *testing.T) {
	k := func(ks ...PrivateKey) []PrivateKey { return ks }
	cases := []struct {
		name     string
		root     func(*Root)
		rel      func(*Release)
		rk, sk   []PrivateKey
		seen     Seen
		verifier func(*Verifier)
		want     error
	}{
		{name: "unknown root key", rk: k(signKey), want: ErrUnknownKey},
		{name: "release by root key", sk: k(rootKey), want: ErrUnknownKey},
		{name: "threshold 2 with one key", root: func(r *Root) { r.Threshold = 2 }, want: ErrThreshold},
		{name: "root threshold 2", verifier: func(v *Verifier) { v.RootThreshold = 2 }, want: ErrThreshold},
		{name: "revoked", root: func(r *Root) { r.Revoked = []string{signPub.ID()} }, want: ErrKeyRevoked},
		{name: "signing key expired beyond slack", root: func(r *Root) { r.SigningKeys[0].Expires = testNow.Add(-2 * time.Minute) }, want: ErrKeyExpired},
		{name: "release expired beyond slack", rel: func(r *Release) { r.Expires = testNow.Add(-2 * time.Minute) }, want: ErrExpired},
		{name: "root expired", root: func(r *Root) { r.Expires = testNow.Add(-time.Hour) }, want: ErrExpired},
		{name: "rollback", seen: Seen{Release: 4}, want: ErrRollback},
		{name: "root rollback", seen: Seen{Root: 2}, want: ErrRollback},
		{name: "key id mismatch", root: func(r *Root) { r.SigningKeys[0].KeyID = testSHA256 }, want: ErrMalformed},
		{name: "bad mode", rel: func(r *Release) { r.Files[0].Mode = 0o40000 }, want: ErrMalformed},
		{name: "negative size", rel: func(r *Release) { r.Files[0].Size = -1 }, want: ErrTooLarge},
		{name: "uppercase hash", rel: func(r *Release) { r.Files[0].SHA256 = strings.ToUpper(testSHA256) }, want: ErrMalformed},
		{name: "duplicate path", rel: func(r *Release) { r.Files = append(r.Files, r.Files[0]) }, want: ErrUnsafePath},
		{name: "too many files", rel: func(r *Release) {
			r.Files = append(r.Files, File{Path: "c", Size: 1, SHA256: testSHA256, SHA1: testSHA1, Mode: ModeFile})
		},
			verifier: func(v *Verifier) { v.Limits.MaxFiles = 1 }, want: ErrTooLarge},
		{name: "total too large", verifier: func(v *Verifier) { v.Limits.MaxTotalSize = 4 }, want: ErrTooLarge},
		{name: "metadata too large", verifier: func(v *Verifier) { v.Limits.MaxMetadataSize = 100 }, want: ErrTooLarge},
		{name: "symlink target mismatch", rel: func(r *Release) {
			r.Files = append(r.Files, File{Path: "l", Mode: ModeSymlink, Size: 5, SHA256: testSHA256, SHA1: testSHA1, LinkTarget: "a/b.t"})
		}, want: ErrMalformed},
		{name: "delta off its address", rel: func(r *Release) {
			r.Deltas = []Delta{{FromSHA256: testSHA256, ToSHA256: testSHA256, SHA256: testSHA256, FromSHA1: testSHA1, ToSHA1: testSHA1, Format: "v2", Object: "objects/x"}}
		}, want: ErrUnsafePath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, rel := testRoot(), testRelease()
			if c.root != nil {
				c.root(&root)
			}
			if c.rel != nil {
				c.rel(&rel)
			}
			rk, sk := c.rk, c.sk
			if rk == nil {
				rk = k(rootKey)
			}
			if sk == nil {
				sk = k(signKey)
			}
			v := testVerifier()
			if c.verifier != nil {
				c.verifier(v)
			}
			_, err := v.Verify(bundle(t, root, rel, rk, sk), c.seen)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestThresholdTwo(t *testing.T) {
	root := testRoot()
	p2 := sign2Key.Public()
	root.SigningKeys = append(root.SigningKeys, SigningKey{KeyID: p2.ID(), Public: p2, Expires: testNow.Add(time.Hour)})
	root.Threshold = 2
	if _, err := testVerifier().Verify(bundle(t, root, testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey, sign2Key}), Seen{}); err != nil {
		t.Fatal(err)
	}
	// Within the clock slack an expired signing key still counts.
	root.SigningKeys[1].Expires = testNow.Add(-30 * time.Second)
	if _, err := testVerifier().Verify(bundle(t, root, testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey, sign2Key}), Seen{}); err != nil {
		t.Fatal(err)
	}
}

func TestPaths(t *testing.T) {
	for _, p := range []string{"", "/a", "a/../b", "..", ".", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "./a"} {
		if err := CheckPath(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"a", "a/b.c", ".hidden/x", "a..b", "é/ü"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
	links := []struct {
		link, target string
		ok           bool
	}{
		{"a", "b", true}, {"d/a", "../b", true}, {"d/e/a", "../../b", true}, {"a", ".", true},
		{"a", "../b", false}, {"d/a", "../../b", false}, {"a", "/etc", false}, {"a", "b/../../c", false},
		{"a", "b/..", false}, {"a", "", false}, {"d/a", "..", true}, {"a", "..", false},
	}
	for _, l := range links {
		err := CheckLinkTarget(l.link, l.target)
		if (err == nil) != l.ok {
			t.Errorf("CheckLinkTarget(%q, %q) = %v", l.link, l.target, err)
		}
	}
}

func TestKeyText(t *testing.T) {
	k, err := ParsePublicKey(" " + rootPub.String() + "\n")
	if err != nil || k.ID() != rootPub.ID() {
		t.Fatal(err)
	}
	p, err := ParsePrivateKey(MarshalPrivateKey(rootKey))
	if err != nil || p.Public().ID() != rootPub.ID() {
		t.Fatal(err)
	}
	for _, s := range []string{"ed25519:", "rsa:AAAA", "ed25519:!!"} {
		if _, err := ParsePublicKey(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// FuzzVerify feeds arbitrary bundles to the verifier: it must never panic,
// and whatever it accepts must pass CheckRelease.
func FuzzVerify(f *testing.F) {
	f.Add(bundle(f, testRoot(), testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey}))
	f.Add([]byte(`{"root":{},"release":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := testVerifier().Verify(b, Seen{})
		if err != nil {
			return
		}
		if err := CheckRelease(v.Release, Limits{}); err != nil {
			t.Fatalf("accepted a release CheckRelease refuses: %v", err)
		}
	})
}

// TestFuzzCorpusIsCurrent checks that the committed seed corpus in
// testdata/fuzz/FuzzVerify is exactly what the current code signs
// (signatures are deterministic), so the fuzzer starts from valid bundles.
// OTA_WRITE_CORPUS=1 rewrites it instead.
func TestFuzzCorpusIsCurrent(t *testing.T) {
	write := os.Getenv("OTA_WRITE_CORPUS") == "1"
	rel := testRelease()
	rel.Files = append(rel.Files, File{Path: "l", Mode: ModeSymlink, Size: int64(len(linkTarget)), SHA256: linkSHA, SHA1: testSHA1, LinkTarget: linkTarget})
	rel.Deltas = []Delta{{FromSHA256: testSHA256, ToSHA256: testSHA256, SHA256: testSHA256, FromSHA1: testSHA1, ToSHA1: testSHA1,
		Format: "v2", Object: DeltaPath(testSHA256, testSHA256, "v2"), Size: 3}}
	two := testRoot()
	two.Threshold = 2
	p2 := sign2Key.Public()
	two.SigningKeys = append(two.SigningKeys, SigningKey{KeyID: p2.ID(), Public: p2, Expires: testNow.Add(time.Hour)})
	seeds := map[string][]byte{
		"valid":         bundle(t, testRoot(), testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey}),
		"valid-rich":    bundle(t, testRoot(), rel, []PrivateKey{rootKey}, []PrivateKey{signKey}),
		"threshold-two": bundle(t, two, testRelease(), []PrivateKey{rootKey}, []PrivateKey{signKey, sign2Key}),
		"empty":         []byte(`{}`),
		"null-parts":    []byte(`{"root":null,"release":null}`),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	os.MkdirAll(dir, 0o755)
	for name, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		p := filepath.Join(dir, name)
		if write {
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != data {
			t.Errorf("seed %s is stale or missing (%v): run OTA_WRITE_CORPUS=1 go test -run FuzzCorpus ./repo", p, err)
		}
	}
}
