// Package github implements source.Source over the GitHub REST API and the
// raw-content host, with a hand-written client (no SDK).
//
// Invariants:
//   - Resolve names one commit SHA; Tree, Open and Delta use that SHA only,
//     never a branch or tag name that could move mid-update.
//   - An unchanged check costs one conditional request answered 304: the
//     developer channel asks /commits/{branch} for the bare SHA with an ETag;
//     the stable channel asks /releases/latest with an ETag and reuses the
//     release→commit resolution cached under that ETag; annotated tag objects
//     are immutable and cached by SHA; a pinned commit costs no request.
//   - Tree responses are stream-decoded under a byte cap and a file cap, a
//     truncated recursive tree is completed by walking sub-trees, and every
//     path is validated before it is returned.
//   - The token goes only to the configured API and raw hosts (see httpx).
//   - With Config.Trust (trusted_keys) Resolve requires a signed manifest
//     (release asset ota-manifest.json, else .ota-manifest.json in the
//     commit), verifies it with signedrepo (rollback store included) and
//     refuses one naming another commit; Tree is then the signed list and
//     Open/Delta check every byte against it. No manifest: refused.
//   - With Config.ManifestKey (manifest_key) the stable channel requires the
//     original's HMAC manifest.json asset; Tree keeps only the files it
//     lists and gives each its SHA-256, which the fetcher verifies.
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
)

// Channels.
const (
	ChannelStable    = "stable"    // latest published release (no drafts, no prereleases)
	ChannelDeveloper = "developer" // tip of Branch
)

// Defaults applied by New for zero values.
const (
	DefaultAPIURL        = "https://api.github.com"
	DefaultRawURL        = "https://raw.githubusercontent.com"
	DefaultBranch        = "main"
	DefaultMaxTreeSizeKB = 32 << 10 // 32 MiB of tree JSON: a 100,000-file tree listed folder by folder is ~23 MB
	DefaultMaxTreeFiles  = 50_000
	apiVersion           = "2022-11-28"
	acceptJSON           = "application/vnd.github+json"
	acceptSHA            = "application/vnd.github.sha"
	maxJSONBytes         = 1 << 20 // refs, tags, releases
	maxTagDepth          = 5
	deltaSlack           = 64 << 10
)

// Config configures a Source. Pins take precedence: Commit, then Tag, then
// Channel.
type Config struct {
	Owner, Repo string
	Channel     string // ChannelStable or ChannelDeveloper (default stable)
	Branch      string // developer channel branch; default "main"
	Tag         string // pin a tag
	Commit      string // pin a full 40-hex commit SHA
	Token       httpx.Secret
	APIURL      string // default DefaultAPIURL
	RawURL      string // default DefaultRawURL
	// MaxTreeSizeKB caps the bytes of tree JSON read per tree listing (and
	// per walk when a tree is truncated); 0 means DefaultMaxTreeSizeKB, < 0
	// means no cap.
	MaxTreeSizeKB int64
	// MaxTreeFiles caps the number of files in a tree; 0 means
	// DefaultMaxTreeFiles, < 0 means no cap.
	MaxTreeFiles int
	// HTTP configures retries and timeouts; Token and TokenHosts are set by New.
	HTTP httpx.Options
	// Cache persists ETags; nil means an in-memory cache (lost on restart).
	Cache  source.Cache
	Logger *slog.Logger
	// Trust, when not nil (config trusted_keys), makes the source require
	// a signed manifest (release asset ota-manifest.json) and install
	// exactly what it lists; without one, Resolve refuses.
	Trust *signedrepo.Trust
	// ManifestKey (config manifest_key), when Trust is nil, makes the stable
	// channel require the original system's HMAC manifest.json asset and
	// install only the files it lists, verified by SHA-256 and size.
	ManifestKey string
}

