package crashfs

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

var appTree = map[string]Node{
	"app":     {Kind: KindDir, Mode: 0o755},
	"app/cfg": {Kind: KindFile, Mode: 0o644, Data: "old"},
}

func seedApp(f *FS) {
	if err := f.WriteTree("/", appTree); err != nil {
		panic(err)
	}
}

// checkOldOrNew asserts the atomic-replace invariant: cfg is entirely old or
// entirely new, and entirely new once the writer returned (crashedAt == n).
func checkOldOrNew(n int) func(t testing.TB, after *FS, crashedAt int, model string) {
	return func(t testing.TB, after *FS, crashedAt int, model string) {
		got, err := fsx.ReadFile(after, "/app/cfg")
		if err != nil {
			t.Fatalf("read cfg: %v", err)
		}
		switch {
		case crashedAt == n && string(got) != "new":
			t.Errorf("completed but cfg = %q, want new", got)
		case string(got) != "old" && string(got) != "new":
			t.Errorf("cfg = %q, want old or new", got)
		}
		snap := MustSnapshot(t, after, "/app")
		delete(snap, "cfg")
		delete(snap, "cfg.tmp") // a leftover temp file is allowed; recovery removes it
		if len(snap) != 0 {
			t.Errorf("unexpected entries: %v", snap)
		}
	}
}

func TestEnumerateWriteFileAtomic(t *testing.T) {
	run := func(f fsx.FS) error { return fsx.WriteFileAtomic(f, "/app/cfg", []byte("new"), 0o644) }
	const n = 5 // create, write, fsync, rename, fsyncdir
	res := Enumerate(t, seedApp, run, checkOldOrNew(n))
	want := Result{Ops: n, Tried: map[string]int{}}
	for _, m := range Models() {
		want.Tried[m] = n + 1
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v, want %+v", res, want)
	}
}

func TestEnumerateWriteFileAtomicNewFile(t *testing.T) {
	setup := func(f *FS) {
		if err := f.WriteTree("/", map[string]Node{"app": {Kind: KindDir, Mode: 0o755}}); err != nil {
			panic(err)
		}
	}
	run := func(f fsx.FS) error { return fsx.WriteFileAtomic(f, "/app/cfg", []byte("new"), 0o600) }
	Enumerate(t, setup, run, func(t testing.TB, after *FS, crashedAt int, model string) {
		fi, err := after.Stat("/app/cfg")
		if errors.Is(err, fs.ErrNotExist) && crashedAt < 5 {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := fsx.ReadFile(after, "/app/cfg"); string(got) != "new" || fi.Mode().Perm() != 0o600 {
			t.Errorf("cfg = %q %v, want new 0600", got, fi.Mode())
		}
	})
}

// recordingTB counts failures instead of failing, to show that a check
// catches a bug.
type recordingTB struct {
	testing.TB
	fails []string
}

func (r *recordingTB) Helper()                   {}
func (r *recordingTB) Logf(string, ...any)       {}
func (r *recordingTB) Errorf(f string, a ...any) { r.fails = append(r.fails, f) }
func (r *recordingTB) Fatalf(f string, a ...any) { r.fails = append(r.fails, f) }

func TestEnumerateCatchesBugs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		run     func(fsx.FS) error
		failing map[string]bool // models expected to find a violation
	}{
		{"no fsync at all", func(f fsx.FS) error { return unsafeReplace(f, "/app/cfg", "new") },
			map[string]bool{ModelPowerCut: true, ModelPowerCutCommit: true, ModelPowerCutStrict: true}},
		// Only the "completed means durable" rule catches it; a background
		// journal commit rescues it.
		{"no dir fsync", func(f fsx.FS) error { return safeReplaceNoDirSync(f, "/app/cfg", "new") },
			map[string]bool{ModelPowerCut: true, ModelPowerCutStrict: true}},
		{"in place rewrite", func(f fsx.FS) error { return writeFile(f, "/app/cfg", "new", true) },
			map[string]bool{ModelCrash: true, ModelPowerCutCommit: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := count(t, seedApp, tc.run)
			for _, model := range Models() {
				bad := 0
				for i := 0; i <= n; i++ {
					rec := &recordingTB{TB: t}
					checkOldOrNew(n)(rec, crashed(t, seedApp, tc.run, i, n).After(model), i, model)
					if len(rec.fails) > 0 {
						bad++
					}
				}
				if got := bad > 0; got != tc.failing[model] {
					t.Errorf("model %s: %d failing crash points of %d; want failure=%v", model, bad, n+1, tc.failing[model])
				}
			}
		})
	}
}

