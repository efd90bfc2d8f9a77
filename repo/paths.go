package repo

import (
	"fmt"
	"path"
	"strings"
)

// CheckPath refuses a tree path that is not relative, slash-separated and
// clean: empty, absolute, "." or ".." components, empty components, NUL,
// backslash or other control characters.
func CheckPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrUnsafePath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > 4096:
		return bad("longer than 4096 bytes")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	case strings.ContainsRune(p, '\\'):
		return bad("contains a backslash")
	}
	for _, c := range []byte(p) {
		if c < 0x20 || c == 0x7f {
			return bad("contains a control character or NUL")
		}
	}
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "":
			return bad("empty path component")
		case ".", "..":
			return bad("\".\" or \"..\" component")
		}
	}
	return nil
}

// CheckLinkTarget refuses a symlink target that could point outside the tree
// when the link lives at linkPath: absolute, unclean (so ".." can only lead
// the target), or climbing above the root. Because no path may be both a file
// and a directory, a link's parent directories are real directories, and a
// clean target only climbs them before descending, so this lexical check is
// sound even when the target passes through other (checked) links.
func CheckLinkTarget(linkPath, target string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: symlink %q -> %q: %s", ErrUnsafePath, linkPath, target, why)
	}
	switch {
	case target == "":
		return bad("empty target")
	case strings.HasPrefix(target, "/"):
		return bad("absolute target")
	case strings.ContainsRune(target, '\\'):
		return bad("backslash in target")
	case strings.ContainsRune(target, 0):
		return bad("NUL in target")
	case path.Clean(target) != target:
		return bad("target is not clean")
	}
	resolved := path.Join(path.Dir(linkPath), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return bad("escapes the tree")
	}
	return nil
}
