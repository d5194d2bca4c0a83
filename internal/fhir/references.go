package fhir

import (
	"bytes"
	"strings"
)

// Strict-level checks of references and required bindings.
//
// Reference policy (Reference.reference, strict level):
//   - "Type/id" and "Type/id/_history/vid": Type must be a concrete R4
//     resource type allowed by the element's target profiles, id a valid id.
//   - "#id": must name a contained resource of the enclosing resource, "#"
//     alone the container (ref-1, evaluated with the other constraints).
//   - Absolute URLs ("scheme://..."): accepted; when the URL ends in
//     .../Type/id (or .../Type/id/_history/vid) with Type a resource type,
//     Type is checked against the targets like a relative reference.
//   - "urn:uuid:" and "urn:oid:" (Bundle-internal references; the target type
//     cannot be known): the canonical forms (lowercase 8-4-4-4-12 hex; an OID
//     of digits and dots without leading zeros, starting with 0, 1 or 2) are
//     accepted. Anything else after the prefix is a warning, as in the HL7
//     validator, unless it is clearly not an identifier: nothing after the
//     prefix, or characters a URN cannot hold (white space, controls,
//     <>"{}|\^`), which are errors. So "urn:uuid:A1B2..." (upper case, which
//     RFC 4122 allows on input) or a UUID without hyphens warns, and
//     "urn:uuid:" or "urn:uuid:not a uuid" rejects. Other URNs are rejected:
//     a reference must be resolvable, and only these two are.
//   - Conditional references "Type?query" (FHIR transaction and bulk-export
//     style, e.g. Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999):
//     accepted when Type is a concrete resource type allowed by the targets
//     and the query is not empty. They are resolved, or not, by whoever
//     stores the resource; validation only checks their shape and type.
//   - Anything else ("pat-1", "patient/1", "Patient/") is rejected.

func (w *walker) checkReference(s []byte, esc bool, targets *targetSet) {
	switch {
	case s[0] == '#':
		return
	case bytes.HasPrefix(s, []byte("urn:uuid:")):
		w.checkURN(s, "urn:uuid:", validUUID(s), "a lowercase UUID (8-4-4-4-12 hex digits)")
		return
	case bytes.HasPrefix(s, []byte("urn:oid:")):
		w.checkURN(s, "urn:oid:", validOID(s), "an OID (digits and dots, no leading zeros)")
		return
	case bytes.HasPrefix(s, []byte("urn:")):
		w.add("value", "reference "+quote(s)+" is not a supported URN (urn:uuid: or urn:oid:)", "")
		return
	}
	if k := bytes.Index(s, []byte("://")); k > 0 {
		w.checkAbsoluteReference(s, targets)
		return
	}
	if q := bytes.IndexByte(s, '?'); q >= 0 {
		td := w.t.resources[string(s[:q])]
		switch {
		case td == nil:
			w.add("value", "conditional reference "+quote(s)+" must start with a resource type", "")
		case q == len(s)-1:
			w.add("value", "conditional reference "+quote(s)+" has no search criteria", "")
		default:
			w.checkTarget(td, targets, s)
		}
		return
	}
	typ, rest, _ := bytes.Cut(s, []byte("/"))
	id, history, hasHistory := bytes.Cut(rest, []byte("/"))
	td := w.t.resources[string(typ)]
	switch {
	case td == nil:
		w.add("value", "reference "+quote(s)+" must be Type/id with a FHIR resource type, an absolute URL, a urn:uuid, #id or a conditional reference", "")
	case !validID(id):
		w.add("value", "reference "+quote(s)+" does not have a valid id after the resource type", "")
	case hasHistory && !(bytes.HasPrefix(history, []byte("_history/")) && validID(history[len("_history/"):])):
		w.add("value", "reference "+quote(s)+" must be Type/id or Type/id/_history/vid", "")
	default:
		w.checkTarget(td, targets, s)
	}
}

// checkURN applies the urn:uuid/urn:oid policy to a reference that is not in
// canonical form.
func (w *walker) checkURN(s []byte, prefix string, canonical bool, form string) {
	if canonical {
		return
	}
	rest := s[len(prefix):]
	if len(rest) == 0 || bytes.ContainsAny(rest, " \t\r\n<>\"{}|\\^`") || bytes.ContainsFunc(rest, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		w.add("value", "reference "+quote(s)+" is not a valid "+strings.TrimSuffix(prefix, ":"), "")
		return
	}
	w.addAt(SeverityWarning, "value", "reference "+quote(s)+" is not in canonical form: after "+prefix+" it should be "+form, w.expr(""))
}

// checkAbsoluteReference checks the resource type of a RESTful absolute URL.
func (w *walker) checkAbsoluteReference(s []byte, targets *targetSet) {
	parts := bytes.Split(s, []byte("/"))
	n := len(parts)
	if n >= 4 && string(parts[n-2]) == "_history" {
		n -= 2
	}
	if n < 2 {
		return
	}
	if td := w.t.resources[string(parts[n-2])]; td != nil && validID(parts[n-1]) {
		w.checkTarget(td, targets, s)
	}
}

