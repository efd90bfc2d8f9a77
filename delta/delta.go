package delta

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format selects a patch format.
type Format int

const (
	// V2 is the default: smallest patches, sizes and hashes in the header.
	V2 Format = 2
	// V1 is the original updater's format, for devices running its applier.
	V1 Format = 1
)

func (f Format) String() string {
	switch f {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "v1", "v2", "1" or "2".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "v1", "1":
		return V1, nil
	case "v2", "2", "":
		return V2, nil
	}
	return 0, fmt.Errorf("unknown delta format %q (want v1 or v2)", s)
}

// magic starts every patch of both formats.
const magic = "OTADELTA"

// DefaultMaxOutput caps the output of Apply when ApplyOptions.MaxOutput is 0.
const DefaultMaxOutput int64 = 1 << 34

// Options configure Diff.
type Options struct {
	// Format is V2 when zero.
	Format Format
}

// Diff writes a patch that turns old into new. It holds both inputs in memory.
func Diff(old, new []byte, w io.Writer, opts Options) error {
	var p []byte
	switch opts.Format {
	case V1:
		p = diffV1(old, new)
	case V2, 0:
		p = diffV2(old, new)
	default:
		return fmt.Errorf("delta diff: unsupported format %v", opts.Format)
	}
	if _, err := w.Write(p); err != nil {
		return fmt.Errorf("delta diff: write patch: %w", err)
	}
	return nil
}

// DiffBytes is Diff into a new byte slice.
func DiffBytes(old, new []byte, opts Options) ([]byte, error) {
	switch opts.Format {
	case V1:
		return diffV1(old, new), nil
	case V2, 0:
		return diffV2(old, new), nil
	}
	return nil, fmt.Errorf("delta diff: unsupported format %v", opts.Format)
}

// DiffFile reads two files and writes the patch between them to w. It is
// the building block for publishing per-file deltas (for example under
// .deltas/ named after the old blob's hash); the caller decides where the
// patch goes and whether it is worth keeping (see Worthwhile).
func DiffFile(oldPath, newPath string, w io.Writer, opts Options) error {
	old, err := os.ReadFile(oldPath)
	if err != nil {
		return fmt.Errorf("delta diff: read old file: %w", err)
	}
	nw, err := os.ReadFile(newPath)
	if err != nil {
		return fmt.Errorf("delta diff: read new file: %w", err)
	}
	return Diff(old, nw, w, opts)
}

// Worthwhile reports whether a patch of patchSize bytes is worth publishing
// for a new file of newSize bytes: it must save at least 30 % of the
// download, as in the original publisher.
func Worthwhile(patchSize, newSize int64) bool {
	return patchSize*10 <= newSize*7
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	// ExpectSHA256, if non-nil, must equal the output's SHA-256 (checked in
	// addition to the v2 header's hash).
	ExpectSHA256 []byte
	// MaxOutput caps the output size; 0 means DefaultMaxOutput. A v2 patch
	// whose header announces more is refused before writing anything.
	MaxOutput int64
}

// Result describes a successful Apply.
type Result struct {
	Format  Format
	Written int64
	SHA256  [sha256.Size]byte
}

// Apply reads patch front to back and writes the new file to out, reading
// the old file (oldSize bytes) through old. The format is detected from the
// header. On error, whatever was written to out must be discarded.
func Apply(old io.ReaderAt, oldSize int64, patch io.Reader, out io.Writer, opts ApplyOptions) (Result, error) {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if opts.ExpectSHA256 != nil && len(opts.ExpectSHA256) != sha256.Size {
		return Result{}, fmt.Errorf("delta apply: expected SHA-256 has %d bytes, want %d", len(opts.ExpectSHA256), sha256.Size)
	}
	br := bufio.NewReaderSize(patch, 8<<10)
	ver, err := readHeaderStart(br)
	if err != nil {
		return Result{}, err
	}
	ow := newOutWriter(out, opts.MaxOutput)
	var res Result
	switch ver {
	case 1:
		err = applyV1(old, oldSize, br, ow)
	case 2:
		err = applyV2(old, oldSize, br, ow)
	}
	if err != nil {
		return Result{}, err
	}
	if err := ow.flush(); err != nil {
		return Result{}, err
	}
	res.Format = Format(ver)
	res.Written = ow.n
	copy(res.SHA256[:], ow.h.Sum(nil))
	if opts.ExpectSHA256 != nil && string(opts.ExpectSHA256) != string(res.SHA256[:]) {
		return Result{}, fmt.Errorf("%w: expected %x, got %x", ErrHashMismatch, opts.ExpectSHA256, res.SHA256[:])
	}
	return res, nil
}

// readHeaderStart reads magic and version byte.
func readHeaderStart(br *bufio.Reader) (int, error) {
	var hdr [len(magic) + 1]byte
	n, err := io.ReadFull(br, hdr[:])
	if n < len(magic) || string(hdr[:len(magic)]) != magic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("delta: read header: %w", err)
		}
		return 0, &formatError{msg: ErrInvalidMagic.Error(), kind: ErrInvalidMagic}
	}
	if n < len(hdr) {
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("delta: read header: %w", err)
		}
		return 0, corrupt("Unexpected EOF reading version")
	}
	switch v := hdr[len(magic)]; v {
	case 1, 2:
		return int(v), nil
	default:
		return 0, fmt.Errorf("%w: %d", ErrUnsupportedVersion, v)
	}
}

// Info describes a patch without applying it.
type Info struct {
	Format Format
	// OldSize, OldSHA256 and NewSHA256 are known for v2 only; v1 carries no
	// sizes or hashes.
	OldSize   int64
	OldSHA256 []byte
	// NewSize is from the header (v2) or computed by walking the ops (v1).
	NewSize   int64
	NewSHA256 []byte
	// Ops counts v1 instructions (COPY and NEW).
	Ops int64
}

// ReadInfo reads a patch header. For v1 it walks the whole patch (without
// the old file) to count the output size.
func ReadInfo(patch io.Reader) (Info, error) {
	br := bufio.NewReaderSize(patch, 16<<10)
	ver, err := readHeaderStart(br)
	if err != nil {
		return Info{}, err
	}
	if ver == 1 {
		return infoV1(br)
	}
	h, err := readHeaderV2(br)
	if err != nil {
		return Info{}, err
	}
	return Info{Format: V2, OldSize: h.oldSize, OldSHA256: h.oldSHA[:], NewSize: h.newSize, NewSHA256: h.newSHA[:]}, nil
}

// outWriter buffers the output, hashes it and enforces the size cap.
type outWriter struct {
	w   *bufio.Writer
	h   hashWriter
	n   int64
	max int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newOutWriter(w io.Writer, max int64) *outWriter {
	return &outWriter{w: bufio.NewWriterSize(w, 16<<10), h: sha256.New(), max: max}
}

func (o *outWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > o.max-o.n {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, o.max)
	}
	o.h.Write(p)
	n, err := o.w.Write(p)
	o.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("delta apply: write output: %w", err)
	}
	return n, nil
}

func (o *outWriter) flush() error {
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("delta apply: write output: %w", err)
	}
	return nil
}

// readOld reads exactly len(p) bytes at off from the old file.
func readOld(old io.ReaderAt, oldSize, off int64, p []byte) error {
	if off < 0 || off > oldSize || int64(len(p)) > oldSize-off {
		return corrupt("Unexpected EOF in old file")
	}
	n, err := old.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return corrupt("Unexpected EOF in old file")
	}
	return fmt.Errorf("delta apply: read old file at %d: %w", off, err)
}
