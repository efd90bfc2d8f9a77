package state

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/pathx"
	"github.com/otafleet/ota/internal/source"
)

// FileState is one managed file in the index.
type FileState struct {
	SHA1  string `json:"sha1"`
	Mode  uint32 `json:"mode"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Dev   uint64 `json:"dev,omitempty"`
}

// IndexEntry is one file of an index: its path and state.
type IndexEntry struct {
	Path string
	FileState
}

// Index lists the files ota installed, sorted by path (each path once), so a
// lookup is a binary search and two indexes (or an index and a sorted tree)
// are compared by one merge walk. For 100,000 files it holds about 11 MB,
// where a map of the same entries held about 25 MB.
//
// On disk it is a line-oriented text file (see WriteIndexFile), streamed in
// and out; the JSON object of earlier versions ({"version", "files": {path:
// state}}) is still read, and is what an Index marshals to inside a journal
// written by an earlier version.
type Index struct {
	Version *source.Version
	Files   []IndexEntry
}

// Lookup returns the state of the file at p.
func (idx Index) Lookup(p string) (FileState, bool) {
	i, ok := slices.BinarySearchFunc(idx.Files, p, func(e IndexEntry, p string) int { return strings.Compare(e.Path, p) })
	if !ok {
		return FileState{}, false
	}
	return idx.Files[i].FileState, true
}

// IsZero reports an index with no version and no files (journal encoding
// omits it).
func (idx Index) IsZero() bool { return idx.Version == nil && len(idx.Files) == 0 }

// NewIndex makes an index from files in any order; a path listed twice keeps
// its last state.
func NewIndex(v *source.Version, files []IndexEntry) Index {
	slices.SortStableFunc(files, func(a, b IndexEntry) int { return strings.Compare(a.Path, b.Path) })
	out := files[:0]
	for i, e := range files {
		if i+1 < len(files) && files[i+1].Path == e.Path {
			continue
		}
		out = append(out, e)
	}
	return Index{Version: v, Files: out}
}

// legacyIndex is the JSON form of earlier versions (installed.json,
// previous.json, and the indexes embedded in a format-1 journal).
type legacyIndex struct {
	Version *source.Version      `json:"version,omitempty"`
	Files   map[string]FileState `json:"files"`
}

// MarshalJSON writes the legacy JSON form (only journals of format 1 and
// tests use it).
func (idx Index) MarshalJSON() ([]byte, error) {
	l := legacyIndex{Version: idx.Version, Files: make(map[string]FileState, len(idx.Files))}
	for _, e := range idx.Files {
		l.Files[e.Path] = e.FileState
	}
	return json.Marshal(l)
}

// UnmarshalJSON reads the legacy JSON form.
func (idx *Index) UnmarshalJSON(b []byte) error {
	var l legacyIndex
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	if l.Files == nil {
		return errors.New("index without files")
	}
	files := make([]IndexEntry, 0, len(l.Files))
	for p, f := range l.Files {
		files = append(files, IndexEntry{Path: p, FileState: f})
	}
	*idx = NewIndex(l.Version, files)
	return nil
}

// Check validates what an index read from disk names: every path as
// strictly as a tree path from a source, every SHA-1 as 40 hex digits (it
// names an object file), paths sorted and unique. A state file is no more
// trusted than the network.
func (idx Index) Check() error {
	for i, f := range idx.Files {
		if err := pathx.Validate(f.Path); err != nil {
			return err
		}
		if !IsSHA1(f.SHA1) {
			return fmt.Errorf("file %q: invalid sha1 %q", f.Path, f.SHA1)
		}
		if i > 0 && idx.Files[i-1].Path >= f.Path {
			return fmt.Errorf("file %q: not sorted after %q", f.Path, idx.Files[i-1].Path)
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

// indexMagic starts an index file of the current format. The lines after it:
//
//	version {"ref": ..., "commit": ..., "version": N}   (optional, JSON)
//	<sha1> <mode, octal> <size> <mtime_ns> <dev> <ino> <path>
//
// one file a line, sorted by path. A path never holds a control character
// (pathx.Validate), so it ends its line unquoted.
const indexMagic = "ota-index 2"

// ReadIndex loads the installed index; a missing or corrupt index is empty
// (the agent then manages only what the next tree lists).
func ReadIndex(fsys fsx.FS, stateDir string) Index {
	idx, _, err := ReadIndexFile(fsys, path.Join(stateDir, IndexFile))
	if err != nil {
		return Index{}
	}
	return idx
}

// WriteIndex durably writes the index.
func WriteIndex(fsys fsx.FS, stateDir string, idx Index) error {
	if _, err := fsx.MkdirAll(fsys, stateDir, 0o755); err != nil {
		return err
	}
	_, err := WriteIndexFile(fsys, path.Join(stateDir, IndexFile), idx.Version, slices.Values(idx.Files))
	return err
}

// ReadPrevious returns the index of the version before the installed one, or
// nil when none is kept.
func ReadPrevious(fsys fsx.FS, stateDir string) *Index {
	idx, _, err := ReadIndexFile(fsys, path.Join(stateDir, PreviousFile))
	if err != nil || idx.Version == nil {
		return nil
	}
	return &idx
}

// WritePrevious durably records the previous version's index.
func WritePrevious(fsys fsx.FS, stateDir string, idx Index) error {
	_, err := WriteIndexFile(fsys, path.Join(stateDir, PreviousFile), idx.Version, slices.Values(idx.Files))
	return err
}

// WriteIndexFile durably writes an index file (write, fsync, rename, fsync
// folder) from files, which must come sorted by path, streaming it: nothing
// but one line is built in memory. It returns the file's SHA-256 (hex).
func WriteIndexFile(fsys fsx.FS, name string, v *source.Version, files func(yield func(IndexEntry) bool)) (string, error) {
	h := sha256.New()
	err := fsx.WriteAtomic(fsys, name, 0o644, func(w io.Writer) error {
		w = io.MultiWriter(w, h)
		line := make([]byte, 0, 256)
		line = append(line, indexMagic+"\n"...)
		if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			line = append(append(append(line, "version "...), b...), '\n')
		}
		if files == nil {
			files = func(func(IndexEntry) bool) {}
		}
		prev := ""
		for e := range files {
			if prev != "" && e.Path <= prev {
				return fmt.Errorf("index: %q not sorted after %q", e.Path, prev)
			}
			prev = e.Path
			line = append(line, e.SHA1...)
			line = append(line, ' ')
			line = strconv.AppendUint(line, uint64(e.Mode), 8)
			line = append(line, ' ')
			line = strconv.AppendInt(line, e.Size, 10)
			line = append(line, ' ')
			line = strconv.AppendInt(line, e.MTime, 10)
			line = append(line, ' ')
			line = strconv.AppendUint(line, e.Dev, 10)
			line = append(line, ' ')
			line = strconv.AppendUint(line, e.Ino, 10)
			line = append(line, ' ')
			line = append(line, e.Path...)
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				return err
			}
			line = line[:0]
		}
		if len(line) > 0 { // header only
			_, err := w.Write(line)
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrCorruptIndex is wrapped by ReadIndexFile for a file that is not an index.
var ErrCorruptIndex = errors.New("corrupt index")

// ReadIndexFile reads an index file of either format, checked (see Check),
// and returns it with the file's SHA-256 (hex).
func ReadIndexFile(fsys fsx.FS, name string) (Index, string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return Index{}, "", err
	}
	defer f.Close()
	// Count the lines first (a fast pass over the page cache), so the slice
	// is allocated once at its size instead of grown by doubling.
	lines, err := countLines(f)
	if err != nil {
		return Index{}, "", err
	}
	h := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, h), 64<<10)
	idx, err := decodeIndex(r, lines)
	if err == nil {
		err = idx.Check()
	}
	if err != nil {
		return Index{}, "", fmt.Errorf("%s: %w: %v", name, ErrCorruptIndex, err)
	}
	return idx, hex.EncodeToString(h.Sum(nil)), nil
}

func countLines(f fsx.File) (int, error) {
	buf := make([]byte, 64<<10)
	n, off := 0, int64(0)
	for {
		k, err := f.ReadAt(buf, off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// decodeIndex reads an index of either format; lines sizes the file list.
func decodeIndex(r *bufio.Reader, lines int) (Index, error) {
	if b, err := r.Peek(1); err == nil && b[0] == '{' {
		var idx Index
		d := json.NewDecoder(r)
		if err := d.Decode(&idx); err != nil {
			return Index{}, err
		}
		_, err := io.Copy(io.Discard, r) // the hash covers the whole file
		return idx, err
	}
	idx := Index{Files: make([]IndexEntry, 0, min(lines, 1<<20))}
	first := true
	buf := make([]byte, 0, 256)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return Index{}, errors.New("line too long")
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return Index{}, err
		}
		if err == io.EOF {
			return Index{}, errors.New("truncated (no final newline)")
		}
		line = line[:len(line)-1]
		switch {
		case first:
			if string(line) != indexMagic {
				return Index{}, fmt.Errorf("not an index file (%.20q)", line)
			}
			first = false
			continue
		case idx.Version == nil && len(idx.Files) == 0 && bytes.HasPrefix(line, []byte("version ")):
			var v source.Version
			if err := json.Unmarshal(line[len("version "):], &v); err != nil {
				return Index{}, fmt.Errorf("version: %v", err)
			}
			idx.Version = &v
			continue
		}
		e, err := parseIndexLine(line, &buf)
		if err != nil {
			return Index{}, err
		}
		idx.Files = append(idx.Files, e)
	}
	if first {
		return Index{}, errors.New("empty file")
	}
	if len(idx.Files) == 0 {
		idx.Files = nil
	}
	return idx, nil
}

// parseIndexLine parses one file line. The SHA-1 and the path share one
// allocation.
func parseIndexLine(line []byte, buf *[]byte) (IndexEntry, error) {
	var fields [6][]byte
	rest := line
	for i := range fields {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return IndexEntry{}, fmt.Errorf("short line %.60q", line)
		}
		fields[i], rest = rest[:sp], rest[sp+1:]
	}
	var e IndexEntry
	mode, ok1 := parseUint(fields[1], 8)
	size, ok2 := parseInt(fields[2])
	mtime, ok3 := parseInt(fields[3])
	dev, ok4 := parseUint(fields[4], 10)
	ino, ok5 := parseUint(fields[5], 10)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || mode > 1<<32-1 || len(fields[0]) != 40 || len(rest) == 0 {
		return IndexEntry{}, fmt.Errorf("bad line %.60q", line)
	}
	b := append(append((*buf)[:0], fields[0]...), rest...)
	*buf = b
	s := string(b)
	e.SHA1, e.Path = s[:40], s[40:]
	e.Mode, e.Size, e.MTime, e.Dev, e.Ino = uint32(mode), size, mtime, dev, ino
	return e, nil
}

// parseUint parses digits in base 8 or 10 without allocating (strconv
// needs a string).
func parseUint(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if c < '0' || d >= base {
			return 0, false
		}
		if n > (1<<64-1-d)/base {
			return 0, false // overflow
		}
		n = n*base + d
	}
	return n, true
}

func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := parseUint(b, 10)
	if !ok || n > 1<<63 || (!neg && n == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
