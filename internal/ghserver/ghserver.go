// Package ghserver is an in-process GitHub: two HTTP servers on 127.0.0.1 (the
// REST API and the raw-content host, so token scoping across hosts is testable)
// serving real git repositories by shelling out to git. Tests use it through
// testutil/fakegithub; `ota-demo` uses it to show an update offline.
//
// Served subset: /repos/{o}/{r}/commits/{ref} (JSON or
// application/vnd.github.sha), /git/ref/{heads|tags}/{name}, /git/tags/{sha},
// /git/trees/{sha}[?recursive=1], /git/blobs/{sha}, /releases/latest,
// /releases/tags/{tag}, /releases/assets/{id} (302 to the raw host),
// /tarball/{ref} (302 to the archive host, as GitHub redirects to
// codeload.github.com: {archive}/{o}/{r}/legacy.tar.gz/{sha}, with a
// one-time ?token= for private repositories, so no Authorization header has
// to follow the redirect), and raw files at {raw}/{o}/{r}/{commit-or-ref}/{path}
// with Range support. Archives are `git archive` output, so export-ignore
// and export-subst attributes apply, under the top folder {o}-{r}-{sha7}/.
//
// Invariants: every API response carries an ETag and answers a matching
// If-None-Match with 304; X-RateLimit-* headers count down (an authenticated
// 304 is free, as on GitHub); private repositories answer 404 without a
// token and 401 with a wrong one; every request is logged (Requests) with
// its final status and body size, including aborted ones.
package ghserver

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
)

// Server is a fake GitHub. Create it with New; it closes with the test.
type Server struct {
	API     *httptest.Server
	Raw     *httptest.Server
	Archive *httptest.Server // codeload: tarballs the API redirects to

	archiveTokens map[string]string // one-time token → "owner/repo"

	mu        sync.Mutex
	repos     map[string]*repo
	log       []Request
	faults    []*Fault
	knobs     Knobs
	remaining int
	nextID    int64
	home      string
	inflight  int
	rawDone   int        // raw responses finished, for tests that act mid-update
	idle      *sync.Cond // signalled when inflight drops to 0
}

type repo struct {
	dir      string
	token    string
	releases []*Release
}

// Release is a GitHub release served for a tag.
type Release struct {
	ID         int64
	TagName    string
	Name       string
	Draft      bool
	Prerelease bool
	Assets     []Asset
}

// Asset is a release asset served from bytes.
type Asset struct {
	ID   int64
	Name string
	Data []byte
}

// Request is one logged request.
type Request struct {
	Server      string // "api", "raw" or "archive"
	Method      string
	Path        string // escaped path plus query
	Status      int
	Bytes       int64 // body bytes written
	Auth        bool  // an Authorization header was present
	IfNoneMatch string
	Range       string
	Header      http.Header // request headers, Authorization value replaced by "present"
}

func (r Request) String() string {
	return fmt.Sprintf("%s %s %s -> %d (%d bytes)", r.Server, r.Method, r.Path, r.Status, r.Bytes)
}

// Knobs change how trees and JSON are served.
type Knobs struct {
	// TruncateTreesAt > 0 makes recursive tree responses list at most that
	// many entries and set "truncated": true (as GitHub does past 100k/7MB).
	TruncateTreesAt int
	// ExtraTreeEntries are appended to every tree response (e.g. traversal
	// paths); their fields are used verbatim.
	ExtraTreeEntries []TreeItem
	// HideLength sends JSON bodies without Content-Length (chunked), so a
	// client can only enforce size limits while reading.
	HideLength bool
	// RawDelay slows every raw-file response down by this much before its
	// body, so tests can interrupt a client mid-update.
	RawDelay time.Duration
	// RateLimit is X-RateLimit-Limit (and the start of Remaining); default 5000.
	RateLimit int
}

