package crashfs

import (
	"fmt"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// Model names, as passed to check functions and used in Result.Tried.
const (
	ModelCrash          = "crash"           // AfterCrash: process kill
	ModelPowerCut       = "powercut"        // AfterPowerCut: ordered journal
	ModelPowerCutCommit = "powercut-commit" // AfterPowerCutCommitted
	ModelPowerCutStrict = "powercut-strict" // AfterPowerCutStrict
)

// Models lists the crash models Enumerate and EnumerateNested try, in order.
func Models() []string {
	return []string{ModelCrash, ModelPowerCut, ModelPowerCutCommit, ModelPowerCutStrict}
}

// After returns the after-reboot FS of f under the named model.
func (f *FS) After(model string) *FS {
	switch model {
	case ModelCrash:
		return f.AfterCrash()
	case ModelPowerCut:
		return f.AfterPowerCut()
	case ModelPowerCutCommit:
		return f.AfterPowerCutCommitted()
	case ModelPowerCutStrict:
		return f.AfterPowerCutStrict()
	}
	panic("crashfs: unknown model " + model)
}

// Result reports what an enumeration did.
type Result struct {
	Ops   int            // mutating operations of run without a crash
	Tried map[string]int // crash points checked, per model
}

// Enumerate checks run at every crash point under every model.
//
// It first runs setup on New(), checkpoints, and runs run without a crash to
// count its mutating operations N (run must then return nil). Then for every
// n in 0..N and every model it repeats setup and run with CrashAfter(n),
// builds the after-reboot FS and calls check on it in a subtest named
// "model/n". crashedAt == N means run completed and the crash came right
// after it returned: that point catches results that were never made
// durable. run's own error is ignored at crash points; it is expected to be
// (wrapping) ErrCrashed.
func Enumerate(t testing.TB, setup func(fs *FS), run func(fs fsx.FS) error,
	check func(t testing.TB, after *FS, crashedAt int, model string)) Result {
	t.Helper()
	n := count(t, setup, run)
	res := Result{Ops: n, Tried: map[string]int{}}
	for _, model := range Models() {
		for _, i := range points(n) {
			f := crashed(t, setup, run, i, n)
			after := f.After(model)
			subtest(t, fmt.Sprintf("%s/%d", model, i), func(t testing.TB) { check(t, after, i, model) })
			res.Tried[model]++
		}
		t.Logf("crash points: model=%s tried=%d", model, res.Tried[model])
	}
	return res
}

// EnumerateNested checks crashes during recovery. For every model and every
// first-level crash point n of run (as in Enumerate), it takes the
// after-reboot FS, counts the mutating operations R of recovery on it without
// a crash (recovery must then succeed), and for inner points k in 0..R runs
// recovery with CrashAfter(k) on a clone, applies the same model again and
// calls check(t, after, n, k, model). A check usually runs recovery again to
// completion and then verifies the tree.
//
// maxNested caps the number of inner runs per model (<= 0: no cap). The
// budget is split evenly over the first-level points, at least 2 each (k = 0
// and k = R); inside a point, inner crash points are spread evenly over
// 0..R, so a cap samples instead of truncating.
func EnumerateNested(t testing.TB, setup func(fs *FS), run func(fs fsx.FS) error,
	recovery func(fs fsx.FS) error,
	check func(t testing.TB, after *FS, crashedAt, recoverCrashedAt int, model string),
	maxNested int) Result {
	t.Helper()
	n := count(t, setup, run)
	res := Result{Ops: n, Tried: map[string]int{}}
	perPoint := 0
	if maxNested > 0 {
		perPoint = max(2, maxNested/(n+1))
	}
	for _, model := range Models() {
		for _, i := range points(n) {
			after := crashed(t, setup, run, i, n).After(model)
			probe := after.Clone()
			if err := recovery(probe); err != nil {
				t.Errorf("%s/%d: recover without crash: %v", model, i, err)
				continue
			}
			r := probe.Count()
			for _, k := range spread(r, perPoint) {
				c := after.Clone()
				c.CrashAfter(k)
				recovery(c) // fails with ErrCrashed unless k == r
				after2 := c.After(model)
				subtest(t, fmt.Sprintf("%s/%d/%d", model, i, k), func(t testing.TB) { check(t, after2, i, k, model) })
				res.Tried[model]++
			}
		}
		t.Logf("crash points: model=%s tried=%d (nested)", model, res.Tried[model])
	}
	return res
}

// ShortStride is how sparsely `go test -short` samples the first-level
// crash points of a run longer than 40 operations: every ShortStride-th one,
// plus the last, so a developer's loop stays fast; the full run (CI) tries
// them all.
const ShortStride = 5

// points are the first-level crash points to try: all of 0..n, or with
// -short every ShortStride-th (always including 0 and n).
func points(n int) []int {
	stride := 1
	if testing.Short() && n > 40 {
		stride = ShortStride
	}
	out := make([]int, 0, n/stride+2)
	for i := 0; i <= n; i += stride {
		out = append(out, i)
	}
	if out[len(out)-1] != n {
		out = append(out, n)
	}
	return out
}

// spread returns the points 0..r, or at most limit of them spread evenly
// (always including 0 and r) when limit > 0.
func spread(r, limit int) []int {
	if limit <= 0 || r+1 <= limit {
		out := make([]int, r+1)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, limit)
	for j := 0; j < limit; j++ {
		k := j * r / (limit - 1)
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

func count(t testing.TB, setup func(*FS), run func(fsx.FS) error) int {
	t.Helper()
	f := New()
	setup(f)
	f.Checkpoint()
	if err := run(f); err != nil {
		t.Fatalf("run without crash: %v", err)
	}
	return f.Count()
}

func crashed(t testing.TB, setup func(*FS), run func(fsx.FS) error, at, n int) *FS {
	t.Helper()
	f := New()
	setup(f)
	f.Checkpoint()
	f.CrashAfter(at)
	run(f) // the error is ErrCrashed at crash points
	if at < n && !f.Crashed() {
		t.Fatalf("crash point %d of %d never reached: run is not deterministic", at, n)
	}
	return f
}

func subtest(t testing.TB, name string, fn func(t testing.TB)) {
	if tt, ok := t.(*testing.T); ok {
		tt.Run(name, func(t *testing.T) { fn(t) })
		return
	}
	fn(t)
}
