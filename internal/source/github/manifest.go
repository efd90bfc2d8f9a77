package github

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
	"github.com/otafleet/ota/repo/seedmanifest"
)

// Release asset names (the same as package publish, --format github-release,
// and the original system's manifest mode).
const (
	// ManifestAsset is the signed bundle (repo.Bundle) of a release.
	ManifestAsset = "ota-manifest.json"
	// ObjectAssetPrefix + sha256 hex: a file's content.
	ObjectAssetPrefix = "obj-"
	// DeltaAssetPrefix + "<from-sha256>-<to-sha256>.<format>": a delta.
	DeltaAssetPrefix = "delta-"
	// SeedManifestAsset is the original system's HMAC manifest.
	SeedManifestAsset = "manifest.json"
	// RepoManifestPath is where a commit may carry a signed manifest (any
	// channel). It is committed on top of the commit it was made from, so
	// its release names the resolved commit or that commit's first parent.
	RepoManifestPath = ".ota-manifest.json"
)

// ErrCommitMismatch: a validly signed manifest names another commit than the
// one the release's tag resolves to (mix-and-match); it is refused.
var ErrCommitMismatch = errors.New("signed manifest is for another commit")

// Keys of source.Target.Extra set in the manifest modes.
const (
	extraSeed = "github.seedmanifest" // *seedmanifest.Manifest
)

func (r *Release) asset(name string) *ReleaseAsset {
	if r == nil {
		return nil
	}
	for i := range r.Assets {
		if r.Assets[i].Name == name {
			return &r.Assets[i]
		}
	}
	return nil
}

// releaseOf is the GitHub release a target was resolved from (stable channel).
func releaseOf(t source.Target) *Release {
	r, _ := t.Extra[ExtraRelease].(*Release)
	return r
}

