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
		v, err := readVarintN(br, 7) // 49 bits: enough for maxSize
		if err != nil {
			return 0, err
		}
		if v > maxSize {
			return 0, corrupt(fmt.Sprintf("v2 header: %s size %d exceeds the format limit", what, v))
		}
		return int64(v), nil
	}
	hash := func(dst []byte) error {
		if _, err := io.ReadFull(br, dst); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return corrupt("Unexpected EOF reading header hash")
			}
			return fmt.Errorf("delta: read patch: %w", err)
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

// op is one operation. bsdiffOps produces them in bsdiff's order: add
// diffLen difference bytes to old bytes at the current old position, insert
// extraLen literal bytes, then move the old position by seek. The v2 stream
// codes them seek-first (see seekFirst): move the old position by seek, then
// diff, then extra; every op produces at least one byte.
type op struct {
	diffLen, extraLen int64
	seek              int64
}

// seekFirst converts bsdiff-order ops to seek-first order, dropping empty
// ops and the final seek.
func seekFirst(ops []op) []op {
	out := make([]op, 0, len(ops))
	var pending int64
	for _, o := range ops {
		if o.diffLen+o.extraLen > 0 {
			out = append(out, op{seek: pending, diffLen: o.diffLen, extraLen: o.extraLen})
			pending = 0
		}
		pending += o.seek
	}
	return out
}

// models is the complete decoder (and encoder) state of the v2 coded stream.
// Its size is fixed (well under 1 MiB).
type models struct {
	num      [nNums]numModel
	sign     []prob // [kind]
	kind     []prob // [kind history*4 + tree node]
	kindHist byte
	reps     [nKinds - 1]int64

	dm *diffModel

	xm *extraModel
}

// Number models.
const (
	nDiff = iota
	nExtra
	nSeek
	nRun
	nNums
)

// numModel codes a non-negative integer: its bit length with a 64-leaf tree
// (one tree per context), then the bits below the leading one.
type numModel struct {
	nbits []prob // [ctx*64 + node]
	low   []prob // [nb*64 + bit]
}

const numCtxs = 16

func newNumModel() numModel {
	return numModel{nbits: newProbs(numCtxs * 64), low: newProbs(64 * 64)}
}

func newModels() *models {
	m := &models{
		sign: newProbs(nKinds),
		kind: newProbs(16 * 4),
		dm:   newDiffModel(),
		xm:   newExtraModel(),
	}
	for i := range m.num {
		m.num[i] = newNumModel()
	}
	return m
}

func bitLen(v uint64) int {
	n := 0
	for ; v != 0; v >>= 1 {
		n++
	}
	return n
}

func (nm *numModel) encode(e *rcEncoder, ctx int, v uint64) {
	nb := bitLen(v)
	e.encodeTree(nm.nbits[ctx*64:], 6, uint32(nb))
	for i := nb - 2; i >= 0; i-- {
		e.encode(&nm.low[nb*64+i], int(v>>i)&1)
	}
}

func (nm *numModel) decode(d *rcDecoder, ctx int) uint64 {
	nb := int(d.decodeTree(nm.nbits[ctx*64:], 6))
	if nb == 0 {
		return 0
	}
	// A longer number exceeds every limit; decode it anyway (the caller
	// rejects it) but without overflowing.
	nb = min(nb, 56)
	v := uint64(1)
	for i := nb - 2; i >= 0; i-- {
		v = v<<1 | uint64(d.decode(&nm.low[nb*64+i]))
	}
	return v
}

func numCtx(prev uint64) int { return min(bitLen(prev), numCtxs-1) }

// Seeks are coded as the offset (old position minus new position) the next
// op starts at, relative to one of: the offset that seek 0 gives (kind 0),
// or one of the three most recent distinct offsets (kinds 1-3). Edits to
// text and code leave the offset unchanged or return to a recent one after
// a short excursion, so most seeks become small numbers.
const nKinds = 4

func (m *models) pushOffset(t int64) {
	switch t {
	case m.reps[0]:
	case m.reps[1]:
		m.reps[0], m.reps[1] = t, m.reps[0]
	default:
		m.reps[0], m.reps[1], m.reps[2] = t, m.reps[0], m.reps[1]
	}
}

func (m *models) encodeSigned(e *rcEncoder, kind int, v int64) {
	neg := 0
	if v < 0 {
		v, neg = -v, 1
	}
	m.num[nSeek].encode(e, kind, uint64(v))
	if v != 0 {
		e.encode(&m.sign[kind], neg)
	}
}

