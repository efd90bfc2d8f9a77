package delta

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxSize bounds the sizes a v2 header may announce (2^48 bytes).
const maxSize = 1 << 48

type headerV2 struct {
	oldSize, newSize int64
	oldSHA, newSHA   [sha256.Size]byte
}

func (h *headerV2) append(b []byte) []byte {
	b = append(b, magic...)
	b = append(b, 2)
	b = binary.AppendUvarint(b, uint64(h.oldSize))
	b = append(b, h.oldSHA[:]...)
	b = binary.AppendUvarint(b, uint64(h.newSize))
	return append(b, h.newSHA[:]...)
}

// readHeaderV2 reads the v2 header after magic and version.
func readHeaderV2(br *bufio.Reader) (headerV2, error) {
	var h headerV2
	size := func(what string) (int64, error) {
		v, err := binary.ReadUvarint(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, corrupt("Unexpected EOF reading varint")
			}
			return 0, corrupt("Varint too large")
		}
		if v > maxSize {
			return 0, corrupt(fmt.Sprintf("v2 header: %s size %d exceeds the format limit", what, v))
		}
		return int64(v), nil
	}
	hash := func(dst []byte) error {
		if _, err := io.ReadFull(br, dst); err != nil {
			return corrupt("Unexpected EOF reading header hash")
		}
		return nil
	}
	var err error
	if h.oldSize, err = size("old"); err != nil {
		return h, err
	}
	if err = hash(h.oldSHA[:]); err != nil {
		return h, err
	}
	if h.newSize, err = size("new"); err != nil {
		return h, err
	}
	if err = hash(h.newSHA[:]); err != nil {
		return h, err
	}
	return h, nil
}

// op is one bsdiff-style operation: add diffLen difference bytes to old
// bytes starting at the current old position, insert extraLen literal bytes,
// then move the old position by seek.
type op struct {
	diffLen, extraLen int64
	seek              int64
}

// Number fields coded with separate models.
const (
	fDiff = iota
	fExtra
	fSeek
	nFields
)

// models is the complete decoder (and encoder) state of the v2 coded stream.
// Its size is fixed: about 0.6 MiB.
type models struct {
	nbits  [nFields][]prob // 64-leaf tree: bit length of the number
	low    [nFields][]prob // [nb*64 + bit]: bits below the leading 1
	sign   []prob
	diff   []prob // [ctx*256 + tree node]
	extra  []prob // [prev byte*256 + tree node]
	prevD  byte
	prevX  byte
	oldPrv byte
}

const diffCtxs = 256 * 4

func newModels() *models {
	m := &models{sign: newProbs(2), diff: newProbs(diffCtxs * 256), extra: newProbs(256 * 256)}
	for f := range nFields {
		m.nbits[f] = newProbs(64)
		m.low[f] = newProbs(64 * 64)
	}
	return m
}

// diffCtx selects the model for the next difference byte from the previous
// difference byte and the old byte it will be added to.
func (m *models) diffCtx(oldByte byte) int {
	c := 0
	switch {
	case m.prevD == 0:
		c = 0
	case m.prevD == 0xFF || m.prevD == 1:
		c = 1
	default:
		c = 2
		if m.prevD&0x80 != 0 {
			c = 3
		}
	}
	return (c*256 + int(oldByte)) * 256
}

func (m *models) encodeNum(e *rcEncoder, f int, v uint64) {
	nb := 0
	for x := v; x != 0; x >>= 1 {
		nb++
	}
	e.encodeTree(m.nbits[f], 6, uint32(nb))
	for i := nb - 2; i >= 0; i-- {
		e.encode(&m.low[f][nb*64+i], int(v>>i)&1)
	}
}

func (m *models) decodeNum(d *rcDecoder, f int) uint64 {
	nb := int(d.decodeTree(m.nbits[f], 6))
	if nb == 0 {
		return 0
	}
	if nb > 49 { // larger than maxSize; let the caller reject it
		nb = 49
	}
	v := uint64(1)
	for i := nb - 2; i >= 0; i-- {
		v = v<<1 | uint64(d.decode(&m.low[f][nb*64+i]))
	}
	return v
}

func (m *models) encodeOp(e *rcEncoder, o op) {
	m.encodeNum(e, fDiff, uint64(o.diffLen))
	m.encodeNum(e, fExtra, uint64(o.extraLen))
	s := o.seek
	neg := 0
	if s < 0 {
		s, neg = -s, 1
	}
	m.encodeNum(e, fSeek, uint64(s))
	if s != 0 {
		e.encode(&m.sign[0], neg)
	}
}

func (m *models) decodeOp(d *rcDecoder) op {
	var o op
	o.diffLen = int64(m.decodeNum(d, fDiff))
	o.extraLen = int64(m.decodeNum(d, fExtra))
	s := int64(m.decodeNum(d, fSeek))
	if s != 0 && d.decode(&m.sign[0]) == 1 {
		s = -s
	}
	o.seek = s
	return o
}

