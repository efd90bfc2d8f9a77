package publish

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/otafleet/ota/repo"
)

// tree is what a source directory or git commit contributes to a release.
type tree struct {
	ref, commit string
	files       []repo.File
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// gitTree reads every blob of ref through "git ls-tree -r -z" and
// "git cat-file --batch", streaming contents into the object store.
func gitTree(ctx context.Context, log *slog.Logger, st *store, dir, ref string) (*tree, error) {
	out, err := git(ctx, dir, "rev-parse", "--verify", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("resolve %q in %s: %w", ref, dir, err)
	}
	commit := strings.TrimSpace(string(out))
	out, err = git(ctx, dir, "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return nil, err
	}
	t := &tree{ref: ref, commit: commit}
	var want []string
	seen := map[string]bool{}
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, path, ok := bytes.Cut(rec, []byte{'\t'})
		f := strings.Fields(string(meta))
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("git ls-tree: unexpected record %q", rec)
		}
		if f[1] != "blob" {
			log.Warn("skipping non-blob entry (submodule?)", "path", string(path), "type", f[1])
			continue
		}
		mode, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("git ls-tree: mode %q", f[0])
		}
		if err := repo.CheckPath(string(path)); err != nil {
			return nil, fmt.Errorf("git tree: %w", err)
		}
		t.files = append(t.files, repo.File{Path: string(path), Mode: uint32(mode), SHA1: f[2]})
		if !seen[f[2]] {
			seen[f[2]] = true
			want = append(want, f[2])
		}
	}

	blobs, err := catFile(ctx, st, dir, want)
	if err != nil {
		return nil, err
	}
	for i := range t.files {
		f := &t.files[i]
		b := blobs[f.SHA1]
		if b.sha1 != f.SHA1 {
			return nil, fmt.Errorf("blob %s of %s hashed to %s", f.SHA1, f.Path, b.sha1)
		}
		f.SHA256, f.Size = b.sha256, b.size
		if f.Mode == repo.ModeSymlink {
			target, err := st.read(repo.ObjectPath(b.sha256))
			if err != nil {
				return nil, err
			}
			f.LinkTarget = string(target)
		}
	}
	return t, nil
}

func catFile(ctx context.Context, st *store, dir string, shas []string) (map[string]blob, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "cat-file", "--batch")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	go func() {
		w := bufio.NewWriter(stdin)
		for _, s := range shas {
			w.WriteString(s + "\n")
		}
		w.Flush()
		stdin.Close()
	}()
	res := make(map[string]blob, len(shas))
	r := bufio.NewReaderSize(stdout, 64<<10)
	var rerr error
	for range shas {
		hdr, err := r.ReadString('\n')
		if err != nil {
			rerr = fmt.Errorf("git cat-file: %w", err)
			break
		}
		f := strings.Fields(hdr)
		if len(f) != 3 || f[1] != "blob" {
			rerr = fmt.Errorf("git cat-file: unexpected header %q", strings.TrimSpace(hdr))
			break
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			rerr = fmt.Errorf("git cat-file: size %q", f[2])
			break
		}
		b, err := st.putObject(r, size)
		if err != nil {
			rerr = fmt.Errorf("store blob %s: %w", f[0], err)
			break
		}
		if _, err := r.Discard(1); err != nil { // trailing LF
			rerr = fmt.Errorf("git cat-file: %w", err)
			break
		}
		res[f[0]] = b
	}
	if rerr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, rerr
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// dirTree reads a plain folder (skipping .git directories and the folders in
// skip, i.e. the repository being written and the keys). Its "commit" is a
// content id: hex SHA-256 over the sorted "mode sha1 path" lines.
func dirTree(ctx context.Context, log *slog.Logger, st *store, dir, ref string, skip ...string) (*tree, error) {
	t := &tree{ref: ref}
	skipAbs := map[string]bool{}
	for _, s := range skip {
		if s == "" {
			continue
		}
		if a, err := filepath.Abs(s); err == nil {
			skipAbs[a] = true
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			if a, err := filepath.Abs(p); err == nil && skipAbs[a] {
				log.Warn("not publishing the repository or keys folder found inside --src", "path", rel)
				return filepath.SkipDir
			}
			return nil
		}
		if err := repo.CheckPath(rel); err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			b, err := st.putObject(strings.NewReader(target), int64(len(target)))
			if err != nil {
				return err
			}
			t.files = append(t.files, repo.File{Path: rel, Mode: repo.ModeSymlink, Size: b.size,
				SHA256: b.sha256, SHA1: b.sha1, LinkTarget: target})
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			fh, err := os.Open(p)
			if err != nil {
				return err
			}
			b, err := st.putObject(fh, fi.Size())
			fh.Close()
			if err != nil {
				return fmt.Errorf("store %s: %w", rel, err)
			}
			mode := uint32(0o100644)
			if fi.Mode().Perm()&0o111 != 0 {
				mode = 0o100755
			}
			t.files = append(t.files, repo.File{Path: rel, Mode: mode, Size: b.size, SHA256: b.sha256, SHA1: b.sha1})
		default:
			log.Warn("skipping special file", "path", rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	sort.Slice(t.files, func(i, j int) bool { return t.files[i].Path < t.files[j].Path })
	h := sha256.New()
	for _, f := range t.files {
		fmt.Fprintf(h, "%o %s %s\n", f.Mode, f.SHA1, f.Path)
	}
	t.commit = hex.EncodeToString(h.Sum(nil))
	return t, nil
}