// TreeItem is one entry of a tree response.
type TreeItem struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	SHA  string `json:"sha"`
	Size *int64 `json:"size,omitempty"`
	URL  string `json:"url,omitempty"`
}

// FaultKind selects a failure.
type FaultKind int

// Faults.
const (
	Status500     FaultKind = iota + 1 // answer 500
	RateLimit403                       // 403 with X-RateLimit-Remaining: 0 and Reset (or Retry-After)
	RateLimit429                       // 429 with Retry-After
	FailAfter                          // raw: declare the full length, send N bytes, cut the connection
	StreamForever                      // raw: 200 without Content-Length, endless bytes
	Corrupt                            // raw: flip the first byte (or add one to an empty file); archive: the same in the first non-empty file, in a well-formed tarball
	// LieLength (api or raw): the real answer is sent with "Content-Length: N"
	// although the body is longer; a Go client reads N bytes and stops.
	LieLength
	// IgnoreRange (raw): answer 200 with the whole file even to a Range request.
	IgnoreRange
)

// Fault is an injected failure for matching requests.
type Fault struct {
	Server       string // "api", "raw" or "" for both
	PathContains string // substring of the escaped path; "" matches all
	Times        int    // number of matching requests it fires for; 0 = always
	Kind         FaultKind
	N            int64     // FailAfter: bytes sent first
	RetryAfter   int       // seconds for 403/429; 0 omits the header
	Reset        time.Time // RateLimit403: X-RateLimit-Reset
	fired        int
}

// New starts the API and raw servers on 127.0.0.1.
// Start starts the servers outside a test (ota-demo uses it); home is a
// scratch folder for git's HOME. Close stops them.
func Start(home string) *Server {
	s := &Server{repos: map[string]*repo{}, nextID: 1000, home: home}
	s.idle = sync.NewCond(&s.mu)
	s.knobs.RateLimit = 5000
	s.remaining = 5000
	s.API = httptest.NewServer(s.logged("api", s.apiMux()))
	s.Raw = httptest.NewServer(s.logged("raw", s.rawMux()))
	s.Archive = httptest.NewServer(s.logged("archive", s.archiveMux()))
	s.archiveTokens = map[string]string{}
	return s
}

// RawServed is the number of raw-file responses finished so far. Unlike
// Requests it never waits for requests in flight.
func (s *Server) RawServed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rawDone
}

// Close stops both servers.
func (s *Server) Close() {
	s.Archive.Close()
	s.Raw.Close()
	s.API.Close()
}

// AddRepo serves the git repository in dir as owner/name.
func (s *Server) AddRepo(owner, name, dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[owner+"/"+name] = &repo{dir: dir}
}

// SetPrivate requires token for owner/name (empty: public again).
func (s *Server) SetPrivate(owner, name, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[owner+"/"+name].token = token
}

// AddRelease publishes rel; IDs are assigned when zero. The most recently
// added non-draft, non-prerelease release is "latest".
func (s *Server) AddRelease(owner, name string, rel Release) Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rel.ID == 0 {
		s.nextID++
		rel.ID = s.nextID
	}
	for i := range rel.Assets {
		if rel.Assets[i].ID == 0 {
			s.nextID++
			rel.Assets[i].ID = s.nextID
		}
	}
	r := s.repos[owner+"/"+name]
	r.releases = append(r.releases, &rel)
	return rel
}

// SetKnobs replaces the knobs.
func (s *Server) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.RateLimit == 0 {
		k.RateLimit = 5000
	}
	s.knobs = k
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns a copy of the request log. It first waits (up to 5 s)
// for requests still being handled, because a client can hold a complete
// response before the handler has returned.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitIdleLocked()
	return append([]Request(nil), s.log...)
}

// ResetRequests waits for in-flight requests, then clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitIdleLocked()
	s.log = nil
}

func (s *Server) waitIdleLocked() {
	deadline := time.Now().Add(5 * time.Second)
	for s.inflight > 0 && time.Now().Before(deadline) {
		t := time.AfterFunc(50*time.Millisecond, s.idle.Broadcast)
		s.idle.Wait()
		t.Stop()
	}
}

