package repo

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The head format: a small signed document naming the release's file list
// (the manifest) by SHA-256 and size, so that an update costs what changed.
//
//	head.json                               Bundle{root, head}: the only mutable file a new client reads
//	manifests/<sha256>                      the manifest of a version (ManifestFormat), immutable
//	manifest-deltas/<from>-<to>.<format>    delta (package delta) from one manifest to another, immutable
//
// The manifest and its deltas carry no signature: the head binds the
// manifest's SHA-256 and size, so a client verifies the bytes it rebuilt or
// downloaded against the signed head before it parses them.
const (
	KindHead = "ota-head"
	TypeHead = "application/vnd.ota.head+json"
	// HeadPath is the head bundle of the newest version.
	HeadPath = "head.json"
	// ManifestFormat names the binary encoding of EncodeManifest.
	ManifestFormat = "otam1"
	// ManifestDeltaFormat is the delta format of manifest-deltas/.
	ManifestDeltaFormat = "v2"
)

// Head is the release metadata without its file list: what a client checks
// on every poll.
type Head struct {
	Kind     string       `json:"_type"` // KindHead
	Version  int64        `json:"version"`
	Ref      string       `json:"ref"`
	Commit   string       `json:"commit"`
	Created  time.Time    `json:"created"`
	Expires  time.Time    `json:"expires"`
	Manifest ManifestInfo `json:"manifest"`
	Rollout  *Rollout     `json:"rollout,omitempty"`
}

// ManifestInfo binds a manifest's bytes to the signed head.
type ManifestInfo struct {
	Format string `json:"format"` // ManifestFormat
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Files  int    `json:"files"`
}

// HeadBundle is the file head.json: the delegation and one head.
type HeadBundle struct {
	Root *Envelope `json:"root"`
	Head *Envelope `json:"head"`
}

// Marshal encodes b as it is stored in the repository (compact: it is
// fetched on every change).
func (b *HeadBundle) Marshal() ([]byte, error) {
	out, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseHeadBundle decodes a HeadBundle without verifying it.
func ParseHeadBundle(data []byte) (*HeadBundle, error) {
	var b HeadBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: head bundle: %w", ErrMalformed, err)
	}
	if b.Root == nil || b.Head == nil {
		return nil, fmt.Errorf("%w: head bundle needs \"root\" and \"head\"", ErrMalformed)
	}
	return &b, nil
}

// IsHeadBundle reports whether data looks like a head bundle rather than a
// release bundle (the old latest.json format); it verifies nothing.
func IsHeadBundle(data []byte) bool {
	var probe struct {
		Head json.RawMessage `json:"head"`
	}
	return json.Unmarshal(data, &probe) == nil && len(probe.Head) > 0 && string(probe.Head) != "null"
}

// ManifestPath is where the manifest with this SHA-256 lives.
func ManifestPath(sha256hex string) string { return "manifests/" + sha256hex }

// ManifestDeltaPath is where the delta between two manifests lives.
func ManifestDeltaPath(fromSHA256, toSHA256 string) string {
	return "manifest-deltas/" + fromSHA256 + "-" + toSHA256 + "." + ManifestDeltaFormat
}

// HeadOf is the head of rel whose manifest is man.
func HeadOf(rel *Release, man []byte) *Head {
	return &Head{Kind: KindHead, Version: rel.Version, Ref: rel.Ref, Commit: rel.Commit, Created: rel.Created,
		Expires: rel.Expires, Rollout: rel.Rollout,
		Manifest: ManifestInfo{Format: ManifestFormat, SHA256: sha256Hex(man), Size: int64(len(man)), Files: len(rel.Files)}}
}

