package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/fsx/crashfs"
	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/state"
)

var (
	dirs   = Dirs{Target: "/t", Stage: "/t/.ota_stage", Backup: "/t/.ota_backup", State: "/t/.ota"}
	v1, v2 = source.Version{Ref: "v1", Commit: "c1"}, source.Version{Ref: "v2", Commit: "c2"}
	oldApp = map[string]string{"a.txt": "a1", "b.txt": "b1", "d/keep.txt": "k"}
	newApp = map[string]string{"a.txt": "a2", "c/c.txt": "c2", "d/keep.txt": "k"}
)

func index(v source.Version, app map[string]string) state.Index {
	var files []state.IndexEntry
	for p, data := range app {
		files = append(files, state.IndexEntry{Path: p, FileState: state.FileState{SHA1: gitobj.BlobSHA1Bytes([]byte(data)), Mode: source.ModeFile, Size: int64(len(data))}})
	}
	return state.NewIndex(&v, files)
}

func write(t testing.TB, f fsx.FS, name, data string) {
	t.Helper()
	if _, err := fsx.MkdirAll(f, path.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileAtomic(f, name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setup installs v1 (files, version.json, installed.json) and stages v2.
func setup(t testing.TB, f fsx.FS) {
	t.Helper()
	for p, data := range oldApp {
		write(t, f, path.Join(dirs.Target, p), data)
	}
	if err := state.WriteVersion(f, dirs.Target, v1); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteIndex(f, dirs.State, index(v1, oldApp)); err != nil {
		t.Fatal(err)
	}
	write(t, f, path.Join(dirs.Stage, "a.txt"), newApp["a.txt"])
	write(t, f, path.Join(dirs.Stage, "c/c.txt"), newApp["c/c.txt"])
}

func journal() *Journal {
	from := v1
	return &Journal{
		From: &from, To: v2,
		Ops:      []Op{{Kind: Delete, Path: "b.txt", HadOld: true}, {Kind: Put, Path: "c/c.txt"}, {Kind: Put, Path: "a.txt", HadOld: true}},
		MakeDirs: []string{"c"},
		Index:    index(v2, newApp),
		Prev:     index(v1, oldApp),
	}
}

// app returns the application files below the target (not ota's own).
func app(t testing.TB, f fsx.FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := f.ReadDir(path.Join(dirs.Target, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := path.Join(rel, e.Name())
			if strings.HasPrefix(p, ".ota") || p == state.VersionFile {
				continue
			}
			if e.IsDir() {
				walk(p)
				continue
			}
			b, err := fsx.ReadFile(f, path.Join(dirs.Target, p))
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(b)
		}
	}
	walk(".")
	return out
}

func same(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func paths(idx state.Index) string {
	var s []string
	for _, f := range idx.Files {
		s = append(s, f.Path+"="+f.SHA1[:7])
	}
	return strings.Join(s, ",")
}

// checkRecovered recovers f and checks it holds exactly v1 or exactly v2,
// with the matching version.json and index, and that no journal or index
// file of the update is left.
func checkRecovered(t testing.TB, f fsx.FS) {
	t.Helper()
	if _, _, err := Recover(f, dirs); err != nil {
		t.Fatalf("recover: %v", err)
	}
	got, v := app(t, f), state.ReadVersion(f, dirs.Target)
	idx := state.ReadIndex(f, dirs.State)
	switch {
	case v != nil && *v == v1 && same(got, oldApp):
		if paths(idx) != paths(index(v1, oldApp)) {
			t.Fatalf("old version with index %s", paths(idx))
		}
	case v != nil && *v == v2 && same(got, newApp):
		if paths(idx) != paths(index(v2, newApp)) || idx.Version == nil || *idx.Version != v2 {
			t.Fatalf("new version with index %s (%v)", paths(idx), idx.Version)
		}
		if p := state.ReadPrevious(f, dirs.State); p == nil || *p.Version != v1 || paths(*p) != paths(index(v1, oldApp)) {
			t.Fatalf("new version with previous %+v", p)
		}
		for _, f1 := range index(v1, oldApp).Files {
			if f1.Path == "d/keep.txt" {
				continue // not displaced
			}
			if _, err := f.Lstat(path.Join(dirs.Objects(), f1.SHA1)); err != nil {
				t.Fatalf("object of %s not kept: %v", f1.Path, err)
			}
		}
	default:
		t.Fatalf("neither version: %v %v", v, got)
	}
	for _, name := range []string{JournalFile, NextIndexFile, PrevIndexFile} {
		if _, err := f.Lstat(path.Join(dirs.State, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s left after recovery: %v", name, err)
		}
	}
}

// TestApplyCrashPoints crashes Apply at every filesystem operation (the
// writes of index.prev and index.next, the journal, backups, renames,
// commit, finish) under every crash model and recovers.
func TestApplyCrashPoints(t *testing.T) {
	res := crashfs.Enumerate(t, func(f *crashfs.FS) { setup(t, f) },
		func(f fsx.FS) error { return Apply(f, dirs, journal()) },
		func(t testing.TB, after *crashfs.FS, _ int, _ string) {
			checkRecovered(t, after)
			checkRecovered(t, after) // idempotent
		})
	if res.Ops < 20 {
		t.Fatalf("only %d operations", res.Ops)
	}
}

// TestRecoverCrashPoints crashes a recovery (roll forward and roll back)
// at every operation, and recovers again.
func TestRecoverCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool
	}{{"roll-forward", true}, {"roll-back", false}} {
		t.Run(tc.name, func(t *testing.T) {
			crashfs.Enumerate(t, func(f *crashfs.FS) {
				setup(t, f)
				// Interrupted right before (roll back) or after (forward)
				// the commit point.
				j := journal()
				j.Format = journalFormat
				if err := j.writeIndexes(f, dirs); err != nil {
					t.Fatal(err)
				}
				b, _ := j.encode()
				write(t, f, path.Join(dirs.State, JournalFile), string(b))
				if err := activate(f, dirs, j); err != nil {
					t.Fatal(err)
				}
				if tc.commit {
					if err := state.WriteVersion(f, dirs.Target, v2); err != nil {
						t.Fatal(err)
					}
				}
			}, func(f fsx.FS) error {
				_, _, err := Recover(f, dirs)
				return err
			}, func(t testing.TB, after *crashfs.FS, _ int, _ string) {
				checkRecovered(t, after)
			})
		})
	}
}

// TestRecoverFormat1Journal: a journal written by an earlier version, with
// both indexes embedded, still recovers both ways.
func TestRecoverFormat1Journal(t *testing.T) {
	for _, commit := range []bool{true, false} {
		f := crashfs.New()
		setup(t, f)
		j := journal()
		// Format 1 as earlier versions wrote it: the indexes inside.
		type format1 struct {
			Format     int             `json:"format"`
			From       *source.Version `json:"from"`
			To         source.Version  `json:"to"`
			Ops        []Op            `json:"ops"`
			MakeDirs   []string        `json:"make_dirs,omitempty"`
			RemoveDirs []string        `json:"remove_dirs,omitempty"`
			PruneDirs  []string        `json:"prune_dirs,omitempty"`
			Index      state.Index     `json:"index"`
			Prev       state.Index     `json:"prev"`
		}
		b, err := json.Marshal(format1{1, j.From, j.To, j.Ops, j.MakeDirs, nil, nil, j.Index, j.Prev})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"index":{"version":{"ref":"v2","commit":"c2"},"files":{"a.txt":{"sha1":`) {
			t.Fatalf("not the format-1 encoding: %s", b)
		}
		write(t, f, path.Join(dirs.State, JournalFile), string(b))
		if err := activate(f, dirs, j); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := state.WriteVersion(f, dirs.Target, v2); err != nil {
				t.Fatal(err)
			}
		}
		out, _, err := Recover(f, dirs)
		if want := map[bool]Outcome{true: RolledFwd, false: RolledBack}[commit]; err != nil || out != want {
			t.Fatalf("recover: %q %v, want %q", out, err, want)
		}
		checkRecovered(t, f)
	}
}

// TestJournalIsSmall: the journal names the index files instead of
// embedding them.
func TestJournalIsSmall(t *testing.T) {
	f := crashfs.New()
	setup(t, f)
	j := journal()
	for i := range 1000 {
		j.Index.Files = append(j.Index.Files, state.IndexEntry{Path: fmt.Sprintf("z/%04d", i), FileState: state.FileState{SHA1: strings.Repeat("0", 40)}})
	}
	j.Format = journalFormat
	if err := j.writeIndexes(f, dirs); err != nil {
		t.Fatal(err)
	}
	b, err := j.encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1024 || strings.Contains(string(b), `"files"`) {
		t.Fatalf("journal of %d bytes: %s", len(b), b)
	}
}

// TestCorruptIndexFileRefused: a journal whose index file does not match
// its SHA-256 does not roll forward with it.
func TestCorruptIndexFileRefused(t *testing.T) {
	f := crashfs.New()
	setup(t, f)
	j := journal()
	j.Format = journalFormat
	if err := j.writeIndexes(f, dirs); err != nil {
		t.Fatal(err)
	}
	b, _ := j.encode()
	write(t, f, path.Join(dirs.State, JournalFile), string(b))
	if err := activate(f, dirs, j); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteVersion(f, dirs.Target, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := state.WriteIndexFile(f, path.Join(dirs.State, NextIndexFile), &v1, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Recover(f, dirs); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("recover with a swapped index file: %v", err)
	}
	if _, err := f.Lstat(path.Join(dirs.State, JournalFile)); err != nil {
		t.Fatalf("journal not kept: %v", err)
	}
}