// RateRemaining is the current X-RateLimit-Remaining.
func (s *Server) RateRemaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remaining
}

// ---- plumbing ----

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// lie runs h into a buffer and writes its answer on the raw connection with
// a false Content-Length.
func lie(w *recorder, r *http.Request, h http.Handler, n int64) {
	buf := httptest.NewRecorder()
	h.ServeHTTP(buf, r)
	conn, bw, err := w.Hijack()
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer conn.Close()
	res := buf.Result()
	w.status = res.StatusCode
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", res.StatusCode, http.StatusText(res.StatusCode))
	res.Header.Del("Content-Length")
	res.Header.Del("Transfer-Encoding")
	res.Header.Set("Connection", "close")
	res.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	res.Header.Write(bw)
	bw.WriteString("\r\n")
	body := buf.Body.Bytes()
	bw.Write(body)
	w.bytes = int64(len(body))
	bw.Flush()
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) logged(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		hdr := r.Header.Clone()
		if hdr.Get("Authorization") != "" {
			hdr.Set("Authorization", "present")
		}
		s.mu.Lock()
		s.inflight++
		s.mu.Unlock()
		defer func() {
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			s.mu.Lock()
			s.log = append(s.log, Request{Server: name, Method: r.Method, Path: r.URL.RequestURI(),
				Status: rec.status, Bytes: rec.bytes, Auth: r.Header.Get("Authorization") != "",
				IfNoneMatch: r.Header.Get("If-None-Match"), Range: r.Header.Get("Range"), Header: hdr})
			s.inflight--
			if name == "raw" {
				s.rawDone++
			}
			if s.inflight == 0 {
				s.idle.Broadcast()
			}
			s.mu.Unlock()
		}()
		if f := s.fault(name, r); f != nil {
			if s.answerFault(rec, f) {
				return
			}
			if f.Kind == LieLength {
				lie(rec, r, h, f.N)
				return
			}
			r = r.WithContext(withFault(r.Context(), f))
		}
		h.ServeHTTP(rec, r)
	})
}

// fault returns the first matching active fault and counts it as fired.
func (s *Server) fault(server string, r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if (f.Server != "" && f.Server != server) || !strings.Contains(r.URL.RequestURI(), f.PathContains) {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.fired++
		c := *f
		return &c
	}
	return nil
}

// answerFault answers status faults and reports whether it did; body
// faults are passed on to the handler via the request context.
func (s *Server) answerFault(w http.ResponseWriter, f *Fault) bool {
	switch f.Kind {
	case Status500:
		http.Error(w, `{"message":"Server Error"}`, http.StatusInternalServerError)
		return true
	case RateLimit403, RateLimit429:
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-RateLimit-Limit", "60")
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		if f.Kind == RateLimit403 {
			h.Set("X-RateLimit-Remaining", "0")
			if !f.Reset.IsZero() {
				h.Set("X-RateLimit-Reset", strconv.FormatInt(f.Reset.Unix(), 10))
			}
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"API rate limit exceeded"}`)
			return true
		}
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit"}`)
		return true
	}
	return false
}

func (s *Server) repo(w http.ResponseWriter, r *http.Request, api bool) (*repo, bool) {
	s.mu.Lock()
	rp := s.repos[r.PathValue("o")+"/"+r.PathValue("r")]
	s.mu.Unlock()
	if rp == nil {
		s.jsonError(w, http.StatusNotFound, "Not Found", api)
		return nil, false
	}
	if rp.token != "" {
		auth := r.Header.Get("Authorization")
		switch auth {
		case "Bearer " + rp.token, "token " + rp.token:
		case "":
			s.jsonError(w, http.StatusNotFound, "Not Found", api)
			return nil, false
		default:
			s.jsonError(w, http.StatusUnauthorized, "Bad credentials", api)
			return nil, false
		}
	}
	return rp, true
}

