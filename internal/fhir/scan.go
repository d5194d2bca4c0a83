package fhir

import (
	"encoding/binary"
	"unicode/utf8"
)

// This file holds the JSON scanner shared by every level: small functions
// over a byte slice and an offset that validate RFC 8259 syntax (including
// UTF-8) without building a tree. Each returns the offset after what it
// scanned and false on a syntax error; none of them panics on any input.

// maxDepth bounds the nesting of arrays and objects so that hostile input
// cannot exhaust the stack.
const maxDepth = 512

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

func skipWS(d []byte, i int) int {
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

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanString scans the string whose opening quote is at d[i]. It returns the
// offset after the closing quote and whether the string holds escapes.
func scanString(d []byte, i int) (end int, escaped, ok bool) {
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
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
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

// scanNumber scans a JSON number starting at d[i].
func scanNumber(d []byte, i int) (int, bool) {
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

func scanLiteral(d []byte, i int, lit string) (int, bool) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipValue scans any JSON value starting at d[i] (no leading whitespace).
func skipValue(d []byte, i, depth int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; c {
	case '"':
		end, _, ok := scanString(d, i)
		return end, ok
	case '{':
		if depth >= maxDepth {
			return i, false
		}
		i = skipWS(d, i+1)
		if i < len(d) && d[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(d) || d[i] != '"' {
				return i, false
			}
			var ok bool
			if i, _, ok = scanString(d, i); !ok {
				return i, false
			}
			i = skipWS(d, i)
			if i >= len(d) || d[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(d, skipWS(d, i+1), depth+1); !ok {
				return i, false
			}
			i = skipWS(d, i)
			if i >= len(d) {
				return i, false
			}
			if d[i] == '}' {
				return i + 1, true
			}
			if d[i] != ',' {
				return i, false
			}
			i = skipWS(d, i+1)
		}
	case '[':
		if depth >= maxDepth {
			return i, false
		}
		i = skipWS(d, i+1)
		if i < len(d) && d[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(d, i, depth+1); !ok {
				return i, false
			}
			i = skipWS(d, i)
			if i >= len(d) {
				return i, false
			}
			if d[i] == ']' {
				return i + 1, true
			}
			if d[i] != ',' {
				return i, false
			}
			i = skipWS(d, i+1)
		}
	case 't':
		return scanLiteral(d, i, "true")
	case 'f':
		return scanLiteral(d, i, "false")
	case 'n':
		return scanLiteral(d, i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return scanNumber(d, i)
		}
		return i, false
	}
}

// unescape appends the decoded content of a scanned JSON string body (without
// quotes) to dst. The body must have passed scanString.
func unescape(dst, s []byte) []byte {
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
	r := hex4(s[2:])
	if r < 0 {
		return utf8.RuneError, 2
	}
	if r >= 0xD800 && r < 0xDC00 {
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2 := hex4(s[8:]); r2 >= 0xDC00 && r2 < 0xE000 {
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

func hex4(s []byte) rune {
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

// envelope is what scanEnvelope finds at the top level of an object.
type envelope struct {
	end          int    // offset after the object
	rt, id       []byte // raw string bodies (escapes not decoded)
	rtEsc, idEsc bool
	rtFound      bool // a resourceType member exists
	rtString     bool // and its value is a string
	idFound      bool
	idString     bool
	firstKeyRT   bool // resourceType is the first member
	rtValueStart int  // offset of the resourceType value
}

// scanEnvelope validates the object starting at d[i] and records its
// resourceType and id members; the first occurrence of each wins.
func scanEnvelope(d []byte, i int) (envelope, bool) {
	var env envelope
	if i >= len(d) || d[i] != '{' {
		return env, false
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		env.end = i + 1
		return env, true
	}
	first := true
	for {
		if i >= len(d) || d[i] != '"' {
			return env, false
		}
		kStart := i + 1
		kEnd, kEsc, ok := scanString(d, i)
		if !ok {
			return env, false
		}
		key := d[kStart : kEnd-1]
		i = skipWS(d, kEnd)
		if i >= len(d) || d[i] != ':' {
			return env, false
		}
		i = skipWS(d, i+1)
		vStart := i
		if i, ok = skipValue(d, i, 1); !ok {
			return env, false
		}
		if kEsc {
			key = unescape(nil, key)
		}
		isString := d[vStart] == '"'
		switch string(key) {
		case "resourceType":
			if !env.rtFound {
				env.rtFound, env.rtString, env.firstKeyRT, env.rtValueStart = true, isString, first, vStart
				if isString {
					_, env.rtEsc, _ = scanString(d, vStart)
					env.rt = d[vStart+1 : i-1]
				}
			}
		case "id":
			if !env.idFound {
				env.idFound, env.idString = true, isString
				if isString {
					_, env.idEsc, _ = scanString(d, vStart)
					env.id = d[vStart+1 : i-1]
				}
			}
		}
		first = false
		i = skipWS(d, i)
		if i >= len(d) {
			return env, false
		}
		if d[i] == '}' {
			env.end = i + 1
			return env, true
		}
		if d[i] != ',' {
			return env, false
		}
		i = skipWS(d, i+1)
	}
}
