package delta

// bsdiffOps computes approximate-match operations in the manner of Colin
// Percival's bsdiff: find exact matches with the suffix array, extend them
// forwards and backwards while at least half of the bytes agree, and code
// the rest as literal (extra) bytes. A new match is taken when it beats the
// current alignment by more than nearGain bytes (bsdiff uses 8; 5 measured
// better for binaries with this coder). Only the first op may be empty (a pure
// seek); later empty ops are folded into their predecessor's seek, so every
// later op produces at least one byte.
func bsdiffOps(old, new []byte) []op {
	nearGain, farGain := 5, farMinGain(new)
	if farGain > 0 {
		nearGain = 8 // text: bsdiff's own threshold measured best
	}
	var ops []op
	emit := func(o op) {
		if o.diffLen+o.extraLen == 0 && len(ops) > 0 {
			ops[len(ops)-1].seek += o.seek
			return
		}
		ops = append(ops, o)
	}
	if len(new) == 0 {
		return nil
	}
	if len(old) == 0 {
		emit(op{extraLen: int64(len(new))})
		return ops
	}
	m := newMatcher(old)
	oldSize, newSize := len(old), len(new)
	var scan, length, pos, lastScan, lastPos, lastOffset int
	var prevOffsets [2]int
	for scan < newSize {
		oldScore := 0
		scan += length
		for scsc := scan; scan < newSize; scan++ {
			pos, length = m.longest(new[scan:])
			for ; scsc < scan+length; scsc++ {
				if scsc+lastOffset < oldSize && old[scsc+lastOffset] == new[scsc] {
					oldScore++
				}
			}
			if (length == oldScore && length != 0) || length > oldScore+nearGain+farPenalty(pos-scan, lastOffset, prevOffsets, farGain) {
				break
			}
			if scan+lastOffset < oldSize && old[scan+lastOffset] == new[scan] {
				oldScore--
			}
		}
		if length == oldScore && scan != newSize {
			continue
		}
		// Extend the previous match forwards.
		lenF := 0
		for i, s, sf := 0, 0, 0; lastScan+i < scan && lastPos+i < oldSize; {
			if old[lastPos+i] == new[lastScan+i] {
				s++
			}
			i++
			if s*2-i > sf*2-lenF {
				sf, lenF = s, i
			}
		}
		// Extend the new match backwards.
		lenB := 0
		if scan < newSize {
			for i, s, sb := 1, 0, 0; scan >= lastScan+i && pos >= i; i++ {
				if old[pos-i] == new[scan-i] {
					s++
				}
				if s*2-i > sb*2-lenB {
					sb, lenB = s, i
				}
			}
		}
		// Resolve an overlap between the two extensions.
		if lastScan+lenF > scan-lenB {
			overlap := (lastScan + lenF) - (scan - lenB)
			s, ss, lenS := 0, 0, 0
			for i := 0; i < overlap; i++ {
				if new[lastScan+lenF-overlap+i] == old[lastPos+lenF-overlap+i] {
					s++
				}
				if new[scan-lenB+i] == old[pos-lenB+i] {
					s--
				}
				if s > ss {
					ss, lenS = s, i+1
				}
			}
			lenF += lenS - overlap
			lenB -= lenS
		}
		emit(op{
			diffLen:  int64(lenF),
			extraLen: int64((scan - lenB) - (lastScan + lenF)),
			seek:     int64((pos - lenB) - (lastPos + lenF)),
		})
		if pos-scan != lastOffset {
			prevOffsets[1], prevOffsets[0] = prevOffsets[0], lastOffset
		}
		lastScan, lastPos, lastOffset = scan-lenB, pos-lenB, pos-scan
	}
	if len(ops) > 0 {
		ops[len(ops)-1].seek = 0 // never used; zero codes cheapest
	}
	return ops
}

// farMinGain is how many more matching bytes than bsdiff's 8 a match must
// bring when it starts at an offset far from the current and recent ones:
// such a jump costs a long seek there and usually one back. In text, the
// literal (extra) bytes it would replace are cheap to code (the extra model
// predicts them well), so short far matches do not pay; in binaries they do.
func farMinGain(new []byte) int {
	if len(new) == 0 {
		return 0
	}
	text := 0
	for _, c := range new {
		if c == '\t' || c == '\n' || c == '\r' || (c >= 32 && c < 127) {
			text++
		}
	}
	if text >= len(new)*95/100 {
		return 24
	}
	return 0
}

func farPenalty(ofs, last int, prev [2]int, gain int) int {
	if gain == 0 {
		return 0
	}
	for _, o := range [3]int{last, prev[0], prev[1]} {
		if d := ofs - o; d > -64 && d < 64 {
			return 0
		}
	}
	return gain
}
