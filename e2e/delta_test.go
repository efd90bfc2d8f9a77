package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/testutil/fakegithub"
	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

func bigText(version int) string {
	var b strings.Builder
	for i := 0; i < 4000; i++ {
		if version == 2 && i%500 == 0 {
			fmt.Fprintf(&b, "line %d changed in version 2\n", i)
			continue
		}
		fmt.Fprintf(&b, "line %d of the application, unchanged text\n", i)
	}
	return b.String()
}

// TestDeltaUpdatesFromGitHub: `ota delta build` writes .deltas/ between two
// refs; committed with the new version, it lets a device on the old version
// download deltas instead of files. A corrupt delta falls back to the full
// file; a missing one costs one 404 and no retries.
func TestDeltaUpdatesFromGitHub(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]gitfixture.File{"app.js": {Content: bigText(1)}, "small.txt": {Content: "a\n"}, "other.js": {Content: bigText(1) + "x"}}
	c1 := e.repo.Commit("v1", v1)
	e.repo.Tag("v1", c1)
	cfg := e.config(t, map[string]any{"channel": "developer", "enable_delta_updates": true})
	var up updateJSON
	okJSON(t, cfg, nil, &up, "update")

	v2 := map[string]gitfixture.File{"app.js": {Content: bigText(2)}, "small.txt": {Content: "b\n"}, "other.js": {Content: bigText(2) + "y"}}
	e.repo.Commit("v2 files", v2)
	build := exec.Command(bin, "delta", "build", "--repo", e.repo.Dir, "--from", "v1", "--to", "HEAD", "--json")
	out, err := build.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"Deltas": 2`) {
		t.Fatalf("delta build: %v\n%s", err, out)
	}
	e.repo.Git("add", ".deltas")
	e.repo.Git("commit", "-q", "-m", "v2 deltas")

	// Damage one delta on the wire: the agent must fall back to the file.
	// Aimed at app.js's delta by its name (the blob ids), so it cannot land
	// on small.txt's 404.
	appDelta := ".deltas/" + gitobj.BlobSHA1Bytes([]byte(bigText(1))) + "-" + gitobj.BlobSHA1Bytes([]byte(bigText(2))) + ".delta"
	e.gh.Inject(fakegithub.Fault{Server: "raw", PathContains: appDelta, Kind: fakegithub.Corrupt, Times: 1})
	e.gh.ResetRequests()
	var res struct {
		updateJSON
		DeltasApplied int `json:"deltas_applied"`
	}
	okJSON(t, cfg, nil, &res, "update")
	if d := treesnap.Diff(expect(v2), snap(t, e.target)); d != nil {
		t.Fatalf("after delta update: %v", d)
	}
	var deltaReqs, fileReqs int
	for _, r := range e.gh.Requests() {
		if r.Server != "raw" {
			continue
		}
		if strings.Contains(r.Path, ".deltas/") {
			deltaReqs++
		} else {
			fileReqs++
		}
	}
	// app.js and other.js have deltas (one arrives corrupt and falls back);
	// small.txt has none (one 404, no retry).
	if res.DeltasApplied != 1 || deltaReqs != 3 || fileReqs != 2 {
		t.Fatalf("deltas applied %d, delta requests %d, file requests %d: %v", res.DeltasApplied, deltaReqs, fileReqs, e.gh.Requests())
	}
	full := int64(len(bigText(2)))
	t.Logf("MEASURE delta update: %d bytes downloaded for two changed %d-byte files (one via delta, one fell back after a corrupt delta)", res.BytesDownloaded, full)
}
