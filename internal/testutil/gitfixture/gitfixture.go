// Package gitfixture builds real git repositories with the git CLI for
// tests: successive commits of whole file trees (content, executable bit,
// symlinks, empty files, non-ASCII names, nested folders), lightweight and
// annotated tags, branches.
//
// Invariants: every repository lives in t.TempDir(); git runs with an empty
// global/system config and fixed author/committer dates, so the same calls
// produce the same commit SHAs on every machine.
package gitfixture

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// File is one file of a commit. Exactly one of Content or Symlink is used.
type File struct {
	Content    string
	Executable bool
	Symlink    string // when set, the file is a symlink with this target
}

// Repo is a git repository on disk.
type Repo struct {
	Dir   string
	t     testing.TB
	clock time.Time
}

// epoch is the author date of the first commit; each commit adds a minute.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// New creates an empty repository whose first branch is "main".
func New(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := &Repo{Dir: t.TempDir(), t: t, clock: epoch}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "core.symlinks", "true")
	r.Git("config", "core.fileMode", "true")
	return r
}

// Env returns the environment git runs with (isolated from user config).
func Env(home string) []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "HOME="+home,
		"GIT_AUTHOR_NAME=ota test", "GIT_AUTHOR_EMAIL=test@ota.invalid",
		"GIT_COMMITTER_NAME=ota test", "GIT_COMMITTER_EMAIL=test@ota.invalid",
		"LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
}

// Git runs git in the repository and returns trimmed stdout; it fails the
// test on error.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	out, err := r.run(nil, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (r *Repo) run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	date := r.clock.Format(time.RFC3339)
	cmd.Env = append(Env(r.Dir), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Commit makes the working tree exactly files (everything else is removed)
// and commits it on the current branch. It returns the commit SHA.
func (r *Repo) Commit(msg string, files map[string]File) string {
	r.t.Helper()
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.Dir, e.Name())); err != nil {
			r.t.Fatal(err)
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := files[name]
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		switch {
		case f.Symlink != "":
			err = os.Symlink(f.Symlink, p)
		case f.Executable:
			err = os.WriteFile(p, []byte(f.Content), 0o755)
			if err == nil {
				err = os.Chmod(p, 0o755)
			}
		default:
			err = os.WriteFile(p, []byte(f.Content), 0o644)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	r.clock = r.clock.Add(time.Minute)
	return r.Git("rev-parse", "HEAD")
}

// Tag creates a lightweight tag at rev.
func (r *Repo) Tag(name, rev string) { r.t.Helper(); r.Git("tag", name, rev) }

// AnnotatedTag creates an annotated tag at rev (which may itself be an
// annotated tag, giving a nested tag) and returns the tag object SHA.
func (r *Repo) AnnotatedTag(name, rev, msg string) string {
	r.t.Helper()
	target := rev
	if r.Git("cat-file", "-t", rev) == "tag" {
		target = r.Git("rev-parse", rev) // tag the tag object itself
	}
	r.Git("tag", "-a", "-m", msg, name, target)
	return r.Git("rev-parse", "refs/tags/"+name)
}

// Branch creates (or moves) branch name to rev.
func (r *Repo) Branch(name, rev string) { r.t.Helper(); r.Git("branch", "-f", name, rev) }

// Switch checks out branch name, creating it at HEAD if missing.
func (r *Repo) Switch(name string) {
	r.t.Helper()
	if _, err := r.run(nil, "rev-parse", "--verify", "-q", "refs/heads/"+name); err != nil {
		r.Git("switch", "-q", "-c", name)
		return
	}
	r.Git("switch", "-q", name)
}

// RevParse returns the full SHA of rev.
func (r *Repo) RevParse(rev string) string { r.t.Helper(); return r.Git("rev-parse", rev) }

// TreeEntry is one line of `git ls-tree -r -l`.
type TreeEntry struct {
	Mode uint32
	Type string // blob or commit
	SHA  string
	Size int64 // -1 for submodules
	Path string
}

// LsTree lists every blob (and submodule) of rev recursively.
func (r *Repo) LsTree(rev string) []TreeEntry {
	r.t.Helper()
	out, err := r.run(nil, "ls-tree", "-r", "-l", "-z", rev)
	if err != nil {
		r.t.Fatal(err)
	}
	entries, err := ParseLsTree(out)
	if err != nil {
		r.t.Fatal(err)
	}
	return entries
}

// ParseLsTree parses `git ls-tree -l -z` output.
func ParseLsTree(out []byte) ([]TreeEntry, error) {
	var entries []TreeEntry
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, path, ok := strings.Cut(string(rec), "\t")
		if !ok {
			return nil, fmt.Errorf("bad ls-tree record %q", rec)
		}
		f := strings.Fields(meta)
		if len(f) != 4 {
			return nil, fmt.Errorf("bad ls-tree record %q", rec)
		}
		mode, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("bad mode in %q", rec)
		}
		size := int64(-1)
		if f[3] != "-" {
			if size, err = strconv.ParseInt(f[3], 10, 64); err != nil {
				return nil, fmt.Errorf("bad size in %q", rec)
			}
		}
		entries = append(entries, TreeEntry{Mode: uint32(mode), Type: f[1], SHA: f[2], Size: size, Path: path})
	}
	return entries, nil
}

// CatBlob returns the content of a blob.
func (r *Repo) CatBlob(sha string) []byte {
	r.t.Helper()
	out, err := r.run(nil, "cat-file", "blob", sha)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// WriteBlob stores data as a blob (not referenced by any tree) and returns
// its SHA.
func (r *Repo) WriteBlob(data []byte) string {
	r.t.Helper()
	out, err := r.run(data, "hash-object", "-w", "--stdin")
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// AddSubmodule amends HEAD so that path is a submodule (gitlink, mode
// 160000) pointing at commit sha, and returns the new HEAD. The next Commit
// drops it again.
func (r *Repo) AddSubmodule(path, sha string) string {
	r.t.Helper()
	r.Git("update-index", "--add", "--cacheinfo", "160000,"+sha+","+path)
	r.Git("commit", "-q", "--amend", "--no-edit")
	r.clock = r.clock.Add(time.Minute)
	return r.Git("rev-parse", "HEAD")
}
