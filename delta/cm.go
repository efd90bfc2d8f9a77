package delta

// Context mixing for the difference bytes, in the manner of lpaq: several
// adaptive models each predict the next bit from their own context; a small
// gated linear mixer in the logistic domain combines them. All arithmetic is
// integer, so encoder and decoder agree on every platform, and all state is
// fixed-size.

// squash maps the logistic domain (-2047..2047, scaled by 256) to a 12-bit
// probability.
func squash(d int32) int32 {
	if d > 2047 {
		return 4095
	}
	if d < -2047 {
		return 1
	}
	w := d & 127
	i := (d >> 7) + 16
	return (squashTab[i]*(128-w) + squashTab[i+1]*w + 64) >> 7
}

var squashTab = [33]int32{1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101,
	1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079,
	4085, 4089, 4092, 4093, 4094}

// squash16 is squash with a 16-bit result over a wider domain (-4095..4095,
// i.e. logit ±16): long runs of near-certain bits (the zero flags of a
// mostly unchanged file) then cost about 2^-16 bits each instead of 2^-12.
func squash16(d int32) int32 {
	d = min(max(d, -4095), 4095)
	w := d & 127
	i := (d >> 7) + 32
	return (squash16Tab[i]*(128-w) + squash16Tab[i+1]*w + 64) >> 7
}

// squash16Tab[i] = 65536/(1+exp(-(i-32)/2)), clamped to 1..65535.
var squash16Tab = [66]int32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 8, 13, 22, 36, 60, 98,
	162, 267, 439, 720, 1179, 1921, 3108, 4971, 7812, 11955, 17625, 24743, 32768, 40793,
	47911, 53581, 57724, 60565, 62428, 63615, 64357, 64816, 65097, 65269, 65374, 65438,
	65476, 65500, 65514, 65523, 65528, 65531, 65533, 65534, 65535, 65535, 65535, 65535,
	65535, 65535, 65535, 65535, 65535, 65535, 65535, 65535}

// stretchTab is the inverse of squash: ln(p/(1-p)) for 12-bit p. It is
// computed once; it never changes afterwards.
var stretchTab = func() [4096]int16 {
	var t [4096]int16
	pi := int32(0)
	for x := int32(-2047); x <= 2047; x++ {
		v := squash(x)
		for j := pi; j <= v; j++ {
			t[j] = int16(x)
		}
		pi = v + 1
	}
	for j := pi; j < 4096; j++ {
		t[j] = 2047
	}
	return t
}()

func stretch(p int32) int32 { return int32(stretchTab[p]) }

// rateTab[n] is 65536/(n+1.6): the adaptation rate of a counter seen n times.
var rateTab = func() [256]int32 {
	var t [256]int32
	for n := range t {
		t[n] = int32(65536 * 10 / (10*n + 16))
	}
	return t
}()

// counters is a table of adaptive bit probabilities (P(1) scaled by 2^16)
// with per-slot hit counts that make young slots adapt fast.
type counters struct {
	p     []uint16
	n     []uint8
	limit uint8
}

func newCounters(size int, limit uint8) counters {
	c := counters{p: make([]uint16, size), n: make([]uint8, size), limit: limit}
	for i := range c.p {
		c.p[i] = 1 << 15
	}
	return c
}

// p12 returns slot i's 12-bit probability of a 1.
func (c *counters) p12(i uint32) int32 { return int32(c.p[i] >> 4) }

func (c *counters) update(i uint32, bit int) {
	p := int32(c.p[i])
	target := int32(0)
	if bit != 0 {
		target = 65535
	}
	p += int32((int64(target-p) * int64(rateTab[c.n[i]])) >> 16)
	c.p[i] = uint16(min(max(p, 16), 65535-16))
	if c.n[i] < c.limit {
		c.n[i]++
	}
}

// mixer combines up to mixInputs stretched predictions with one of nSets
// weight vectors.
const mixInputs = 6

type mixer struct {
	w   []int32 // [set*mixInputs + i], scaled by 2^16
	x   [mixInputs]int32
	nx  int
	set int
	pr  int32 // last output, 16-bit
	lr  int32
}

func newMixer(nSets int, lr int32) mixer {
	m := mixer{w: make([]int32, nSets*mixInputs), lr: lr}
	for i := range m.w {
		m.w[i] = 1 << 14
	}
	return m
}

func (m *mixer) add(p12 int32) {
	m.x[m.nx] = stretch(p12)
	m.nx++
}

// mix returns the combined 16-bit probability of a 1.
func (m *mixer) mix(set int) int32 {
	m.set = set
	w := m.w[set*mixInputs:]
	var dot int64
	for i := 0; i < m.nx; i++ {
		dot += int64(m.x[i]) * int64(w[i])
	}
	s := int32(min(max(dot>>16, -4095), 4095))
	m.pr = min(max(squash16(s), 1), 65535)
	return m.pr
}

func (m *mixer) update(bit int) {
	err := ((int32(bit)<<16 - m.pr) >> 4) * m.lr
	w := m.w[m.set*mixInputs:]
	for i := 0; i < m.nx; i++ {
		w[i] += (m.x[i]*err + 1<<13) >> 14
	}
	m.nx = 0
}

