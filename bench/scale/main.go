// Command scale measures the real `ota` binary (CGO_ENABLED=0) on a
// generated 100,000-file git repository (issue 11 point 5): first install,
// no-op check, a 20-file update (20 files in 5 folders) and rollback, from
// the GitHub source (internal/ghserver on 127.0.0.1) and from a signed
// repository (`ota publish`, served by nginx on 127.0.0.1, or `source: dir`
// when nginx is missing). For each: wall time, HTTP requests, response body
// bytes, and the peak RSS of the ota process (ru_maxrss from wait4, the same
// figure as `/usr/bin/time -f %M`). The no-op check is run once more under
// `strace -f -c` (when strace is installed) to count the files it opens and
// reads. Beside them, `git clone` and `git fetch` of the same repository and
// change over git daemon on 127.0.0.1 (TCP payload through a counting relay).
//
// The repository is written with `git fast-import`: 20 top folders of 15
// sub-folders (320 folders), 99,996 small text files (60 B–1.6 KB) and 4
// larger ones (1 MiB each). GitHub truncates a recursive tree listing at
// 100,000 entries or 7 MB; ghserver is told to truncate where the 7 MB
// would fall (measured on the repository), as GitHub would.
//
// Usage, from the repository root:
//
//	go run ./bench/scale > bench/results/scale.md
//
// Flags: -files N (default 100000), -keep (keep the scratch folder),
// -profdir DIR (heap profiles). $SCALE_TMP is the scratch parent folder
// (the results use a tmpfs: SCALE_TMP=/dev/shm/scale, created first).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otafleet/ota/bench/internal/gitd"
	"github.com/otafleet/ota/internal/ghserver"
)

const (
	tops, subs = 20, 15 // 300 leaf folders + 20 top folders
	bigFiles   = 4
	bigSize    = 1 << 20
	changed    = 20 // in 5 folders
)

var (
	nFiles = flag.Int("files", 100000, "files in the repository")
	keep   = flag.Bool("keep", false, "keep the scratch folder")
	prof   = flag.String("profdir", "", "build bench/scale/otaprof instead of cmd/ota and write a heap profile near each operation's peak into this folder (the RSS figures then include the profiler)")
	profN  int
	notes  []string // printed under the tables
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

var gitEnv = []string{"GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@x", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@x", "GIT_CONFIG_NOSYSTEM=1"}

func git(dir, home string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "HOME="+home), gitEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		must(fmt.Errorf("git %v: %v %s", args, err, stderr.Bytes()))
	}
	return strings.TrimSpace(string(out))
}

// filePath is the path of file i: folder pkgNN/modMM, or assets/ for the big ones.
func filePath(i int) string {
	if i >= *nFiles-bigFiles {
		return fmt.Sprintf("assets/blob%d.bin", i-(*nFiles-bigFiles))
	}
	leaf := i % (tops * subs)
	return fmt.Sprintf("pkg%02d/mod%02d/file%06d.py", leaf/subs, leaf%subs, i)
}

var words = strings.Fields("def return import self value config device update sensor read write close open " +
	"status error retry timeout buffer index count name path data json print logging time result")

// content is deterministic text for file i at version v: 60 B – 1.6 KB of
// code-like lines, or bigSize bytes for the large files.
func content(i, v int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(v)))
	size := 60 + r.IntN(1540)
	if i >= *nFiles-bigFiles {
		size = bigSize
	}
	var b bytes.Buffer
	b.Grow(size + 80)
	fmt.Fprintf(&b, "# file %d version %d\n", i, v)
	for b.Len() < size {
		n := 2 + r.IntN(6)
		for k := 0; k < n; k++ {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		fmt.Fprintf(&b, " %d\n", r.IntN(100000))
	}
	return b.Bytes()[:size]
}

// changedFile: 4 files in each of the folders pkg00/mod00, pkg04/mod00, …
// (5 folders), 20 files in all.
func changedFile(i int) bool {
	if i >= *nFiles-bigFiles {
		return false
	}
	leaf := i % (tops * subs)
	return leaf%(4*subs) == 0 && i/(tops*subs) < changed/5
}