func (m *models) decodeSigned(d *rcDecoder, kind int) int64 {
	v := int64(m.num[nSeek].decode(d, kind))
	if v != 0 && d.decode(&m.sign[kind]) == 1 {
		v = -v
	}
	return v
}

// opCtx is the context for an op's diff length: the seek kind and the size
// of the seek (a far jump is usually followed by a short match).
func opCtx(kind int, delta int64) int {
	return kind*4 + min(bitLen(absU(delta))/5, 3)
}

// encodeOp codes o; cur is the offset (old position - new position) before
// its seek.
func (m *models) encodeOp(e *rcEncoder, o op, cur int64) {
	t := cur + o.seek
	kind, delta := 0, o.seek
	for k := 1; k < nKinds; k++ {
		dk := t - m.reps[k-1]
		if bitLen(absU(dk)) < bitLen(absU(delta)) {
			kind, delta = k, dk
		}
	}
	e.cat = 2
	e.encodeTree(m.kind[int(m.kindHist&15)*4:], 2, uint32(kind))
	e.cat = 3
	m.encodeSigned(e, kind, delta)
	m.kindHist = m.kindHist<<2 | byte(kind)
	m.pushOffset(t)
	e.cat = 0
	m.num[nDiff].encode(e, opCtx(kind, delta), uint64(o.diffLen))
	e.cat = 1
	m.num[nExtra].encode(e, numCtx(uint64(o.diffLen)), uint64(o.extraLen))
}

func (m *models) decodeOp(d *rcDecoder, cur int64) op {
	var o op
	kind := int(d.decodeTree(m.kind[int(m.kindHist&15)*4:], 2))
	delta := m.decodeSigned(d, kind)
	t := cur + delta
	if kind > 0 {
		t = m.reps[kind-1] + delta
	}
	o.seek = t - cur
	m.kindHist = m.kindHist<<2 | byte(kind)
	m.pushOffset(t)
	o.diffLen = int64(m.num[nDiff].decode(d, opCtx(kind, delta)))
	o.extraLen = int64(m.num[nExtra].decode(d, numCtx(uint64(o.diffLen))))
	return o
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

// diffV2 generates a v2 patch.
func diffV2(old, new []byte) []byte { return diffV2Stats(old, new, nil) }

func diffV2Stats(old, new []byte, stats *[8]float64) []byte {
	h := headerV2{oldSize: int64(len(old)), newSize: int64(len(new)), oldSHA: sha256.Sum256(old), newSHA: sha256.Sum256(new)}
	out := h.append(nil)
	if len(new) == 0 {
		return out // no body: the applier stops after the header
	}
	ops := seekFirst(bsdiffOps(old, new))
	e := newEncoder()
	e.stats = stats
	m := newModels()
	var oldPos, newPos int64
	for _, o := range ops {
		m.encodeOp(e, o, oldPos-newPos)
		oldPos += o.seek
		e.cat = 5
		for i := int64(0); i < o.diffLen; i++ {
			ob := old[oldPos+i]
			m.dm.encode(e, new[newPos+i]-ob, ob)
		}
		m.xm.seeAll(new[newPos : newPos+o.diffLen])
		newPos += o.diffLen
		e.cat = 6
		for i := int64(0); i < o.extraLen; i++ {
			m.xm.encode(e, new[newPos+i])
		}
		newPos += o.extraLen
		oldPos += o.diffLen
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
	return decodeV2Body(old, oldSize, &h, br, ow)
}

// decodeV2Body decodes the coded ops after a verified header.
func decodeV2Body(old io.ReaderAt, oldSize int64, h *headerV2, br *bufio.Reader, ow *outWriter) error {
	if h.newSize == 0 {
		return checkNewHash(ow, h)
	}
	d, err := newDecoder(br)
	if err != nil {
		return err
	}
	m := newModels()
	const chunk = 8 << 10
	buf := make([]byte, chunk)
	var oldPos, left = int64(0), h.newSize
	for left > 0 {
		o := m.decodeOp(d, oldPos-(h.newSize-left))
		if d.err != nil {
			return d.err
		}
		if o.seek < -oldPos || o.seek > oldSize-oldPos {
			return corrupt(fmt.Sprintf("v2: seek %d from old offset %d leaves the old file (%d bytes)", o.seek, oldPos, oldSize))
		}
		oldPos += o.seek
		if o.diffLen+o.extraLen == 0 || o.diffLen > left || o.extraLen > left-o.diffLen {
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
				b[i] = ob + m.dm.decode(d, ob)
			}
			m.xm.seeAll(b)
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
				b[i] = m.xm.decode(d)
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
	}
	return checkNewHash(ow, h)
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