// Source is the GitHub transport. It is safe for concurrent use.
type Source struct {
	cfg      Config
	http     *httpx.Client
	api, raw string // without trailing slash
	repoPath string // "/repos/{o}/{r}"
	rawRepo  string // "{raw}/{o}/{r}"
	cacheKey string // prefix of every cache key
	log      *slog.Logger
	seedWarn sync.Once
	// minWalkFiles: TreeSince walks folders only from this many installed
	// files on (tests lower it).
	minWalkFiles int
}

// New validates cfg and returns a Source.
func New(cfg Config) (*Source, error) {
	if !validName(cfg.Owner) || !validName(cfg.Repo) {
		return nil, fmt.Errorf("github: owner %q / repo %q: set both to the GitHub owner and repository name", cfg.Owner, cfg.Repo)
	}
	if cfg.Channel == "" {
		cfg.Channel = ChannelStable
	}
	if cfg.Channel != ChannelStable && cfg.Channel != ChannelDeveloper {
		return nil, fmt.Errorf("github: channel %q: use %q or %q", cfg.Channel, ChannelStable, ChannelDeveloper)
	}
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	if err := validRef(cfg.Branch); err != nil {
		return nil, fmt.Errorf("github: branch: %w", err)
	}
	if cfg.Tag != "" {
		if err := validRef(cfg.Tag); err != nil {
			return nil, fmt.Errorf("github: tag: %w", err)
		}
	}
	if cfg.Commit != "" {
		cfg.Commit = strings.ToLower(cfg.Commit)
		if !isSHA(cfg.Commit) {
			return nil, fmt.Errorf("github: commit %q: pin a full 40-character commit SHA", cfg.Commit)
		}
	}
	if cfg.MaxTreeSizeKB == 0 {
		cfg.MaxTreeSizeKB = DefaultMaxTreeSizeKB
	}
	if cfg.MaxTreeFiles == 0 {
		cfg.MaxTreeFiles = DefaultMaxTreeFiles
	}
	api, apiHost, err := baseURL(cfg.APIURL, DefaultAPIURL)
	if err != nil {
		return nil, fmt.Errorf("github: api url: %w", err)
	}
	raw, rawHost, err := baseURL(cfg.RawURL, DefaultRawURL)
	if err != nil {
		return nil, fmt.Errorf("github: raw url: %w", err)
	}
	if cfg.Cache == nil {
		cfg.Cache = newMemCache()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ho := cfg.HTTP
	ho.Token = cfg.Token
	ho.TokenHosts = []string{apiHost, rawHost}
	if ho.Logger == nil {
		ho.Logger = log
	}
	o, r := url.PathEscape(cfg.Owner), url.PathEscape(cfg.Repo)
	return &Source{
		cfg:      cfg,
		http:     httpx.New(ho),
		api:      api,
		raw:      raw,
		repoPath: "/repos/" + o + "/" + r,
		rawRepo:  raw + "/" + o + "/" + r,
		cacheKey: "github:" + api + "/" + cfg.Owner + "/" + cfg.Repo + ":",
		log:      log.With("source", "github", "repo", cfg.Owner+"/"+cfg.Repo),

		minWalkFiles: defaultMinWalkFiles,
	}, nil
}

func baseURL(s, def string) (base, host string, err error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return "", "", err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", "", fmt.Errorf("%q: use an http(s) URL without query or credentials", s)
	}
	return u.String(), u.Host, nil
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validRef applies the parts of git check-ref-format that matter for URLs.
func validRef(s string) error {
	if s == "" || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") ||
		strings.Contains(s, "..") || strings.HasSuffix(s, ".lock") || strings.Contains(s, "@{") {
		return fmt.Errorf("%q is not a valid git ref name", s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return fmt.Errorf("%q is not a valid git ref name (character %q)", s, c)
		}
	}
	return nil
}

// escapeRef escapes each path segment of a ref, keeping the slashes.
func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Source) apiRequest(ctx context.Context, path, accept string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+s.repoPath+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	return req, nil
}

