package fhir

import "github.com/fhirlake/fhirlake/internal/jsonscan"

// This file rewrites the top level of a resource object at the byte level: members are found
// with the validator's scanner, values are checked for well-formed JSON but not decoded, and
// every byte not rewritten is kept as it was.

// members scans the object that is the whole of d, calling fn with each member's decoded key,
// the offset of the key and the span [vStart, vEnd) of its value. It returns the offsets of
// the opening brace and of the byte after the closing one.
func members(d []byte, fn func(key []byte, kStart, vStart, vEnd int)) (open, end int, err error) {
	open = jsonscan.SkipWS(d, 0)
	if open >= len(d) || d[open] != '{' {
		return 0, 0, ErrNotJSONObject
	}
	j := jsonscan.SkipWS(d, open+1)
	if j < len(d) && d[j] == '}' {
		end = j + 1
	} else {
		for {
			if j >= len(d) || d[j] != '"' {
				return 0, 0, ErrNotJSONObject
			}
			kStart := j
			kEnd, kEsc, ok := jsonscan.String(d, j)
			if !ok {
				return 0, 0, ErrNotJSONObject
			}
			key := d[j+1 : kEnd-1]
			if kEsc {
				key = jsonscan.Unescape(nil, key)
			}
			j = jsonscan.SkipWS(d, kEnd)
			if j >= len(d) || d[j] != ':' {
				return 0, 0, ErrNotJSONObject
			}
			vStart := jsonscan.SkipWS(d, j+1)
			if j, ok = jsonscan.Skip(d, vStart, 1); !ok {
				return 0, 0, ErrNotJSONObject
			}
			fn(key, kStart, vStart, j)
			j = jsonscan.SkipWS(d, j)
			if j >= len(d) {
				return 0, 0, ErrNotJSONObject
			}
			if d[j] == '}' {
				end = j + 1
				break
			}
			if d[j] != ',' {
				return 0, 0, ErrNotJSONObject
			}
			j = jsonscan.SkipWS(d, j+1)
		}
	}
	if jsonscan.SkipWS(d, end) != len(d) {
		return 0, 0, ErrNotJSONObject
	}
	return open, end, nil
}

// SetID returns a copy of the resource JSON object with its top-level id set to id: the value of
// an existing id member is replaced where it is (the first one, when there are several); a
// missing id is inserted after resourceType (or first).
func SetID(resource []byte, id string) ([]byte, error) {
	d := resource
	idStart, idEnd, afterRT := -1, -1, -1
	open, _, err := members(d, func(key []byte, _, vStart, vEnd int) {
		switch string(key) {
		case "id":
			if idStart < 0 {
				idStart, idEnd = vStart, vEnd
			}
		case "resourceType":
			if afterRT < 0 {
				afterRT = vEnd
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(d)+len(id)+8)
	if idStart >= 0 {
		out = append(out, d[:idStart]...)
		out = appendJSONString(out, id)
		return append(out, d[idEnd:]...), nil
	}
	empty := jsonscan.SkipWS(d, open+1) < len(d) && d[jsonscan.SkipWS(d, open+1)] == '}'
	switch {
	case afterRT >= 0:
		out = append(out, d[:afterRT]...)
		out = append(out, `,"id":`...)
		out = appendJSONString(out, id)
		return append(out, d[afterRT:]...), nil
	case empty:
		out = append(out, d[:open+1]...)
		out = append(out, `"id":`...)
		out = appendJSONString(out, id)
	default:
		out = append(out, d[:open+1]...)
		out = append(out, `"id":`...)
		out = appendJSONString(out, id)
		out = append(out, ',')
	}
	return append(out, d[open+1:]...), nil
}

// KeepMembers returns a JSON object of the top-level members of resource for which keep is
// true, each copied as it was, in order. It returns resource itself when keep takes every
// member.
func KeepMembers(resource []byte, keep func(key []byte) bool) ([]byte, error) {
	type span struct{ start, end int }
	var kept []span
	n, all := 2, true
	_, _, err := members(resource, func(key []byte, kStart, _, vEnd int) {
		if keep(key) {
			kept = append(kept, span{kStart, vEnd})
			n += vEnd - kStart + 1
		} else {
			all = false
		}
	})
	if err != nil {
		return nil, err
	}
	if all {
		return resource, nil
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, s := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, resource[s.start:s.end]...)
	}
	return append(out, '}'), nil
}
