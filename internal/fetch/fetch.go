// Package fetch brings the content of changed files into the stage folder.
//
// Every file is streamed to PartDir/<sha256 of path>.part while its git blob
// SHA-1 (and SHA-256 when the source signed one) and size are checked, then
// fsynced and renamed to Stage/<path>. Nothing is held whole in memory.
// Temporaries live apart from the stage, so no repository path can collide
// with one. A .part left by
// an interrupted run is resumed with an HTTP Range request; a finished staged
// file is reused after re-verification. A delta is tried first when one is
// offered for the installed version, with fallback to the full file.
//
// When most of the tree is needed and the source is a source.Archiver, the
// files come from one archive first (see fromArchive); what the archive
// lacks, or carries with other content where the repository's attributes
// allow it, is then fetched file by file.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/gitobj"
	"github.com/otafleet/ota/internal/pathx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/retry"
	"github.com/otafleet/ota/internal/source"
)

// Patcher applies a delta: it reads old by offset and patch front to back and
// writes the new content to out.
type Patcher func(old io.ReaderAt, oldSize int64, patch io.Reader, out io.Writer) error

// Progress receives byte and file counts; it must be safe for concurrent use.
type Progress interface {
	Add(bytes int64)
	FileDone(path string)
}

// Options configure a Fetcher.
type Options struct {
	FS        fsx.FS
	Source    source.Source
	Target    source.Target
	TargetDir string
	StageDir  string
	// PartDir holds the temporaries of downloads in progress, named by the
	// SHA-256 of their path. It must be a folder no repository path can
	// reach (inside state_dir), so that a repository holding both x and
	// x.part never has a temporary collide with a staged file.
	PartDir  string
	Parallel int
	BufSize  int
	Patch    Patcher // nil disables deltas
	// Attempts bounds tries per file when a transfer breaks mid-body; each
	// retry resumes after the bytes already staged. Backoff is the first
	// wait, doubled per retry (with full jitter) up to MaxBackoff: the
	// internal/retry policy, as for every HTTP request.
	Attempts            int
	Backoff, MaxBackoff time.Duration
	// Sleep replaces the wait between attempts (tests); nil: a timer.
	Sleep    func(ctx context.Context, d time.Duration) error
	Progress Progress
	Logger   *slog.Logger
	// Archive describes the whole target tree, so Run can tell when one
	// archive is cheaper than a request per file; zero never uses one.
	Archive Archive
}

// Archive describes the target tree for the archive decision.
type Archive struct {
	Files int   // files in the target tree
	Bytes int64 // their total size (bounds the uncompressed archive)
	// Attributes: the tree has a .gitattributes file, so archive content
	// may differ from the blob (export-subst, eol or filter attributes).
	// Without one, a file whose archive content does not verify means the
	// archive was tampered with, and the update is refused.
	Attributes bool
}

// minArchiveFiles: below this many files one request per file is as cheap
// as the archive's two (redirect and archive).
const minArchiveFiles = 3

// Stats summarise a fetch.
type Stats struct {
	Files, Deltas, Reused int
	Bytes                 int64 // bytes received from the source
}

// Run stages every change that needs content. It stops at the first error.
func Run(ctx context.Context, o Options, changes []plan.Change) (Stats, error) {
	if o.PartDir == "" {
		return Stats{}, errors.New("fetch: no folder for partial downloads")
	}
	if _, err := fsx.MkdirAll(o.FS, o.PartDir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("create %s: %w", o.PartDir, err)
	}
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.BufSize < 256 {
		o.BufSize = 32 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if p, ok := o.Source.(source.Prefetcher); ok && len(changes) > 1 {
		p.Prefetch(ctx, o.Target, wants(o, changes))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var st Stats
	if a, ok := o.Source.(source.Archiver); ok && useArchive(o, changes) {
		var err error
		if changes, err = fromArchive(ctx, o, a, changes, &st); err != nil {
			return st, err
		}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		work  = make(chan plan.Change)
	)
	for i := 0; i < o.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				s, err := one(ctx, o, c)
				mu.Lock()
				st.Files += s.Files
				st.Deltas += s.Deltas
				st.Reused += s.Reused
				st.Bytes += s.Bytes
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
				if err == nil && o.Progress != nil {
					o.Progress.FileDone(c.Path)
				}
			}
		}()
	}
feed:
	for _, c := range changes {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first == nil {
		// Each commitStaged renamed a file out of PartDir and synced its
		// new folder; a rename is durable only once its old folder is
		// synced too (the strict power-cut model found this).
		if err := o.FS.SyncDir(o.PartDir); err != nil {
			first = fmt.Errorf("sync %s: %w", o.PartDir, err)
		}
	}
	return st, first
}

