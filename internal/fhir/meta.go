package fhir

import (
	"errors"
	"time"
)

// ErrNotJSONObject is returned by SetMeta when the resource is not one
// well-formed JSON object.
var ErrNotJSONObject = errors.New("fhir: resource is not a well-formed JSON object")

// ErrMetaNotObject is returned by SetMeta when the resource's meta member is
// not a JSON object.
var ErrMetaNotObject = errors.New("fhir: resource meta is not a JSON object")

// lastUpdatedLayout is RFC 3339 with milliseconds, always in UTC ("Z").
const lastUpdatedLayout = "2006-01-02T15:04:05.000Z07:00"

// SetMeta returns a copy of the resource JSON object with meta.versionId and meta.lastUpdated
// (RFC 3339, millisecond precision, UTC "Z", e.g. 2020-11-23T06:24:13.202Z) set, replacing any existing
// values and keeping every other member (including other meta members) byte-for-byte and in order.
//
// Existing versionId and lastUpdated members are replaced where they are;
// missing ones are inserted at the start of meta. A missing meta is inserted
// after id (or after resourceType, or first). The scan is byte-level over the
// top level and meta only; the rest of the input is checked for well-formed
// JSON but not decoded.
func SetMeta(resource []byte, versionID string, lastUpdated time.Time) ([]byte, error) {
	d := resource
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, ErrNotJSONObject
	}
	// Top-level scan: find meta, and where to insert it when absent.
	metaStart, metaEnd, insertAt := -1, -1, i+1
	j := skipWS(d, i+1)
	empty := j < len(d) && d[j] == '}'
	end := j + 1
	if !empty {
		for {
			if j >= len(d) || d[j] != '"' {
				return nil, ErrNotJSONObject
			}
			kEnd, kEsc, ok := scanString(d, j)
			if !ok {
				return nil, ErrNotJSONObject
			}
			key := d[j+1 : kEnd-1]
			if kEsc {
				key = unescape(nil, key)
			}
			j = skipWS(d, kEnd)
			if j >= len(d) || d[j] != ':' {
				return nil, ErrNotJSONObject
			}
			vStart := skipWS(d, j+1)
			if j, ok = skipValue(d, vStart, 1); !ok {
				return nil, ErrNotJSONObject
			}
			switch string(key) {
			case "meta":
				if metaStart < 0 {
					metaStart, metaEnd = vStart, j
				}
			case "id":
				insertAt = j
			case "resourceType":
				if insertAt == i+1 {
					insertAt = j
				}
			}
			j = skipWS(d, j)
			if j >= len(d) {
				return nil, ErrNotJSONObject
			}
			if d[j] == '}' {
				end = j + 1
				break
			}
			if d[j] != ',' {
				return nil, ErrNotJSONObject
			}
			j = skipWS(d, j+1)
		}
	}
	if end > len(d) || skipWS(d, end) != len(d) {
		return nil, ErrNotJSONObject
	}

	var ts [32]byte
	stamp := lastUpdated.UTC().AppendFormat(ts[:0], lastUpdatedLayout)
	out := make([]byte, 0, len(d)+len(versionID)+80)
	if metaStart < 0 {
		out = append(out, d[:insertAt]...)
		if !empty && insertAt == i+1 {
			// Inserted first, before the existing members.
			out = appendMetaObject(out, versionID, stamp)
			out = append(out, ',')
		} else {
			if !empty {
				out = append(out, ',')
			}
			out = appendMetaObject(out, versionID, stamp)
		}
		return append(out, d[insertAt:]...), nil
	}
	if d[metaStart] != '{' {
		return nil, ErrMetaNotObject
	}
	out = append(out, d[:metaStart]...)
	out = setMetaMembers(out, d[metaStart:metaEnd], versionID, stamp)
	return append(out, d[metaEnd:]...), nil
}

func appendMetaObject(b []byte, versionID string, stamp []byte) []byte {
	b = append(b, `"meta":{"versionId":`...)
	b = appendJSONString(b, versionID)
	b = append(b, `,"lastUpdated":"`...)
	b = append(b, stamp...)
	return append(b, `"}`...)
}

// setMetaMembers appends the meta object m (already validated) with
// versionId and lastUpdated replaced or inserted.
func setMetaMembers(b, m []byte, versionID string, stamp []byte) []byte {
	type span struct{ start, end int }
	var repl []span // value spans of versionId (kind 0) and lastUpdated (kind 1)
	var kinds []int
	hasVersion, hasUpdated := false, false
	j := skipWS(m, 1)
	if j < len(m) && m[j] != '}' {
		for j < len(m) {
			kEnd, kEsc, _ := scanString(m, j)
			key := m[j+1 : kEnd-1]
			if kEsc {
				key = unescape(nil, key)
			}
			vStart := skipWS(m, skipWS(m, kEnd)+1)
			vEnd, _ := skipValue(m, vStart, 1)
			switch string(key) {
			case "versionId":
				repl, kinds, hasVersion = append(repl, span{vStart, vEnd}), append(kinds, 0), true
			case "lastUpdated":
				repl, kinds, hasUpdated = append(repl, span{vStart, vEnd}), append(kinds, 1), true
			}
			j = skipWS(m, vEnd)
			if j >= len(m) || m[j] == '}' {
				break
			}
			j = skipWS(m, j+1)
		}
	}
	b = append(b, '{')
	inserted := false
	if !hasVersion {
		b = append(b, `"versionId":`...)
		b = appendJSONString(b, versionID)
		inserted = true
	}
	if !hasUpdated {
		if inserted {
			b = append(b, ',')
		}
		b = append(b, `"lastUpdated":"`...)
		b = append(b, stamp...)
		b = append(b, '"')
		inserted = true
	}
	rest := 1
	if inserted {
		if k := skipWS(m, 1); k < len(m) && m[k] != '}' {
			b = append(b, ',')
		}
	}
	for k, r := range repl {
		b = append(b, m[rest:r.start]...)
		if kinds[k] == 0 {
			b = appendJSONString(b, versionID)
		} else {
			b = append(b, '"')
			b = append(b, stamp...)
			b = append(b, '"')
		}
		rest = r.end
	}
	return append(b, m[rest:]...)
}
