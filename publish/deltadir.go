package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/gitobj"
)

// Delta file namings inside a .deltas/ folder.
const (
	// NamingSHA names a delta by the git blob SHA-1s it converts:
	// .deltas/<from-sha1>-<to-sha1>.delta. The ota agent's GitHub source
	// looks a delta up by the blob it has installed, so a device on any older
	// version finds the delta that fits it, or none.
	NamingSHA = "sha"
	// NamingSeed is the original updater's naming: the path with "/" turned
	// into "_", plus ".delta". It carries no base version: it fits devices
	// on exactly the --from ref.
	NamingSeed = "seed"
)

// DeltaDirOptions configure BuildDeltaDir.
type DeltaDirOptions struct {
	Repo     string // git repository
	From, To string // refs
	Out      string // folder to write (for example <repo>/.deltas)
	Format   string // "v2" (default) or "v1"
	Naming   string // NamingSHA (default) or NamingSeed
	MinSize  int64  // skip files smaller than this (default 256 bytes)
	Logger   *slog.Logger
}

// DeltaDirResult summarises a build.
type DeltaDirResult struct {
	Deltas, Skipped      int
	NewBytes, DeltaBytes int64
	Removed              int // stale deltas removed
	Names                []string
}

type lsEntry struct{ mode, sha string }

func lsTree(ctx context.Context, repo, ref string) (map[string]lsEntry, error) {
	out, err := git(ctx, repo, "ls-tree", "-r", "-z", "--full-tree", ref)
	if err != nil {
		return nil, err
	}
	m := map[string]lsEntry{}
	for _, rec := range strings.Split(string(out), "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) == 3 && f[1] == "blob" {
			m[p] = lsEntry{mode: f[0], sha: f[2]}
		}
	}
	return m, nil
}

// BuildDeltaDir writes deltas for every regular file that changed between
// two git refs. A delta is kept only when it saves at least 30 % (as the
// original's delta_gen.py did). Every delta is applied once and checked
// against the new blob before it is written.
func BuildDeltaDir(ctx context.Context, o DeltaDirOptions) (*DeltaDirResult, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinSize == 0 {
		o.MinSize = 256
	}
	eng := V2
	switch o.Format {
	case "", "v2":
	case "v1":
		eng = V1
	default:
		return nil, fmt.Errorf("delta format %q: want v1 or v2", o.Format)
	}
	if o.Naming == "" {
		o.Naming = NamingSHA
	}
	if o.Naming != NamingSHA && o.Naming != NamingSeed {
		return nil, fmt.Errorf("naming %q: want %s or %s", o.Naming, NamingSHA, NamingSeed)
	}
	from, err := lsTree(ctx, o.Repo, o.From)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", o.From, err)
	}
	to, err := lsTree(ctx, o.Repo, o.To)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", o.To, err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	res := &DeltaDirResult{}
	paths := make([]string, 0, len(to))
	for p := range to {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	seen := map[string]string{}
	for _, p := range paths {
		nf, of := to[p], from[p]
		if strings.HasPrefix(p, ".deltas/") || of.sha == "" || of.sha == nf.sha ||
			nf.mode == "120000" || of.mode == "120000" || nf.mode == "160000" || of.mode == "160000" {
			continue
		}
		oldB, err := git(ctx, o.Repo, "cat-file", "blob", of.sha)
		if err != nil {
			return nil, err
		}
		newB, err := git(ctx, o.Repo, "cat-file", "blob", nf.sha)
		if err != nil {
			return nil, err
		}
		if int64(len(newB)) < o.MinSize {
			res.Skipped++
			continue
		}
		patch, err := eng.Make(oldB, newB)
		if err != nil {
			return nil, fmt.Errorf("delta for %s: %w", p, err)
		}
		if !delta.Worthwhile(int64(len(patch)), int64(len(newB))) {
			res.Skipped++
			continue
		}
		if out, err := eng.Apply(oldB, patch); err != nil || gitobj.BlobSHA1Bytes(out) != nf.sha {
			return nil, fmt.Errorf("delta for %s does not reproduce the new file (%v): not written", p, err)
		}
		name := of.sha + "-" + nf.sha + ".delta"
		if o.Naming == NamingSeed {
			name = strings.ReplaceAll(p, "/", "_") + ".delta"
			if other, dup := seen[name]; dup {
				o.Logger.Warn("seed delta names collide; skipping", "path", p, "other", other, "name", name)
				res.Skipped++
				continue
			}
			seen[name] = p
		}
		if err := replace(o.Out, name, patch); err != nil {
			return nil, err
		}
		res.Deltas++
		res.Names = append(res.Names, name)
		res.NewBytes += int64(len(newB))
		res.DeltaBytes += int64(len(patch))
	}
	if o.Naming == NamingSHA {
		// Drop deltas to blobs the new tree no longer has.
		keep := map[string]bool{}
		for _, e := range to {
			keep[e.sha] = true
		}
		ents, _ := os.ReadDir(o.Out)
		for _, e := range ents {
			n := strings.TrimSuffix(e.Name(), ".delta")
			if _, toSHA, ok := strings.Cut(n, "-"); ok && strings.HasSuffix(e.Name(), ".delta") && !keep[toSHA] {
				if os.Remove(filepath.Join(o.Out, e.Name())) == nil {
					res.Removed++
				}
			}
		}
	} else {
		// A seed-named delta fits only devices on From: drop those of
		// earlier publications, which would cost such a device a download
		// and a failed hash check per file.
		written := map[string]bool{}
		for _, n := range res.Names {
			written[n] = true
		}
		ents, _ := os.ReadDir(o.Out)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".delta") && !written[e.Name()] {
				if os.Remove(filepath.Join(o.Out, e.Name())) == nil {
					res.Removed++
				}
			}
		}
		// The original's summary file (its client never read it).
		saved := res.NewBytes - res.DeltaBytes
		pct := 0.0
		if res.NewBytes > 0 {
			pct = float64(saved) * 100 / float64(res.NewBytes)
		}
		b, _ := json.MarshalIndent(map[string]any{"old_ref": o.From, "new_ref": o.To, "deltas": res.Deltas,
			"total_new_size": res.NewBytes, "total_delta_size": res.DeltaBytes, "savings_bytes": saved,
			"savings_percent": pct}, "", "  ")
		if err := replace(o.Out, "delta_manifest.json", b); err != nil {
			return nil, err
		}
	}
	return res, nil
}
