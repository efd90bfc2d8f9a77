// Package treesnap captures a folder tree exactly (files with content and
// executable bit, symlinks with targets, folders) for old-or-new assertions.
package treesnap

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otafleet/ota/internal/testutil/memsource"
)

// Snap maps a relative path to a description of what is there.
type Snap map[string]string

// Take walks dir, leaving out the top-level names in skip.
func Take(dir string, skip ...string) (Snap, error) {
	s := Snap{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		top := strings.SplitN(rel, "/", 2)[0]
		for _, k := range skip {
			if top == k {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			s[rel] = "link:" + t
		case fi.IsDir():
			s[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s[rel] = fmt.Sprintf("file:%o:%s", fi.Mode().Perm()&0o111, b)
		}
		return nil
	})
	return s, err
}

// FromTree describes what a memsource tree looks like when installed.
func FromTree(t memsource.Tree) Snap {
	s := Snap{}
	for p, f := range t {
		switch f.Mode {
		case 0o120000:
			s[p] = "link:" + f.Data
		case 0o100755:
			s[p] = "file:111:" + f.Data
		default:
			s[p] = "file:0:" + f.Data
		}
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			s[filepath.ToSlash(d)] = "dir"
		}
	}
	return s
}

// Diff lists the differences between want and got, sorted.
func Diff(want, got Snap) []string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, "missing "+k)
		} else if g != v {
			out = append(out, fmt.Sprintf("differs %s: want %.40q got %.40q", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "extra "+k)
		}
	}
	sort.Strings(out)
	return out
}

// Equal reports whether two snapshots are the same.
func Equal(a, b Snap) bool { return len(Diff(a, b)) == 0 }

// Merge returns a copy of a with b's entries added.
func Merge(a, b Snap) Snap {
	out := Snap{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