// wants lists what one() will ask the source for: a delta where one() tries
// one (the same conditions), else the object; mode-only changes need nothing.
func wants(o Options, changes []plan.Change) []source.Want {
	var ws []source.Want
	for _, c := range changes {
		if c.SameContent {
			continue
		}
		w := source.Want{Entry: *c.Entry}
		if o.Patch != nil && c.Entry.Mode != source.ModeSymlink && c.Old != nil && c.Old.Mode != source.ModeSymlink && c.Old.SHA1 != "" {
			w.FromSHA1 = c.Old.SHA1
		}
		ws = append(ws, w)
	}
	return ws
}

func one(ctx context.Context, o Options, c plan.Change) (Stats, error) {
	var st Stats
	e := c.Entry
	dst := path.Join(o.StageDir, c.Path)
	if _, err := fsx.MkdirAll(o.FS, path.Dir(dst), 0o755); err != nil {
		return st, fmt.Errorf("stage %s: %w", c.Path, err)
	}
	if e.Mode == source.ModeSymlink {
		return st, stageSymlink(ctx, o, c, dst, &st)
	}
	if ok, _ := verifyFile(o.FS, dst, e); ok {
		st.Reused++
		return st, nil
	}
	_ = fsx.RemoveAll(o.FS, dst) // a stale or wrong staged entry
	if c.SameContent {
		// Only the mode changes: copy the installed bytes.
		if err := stageCopy(o, path.Join(o.TargetDir, c.Path), dst, e); err == nil {
			st.Reused++
			return st, nil
		}
	}
	if o.Patch != nil && c.Old != nil && c.Old.Mode != source.ModeSymlink && c.Old.SHA1 != "" {
		n, err := stageDelta(ctx, o, c, dst)
		st.Bytes += n
		if err == nil {
			st.Deltas++
			st.Files++
			return st, nil
		}
		if !errors.Is(err, source.ErrNotFound) {
			o.Logger.Warn("delta failed, downloading the whole file", "path", c.Path, "err", err)
		}
	}
	n, err := download(ctx, o, e, dst)
	st.Bytes += n
	if err != nil {
		return st, err
	}
	st.Files++
	return st, nil
}

// verifier checks size, git blob SHA-1 and (when known) SHA-256 while bytes
// are written.
type verifier struct {
	e    *source.Entry
	blob *gitobj.BlobHasher
	sha  hash.Hash
	n    int64
}

func newVerifier(e *source.Entry) *verifier {
	v := &verifier{e: e, blob: gitobj.NewBlobHasher(e.Size)}
	if e.SHA256 != "" {
		v.sha = sha256.New()
	}
	return v
}

func (v *verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	if v.n > v.e.Size {
		return 0, fmt.Errorf("%w: %s: more than the expected %d bytes", source.ErrUnverified, v.e.Path, v.e.Size)
	}
	v.blob.Write(p)
	if v.sha != nil {
		v.sha.Write(p)
	}
	return len(p), nil
}

func (v *verifier) check() error {
	if v.n != v.e.Size {
		return fmt.Errorf("%w: %s: got %d bytes, expected %d", source.ErrUnverified, v.e.Path, v.n, v.e.Size)
	}
	got, _ := v.blob.Sum()
	if got != v.e.BlobSHA1 {
		return fmt.Errorf("%w: %s: git blob SHA-1 %s, expected %s", source.ErrUnverified, v.e.Path, got, v.e.BlobSHA1)
	}
	if v.sha != nil {
		if s := hex.EncodeToString(v.sha.Sum(nil)); s != v.e.SHA256 {
			return fmt.Errorf("%w: %s: SHA-256 %s, expected %s", source.ErrUnverified, v.e.Path, s, v.e.SHA256)
		}
	}
	return nil
}

func perm(e *source.Entry) fs.FileMode {
	if e.Mode == source.ModeExecutable {
		return 0o755
	}
	return 0o644
}

// verifyFile reports whether p already holds exactly e's content and mode.
func verifyFile(fsys fsx.FS, p string, e *source.Entry) (bool, error) {
	fi, err := fsys.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != e.Size || fi.Mode().Perm() != perm(e) {
		return false, err
	}
	f, err := fsys.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	v := newVerifier(e)
	if _, err := io.Copy(v, f); err != nil {
		return false, err
	}
	return v.check() == nil, nil
}