func (w *walker) checkTarget(td *typeDef, targets *targetSet, s []byte) {
	if targets.has(td.index) {
		return
	}
	var allowed []string
	for k, name := range w.t.resourceNames {
		if targets.has(k) {
			allowed = append(allowed, name)
		}
	}
	w.add("invalid", "reference "+quote(s)+" points at a "+td.name+"; allowed target types: "+strings.Join(allowed, ", "), "")
}

// checkCode checks a code element against its required binding.
func (w *walker) checkCode(vs *valueSet, s []byte) {
	ok := true
	switch vs.kind {
	case vsCodes:
		_, ok = vs.codes[string(s)]
	case vsMime:
		ok = validMimeType(s)
	case vsLang:
		ok = validLanguageTag(s)
	case vsUCUM:
		ok = validUCUM(s)
	}
	if !ok {
		w.add("code-invalid", "code "+quote(s)+" is not in the required value set "+vs.url, "")
	}
}

// checkCoding checks a Coding (also inside a CodeableConcept) with a required
// binding. Codings from code systems the value set does not draw on are left
// alone: the binding is met, or not, by the CodeableConcept's other codings.
func (w *walker) checkCoding(vs *valueSet, system, code []byte) {
	ok := true
	switch vs.kind {
	case vsCodes:
		if _, in := vs.systems[string(system)]; !in {
			return
		}
		w.buf = append(append(append(w.buf[:0], system...), '|'), code...)
		_, ok = vs.pairs[string(w.buf)]
	case vsMime:
		ok = string(system) != "urn:ietf:bcp:13" || validMimeType(code)
	case vsLang:
		ok = string(system) != "urn:ietf:bcp:47" || validLanguageTag(code)
	case vsUCUM:
		ok = string(system) != "http://unitsofmeasure.org" || validUCUM(code)
	}
	if !ok {
		w.add("code-invalid", "code "+quote(code)+" of system "+quote(system)+" is not in the required value set "+vs.url, "code")
	}
}

// isTokenChar reports whether c may appear in an RFC 2045 token.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) < 0
}

func token(s []byte) int {
	n := 0
	for n < len(s) && isTokenChar(s[n]) {
		n++
	}
	return n
}

// validMimeType checks the BCP-13 (RFC 2045) media type grammar:
// type "/" subtype *( OWS ";" OWS attribute "=" value ), where value is a
// quoted-string or, more leniently than RFC 2045, any text up to the next ";".
func validMimeType(s []byte) bool {
	n := token(s)
	if n == 0 || n >= len(s) || s[n] != '/' {
		return false
	}
	s = s[n+1:]
	if n = token(s); n == 0 {
		return false
	}
	s = s[n:]
	for len(s) > 0 {
		s = bytes.TrimLeft(s, " \t")
		if len(s) == 0 || s[0] != ';' {
			return false
		}
		s = bytes.TrimLeft(s[1:], " \t")
		if n = token(s); n == 0 || n >= len(s) || s[n] != '=' {
			return false
		}
		s = s[n+1:]
		if len(s) > 0 && s[0] == '"' {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return false
			}
			s = s[end+1:]
		} else {
			// Unquoted values are read up to the next ';': official examples
			// write values with spaces ("variant=DICOM WADO-RS") unquoted.
			n = bytes.IndexByte(s, ';')
			if n < 0 {
				n = len(s)
			}
			if n == 0 || bytes.ContainsAny(s[:n], "\"\t\r\n") {
				return false
			}
			s = s[n:]
		}
		s = bytes.TrimRight(s, " \t")
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// validLanguageTag checks the shape of a BCP-47 tag: a primary language
// subtag of 2-8 letters (or the x/i prefixes of private-use and grandfathered
// tags), then subtags of 1-8 letters or digits, separated by hyphens.
func validLanguageTag(s []byte) bool {
	for k, sub := range bytes.Split(s, []byte("-")) {
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for _, c := range sub {
			if !isAlpha(c) && !(k > 0 && isDigit(c)) {
				return false
			}
		}
		if k == 0 && len(sub) == 1 && sub[0] != 'x' && sub[0] != 'X' && sub[0] != 'i' && sub[0] != 'I' {
			return false
		}
	}
	return true
}

// validUCUM checks the lexical shape of a UCUM expression: printable ASCII
// without spaces, with balanced (), [] and {} (annotations may hold spaces).
func validUCUM(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	var stack []byte
	for _, c := range s {
		inAnnotation := len(stack) > 0 && stack[len(stack)-1] == '{'
		switch {
		case c < 0x20 || c >= 0x7f:
			return false
		case c == ' ' && !inAnnotation:
			return false
		case inAnnotation:
			if c == '}' {
				stack = stack[:len(stack)-1]
			}
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == ')' || c == ']':
			open := byte('(')
			if c == ']' {
				open = '['
			}
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return false
			}
			stack = stack[:len(stack)-1]
		case c == '}':
			return false
		}
	}
	return len(stack) == 0
}
