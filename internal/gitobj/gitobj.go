// Package gitobj computes git object ids. A file's git blob SHA-1 is
// sha1("blob <size>\x00" + content); it lets the agent compare local files
// with a git tree without downloading anything.
package gitobj

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// BlobHasher hashes content of a known size as a git blob.
type BlobHasher struct {
	h    hash.Hash
	want int64
	n    int64
}

// NewBlobHasher starts a blob hash for content of exactly size bytes.
func NewBlobHasher(size int64) *BlobHasher {
	h := sha1.New()
	h.Write([]byte("blob " + strconv.FormatInt(size, 10) + "\x00"))
	return &BlobHasher{h: h, want: size}
}

func (b *BlobHasher) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	return b.h.Write(p)
}

// Sum returns the hex blob id, or an error if the byte count was not the
// size announced to NewBlobHasher.
func (b *BlobHasher) Sum() (string, error) {
	if b.n != b.want {
		return "", fmt.Errorf("size mismatch: got %d bytes, expected %d", b.n, b.want)
	}
	return hex.EncodeToString(b.h.Sum(nil)), nil
}

// BlobSHA1 hashes r, which must yield exactly size bytes.
func BlobSHA1(r io.Reader, size int64) (string, error) {
	h := NewBlobHasher(size)
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return h.Sum()
}

// BlobSHA1Bytes hashes a byte slice.
func BlobSHA1Bytes(b []byte) string {
	h := NewBlobHasher(int64(len(b)))
	h.Write(b)
	s, _ := h.Sum()
	return s
}
