package fhir

// Hand-written checkers for the lexical rules of the R4 primitive types. Each
// one accepts exactly the strings that the type's regex in the definitions
// (the .../StructureDefinition/regex extension on <type>.value, kept in the
// generated tables) matches as a whole, read with Go regexp semantics, where
// \s is [\t\n\f\r ]. primitives_test.go checks that claim against the
// regexes themselves. They run on decoded string content.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validID reports whether s matches [A-Za-z0-9\-\.]{1,64}.
func validID(s []byte) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validString matches [ \r\n\t\S]+ (string and markdown): anything but the
// form feed.
func validString(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c == '\f' {
			return false
		}
	}
	return true
}

// validURI matches \S* (uri, url, canonical).
func validURI(s []byte) bool {
	for _, c := range s {
		if isSpace(c) {
			return false
		}
	}
	return true
}

// validCode matches [^\s]+(\s[^\s]+)*: no leading, trailing or repeated white space.
func validCode(s []byte) bool {
	if len(s) == 0 || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// validOID matches urn:oid:[0-2](\.(0|[1-9][0-9]*))+.
func validOID(s []byte) bool {
	const p = "urn:oid:"
	if len(s) < len(p)+3 || string(s[:len(p)]) != p {
		return false
	}
	s = s[len(p):]
	if s[0] < '0' || s[0] > '2' {
		return false
	}
	s = s[1:]
	if len(s) == 0 {
		return false
	}
	for len(s) > 0 {
		if s[0] != '.' || len(s) < 2 || !isDigit(s[1]) {
			return false
		}
		n := 2
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if s[1] == '0' && n > 2 {
			return false
		}
		s = s[n:]
	}
	return true
}

// validUUID matches urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.
func validUUID(s []byte) bool {
	const p = "urn:uuid:"
	if len(s) != len(p)+36 || string(s[:len(p)]) != p {
		return false
	}
	return validBareUUID(s[len(p):])
}

func validBareUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// validBase64 matches (\s*([0-9a-zA-Z\+/=]){4}\s*)+: groups of four
// alphabet characters, white space allowed only between groups.
func validBase64(s []byte) bool {
	groups, n := 0, 0
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=':
			n++
			if n == 4 {
				n = 0
				groups++
			}
		case isSpace(c):
			if n != 0 {
				return false
			}
		default:
			return false
		}
	}
	return n == 0 && groups > 0
}

// year matches ([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000): four
// digits other than 0000.
func year(s []byte) bool {
	return len(s) >= 4 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) &&
		!(s[0] == '0' && s[1] == '0' && s[2] == '0' && s[3] == '0')
}

func month(s []byte) bool {
	return len(s) >= 2 && (s[0] == '0' && s[1] >= '1' && s[1] <= '9' || s[0] == '1' && s[1] >= '0' && s[1] <= '2')
}

func day(s []byte) bool {
	return len(s) >= 2 && (s[0] == '0' && s[1] >= '1' && s[1] <= '9' ||
		(s[0] == '1' || s[0] == '2') && isDigit(s[1]) || s[0] == '3' && (s[1] == '0' || s[1] == '1'))
}

// clock matches ([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)? at
// the start of s and returns its length, or -1.
func clock(s []byte) int {
	if len(s) < 8 || !(s[0] <= '1' && s[0] >= '0' && isDigit(s[1]) || s[0] == '2' && s[1] >= '0' && s[1] <= '3') ||
		s[2] != ':' || s[3] < '0' || s[3] > '5' || !isDigit(s[4]) || s[5] != ':' ||
		!(s[6] >= '0' && s[6] <= '5' && isDigit(s[7]) || s[6] == '6' && s[7] == '0') {
		return -1
	}
	n := 8
	if n < len(s) && s[n] == '.' {
		n++
		start := n
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == start {
			return -1
		}
	}
	return n
}

// zone matches (Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)) as all of s.
func zone(s []byte) bool {
	if len(s) == 1 {
		return s[0] == 'Z'
	}
	if len(s) != 6 || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return false
	}
	if s[1] == '1' && s[2] == '4' {
		return s[4] == '0' && s[5] == '0'
	}
	return (s[1] == '0' && isDigit(s[2]) || s[1] == '1' && s[2] >= '0' && s[2] <= '3') &&
		s[4] >= '0' && s[4] <= '5' && isDigit(s[5])
}

// validDate matches YYYY, YYYY-MM or YYYY-MM-DD.
func validDate(s []byte) bool {
	switch len(s) {
	case 4:
		return year(s)
	case 7:
		return year(s) && s[4] == '-' && month(s[5:])
	case 10:
		return year(s) && s[4] == '-' && month(s[5:]) && s[7] == '-' && day(s[8:])
	}
	return false
}

// validDateTime matches a date, or a full date with a time and a zone.
func validDateTime(s []byte) bool {
	if len(s) <= 10 {
		return validDate(s)
	}
	return validInstant(s)
}

// validInstant matches YYYY-MM-DDThh:mm:ss(.s+)?(Z|±hh:mm).
func validInstant(s []byte) bool {
	if len(s) < 20 || !validDate(s[:10]) || s[10] != 'T' {
		return false
	}
	n := clock(s[11:])
	return n > 0 && zone(s[11+n:])
}

// validTime matches hh:mm:ss(.s+)? with no zone.
func validTime(s []byte) bool { return clock(s) == len(s) }

// Numbers arrive as JSON number tokens, which already match the decimal regex.

// integerToken checks a JSON number token against the integer regex
// -?([0]|([1-9][0-9]*)) and the 32-bit range; min is the smallest value allowed.
func integerToken(s []byte, min int64) bool {
	neg := len(s) > 0 && s[0] == '-'
	digits := s
	if neg && min >= 0 {
		return false
	}
	if neg {
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 10 {
		return false
	}
	var v int64
	for _, c := range digits {
		if !isDigit(c) {
			return false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v >= min && v <= 1<<31-1
}
