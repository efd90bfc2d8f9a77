package crashfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

// randomScript builds a deterministic sequence of operations over a small
// set of names so that collisions (EEXIST, ENOTEMPTY, same-inode renames,
// symlinks through directories, ...) are frequent.
func randomScript(seed uint64, n int) []step {
	rng := rand.New(rand.NewPCG(seed, 1))
	names := []string{"a", "b", "a/c", "b/c", "a/c/d", "l", "a/l", "b/x"}
	pick := func() string { return names[rng.IntN(len(names))] }
	var s []step
	for range n {
		p, q := pick(), pick()
		data := fmt.Sprintf("d%d", rng.IntN(100))
		var st step
		switch rng.IntN(12) {
		case 0, 1:
			st = step{"mkdir " + p, func(f fsx.FS, r string) string { return errStr(f.Mkdir(r+"/"+p, 0o755)) }}
		case 2, 3:
			flag := []int{wrCreate, os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_CREATE | os.O_EXCL, os.O_RDWR}[rng.IntN(4)]
			st = step{"write " + p, func(f fsx.FS, r string) string { return openWrite(f, r+"/"+p, flag, 0o644, data) }}
		case 4, 5:
			st = step{"rename " + p + " " + q, func(f fsx.FS, r string) string { return errStr(f.Rename(r+"/"+p, r+"/"+q)) }}
		case 6:
			st = step{"remove " + p, func(f fsx.FS, r string) string { return errStr(f.Remove(r + "/" + p)) }}
		case 7:
			// Targets stay inside the root: "../b" from a top-level link would
			// escape into the shared parent of all test roots.
			target := []string{"a", "c", "../b", "nothere", "/b/c"}[rng.IntN(5)]
			st = step{"symlink " + p + " -> " + target, func(f fsx.FS, r string) string {
				tgt := target
				if tgt[0] == '/' {
					tgt = r + tgt
				} else if tgt == "../b" && !strings.Contains(p, "/") {
					tgt = "b"
				}
				return errStr(f.Symlink(tgt, r+"/"+p))
			}}
		case 8:
			st = step{"link " + p + " " + q, func(f fsx.FS, r string) string {
				return errStr(f.Link(r+"/"+p, r+"/"+q)) + nlink(f, r+"/"+p)
			}}
		case 9:
			mode := []os.FileMode{0o600, 0o755, 0o700}[rng.IntN(3)]
			st = step{"chmod " + p, func(f fsx.FS, r string) string { return errStr(f.Chmod(r+"/"+p, mode)) }}
		case 10:
			st = step{"read " + p, func(f fsx.FS, r string) string {
				fi, err := f.Lstat(r + "/" + p)
				return readAll(f, r+"/"+p) + statStr(fi, err)
			}}
		case 11:
			st = step{"readlink " + p, func(f fsx.FS, r string) string {
				t, err := f.Readlink(r + "/" + p)
				ents, err2 := f.ReadDir(r + "/" + p)
				return t + errStr(err) + fmt.Sprint(len(ents)) + errStr(err2)
			}}
		}
		s = append(s, st)
	}
	return s
}

// TestRandomMatchesOS compares random scripts on the real OS and crashfs
// (1500 seeds passed when this was written; 200 run by default).
func TestRandomMatchesOS(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		compareRandom(t, seed)
	}
}

// FuzzMatchesOS explores more scripts: go test -fuzz FuzzMatchesOS.
func FuzzMatchesOS(f *testing.F) {
	f.Add(uint64(0))
	f.Fuzz(compareRandom)
}

func compareRandom(t *testing.T, seed uint64) {
	root := t.TempDir()
	mem := New()
	if _, err := fsx.MkdirAll(mem, root, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range randomScript(seed, 40) {
		want, got := s.do(fsx.OS{}, root), s.do(mem, root)
		if got != want {
			t.Fatalf("seed %d step %d %q:\n  os:      %s\n  crashfs: %s", seed, i, s.name, want, got)
		}
	}
	if d := Diff(MustSnapshot(t, fsx.OS{}, root), MustSnapshot(t, mem, root)); d != nil {
		t.Fatalf("seed %d: trees differ: %v", seed, d)
	}
}

func shape(m map[string]Node) map[string]Node {
	out := map[string]Node{}
	for k, v := range m {
		v.Data = ""
		out[k] = v
	}
	return out
}

// TestRandomReplay checks the power-cut replay machinery on random scripts:
// with every namespace operation committed, the rebooted tree has the live
// tree's shape; after a final fsync the ordered model keeps it too; and a
// checkpointed FS survives every model unchanged.
func TestRandomReplay(t *testing.T) {
	for seed := range uint64(200) {
		mem := New()
		mem.Mkdir("/r", 0o755)
		mem.Checkpoint()
		for _, s := range randomScript(seed, 30) {
			s.do(mem, "/r")
		}
		live := MustSnapshot(t, mem, "/")
		if d := Diff(shape(live), shape(MustSnapshot(t, mem.AfterPowerCutCommitted(), "/"))); d != nil {
			t.Fatalf("seed %d: committed replay differs from live: %v\nops: %v", seed, d, mem.Ops())
		}
		if err := mem.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		if d := Diff(shape(live), shape(MustSnapshot(t, mem.AfterPowerCut(), "/"))); d != nil {
			t.Fatalf("seed %d: ordered replay after fsync differs: %v", seed, d)
		}
		mem.Checkpoint()
		for _, m := range Models() {
			if d := Diff(live, MustSnapshot(t, mem.After(m), "/")); d != nil {
				t.Fatalf("seed %d model %s: checkpointed tree changed: %v", seed, m, d)
			}
		}
	}
}
