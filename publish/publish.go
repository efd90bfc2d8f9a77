// Package publish builds and signs a static update repository (see package
// repo for the layout and the trust model) from a git commit or a plain
// folder, and writes the original system's HMAC manifest (--format seed).
//
// Invariants: objects and deltas are content-addressed and never rewritten;
// every file is written to a temporary name, fsynced and renamed;
// metadata/<version>.json is created exclusively; latest.json is replaced
// last, so a client never sees a half-published version.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otafleet/ota/repo"
)

// Options configures one publication; the CLI maps flags onto it.
type Options struct {
	Src     string        // git repository (with Ref) or plain folder (without)
	Ref     string        // git ref; for a plain folder, an optional label
	Out     string        // repository directory
	Keys    string        // keys directory (ota keygen)
	Expires time.Duration // release metadata validity; default 30 days
	// Format is "" (signed repository) or "seed" (the original manifest.json).
	Format string
	// SeedKey is the HMAC key for Format "seed" (empty: unsigned manifest).
	SeedKey string
	// DeltaFrom, with Format "seed" and a git --src, writes OUT/.deltas/ in
	// the original's v1 format and naming from that ref to --ref, for
	// MicroPython devices on DeltaFrom (commit the folder with the release).
	// By default the base is the version last published into OUT.
	DeltaFrom string
	// Deltas is how many previous versions get deltas to this one; 0 none
	// (with Format "seed": no .deltas/ unless DeltaFrom is set).
	Deltas int
	// Delta is the delta engine; nil means V2.
	Delta *DeltaEngine
	// MaxDeltaInput skips deltas for files larger than this; default 64 MiB.
	MaxDeltaInput int64
	Rollout       *repo.Rollout
	// ManifestDeltas is how many previous versions get a manifest delta to
	// this one (manifest-deltas/); 0 means DefaultManifestDeltas, < 0 none.
	ManifestDeltas int
	// HeadOnly stops writing latest.json in the format before heads (the
	// whole signed file list), which agents older than the head format
	// read; an existing latest.json is removed so that such agents fail
	// loudly instead of staying on an old version.
	HeadOnly bool
	Now      func() time.Time
	Logger   *slog.Logger

	skip      string // another folder to leave out of a plain-folder --src
	maxBundle int64  // tests: the device's bundle size limit (default repo.DefaultMaxMetadataSize)
}

// Result describes what Run published.
type Result struct {
	Version    int64
	Ref        string
	Commit     string
	Files      int
	NewObjects int
	Deltas     int
	Metadata   string // path of metadata/<version>.json (or manifest.json, ota-manifest.json)
	Assets     int    `json:",omitempty"` // --format github-release: files to upload
	Deletes    int    `json:",omitempty"` // --format seed: paths in "deletes"
}

