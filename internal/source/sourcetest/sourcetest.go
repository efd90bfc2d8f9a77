// Package sourcetest is the conformance suite every source.Source must pass.
//
// A transport plugs in by turning a Fixture (a transport-neutral description
// of one version: files and deltas) into whatever backs it — a git repository
// behind a fake GitHub, a signed static repository over HTTP, a folder — and
// returning a Source whose Resolve names that version:
//
//	sourcetest.Run(t, func(t *testing.T, fx sourcetest.Fixture) source.Source { ... })
//
// The suite checks the source.Source contract only: Resolve names a commit
// and is stable, Tree lists exactly the fixture's files with git blob
// SHA-1s, Open returns bytes that hash to them, Open with an offset returns
// the suffix or ErrNoRange, and Delta serves present deltas and answers
// ErrNotFound for missing ones.
package sourcetest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/otafleet/ota/internal/source"
)

// File is one file of a fixture version. Mode 0 means source.ModeFile; for
// source.ModeSymlink, Data is the link target.
type File struct {
	Data []byte
	Mode uint32
}

// Delta is a patch the source must serve for Path from blob FromSHA1 to the
// fixture's version of Path. Its bytes are opaque to the suite.
type Delta struct {
	Path     string
	FromSHA1 string
	Data     []byte
}

// Fixture is the version a source under test must resolve to.
type Fixture struct {
	Files  map[string]File
	Deltas []Delta
}

// BlobSHA1 is git's blob hash: sha1("blob <len>\x00" + data), lowercase hex.
func BlobSHA1(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultFixture covers the shapes that break transports: an empty file,
// an executable, a symlink, nested folders, non-ASCII and space-containing
// names, and a file large enough to need several reads.
func DefaultFixture() Fixture {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 96<<10)
	for i := range big {
		big[i] = byte(rng.UintN(256))
	}
	fx := Fixture{Files: map[string]File{
		"main.py":            {Data: []byte("print('hello v2')\n")},
		"bin/run.sh":         {Data: []byte("#!/bin/sh\necho run\n"), Mode: source.ModeExecutable},
		"lib/current":        {Data: []byte("../main.py"), Mode: source.ModeSymlink},
		"empty.txt":          {Data: []byte{}},
		"a/b/c/deep.txt":     {Data: []byte("deep\n")},
		"dätä/ファイル name.txt": {Data: []byte("ünïcödé\n")},
		"assets/big.bin":     {Data: big},
	}}
	fx.Deltas = []Delta{{Path: "main.py", FromSHA1: BlobSHA1([]byte("print('hello v1')\n")), Data: []byte("opaque delta bytes")}}
	return fx
}

