package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/testutil/fakegithub"
)

// Timings of the end-to-end runs, measured here rather than logged by the
// tests (which keep their assertions): run with
//
//	go test -run XXX -bench . ./e2e
//
// Each iteration runs the real binary, so process start-up is included.

// BenchmarkNoopCheck: `ota check` when nothing changed since the last
// update; it costs one conditional request answered 304 (asserted by
// TestDeveloperChannel).
func BenchmarkNoopCheck(b *testing.B) {
	e := newEnv(b)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(b, map[string]any{"channel": "developer"})
	var up updateJSON
	okJSON(b, cfg, nil, &up, "update")
	var ck checkJSON
	e.gh.ResetRequests()
	for b.Loop() {
		okJSON(b, cfg, nil, &ck, "check")
		if ck.UpdateAvailable {
			b.Fatalf("no-op check found an update: %+v", ck)
		}
	}
	reportRequests(b, e.gh.Requests())
}

// BenchmarkUpdate: one update of the kill test's tree (40 files, v1 -> v2)
// into each layout; the v1 install before each iteration is not timed.
func BenchmarkUpdate(b *testing.B) {
	for _, layout := range []string{"inplace", "releases"} {
		b.Run(layout, func(b *testing.B) {
			e := newEnv(b)
			c1 := e.repo.Commit("v1", killFiles(1))
			c2 := e.repo.Commit("v2", killFiles(2))
			var files, bytes int64
			for b.Loop() {
				b.StopTimer()
				e.target = b.TempDir() // a fresh device each time
				cfgFor := func(commit string) string {
					return e.config(b, map[string]any{"commit": commit, "layout": layout, "parallel_downloads": 2})
				}
				if r := ota(b, cfgFor(c1), nil, "update"); r.code != 0 {
					b.Fatal(r)
				}
				cfg := cfgFor(c2)
				b.StartTimer()
				var up updateJSON
				okJSON(b, cfg, nil, &up, "update")
				if !up.Updated || up.Current.Commit != c2 {
					b.Fatalf("update: %+v", up)
				}
				files += int64(up.FilesDownloaded)
				bytes += up.BytesDownloaded
			}
			b.ReportMetric(float64(files)/float64(b.N), "files/op")
			b.ReportMetric(float64(bytes)/float64(b.N), "B-downloaded/op")
		})
	}
}

// BenchmarkHealthCheckRevert: an update whose health check fails
// (health_timeout_sec 1, so about a second per iteration), reverted to v1.
// ms-after-last-check is from the last failed health check to version.json
// rewritten by the revert; ms-after-first-check from the first failed one.
func BenchmarkHealthCheckRevert(b *testing.B) {
	e := newEnv(b)
	c1 := e.repo.Commit("v1", filesV1)
	c2 := e.repo.Commit("v2", filesV2)
	var afterLast, afterFirst, checks float64
	for b.Loop() {
		b.StopTimer()
		e.target = b.TempDir()
		healthLog := filepath.Join(b.TempDir(), "health.log")
		kv := map[string]any{
			"health_check":        `date +%s.%N >> ` + healthLog + `; ! grep -q v2 main.py`,
			"health_timeout_sec":  1,
			"health_interval_sec": 1,
		}
		kv["commit"] = c1
		if r := ota(b, e.config(b, kv), nil, "update"); r.code != 0 {
			b.Fatal(r)
		}
		kv["commit"] = c2
		cfg := e.config(b, kv)
		b.StartTimer()
		if r := ota(b, cfg, nil, "update"); r.code != 6 {
			b.Fatalf("update to a failing release: want exit 6, got %v", r)
		}
		b.StopTimer()
		attempts := strings.Fields(readFile(b, healthLog))
		if len(attempts) < 2 {
			b.Fatalf("health log: %q", attempts)
		}
		var first, last float64
		fmt.Sscan(attempts[1], &first) // attempts[0] is v1's passing check
		fmt.Sscan(attempts[len(attempts)-1], &last)
		fi, err := os.Stat(filepath.Join(e.target, "version.json"))
		if err != nil {
			b.Fatal(err)
		}
		restored := float64(fi.ModTime().UnixNano()) / 1e9
		afterLast += (restored - last) * 1000
		afterFirst += (restored - first) * 1000
		checks += float64(len(attempts) - 1)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(afterLast/n, "ms-after-last-check")
	b.ReportMetric(afterFirst/n, "ms-after-first-check")
	b.ReportMetric(checks/n, "failed-checks/op")
}

func reportRequests(b *testing.B, reqs []fakegithub.Request) {
	var bytes int64
	for _, r := range reqs {
		bytes += r.Bytes
	}
	b.ReportMetric(float64(len(reqs))/float64(b.N), "requests/op")
	b.ReportMetric(float64(bytes)/float64(b.N), "body-B/op")
}
