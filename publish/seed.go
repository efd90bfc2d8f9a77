package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otafleet/ota/repo"
	"github.com/otafleet/ota/repo/seedmanifest"
)

// SeedExcludes are manifest_gen.py's default --exclude patterns, matched
// against the last path component (pathlib's relative Path.match).
var SeedExcludes = []string{".git*", ".ota_*", "__pycache__", "*.pyc", "*.pyo"}

// SeedStateFile, inside --out, remembers the version last published there
// in the seed format, so the next one can list "deletes" and build deltas
// from it.
const SeedStateFile = ".ota-seed.json"

// seedState is SeedStateFile.
type seedState struct {
	Version string   `json:"version"`
	Commit  string   `json:"commit,omitempty"`
	Files   []string `json:"files"`
	// Base and Deletes are what this version was published against, kept
	// so that publishing the same commit again keeps them.
	Base    string   `json:"base,omitempty"`
	Deletes []string `json:"deletes,omitempty"`
}

// readSeedState returns what was last published into out: SeedStateFile, or
// else the file list and version of an existing manifest.json (published by
// manifest_gen.py or an earlier ota). nil when out holds no version.
func readSeedState(out string) (*seedState, error) {
	b, err := os.ReadFile(filepath.Join(out, SeedStateFile))
	if err == nil {
		var st seedState
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %w (remove it to publish without deletes and deltas)", filepath.Join(out, SeedStateFile), err)
		}
		return &st, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b, err = os.ReadFile(filepath.Join(out, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := seedmanifest.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("previous %s: %w", filepath.Join(out, "manifest.json"), err)
	}
	st := &seedState{Version: m.Version}
	for _, f := range m.Files {
		st.Files = append(st.Files, f.Path)
	}
	return st, nil
}

// runSeed writes OUT/manifest.json in the original format. Unlike
// manifest_gen.py it lists every file (no hard-coded ota.py/main.py
// whitelist); symlinks are skipped because the original cannot install them,
// and so are paths with a hidden component, which make the original abort.
//
// When OUT already holds a version (SeedStateFile, or a manifest.json), the
// manifest's "deletes" lists the files that version had and this one has
// not, and with a git --src OUT/.deltas/ gets the original's v1 deltas from
// that version (its naming, 1 KiB minimum, only deltas saving 30 %), unless
// Deltas is 0. DeltaFrom names another base for the deltas.
func runSeed(ctx context.Context, log *slog.Logger, o Options) (*Result, error) {
	prev, err := readSeedState(o.Out)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	tmp, err := os.MkdirTemp("", "ota-seed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "objects"), 0o755); err != nil {
		return nil, err
	}
	st := &store{root: tmp}
	var t *tree
	if isGit(o.Src) && o.Ref != "" {
		t, err = gitTree(ctx, log, st, o.Src, o.Ref)
	} else {
		t, err = dirTree(ctx, log, st, o.Src, o.Ref, o.Out, o.Keys)
	}
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	files := t.files
	sort.Slice(files, func(i, j int) bool { // Python sorts Path objects by parts
		return lessParts(files[i].Path, files[j].Path)
	})
	version := o.Ref
	if version == "" {
		version = "dev"
	}
	m := &seedmanifest.Manifest{
		Version:     version,
		GeneratedAt: nowFunc(o.Now)().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for _, f := range files {
		if f.Mode == repo.ModeSymlink {
			log.Warn("seed format: skipping symlink", "path", f.Path)
			continue
		}
		if excluded(f.Path) || f.Path == "manifest.json" {
			continue
		}
		if hidden(f.Path) {
			// The original client aborts the whole update on a hidden
			// directory ("Security violation: hidden directory in path").
			log.Warn("seed format: skipping path with a hidden component", "path", f.Path)
			continue
		}
		b, err := st.read(repo.ObjectPath(f.SHA256))
		if err != nil {
			return nil, err
		}
		size, crc := f.Size, crc32.ChecksumIEEE(b)
		m.Files = append(m.Files, seedmanifest.File{Path: f.Path, Size: &size, SHA256: f.SHA256, CRC32: &crc})
	}
	next := &seedState{Version: version, Commit: t.commit}
	for _, f := range m.Files {
		next.Files = append(next.Files, f.Path)
	}
	base := ""
	if prev != nil && prev.Commit != "" && prev.Commit == t.commit {
		// The same commit again: keep what it was published against.
		next.Base, next.Deletes = prev.Base, prev.Deletes
		base = prev.Base
	} else if prev != nil {
		in := map[string]bool{}
		for _, p := range next.Files {
			in[p] = true
		}
		for _, p := range prev.Files {
			if !in[p] {
				next.Deletes = append(next.Deletes, p)
			}
		}
		sort.Slice(next.Deletes, func(i, j int) bool { return lessParts(next.Deletes[i], next.Deletes[j]) })
		base = prev.Commit
		if base == "" {
			base = prev.Version // a manifest.json alone names a ref
		}
		next.Base = base
	}
	m.Deletes = next.Deletes
	res := &Result{Ref: version, Commit: t.commit, Files: len(m.Files), Deletes: len(m.Deletes), Metadata: filepath.Join(o.Out, "manifest.json")}
	if o.SeedKey == "" {
		log.Warn("seed format: no --key/$MANIFEST_KEY: writing an UNSIGNED manifest")
	}
	data, err := seedmanifest.Marshal(m, o.SeedKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if err := replace(o.Out, "manifest.json", data); err != nil {
		return nil, fmt.Errorf("publish: manifest.json: %w", err)
	}
	from := o.DeltaFrom
	if from == "" && o.Deltas != 0 && base != "" && isGit(o.Src) && o.Ref != "" {
		if _, err := git(ctx, o.Src, "rev-parse", "--verify", "--quiet", base+"^{commit}"); err == nil {
			from = base
		} else {
			log.Warn("seed format: the previous version is not in --src; no deltas", "previous", base)
		}
	}
	if from != "" {
		if !isGit(o.Src) || o.Ref == "" {
			return nil, fmt.Errorf("publish: --delta-from needs a git --src and --ref")
		}
		d, err := BuildDeltaDir(ctx, DeltaDirOptions{Repo: o.Src, From: from, To: o.Ref,
			Out: filepath.Join(o.Out, ".deltas"), Format: "v1", Naming: NamingSeed, MinSize: 1024, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("publish: seed deltas: %w", err)
		}
		res.Deltas = d.Deltas
	}
	sb, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := replace(o.Out, SeedStateFile, sb); err != nil {
		return nil, fmt.Errorf("publish: %s: %w", SeedStateFile, err)
	}
	return res, nil
}

func excluded(p string) bool {
	parts := strings.Split(p, "/")
	for _, part := range parts {
		if part == ".git" {
			return true
		}
	}
	last := parts[len(parts)-1]
	for _, pat := range SeedExcludes {
		if ok, _ := path.Match(pat, last); ok {
			return true
		}
	}
	return false
}

func hidden(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

func lessParts(a, b string) bool {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}
