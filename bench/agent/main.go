// Command agent measures the agent on a 2,000-file repository (50 folders of
// 40 files) served by the GitHub-compatible server: requests and bytes for
// the first install, an update in which 20 files changed in 5 folders, and a
// no-op check, and the wall time of a no-op `ota check` (the real binary,
// median of 9 runs). Beside them, the bytes `git clone` and `git fetch` move
// for the same two versions over git daemon (TCP payload, counted by a relay
// in this process). Usage, from the repository root:
//
//	go run ./bench/agent > bench/results/agent.md
package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/otafleet/ota/bench/internal/gitd"
	"github.com/otafleet/ota/internal/ghserver"
)

const files, changed = 2000, 20

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func git(dir, home string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@x", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		must(fmt.Errorf("git %v: %v %s", args, err, out))
	}
}

func content(i, version int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(i, version)))
	return bytes.Repeat([]byte(fmt.Sprintf("%x\n", h)), 24) // ~1.6 KB of text
}

func main() {
	tmp, err := os.MkdirTemp("", "ota-bench-agent")
	must(err)
	defer os.RemoveAll(tmp)
	repo, device, home := filepath.Join(tmp, "repo"), filepath.Join(tmp, "device"), filepath.Join(tmp, "home")
	for _, d := range []string{repo, device, home} {
		must(os.MkdirAll(d, 0o755))
	}
	bin := filepath.Join(tmp, "ota")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ota")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		must(fmt.Errorf("build: %v %s", err, out))
	}
	git(repo, home, "init", "-q", "-b", "main")
	write := func(version int, which func(int) bool) {
		for i := 0; i < files; i++ {
			if !which(i) {
				continue
			}
			p := filepath.Join(repo, fmt.Sprintf("pkg%02d/mod%04d.py", i%50, i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			must(os.WriteFile(p, content(i, version), 0o644))
		}
		git(repo, home, "add", "-A")
		git(repo, home, "commit", "-q", "-m", fmt.Sprint("v", version))
	}
	write(1, func(int) bool { return true })
	srv := ghserver.Start(home)
	defer srv.Close()
	srv.AddRepo("bench", "app", repo)
	cfg := filepath.Join(device, "ota_config.json")
	must(os.WriteFile(cfg, []byte(fmt.Sprintf(`{"owner":"bench","repo":"app","channel":"developer","api_url":%q,"raw_url":%q}`,
		srv.API.URL, srv.Raw.URL)), 0o644))
	run := func(args ...string) time.Duration {
		start := time.Now()
		cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			must(fmt.Errorf("ota %v: %v %s", args, err, out))
		}
		return time.Since(start)
	}
	gitBare := filepath.Join(tmp, "srv.git")
	git(tmp, home, "clone", "-q", "--bare", repo, gitBare)
	gd := startGitDaemon(tmp, home)
	defer gd.Stop()
	gitClone := gd.Count(func() { git(tmp, home, "clone", "-q", gd.URL+"/srv.git", filepath.Join(tmp, "gitdev")) })
	type tally struct {
		reqs, api, raw, archive, n304 int
		bytes, tree                   int64
	}
	count := func() tally {
		var t tally
		for _, r := range srv.Requests() {
			t.reqs++
			t.bytes += r.Bytes
			if strings.Contains(r.Path, "/git/trees/") {
				t.tree += r.Bytes
			}
			switch r.Server {
			case "api":
				t.api++
			case "archive":
				t.archive++
			default:
				t.raw++
			}
			if r.Status == 304 {
				t.n304++
			}
		}
		srv.ResetRequests()
		return t
	}
	installT := run("update")
	install := count()
	// 20 files in 5 folders: pkg00, pkg10, pkg20, pkg30, pkg40, 4 files each.
	changedFile := func(i int) bool { return (i%50)%10 == 0 && i/50 < changed/5 }
	write(2, changedFile)
	updT := run("update")
	upd := count()
	git(repo, home, "push", "-q", gitBare, "main")
	gitFetch := gd.Count(func() { git(filepath.Join(tmp, "gitdev"), home, "fetch", "-q", "origin") })
	var times []time.Duration
	var noop tally
	for i := 0; i < 9; i++ {
		times = append(times, run("check"))
		noop = count()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	// Rollback: in place (journaled re-apply of the 20 displaced files from
	// kept objects) and in the releases layout (one symlink switch). Each is
	// timed as the whole `ota rollback` process, median of 5 back-and-forth runs.
	rollback := func() time.Duration {
		var ts []time.Duration
		for i := 0; i < 5; i++ {
			ts = append(ts, run("rollback"))
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		return ts[2]
	}
	rbInplace := rollback()
	srv.ResetRequests()
	rel := filepath.Join(tmp, "device-releases")
	must(os.MkdirAll(rel, 0o755))
	cfgInplace := cfg
	cfg = filepath.Join(rel, "ota_config.json")
	must(os.WriteFile(cfg, []byte(fmt.Sprintf(`{"owner":"bench","repo":"app","channel":"developer","api_url":%q,"raw_url":%q,"layout":"releases","commit":%q}`,
		srv.API.URL, srv.Raw.URL, revParse(repo, home, "HEAD~1"))), 0o644))
	run("update")
	must(os.WriteFile(cfg, []byte(fmt.Sprintf(`{"owner":"bench","repo":"app","channel":"developer","api_url":%q,"raw_url":%q,"layout":"releases"}`,
		srv.API.URL, srv.Raw.URL)), 0o644))
	run("update")
	rbReleases := rollback()
	cfg = cfgInplace
	var changedBytes int64
	nChanged := 0
	for i := 0; i < files; i++ {
		if changedFile(i) {
			changedBytes += int64(len(content(i, 2)))
			nChanged++
		}
	}
	if nChanged != changed {
		must(fmt.Errorf("changed %d files, want %d", nChanged, changed))
	}
	fmt.Printf("# Agent on a %d-file repository, %d files changed in 5 folders\n\n", files, changed)
	fmt.Printf("Command: `go run ./bench/agent > bench/results/agent.md` (%s, %s)\n\n", time.Now().UTC().Format("2006-01-02"), goVersion())
	fmt.Println("The repository is served by internal/ghserver (GitHub REST API subset + raw host) on 127.0.0.1;")
	fmt.Println("`ota` is the real binary. Bytes are HTTP response bodies (the archive is gzip on the wire).")
	fmt.Println()
	fmt.Println("| operation | requests | API | raw | archive | answered 304 | body bytes | wall time |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	fmt.Printf("| first install (%d files) | %d | %d | %d | %d | %d | %d | %v |\n", files, install.reqs, install.api, install.raw, install.archive, install.n304, install.bytes, installT.Round(time.Millisecond))
	fmt.Printf("| update, %d files changed in 5 folders (%d bytes of content) | %d | %d | %d | %d | %d | %d | %v |\n", changed, changedBytes, upd.reqs, upd.api, upd.raw, upd.archive, upd.n304, upd.bytes, updT.Round(time.Millisecond))
	fmt.Printf("| no-op `ota check` | %d | %d | %d | %d | %d | %d | median %v (min %v, max %v, 9 runs) |\n", noop.reqs, noop.api, noop.raw, noop.archive, noop.n304, noop.bytes,
		times[4].Round(time.Millisecond), times[0].Round(time.Millisecond), times[8].Round(time.Millisecond))
	fmt.Printf("| `ota rollback`, in place (20 files re-applied from kept objects) | 0 | 0 | 0 | 0 | 0 | 0 | median %v (5 runs) |\n", rbInplace.Round(time.Millisecond))
	fmt.Printf("| `ota rollback`, releases layout (one symlink switch) | 0 | 0 | 0 | 0 | 0 | 0 | median %v (5 runs) |\n", rbReleases.Round(time.Millisecond))
	fmt.Println()
	fmt.Println("The same two versions with git over `git daemon` on 127.0.0.1 (TCP payload both ways, so protocol")
	fmt.Println("overhead included; ota's figures above are bodies only):")
	fmt.Println()
	fmt.Println("| git | bytes down | bytes up | ota body bytes | ota / git down |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| `git clone` (first install) | %d | %d | %d | %.2f |\n", gitClone.Down, gitClone.Up, install.bytes, float64(install.bytes)/float64(gitClone.Down))
	fmt.Printf("| `git fetch` (the update) | %d | %d | %d | %.2f |\n", gitFetch.Down, gitFetch.Up, upd.bytes, float64(upd.bytes)/float64(gitFetch.Down))
	fmt.Println()
	fmt.Println("Rollback times are whole processes (start, config, lock, recovery check, the switch, fsyncs).")
	fmt.Println()
	fmt.Printf("For comparison, the original updater (seed-system.md §2.4, §9.6) re-downloads every permitted file on every\n")
	fmt.Printf("update: %d raw requests plus 2 API calls for this change, and 1 API call (a full 200 answer) for a no-op check.\n", files)
	fmt.Println()
	fmt.Printf("The first install is the commit lookup, one recursive tree (%d bytes), and the commit's tarball: a 302 from\n", install.tree)
	fmt.Printf("the API to the archive host, then one gzip stream, every file verified by blob SHA-1 before anything is installed.\n")
	fmt.Printf("The update's API requests: 1 conditional commit lookup (changed, so 200) and %d non-recursive trees of %d bytes\n", upd.api-1, upd.tree)
	fmt.Printf("in all (the root and the 5 changed folders: unchanged folders keep their git tree SHA, derived from the installed\n")
	fmt.Printf("index); the %d raw requests carry %d bytes.\n", upd.raw, upd.bytes-upd.tree)
	fmt.Println("The no-op check reads the local files' hashes from the stat cache (size, mtime, inode) and does not")
	fmt.Println("fetch the tree at all: the commit answered 304.")
}

func revParse(dir, home, rev string) string {
	cmd := exec.Command("git", "rev-parse", rev)
	cmd.Dir = dir
	out, err := cmd.Output()
	must(err)
	return strings.TrimSpace(string(out))
}

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func freePort() int {
	p, err := gitd.FreePort()
	must(err)
	return p
}

func startGitDaemon(base, home string) *gitd.Daemon {
	d, err := gitd.Start(base, home)
	must(err)
	return d
}
