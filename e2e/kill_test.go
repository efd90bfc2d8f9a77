package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// killFiles builds a version with enough files that an update takes a while.
func killFiles(version int) map[string]gitfixture.File {
	files := map[string]gitfixture.File{}
	for i := 0; i < 40; i++ {
		c := fmt.Sprintf("file %d version %d\n", i, version)
		if i%2 == 0 || version == 1 {
			c = fmt.Sprintf("file %d version 1\n", i)
		}
		if i%8 == 0 {
			c += strings.Repeat(c, 2000) // some larger files
		}
		files[fmt.Sprintf("d%d/f%02d.txt", i%5, i)] = gitfixture.File{Content: c, Executable: i%7 == 0}
	}
	if version == 1 {
		files["only-in-v1/gone.txt"] = gitfixture.File{Content: "gone\n"}
	} else {
		files["only-in-v2/new/deep.txt"] = gitfixture.File{Content: "new\n"}
	}
	files["link"] = gitfixture.File{Symlink: fmt.Sprintf("d%d", version)}
	return files
}

// TestKillAtRandomMoments starts the real `ota update` against a slowed-down
// server and sends SIGKILL at a random moment, alternating the target between
// two versions. After each kill, before any recovery, version.json must name
// exactly the files the application sees, or `ota status` must say pending
// (in place, an interrupted apply); the folder must be exactly one version
// (after recovery for the in-place layout; immediately for the releases
// layout, whose current symlink and version.json switch together), and a
// following `ota update` must complete. Seeded: OTA_KILL_SEED reproduces a run.
func TestKillAtRandomMoments(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 20
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OTA_KILL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with OTA_KILL_SEED=%d)", seed, seed)
	for _, layout := range []string{"inplace", "releases"} {
		t.Run(layout, func(t *testing.T) {
			t.Parallel() // the layouts share nothing; kill moments follow observed progress, not time
			rng := rand.New(rand.NewPCG(seed, 0))
			e := newEnv(t)
			c1 := e.repo.Commit("v1", killFiles(1))
			c2 := e.repo.Commit("v2", killFiles(2))
			want := map[string]treesnap.Snap{c1: expect(killFiles(1)), c2: expect(killFiles(2))}
			e.gh.SetKnobs(fakegithub.Knobs{RawDelay: 2 * time.Millisecond})
			cfgFor := func(commit string) string {
				return e.config(t, map[string]any{"commit": commit, "layout": layout, "parallel_downloads": 2})
			}
			appDir := e.target
			if layout == "releases" {
				appDir = filepath.Join(e.target, "current") + "/"
			}
			if r := ota(t, cfgFor(c1), nil, "update"); r.code != 0 {
				t.Fatal(r)
			}
			if r := ota(t, cfgFor(c2), nil, "update"); r.code != 0 { // timed by BenchmarkUpdate
				t.Fatal(r)
			}
			installed := c2
			outcomes := map[string]int{}
			for i := 0; i < runs; i++ {
				target := c1
				if installed == c1 {
					target = c2
				}
				if layout == "releases" {
					// Kept releases switch back instantly; give every run a
					// version never installed before.
					files := killFiles(2)
					for k := 0; k < 10; k++ {
						n := rng.IntN(40)
						p := fmt.Sprintf("d%d/f%02d.txt", n%5, n)
						files[p] = gitfixture.File{Content: fmt.Sprintf("run %d file %d\n", i, n), Executable: n%7 == 0}
					}
					target = e.repo.Commit(fmt.Sprint("run ", i), files)
					want[target] = expect(files)
				}
				cfg := cfgFor(target)
				// The kill moment follows observed progress, not wall time
				// (the machine may be loaded): after the k-th file served, or
				// a few milliseconds after the last one, when the apply runs.
				var ck checkJSON
				okJSON(t, cfg, nil, &ck, "check")
				need := ck.DownloadFiles
				served0 := e.gh.RawServed()
				cmd := exec.Command(bin, "--config", cfg, "update")
				cmd.Env = append(os.Environ(), "OTA_TOKEN=")
				var errb bytes.Buffer
				cmd.Stderr = &errb
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				var wait time.Duration
				k := rng.IntN(need + 1)
				extra := time.Duration(rng.Int64N(int64(8 * time.Millisecond)))
				if i%2 == 1 {
					k, extra = need, time.Duration(rng.Int64N(int64(40*time.Millisecond)))
				}
				began := time.Now()
				for e.gh.RawServed()-served0 < k && time.Since(began) < 5*time.Second {
					time.Sleep(200 * time.Microsecond)
				}
				time.Sleep(extra)
				wait = time.Since(began)
				cmd.Process.Signal(syscall.SIGKILL)
				err := cmd.Wait()
				killed := err != nil
				// status must work and say something sensible, and before
				// any recovery version.json (as the application reads it)
				// names exactly the files there, or status says pending.
				var st struct {
					Current *struct{ Commit string }
					Pending bool
				}
				okJSON(t, cfg, nil, &st, "status")
				marker := readMarker(t, e.target)
				if layout == "releases" {
					// No recovery needed: current is always a complete release
					// and version.json is a symlink into it.
					got := snap(t, appDir)
					if st.Current == nil || st.Pending || treesnap.Diff(want[st.Current.Commit], got) != nil {
						t.Fatalf("run %d (kill after %v): releases layout not old-or-new: status %+v diff %v", i, wait, st, treesnap.Diff(want[st.Current.Commit], got))
					}
					if marker != st.Current.Commit {
						t.Fatalf("run %d (kill after %v): version.json names %q, current is %s", i, wait, marker, st.Current.Commit)
					}
				} else {
					if !st.Pending {
						if d := treesnap.Diff(want[marker], snap(t, appDir)); marker == "" || d != nil {
							t.Fatalf("run %d (kill after %v): nothing pending, but version.json names %q and the files differ: %v", i, wait, marker, d)
						}
					}
					if r := ota(t, cfg, nil, "recover"); r.code != 0 {
						t.Fatalf("run %d: recover: %v", i, r)
					}
					okJSON(t, cfg, nil, &st, "status")
					got := snap(t, appDir)
					if st.Current == nil || st.Pending || treesnap.Diff(want[st.Current.Commit], got) != nil {
						t.Fatalf("run %d (kill after %v): not old-or-new after recovery: status %+v\ndiff vs its version: %v", i, wait, st, treesnap.Diff(want[st.Current.Commit], got))
					}
				}
				switch {
				case !killed:
					outcomes["finished before the kill"]++
				case st.Current.Commit == target:
					outcomes["killed, new version"]++
				default:
					outcomes["killed, old version"]++
				}
				var up struct{ Current struct{ Commit string } }
				okJSON(t, cfg, nil, &up, "update")
				if up.Current.Commit != target || treesnap.Diff(want[target], snap(t, appDir)) != nil {
					t.Fatalf("run %d: following update did not complete: %+v", i, up)
				}
				installed = target
			}
			b, _ := json.Marshal(outcomes)
			t.Logf("MEASURE kill runs (%s): %d runs, outcomes %s", layout, runs, b)
		})
	}
}

// readMarker returns the commit target_dir/version.json names ("" when
// missing or unreadable), read as an application would, through symlinks.
func readMarker(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "version.json"))
	if err != nil {
		return ""
	}
	var v struct{ Commit string }
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Commit
}
