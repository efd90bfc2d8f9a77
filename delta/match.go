package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"index/suffixarray"
	"io"
	"slices"
)

// matcher finds the longest prefix of a string that occurs in old, using
// old's suffix array.
type matcher struct {
	old []byte
	sa  []int32 // or nil when old is larger than 2 GiB; see sa64
	s64 []int64

	fallback bool // built by fallbackMatcher
}

// newMatcher builds old's suffix array. index/suffixarray builds it with
// SA-IS but does not export it, so its serialisation (Index.Write: the data
// length, the data, then chunks of uvarints; unchanged since Go 1.0 but not
// part of the API) is parsed. If that ever fails, a plain comparison sort is
// used (slow on repetitive data); TestMatcherUsesSuffixarray catches it.
// Correctness of patches never depends on the array being sorted (every
// match is verified byte by byte), only their size does.
func newMatcher(old []byte) *matcher {
	m := &matcher{old: old}
	idx := suffixarray.New(old)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(idx.Write(pw)) }()
	r := bufio.NewReaderSize(pr, 64<<10)
	n := len(old)
	if n <= 1<<31-1 {
		m.sa = make([]int32, 0, n)
	} else {
		m.s64 = make([]int64, 0, n)
	}
	var hdr [binary.MaxVarintLen64]byte
	fail := func() *matcher {
		pr.CloseWithError(io.ErrUnexpectedEOF)
		return fallbackMatcher(old)
	}
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fail()
	}
	if l, _ := binary.Varint(hdr[:]); l != int64(n) {
		return fail()
	}
	if _, err := r.Discard(n); err != nil {
		return fail()
	}
	got := 0
	for got < n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fail()
		}
		size, _ := binary.Varint(hdr[:])
		left := size - binary.MaxVarintLen64
		for left > 0 {
			v, err := binary.ReadUvarint(r)
			if err != nil || v >= uint64(n) || got >= n {
				return fail()
			}
			left -= int64(uvarintLen(v))
			if m.sa != nil {
				m.sa = append(m.sa, int32(v))
			} else {
				m.s64 = append(m.s64, int64(v))
			}
			got++
		}
	}
	pr.Close()
	return m
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// fallbackMatcher sorts the suffixes by comparison. It is used only if the
// serialised index cannot be parsed (a future Go release changing it).
func fallbackMatcher(old []byte) *matcher {
	m := &matcher{old: old, fallback: true}
	s64 := make([]int64, len(old))
	for i := range s64 {
		s64[i] = int64(i)
	}
	slices.SortFunc(s64, func(a, b int64) int { return bytes.Compare(old[a:], old[b:]) })
	if len(old) <= 1<<31-1 {
		m.sa = make([]int32, len(old))
		for i, v := range s64 {
			m.sa[i] = int32(v)
		}
	} else {
		m.s64 = s64
	}
	return m
}

func (m *matcher) at(i int) int {
	if m.sa != nil {
		return int(m.sa[i])
	}
	return int(m.s64[i])
}

func (m *matcher) size() int {
	if m.sa != nil {
		return len(m.sa)
	}
	return len(m.s64)
}

func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// longest returns the position and length of the longest prefix of s found
// in old (binary search in the suffix array, as bsdiff does).
func (m *matcher) longest(s []byte) (pos, n int) {
	lo, hi := 0, m.size()-1
	if hi < 0 || len(s) == 0 {
		return 0, 0
	}
	for hi-lo >= 2 {
		mid := lo + (hi-lo)/2
		p := m.at(mid)
		k := min(len(m.old)-p, len(s))
		if bytes.Compare(m.old[p:p+k], s[:k]) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	pl, ph := m.at(lo), m.at(hi)
	x, y := matchLen(m.old[pl:], s), matchLen(m.old[ph:], s)
	if x >= y {
		return pl, x
	}
	return ph, y
}