// makeRepo writes a bare repository with main = v1 (all files) and
// refs/heads/v2 = v1 plus the 20 changed files, through git fast-import.
func makeRepo(dir, home string) (changedBytes int64, totalBytes int64) {
	git(filepath.Dir(dir), home, "init", "-q", "--bare", "-b", "main", dir)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "HOME="+home), gitEnv...)
	in, err := cmd.StdinPipe()
	must(err)
	cmd.Stderr = os.Stderr
	must(cmd.Start())
	w := bufio.NewWriterSize(in, 1<<20)
	blob := func(mark int, data []byte) {
		fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n", mark, len(data))
		w.Write(data)
		w.WriteByte('\n')
	}
	for i := 0; i < *nFiles; i++ {
		c := content(i, 1)
		totalBytes += int64(len(c))
		blob(i+1, c)
	}
	commit := func(ref string, mark int, from string, msg string, files []int, markOf func(int) int) {
		fmt.Fprintf(w, "commit %s\nmark :%d\ncommitter b <b@x> 1767225600 +0000\ndata %d\n%s\n", ref, mark, len(msg), msg)
		if from != "" {
			fmt.Fprintf(w, "from %s\n", from)
		}
		for _, i := range files {
			fmt.Fprintf(w, "M 100644 :%d %s\n", markOf(i), filePath(i))
		}
	}
	all := make([]int, *nFiles)
	for i := range all {
		all[i] = i
	}
	c1 := *nFiles + 1
	commit("refs/heads/main", c1, "", "v1", all, func(i int) int { return i + 1 })
	var ch []int
	for i := 0; i < *nFiles; i++ {
		if changedFile(i) {
			ch = append(ch, i)
			c := content(i, 2)
			changedBytes += int64(len(c))
			blob(c1+1+len(ch), c)
		}
	}
	if len(ch) != changed {
		must(fmt.Errorf("changed %d files, want %d", len(ch), changed))
	}
	idx := map[int]int{}
	for k, i := range ch {
		idx[i] = c1 + 1 + k + 1
	}
	commit("refs/heads/v2", c1+100, fmt.Sprintf(":%d", c1), "v2", ch, func(i int) int { return idx[i] })
	fmt.Fprintf(w, "reset refs/tags/v1\nfrom :%d\n\n", c1)
	must(w.Flush())
	must(in.Close())
	must(cmd.Wait())
	return changedBytes, totalBytes
}

// result is one ota process.
type result struct {
	wall       time.Duration
	rssKB      int64
	reqs       int
	n304       int
	bytes      int64
	err        string
	openFiles  int // no-op under strace: openat calls
	readCalls  int
	statCalls  int
	straceNote string
}

func runOta(bin, cfg string, env []string, args ...string) result {
	// /usr/bin/time forks and execs ota: ru_maxrss of a process started
	// straight from this one would include this process's RSS (Linux keeps
	// the high-water mark of the mm replaced at exec, and Go starts children
	// with CLONE_VM), so the figure comes from time's own child.
	rss, err := os.CreateTemp("", "rss")
	must(err)
	rss.Close()
	defer os.Remove(rss.Name())
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rss.Name(), bin, "--config", cfg, "--progress", "never"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if *prof != "" {
		profN++
		name := fmt.Sprintf("%02d-%s-%s.pb.gz", profN, filepath.Base(filepath.Dir(cfg)), args[0])
		cmd.Env = append(cmd.Env, "OTA_HEAPPROF="+filepath.Join(*prof, name))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	r := result{wall: time.Since(start)}
	if b, e := os.ReadFile(rss.Name()); e == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		r.rssKB, _ = strconv.ParseInt(lines[len(lines)-1], 10, 64)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "WARN") || strings.Contains(l, "level=warn") || strings.HasPrefix(l, "warning") {
			note := fmt.Sprintf("`ota %s` (%s) logged: %s", strings.Join(args, " "), filepath.Base(filepath.Dir(cfg)), oneLine(l))
			notes = append(notes, note)
			logf("%s", note)
		}
	}
	if err != nil {
		msg := out.String()
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		r.err = fmt.Sprintf("%v: %s", err, strings.TrimSpace(msg))
		logf("ota %v: %s", args, r.err)
	}
	return r
}

