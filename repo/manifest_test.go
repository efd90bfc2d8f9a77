package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func richRelease() Release {
	rel := testRelease()
	rel.Files = append(rel.Files,
		File{Path: "a/a.sh", Size: 7, SHA256: strings.Repeat("01", 32), SHA1: strings.Repeat("02", 20), Mode: ModeExecutable},
		File{Path: "l", Mode: ModeSymlink, Size: int64(len(linkTarget)), SHA256: linkSHA, SHA1: testSHA1, LinkTarget: linkTarget},
		File{Path: "z/empty", SHA256: strings.Repeat("e3", 32), SHA1: strings.Repeat("e6", 20), Mode: ModeFile})
	rel.Deltas = []Delta{{FromSHA256: strings.Repeat("99", 32), FromSHA1: strings.Repeat("98", 20), ToSHA256: testSHA256, ToSHA1: testSHA1,
		Format: "v2", Object: DeltaPath(strings.Repeat("99", 32), testSHA256, "v2"), Size: 3, SHA256: strings.Repeat("97", 32)}}
	return rel
}

func TestManifestRoundTrip(t *testing.T) {
	rel := richRelease()
	man, err := EncodeManifest(&rel)
	if err != nil {
		t.Fatal(err)
	}
	files, deltas, err := DecodeManifest(man, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]File{}
	for _, f := range rel.Files {
		want[f.Path] = f
	}
	for i, f := range files {
		if i > 0 && files[i-1].Path >= f.Path {
			t.Fatalf("not sorted: %q after %q", f.Path, files[i-1].Path)
		}
		if !reflect.DeepEqual(want[f.Path], f) {
			t.Errorf("%s: got %+v, want %+v", f.Path, f, want[f.Path])
		}
	}
	if len(files) != len(rel.Files) || !reflect.DeepEqual(deltas, rel.Deltas) {
		t.Fatalf("files %d/%d, deltas %+v", len(files), len(rel.Files), deltas)
	}
	// Canonical: the order of the input does not matter.
	rev := rel
	rev.Files = append([]File{}, rel.Files...)
	for i, j := 0, len(rev.Files)-1; i < j; i, j = i+1, j-1 {
		rev.Files[i], rev.Files[j] = rev.Files[j], rev.Files[i]
	}
	if again, _ := EncodeManifest(&rev); !bytes.Equal(again, man) {
		t.Fatal("the encoding depends on the order of the file list")
	}
}

func TestManifestRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		rel  func(*Release)
		lim  Limits
		want error
	}{
		"path traversal":    {rel: func(r *Release) { r.Files[0].Path = "../x" }, want: ErrUnsafePath},
		"file and folder":   {rel: func(r *Release) { r.Files[1].Path = "a/b.txt/c" }, want: ErrUnsafePath},
		"symlink escape":    {rel: func(r *Release) { r.Files[2].LinkTarget = "../../../x"; r.Files[2].Size = 10 }, want: ErrUnsafePath},
		"too many files":    {lim: Limits{MaxFiles: 2}, want: ErrTooLarge},
		"file too large":    {lim: Limits{MaxFileSize: 4}, want: ErrTooLarge},
		"release too large": {lim: Limits{MaxTotalSize: 6}, want: ErrTooLarge},
	} {
		rel := richRelease()
		if c.rel != nil {
			c.rel(&rel)
		}
		man, err := EncodeManifest(&rel)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if _, _, err := DecodeManifest(man, c.lim); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	rel := richRelease()
	man, _ := EncodeManifest(&rel)
	for name, b := range map[string][]byte{
		"empty":           nil,
		"other magic":     append([]byte("otam2\n"), man[6:]...),
		"truncated":       man[:len(man)-1],
		"trailing data":   append(bytes.Clone(man), 0),
		"huge file count": append([]byte("otam1\n\xff\xff\xff\xff\x0f"), man[7:]...),
	} {
		if _, _, err := DecodeManifest(b, Limits{}); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func headBundle(t testing.TB, root Root, h *Head, rootKeys, signKeys []PrivateKey) []byte {
	re, err := SignJSON(TypeRoot, root, rootKeys...)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(h)
	b, err := (&HeadBundle{Root: re, Head: Sign(TypeHead, p, signKeys...)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyHead(t *testing.T) {
	rel := richRelease()
	man, _ := EncodeManifest(&rel)
	good := headBundle(t, testRoot(), HeadOf(&rel, man), []PrivateKey{rootKey}, []PrivateKey{signKey})
	if !IsHeadBundle(good) || IsHeadBundle(bundle(t, testRoot(), rel, []PrivateKey{rootKey}, []PrivateKey{signKey})) {
		t.Fatal("IsHeadBundle")
	}
	v := testVerifier()
	vh, err := v.VerifyHead(good, Seen{Root: 1, Release: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Manifest(vh, man)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || got.Commit != rel.Commit || len(got.Files) != len(rel.Files) || len(got.Deltas) != 1 ||
		got.Rollout.StartPercent != 10 || vh.Seen(Seen{}) != (Seen{1, 3}) {
		t.Fatalf("release from head and manifest: %+v", got)
	}
	if _, err := v.Manifest(vh, append(bytes.Clone(man[:len(man)-1]), man[len(man)-1]^1)); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("tampered manifest: %v", err)
	}

	k := func(ks ...PrivateKey) []PrivateKey { return ks }
	for _, c := range []struct {
		name   string
		head   func(*Head)
		rk, sk []PrivateKey
		seen   Seen
		lim    Limits
		want   error
	}{
		{name: "replayed head", seen: Seen{Release: 4}, want: ErrRollback},
		{name: "replayed root", seen: Seen{Root: 2}, want: ErrRollback},
		{name: "expired head", head: func(h *Head) { h.Expires = testNow.Add(-time.Hour) }, want: ErrExpired},
		{name: "head by root key", sk: k(rootKey), want: ErrUnknownKey},
		{name: "unknown root key", rk: k(signKey), want: ErrUnknownKey},
		{name: "release type", head: func(h *Head) { h.Kind = KindRelease }, want: ErrMalformed},
		{name: "manifest format", head: func(h *Head) { h.Manifest.Format = "json" }, want: ErrMalformed},
		{name: "manifest hash", head: func(h *Head) { h.Manifest.SHA256 = "AB" }, want: ErrMalformed},
		{name: "manifest too large", lim: Limits{MaxMetadataSize: 4000}, head: func(h *Head) { h.Manifest.Size = 5000 }, want: ErrTooLarge},
	} {
		h := HeadOf(&rel, man)
		if c.head != nil {
			c.head(h)
		}
		rk, sk := c.rk, c.sk
		if rk == nil {
			rk = k(rootKey)
		}
		if sk == nil {
			sk = k(signKey)
		}
		v := testVerifier()
		v.Limits = c.lim
		if _, err := v.VerifyHead(headBundle(t, testRoot(), h, rk, sk), c.seen); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A release envelope in the head's place (payload type binding).
	hb, _ := ParseHeadBundle(good)
	hb.Head, _ = SignJSON(TypeRelease, rel, signKey)
	b, _ := hb.Marshal()
	if _, err := v.VerifyHead(b, Seen{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("release passed off as head: %v", err)
	}
	// A head is not a release bundle either (agents before heads refuse it).
	if _, err := v.Verify(good, Seen{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("head read as a release bundle: %v", err)
	}
}

// FuzzManifest: DecodeManifest never panics, and what it accepts passes
// CheckRelease and survives encoding and decoding again unchanged.
func FuzzManifest(f *testing.F) {
	rel := richRelease()
	man, _ := EncodeManifest(&rel)
	f.Add(man)
	f.Add([]byte("otam1\n\x00\x00"))
	f.Add([]byte("otam1\n\x010\x98\x98\x98\x98\x98\x98\x98\x98A0000000000000000000000000000000000000000000000")) // once a panic
	f.Add([]byte("otam1\n\x80\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, deltas, err := DecodeManifest(b, Limits{})
		if err != nil {
			return
		}
		r := Release{Files: files, Deltas: deltas}
		if err := CheckRelease(&r, Limits{}); err != nil {
			t.Fatalf("accepted a manifest CheckRelease refuses: %v", err)
		}
		again, err := EncodeManifest(&r)
		if err != nil {
			t.Fatalf("accepted a manifest it cannot encode: %v", err)
		}
		files2, deltas2, err := DecodeManifest(again, Limits{})
		if err != nil || !reflect.DeepEqual(files2, files) || !reflect.DeepEqual(deltas2, deltas) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}
