// Package state keeps what the agent knows about the device between runs:
//
//   - version.json in the target folder: {"ref", "commit"} as the original
//     wrote it. It is the commit marker of an update: an update is installed
//     exactly when version.json names it.
//   - the installed index (state_dir/installed.json): which files ota manages,
//     with their git blob SHA-1 and a stat cache (size, mtime, inode) so a check
//     with nothing changed does not re-read every file.
//   - the HTTP cache (state_dir/http-cache.json and state_dir/http-cache/):
//     ETags for conditional requests and the bodies they validate.
//   - ota_error.json in the target folder: the error history, written by the
//     agent (internal/trial); read here for status.
//
// All writes are durable (write, fsync, rename, fsync dir).
package state

import (
	"encoding/json"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
)

// File names.
const (
	VersionFile   = statedir.Version
	ErrorFile     = statedir.Errors
	IndexFile     = statedir.Index
	HTTPCacheFile = statedir.HTTPCacheIndex
	PreviousFile  = statedir.PreviousIndex
)

// ReadVersion returns the installed version, or nil when none is recorded
// (missing or unreadable file, as the original treated it).
func ReadVersion(fsys fsx.FS, targetDir string) *source.Version {
	// In the releases layout version.json is a link into current; only
	// links that stay inside target_dir are followed.
	p, err := fsx.ResolveInside(fsys, targetDir, VersionFile)
	if err != nil {
		return nil
	}
	b, err := fsx.ReadFile(fsys, p)
	if err != nil {
		return nil
	}
	var v source.Version
	if json.Unmarshal(b, &v) != nil || (v.Ref == "" && v.Commit == "") {
		return nil
	}
	return &v
}

// EncodeVersion renders version.json exactly as the original's json.dump did:
// {"ref": "v1", "commit": "abc"}; a published version number is appended.
func EncodeVersion(v source.Version) []byte {
	s := `{"ref": ` + quote(v.Ref) + `, "commit": ` + quote(v.Commit)
	if v.Number != 0 {
		s += `, "version": ` + strconv.FormatInt(v.Number, 10)
	}
	return []byte(s + "}")
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// WriteVersion durably writes version.json.
func WriteVersion(fsys fsx.FS, targetDir string, v source.Version) error {
	return fsx.WriteFileAtomic(fsys, path.Join(targetDir, VersionFile), EncodeVersion(v), 0o644)
}

// Stamp fills the stat-cache fields of st from fi.
func Stamp(st FileState, fi fs.FileInfo) FileState {
	st.Size = fi.Size()
	st.MTime = fi.ModTime().UnixNano()
	st.Dev, st.Ino, _ = fsx.FileID(fi)
	return st
}

// Fresh reports whether fi still matches the stat cache of st, so its cached
// SHA-1 can be trusted without reading the file.
func (st FileState) Fresh(fi fs.FileInfo) bool {
	if st.MTime == 0 || fi.Size() != st.Size || fi.ModTime().UnixNano() != st.MTime {
		return false
	}
	dev, ino, ok := fsx.FileID(fi)
	return !ok || (dev == st.Dev && ino == st.Ino)
}

// ReadErrors returns the recorded errors, oldest first.
func ReadErrors(fsys fsx.FS, targetDir string) []string {
	var doc struct {
		Errors []string `json:"errors"`
	}
	if b, err := fsx.ReadFile(fsys, path.Join(targetDir, ErrorFile)); err == nil {
		_ = json.Unmarshal(b, &doc)
	}
	return doc.Errors
}

// Format renders a version as the original's _format_version did.
func Format(v *source.Version) string {
	if v == nil {
		return "none"
	}
	c := v.Commit
	if len(c) > 7 {
		c = c[:7]
	}
	var parts []string
	if v.Ref != "" {
		parts = append(parts, v.Ref)
	}
	if c != "" {
		parts = append(parts, "#"+c)
	}
	if v.Number != 0 {
		parts = append(parts, fmt.Sprintf("(v%d)", v.Number))
	}
	return strings.Join(parts, " ")
}