// diffV2 generates a v2 patch.
func diffV2(old, new []byte) []byte {
	h := headerV2{oldSize: int64(len(old)), newSize: int64(len(new)), oldSHA: sha256.Sum256(old), newSHA: sha256.Sum256(new)}
	out := h.append(nil)
	ops := bsdiffOps(old, new)
	e := newEncoder()
	m := newModels()
	var oldPos, newPos int64
	for _, o := range ops {
		m.encodeOp(e, o)
		for i := int64(0); i < o.diffLen; i++ {
			ob := old[oldPos+i]
			d := new[newPos+i] - ob
			e.encodeTree(m.diff[m.diffCtx(ob):], 8, uint32(d))
			m.prevD = d
		}
		newPos += o.diffLen
		for i := int64(0); i < o.extraLen; i++ {
			c := new[newPos+i]
			e.encodeTree(m.extra[int(m.prevX)*256:], 8, uint32(c))
			m.prevX = c
		}
		newPos += o.extraLen
		oldPos += o.diffLen + o.seek
	}
	return append(out, e.finish()...)
}

// applyV2 checks the base, then decodes ops; magic and version are consumed.
func applyV2(old io.ReaderAt, oldSize int64, br *bufio.Reader, ow *outWriter) error {
	h, err := readHeaderV2(br)
	if err != nil {
		return err
	}
	if h.newSize > ow.max {
		return fmt.Errorf("%w: patch announces %d bytes, limit is %d", ErrTooLarge, h.newSize, ow.max)
	}
	if err := checkBase(old, oldSize, &h); err != nil {
		return err
	}
	if h.newSize == 0 {
		return checkNewHash(ow, &h)
	}
	d, err := newDecoder(br)
	if err != nil {
		return err
	}
	m := newModels()
	const chunk = 16 << 10
	buf := make([]byte, chunk)
	var oldPos, left = int64(0), h.newSize
	for first := true; left > 0; first = false {
		o := m.decodeOp(d)
		if d.err != nil {
			return d.err
		}
		if (o.diffLen+o.extraLen == 0 && !first) || o.diffLen > left || o.extraLen > left-o.diffLen {
			return corrupt(fmt.Sprintf("v2: bad op lengths diff=%d extra=%d with %d bytes left", o.diffLen, o.extraLen, left))
		}
		if o.diffLen > oldSize-oldPos {
			return corrupt(fmt.Sprintf("v2: diff of %d bytes at old offset %d runs past the old file (%d bytes)", o.diffLen, oldPos, oldSize))
		}
		for n := o.diffLen; n > 0; {
			c := min(n, chunk)
			b := buf[:c]
			if err := readOld(old, oldSize, oldPos, b); err != nil {
				return err
			}
			for i, ob := range b {
				v := byte(d.decodeTree(m.diff[m.diffCtx(ob):], 8))
				m.prevD = v
				b[i] = ob + v
			}
			if d.err != nil {
				return d.err
			}
			if _, err := ow.Write(b); err != nil {
				return err
			}
			oldPos += c
			n -= c
		}
		for n := o.extraLen; n > 0; {
			c := min(n, chunk)
			b := buf[:c]
			for i := range b {
				v := byte(d.decodeTree(m.extra[int(m.prevX)*256:], 8))
				m.prevX = v
				b[i] = v
			}
			if d.err != nil {
				return d.err
			}
			if _, err := ow.Write(b); err != nil {
				return err
			}
			n -= c
		}
		left -= o.diffLen + o.extraLen
		if o.seek < -oldPos || o.seek > oldSize-oldPos {
			return corrupt(fmt.Sprintf("v2: seek %d from old offset %d leaves the old file (%d bytes)", o.seek, oldPos, oldSize))
		}
		oldPos += o.seek
	}
	return checkNewHash(ow, &h)
}

func checkNewHash(ow *outWriter, h *headerV2) error {
	got := ow.h.Sum(nil)
	if string(got) != string(h.newSHA[:]) {
		return fmt.Errorf("%w: expected %x, got %x", ErrHashMismatch, h.newSHA[:], got)
	}
	return nil
}

// checkBase refuses an old file whose size or SHA-256 differs from the header.
func checkBase(old io.ReaderAt, oldSize int64, h *headerV2) error {
	if oldSize != h.oldSize {
		return fmt.Errorf("%w: patch was made for an old file of %d bytes, this one has %d bytes", ErrWrongBase, h.oldSize, oldSize)
	}
	hs := sha256.New()
	if _, err := io.CopyBuffer(hs, io.NewSectionReader(old, 0, oldSize), make([]byte, 16<<10)); err != nil {
		return fmt.Errorf("delta apply: hash old file: %w", err)
	}
	if got := hs.Sum(nil); string(got) != string(h.oldSHA[:]) {
		return fmt.Errorf("%w: patch was made for an old file with SHA-256 %x, this one has %x", ErrWrongBase, h.oldSHA[:], got)
	}
	return nil
}
