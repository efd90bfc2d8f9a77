// Package demo is `ota-demo` (cmd/ota-demo): an offline walk through an update. It makes a
// real git repository, serves it through a local GitHub-compatible server on
// 127.0.0.1, and updates a device folder through two versions with the same
// Updater the agent uses, printing each step.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/engine"
	"github.com/otafleet/ota/internal/ghserver"
	"github.com/otafleet/ota/internal/state"
)

// Options configure the demo.
type Options struct {
	Dir      string // work folder; empty: a temporary one, removed at the end
	Out      io.Writer
	Progress engine.Progress
}

type step struct {
	w io.Writer
	n int
}

func (s *step) say(format string, a ...any) {
	s.n++
	fmt.Fprintf(s.w, "\n== %d. %s\n", s.n, fmt.Sprintf(format, a...))
}

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	if _, err := exec.LookPath("git"); err != nil {
		return errors.New("the demo needs git on PATH (apt-get install git)")
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "ota-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	repo, device, home := filepath.Join(dir, "repo"), filepath.Join(dir, "device"), filepath.Join(dir, "home")
	for _, d := range []string{repo, device, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	g := gitRunner{dir: repo, home: home}
	s := &step{w: o.Out}

	s.say("A git repository with the application, version 1 (%s)", repo)
	v1 := map[string]string{
		"main.py":       "from lib import sensor\nprint('app v1:', sensor.read())\n",
		"lib/sensor.py": "def read():\n    return 21.5\n",
		"lib/old.py":    "# removed in v2\n",
		"bin/start.sh":  "#!/bin/sh\nexec python3 main.py\n",
		"README.txt":    "demo application\n",
	}
	if err := g.init(); err != nil {
		return err
	}
	c1, err := g.commit("v1", v1, map[string]bool{"bin/start.sh": true})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "commit %s\n", c1[:12])

	srv := ghserver.Start(home)
	defer srv.Close()
	srv.AddRepo("demo", "app", repo)
	fmt.Fprintf(o.Out, "serving it as demo/app: API %s, raw files %s\n", srv.API.URL, srv.Raw.URL)

	s.say("A device folder with local data and ota_config.json (%s)", device)
	os.WriteFile(filepath.Join(device, "sensor.log"), []byte("local data ota never touches\n"), 0o644)
	cfgText := fmt.Sprintf(`{
  "owner": "demo",
  "repo": "app",
  "channel": "developer",
  "api_url": %q,
  "raw_url": %q
}
`, srv.API.URL, srv.Raw.URL)
	cfgPath := filepath.Join(device, "ota_config.json")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	fmt.Fprint(o.Out, cfgText)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	u, err := engine.New(cfg, engine.Options{Progress: o.Progress})
	if err != nil {
		return err
	}

	s.say("ota check: what would change")
	if err := check(ctx, o.Out, u); err != nil {
		return err
	}
	s.say("ota update: install version 1")
	if err := update(ctx, o.Out, u); err != nil {
		return err
	}
	listing(o.Out, device)

	s.say("Version 2 in the repository: one file changed, one added, one deleted")
	v2 := map[string]string{}
	for k, v := range v1 {
		v2[k] = v
	}
	v2["lib/sensor.py"] = "def read():\n    return round(21.5 * 1.01, 2)  # calibrated\n"
	v2["lib/net.py"] = "def post(value):\n    pass\n"
	delete(v2, "lib/old.py")
	c2, err := g.commit("v2", v2, map[string]bool{"bin/start.sh": true})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "commit %s\n", c2[:12])

	s.say("ota check, then ota update: only the changed files travel")
	if err := check(ctx, o.Out, u); err != nil {
		return err
	}
	if err := update(ctx, o.Out, u); err != nil {
		return err
	}
	listing(o.Out, device)

	s.say("ota check again: nothing changed upstream, so it costs one request answered 304")
	srv.ResetRequests()
	if err := check(ctx, o.Out, u); err != nil {
		return err
	}
	for _, r := range srv.Requests() {
		fmt.Fprintf(o.Out, "  request: %s\n", r)
	}

	s.say("ota rollback: back to version 1 from kept files, no download")
	r, err := u.Rollback(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "rolled back %s -> %s\n", state.Format(r.Previous), state.Format(&r.Current))
	listing(o.Out, device)

	s.say("Done")
	fmt.Fprintln(o.Out, "The device folder always held one complete version; version.json names it:")
	b, _ := os.ReadFile(filepath.Join(device, "version.json"))
	fmt.Fprintf(o.Out, "  %s\n", b)
	if o.Dir != "" {
		fmt.Fprintf(o.Out, "Files kept in %s. Try: ota --config %s status\n", dir, cfgPath)
	}
	return nil
}

func check(ctx context.Context, w io.Writer, u *engine.Engine) error {
	r, err := u.Check(ctx, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "installed %s, target %s\n", state.Format(r.Current), state.Format(&r.Target))
	if !r.UpdateAvailable {
		fmt.Fprintln(w, "up to date")
		return nil
	}
	for _, p := range r.Add {
		fmt.Fprintf(w, "  + %s\n", p)
	}
	for _, p := range r.Modify {
		fmt.Fprintf(w, "  ~ %s\n", p)
	}
	for _, p := range r.Delete {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	fmt.Fprintf(w, "%d bytes to download\n", r.DownloadBytes)
	return nil
}

func update(ctx context.Context, w io.Writer, u *engine.Engine) error {
	r, err := u.Update(ctx, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "updated %s -> %s: %d added, %d modified, %d deleted, %d files (%d bytes) downloaded\n",
		state.Format(r.Previous), state.Format(&r.Current), r.Added, r.Modified, r.Deleted, r.FilesDownloaded, r.BytesDownloaded)
	return nil
}

func listing(w io.Writer, dir string) {
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, ".ota") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			fi, _ := d.Info()
			lines = append(lines, fmt.Sprintf("  %s  %s (%d bytes)", fi.Mode().Perm(), rel, fi.Size()))
		}
		return nil
	})
	sort.Strings(lines)
	fmt.Fprintln(w, "device folder:")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

type gitRunner struct{ dir, home string }

func (g gitRunner) run(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "HOME="+g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=demo",
		"GIT_AUTHOR_EMAIL=demo@example.invalid", "GIT_COMMITTER_NAME=demo", "GIT_COMMITTER_EMAIL=demo@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (g gitRunner) init() error {
	_, err := g.run("init", "-q", "-b", "main")
	return err
}

// commit makes the work tree exactly files and commits it.
func (g gitRunner) commit(msg string, files map[string]string, exe map[string]bool) (string, error) {
	if _, err := g.run("rm", "-rq", "--ignore-unmatch", "."); err != nil {
		return "", err
	}
	for p, c := range files {
		full := filepath.Join(g.dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		mode := os.FileMode(0o644)
		if exe[p] {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			return "", err
		}
		os.Chmod(full, mode)
	}
	if _, err := g.run("add", "-A"); err != nil {
		return "", err
	}
	if _, err := g.run("commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	return g.run("rev-parse", "HEAD")
}
