// Tests of the original system's defects (reference/seed-system.md §9) that are
// not covered elsewhere: a failed rollback keeps its backups (§9.2), and
// delete_patterns deletes only unmanaged files under its prefixes (§9.4).

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/apply"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/fsx/faultfs"
	"github.com/otafleet/ota/internal/testutil/memsource"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// Seed defect §9.2: a failed rollback deleted the only copy of the original.
// Here the filesystem fails in the middle of the activation and keeps failing
// through the rollback: the journal and the backups must survive, and the
// next run must restore the old version exactly.
func TestFailedRollbackKeepsBackups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := memsource.New()
	src.Publish("v1", treeV1)
	if _, err := newTestEngine(t, dir, src, nil).Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	src.Publish("v2", treeV2)
	// Find a failure point after the backups were made and some files moved.
	probe := faultfs.New(fsx.OS{}, -1)
	probeDir := t.TempDir()
	psrc := memsource.New()
	psrc.Publish("v1", treeV1)
	newTestEngine(t, probeDir, psrc, nil).Update(ctx, true)
	psrc.Publish("v2", treeV2)
	newTestEngine(t, probeDir, psrc, probe).Update(ctx, true)
	limit := -1
	for i, op := range probe.Log {
		f := strings.Fields(op)
		if len(f) == 3 && f[0] == "rename" && strings.Contains(f[1], "/.ota_stage/") && !strings.Contains(f[2], "/.ota_stage/") {
			limit = i + 3 // a few installs in
			break
		}
	}
	if limit < 0 {
		t.Fatal("no install rename found")
	}
	_, err := newTestEngine(t, dir, src, faultfs.New(fsx.OS{}, limit)).Update(ctx, true)
	if !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("update: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".ota", apply.JournalFile)); err != nil {
		t.Fatal("journal removed after a failed rollback")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, ".ota_backup"))
	if len(ents) == 0 {
		t.Fatal("backups removed after a failed rollback")
	}
	if _, _, err := newTestEngine(t, dir, src, nil).Recover(ctx, true); err != nil {
		t.Fatal(err)
	}
	if d := treesnap.Diff(treesnap.FromTree(treeV1), mustSnap(t, dir)); d != nil {
		t.Fatalf("not restored: %v", d)
	}
}

// Seed defect §9.4: delete_patterns deleted freshly installed files (or did
// nothing). It must delete only unmanaged files under the prefixes, keep
// everything the target tree has, and touch nothing elsewhere.
func TestDeletePatterns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "lib", "stale"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "stale", "x.pyc"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, "lib", "leftover.py"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, "data.db"), []byte("keep"), 0o644)
	src := memsource.New()
	src.Publish("v1", treeV1)
	u := newTestEngine(t, dir, src, nil)
	u.cfg.DeletePatterns = []string{"lib/"}
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	want := treesnap.Merge(treesnap.FromTree(treeV1), treesnap.Snap{"data.db": "file:0:keep"})
	got := mustSnap(t, dir)
	delete(got, "lib/stale") // an emptied folder that ota never managed stays
	if d := treesnap.Diff(want, got); d != nil {
		t.Fatalf("delete_patterns: %v", d)
	}
	// Without delete_patterns unmanaged files stay.
	os.WriteFile(filepath.Join(dir, "lib", "mine.py"), []byte("mine"), 0o644)
	src.Publish("v2", treeV2)
	u.cfg.DeletePatterns = nil
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib", "mine.py")); err != nil || string(b) != "mine" {
		t.Fatal("an unmanaged file was touched")
	}
}