// Run publishes one version.
func Run(ctx context.Context, o Options) (*Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Src == "" || o.Out == "" {
		return nil, errors.New("publish: --src and --out are required")
	}
	if o.Format == "seed" {
		return runSeed(ctx, log, o)
	}
	if o.Format != "" && o.Format != FormatGitHubRelease {
		return nil, fmt.Errorf("publish: unknown --format %q (want seed, %s, or none for a signed repository)", o.Format, FormatGitHubRelease)
	}
	if o.Keys == "" {
		return nil, errors.New("publish: --keys is required (create keys with \"ota keygen DIR\")")
	}
	if o.Format == FormatGitHubRelease {
		return runGitHubRelease(ctx, log, o)
	}
	if o.Expires <= 0 {
		o.Expires = 30 * 24 * time.Hour
	}
	if o.MaxDeltaInput <= 0 {
		o.MaxDeltaInput = 64 << 20
	}
	eng := o.Delta
	if eng == nil {
		eng = &V2
	}
	now := nowFunc(o.Now)().UTC().Truncate(time.Second)

	ks, err := loadKeys(o.Keys)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"objects", "metadata", "deltas"} {
		if err := os.MkdirAll(filepath.Join(o.Out, d), 0o755); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	unlock, err := lock(o.Out)
	if err != nil {
		return nil, err
	}
	defer unlock()

	prev, err := lastVersion(o.Out)
	if err != nil {
		return nil, err
	}
	st := &store{root: o.Out}
	var t *tree
	switch isGit := isGit(o.Src); {
	case isGit && o.Ref != "":
		t, err = gitTree(ctx, log, st, o.Src, o.Ref)
	case isGit:
		return nil, fmt.Errorf("publish: %s is a git repository: pass --ref (a tag, branch or HEAD)", o.Src)
	default: // a plain folder; Ref is only a label
		t, err = dirTree(ctx, log, st, o.Src, o.Ref, o.Out, o.Keys, o.skip)
	}
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}

	// A signed manifest committed into the tree cannot be listed in itself.
	files := t.files[:0]
	for _, f := range t.files {
		if f.Path != RepoManifestPath {
			files = append(files, f)
		}
	}
	t.files = files
	rel := &repo.Release{
		Kind: repo.KindRelease, Version: prev + 1, Ref: t.ref, Commit: t.commit,
		Created: now, Expires: now.Add(o.Expires), Files: t.files, Rollout: o.Rollout,
	}
	if rel.Ref == "" {
		rel.Ref = "v" + strconv.FormatInt(rel.Version, 10)
	}
	if err := repo.CheckRelease(rel, repo.Limits{}); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	nd, err := makeDeltas(log, st, eng, rel, prev, o)
	if err != nil {
		return nil, fmt.Errorf("publish: deltas: %w", err)
	}

	env, err := repo.SignJSON(repo.TypeRelease, rel, ks.signers...)
	if err != nil {
		return nil, err
	}
	data, err := (&repo.Bundle{Root: ks.root, Release: env}).Marshal()
	if err != nil {
		return nil, err
	}
	if len(ks.rootPub) > 0 { // self-check: a device with root.pub must accept it
		v := repo.Verifier{TrustedKeys: ks.rootPub, Now: func() time.Time { return now }}
		v.Limits.MaxMetadataSize = o.maxBundle
		if o.HeadOnly {
			// Without latest.json no device reads this bundle (they read
			// head.json and the binary manifest, checked below), so the
			// device's bundle size limit does not apply: a 100,000-file
			// release is a 29 MB bundle.
			v.Limits.MaxMetadataSize = int64(len(data))
		}
		if _, err := v.Verify(data, repo.Seen{}); err != nil {
			if errors.Is(err, repo.ErrTooLarge) {
				return nil, fmt.Errorf("publish: the full signed file list (%s, read by agents before the head format) is too large for a device: %w; publish with --legacy-latest=false once every device reads head.json", repo.LatestPath, err)
			}
			return nil, fmt.Errorf("publish: signed metadata does not verify with %s: %w", RootPubFile, err)
		}
	}
	head, err := writeManifest(log, st, rel, prev, o, ks)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	mp := repo.MetadataPath(rel.Version)
	if err := writeNew(o.Out, mp, data); err != nil {
		return nil, fmt.Errorf("publish: %s: %w", mp, err)
	}
	if o.HeadOnly {
		if err := os.Remove(filepath.Join(o.Out, repo.LatestPath)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("publish: %w", err)
		}
	} else if err := replaceBumped(o.Out, repo.LatestPath, data); err != nil {
		return nil, fmt.Errorf("publish: %s: %w", repo.LatestPath, err)
	}
	if err := replaceBumped(o.Out, repo.HeadPath, head); err != nil {
		return nil, fmt.Errorf("publish: %s: %w", repo.HeadPath, err)
	}
	log.Info("published", "version", rel.Version, "ref", rel.Ref, "commit", rel.Commit,
		"files", len(rel.Files), "new_objects", st.created, "deltas", nd)
	return &Result{Version: rel.Version, Ref: rel.Ref, Commit: rel.Commit, Files: len(rel.Files),
		NewObjects: st.created, Deltas: nd, Metadata: filepath.Join(o.Out, filepath.FromSlash(mp))}, nil
}