// recoverApp is what an agent does at start: drop a leftover temp file.
func recoverApp(f fsx.FS) error {
	err := f.Remove("/app/cfg.tmp")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.SyncDir("/app")
}

func TestEnumerateNested(t *testing.T) {
	run := func(f fsx.FS) error { return fsx.WriteFileAtomic(f, "/app/cfg", []byte("new"), 0o644) }
	check := func(t testing.TB, after *FS, crashedAt, recAt int, model string) {
		if err := recoverApp(after); err != nil {
			t.Fatalf("second recovery: %v", err)
		}
		snap := MustSnapshot(t, after, "/app")
		if len(snap) != 1 || (snap["cfg"].Data != "old" && snap["cfg"].Data != "new") {
			t.Errorf("after recovery: %v", snap)
		}
	}
	res := EnumerateNested(t, seedApp, run, recoverApp, check, 0)
	if res.Ops != 5 {
		t.Errorf("ops = %d", res.Ops)
	}
	for _, m := range Models() {
		// 6 first-level points; recovery has 0 ops (1 point) or 2 ops (3 points).
		if res.Tried[m] < 6 {
			t.Errorf("model %s tried %d", m, res.Tried[m])
		}
	}
	capped := EnumerateNested(t, seedApp, run, recoverApp, check, 6)
	for _, m := range Models() {
		if capped.Tried[m] > res.Tried[m] || capped.Tried[m] < 6 {
			t.Errorf("capped: model %s tried %d (uncapped %d)", m, capped.Tried[m], res.Tried[m])
		}
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		r, limit int
		want     string
	}{
		{3, 0, "[0 1 2 3]"}, {3, 10, "[0 1 2 3]"}, {10, 2, "[0 10]"}, {10, 3, "[0 5 10]"}, {0, 2, "[0]"},
	} {
		if got := fmt.Sprint(spread(tc.r, tc.limit)); got != tc.want {
			t.Errorf("spread(%d,%d) = %s, want %s", tc.r, tc.limit, got, tc.want)
		}
	}
}

// A recovery that deletes its redo record before redoing the work is fine
// when it runs to completion but loses data if it crashes itself; only the
// nested enumeration sees that.
func TestEnumerateNestedCatchesNonIdempotentRecovery(t *testing.T) {
	run := func(f fsx.FS) error { return fsx.WriteFileAtomic(f, "/app/cfg.new", []byte("new"), 0o644) }
	recovery := func(buggy bool) func(f fsx.FS) error {
		return func(f fsx.FS) error {
			if err := f.Remove("/app/cfg.new.tmp"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			data, err := fsx.ReadFile(f, "/app/cfg.new")
			if errors.Is(err, fs.ErrNotExist) {
				return f.SyncDir("/app")
			}
			if err != nil {
				return err
			}
			if buggy {
				if err := f.Remove("/app/cfg.new"); err != nil {
					return err
				}
				if err := f.SyncDir("/app"); err != nil {
					return err
				}
				return writeFile(f, "/app/cfg", string(data), true)
			}
			if err := fsx.WriteFileAtomic(f, "/app/cfg", data, 0o644); err != nil {
				return err
			}
			if err := f.Remove("/app/cfg.new"); err != nil {
				return err
			}
			return f.SyncDir("/app")
		}
	}
	for _, buggy := range []bool{false, true} {
		rec := recovery(buggy)
		firstLevelFails, nestedFails := 0, 0
		Enumerate(&recordingTB{TB: t}, seedApp, run, func(_ testing.TB, after *FS, _ int, _ string) {
			if err := rec(after); err != nil {
				t.Fatal(err)
			}
			if got, _ := fsx.ReadFile(after, "/app/cfg"); string(got) != "old" && string(got) != "new" {
				firstLevelFails++
			}
		})
		EnumerateNested(&recordingTB{TB: t}, seedApp, run, rec, func(_ testing.TB, after *FS, _, _ int, _ string) {
			if err := rec(after); err != nil {
				t.Fatal(err)
			}
			if got, _ := fsx.ReadFile(after, "/app/cfg"); string(got) != "old" && string(got) != "new" {
				nestedFails++
			}
		}, 0)
		t.Logf("buggy=%v: nested failures %d", buggy, nestedFails)
		if firstLevelFails != 0 {
			t.Errorf("buggy=%v: first-level enumeration failed %d times", buggy, firstLevelFails)
		}
		if (nestedFails > 0) != buggy {
			t.Errorf("buggy=%v: nested enumeration failed %d times", buggy, nestedFails)
		}
	}
}