// diffModel predicts the difference stream one byte at a time: first
// whether the byte is zero, then (if not) its value bit by bit. Its contexts
// are the old bytes under and before the current position (they say what
// kind of instruction or data is being patched), the previous non-zero
// difference, and the distance since it.
type diffModel struct {
	z1, z2, z3, z4 counters // zero flag
	zm             mixer
	v1, v2, v3     counters // value bits
	vm             mixer

	o1, o2 byte   // old bytes before the current one
	last   byte   // previous non-zero difference
	dist   uint32 // bytes since the previous non-zero difference
	r1, r2 uint32 // the two previous distances
	zi     [4]uint32
}

func newDiffModel() *diffModel {
	return &diffModel{
		z1: newCounters(1<<15, 60), z2: newCounters(1<<15, 60), z3: newCounters(1<<13, 60), z4: newCounters(1<<10, 60),
		zm: newMixer(64, 4),
		v1: newCounters(1<<16, 30), v2: newCounters(1<<15, 30), v3: newCounters(1<<14, 30),
		vm: newMixer(8, 32),
	}
}

func distBucket(d uint32) uint32 {
	if d < 16 {
		return d
	}
	return min(16+uint32(bitLen(uint64(d))), 31)
}

// pNonZero returns the 16-bit probability that the byte over old byte o0 is
// non-zero ("1").
func (m *diffModel) pNonZero(o0 byte) int32 {
	db := distBucket(m.dist)
	per := uint32(0)
	if m.dist == m.r1 {
		per = 1
	} else if m.dist == m.r2 {
		per = 2
	}
	m.zi[0] = (uint32(m.o1)<<8 | uint32(o0)) * 0x9E3779B1 >> 17
	m.zi[1] = (uint32(m.o2)<<16 | uint32(m.o1)<<8 | uint32(o0)) * 0x9E3779B1 >> 17
	m.zi[2] = db<<8 | uint32(o0)
	m.zi[3] = per<<8 | uint32(m.last)
	m.zm.add(m.z1.p12(m.zi[0]))
	m.zm.add(m.z2.p12(m.zi[1]))
	m.zm.add(m.z3.p12(m.zi[2]))
	m.zm.add(m.z4.p12(m.zi[3]))
	m.zm.add(2048 + 1024)
	return m.zm.mix(int(min(db, 15)<<2 | per))
}

func (m *diffModel) updateNonZero(bit int) {
	m.z1.update(m.zi[0], bit)
	m.z2.update(m.zi[1], bit)
	m.z3.update(m.zi[2], bit)
	m.z4.update(m.zi[3], bit)
	m.zm.update(bit)
}

// pValBit returns the 16-bit probability that the next value bit is 1,
// given the tree node (1..255) and the old byte o0.
func (m *diffModel) pValBit(node uint32, o0 byte) int32 {
	m.zi[0] = uint32(o0)<<8 | node
	m.zi[1] = (uint32(m.last)<<8 | node) * 0x9E3779B1 >> 17
	m.zi[2] = (uint32(m.o1)<<16 | uint32(o0)<<8 | node) * 0x9E3779B1 >> 18
	m.vm.add(m.v1.p12(m.zi[0]))
	m.vm.add(m.v2.p12(m.zi[1]))
	m.vm.add(m.v3.p12(m.zi[2]))
	m.vm.add(2048 + 1024)
	return m.vm.mix(bitLen(uint64(node)) - 1)
}

func (m *diffModel) updateValBit(bit int) {
	m.v1.update(m.zi[0], bit)
	m.v2.update(m.zi[1], bit)
	m.v3.update(m.zi[2], bit)
	m.vm.update(bit)
}

// advance records that difference v was coded over old byte o0.
func (m *diffModel) advance(v, o0 byte) {
	if v != 0 {
		m.last = v
		m.r2, m.r1 = m.r1, m.dist
		m.dist = 0
	} else if m.dist < 1<<30 {
		m.dist++
	}
	m.o2, m.o1 = m.o1, o0
}

func (m *diffModel) encode(e *rcEncoder, v, o0 byte) {
	nz := 0
	if v != 0 {
		nz = 1
	}
	e.encodeP(m.pNonZero(o0), nz)
	m.updateNonZero(nz)
	if nz == 1 {
		node := uint32(1)
		for i := 7; i >= 0; i-- {
			b := int(v>>i) & 1
			e.encodeP(m.pValBit(node, o0), b)
			m.updateValBit(b)
			node = node<<1 | uint32(b)
		}
	}
	m.advance(v, o0)
}

func (m *diffModel) decode(d *rcDecoder, o0 byte) byte {
	nz := d.decodeP(m.pNonZero(o0))
	m.updateNonZero(nz)
	var v byte
	if nz == 1 {
		node := uint32(1)
		for i := 0; i < 8; i++ {
			b := d.decodeP(m.pValBit(node, o0))
			m.updateValBit(b)
			node = node<<1 | uint32(b)
		}
		v = byte(node)
	}
	m.advance(v, o0)
	return v
}

