package delta

import (
	"errors"
	"fmt"
	"io"
)

// maxVarintLen is the longest varint the v1 streaming reader of the original
// accepts: five 7-bit groups, i.e. values below 2^35.
const maxVarintLen = 5

// appendVarint appends v as unsigned LEB128.
func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readVarint reads an unsigned LEB128 value of at most maxVarintLen bytes.
func readVarint(r io.ByteReader) (uint64, error) { return readVarintN(r, maxVarintLen) }

// readVarintN reads an unsigned LEB128 value of at most n (≤ 9) bytes.
func readVarintN(r io.ByteReader, n int) (uint64, error) {
	var v uint64
	for i := 0; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, corrupt("Unexpected EOF reading varint")
			}
			return 0, fmt.Errorf("delta: read patch: %w", err)
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, corrupt("Varint too large")
}
