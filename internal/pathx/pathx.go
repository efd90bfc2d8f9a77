// Package pathx validates the relative paths that come from update sources and
// decides which of them the agent manages (allow/ignore filters).
//
// Invariant: a path accepted by Validate, joined to the target folder, stays
// inside it; a symlink accepted by LinkInside resolves inside the tree.
package pathx

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// MaxPathLen bounds a relative path (Linux PATH_MAX).
const MaxPathLen = 4096

// Validate reports whether rel is a safe relative path: slash-separated, not
// absolute, no empty, "." or ".." components, no NUL, backslash or control
// characters, valid UTF-8, and no component longer than 255 bytes.
func Validate(rel string) error {
	switch {
	case rel == "":
		return fmt.Errorf("invalid path %q: empty", rel)
	case len(rel) > MaxPathLen:
		return fmt.Errorf("invalid path %.40q...: longer than %d bytes", rel, MaxPathLen)
	case !utf8.ValidString(rel):
		return fmt.Errorf("invalid path %q: not UTF-8", rel)
	case strings.HasPrefix(rel, "/"):
		return fmt.Errorf("invalid path %q: absolute", rel)
	case strings.ContainsRune(rel, '\\'):
		return fmt.Errorf("invalid path %q: contains a backslash", rel)
	}
	for _, r := range rel {
		if r == 0 || unicode.IsControl(r) {
			return fmt.Errorf("invalid path %q: contains a control character", rel)
		}
	}
	for _, c := range strings.Split(rel, "/") {
		switch {
		case c == "" || c == "." || c == "..":
			return fmt.Errorf("invalid path %q: contains %q component", rel, c)
		case len(c) > 255:
			return fmt.Errorf("invalid path %q: component longer than 255 bytes", rel)
		}
	}
	return nil
}

// LinkInside reports whether a symlink at rel pointing to target resolves
// inside the tree root (lexically; intermediate symlinks are checked when
// each of them is validated).
func LinkInside(rel, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) || strings.ContainsRune(target, '\\') {
		return false
	}
	j := path.Join(path.Dir(rel), target)
	return j != ".." && !strings.HasPrefix(j, "../") && j != "."
}

// maxLinkHops bounds link-following in ResolveInside (the kernel's is 40).
const maxLinkHops = 40

// ResolveInside follows the symbolic link at rel through links (every link
// of the tree: path -> target) as the kernel would, and reports an error
// when the resolution ever steps above the tree root, is absolute, or loops.
// A ".." after a link applies to where the link led, not to its name; that
// is what a lexical check of each target alone misses.
func ResolveInside(rel string, links map[string]string) error {
	target := links[rel]
	escape := func(why string) error {
		return fmt.Errorf("symlink %s -> %s %s", rel, target, why)
	}
	var cur []string
	if d := path.Dir(rel); d != "." {
		cur = strings.Split(d, "/")
	}
	if strings.HasPrefix(target, "/") || target == "" {
		return escape("is absolute or empty")
	}
	pending := strings.Split(target, "/")
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
		case "..":
			if len(cur) == 0 {
				return escape("resolves outside the tree")
			}
			cur = cur[:len(cur)-1]
		default:
			cur = append(cur, c)
			t, ok := links[strings.Join(cur, "/")]
			if !ok {
				continue
			}
			if hops++; hops > maxLinkHops {
				return escape("loops through other links")
			}
			if strings.HasPrefix(t, "/") {
				return escape("resolves through an absolute link " + strings.Join(cur, "/"))
			}
			cur = cur[:len(cur)-1]
			pending = append(strings.Split(t, "/"), pending...)
		}
	}
	return nil
}

// Filter selects the managed paths: a path is permitted when allow is empty or
// it matches an allow entry, and it matches no ignore entry (ignore wins).
// An entry matches a path equal to it, a path below it (folder prefix), or,
// when it contains glob characters (* ? [ {), a path matching it as a
// doublestar glob or lying below such a match.
type Filter struct {
	allow, ignore []string
}

// NewFilter normalises entries as the original did (strip surrounding
// slashes, drop empty ones) and checks glob syntax.
func NewFilter(allow, ignore []string) (Filter, error) {
	var f Filter
	var err error
	if f.allow, err = norm("allow", allow); err != nil {
		return f, err
	}
	if f.ignore, err = norm("ignore", ignore); err != nil {
		return f, err
	}
	return f, nil
}

func norm(key string, in []string) ([]string, error) {
	var out []string
	for _, e := range in {
		e = strings.Trim(strings.TrimSpace(e), "/")
		if e == "" {
			continue
		}
		if isGlob(e) && !doublestar.ValidatePattern(e) {
			return nil, fmt.Errorf("%s: invalid glob pattern %q", key, e)
		}
		out = append(out, e)
	}
	return out, nil
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[{") }

func match(entry, p string) bool {
	if p == entry || strings.HasPrefix(p, entry+"/") {
		return true
	}
	if !isGlob(entry) {
		return false
	}
	if ok, _ := doublestar.Match(entry, p); ok {
		return true
	}
	ok, _ := doublestar.Match(entry+"/**", p)
	return ok
}

// Permitted reports whether the agent manages p.
func (f Filter) Permitted(p string) bool {
	for _, i := range f.ignore {
		if match(i, p) {
			return false
		}
	}
	if len(f.allow) == 0 {
		return true
	}
	for _, a := range f.allow {
		if match(a, p) {
			return true
		}
	}
	return false
}

// Under reports whether p equals prefix or lies below it.
func Under(p, prefix string) bool {
	prefix = strings.Trim(prefix, "/")
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}