// part is where the content for rel is written before it is verified.
func (o Options) part(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return path.Join(o.PartDir, hex.EncodeToString(sum[:])+".part")
}

// download streams e into dst, resuming its partial file when it exists
// (left by an earlier run or an earlier attempt). Only a transfer that broke
// mid-body is retried, with the shared retry policy; each try resumes after
// the bytes already staged.
func download(ctx context.Context, o Options, e *source.Entry, dst string) (int64, error) {
	part := o.part(e.Path)
	var received int64
	verifyRetried := false
	pol := o.retryPolicy()
	pol.Notify = func(attempt int, wait time.Duration, err error) {
		o.Logger.Warn("download interrupted, resuming", "path", e.Path, "attempt", attempt, "wait", wait, "err", err)
	}
	err := pol.Do(ctx, func(ctx context.Context, attempt int) error {
		for {
			n, err := downloadOnce(ctx, o, e, part, true)
			received += n
			switch {
			case err == nil:
				return nil
			case errors.Is(err, source.ErrUnverified) && !verifyRetried:
				// A resumed prefix may have been bad: once more from
				// scratch, at once (this is not the network's failure).
				_ = o.FS.Remove(part)
				verifyRetried = true
				continue
			case errors.Is(err, source.ErrUnverified):
				_ = o.FS.Remove(part)
			}
			if !retryable(err) {
				return retry.Permanent(err)
			}
			return err
		}
	})
	if err != nil {
		return received, err
	}
	return received, commitStaged(o.FS, part, dst, e)
}

// retryPolicy is the one retry policy (internal/retry) with o's settings.
func (o Options) retryPolicy() retry.Policy {
	return retry.Policy{Attempts: o.Attempts, Backoff: o.Backoff, MaxBackoff: o.MaxBackoff, Sleep: o.Sleep}
}

// breakErr marks a transfer that broke mid-body (a dropped connection, a
// reset, an idle timeout): the only failure worth resuming. Refusals, limits
// and bad data come back from the source already final, and local write
// errors are not the network's.
type breakErr struct{ err error }

func (b *breakErr) Error() string   { return "transfer interrupted: " + b.err.Error() }
func (b *breakErr) Unwrap() []error { return []error{b.err, source.ErrTransfer} }

func retryable(err error) bool {
	var b *breakErr
	return errors.As(err, &b) && !errors.Is(err, source.ErrTooLarge) && !errors.Is(err, context.Canceled)
}

