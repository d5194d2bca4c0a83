// Package jsonscan holds the JSON scanner the validator and the FHIRPath engine share: small
// functions over a byte slice and an offset that check RFC 8259 syntax (including UTF-8) without
// building a tree. Each returns the offset after what it scanned and false on a syntax error; none
// of them panics on any input, and nesting deeper than MaxDepth is a syntax error.
package jsonscan

import (
	"encoding/binary"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects so that hostile input
// cannot exhaust the stack.
const MaxDepth = 512

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainChunk reports whether none of the 8 bytes in x needs attention inside
// a JSON string: no quote, backslash, control character or non-ASCII byte.
func plainChunk(x uint64) bool {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	special := ((x - lsb*0x20) & ^x) | ((q - lsb) & ^q) | ((b - lsb) & ^b) | x
	return special&msb == 0
}

// SkipWS returns the offset of the first byte at or after i that is not JSON white space.
func SkipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// String scans the string whose opening quote is at d[i]. It returns the
// offset after the closing quote and whether the string holds escapes.
func String(d []byte, i int) (end int, escaped, ok bool) {
	i++
	for {
		for i+8 <= len(d) && plainChunk(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		if i >= len(d) {
			return i, escaped, false
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return i, escaped, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !IsHex(d[i+2]) || !IsHex(d[i+3]) || !IsHex(d[i+4]) || !IsHex(d[i+5]) {
					return i, escaped, false
				}
				i += 6
			default:
				return i, escaped, false
			}
		case c < 0x20:
			return i, escaped, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, escaped, false
			}
			i += size
		}
	}
}

// Number scans a JSON number starting at d[i].
func Number(d []byte, i int) (int, bool) {
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return i, false
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		i++
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	return i, true
}

// Literal scans the literal lit (true, false, null) at d[i].
func Literal(d []byte, i int, lit string) (int, bool) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// Skip scans any JSON value starting at d[i] (no leading whitespace).
func Skip(d []byte, i, depth int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; c {
	case '"':
		end, _, ok := String(d, i)
		return end, ok
	case '{':
		if depth >= MaxDepth {
			return i, false
		}
		i = SkipWS(d, i+1)
		if i < len(d) && d[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(d) || d[i] != '"' {
				return i, false
			}
			var ok bool
			if i, _, ok = String(d, i); !ok {
				return i, false
			}
			i = SkipWS(d, i)
			if i >= len(d) || d[i] != ':' {
				return i, false
			}
			if i, ok = Skip(d, SkipWS(d, i+1), depth+1); !ok {
				return i, false
			}
			i = SkipWS(d, i)
			if i >= len(d) {
				return i, false
			}
			if d[i] == '}' {
				return i + 1, true
			}
			if d[i] != ',' {
				return i, false
			}
			i = SkipWS(d, i+1)
		}
	case '[':
		if depth >= MaxDepth {
			return i, false
		}
		i = SkipWS(d, i+1)
		if i < len(d) && d[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = Skip(d, i, depth+1); !ok {
				return i, false
			}
			i = SkipWS(d, i)
			if i >= len(d) {
				return i, false
			}
			if d[i] == ']' {
				return i + 1, true
			}
			if d[i] != ',' {
				return i, false
			}
			i = SkipWS(d, i+1)
		}
	case 't':
		return Literal(d, i, "true")
	case 'f':
		return Literal(d, i, "false")
	case 'n':
		return Literal(d, i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return Number(d, i)
		}
		return i, false
	}
}

// Unescape appends the decoded content of a scanned JSON string body (without
// quotes) to dst. The body must have passed String.
func Unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := decodeU(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// decodeU decodes a \uXXXX escape at s[0], joining a surrogate pair when one
// follows. Lone surrogates become U+FFFD, as in encoding/json.
func decodeU(s []byte) (rune, int) {
	r := Hex4(s[2:])
	if r < 0 {
		return utf8.RuneError, 2
	}
	if r >= 0xD800 && r < 0xDC00 {
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2 := Hex4(s[8:]); r2 >= 0xDC00 && r2 < 0xE000 {
				return (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000, 12
			}
		}
		return utf8.RuneError, 6
	}
	if r >= 0xDC00 && r < 0xE000 {
		return utf8.RuneError, 6
	}
	return r, 6
}

// Hex4 decodes the four hexadecimal digits at the start of s, or returns -1.
func Hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}