// Manifest encoding (ManifestFormat "otam1"), canonical so that one release
// always gives the same bytes (which keeps deltas between manifests small):
//
//	"otam1\n"
//	uvarint file count, then per file, sorted by path (strictly increasing):
//	  uvarint prefix length shared with the previous path, uvarint suffix length, suffix
//	  mode byte (0: 0o100644, 1: 0o100755, 2: 0o120000)
//	  uvarint size, 32 bytes SHA-256, 20 bytes git blob SHA-1
//	  for a symlink: its target (size bytes)
//	uvarint delta count, then per delta, sorted by (file index, from SHA-256, format):
//	  uvarint index of the file it produces
//	  32 bytes from SHA-256, 20 bytes from git blob SHA-1
//	  uvarint format length, format
//	  uvarint size, 32 bytes SHA-256 of the patch
//
// A delta's object path is DeltaPath(from, to, format), so it is not stored.
const manifestMagic = "otam1\n"

var modeCodes = []uint32{ModeFile, ModeExecutable, ModeSymlink}

// EncodeManifest encodes the file list and deltas of rel.
func EncodeManifest(rel *Release) ([]byte, error) {
	files := slices.Clone(rel.Files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	index := make(map[string]int, len(files)) // to SHA-256 → first file index
	var b []byte
	b = append(b, manifestMagic...)
	b = binary.AppendUvarint(b, uint64(len(files)))
	prev := ""
	for i, f := range files {
		if i > 0 && f.Path == prev {
			return nil, fmt.Errorf("%w: %q listed twice", ErrUnsafePath, f.Path)
		}
		code := slices.Index(modeCodes, f.Mode)
		if code < 0 {
			return nil, fmt.Errorf("%w: %s: mode %o", ErrMalformed, f.Path, f.Mode)
		}
		n := commonPrefix(prev, f.Path)
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, uint64(len(f.Path)-n))
		b = append(b, f.Path[n:]...)
		b = append(b, byte(code))
		b = binary.AppendUvarint(b, uint64(f.Size))
		var err error
		if b, err = appendHex(b, f.SHA256, 32); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		if b, err = appendHex(b, f.SHA1, 20); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		if f.Mode == ModeSymlink {
			if int64(len(f.LinkTarget)) != f.Size {
				return nil, fmt.Errorf("%w: symlink %s: target length differs from size", ErrMalformed, f.Path)
			}
			b = append(b, f.LinkTarget...)
		}
		if _, ok := index[f.SHA256]; !ok {
			index[f.SHA256] = i
		}
		prev = f.Path
	}
	type drec struct {
		file int
		d    Delta
	}
	var ds []drec
	for _, d := range rel.Deltas {
		i, ok := index[d.ToSHA256]
		if !ok || files[i].SHA1 != d.ToSHA1 {
			return nil, fmt.Errorf("%w: delta to %s produces no listed file", ErrMalformed, d.ToSHA256)
		}
		ds = append(ds, drec{i, d})
	}
	slices.SortFunc(ds, func(x, y drec) int {
		if x.file != y.file {
			return x.file - y.file
		}
		if c := strings.Compare(x.d.FromSHA256, y.d.FromSHA256); c != 0 {
			return c
		}
		return strings.Compare(x.d.Format, y.d.Format)
	})
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for _, r := range ds {
		d := r.d
		b = binary.AppendUvarint(b, uint64(r.file))
		var err error
		if b, err = appendHex(b, d.FromSHA256, 32); err != nil {
			return nil, fmt.Errorf("delta: %w", err)
		}
		if b, err = appendHex(b, d.FromSHA1, 20); err != nil {
			return nil, fmt.Errorf("delta: %w", err)
		}
		if !isToken(d.Format) {
			return nil, fmt.Errorf("%w: delta format %q", ErrMalformed, d.Format)
		}
		b = binary.AppendUvarint(b, uint64(len(d.Format)))
		b = append(b, d.Format...)
		b = binary.AppendUvarint(b, uint64(d.Size))
		if b, err = appendHex(b, d.SHA256, 32); err != nil {
			return nil, fmt.Errorf("delta: %w", err)
		}
	}
	return b, nil
}

