package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

// seedFiles are two versions as a user of the original updater publishes
// them: v3 removes gone.py, edits a large file with a non-ASCII name (a
// delta pays), rewrites a binary file entirely (no delta saves 30 %) and a
// small one (under the original's 1 KiB minimum), and adds a file.
func seedFiles(version int) map[string]gitfixture.File {
	var big strings.Builder
	for i := 0; i < 600; i++ {
		if version == 3 && i == 300 {
			fmt.Fprintf(&big, "def changed_%d(): return %d  # v3\n", i, i*7)
			continue
		}
		fmt.Fprintf(&big, "def f_%d(x): return x * %d + %d\n", i, i, i%13)
	}
	rnd := rand.New(rand.NewPCG(uint64(version), 7))
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(rnd.Uint32())
	}
	files := map[string]gitfixture.File{
		"main.py":         {Content: fmt.Sprintf("print('v%d')\n", version)},
		"données/café.py": {Content: big.String()},
		"lib/blob.bin":    {Content: string(bin)},
		"empty.txt":       {Content: ""},
	}
	if version == 2 {
		files["gone.py"] = gitfixture.File{Content: "removed in v3\n"}
	} else {
		files["new.py"] = gitfixture.File{Content: "added in v3\n"}
	}
	return files
}

func writeTree(t *testing.T, dir string, files map[string]gitfixture.File) {
	t.Helper()
	for p, f := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns path -> content of the regular files below dir, without
// version.json.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "version.json" {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contents(files map[string]gitfixture.File) map[string]string {
	out := map[string]string{}
	for p, f := range files {
		out[p] = f.Content
	}
	return out
}

// TestSeedPublishServesOriginalClient publishes v2 then v3 into one folder
// with `ota publish --format seed`, as the README tells a user of the
// original updater to, and runs a model of the original client
// (testdata/seed_client.py, written from seed-system.md) against it: the
// HMAC over Python's json.dumps(sort_keys=True, separators=(",", ":")) with a
// non-ASCII path verifies, "deletes" removes what v3 dropped, and the
// manifestless path finds the v1 delta at .deltas/<path with "/" -> "_">.delta
// and reproduces the file from it.
func TestSeedPublishServesOriginalClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run the model of the original client (.ci/run installs it)")
	}
	const key = "s3cret-ключ"
	repo := gitfixture.New(t)
	c2 := repo.Commit("v2", seedFiles(2))
	repo.Tag("v2", c2)
	c3 := repo.Commit("v3", seedFiles(3))
	repo.Tag("v3", c3)
	out := t.TempDir()
	publish := func(ref string) map[string]any {
		t.Helper()
		cmd := exec.Command(bin, "publish", "--format", "seed", "--src", repo.Dir, "--ref", ref, "--out", out, "--key", key, "--json")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("publish %s: %v\n%s", ref, err, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	manifest := func() map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	publish("v2")
	if d, ok := manifest()["deletes"]; ok {
		t.Errorf("first publication into an empty folder lists deletes %v", d)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, ".deltas")); len(ents) > 0 {
		t.Errorf("first publication wrote deltas")
	}
	res := publish("v3")
	if got := manifest()["deletes"]; !reflect.DeepEqual(got, []any{"gone.py"}) {
		t.Fatalf("deletes = %v, want [gone.py] (v2 had it, v3 has not)", got)
	}
	var deltas []string
	ents, _ := os.ReadDir(filepath.Join(out, ".deltas"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".delta") {
			deltas = append(deltas, e.Name())
		}
	}
	sort.Strings(deltas)
	if want := []string{"données_café.py.delta"}; !reflect.DeepEqual(deltas, want) {
		t.Fatalf(".deltas/ = %v, want %v (main.py is under 1 KiB, lib/blob.bin saves nothing)", deltas, want)
	}
	if res["Deltas"] != 1.0 || res["Deletes"] != 1.0 {
		t.Errorf("publish --json: %v", res)
	}

	// raw: the v3 tagged tree as raw.githubusercontent.com serves it, with
	// .deltas/ committed into it as the original expects.
	raw := t.TempDir()
	writeTree(t, raw, seedFiles(3))
	if err := os.CopyFS(filepath.Join(raw, ".deltas"), os.DirFS(filepath.Join(out, ".deltas"))); err != nil {
		t.Fatal(err)
	}
	client := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(py, append([]string{filepath.Join("testdata", "seed_client.py")}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("original client %s: %v\n%s", args[0], err, stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return m
	}

	// Manifest mode (stable channel with the manifest.json asset).
	dev := t.TempDir()
	writeTree(t, dev, seedFiles(2))
	m := client("manifest", key, raw, dev, filepath.Join(out, "manifest.json"), c3)
	if !reflect.DeepEqual(m["deleted"], []any{"gone.py"}) {
		t.Errorf("manifest mode deleted %v", m["deleted"])
	}
	if got, want := readTree(t, dev), contents(seedFiles(3)); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest mode: device is not v3:\n got %v\nwant %v", keys(got), keys(want))
	}

	// A tampered manifest is refused by the same client.
	b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	bad := filepath.Join(t.TempDir(), "manifest.json")
	os.WriteFile(bad, []byte(strings.Replace(string(b), `"gone.py"`, `"main.py"`, 1)), 0o644)
	if err := exec.Command(py, filepath.Join("testdata", "seed_client.py"), "manifest", key, raw, t.TempDir(), bad, c3).Run(); err == nil {
		t.Error("the client model accepted a tampered manifest: it does not check the HMAC")
	}

	// Manifestless mode with enable_delta_updates: deltas from .deltas/.
	tree := []map[string]any{}
	for _, e := range repo.LsTree("v3") {
		tree = append(tree, map[string]any{"path": e.Path, "type": e.Type, "sha": e.SHA, "size": e.Size})
	}
	tj, _ := json.Marshal(tree)
	treeFile := filepath.Join(t.TempDir(), "tree.json")
	os.WriteFile(treeFile, tj, 0o644)
	dev2 := t.TempDir()
	writeTree(t, dev2, seedFiles(2))
	m = client("manifestless", raw, dev2, treeFile, "v3", c3)
	if !reflect.DeepEqual(m["deltas"], []any{"données/café.py"}) || len(m["delta_failed"].([]any)) != 0 {
		t.Errorf("manifestless: deltas %v, failed %v", m["deltas"], m["delta_failed"])
	}
	want := contents(seedFiles(3))
	want["gone.py"] = "removed in v3\n" // the original never deletes without a manifest
	if got := readTree(t, dev2); !reflect.DeepEqual(got, want) {
		t.Errorf("manifestless: device is not v3:\n got %v\nwant %v", keys(got), keys(want))
	}
}

func keys(m map[string]string) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}