// assetGet downloads a release asset through the API URL with
// Accept: application/octet-stream; GitHub answers 302 to another host, which
// httpx follows without the token. The URL is built from the asset id, never
// taken from the answer.
func (s *Source) assetGet(ctx context.Context, a *ReleaseAsset, offset, limit int64) (io.ReadCloser, error) {
	if a.ID <= 0 {
		return nil, fmt.Errorf("asset %q: %w: bad id %d", a.Name, source.ErrBadData, a.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+s.repoPath+"/releases/assets/"+strconv.FormatInt(a.ID, 10), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/octet-stream")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	body, start, err := s.http.GetRange(ctx, req, offset, limit)
	if err != nil {
		return nil, s.notFound("release asset "+a.Name, err)
	}
	if start != offset {
		body.Close()
		return nil, fmt.Errorf("asset %s: resume at byte %d: %w", a.Name, offset, source.ErrNoRange)
	}
	return body, nil
}

func (s *Source) assetBytes(ctx context.Context, a *ReleaseAsset, limit int64) ([]byte, error) {
	if a.Size > limit {
		return nil, fmt.Errorf("release asset %s: %d bytes, limit %d: %w", a.Name, a.Size, limit, source.ErrTooLarge)
	}
	body, err := s.assetGet(ctx, a, 0, limit)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("release asset %s: %w", a.Name, err)
	}
	return b, nil
}

// signedTarget replaces t by the target a signed manifest describes. The
// manifest must be present (a device that trusts keys never installs
// unsigned content), verify against the trusted keys, not be older than one
// already accepted, and name t's commit.
func (s *Source) signedTarget(ctx context.Context, t source.Target) (source.Target, error) {
	gr := releaseOf(t)
	if gr == nil && s.cfg.Tag != "" && s.cfg.Commit == "" {
		r, err := s.releaseByTag(ctx, s.cfg.Tag)
		if err != nil {
			return source.Target{}, err
		}
		if gr = r; gr != nil {
			t.Extra = map[string]any{ExtraRelease: gr}
		}
	}
	limit := s.cfg.Trust.Verifier.Limits.MaxMetadataSize
	if limit <= 0 {
		limit = repo.DefaultMaxMetadataSize
	}
	var (
		data  []byte
		what  string
		inRep bool
		err   error
	)
	if a := gr.asset(ManifestAsset); a != nil {
		what = fmt.Sprintf("signed manifest of release %s", gr.TagName)
		data, err = s.assetBytes(ctx, a, limit)
	} else {
		what = fmt.Sprintf("signed manifest %s of commit %s", RepoManifestPath, t.Commit)
		inRep = true
		data, err = s.repoManifest(ctx, t, limit)
		if errors.Is(err, source.ErrNotFound) {
			where := fmt.Sprintf("commit %s (%s)", t.Commit, t.Ref)
			if gr != nil {
				where = fmt.Sprintf("release %q (commit %s)", gr.TagName, t.Commit)
			}
			return source.Target{}, signedrepo.Unverified(fmt.Errorf(
				"trusted_keys is set but %s of %s/%s has no signed manifest (release asset %s or %s in the commit): refusing unsigned content; "+
					"publish with \"ota publish --format github-release\" and upload the assets to the release (or commit %s), or remove trusted_keys",
				where, s.cfg.Owner, s.cfg.Repo, ManifestAsset, RepoManifestPath, RepoManifestPath))
		}
	}
	if err != nil {
		return source.Target{}, fmt.Errorf("%s: %w", what, err)
	}
	parent := ""
	if inRep {
		if parent, err = s.firstParent(ctx, t.Commit); err != nil {
			return source.Target{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	st, err := s.cfg.Trust.AcceptChecked(data, func(rel *repo.Release) error {
		if strings.EqualFold(rel.Commit, t.Commit) || (parent != "" && strings.EqualFold(rel.Commit, parent)) {
			return nil
		}
		return fmt.Errorf("%w: %s resolves to commit %s, its manifest (version %d, ref %q) names %s",
			ErrCommitMismatch, t.Ref, t.Commit, rel.Version, rel.Ref, rel.Commit)
	})
	if err != nil {
		return source.Target{}, fmt.Errorf("%s: %w", what, err)
	}
	st.Ref, st.Commit = t.Ref, t.Commit
	if gr != nil {
		st.Extra[ExtraRelease] = gr
	}
	s.log.Debug("signed manifest verified", "from", what, "version", st.Number, "files", len(st.Tree))
	return st, nil
}

// repoManifest reads RepoManifestPath at t.Commit from the raw host. A
// commit never changes, so the answer is cached by commit (a check with
// nothing new stays one 304).
func (s *Source) repoManifest(ctx context.Context, t source.Target, limit int64) ([]byte, error) {
	key := s.cacheKey + "manifest:" + t.Commit
	if _, b, ok := s.cfg.Cache.Get(key); ok && len(b) > 0 {
		return b, nil
	}
	body, err := s.rawGet(ctx, t, RepoManifestPath, 0, limit)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	s.cfg.Cache.Put(key, "", b)
	return b, nil
}

// firstParent asks /commits/{sha} for the commit's first parent (cached by
// sha: commits are immutable).
func (s *Source) firstParent(ctx context.Context, sha string) (string, error) {
	key := s.cacheKey + "parent:" + sha
	if _, b, ok := s.cfg.Cache.Get(key); ok && isSHA(string(b)) {
		return string(b), nil
	}
	req, err := s.apiRequest(ctx, "/commits/"+sha, acceptJSON)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Do(ctx, req, maxJSONBytes)
	if err != nil {
		return "", s.notFound("commit "+sha, err)
	}
	defer resp.Body.Close()
	var c struct {
		SHA     string      `json:"sha"`
		Parents []gitObject `json:"parents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || !strings.EqualFold(c.SHA, sha) {
		return "", fmt.Errorf("commit %s: %w: unexpected answer", sha, source.ErrBadData)
	}
	if len(c.Parents) == 0 {
		return "", nil
	}
	p := strings.ToLower(c.Parents[0].SHA)
	if !isSHA(p) {
		return "", fmt.Errorf("commit %s: %w: bad parent %q", sha, source.ErrBadData, p)
	}
	s.cfg.Cache.Put(key, "", []byte(p))
	return p, nil
}

// releaseByTag is the release of a pinned tag, nil when there is none.
func (s *Source) releaseByTag(ctx context.Context, tag string) (*Release, error) {
	c, err := s.getCached(ctx, "/releases/tags/"+escapeRef(tag), acceptJSON, "release:tags/"+tag)
	if errors.Is(err, source.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release of tag %q: %w", tag, err)
	}
	var rel Release
	if err := json.Unmarshal(c.Body, &rel); err != nil || rel.TagName != tag {
		return nil, fmt.Errorf("release of tag %q: %w: unexpected answer", tag, source.ErrBadData)
	}
	c.Store()
	return &rel, nil
}

// seedTarget checks the original system's HMAC manifest of the release and
// records it so that Tree keeps only (and verifies) the files it lists.
func (s *Source) seedTarget(ctx context.Context, t source.Target) (source.Target, error) {
	s.seedWarn.Do(func() {
		s.log.Warn("manifest_key: the original's shared HMAC key is weak: every device holds it, so anyone with one device can sign updates for all; switch to trusted_keys (ota keygen, ota publish --format github-release)")
	})
	gr := releaseOf(t)
	a := gr.asset(SeedManifestAsset)
	if a == nil {
		return source.Target{}, signedrepo.Unverified(fmt.Errorf(
			"manifest_key is set but release %q of %s/%s has no %s asset: refusing unverified content (upload the manifest, or remove manifest_key)",
			gr.TagName, s.cfg.Owner, s.cfg.Repo, SeedManifestAsset))
	}
	data, err := s.assetBytes(ctx, a, seedmanifest.MaxSize)
	if err != nil {
		return source.Target{}, fmt.Errorf("manifest.json of release %s: %w", gr.TagName, err)
	}
	m, err := seedmanifest.Verify(data, s.cfg.ManifestKey)
	if err != nil {
		return source.Target{}, signedrepo.Unverified(fmt.Errorf("manifest.json of release %s: %w", gr.TagName, err))
	}
	if m.PostUpdate != "" {
		s.log.Warn("manifest.json: post_update is ignored (use the post_update config key)", "release", gr.TagName)
	}
	for _, d := range m.Deletes {
		// As the original: an invalid path is skipped, not fatal.
		if err := validPath(d); err != nil {
			s.log.Warn("manifest.json: skipping an unusable delete", "path", d, "err", err)
			continue
		}
		t.Deletes = append(t.Deletes, d)
	}
	if m.Version != "" {
		if err := validRef(m.Version); err != nil {
			s.log.Warn("manifest.json: version is not a usable label; recording the tag instead", "release", gr.TagName, "err", err)
		} else {
			t.Ref = m.Version // as the original wrote it into version.json
		}
	}
	t.Extra[extraSeed] = m
	return t, nil
}

// seedTree keeps the files of the commit's tree that the HMAC manifest lists
// and gives each the manifest's SHA-256, which the fetcher verifies (with
// the size) on download. A listed file must exist in the commit as a regular
// file with the listed size and must carry a sha256 (crc32 alone is refused).
func seedTree(m *seedmanifest.Manifest, tree []source.Entry) ([]source.Entry, error) {
	byPath := make(map[string]int, len(tree))
	for i, e := range tree {
		byPath[e.Path] = i
	}
	out := make([]source.Entry, 0, len(m.Files))
	seen := map[string]bool{}
	for _, f := range m.Files {
		bad := func(why string) error {
			return signedrepo.Unverified(fmt.Errorf("%w: manifest.json entry %q: %s", repo.ErrHashMismatch, f.Path, why))
		}
		if err := validPath(f.Path); err != nil {
			return nil, signedrepo.Unverified(fmt.Errorf("manifest.json: %w", err))
		}
		if seen[f.Path] {
			return nil, bad("listed twice")
		}
		seen[f.Path] = true
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 {
			return nil, bad("no sha256 (ota does not accept crc32-only or unverified entries)")
		}
		i, ok := byPath[f.Path]
		if !ok {
			return nil, bad("not a file of the release's commit")
		}
		e := tree[i]
		if e.Mode == source.ModeSymlink {
			return nil, bad("a symlink in the commit")
		}
		if f.Size != nil && *f.Size != e.Size {
			return nil, bad(fmt.Sprintf("size %d, the commit's file has %d bytes", *f.Size, e.Size))
		}
		e.SHA256 = strings.ToLower(f.SHA256)
		out = append(out, e)
	}
	return out, nil
}

// signedOpen streams a file of a signed target: from its obj-<sha256> asset
// when the release has one, else from raw by commit; either way checked
// against the signed size and SHA-256.
func (s *Source) signedOpen(ctx context.Context, t source.Target, e source.Entry, offset int64) (io.ReadCloser, error) {
	if err := signedrepo.CheckEntry(t, e); err != nil {
		return nil, err
	}
	if offset < 0 || offset > e.Size {
		return nil, fmt.Errorf("open %s: offset %d outside 0..%d", e.Path, offset, e.Size)
	}
	if offset > 0 && offset == e.Size {
		return io.NopCloser(strings.NewReader("")), nil
	}
	var body io.ReadCloser
	var err error
	if a := releaseOf(t).asset(ObjectAssetPrefix + e.SHA256); a != nil {
		body, err = s.assetGet(ctx, a, offset, e.Size-offset)
	} else {
		body, err = s.rawGet(ctx, t, e.Path, offset, e.Size-offset)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", e.Path, signedTooLarge(err))
	}
	return signedrepo.NewReader(body, e.SHA256, e.Size, offset, nil, e.Path), nil
}

// signedDelta streams a delta the signed metadata lists, from its release
// asset; without the asset there is no delta.
func (s *Source) signedDelta(ctx context.Context, t source.Target, e source.Entry, fromSHA1 string) (io.ReadCloser, error) {
	d, err := s.cfg.Trust.FindDelta(t, e, fromSHA1)
	if err != nil {
		return nil, err
	}
	name := DeltaAssetPrefix + d.FromSHA256 + "-" + d.ToSHA256 + "." + d.Format
	a := releaseOf(t).asset(name)
	if a == nil {
		return nil, fmt.Errorf("delta for %s: no release asset %s: %w", e.Path, name, source.ErrNotFound)
	}
	body, err := s.assetGet(ctx, a, 0, d.Size)
	if err != nil {
		return nil, fmt.Errorf("delta for %s: %w", e.Path, signedTooLarge(err))
	}
	return signedrepo.NewReader(body, d.SHA256, d.Size, 0, nil, "delta for "+e.Path), nil
}

func signedTooLarge(err error) error {
	if errors.Is(err, source.ErrTooLarge) {
		return signedrepo.Unverified(fmt.Errorf("%w: %w", repo.ErrTooLarge, err))
	}
	return err
}
