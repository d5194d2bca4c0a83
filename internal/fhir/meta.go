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
	head, meta, tail, err := SpliceMeta(resource, versionID, lastUpdated)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+len(meta)+len(tail))
	return append(append(append(out, head...), meta...), tail...), nil
}

// SpliceMeta is SetMeta without the copy: the result is head, meta and tail written one after
// the other, where head and tail are slices of resource and meta holds the new bytes (the meta
// object, or the member inserted with its comma).
func SpliceMeta(resource []byte, versionID string, lastUpdated time.Time) (head, meta, tail []byte, err error) {
	d := resource
	metaStart, metaEnd, insertAt := -1, -1, -1
	open, _, err := members(d, func(key []byte, _, vStart, vEnd int) {
		switch string(key) {
		case "meta":
			if metaStart < 0 {
				metaStart, metaEnd = vStart, vEnd
			}
		case "id":
			insertAt = vEnd
		case "resourceType":
			if insertAt < 0 {
				insertAt = vEnd
			}
		}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var ts [32]byte
	stamp := lastUpdated.UTC().AppendFormat(ts[:0], lastUpdatedLayout)
	if metaStart < 0 {
		empty := d[skipWS(d, open+1)] == '}'
		if insertAt < 0 {
			insertAt = open + 1
		}
		meta = make([]byte, 0, len(versionID)+80)
		switch {
		case empty:
			meta = appendMetaObject(meta, versionID, stamp)
		case insertAt == open+1:
			// Inserted first, before the existing members.
			meta = append(appendMetaObject(meta, versionID, stamp), ',')
		default:
			meta = appendMetaObject(append(meta, ','), versionID, stamp)
		}
		return d[:insertAt], meta, d[insertAt:], nil
	}
	if d[metaStart] != '{' {
		return nil, nil, nil, ErrMetaNotObject
	}
	meta = setMetaMembers(make([]byte, 0, metaEnd-metaStart+len(versionID)+64), d[metaStart:metaEnd], versionID, stamp)
	return d[:metaStart], meta, d[metaEnd:], nil
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
