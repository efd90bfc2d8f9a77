package repo

import (
	"slices"
	"strings"
)

// Packs cut the per-request cost of an update made of many small files
// (headers are ~450 bytes per request, often more than a small delta). A
// pack is the concatenation, in path order, of the deltas and objects a
// device needs, named by what it holds: packs/<SHA-256 of the item paths,
// one per line>. A device computes the name from its plan and the signed
// metadata; the publisher writes the packs of devices on each recent
// version. A pack is not signed: every piece is checked against the size
// and SHA-256 the signed metadata gives it, and a missing pack (404) only
// means fetching the files one by one.

// MaxPackSize bounds a pack (the client holds it in memory).
const MaxPackSize = 1 << 20

// PackItem is one piece of a pack: a delta or an object file.
type PackItem struct {
	Path   string // DeltaPath or ObjectPath
	Size   int64
	SHA256 string
}

// PackWant is one file a device fetches: the target file and, when it may
// patch its installed content, that content's git blob SHA-1.
type PackWant struct {
	File     File
	FromSHA1 string
}

// PackItems resolves wants against rel's deltas (in formats the device
// applies) exactly as the device's fetch does: a delta from FromSHA1 when
// one is listed, else the object. The result is sorted and without
// duplicates.
func PackItems(rel *Release, wants []PackWant, formats []string) []PackItem {
	seen := map[string]bool{}
	var items []PackItem
	add := func(it PackItem) {
		if !seen[it.Path] {
			seen[it.Path] = true
			items = append(items, it)
		}
	}
	for _, w := range wants {
		f := w.File
		if d := FindDelta(rel, w.FromSHA1, f, formats); d != nil {
			add(PackItem{Path: d.Object, Size: d.Size, SHA256: d.SHA256})
			continue
		}
		add(PackItem{Path: ObjectPath(f.SHA256), Size: f.Size, SHA256: f.SHA256})
	}
	slices.SortFunc(items, func(a, b PackItem) int { return strings.Compare(a.Path, b.Path) })
	return items
}

// FindDelta returns the first delta of rel from the blob fromSHA1 to f in
// one of formats, or nil ("" finds none).
func FindDelta(rel *Release, fromSHA1 string, f File, formats []string) *Delta {
	if fromSHA1 == "" {
		return nil
	}
	for i := range rel.Deltas {
		d := &rel.Deltas[i]
		if d.FromSHA1 == fromSHA1 && d.ToSHA1 == f.SHA1 && (f.SHA256 == "" || d.ToSHA256 == f.SHA256) && slices.Contains(formats, d.Format) {
			return d
		}
	}
	return nil
}

// PackPath names the pack of items (sorted, as PackItems returns them).
func PackPath(items []PackItem) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.Path)
		b.WriteByte('\n')
	}
	return "packs/" + sha256Hex([]byte(b.String()))
}

// PackSize is the size of the pack of items.
func PackSize(items []PackItem) int64 {
	var n int64
	for _, it := range items {
		n += it.Size
	}
	return n
}
