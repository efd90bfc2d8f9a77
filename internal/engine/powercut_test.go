package engine

import (
	"context"
	"fmt"
	"path"
	"testing"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/fsx/crashfs"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/testutil/memsource"
)

// These tests replay updates on crashfs, crash after every filesystem
// operation under every crash model (process kill; power cut that loses
// unsynced data, with and without a background journal commit; strict
// per-directory durability), then crash again at points inside recovery,
// and check that the folder is exactly the old or the new version, that
// version.json names it, and that a following update completes.

const crashRoot = "/dev-app"

func memEngine(t testing.TB, fsys fsx.FS, src *memsource.Source, layout string) *Engine {
	t.Helper()
	cfg := config.Default()
	cfg.Owner, cfg.Repo, cfg.TargetDir, cfg.Layout = "o", "r", crashRoot, layout
	cfg.Parallel = 1 // a deterministic order of operations for crash enumeration
	u, err := New(cfg, Options{Source: src, FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// nodes describes a memsource tree as crashfs nodes below root.
func nodes(tr memsource.Tree) map[string]crashfs.Node {
	out := map[string]crashfs.Node{}
	for p, f := range tr {
		switch f.Mode {
		case 0o120000:
			out[p] = crashfs.Node{Kind: crashfs.KindSymlink, Target: f.Data}
		case 0o100755:
			out[p] = crashfs.Node{Kind: crashfs.KindFile, Mode: 0o755, Data: f.Data}
		default:
			out[p] = crashfs.Node{Kind: crashfs.KindFile, Mode: 0o644, Data: f.Data}
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			out[d] = crashfs.Node{Kind: crashfs.KindDir, Mode: 0o755}
		}
	}
	return out
}

// appTree snapshots what the application sees, without ota's own files.
func appTree(t testing.TB, fsys fsx.FS, root string) map[string]crashfs.Node {
	snap := crashfs.MustSnapshot(t, fsys, root)
	for p := range snap {
		top := p
		if i := indexSlash(p); i >= 0 {
			top = p[:i]
		}
		for _, a := range agentFiles {
			if top == a || top == a+".tmp" {
				delete(snap, p)
			}
		}
	}
	for p, n := range snap { // hard-link grouping is not part of the app's view
		n.LinkOf = ""
		snap[p] = n
	}
	return snap
}

func indexSlash(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

type crashScenario struct {
	name     string
	layout   string
	from, to memsource.Tree // from == nil: fresh install
	rollback bool           // run is a rollback from "to" back to "from"
	// oldMarker: before the run, version.json is a regular file and the
	// release folders hold none (releases layout made by earlier versions).
	oldMarker bool
}

func TestPowerCutCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("crash enumeration is long; run without -short")
	}
	scenarios := []crashScenario{
		{name: "update", layout: "inplace", from: treeV1, to: treeV2},
		{name: "fresh-install", layout: "inplace", to: treeV1},
		{name: "rollback", layout: "inplace", from: treeV1, to: treeV2, rollback: true},
		{name: "releases-update", layout: "releases", from: treeV1, to: treeV2},
		{name: "releases-rollback", layout: "releases", from: treeV1, to: treeV2, rollback: true},
		// A folder whose version.json is still the regular file earlier ota
		// versions wrote beside current: the first update converts it.
		{name: "releases-update-old-marker", layout: "releases", from: treeV1, to: treeV2, oldMarker: true},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			src := memsource.New()
			var vFrom Version
			var hasFrom bool
			if sc.from != nil {
				vFrom, hasFrom = src.Publish("v1", sc.from), true
			}
			vTo := src.Publish("v2", sc.to)
			setup := func(f *crashfs.FS) {
				if err := f.Mkdir(crashRoot, 0o755); err != nil {
					t.Fatal(err)
				}
				u := memEngine(t, f, src, sc.layout)
				if hasFrom {
					src.SetCurrent(vFrom)
					if _, err := u.Update(ctx, true); err != nil {
						t.Fatal(err)
					}
				}
				if sc.rollback {
					src.SetCurrent(vTo)
					if _, err := u.Update(ctx, true); err != nil {
						t.Fatal(err)
					}
				}
				if sc.oldMarker {
					cur := u.layout.(*releasesLayout).l().Current()
					if err := f.Remove(path.Join(crashRoot, "releases", cur, "version.json")); err != nil {
						t.Fatal(err)
					}
					if err := f.Remove(path.Join(crashRoot, "version.json")); err != nil {
						t.Fatal(err)
					}
					if err := state.WriteVersion(f, crashRoot, vFrom); err != nil {
						t.Fatal(err)
					}
				}
				src.SetCurrent(vTo)
				f.Checkpoint()
			}
			run := func(f fsx.FS) error {
				u := memEngine(t, f, src, sc.layout)
				var err error
				if sc.rollback {
					_, err = u.Rollback(ctx)
				} else {
					_, err = u.Update(ctx, true)
				}
				return err
			}
			recovery := func(f fsx.FS) error {
				_, _, err := memEngine(t, f, src, sc.layout).Recover(ctx, true)
				return err
			}
			// old and new from the point of view of the operation
			oldTree, newTree, oldV, newV := sc.from, sc.to, vFrom, vTo
			if sc.rollback {
				oldTree, newTree, oldV, newV = sc.to, sc.from, vTo, vFrom
			}
			check := func(t testing.TB, after *crashfs.FS, n, k int, model string) {
				u := memEngine(t, after, src, sc.layout)
				// Before any recovery, version.json names the files the
				// application sees, or status says recovery is pending.
				st, err := u.Status(ctx)
				if err != nil {
					t.Fatalf("status before recovery: %v", err)
				}
				if !st.Pending {
					root := crashRoot
					if sc.layout == "releases" {
						root = path.Join(crashRoot, "current")
					}
					v := state.ReadVersion(after, root)
					if sc.layout == "releases" {
						v = state.ReadVersion(after, crashRoot) // through the symlink, as the app reads it
					}
					var got map[string]crashfs.Node
					if fi, err := after.Stat(root); err == nil && fi.IsDir() {
						got = appTree(t, after, root)
						normaliseReleaseModes(sc.layout, got)
					}
					okOld := (oldTree == nil && len(got) == 0 && v == nil) ||
						(v != nil && *v == oldV && fmt.Sprint(got) == fmt.Sprint(nodes(oldTree)))
					okNew := v != nil && *v == newV && fmt.Sprint(got) == fmt.Sprint(nodes(newTree))
					if !okOld && !okNew {
						t.Fatalf("before recovery, status says nothing is pending but version.json %+v does not name the files (status %+v)\nold diff: %v\nnew diff: %v",
							v, st, crashfs.Diff(nodes(oldTree), got), crashfs.Diff(nodes(newTree), got))
					}
				}
				if _, _, err := u.Recover(ctx, true); err != nil {
					t.Fatalf("recover: %v", err)
				}
				root := crashRoot
				if sc.layout == "releases" {
					if cur := u.layout.(*releasesLayout).l().Current(); cur != "" {
						root = path.Join(crashRoot, "releases", cur)
					} else {
						root = ""
					}
				}
				var got map[string]crashfs.Node
				if root != "" {
					got = appTree(t, after, root)
				}
				normaliseReleaseModes(sc.layout, got)
				v := state.ReadVersion(after, crashRoot)
				isOld := (oldTree == nil && len(got) == 0 && v == nil) ||
					(oldTree != nil && v != nil && *v == oldV && fmt.Sprint(got) == fmt.Sprint(nodes(oldTree)))
				isNew := v != nil && *v == newV && fmt.Sprint(got) == fmt.Sprint(nodes(newTree))
				if !isOld && !isNew {
					t.Fatalf("neither old nor new: version %+v\nold diff: %v\nnew diff: %v", v,
						crashfs.Diff(nodes(oldTree), got), crashfs.Diff(nodes(newTree), got))
				}
				// A following update completes.
				src.SetCurrent(vTo)
				if _, err := u.Update(ctx, true); err != nil {
					t.Fatalf("following update: %v", err)
				}
				if v := state.ReadVersion(after, crashRoot); v == nil || *v != vTo {
					t.Fatalf("following update left version %+v", v)
				}
			}
			res := crashfs.EnumerateNested(t, setup, run, recovery, check, 600)
			t.Logf("MEASURE crash points %s: %d operations; tried %v", sc.name, res.Ops, res.Tried)
		})
	}
}

// normaliseReleaseModes adds the owner write bit to release files, which are
// read-only by design, so that they compare with the published tree.
func normaliseReleaseModes(layout string, got map[string]crashfs.Node) {
	if layout != "releases" {
		return
	}
	for p, n := range got {
		if n.Kind == crashfs.KindFile {
			n.Mode |= 0o200
			got[p] = n
		}
	}
}