// getCached is a conditional API GET of a small document; the caller calls
// Store on the result once it has checked the answer.
func (s *Source) getCached(ctx context.Context, path, accept, key string) (httpx.Cached, error) {
	req, err := s.apiRequest(ctx, path, accept)
	if err != nil {
		return httpx.Cached{}, err
	}
	return s.http.GetCached(ctx, req, s.cfg.Cache, s.cacheKey+key, maxJSONBytes)
}

// notFound adds the hint every GitHub 404 deserves.
func (s *Source) notFound(what string, err error) error {
	var se *httpx.StatusError
	if errors.Is(err, source.ErrNotFound) || (errors.As(err, &se) && se.Code == http.StatusUnprocessableEntity) {
		hint := ""
		if s.cfg.Token == "" {
			hint = "; if the repository is private, configure a token"
		}
		return fmt.Errorf("%s not found in %s/%s%s: %w (%v)", what, s.cfg.Owner, s.cfg.Repo, hint, source.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Resolve implements source.Source. A pinned commit costs no request (a
// commit that does not exist surfaces at Tree as not found). On the stable
// channel the release→commit answer is reused while the release's ETag is
// unchanged, so a tag force-moved under an unchanged release is not noticed
// until the release changes.
func (s *Source) Resolve(ctx context.Context) (source.Target, error) {
	t, err := s.resolve(ctx)
	if err != nil {
		return t, err
	}
	switch {
	case s.cfg.Trust != nil:
		return s.signedTarget(ctx, t)
	case s.cfg.ManifestKey != "" && releaseOf(t) != nil:
		return s.seedTarget(ctx, t)
	}
	return t, nil
}

func (s *Source) resolve(ctx context.Context) (source.Target, error) {
	switch {
	case s.cfg.Commit != "":
		return source.Target{Version: source.Version{Ref: s.cfg.Commit, Commit: s.cfg.Commit}}, nil
	case s.cfg.Tag != "":
		sha, err := s.resolveTag(ctx, s.cfg.Tag)
		if err != nil {
			return source.Target{}, err
		}
		return source.Target{Version: source.Version{Ref: s.cfg.Tag, Commit: sha}}, nil
	case s.cfg.Channel == ChannelDeveloper:
		sha, err := s.branchTip(ctx, s.cfg.Branch)
		if err != nil {
			return source.Target{}, err
		}
		return source.Target{Version: source.Version{Ref: s.cfg.Branch, Commit: sha}}, nil
	default:
		return s.latestRelease(ctx)
	}
}

func (s *Source) branchTip(ctx context.Context, branch string) (string, error) {
	c, err := s.getCached(ctx, "/commits/"+escapeRef(branch), acceptSHA, "commits:"+branch)
	if err != nil {
		return "", s.notFound(fmt.Sprintf("branch %q", branch), err)
	}
	sha := strings.ToLower(strings.TrimSpace(string(c.Body)))
	if !isSHA(sha) {
		return "", fmt.Errorf("branch %q: %w: expected a commit SHA, got %.60q", branch, source.ErrBadData, c.Body)
	}
	c.Store()
	s.log.Debug("resolved branch", "branch", branch, "commit", sha, "not_modified", c.NotModified)
	return sha, nil
}

type gitObject struct {
	SHA  string `json:"sha"`
	Type string `json:"type"`
}

func (s *Source) resolveTag(ctx context.Context, tag string) (string, error) {
	c, err := s.getCached(ctx, "/git/ref/tags/"+escapeRef(tag), acceptJSON, "ref:tags/"+tag)
	if err != nil {
		return "", s.notFound(fmt.Sprintf("tag %q", tag), err)
	}
	var ref struct {
		Ref    string    `json:"ref"`
		Object gitObject `json:"object"`
	}
	if err := json.Unmarshal(c.Body, &ref); err != nil {
		return "", fmt.Errorf("tag %q: %w: %v", tag, source.ErrBadData, err)
	}
	if ref.Ref != "" && ref.Ref != "refs/tags/"+tag {
		return "", fmt.Errorf("tag %q: %w: server answered for %q", tag, source.ErrBadData, ref.Ref)
	}
	obj := ref.Object
	for range maxTagDepth {
		obj.SHA = strings.ToLower(obj.SHA)
		if !isSHA(obj.SHA) {
			return "", fmt.Errorf("tag %q: %w: bad object SHA %q", tag, source.ErrBadData, obj.SHA)
		}
		switch obj.Type {
		case "commit":
			s.log.Debug("resolved tag", "tag", tag, "commit", obj.SHA, "not_modified", c.NotModified)
			c.Store()
			return obj.SHA, nil
		case "tag":
			if obj, err = s.tagObject(ctx, obj.SHA); err != nil {
				return "", fmt.Errorf("tag %q: %w", tag, err)
			}
		default:
			return "", fmt.Errorf("tag %q: %w: it points at a %s, not a commit", tag, source.ErrBadData, obj.Type)
		}
	}
	return "", fmt.Errorf("tag %q: %w: more than %d levels of annotated tags", tag, source.ErrBadData, maxTagDepth)
}

// tagObject dereferences an annotated tag object. Tag objects are immutable,
// so a cached answer is used without asking the server again.
func (s *Source) tagObject(ctx context.Context, sha string) (gitObject, error) {
	key := s.cacheKey + "tagobj:" + sha
	body, cached := []byte(nil), false
	if _, b, ok := s.cfg.Cache.Get(key); ok {
		body, cached = b, true
	} else {
		req, err := s.apiRequest(ctx, "/git/tags/"+sha, acceptJSON)
		if err != nil {
			return gitObject{}, err
		}
		resp, err := s.http.Do(ctx, req, maxJSONBytes)
		if err != nil {
			return gitObject{}, s.notFound("tag object "+sha, err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return gitObject{}, fmt.Errorf("tag object %s: %w", sha, err)
		}
	}
	var t struct {
		SHA    string    `json:"sha"`
		Object gitObject `json:"object"`
	}
	if err := json.Unmarshal(body, &t); err != nil || (t.SHA != "" && !strings.EqualFold(t.SHA, sha)) {
		return gitObject{}, fmt.Errorf("tag object %s: %w: unexpected answer", sha, source.ErrBadData)
	}
	if !cached {
		s.cfg.Cache.Put(key, "", body)
	}
	return t.Object, nil
}

// Release is the part of a GitHub release a caller may need; Resolve puts
// it into Target.Extra[ExtraRelease] on the stable channel.
type Release struct {
	ID      int64          `json:"id"`
	TagName string         `json:"tag_name"`
	Assets  []ReleaseAsset `json:"assets"`
}

// ReleaseAsset is one release asset.
type ReleaseAsset struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	URL  string `json:"url"` // API URL; download with Accept: application/octet-stream
}

// ExtraRelease is the Target.Extra key holding a *Release.
const ExtraRelease = "github.release"

func (s *Source) latestRelease(ctx context.Context) (source.Target, error) {
	c, err := s.getCached(ctx, "/releases/latest", acceptJSON, "release:latest")
	if err != nil {
		if errors.Is(err, source.ErrNotFound) {
			return source.Target{}, fmt.Errorf("no published release in %s/%s (drafts and prereleases do not count): publish a release, pin a tag, or use channel %q: %w",
				s.cfg.Owner, s.cfg.Repo, ChannelDeveloper, err)
		}
		return source.Target{}, fmt.Errorf("latest release: %w", err)
	}
	var rel Release
	if err := json.Unmarshal(c.Body, &rel); err != nil || rel.TagName == "" {
		return source.Target{}, fmt.Errorf("latest release: %w: no tag_name in answer", source.ErrBadData)
	}
	if err := validRef(rel.TagName); err != nil {
		return source.Target{}, fmt.Errorf("latest release: %w: %v", source.ErrBadData, err)
	}
	tgt := source.Target{Version: source.Version{Ref: rel.TagName}, Extra: map[string]any{ExtraRelease: &rel}}
	// The release→commit answer is cached under the release's ETag, so an
	// unchanged release costs exactly the one 304 above.
	key := s.cacheKey + "release-commit"
	if etag, body, ok := s.cfg.Cache.Get(key); ok && c.ETag != "" && etag == c.ETag {
		if tag, sha, ok := strings.Cut(string(body), "\n"); ok && tag == rel.TagName && isSHA(sha) {
			tgt.Commit = sha
			s.log.Debug("resolved release from cache", "tag", tag, "commit", sha)
			c.Store()
			return tgt, nil
		}
	}
	sha, err := s.resolveTag(ctx, rel.TagName)
	if err != nil {
		return source.Target{}, fmt.Errorf("latest release %s: %w", rel.TagName, err)
	}
	if c.ETag != "" {
		s.cfg.Cache.Put(key, c.ETag, []byte(rel.TagName+"\n"+sha))
	}
	tgt.Commit = sha
	c.Store()
	return tgt, nil
}

// Open implements source.Source: GET {raw}/{o}/{r}/{commit}/{path}. When the
// server ignores the Range request it returns an error wrapping
// source.ErrNoRange (the caller restarts from 0).
func (s *Source) Open(ctx context.Context, t source.Target, e source.Entry, offset int64) (io.ReadCloser, error) {
	if offset < 0 || offset > e.Size {
		return nil, fmt.Errorf("open %s: offset %d outside 0..%d", e.Path, offset, e.Size)
	}
	if s.cfg.Trust != nil {
		return s.signedOpen(ctx, t, e, offset)
	}
	if offset > 0 && offset == e.Size {
		return io.NopCloser(strings.NewReader("")), nil // nothing left; a Range would be unsatisfiable
	}
	body, err := s.rawGet(ctx, t, e.Path, offset, e.Size-offset)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", e.Path, err)
	}
	return body, nil
}

// Delta implements source.Source: the patch from blob fromSHA1 to e lives at
// .deltas/<fromSHA1>-<e.BlobSHA1>.delta in the target commit. A delta larger
// than the file plus 64 KiB is refused (downloading the file is cheaper).
func (s *Source) Delta(ctx context.Context, t source.Target, e source.Entry, fromSHA1 string) (io.ReadCloser, error) {
	fromSHA1 = strings.ToLower(fromSHA1)
	if s.cfg.Trust != nil {
		return s.signedDelta(ctx, t, e, fromSHA1)
	}
	if !isSHA(fromSHA1) || !isSHA(e.BlobSHA1) {
		return nil, fmt.Errorf("delta for %s: bad blob SHA-1 %q or %q", e.Path, fromSHA1, e.BlobSHA1)
	}
	name := DeltaDir + "/" + fromSHA1 + "-" + e.BlobSHA1 + ".delta"
	body, err := s.rawGet(ctx, t, name, 0, e.Size+deltaSlack)
	if err != nil {
		return nil, fmt.Errorf("delta for %s: %w", e.Path, err)
	}
	return body, nil
}

// DeltaDir is the folder of a commit that holds deltas; Tree never lists it.
const DeltaDir = ".deltas"

func (s *Source) rawGet(ctx context.Context, t source.Target, path string, offset, limit int64) (io.ReadCloser, error) {
	if !isSHA(t.Commit) {
		return nil, fmt.Errorf("target has no commit SHA (%q); resolve first", t.Commit)
	}
	if err := validPath(path); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.rawRepo+"/"+t.Commit+"/"+escapeRef(path), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/octet-stream")
	body, start, err := s.http.GetRange(ctx, req, offset, limit)
	if err != nil {
		return nil, err
	}
	if start != offset {
		body.Close()
		return nil, fmt.Errorf("resume at byte %d: %w", offset, source.ErrNoRange)
	}
	return body, nil
}

// memCache is the default in-process Cache.
type memCache struct {
	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	etag string
	body []byte
}

func newMemCache() *memCache { return &memCache{m: map[string]memEntry{}} }

func (c *memCache) Get(key string) (string, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e.etag, e.body, ok
}

func (c *memCache) Put(key, etag string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = memEntry{etag, append([]byte(nil), body...)}
}

var _ source.Source = (*Source)(nil)