// DecodeManifest decodes a manifest into the Files and Deltas of a release
// and validates them (CheckRelease) against lim. It never allocates more
// than the input's size warrants, so it is safe on untrusted bytes; the
// client only decodes bytes whose SHA-256 a signed head named.
func DecodeManifest(data []byte, lim Limits) ([]File, []Delta, error) {
	lim = lim.withDefaults()
	d := &decoder{b: data}
	if !bytes.HasPrefix(data, []byte(manifestMagic)) {
		return nil, nil, fmt.Errorf("%w: manifest: not %s", ErrMalformed, ManifestFormat)
	}
	d.b = d.b[len(manifestMagic):]
	n := d.count(1 + 1 + 1 + 1 + 32 + 20) // smallest entry
	if d.err == nil && n > uint64(lim.MaxFiles) {
		return nil, nil, fmt.Errorf("%w: manifest lists %d files, limit %d", ErrTooLarge, n, lim.MaxFiles)
	}
	files := make([]File, 0, n)
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		shared, suffix := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if shared > uint64(len(prev)) || suffix > uint64(len(d.b)) {
			d.err = errors.New("path out of range")
			break
		}
		p := prev[:shared] + string(d.bytes(int(suffix)))
		if i > 0 && p <= prev {
			d.err = fmt.Errorf("paths not strictly increasing at %q", p)
			break
		}
		code := d.byte()
		f := File{Path: p, Size: int64(d.uvarint()), SHA256: d.hex(32), SHA1: d.hex(20)}
		if d.err != nil {
			break
		}
		if int(code) >= len(modeCodes) {
			d.err = fmt.Errorf("%s: mode code %d", p, code)
			break
		}
		f.Mode = modeCodes[code]
		if f.Mode == ModeSymlink {
			if f.Size < 0 || f.Size > int64(len(d.b)) {
				d.err = fmt.Errorf("%s: symlink target out of range", p)
				break
			}
			f.LinkTarget = string(d.bytes(int(f.Size)))
		}
		files = append(files, f)
		prev = p
	}
	nd := d.count(1 + 32 + 20 + 1 + 1 + 1 + 32)
	var deltas []Delta
	for i := uint64(0); i < nd && d.err == nil; i++ {
		fi := d.uvarint()
		from256, from1 := d.hex(32), d.hex(20)
		fl := d.uvarint()
		if d.err != nil {
			break
		}
		if fl > uint64(len(d.b)) {
			d.err = errors.New("delta format out of range")
			break
		}
		format := string(d.bytes(int(fl)))
		size, sum := int64(d.uvarint()), d.hex(32)
		if d.err != nil {
			break
		}
		if fi >= uint64(len(files)) {
			d.err = fmt.Errorf("delta for file %d of %d", fi, len(files))
			break
		}
		to := files[fi]
		deltas = append(deltas, Delta{FromSHA256: from256, FromSHA1: from1, ToSHA256: to.SHA256, ToSHA1: to.SHA1,
			Format: format, Object: DeltaPath(from256, to.SHA256, format), Size: size, SHA256: sum})
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes of trailing data", len(d.b))
	}
	if d.err != nil {
		return nil, nil, fmt.Errorf("%w: manifest: %w", ErrMalformed, d.err)
	}
	rel := Release{Files: files, Deltas: deltas}
	if err := CheckRelease(&rel, lim); err != nil {
		return nil, nil, err
	}
	return files, deltas, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of records of at least min bytes each and refuses one
// the remaining input cannot hold (no allocation from a forged count).
func (d *decoder) count(min int) uint64 {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = fmt.Errorf("count %d exceeds the data", n)
		return 0
	}
	return n
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errors.New("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) hex(n int) string { return hex.EncodeToString(d.bytes(n)) }

func appendHex(b []byte, s string, n int) ([]byte, error) {
	if !isHex(s, 2*n) {
		return nil, fmt.Errorf("%w: hash %q is not %d lowercase hex digits", ErrMalformed, s, 2*n)
	}
	raw, _ := hex.DecodeString(s)
	return append(b, raw...), nil
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
