package github

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
)

// Archive implements source.Archiver with the commit's tarball:
// GET {api}/repos/{o}/{r}/tarball/{commit}, which GitHub answers with a 302
// to its archive host (codeload); httpx follows it without the token (a
// private repository's redirect URL carries its own short-lived token). The
// gzip stream is decoded once, front to back: nothing is held whole in
// memory and nothing is written here. Entry names lose their top folder
// ({owner}-{repo}-{sha7}/); only regular files whose remaining path is valid
// reach fn, so a name can never lead outside the tree (the caller also
// takes only the paths it asked for). git archive applies export-ignore and
// export-subst attributes, so a file may be missing or differ: the caller
// verifies each one against the tree.
//
// With trusted_keys (signed manifests) there is no archive: the signed
// content comes from release assets.
func (s *Source) Archive(ctx context.Context, t source.Target, limit int64, fn func(path string, size int64, r io.Reader) error) error {
	if s.cfg.Trust != nil {
		return fmt.Errorf("archive: %w: signed releases are fetched file by file", source.ErrNotFound)
	}
	if !isSHA(t.Commit) {
		return fmt.Errorf("archive: target has no commit SHA (%q); resolve first", t.Commit)
	}
	if limit < 0 {
		return fmt.Errorf("archive: a limit is required")
	}
	req, err := s.apiRequest(ctx, "/tarball/"+t.Commit, acceptJSON)
	if err != nil {
		return err
	}
	// gzip rarely grows data by more than a few bytes per 16 KiB block.
	resp, err := s.http.Do(ctx, req, limit+limit/64+(1<<20))
	if err != nil {
		return fmt.Errorf("archive of %s: %w", t.Commit, s.notFound("tarball of commit "+t.Commit, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("archive of %s: %w: unexpected status %d", t.Commit, source.ErrBadData, resp.StatusCode)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return fmt.Errorf("archive of %s: %w: %v", t.Commit, source.ErrBadData, err)
	}
	tr := tar.NewReader(httpx.NewCappedReader(zr, limit))
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("archive of %s: %w", t.Commit, archiveErr(err))
		}
		if h.Typeflag != tar.TypeReg {
			continue // folders, the pax global header (the commit id), symlinks (fetched one by one)
		}
		_, rel, ok := strings.Cut(h.Name, "/")
		if !ok || validPath(rel) != nil || h.Size < 0 {
			s.log.Debug("skipping archive entry", "name", h.Name)
			continue
		}
		files++
		if err := fn(rel, h.Size, tr); err != nil {
			var te *httpx.TooLargeError
			if errors.As(err, &te) {
				return fmt.Errorf("archive of %s: %w", t.Commit, err)
			}
			return err
		}
	}
	s.log.Debug("archive read", "commit", t.Commit, "files", files)
	return nil
}

func archiveErr(err error) error {
	if errors.Is(err, source.ErrTooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %v", source.ErrBadData, err)
	}
	return err
}

var _ source.Archiver = (*Source)(nil)