// Match-model window: the last winSize output bytes and a hash table from
// the hash of the last minMatch output bytes to the position after them.
const (
	winBits   = 16
	winSize   = 1 << winBits
	hashBits  = 14
	minMatch  = 3 // the rolling hash covers the last three bytes
	maxMatchL = 15
)

// extraModel predicts literal (extra) bytes bit by bit from the previous
// output bytes (orders 1-3, and the byte two back alone, which suits 16-
// and 32-bit machine code) and from a match model: if the last few
// output bytes occurred earlier in a 64 KiB window of output, the byte that
// followed them is likely next.
type extraModel struct {
	o1, o2, o3 counters
	sp         counters // sparse: the byte two back
	mm         counters // [min(len,15)*2 + expected bit]
	mx         mixer

	win  []byte
	tab  []uint32 // hash -> position+1 in the output stream
	pos  uint32   // bytes of output seen
	h    uint32   // rolling hash of the last minMatch bytes
	ptr  uint32   // match: position in output of the predicted byte
	mlen uint32   // match length (0: no match)
	c1   byte     // previous output bytes
	c2   byte
	c3   byte

	idx [5]uint32
	exp int // expected bit, or -1
}

func newExtraModel() *extraModel {
	return &extraModel{
		o1: newCounters(1<<15, 15), o2: newCounters(1<<14, 15), o3: newCounters(1<<14, 15), sp: newCounters(1<<15, 15), mm: newCounters(64, 255),
		mx:  newMixer(2*(maxMatchL+1), 12),
		win: make([]byte, winSize), tab: make([]uint32, 1<<hashBits),
	}
}

// see appends an output byte (from a diff or an extra region).
func (m *extraModel) see(c byte) {
	if m.mlen > 0 && m.win[m.ptr&(winSize-1)] == c && m.pos-m.ptr < winSize-1 {
		m.mlen++
		m.ptr++
	} else {
		m.mlen = 0
	}
	m.win[m.pos&(winSize-1)] = c
	m.pos++
	m.h = (m.h*(5<<5) + uint32(c) + 1) & (1<<hashBits - 1)
	if m.mlen == 0 && m.pos >= minMatch {
		if p := m.tab[m.h]; p > 0 && m.pos-p < winSize-1 {
			m.ptr, m.mlen = p, 1
		}
	}
	m.tab[m.h] = m.pos
	m.c3, m.c2, m.c1 = m.c2, m.c1, c
}

func (m *extraModel) seeAll(b []byte) {
	for _, c := range b {
		m.see(c)
	}
}

// pBit returns the 16-bit probability that the next bit is 1; node is the
// bit-tree node (1..255) of the byte being coded.
func (m *extraModel) pBit(node uint32) int32 {
	m.idx[0] = (uint32(m.c1)<<8 | node) * 0x9E3779B1 >> 17
	m.idx[1] = (uint32(m.c2)<<16 | uint32(m.c1)<<8 | node) * 0x9E3779B1 >> 18
	m.mx.add(m.o1.p12(m.idx[0]))
	m.mx.add(m.o2.p12(m.idx[1]))
	m.idx[3] = (uint32(m.c3)<<24 | uint32(m.c2)<<16 | uint32(m.c1)<<8 | node) * 0x2545F491 >> 18
	m.mx.add(m.o3.p12(m.idx[3]))
	m.idx[4] = (uint32(m.c2)<<8 | node) * 0x2545F491 >> 17
	m.mx.add(m.sp.p12(m.idx[4]))
	m.exp = -1
	l := uint32(0)
	if m.mlen > 0 {
		eb := uint32(m.win[m.ptr&(winSize-1)]) | 0x100
		depth := bitLen(uint64(node)) - 1 // bits of this byte already coded
		if eb>>(8-depth) == node {
			m.exp = int(eb>>(7-depth)) & 1
			l = min(m.mlen, maxMatchL)
			m.idx[2] = l*2 + uint32(m.exp)
			m.mx.add(m.mm.p12(m.idx[2]))
		}
	}
	if m.exp < 0 {
		m.mx.add(2048)
	}
	m.mx.add(2048 + 1024)
	set := int(l) * 2
	if m.exp >= 0 {
		set++
	}
	return m.mx.mix(set)
}

func (m *extraModel) update(bit int) {
	m.o1.update(m.idx[0], bit)
	m.o2.update(m.idx[1], bit)
	m.o3.update(m.idx[3], bit)
	m.sp.update(m.idx[4], bit)
	if m.exp >= 0 {
		m.mm.update(m.idx[2], bit)
	}
	m.mx.update(bit)
}

func (m *extraModel) encode(e *rcEncoder, c byte) {
	node := uint32(1)
	for i := 7; i >= 0; i-- {
		b := int(c>>i) & 1
		e.encodeP(m.pBit(node), b)
		m.update(b)
		node = node<<1 | uint32(b)
	}
	m.see(c)
}

func (m *extraModel) decode(d *rcDecoder) byte {
	node := uint32(1)
	for i := 0; i < 8; i++ {
		b := d.decodeP(m.pBit(node))
		m.update(b)
		node = node<<1 | uint32(b)
	}
	c := byte(node)
	m.see(c)
	return c
}
