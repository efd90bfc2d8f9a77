package delta

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Binary adaptive range coder in the style of LZMA's, with 16-bit
// probabilities. Each model is a pair of probabilities adapting at a fast
// and a slow rate; the coded probability is their mean. All model state is
// fixed-size, so the decoder's memory does not depend on the data.

const (
	probBits  = 16
	probInit  = 1 << (probBits - 1)
	rcTop     = 1 << 24
	rateFast  = 4
	rateSlow  = 7
	rcInitLen = 5 // bytes the decoder reads up front
)

// prob is one adaptive bit model: probability (scaled by 2^16) of a 0 bit.
type prob struct{ fast, slow uint16 }

func newProbs(n int) []prob {
	p := make([]prob, n)
	for i := range p {
		p[i] = prob{probInit, probInit}
	}
	return p
}

func (p *prob) p0() uint32 {
	v := (uint32(p.fast) + uint32(p.slow)) >> 1
	// Keep away from 0 and 2^16 so that bound stays in (0, range).
	return min(max(v, 32), 1<<probBits-32)
}

func (p *prob) update(bit int) {
	if bit == 0 {
		p.fast += (1<<probBits - 1 - p.fast) >> rateFast
		p.slow += (1<<probBits - 1 - p.slow) >> rateSlow
	} else {
		p.fast -= p.fast >> rateFast
		p.slow -= p.slow >> rateSlow
	}
}

type rcEncoder struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int64
	out       []byte
	// stats, if non-nil, accumulates the ideal cost in bits per category
	// (analysis only).
	stats *[8]float64
	cat   int
}

func newEncoder() *rcEncoder { return &rcEncoder{rng: 0xFFFFFFFF, cacheSize: 1} }

func (e *rcEncoder) shiftLow() {
	if uint32(e.low) < 0xFF000000 || e.low>>32 != 0 {
		carry := byte(e.low >> 32)
		temp := e.cache
		for {
			e.out = append(e.out, temp+carry)
			temp = 0xFF
			e.cacheSize--
			if e.cacheSize == 0 {
				break
			}
		}
		e.cache = byte(uint32(e.low) >> 24)
	}
	e.cacheSize++
	e.low = uint64(uint32(e.low) << 8)
}

func (e *rcEncoder) encode(p *prob, bit int) {
	bound := (e.rng >> probBits) * p.p0()
	if e.stats != nil {
		q := float64(p.p0()) / (1 << probBits)
		if bit == 1 {
			q = 1 - q
		}
		e.stats[e.cat] -= math.Log2(q)
	}
	if bit == 0 {
		e.rng = bound
	} else {
		e.low += uint64(bound)
		e.rng -= bound
	}
	p.update(bit)
	for e.rng < rcTop {
		e.rng <<= 8
		e.shiftLow()
	}
}

// encodeP codes bit with a 16-bit probability p1 (1..65535) of a 1 from a
// mixer.
func (e *rcEncoder) encodeP(p1 int32, bit int) {
	p0 := uint32(65536 - p1)
	bound := (e.rng >> probBits) * p0
	if e.stats != nil {
		q := float64(p0) / (1 << probBits)
		if bit == 1 {
			q = 1 - q
		}
		e.stats[e.cat] -= math.Log2(q)
	}
	if bit == 0 {
		e.rng = bound
	} else {
		e.low += uint64(bound)
		e.rng -= bound
	}
	for e.rng < rcTop {
		e.rng <<= 8
		e.shiftLow()
	}
}

// encodeTree codes the low nbits of v MSB first with a binary tree of
// models; probs must have 1<<nbits entries.
func (e *rcEncoder) encodeTree(probs []prob, nbits int, v uint32) {
	m := uint32(1)
	for i := nbits - 1; i >= 0; i-- {
		b := int(v>>i) & 1
		e.encode(&probs[m], b)
		m = m<<1 | uint32(b)
	}
}

func (e *rcEncoder) finish() []byte {
	for i := 0; i < 5; i++ {
		e.shiftLow()
	}
	return e.out
}

// rcDecoder reads the coded stream from r. After the input ends it feeds
// zero bytes and records the error; callers check err at op boundaries, so a
// truncated patch fails instead of decoding forever.
type rcDecoder struct {
	r    io.ByteReader
	code uint32
	rng  uint32
	err  error
}

func newDecoder(r io.ByteReader) (*rcDecoder, error) {
	d := &rcDecoder{r: r, rng: 0xFFFFFFFF}
	for i := 0; i < rcInitLen; i++ {
		d.code = d.code<<8 | uint32(d.next())
	}
	if d.err != nil {
		return nil, d.err
	}
	return d, nil
}

func (d *rcDecoder) next() byte {
	if d.err != nil {
		return 0
	}
	c, err := d.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			d.err = corrupt("Unexpected EOF in coded stream")
		} else {
			d.err = fmt.Errorf("delta apply: read patch: %w", err)
		}
		return 0
	}
	return c
}

func (d *rcDecoder) decode(p *prob) int {
	bound := (d.rng >> probBits) * p.p0()
	var bit int
	if d.code < bound {
		d.rng = bound
	} else {
		d.code -= bound
		d.rng -= bound
		bit = 1
	}
	p.update(bit)
	for d.rng < rcTop {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.next())
	}
	return bit
}

func (d *rcDecoder) decodeP(p1 int32) int {
	bound := (d.rng >> probBits) * uint32(65536-p1)
	var bit int
	if d.code < bound {
		d.rng = bound
	} else {
		d.code -= bound
		d.rng -= bound
		bit = 1
	}
	for d.rng < rcTop {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.next())
	}
	return bit
}

func (d *rcDecoder) decodeTree(probs []prob, nbits int) uint32 {
	m := uint32(1)
	for i := 0; i < nbits; i++ {
		m = m<<1 | uint32(d.decode(&probs[m]))
	}
	return m - 1<<nbits
}