// straceNoop runs `ota check` under strace -f -c and counts the syscalls
// that would read files.
func straceNoop(bin, cfg, tmp string) result {
	if _, err := exec.LookPath("strace"); err != nil {
		return result{straceNote: "strace not installed"}
	}
	sum := filepath.Join(tmp, "strace.sum")
	cmd := exec.Command("strace", "-f", "-c", "-o", sum, bin, "--config", cfg, "--progress", "never", "check")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{straceNote: fmt.Sprintf("strace failed: %v %s", err, out)}
	}
	b, err := os.ReadFile(sum)
	must(err)
	var r result
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		name := f[len(f)-1]
		// columns: %time seconds usecs/call calls [errors] syscall
		calls, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		switch name {
		case "openat", "open":
			r.openFiles += calls
		case "read", "pread64", "readv":
			r.readCalls += calls
		case "newfstatat", "fstatat64", "statx", "fstat", "lstat", "stat":
			r.statCalls += calls
		}
	}
	return r
}

func main() {
	flag.Parse()
	total := time.Now()
	base := os.Getenv("SCALE_TMP")
	tmp, err := os.MkdirTemp(base, "ota-bench-scale")
	must(err)
	must(os.Chmod(tmp, 0o755))
	if !*keep {
		defer os.RemoveAll(tmp)
	} else {
		logf("scratch folder %s", tmp)
	}
	home := filepath.Join(tmp, "home")
	must(os.MkdirAll(home, 0o755))
	bin := filepath.Join(tmp, "ota")
	pkg := "./cmd/ota"
	if *prof != "" {
		pkg = "./bench/scale/otaprof"
		must(os.MkdirAll(*prof, 0o755))
	}
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		must(fmt.Errorf("build: %v %s", err, out))
	}

	logf("generating %d files with git fast-import", *nFiles)
	t0 := time.Now()
	repoDir := filepath.Join(tmp, "srv.git")
	changedBytes, totalBytes := makeRepo(repoDir, home)
	genTime := time.Since(t0)
	v1 := git(repoDir, home, "rev-parse", "main")
	v2 := git(repoDir, home, "rev-parse", "v2")
	folders := len(strings.Split(git(repoDir, home, "ls-tree", "-r", "-d", "--name-only", v1), "\n"))
	logf("repository ready in %v: %d folders, %d bytes", genTime.Round(time.Millisecond), folders, totalBytes)

	// ---- GitHub source ----
	srv := ghserver.Start(home)
	defer srv.Close()
	srv.AddRepo("bench", "app", repoDir)
	truncAt, fullTree := githubTruncation(srv, v1)
	srv.SetKnobs(ghserver.Knobs{TruncateTreesAt: truncAt})
	srv.ResetRequests()
	count := func(r *result) {
		for _, q := range srv.Requests() {
			r.reqs++
			r.bytes += q.Bytes
			if q.Status == 304 {
				r.n304++
			}
		}
		srv.ResetRequests()
	}
	gh := map[string]result{}
	ghDev := filepath.Join(tmp, "dev-github")
	must(os.MkdirAll(ghDev, 0o755))
	ghCfg := filepath.Join(ghDev, "ota_config.json")
	writeGHConfig := func(extra string) {
		must(os.WriteFile(ghCfg, []byte(fmt.Sprintf(`{"owner":"bench","repo":"app","channel":"developer","api_url":%q,"raw_url":%q%s}`,
			srv.API.URL, srv.Raw.URL, extra)), 0o644))
	}
	writeGHConfig("")
	logf("github: first install")
	r := runOta(bin, ghCfg, nil, "update")
	count(&r)
	if r.err != "" {
		gh["install (default config)"] = r
		notes = append(notes, "GitHub first install with the default config failed: "+oneLine(r.err))
		writeGHConfig(`,"max_tree_size_kb":0`)
		logf("github: first install, max_tree_size_kb 0")
		r = runOta(bin, ghCfg, nil, "update")
		count(&r)
	}
	gh["install"] = r
	logf("github: no-op check")
	r = runOta(bin, ghCfg, nil, "check")
	count(&r)
	gh["noop"] = r
	gh["noop-strace"] = straceNoop(bin, ghCfg, tmp)
	srv.ResetRequests()
	git(repoDir, home, "update-ref", "refs/heads/main", v2)
	logf("github: update")
	r = runOta(bin, ghCfg, nil, "update")
	count(&r)
	gh["update"] = r
	logf("github: rollback")
	r = runOta(bin, ghCfg, nil, "rollback")
	count(&r)
	gh["rollback"] = r
	git(repoDir, home, "update-ref", "refs/heads/main", v1)

	// ---- signed repository ----
	sg := map[string]result{}
	keys, pub := filepath.Join(tmp, "keys"), filepath.Join(tmp, "pub")
	logf("signed: keygen + publish v1")
	pubRes := map[string]result{}
	pubRes["keygen"] = runOta(bin, filepath.Join(tmp, "none.json"), nil, "keygen", keys)
	pubArgs := []string{"publish", "--src", repoDir, "--out", pub, "--keys", keys}
	pubRes["v1"] = runOta(bin, filepath.Join(tmp, "none.json"), nil, append(pubArgs, "--ref", "v1")...)
	if pubRes["v1"].err != "" {
		// The legacy full latest.json of 100,000 files is over the 16 MiB
		// metadata limit: publish the head format only.
		notes = append(notes, "`ota publish` with its defaults failed: "+oneLine(pubRes["v1"].err)+"; published again with `--legacy-latest=false`.")
		pubRes["v1 (default)"] = pubRes["v1"]
		pubArgs = append(pubArgs, "--legacy-latest=false")
		pubRes["v1"] = runOta(bin, filepath.Join(tmp, "none.json"), nil, append(pubArgs, "--ref", "v1")...)
	}
	rootPub, err := os.ReadFile(filepath.Join(keys, "root.pub"))
	must(err)
	ng := startNginx(tmp, pub)
	sgDev := filepath.Join(tmp, "dev-signed")
	must(os.MkdirAll(sgDev, 0o755))
	sgCfg := filepath.Join(sgDev, "ota_config.json")
	source := "nginx"
	if ng != nil {
		defer ng.stop()
		must(os.WriteFile(sgCfg, []byte(fmt.Sprintf(`{"source":"http","url":%q,"trusted_keys":[%q]}`,
			ng.url+"/", strings.TrimSpace(string(rootPub)))), 0o644))
	} else {
		source = "dir (nginx not installed)"
		must(os.WriteFile(sgCfg, []byte(fmt.Sprintf(`{"source":"dir","path":%q,"trusted_keys":[%q]}`,
			pub, strings.TrimSpace(string(rootPub)))), 0o644))
	}
	countNg := func(r *result) {
		if ng != nil {
			r.reqs, r.n304, r.bytes = ng.count()
		}
	}
	logf("signed: first install")
	r = runOta(bin, sgCfg, nil, "update")
	countNg(&r)
	sg["install"] = r
	logf("signed: no-op check")
	r = runOta(bin, sgCfg, nil, "check")
	countNg(&r)
	sg["noop"] = r
	sg["noop-strace"] = straceNoop(bin, sgCfg, tmp)
	if ng != nil {
		ng.count()
	}
	logf("signed: publish v2")
	pubRes["v2"] = runOta(bin, filepath.Join(tmp, "none.json"), nil, append(pubArgs, "--ref", "v2")...)
	logf("signed: update")
	r = runOta(bin, sgCfg, nil, "update")
	countNg(&r)
	sg["update"] = r
	logf("signed: rollback")
	r = runOta(bin, sgCfg, nil, "rollback")
	countNg(&r)
	sg["rollback"] = r

	// ---- git ----
	logf("git: clone and fetch over git daemon")
	gd := startGitDaemon(tmp, home)
	defer gd.Stop()
	gitDev := filepath.Join(tmp, "gitdev")
	var cloneT, fetchT time.Duration
	clone := gd.Count(func() {
		s := time.Now()
		git(tmp, home, "clone", "-q", "--single-branch", "--branch", "main", gd.URL+"/srv.git", gitDev) // not refs/heads/v2, the update
		cloneT = time.Since(s)
	})
	git(repoDir, home, "update-ref", "refs/heads/main", v2)
	fetch := gd.Count(func() {
		s := time.Now()
		git(gitDev, home, "fetch", "-q", "origin")
		git(gitDev, home, "merge", "-q", "--ff-only", "origin/main")
		fetchT = time.Since(s)
	})

	// ---- report ----
	mib := func(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	over := func(kb int64) string {
		if kb > 32*1024 {
			return " **(> 32 MiB)**"
		}
		return ""
	}
	fmt.Printf("# Scale: %d files (issue 11 point 5)\n\n", *nFiles)
	envPrefix := ""
	if base != "" {
		envPrefix = "SCALE_TMP=" + base + " "
	}
	fmt.Printf("Command: `%sgo run ./bench/scale > bench/results/scale.md` (run %s, %s, %s, %d CPUs, scratch on %s)\n\n",
		envPrefix, time.Now().UTC().Format("2006-01-02T15:04Z"), goVersion(), cmdVersion("git", "--version"), nprocs(), fsOf(tmp))
	fmt.Printf("Repository: %d files in %d folders (20 top folders of 15 sub-folders, plus `assets/`), %d bytes of content:\n", *nFiles, folders, totalBytes)
	fmt.Printf("%d small code-like text files (60 B – 1.6 KB) and %d of 1 MiB; written with `git fast-import` in %v.\n", *nFiles-bigFiles, bigFiles, genTime.Round(time.Millisecond))
	fmt.Printf("The update: %d files changed in 5 folders (`pkg00/mod00`, `pkg04/mod00`, … `pkg16/mod00`), %d bytes of new content.\n\n", changed, changedBytes)
	fmt.Printf("`ota` is the real binary (`CGO_ENABLED=0`), one process per operation, default device config except where noted.\n")
	fmt.Printf("Peak RSS is `ru_maxrss` of that process from wait4 (what `/usr/bin/time -f %%M` prints). Requests and\n")
	fmt.Printf("bytes are HTTP response bodies: ghserver's log, nginx's access log (`$body_bytes_sent`).\n")
	fmt.Printf("GitHub cuts a recursive tree at 100,000 entries or 7 MB; this tree's full recursive JSON from ghserver is %d bytes\n", fullTree)
	fmt.Printf("for %d entries, so ghserver truncates at %d entries (where 7 MB falls), as GitHub would.\n\n", folders+*nFiles, truncAt)
	row := func(op, src string, r result, extra string) {
		if r.err != "" {
			fmt.Printf("| %s | %s | %v | %d | %d | %s%s | FAILED: `%s` |\n", op, src, r.wall.Round(time.Millisecond), r.reqs, r.bytes, mib(r.rssKB), over(r.rssKB), oneLine(r.err))
			return
		}
		fmt.Printf("| %s | %s | %v | %d%s | %d | %s%s | %s |\n", op, src, r.wall.Round(time.Millisecond), r.reqs, n304(r), r.bytes, mib(r.rssKB), over(r.rssKB), extra)
	}
	fmt.Println("| operation | source | wall time | requests | body bytes | peak RSS | note |")
	fmt.Println("|---|---|---|---|---|---|---|")
	if r, ok := gh["install (default config)"]; ok {
		row("first install, default config", "GitHub", r, "")
		row("first install, `max_tree_size_kb: 0`", "GitHub", gh["install"], "")
	} else {
		row("first install", "GitHub", gh["install"], "")
	}
	row("no-op `ota check`", "GitHub", gh["noop"], straceText(gh["noop-strace"]))
	row("update, 20 files in 5 folders", "GitHub", gh["update"], "")
	row("`ota rollback` (in place)", "GitHub", gh["rollback"], "")
	row("first install", "signed, "+source, sg["install"], "")
	row("no-op `ota check`", "signed, "+source, sg["noop"], straceText(sg["noop-strace"]))
	row("update, 20 files in 5 folders", "signed, "+source, sg["update"], "")
	row("`ota rollback` (in place)", "signed, "+source, sg["rollback"], "")
	fmt.Println()
	fmt.Println("Publisher side (not a device operation, for scale): ")
	fmt.Println()
	fmt.Println("| `ota publish` | wall time | peak RSS |")
	fmt.Println("|---|---|---|")
	for _, k := range []string{"v1 (default)", "v1", "v2"} {
		p, ok := pubRes[k]
		if !ok {
			continue
		}
		status := ""
		if p.err != "" {
			status = " FAILED: " + oneLine(p.err)
		}
		fmt.Printf("| %s | %v | %s%s |\n", k, p.wall.Round(time.Millisecond), mib(p.rssKB), status)
	}
	fmt.Println()
	fmt.Println("git over `git daemon` on 127.0.0.1, same repository and change (TCP payload through a counting relay,")
	fmt.Println("protocol included; the fetch time includes the fast-forward checkout):")
	fmt.Println()
	fmt.Println("| git | wall time | bytes down | bytes up |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| `git clone` (first install) | %v | %d | %d |\n", cloneT.Round(time.Millisecond), clone.Down, clone.Up)
	fmt.Printf("| `git fetch` + merge (the update) | %v | %d | %d |\n", fetchT.Round(time.Millisecond), fetch.Down, fetch.Up)
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	logf("done in %v", time.Since(total).Round(time.Second))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	s = strings.ReplaceAll(s, "`", "'")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func n304(r result) string {
	if r.n304 > 0 {
		return fmt.Sprintf(" (%d × 304)", r.n304)
	}
	return ""
}

func straceText(r result) string {
	if r.straceNote != "" {
		return r.straceNote
	}
	return fmt.Sprintf("under `strace -f -c`: %d openat, %d read, %d stat calls", r.openFiles, r.readCalls, r.statCalls)
}

// githubTruncation fetches the full recursive tree once and returns the
// entry count at which GitHub's 7 MB cap would cut it (at most 100,000),
// and the full size.
func githubTruncation(srv *ghserver.Server, commit string) (int, int64) {
	resp, err := http.Get(srv.API.URL + "/repos/bench/app/git/trees/" + commit + "?recursive=1")
	must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(err)
	entries := bytes.Count(b, []byte(`"path":`))
	at := int(float64(entries) * 7e6 / float64(len(b)))
	if at > 100000 {
		at = 100000
	}
	if at >= entries {
		at = 0 // not truncated
	}
	srv.ResetRequests()
	return at, int64(len(b))
}

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func cmdVersion(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func nprocs() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

func fsOf(dir string) string {
	out, err := exec.Command("stat", "-f", "-c", "%T", dir).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// ---- nginx ----

type nginx struct {
	cmd  *exec.Cmd
	url  string
	log  string
	seen int
}

func startNginx(tmp, root string) *nginx {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/nginx"); e != nil {
			return nil
		}
		bin = "/usr/sbin/nginx"
	}
	dir := filepath.Join(tmp, "nginx")
	must(os.MkdirAll(dir, 0o755))
	port := freePort()
	user := ""
	if os.Getuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 256; }
http {
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path %[2]s/client_body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  sendfile on;
  keepalive_timeout 65;
  log_format bench '$status $body_bytes_sent "$request"';
  server {
    listen 127.0.0.1:%[3]d;
    root %[4]s;
    access_log %[2]s/access.log bench;
  }
}
`, user, dir, port, root)
	must(os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stderr = os.Stderr
	must(cmd.Start())
	waitPort(port)
	return &nginx{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, "access.log")}
}

var ngLine = regexp.MustCompile(`^(\d+) (\d+) "`)

// count returns requests, 304s and body bytes logged since the last call.
func (n *nginx) count() (reqs, n304 int, bytes int64) {
	time.Sleep(200 * time.Millisecond)
	b, err := os.ReadFile(n.log)
	if err != nil {
		return 0, 0, 0
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	for _, l := range lines[n.seen:] {
		m := ngLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		reqs++
		if m[1] == "304" {
			n304++
		}
		v, _ := strconv.ParseInt(m[2], 10, 64)
		bytes += v
	}
	n.seen = len(lines)
	return
}

func (n *nginx) stop() {
	n.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		n.cmd.Process.Kill()
		<-done
	}
}

func waitPort(port int) { must(gitd.WaitPort(port)) }

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
