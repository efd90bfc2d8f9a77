package seedmanifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// pyDump encodes v the way CPython's json.dumps does with sort_keys=True and
// ensure_ascii=True. With indent < 0 it uses separators (",", ":") (the
// signed canonical form); otherwise json.dump(indent=indent) layout.
// v holds what decode produces: map[string]any, []any, string, bool, nil,
// json.Number, int64, uint32, float64.
func pyDump(v any, indent int) ([]byte, error) {
	var b bytes.Buffer
	if err := pyEncode(&b, v, indent, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func newline(b *bytes.Buffer, indent, level int) {
	if indent >= 0 {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", indent*level))
	}
}

func pyEncode(b *bytes.Buffer, v any, indent, level int) error {
	itemSep, keySep := ",", ":"
	if indent >= 0 {
		keySep = ": "
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		pyString(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		s, err := pyFloat(x)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case json.Number:
		s, err := pyNumber(string(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(b, indent, level+1)
			if err := pyEncode(b, e, indent, level+1); err != nil {
				return err
			}
		}
		newline(b, indent, level)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return lessCodepoints(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(b, indent, level+1)
			pyString(b, k)
			b.WriteString(keySep)
			if err := pyEncode(b, x[k], indent, level+1); err != nil {
				return err
			}
		}
		newline(b, indent, level)
		b.WriteByte('}')
	default:
		return fmt.Errorf("seed manifest: cannot encode %T", v)
	}
	return nil
}

// lessCodepoints orders like Python's str comparison (UTF-8 byte order is
// code point order for valid strings).
func lessCodepoints(a, b string) bool { return a < b }

const hexdig = "0123456789abcdef"

// pyString is json.encoder.py_encode_basestring_ascii.
func pyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r >= 0x20 && r < 0x7f {
				b.WriteRune(r)
				continue
			}
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				u4(b, r1)
				u4(b, r2)
				continue
			}
			u4(b, r)
		}
	}
	b.WriteByte('"')
}

func u4(b *bytes.Buffer, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexdig[r>>12&0xf])
	b.WriteByte(hexdig[r>>8&0xf])
	b.WriteByte(hexdig[r>>4&0xf])
	b.WriteByte(hexdig[r&0xf])
}

// pyNumber re-encodes a JSON number literal as Python would after
// json.loads: integers keep all digits, others become float repr.
func pyNumber(lit string) (string, error) {
	if !strings.ContainsAny(lit, ".eE") {
		n, ok := new(big.Int).SetString(lit, 10)
		if !ok {
			return "", fmt.Errorf("seed manifest: bad number %q", lit)
		}
		return n.String(), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		// Python turns overflowing literals into inf, which json.dumps writes as Infinity.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && math.IsInf(f, 0) {
			return pyFloat(f)
		}
		return "", fmt.Errorf("seed manifest: bad number %q", lit)
	}
	return pyFloat(f)
}

// pyFloat is Python's float.__repr__ (shortest round-trip digits; fixed
// notation for 1e-4 <= |x| < 1e16, always with a fraction part).
func pyFloat(f float64) (string, error) {
	switch {
	case math.IsNaN(f):
		return "NaN", nil
	case math.IsInf(f, 1):
		return "Infinity", nil
	case math.IsInf(f, -1):
		return "-Infinity", nil
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	if -4 <= exp && exp < 16 {
		var s string
		if exp >= 0 {
			if len(digits) <= exp+1 {
				s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			} else {
				s = digits[:exp+1] + "." + digits[exp+1:]
			}
		} else {
			s = "0." + strings.Repeat("0", -exp-1) + digits
		}
		return sign + s, nil
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	es := "+"
	if exp < 0 {
		es, exp = "-", -exp
	}
	return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp), nil
}
