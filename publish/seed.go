package publish

import (
	"context"
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

// runSeed writes OUT/manifest.json in the original format. Unlike
// manifest_gen.py it lists every file (no hard-coded ota.py/main.py
// whitelist); symlinks are skipped because the original cannot install them,
// and so are paths with a hidden component, which make the original abort.
// With DeltaFrom it also writes .deltas/ in the original's v1 format.
func runSeed(ctx context.Context, log *slog.Logger, o Options) (*Result, error) {
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
	res := &Result{Ref: version, Commit: t.commit, Files: len(m.Files), Metadata: filepath.Join(o.Out, "manifest.json")}
	if o.DeltaFrom != "" {
		if !isGit(o.Src) || o.Ref == "" {
			return nil, fmt.Errorf("publish: --delta-from needs a git --src and --ref")
		}
		d, err := BuildDeltaDir(ctx, DeltaDirOptions{Repo: o.Src, From: o.DeltaFrom, To: o.Ref,
			Out: filepath.Join(o.Out, ".deltas"), Format: "v1", Naming: NamingSeed, MinSize: 1024, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("publish: seed deltas: %w", err)
		}
		res.Deltas = d.Deltas
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