func downloadOnce(ctx context.Context, o Options, e *source.Entry, part string, resume bool) (int64, error) {
	v := newVerifier(e)
	var offset int64
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if fi, err := o.FS.Lstat(part); resume && err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() < e.Size {
		// Hash the bytes we already have, then continue after them.
		f, err := o.FS.Open(part)
		if err == nil {
			offset, err = io.Copy(v, f)
			f.Close()
		}
		if err == nil {
			flag = os.O_WRONLY | os.O_APPEND
		} else {
			v, offset = newVerifier(e), 0
		}
	}
	rc, err := o.Source.Open(ctx, o.Target, *e, offset)
	if errors.Is(err, source.ErrNoRange) && offset > 0 {
		v, offset, flag = newVerifier(e), 0, os.O_WRONLY|os.O_CREATE|os.O_TRUNC
		rc, err = o.Source.Open(ctx, o.Target, *e, 0)
	}
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", e.Path, err)
	}
	defer rc.Close()
	f, err := o.FS.OpenFile(part, flag, perm(e))
	if err != nil {
		return 0, fmt.Errorf("stage %s: %w", e.Path, err)
	}
	buf := make([]byte, o.BufSize)
	var n int64
	for {
		k, rerr := rc.Read(buf)
		if k > 0 {
			if _, err := v.Write(buf[:k]); err != nil {
				f.Close()
				return n, err
			}
			if _, err := f.Write(buf[:k]); err != nil {
				f.Close()
				return n, fmt.Errorf("stage %s: %w", e.Path, err)
			}
			n += int64(k)
			if o.Progress != nil {
				o.Progress.Add(int64(k))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Sync() // keep what we have for a resume
			f.Close()
			return n, fmt.Errorf("download %s: %w", e.Path, &breakErr{rerr})
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, fmt.Errorf("stage %s: %w", e.Path, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("stage %s: %w", e.Path, err)
	}
	return n, v.check()
}

// commitStaged sets the mode and renames a verified .part into place; Run
// syncs the part folder once all are done.
func commitStaged(fsys fsx.FS, part, dst string, e *source.Entry) error {
	if err := fsys.Chmod(part, perm(e)); err != nil {
		return fmt.Errorf("stage %s: %w", e.Path, err)
	}
	if err := fsys.Rename(part, dst); err != nil {
		return fmt.Errorf("stage %s: %w", e.Path, err)
	}
	return fsys.SyncDir(path.Dir(dst))
}

func stageCopy(o Options, src, dst string, e *source.Entry) error {
	in, err := o.FS.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	part := o.part(e.Path)
	f, err := o.FS.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm(e))
	if err != nil {
		return err
	}
	v := newVerifier(e)
	_, err = io.CopyBuffer(io.MultiWriter(f, v), in, make([]byte, o.BufSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = v.check()
	}
	if err != nil {
		o.FS.Remove(part)
		return err
	}
	return commitStaged(o.FS, part, dst, e)
}

// maxLink bounds a symlink target read from a source.
const maxLink = 4096

func stageSymlink(ctx context.Context, o Options, c plan.Change, dst string, st *Stats) error {
	e := c.Entry
	if e.Size > maxLink || e.Size <= 0 {
		return fmt.Errorf("%w: symlink %s: target length %d", source.ErrBadData, e.Path, e.Size)
	}
	rc, err := o.Source.Open(ctx, o.Target, *e, 0)
	if err != nil {
		return fmt.Errorf("download %s: %w", e.Path, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxLink+1))
	rc.Close()
	if err != nil {
		return fmt.Errorf("download %s: %w", e.Path, err)
	}
	st.Bytes += int64(len(b))
	v := newVerifier(e)
	if _, err := v.Write(b); err != nil {
		return err
	}
	if err := v.check(); err != nil {
		return err
	}
	target := string(b)
	if !pathx.LinkInside(e.Path, target) {
		return fmt.Errorf("%w: symlink %s -> %s points outside target_dir", source.ErrBadData, e.Path, target)
	}
	_ = fsx.RemoveAll(o.FS, dst)
	if err := o.FS.Symlink(target, dst); err != nil {
		return fmt.Errorf("stage symlink %s: %w", e.Path, err)
	}
	st.Files++
	return o.FS.SyncDir(path.Dir(dst))
}

// maxDeltaRatio: a delta larger than this fraction of the file is not worth
// it; larger responses are cut off.
const maxDeltaRatio = 1

func stageDelta(ctx context.Context, o Options, c plan.Change, dst string) (int64, error) {
	e := c.Entry
	rc, err := o.Source.Delta(ctx, o.Target, *e, c.Old.SHA1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	old, err := o.FS.Open(path.Join(o.TargetDir, c.Path))
	if err != nil {
		return 0, err
	}
	defer old.Close()
	counted := &countReader{r: io.LimitReader(rc, e.Size*maxDeltaRatio+64<<10), p: o.Progress}
	part := o.part(e.Path)
	f, err := o.FS.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm(e))
	if err != nil {
		return 0, err
	}
	v := newVerifier(e)
	err = o.Patch(old, c.Old.Size, counted, io.MultiWriter(f, v))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = v.check()
	}
	if err != nil {
		o.FS.Remove(part)
		return counted.n, fmt.Errorf("delta for %s: %w", e.Path, err)
	}
	return counted.n, commitStaged(o.FS, part, dst, e)
}

type countReader struct {
	r io.Reader
	n int64
	p Progress
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.p != nil && n > 0 {
		c.p.Add(int64(n))
	}
	return n, err
}

// useArchive: more than half of the tree needs content, and enough files
// that one archive beats a request each.
func useArchive(o Options, changes []plan.Change) bool {
	n := 0
	for _, c := range changes {
		if fromArchiveOK(o, c) {
			n++
		}
	}
	return o.Archive.Files > 0 && n >= minArchiveFiles && 2*n > o.Archive.Files
}

// fromArchiveOK: c needs the content of a regular file and has no delta to
// try (a delta, when enabled, is cheaper than its share of an archive).
func fromArchiveOK(o Options, c plan.Change) bool {
	if c.SameContent || c.Entry.Mode == source.ModeSymlink {
		return false
	}
	return o.Patch == nil || c.Old == nil || c.Old.Mode == source.ModeSymlink || c.Old.SHA1 == ""
}

// localErr marks a failure of the local disk while staging from an archive:
// it ends the fetch (any other archive failure falls back to per-file).
type localErr struct{ err error }

func (l *localErr) Error() string { return l.err.Error() }
func (l *localErr) Unwrap() error { return l.err }

// fromArchive stages from one archive every wanted regular file whose
// content verifies (size, git blob SHA-1, SHA-256 when signed), exactly as a
// download would, and returns the changes still to fetch one by one: symlinks,
// mode-only changes, files with a delta to try, files the archive lacks (export-ignore) or carries with
// other content (export-subst) when a.Attributes allows it. Without
// .gitattributes in the tree, other content is a tampered archive and the
// fetch fails with source.ErrUnverified. A broken or refused archive (network,
// format, limits) is only logged: everything falls back to per-file.
func fromArchive(ctx context.Context, o Options, a source.Archiver, changes []plan.Change, st *Stats) ([]plan.Change, error) {
	want := map[string]*plan.Change{}
	var rest []plan.Change
	for i := range changes {
		c := &changes[i]
		if !fromArchiveOK(o, *c) {
			rest = append(rest, *c)
			continue
		}
		if ok, _ := verifyFile(o.FS, path.Join(o.StageDir, c.Path), c.Entry); ok {
			st.Reused++ // staged by an interrupted run
			if o.Progress != nil {
				o.Progress.FileDone(c.Path)
			}
			continue
		}
		want[c.Path] = c
	}
	var differ []string
	limit := o.Archive.Bytes + int64(o.Archive.Files)*2048 + 1<<20 // tar headers and padding
	err := a.Archive(ctx, o.Target, limit, func(p string, size int64, r io.Reader) error {
		c, ok := want[p]
		if !ok {
			return nil
		}
		if size != c.Entry.Size {
			differ = append(differ, p)
			return nil
		}
		n, err := stageFrom(o, c.Entry, path.Join(o.StageDir, p), r)
		st.Bytes += n
		switch {
		case errors.Is(err, source.ErrUnverified):
			differ = append(differ, p)
			return nil
		case err != nil:
			return err
		}
		delete(want, p)
		st.Files++
		if o.Progress != nil {
			o.Progress.FileDone(p)
		}
		return nil
	})
	var le *localErr
	switch {
	case errors.As(err, &le):
		return nil, le.err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		o.Logger.Warn("archive download failed, fetching files one by one", "err", err)
	}
	if len(differ) > 0 && !o.Archive.Attributes {
		return nil, fmt.Errorf("%w: the archive's content of %s (and %d more) is not the tree's blob, and no .gitattributes explains it: refusing a tampered archive",
			source.ErrUnverified, differ[0], len(differ)-1)
	}
	if len(differ) > 0 {
		o.Logger.Info("archive content differs from the tree (export attributes), fetching those files one by one", "files", len(differ))
	}
	for _, c := range changes {
		if _, ok := want[c.Path]; ok {
			rest = append(rest, c)
		}
	}
	return rest, nil
}

// stageFrom streams r into dst's .part while verifying it, then commits it.
// A content mismatch wraps source.ErrUnverified and leaves nothing staged;
// disk failures are *localErr.
func stageFrom(o Options, e *source.Entry, dst string, r io.Reader) (int64, error) {
	if _, err := fsx.MkdirAll(o.FS, path.Dir(dst), 0o755); err != nil {
		return 0, &localErr{fmt.Errorf("stage %s: %w", e.Path, err)}
	}
	_ = fsx.RemoveAll(o.FS, dst)
	part := o.part(e.Path) // apart from the stage, like every download
	f, err := o.FS.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm(e))
	if err != nil {
		return 0, &localErr{fmt.Errorf("stage %s: %w", e.Path, err)}
	}
	v := newVerifier(e)
	cr := &countReader{r: r, p: o.Progress}
	_, err = io.CopyBuffer(writerFunc(func(p []byte) (int, error) {
		if _, err := v.Write(p); err != nil {
			return 0, err
		}
		if _, err := f.Write(p); err != nil {
			return 0, &localErr{fmt.Errorf("stage %s: %w", e.Path, err)}
		}
		return len(p), nil
	}), cr, make([]byte, o.BufSize))
	if err == nil {
		if err = f.Sync(); err != nil {
			err = &localErr{fmt.Errorf("stage %s: %w", e.Path, err)}
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &localErr{fmt.Errorf("stage %s: %w", e.Path, cerr)}
	}
	if err == nil {
		err = v.check()
	}
	if err != nil {
		o.FS.Remove(part)
		return cr.n, err
	}
	if err := commitStaged(o.FS, part, dst, e); err != nil {
		return cr.n, &localErr{err}
	}
	return cr.n, nil
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }
