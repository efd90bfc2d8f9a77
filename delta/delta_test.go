package delta

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden patches under testdata/vectors")

func apply(t testing.TB, old, patch []byte, opts ApplyOptions) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := Apply(bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), &out, opts)
	if err == nil {
		if res.Written != int64(out.Len()) || res.SHA256 != sha256.Sum256(out.Bytes()) {
			t.Fatalf("Result %+v does not describe the %d output bytes", res, out.Len())
		}
	}
	return out.Bytes(), err
}

func roundTrip(t *testing.T, old, new []byte, f Format) []byte {
	t.Helper()
	p, err := DiffBytes(old, new, Options{Format: f})
	if err != nil {
		t.Fatal(err)
	}
	got, err := apply(t, old, p, ApplyOptions{})
	if err != nil {
		t.Fatalf("%v: apply: %v", f, err)
	}
	if !bytes.Equal(got, new) {
		t.Fatalf("%v: round trip differs (got %d bytes, want %d)", f, len(got), len(new))
	}
	return p
}

func TestVarintVectors(t *testing.T) {
	// seed-system.md §5.1
	tests := []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {1, "01"}, {127, "7f"}, {128, "8001"}, {300, "ac02"}, {4096, "8020"},
		{16384, "808001"}, {1 << 28, "8080808001"}, {1<<35 - 1, "ffffffff7f"}, {42, "2a"},
	}
	for _, tc := range tests {
		if got := fmt.Sprintf("%x", appendVarint(nil, tc.v)); got != tc.hex {
			t.Errorf("appendVarint(%d) = %s, want %s", tc.v, got, tc.hex)
		}
		var b []byte
		fmt.Sscanf(tc.hex, "%x", &b)
		v, err := readVarint(bytes.NewReader(b))
		if err != nil || v != tc.v {
			t.Errorf("readVarint(%s) = %d, %v; want %d", tc.hex, v, err, tc.v)
		}
	}
	for _, tc := range []struct{ in, err string }{
		{"", "Unexpected EOF reading varint"},
		{"80", "Unexpected EOF reading varint"},
		{"ffffffffff01", "Varint too large"},
	} {
		var b []byte
		fmt.Sscanf(tc.in, "%x", &b)
		_, err := readVarint(bytes.NewReader(b))
		if err == nil || err.Error() != tc.err || !errors.Is(err, ErrCorrupt) {
			t.Errorf("readVarint(%q) error = %v, want %q", tc.in, err, tc.err)
		}
	}
}

// v1 builds a v1 patch from hex-free op descriptions.
func v1(ops ...[]byte) []byte {
	p := []byte("OTADELTA\x01")
	for _, o := range ops {
		p = append(p, o...)
	}
	return p
}

func TestV1Apply(t *testing.T) {
	old := []byte("AAAABBBBCCCC")
	p := v1([]byte{opCopy, 0, 4, opNew, 4}, []byte("XXXX"), []byte{opCopy, 8, 4, opEnd}, []byte("trailing bytes are ignored"))
	got, err := apply(t, old, p, ApplyOptions{})
	if err != nil || string(got) != "AAAAXXXXCCCC" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestV1RoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := func(n, size int) []byte {
		b := make([]byte, n*size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	half := blocks(100, 400)
	changed := append([]byte(nil), half...)
	for i := 0; i < 100; i += 2 {
		for j := 0; j < 400; j++ {
			changed[i*400+j] ^= 0x5a
		}
	}
	big := blocks(1, 20000)
	tests := []struct {
		name     string
		old, new []byte
	}{
		{"hello", []byte("Hello World!"), []byte("Hello Python!")},
		{"blocks half changed", half, changed},
		{"OLD to NEWx1000", []byte("OLD"), bytes.Repeat([]byte("NEW"), 1000)},
		{"AAAABBBBCCCC", []byte("AAAABBBBCCCC"), []byte("AAAAXXXXCCCC")},
		{"copy longer than 4096", big, big},
		{"long copy plus tail", big, append(append([]byte(nil), big...), "0123456789"...)},
		{"insert at start", big, append([]byte{1}, big...)},
		{"empty", nil, nil},
		{"empty old", nil, []byte("new")},
		{"empty new", []byte("old"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := roundTrip(t, tc.old, tc.new, V1)
			// Every op must respect the original applier's limits.
			info, err := ReadInfo(bytes.NewReader(p))
			if err != nil || info.Format != V1 || info.NewSize != int64(len(tc.new)) {
				t.Fatalf("ReadInfo = %+v, %v", info, err)
			}
			roundTrip(t, tc.old, tc.new, V2)
		})
	}
}

func TestV1Errors(t *testing.T) {
	old := []byte("0123456789")
	tests := []struct {
		name  string
		patch []byte
		opts  ApplyOptions
		want  string
		is    error
	}{
		{"bad magic", []byte("BADMAGIC\x01\xff"), ApplyOptions{}, "Invalid delta magic", ErrInvalidMagic},
		{"short", []byte("OTA"), ApplyOptions{}, "Invalid delta magic", ErrCorrupt},
		{"version 99", []byte("OTADELTA\x63\xff"), ApplyOptions{}, "Unsupported delta version: 99", ErrUnsupportedVersion},
		{"header only", v1(), ApplyOptions{}, "Unexpected EOF reading opcode", ErrCorrupt},
		{"truncated varint", v1([]byte{0x01, 0x80}), ApplyOptions{}, "Unexpected EOF reading varint", ErrCorrupt},
		{"varint too large", v1([]byte{0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), ApplyOptions{}, "Varint too large", ErrCorrupt},
		{"copy too large", v1([]byte{0x01, 0x00, 0x81, 0x20}), ApplyOptions{}, "Copy size too large: 4097", ErrCorrupt},
		{"insert too large", v1([]byte{0x02, 0x81, 0x10}), ApplyOptions{}, "Insert size too large: 2049", ErrCorrupt},
		{"truncated literal", v1([]byte{0x02, 0x05, 'a'}), ApplyOptions{}, "Unexpected EOF reading 5 bytes", ErrCorrupt},
		{"unknown opcode", v1([]byte{0x07}), ApplyOptions{}, "Unknown opcode: 0x07", ErrCorrupt},
		{"copy past old", v1([]byte{0x01, 0x08, 0x04, 0xff}), ApplyOptions{}, "Unexpected EOF in old file", ErrCorrupt},
		{"hash mismatch", v1([]byte{0x01, 0x00, 0x04, 0xff}), ApplyOptions{ExpectSHA256: make([]byte, 32)}, "Output hash mismatch: expected 0000", ErrHashMismatch},
		{"max output", v1([]byte{0x01, 0x00, 0x04, 0xff}), ApplyOptions{MaxOutput: 3}, "delta output too large", ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apply(t, old, tc.patch, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Fatalf("error = %v, want prefix %q matching %v", err, tc.want, tc.is)
			}
		})
	}
}

// edit returns a mutated copy of b: replacements, inserts and deletions.
func edit(rng *rand.Rand, b []byte, n int) []byte {
	out := append([]byte(nil), b...)
	for range n {
		pos := 0
		if len(out) > 0 {
			pos = rng.IntN(len(out))
		}
		k := 1 + rng.IntN(64)
		junk := make([]byte, k)
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		switch rng.IntN(3) {
		case 0: // replace
			end := min(pos+k, len(out))
			copy(out[pos:end], junk)
		case 1: // insert
			out = append(out[:pos], append(junk, out[pos:]...)...)
		case 2: // delete
			end := min(pos+k, len(out))
			out = append(out[:pos], out[end:]...)
		}
	}
	return out
}

func TestRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		size := rng.IntN(20000)
		if i%5 == 0 {
			size = rng.IntN(40)
		}
		old := make([]byte, size)
		for j := range old {
			if i%2 == 0 {
				old[j] = byte(rng.Uint32())
			} else {
				old[j] = "abcdefgh \n"[rng.IntN(10)] // text-like, repetitive
			}
		}
		new := edit(rng, old, rng.IntN(20))
		if i%7 == 0 {
			new = append([]byte(nil), old...)
		}
		for _, f := range []Format{V1, V2} {
			roundTrip(t, old, new, f)
		}
	}
}

func TestV2WrongBaseWritesNothing(t *testing.T) {
	old := bytes.Repeat([]byte("old file content "), 100)
	new := append(append([]byte(nil), old[:500]...), "inserted"...)
	p := roundTrip(t, old, new, V2)
	other := append([]byte(nil), old...)
	other[10] ^= 1
	for name, base := range map[string][]byte{"same size other content": other, "other size": old[1:]} {
		var out bytes.Buffer
		_, err := Apply(bytes.NewReader(base), int64(len(base)), bytes.NewReader(p), &out, ApplyOptions{})
		if !errors.Is(err, ErrWrongBase) || out.Len() != 0 {
			t.Errorf("%s: err = %v, wrote %d bytes; want ErrWrongBase and no output", name, err, out.Len())
		}
	}
}

