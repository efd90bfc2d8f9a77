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
	"github.com/otafleet/ota/internal/pathx"
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

// FileState is one managed file in the index.
type FileState struct {
	SHA1  string `json:"sha1"`
	Mode  uint32 `json:"mode"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Dev   uint64 `json:"dev,omitempty"`
}

// Index lists the files ota installed, by relative path.
type Index struct {
	Version *source.Version      `json:"version,omitempty"`
	Files   map[string]FileState `json:"files"`
}

// Check validates what an index read from disk names: every path as
// strictly as a tree path from a source, every SHA-1 as 40 hex digits (it
// names an object file). A state file is no more trusted than the network.
func (idx Index) Check() error {
	for p, f := range idx.Files {
		if err := pathx.Validate(p); err != nil {
			return err
		}
		if !IsSHA1(f.SHA1) {
			return fmt.Errorf("file %q: invalid sha1 %q", p, f.SHA1)
		}
	}
	return nil
}

// IsSHA1 reports whether s is a lowercase hex SHA-1.
func IsSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ReadIndex loads the installed index; a missing or corrupt index is empty
// (the agent then manages only what the next tree lists).
func ReadIndex(fsys fsx.FS, stateDir string) Index {
	idx := Index{Files: map[string]FileState{}}
	b, err := fsx.ReadFile(fsys, path.Join(stateDir, IndexFile))
	if err != nil {
		return idx
	}
	if json.Unmarshal(b, &idx) != nil || idx.Files == nil || idx.Check() != nil {
		return Index{Files: map[string]FileState{}}
	}
	return idx
}

// WriteIndex durably writes the index.
func WriteIndex(fsys fsx.FS, stateDir string, idx Index) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if _, err := fsx.MkdirAll(fsys, stateDir, 0o755); err != nil {
		return err
	}
	return fsx.WriteFileAtomic(fsys, path.Join(stateDir, IndexFile), b, 0o644)
}

// ReadPrevious returns the index of the version before the installed one, or
// nil when none is kept.
func ReadPrevious(fsys fsx.FS, stateDir string) *Index {
	b, err := fsx.ReadFile(fsys, path.Join(stateDir, PreviousFile))
	if err != nil {
		return nil
	}
	var idx Index
	if json.Unmarshal(b, &idx) != nil || idx.Version == nil || idx.Files == nil || idx.Check() != nil {
		return nil
	}
	return &idx
}

// WritePrevious durably records the previous version's index.
func WritePrevious(fsys fsx.FS, stateDir string, idx Index) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return fsx.WriteFileAtomic(fsys, path.Join(stateDir, PreviousFile), b, 0o644)
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