func isGit(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".git"))
	if err == nil {
		return true
	}
	_, err = os.Stat(filepath.Join(dir, "HEAD")) // bare repository
	_, err2 := os.Stat(filepath.Join(dir, "objects"))
	return err == nil && err2 == nil
}

// lock makes concurrent publishers into one repository fail fast.
func lock(dir string) (func(), error) {
	p := filepath.Join(dir, ".publish.lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("publish: %s exists: another publish is running (remove it if it crashed)", p)
		}
		return nil, fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return func() { os.Remove(p) }, nil
}

// lastVersion is the highest N of metadata/N.json (0 for a new repository).
func lastVersion(root string) (int64, error) {
	ents, err := os.ReadDir(filepath.Join(root, "metadata"))
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	var last int64
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err == nil && v > last {
			last = v
		}
	}
	return last, nil
}

// makeDeltas adds deltas from the files of the previous o.Deltas versions
// (same path, different content) to rel, writing each patch once.
func makeDeltas(log *slog.Logger, st *store, eng *DeltaEngine, rel *repo.Release, prev int64, o Options) (int, error) {
	done := map[[2]string]bool{}
	for v := prev; v > 0 && v > prev-int64(o.Deltas); v-- {
		b, err := st.read(repo.MetadataPath(v))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		old, err := repo.UnverifiedRelease(b)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", repo.MetadataPath(v), err)
		}
		byPath := map[string]repo.File{}
		for _, f := range old.Files {
			byPath[f.Path] = f
		}
		for _, nf := range rel.Files {
			of, ok := byPath[nf.Path]
			if !ok || nf.Mode == repo.ModeSymlink || of.Mode == repo.ModeSymlink || of.SHA256 == nf.SHA256 ||
				nf.Size > o.MaxDeltaInput || of.Size > o.MaxDeltaInput || nf.Size < 64 {
				continue
			}
			key := [2]string{of.SHA256, nf.SHA256}
			if done[key] {
				continue
			}
			done[key] = true
			d, err := oneDelta(st, eng, of, nf)
			if err != nil {
				return 0, fmt.Errorf("%s (version %d → %d): %w", nf.Path, v, rel.Version, err)
			}
			if d == nil {
				log.Debug("delta not smaller than the file; skipped", "path", nf.Path)
				continue
			}
			rel.Deltas = append(rel.Deltas, *d)
		}
	}
	return len(rel.Deltas), nil
}

func oneDelta(st *store, eng *DeltaEngine, of, nf repo.File) (*repo.Delta, error) {
	name := repo.DeltaPath(of.SHA256, nf.SHA256, eng.Format)
	patch, err := st.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		oldB, err := st.read(repo.ObjectPath(of.SHA256))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // seeded from a previous manifest without its objects
		}
		if err != nil {
			return nil, err
		}
		newB, err := st.read(repo.ObjectPath(nf.SHA256))
		if err != nil {
			return nil, err
		}
		if patch, err = eng.Make(oldB, newB); err != nil {
			return nil, err
		}
		if int64(len(patch)) >= nf.Size {
			return nil, nil
		}
		if eng.Apply != nil {
			got, err := eng.Apply(oldB, patch)
			if err != nil || sha256.Sum256(got) != sha256.Sum256(newB) {
				return nil, fmt.Errorf("delta engine %s: patch does not reproduce the file (%v)", eng.Format, err)
			}
		}
		if err := st.putFile(name, patch); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(patch)
	return &repo.Delta{FromSHA256: of.SHA256, FromSHA1: of.SHA1, ToSHA256: nf.SHA256, ToSHA1: nf.SHA1,
		Format: eng.Format, Object: name, Size: int64(len(patch)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// replaceBumped replaces latest.json or head.json. Static servers such as
// nginx derive ETags from mtime (seconds) and size, so two publications
// within one second could share an ETag and clients would keep getting 304
// for the old version: the new file's mtime is pushed past the old one's.
func replaceBumped(root, rel string, data []byte) error {
	var mtime time.Time
	if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
		mtime = fi.ModTime().Truncate(time.Second).Add(time.Second)
	}
	return replaceWith(root, rel, data, mtime)
}
