package repo

import (
	"fmt"
	"github.com/otafleet/ota/internal/pathx"
	"path"
	"strings"
)

// CheckPath refuses a tree path that is not relative, slash-separated and
// clean (the agent's shared rules, internal/pathx): empty, absolute, "." or
// ".." components, empty components, NUL, backslash, control characters,
// invalid UTF-8, over-long names.
func CheckPath(p string) error {
	if err := pathx.Validate(p); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafePath, err)
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