// Run runs the suite. newSource is called once per subtest.
func Run(t *testing.T, newSource func(t *testing.T, fx Fixture) source.Source) {
	ctx := context.Background()
	fx := DefaultFixture()
	want := expectedTree(fx)

	// setup resolves and lists the tree, failing the test on error.
	setup := func(t *testing.T) (source.Source, source.Target, []source.Entry) {
		t.Helper()
		src := newSource(t, fx)
		tgt, err := src.Resolve(ctx)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		entries, err := src.Tree(ctx, tgt)
		if err != nil {
			t.Fatalf("Tree: %v", err)
		}
		return src, tgt, entries
	}

	t.Run("ResolveIsStable", func(t *testing.T) {
		src := newSource(t, fx)
		a, err := src.Resolve(ctx)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		if a.Commit == "" {
			t.Fatal("Resolve returned an empty commit")
		}
		b, err := src.Resolve(ctx)
		if err != nil {
			t.Fatalf("second Resolve: %v", err)
		}
		if a.Commit != b.Commit || a.Ref != b.Ref {
			t.Fatalf("unchanged source resolved to %+v then %+v", a.Version, b.Version)
		}
	})

	t.Run("TreeMatchesFixture", func(t *testing.T) {
		_, _, entries := setup(t)
		got := map[string]source.Entry{}
		for i, e := range entries {
			if _, dup := got[e.Path]; dup {
				t.Errorf("path %q listed twice", e.Path)
			}
			if i > 0 && entries[i-1].Path > e.Path {
				t.Errorf("tree not sorted: %q before %q", entries[i-1].Path, e.Path)
			}
			got[e.Path] = e
		}
		for p, w := range want {
			g, ok := got[p]
			switch {
			case !ok:
				t.Errorf("missing %q", p)
			case g.Mode != w.Mode || g.Size != w.Size || g.BlobSHA1 != w.BlobSHA1:
				t.Errorf("%q: got mode %o size %d sha1 %s, want mode %o size %d sha1 %s",
					p, g.Mode, g.Size, g.BlobSHA1, w.Mode, w.Size, w.BlobSHA1)
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("unexpected entry %q", p)
			}
		}
	})

	t.Run("OpenVerifies", func(t *testing.T) {
		src, tgt, entries := setup(t)
		for _, e := range entries {
			rc, err := src.Open(ctx, tgt, e, 0)
			if err != nil {
				t.Errorf("Open %q: %v", e.Path, err)
				continue
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Errorf("read %q: %v", e.Path, err)
				continue
			}
			if int64(len(data)) != e.Size || BlobSHA1(data) != e.BlobSHA1 {
				t.Errorf("%q: %d bytes hashing to %s, want %d bytes %s", e.Path, len(data), BlobSHA1(data), e.Size, e.BlobSHA1)
			}
		}
	})

	t.Run("OpenOffset", func(t *testing.T) {
		src, tgt, entries := setup(t)
		for _, e := range entries {
			if e.Path != "assets/big.bin" && e.Path != "main.py" {
				continue
			}
			full := fx.Files[e.Path].Data
			for _, off := range []int64{1, e.Size / 2, e.Size - 1, e.Size} {
				rc, err := src.Open(ctx, tgt, e, off)
				if errors.Is(err, source.ErrNoRange) {
					continue
				}
				if err != nil {
					t.Errorf("Open %q at %d: %v", e.Path, off, err)
					continue
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(data, full[off:]) {
					t.Errorf("Open %q at %d: got %d bytes (err %v), want the %d-byte suffix", e.Path, off, len(data), err, len(full)-int(off))
				}
			}
		}
	})

	t.Run("DeltaMissing", func(t *testing.T) {
		src, tgt, entries := setup(t)
		e := find(t, entries, "main.py")
		_, err := src.Delta(ctx, tgt, e, BlobSHA1([]byte("no such base")))
		if !errors.Is(err, source.ErrNotFound) {
			t.Fatalf("missing delta: want ErrNotFound, got %v", err)
		}
	})

	t.Run("DeltaPresent", func(t *testing.T) {
		src, tgt, entries := setup(t)
		for _, d := range fx.Deltas {
			e := find(t, entries, d.Path)
			rc, err := src.Delta(ctx, tgt, e, d.FromSHA1)
			if errors.Is(err, source.ErrNotFound) {
				t.Skipf("source does not serve deltas: %v", err)
			}
			if err != nil {
				t.Fatalf("Delta %q: %v", d.Path, err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(data, d.Data) {
				t.Fatalf("Delta %q: got %q (err %v)", d.Path, data, err)
			}
		}
	})
}

func find(t *testing.T, entries []source.Entry, p string) source.Entry {
	t.Helper()
	for _, e := range entries {
		if e.Path == p {
			return e
		}
	}
	t.Fatalf("tree has no %q", p)
	return source.Entry{}
}

func expectedTree(fx Fixture) map[string]source.Entry {
	m := map[string]source.Entry{}
	paths := make([]string, 0, len(fx.Files))
	for p := range fx.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := fx.Files[p]
		mode := f.Mode
		if mode == 0 {
			mode = source.ModeFile
		}
		m[p] = source.Entry{Path: p, Mode: mode, Size: int64(len(f.Data)), BlobSHA1: BlobSHA1(f.Data)}
	}
	return m
}
