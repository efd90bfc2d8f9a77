package github

import (
	"errors"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/publish"
	"github.com/otafleet/ota/repo/seedmanifest"
)

func TestAssetNamesMatchPublisher(t *testing.T) {
	if ManifestAsset != publish.ManifestAsset || ObjectAssetPrefix != publish.ObjectAssetPrefix || DeltaAssetPrefix != publish.DeltaAssetPrefix ||
		RepoManifestPath != publish.RepoManifestPath {
		t.Fatal("asset names differ between the GitHub source and the publisher")
	}
}

// TestSeedTree: only listed files are kept; every kept file carries the
// manifest's SHA-256; entries that cannot be verified are refused.
func TestSeedTree(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	n := func(v int64) *int64 { return &v }
	tree := []source.Entry{
		{Path: "a.py", Mode: source.ModeFile, Size: 3, BlobSHA1: strings.Repeat("1", 40)},
		{Path: "b.py", Mode: source.ModeFile, Size: 4, BlobSHA1: strings.Repeat("2", 40)},
		{Path: "l", Mode: source.ModeSymlink, Size: 4, BlobSHA1: strings.Repeat("3", 40)},
	}
	got, err := seedTree(&seedmanifest.Manifest{Files: []seedmanifest.File{{Path: "a.py", Size: n(3), SHA256: sum}}}, tree)
	if err != nil || len(got) != 1 || got[0].Path != "a.py" || got[0].SHA256 != sum || got[0].BlobSHA1 != tree[0].BlobSHA1 {
		t.Fatalf("%+v %v", got, err)
	}
	for name, f := range map[string]seedmanifest.File{
		"crc32 only":  {Path: "a.py", Size: n(3), CRC32: new(uint32)},
		"size":        {Path: "a.py", Size: n(4), SHA256: sum},
		"not in tree": {Path: "c.py", SHA256: sum},
		"symlink":     {Path: "l", SHA256: sum},
		"traversal":   {Path: "../x", SHA256: sum},
	} {
		if _, err := seedTree(&seedmanifest.Manifest{Files: []seedmanifest.File{f}}, tree); !errors.Is(err, source.ErrUnverified) {
			t.Errorf("%s: %v, want a verification error", name, err)
		}
	}
}