func TestV2Hostile(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	old := make([]byte, 5000)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	new := edit(rng, old, 10)
	p := roundTrip(t, old, new, V2)
	// Every truncation fails cleanly.
	for n := 0; n < len(p); n++ {
		if _, err := apply(t, old, p[:n], ApplyOptions{}); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(p))
		}
	}
	// Flipped bits fail (hash) or are caught by a structural check; never panic
	// and never write more than the header's size.
	for i := 0; i < 300; i++ {
		q := append([]byte(nil), p...)
		q[rng.IntN(len(q))] ^= byte(1 << rng.IntN(8))
		got, err := apply(t, old, q, ApplyOptions{})
		if err == nil && !bytes.Equal(got, new) {
			t.Fatalf("corrupted patch applied without error to a different result")
		}
		if len(got) > len(new)+32<<10 {
			t.Fatalf("corrupted patch wrote %d bytes, header says %d", len(got), len(new))
		}
	}
	// A header announcing more than MaxOutput is refused before output.
	if _, err := apply(t, old, p, ApplyOptions{MaxOutput: int64(len(new) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxOutput: err = %v", err)
	}
	// ExpectSHA256 is checked in addition to the header.
	if _, err := apply(t, old, p, ApplyOptions{ExpectSHA256: make([]byte, 32)}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("ExpectSHA256: err = %v", err)
	}
}

func TestReadInfoV2(t *testing.T) {
	old, new := []byte("hello old world"), []byte("hello new world!")
	p := roundTrip(t, old, new, V2)
	info, err := ReadInfo(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	os, ns := sha256.Sum256(old), sha256.Sum256(new)
	if info.Format != V2 || info.OldSize != int64(len(old)) || info.NewSize != int64(len(new)) ||
		!bytes.Equal(info.OldSHA256, os[:]) || !bytes.Equal(info.NewSHA256, ns[:]) {
		t.Fatalf("ReadInfo = %+v", info)
	}
}

// TestVectors checks that the committed test vectors still apply and that
// generation is deterministic (go test -run Vectors -update rewrites them).
func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	olds, _ := filepath.Glob(filepath.Join(dir, "*.old"))
	if len(olds) == 0 {
		t.Fatal("no vectors under testdata/vectors")
	}
	for _, o := range olds {
		base := strings.TrimSuffix(o, ".old")
		old, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		new, err := os.ReadFile(base + ".new")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []Format{V1, V2} {
			name := base + "." + f.String()
			p, err := DiffBytes(old, new, Options{Format: f})
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(name, p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p, want) {
				t.Errorf("%s: generated patch differs from the committed vector", name)
			}
			got, err := apply(t, old, want, ApplyOptions{})
			if err != nil || !bytes.Equal(got, new) {
				t.Errorf("%s: apply: %v", name, err)
			}
		}
	}
}

func TestWorthwhile(t *testing.T) {
	for _, tc := range []struct {
		patch, new int64
		want       bool
	}{{70, 100, true}, {71, 100, false}, {0, 0, true}, {1, 0, false}} {
		if got := Worthwhile(tc.patch, tc.new); got != tc.want {
			t.Errorf("Worthwhile(%d, %d) = %v", tc.patch, tc.new, got)
		}
	}
}

// TestMatcherUsesSuffixarray checks that index/suffixarray's serialisation
// is still parsed (not the slow fallback) and yields a sorted suffix array.
func TestMatcherUsesSuffixarray(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = "abc"[rng.IntN(3)]
	}
	m := newMatcher(data)
	if m.fallback {
		t.Fatal("index/suffixarray serialisation not understood; the comparison-sort fallback was used")
	}
	want := fallbackMatcher(data)
	if !slices.Equal(m.sa, want.sa) {
		t.Fatal("parsed suffix array differs from a comparison sort")
	}
}

type failingReader struct{ after []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.after) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, f.after)
	f.after = f.after[n:]
	return n, nil
}

func TestV2HeaderErrors(t *testing.T) {
	old, new := []byte("old old old old"), []byte("new new new new")
	p := roundTrip(t, old, new, V2)
	tests := []struct {
		name  string
		patch []byte
		want  string
	}{
		{"no old size", p[:9], "Unexpected EOF reading varint"},
		{"short old hash", p[:20], "Unexpected EOF reading header hash"},
		{"size too large", append([]byte("OTADELTA\x02"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "Varint too large"},
		{"size over limit", append([]byte("OTADELTA\x02"), 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40), "v2 header: old size 281474976710657 exceeds the format limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apply(t, old, tc.patch, ApplyOptions{})
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	// I/O errors are reported as such, not as corruption.
	var out bytes.Buffer
	_, err := Apply(bytes.NewReader(old), int64(len(old)), &failingReader{after: p[:20]}, &out, ApplyOptions{})
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("I/O error = %v", err)
	}
}