func (s *Server) rateHeaders(w http.ResponseWriter, r *http.Request, notModified bool) {
	s.mu.Lock()
	if !(notModified && r.Header.Get("Authorization") != "") && s.remaining > 0 {
		s.remaining--
	}
	rem, lim := s.remaining, s.knobs.RateLimit
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(lim))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rem))
	h.Set("X-RateLimit-Used", strconv.Itoa(lim-rem))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func (s *Server) jsonError(w http.ResponseWriter, code int, msg string, api bool) {
	if api {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"message":%q,"documentation_url":"https://docs.github.com/rest"}`, msg)
		return
	}
	http.Error(w, strconv.Itoa(code)+": "+msg, code)
}

// send writes an API body with ETag / 304 handling.
func (s *Server) send(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	sum := sha256.Sum256(append([]byte(contentType+"\n"), body...))
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	h.Set("X-GitHub-Media-Type", "github.v3")
	if matchETag(r.Header.Get("If-None-Match"), etag) {
		s.rateHeaders(w, r, true)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.rateHeaders(w, r, false)
	h.Set("Content-Type", contentType)
	s.mu.Lock()
	hide := s.knobs.HideLength
	s.mu.Unlock()
	if !hide {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(http.StatusOK)
	if hide {
		w.(http.Flusher).Flush()
	}
	w.Write(body)
}

func (s *Server) sendJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	s.send(w, r, "application/json; charset=utf-8", b)
}

func matchETag(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (s *Server) git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitfixture.Env(s.home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %v: %v: %s", args, err, stderr.String())
	}
	return out, nil
}

func (s *Server) revParse(dir, rev string) (string, bool) {
	out, err := s.git(dir, "rev-parse", "--verify", "-q", "--end-of-options", rev)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

func (s *Server) objType(dir, sha string) string {
	out, err := s.git(dir, "cat-file", "-t", sha)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ---- API ----

func (s *Server) apiMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /repos/{o}/{r}/commits/{ref...}", s.commits)
	m.HandleFunc("GET /repos/{o}/{r}/git/ref/{ref...}", s.gitRef)
	m.HandleFunc("GET /repos/{o}/{r}/git/tags/{sha}", s.gitTag)
	m.HandleFunc("GET /repos/{o}/{r}/git/trees/{sha}", s.tree)
	m.HandleFunc("GET /repos/{o}/{r}/git/blobs/{sha}", s.blob)
	m.HandleFunc("GET /repos/{o}/{r}/releases/latest", s.releaseLatest)
	m.HandleFunc("GET /repos/{o}/{r}/releases/tags/{tag...}", s.releaseByTag)
	m.HandleFunc("GET /repos/{o}/{r}/releases/assets/{id}", s.asset)
	m.HandleFunc("GET /repos/{o}/{r}/tarball/{ref...}", s.tarball)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
	})
	return m
}

func (s *Server) apiURL(r *http.Request, format string, args ...any) string {
	return s.API.URL + fmt.Sprintf("/repos/%s/%s/", r.PathValue("o"), r.PathValue("r")) + fmt.Sprintf(format, args...)
}

func (s *Server) commits(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	var sha string
	for _, cand := range []string{"refs/heads/" + ref, "refs/tags/" + ref, ref} {
		if c, ok := s.revParse(rp.dir, cand+"^{commit}"); ok {
			sha = c
			break
		}
	}
	if sha == "" {
		s.jsonError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, true)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/vnd.github.sha") {
		s.send(w, r, "application/vnd.github.sha; charset=utf-8", []byte(sha))
		return
	}
	tree, _ := s.revParse(rp.dir, sha+"^{tree}")
	parents := []map[string]any{}
	if out, err := s.git(rp.dir, "rev-parse", sha+"^@"); err == nil {
		for _, p := range strings.Fields(string(out)) {
			parents = append(parents, map[string]any{"sha": p, "url": s.apiURL(r, "commits/%s", p)})
		}
	}
	s.sendJSON(w, r, map[string]any{"sha": sha, "url": s.apiURL(r, "commits/%s", sha),
		"commit": map[string]any{"tree": map[string]any{"sha": tree}}, "parents": parents})
}

func (s *Server) gitRef(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	if !strings.HasPrefix(ref, "heads/") && !strings.HasPrefix(ref, "tags/") {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	sha, ok := s.revParse(rp.dir, "refs/"+ref)
	if !ok {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	typ := s.objType(rp.dir, sha)
	s.sendJSON(w, r, map[string]any{"ref": "refs/" + ref, "node_id": "REF_" + sha[:8],
		"url":    s.apiURL(r, "git/refs/%s", ref),
		"object": map[string]any{"sha": sha, "type": typ, "url": s.apiURL(r, "git/%ss/%s", typ, sha)}})
}

func (s *Server) gitTag(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	sha := r.PathValue("sha")
	if !isSHA(sha) || s.objType(rp.dir, sha) != "tag" {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	out, err := s.git(rp.dir, "cat-file", "tag", sha)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	head, msg, _ := strings.Cut(string(out), "\n\n")
	f := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, " ")
		f[k] = v
	}
	s.sendJSON(w, r, map[string]any{"sha": sha, "tag": f["tag"], "message": msg,
		"url":    s.apiURL(r, "git/tags/%s", sha),
		"object": map[string]any{"sha": f["object"], "type": f["type"], "url": s.apiURL(r, "git/%ss/%s", f["type"], f["object"])}})
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	treeSHA, ok := s.revParse(rp.dir, r.PathValue("sha")+"^{tree}")
	if !ok {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	// Like GitHub: any value of "recursive" turns recursion on.
	recursive := r.URL.Query().Has("recursive")
	args := []string{"ls-tree", "-l", "-z"}
	if recursive {
		args = append(args, "-r", "-t")
	}
	out, err := s.git(rp.dir, append(args, treeSHA)...)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	entries, err := gitfixture.ParseLsTree(out)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	s.mu.Lock()
	k := s.knobs
	s.mu.Unlock()
	items := make([]TreeItem, 0, len(entries))
	for _, e := range entries {
		it := TreeItem{Path: e.Path, Mode: fmt.Sprintf("%06o", e.Mode), Type: e.Type, SHA: e.SHA}
		if e.Type == "blob" {
			size := e.Size
			it.Size = &size
			it.URL = s.apiURL(r, "git/blobs/%s", e.SHA)
		} else if e.Type == "tree" {
			it.URL = s.apiURL(r, "git/trees/%s", e.SHA)
		}
		items = append(items, it)
	}
	truncated := false
	if recursive && k.TruncateTreesAt > 0 && len(items) > k.TruncateTreesAt {
		items, truncated = items[:k.TruncateTreesAt], true
	}
	items = append(items, k.ExtraTreeEntries...)
	s.sendJSON(w, r, map[string]any{"sha": treeSHA, "url": s.apiURL(r, "git/trees/%s", treeSHA),
		"tree": items, "truncated": truncated})
}

func (s *Server) blob(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	sha := r.PathValue("sha")
	if !isSHA(sha) || s.objType(rp.dir, sha) != "blob" {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	data, err := s.git(rp.dir, "cat-file", "blob", sha)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/vnd.github.raw") {
		s.send(w, r, "application/vnd.github.raw", data)
		return
	}
	s.sendJSON(w, r, map[string]any{"sha": sha, "size": len(data), "encoding": "base64",
		"content": base64.StdEncoding.EncodeToString(data), "url": s.apiURL(r, "git/blobs/%s", sha)})
}

func (s *Server) releaseJSON(r *http.Request, rel *Release) map[string]any {
	assets := make([]map[string]any, 0, len(rel.Assets))
	for _, a := range rel.Assets {
		assets = append(assets, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Data),
			"content_type":         "application/octet-stream",
			"url":                  s.apiURL(r, "releases/assets/%d", a.ID),
			"browser_download_url": s.Raw.URL + "/_assets/" + strconv.FormatInt(a.ID, 10)})
	}
	return map[string]any{"id": rel.ID, "tag_name": rel.TagName, "name": rel.Name, "draft": rel.Draft,
		"prerelease": rel.Prerelease, "target_commitish": "main", "assets": assets,
		"url": s.apiURL(r, "releases/%d", rel.ID)}
}

func (s *Server) releaseLatest(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	var latest *Release
	for _, rel := range rp.releases {
		if !rel.Draft && !rel.Prerelease {
			latest = rel
		}
	}
	s.mu.Unlock()
	if latest == nil {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	s.sendJSON(w, r, s.releaseJSON(r, latest))
}

func (s *Server) releaseByTag(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	var found *Release
	for _, rel := range rp.releases {
		if rel.TagName == r.PathValue("tag") && !rel.Draft {
			found = rel
		}
	}
	s.mu.Unlock()
	if found == nil {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	s.sendJSON(w, r, s.releaseJSON(r, found))
}

func (s *Server) findAsset(id string) *Asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.repos {
		for _, rel := range rp.releases {
			for i := range rel.Assets {
				if strconv.FormatInt(rel.Assets[i].ID, 10) == id {
					return &rel.Assets[i]
				}
			}
		}
	}
	return nil
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.repo(w, r, true); !ok {
		return
	}
	a := s.findAsset(r.PathValue("id"))
	if a == nil {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
		s.rateHeaders(w, r, false)
		http.Redirect(w, r, s.Raw.URL+"/_assets/"+r.PathValue("id"), http.StatusFound)
		return
	}
	s.sendJSON(w, r, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Data)})
}

// ---- raw host ----

func (s *Server) rawMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /_assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		a := s.findAsset(r.PathValue("id"))
		if a == nil {
			http.NotFound(w, r)
			return
		}
		s.serveBytes(w, r, a.Data, `"asset-`+r.PathValue("id")+`"`)
	})
	m.HandleFunc("GET /{o}/{r}/{rest...}", s.raw)
	return m
}

func (s *Server) raw(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, false)
	if !ok {
		return
	}
	ref, path, ok := strings.Cut(r.PathValue("rest"), "/")
	if !ok || path == "" {
		http.NotFound(w, r)
		return
	}
	rev := ref
	if !isSHA(ref) {
		for _, cand := range []string{"refs/heads/" + ref, "refs/tags/" + ref} {
			if _, ok := s.revParse(rp.dir, cand); ok {
				rev = cand
				break
			}
		}
	}
	blob, ok := s.revParse(rp.dir, rev+":"+path)
	if !ok || s.objType(rp.dir, blob) != "blob" {
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return
	}
	data, err := s.git(rp.dir, "cat-file", "blob", blob)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	s.serveBytes(w, r, data, `"`+blob+`"`)
}

func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, data []byte, etag string) {
	s.mu.Lock()
	delay := s.knobs.RawDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if f := faultFrom(r.Context()); f != nil {
		switch f.Kind {
		case Corrupt:
			data = bytes.Clone(data)
			if len(data) == 0 {
				data = []byte{'!'}
			} else {
				data[0] ^= 0xff
			}
		case StreamForever:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			chunk := bytes.Repeat([]byte("z"), 32<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		case IgnoreRange:
			r.Header.Del("Range")
		case FailAfter:
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:min(int(f.N), len(data))])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // cut the connection mid-body
		}
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

type faultKey struct{}

func withFault(ctx context.Context, f *Fault) context.Context {
	return context.WithValue(ctx, faultKey{}, f)
}

func faultFrom(ctx context.Context) *Fault {
	f, _ := ctx.Value(faultKey{}).(*Fault)
	return f
}

// ---- archives (codeload) ----

// tarball answers as GitHub does: 302 to the archive host, naming the
// resolved commit; a private repository's redirect carries a one-time token.
func (s *Server) tarball(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.repo(w, r, true)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	sha, ok := "", false
	for _, cand := range []string{"refs/heads/" + ref, "refs/tags/" + ref, ref} {
		if sha, ok = s.revParse(rp.dir, cand+"^{commit}"); ok {
			break
		}
	}
	if !ok {
		s.jsonError(w, http.StatusNotFound, "Not Found", true)
		return
	}
	target := s.Archive.URL + "/" + r.PathValue("o") + "/" + r.PathValue("r") + "/legacy.tar.gz/" + sha
	if rp.token != "" {
		var b [16]byte
		rand.Read(b[:])
		tok := hex.EncodeToString(b[:])
		s.mu.Lock()
		s.archiveTokens[tok] = r.PathValue("o") + "/" + r.PathValue("r")
		s.mu.Unlock()
		target += "?token=" + tok
	}
	s.rateHeaders(w, r, false)
	http.Redirect(w, r, target, http.StatusFound)
}

func (s *Server) archiveMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{o}/{r}/legacy.tar.gz/{sha}", s.archive)
	return m
}

func (s *Server) archive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("o") + "/" + r.PathValue("r")
	s.mu.Lock()
	rp := s.repos[name]
	tok := r.URL.Query().Get("token")
	if rp != nil && rp.token != "" {
		if s.archiveTokens[tok] != name {
			rp = nil
		}
		delete(s.archiveTokens, tok)
	}
	s.mu.Unlock()
	sha := r.PathValue("sha")
	if rp == nil || !isSHA(sha) || s.objType(rp.dir, sha) != "commit" {
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return
	}
	prefix := r.PathValue("o") + "-" + r.PathValue("r") + "-" + sha[:7] + "/"
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("Content-Disposition", "attachment; filename="+prefix[:len(prefix)-1]+".tar.gz")
	w.Header().Set("ETag", `"`+sha+`"`)
	if f := faultFrom(r.Context()); f == nil || f.Kind != Corrupt {
		s.streamArchive(w, rp.dir, prefix, sha)
		return
	}
	data, err := s.git(rp.dir, "archive", "--format=tar", "--prefix="+prefix, sha)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if f := faultFrom(r.Context()); f != nil && f.Kind == Corrupt {
		if data, err = corruptTar(data); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	w.Header().Set("Content-Length", strconv.Itoa(gz.Len()))
	w.Write(gz.Bytes())
}

// streamArchive sends `git archive` through gzip as it is produced, without
// a Content-Length, as codeload does: the first bytes leave at once even
// for a tree of 100,000 files (buffering it took longer than a client's
// idle-read timeout). A git failure midway cuts the stream short, which the
// client sees as a broken gzip stream.
func (s *Server) streamArchive(w http.ResponseWriter, dir, prefix, sha string) {
	cmd := exec.Command("git", "archive", "--format=tar", "--prefix="+prefix, sha)
	cmd.Dir = dir
	cmd.Env = gitfixture.Env(s.home)
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush() // headers now, as codeload: the archive follows as git writes it
	}
	zw := gzip.NewWriter(w)
	if _, err = io.Copy(zw, out); err != nil {
		cmd.Process.Kill() // the client went away; git may be blocked on the pipe
	}
	if werr := cmd.Wait(); err == nil && werr == nil {
		zw.Close() // only a complete archive gets the gzip trailer
	}
}

// corruptTar flips the first byte of the first non-empty regular file,
// keeping the archive well formed.
func corruptTar(data []byte) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	done := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if !done && h.Typeflag == tar.TypeReg && len(body) > 0 {
			body[0] ^= 0xff
			done = true
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
