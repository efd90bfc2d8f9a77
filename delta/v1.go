package delta

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// v1 opcodes and limits, as in the original updater.
const (
	opCopy = 0x01
	opNew  = 0x02
	opEnd  = 0xFF

	v1MaxCopy = 4096
	v1MaxNew  = 2048

	// v1MinCopy is the shortest match worth a COPY: an op costs 1 byte plus
	// two varints, and breaks a NEW run (another 2-3 bytes).
	v1MinCopy = 8
)

// diffV1 emits exact matches found with the suffix array as COPY ops and the
// rest as NEW ops, splitting at the v1 limits.
func diffV1(old, new []byte) []byte {
	out := append([]byte(magic), 1)
	var m *matcher
	if len(old) > 0 {
		m = newMatcher(old)
	}
	lit := 0 // start of pending literals
	flushLit := func(end int) {
		for lit < end {
			n := min(end-lit, v1MaxNew)
			out = append(out, opNew)
			out = appendVarint(out, uint64(n))
			out = append(out, new[lit:lit+n]...)
			lit += n
		}
	}
	for p := 0; p < len(new); {
		var pos, n int
		if m != nil {
			pos, n = m.longest(new[p:])
		}
		if n < v1MinCopy {
			p++
			continue
		}
		flushLit(p)
		for n > 0 {
			c := min(n, v1MaxCopy)
			out = append(out, opCopy)
			out = appendVarint(out, uint64(pos))
			out = appendVarint(out, uint64(c))
			pos, p, n = pos+c, p+c, n-c
		}
		lit = p
	}
	flushLit(len(new))
	return append(out, opEnd)
}

// applyV1 runs the v1 op loop; the header has been consumed.
func applyV1(old io.ReaderAt, oldSize int64, br *bufio.Reader, ow *outWriter) error {
	buf := make([]byte, v1MaxCopy)
	for {
		op, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return corrupt("Unexpected EOF reading opcode")
			}
			return fmt.Errorf("delta apply: read patch: %w", err)
		}
		switch op {
		case opEnd:
			return nil
		case opCopy:
			off, err := readVarint(br)
			if err != nil {
				return err
			}
			n, err := readVarint(br)
			if err != nil {
				return err
			}
			if n > v1MaxCopy {
				return corrupt(fmt.Sprintf("Copy size too large: %d", n))
			}
			if err := readOld(old, oldSize, int64(off), buf[:n]); err != nil {
				return err
			}
			if _, err := ow.Write(buf[:n]); err != nil {
				return err
			}
		case opNew:
			n, err := readVarint(br)
			if err != nil {
				return err
			}
			if n > v1MaxNew {
				return corrupt(fmt.Sprintf("Insert size too large: %d", n))
			}
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return corrupt(fmt.Sprintf("Unexpected EOF reading %d bytes", n))
				}
				return fmt.Errorf("delta apply: read patch: %w", err)
			}
			if _, err := ow.Write(buf[:n]); err != nil {
				return err
			}
		default:
			return corrupt(fmt.Sprintf("Unknown opcode: 0x%02x", op))
		}
	}
}

// infoV1 walks a v1 patch to count ops and output size.
func infoV1(br *bufio.Reader) (Info, error) {
	info := Info{Format: V1}
	for {
		op, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Info{}, corrupt("Unexpected EOF reading opcode")
			}
			return Info{}, fmt.Errorf("delta info: read patch: %w", err)
		}
		switch op {
		case opEnd:
			return info, nil
		case opCopy:
			if _, err := readVarint(br); err != nil {
				return Info{}, err
			}
			n, err := readVarint(br)
			if err != nil {
				return Info{}, err
			}
			if n > v1MaxCopy {
				return Info{}, corrupt(fmt.Sprintf("Copy size too large: %d", n))
			}
			info.NewSize += int64(n)
		case opNew:
			n, err := readVarint(br)
			if err != nil {
				return Info{}, err
			}
			if n > v1MaxNew {
				return Info{}, corrupt(fmt.Sprintf("Insert size too large: %d", n))
			}
			if _, err := br.Discard(int(n)); err != nil {
				return Info{}, corrupt(fmt.Sprintf("Unexpected EOF reading %d bytes", n))
			}
			info.NewSize += int64(n)
		default:
			return Info{}, corrupt(fmt.Sprintf("Unknown opcode: 0x%02x", op))
		}
		info.Ops++
	}
}
