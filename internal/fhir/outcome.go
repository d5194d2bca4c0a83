package fhir

import (
	"unicode/utf8"
)

// MarshalOperationOutcome renders issues as a compact FHIR OperationOutcome JSON object:
// {"resourceType":"OperationOutcome","issue":[{"severity":..,"code":..,"diagnostics":..,"expression":[..]}]}
//
// Empty diagnostics and expressions are left out. Because an OperationOutcome
// needs at least one issue, an empty list renders as one "information" issue
// with code "informational".
func MarshalOperationOutcome(issues []Issue) []byte {
	n := 48
	for _, is := range issues {
		n += 64 + len(is.Diagnostics) + len(is.Expression)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"resourceType":"OperationOutcome","issue":[`...)
	if len(issues) == 0 {
		b = append(b, `{"severity":"information","code":"informational","diagnostics":"no issues"}`...)
	}
	for k, is := range issues {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"severity":`...)
		b = appendJSONString(b, is.Severity)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, is.Code)
		if is.Diagnostics != "" {
			b = append(b, `,"diagnostics":`...)
			b = appendJSONString(b, is.Diagnostics)
		}
		if is.Expression != "" {
			b = append(b, `,"expression":[`...)
			b = appendJSONString(b, is.Expression)
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// so that the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
