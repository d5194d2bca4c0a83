package fhir

import (
	"errors"
	"github.com/fhirlake/fhirlake/internal/jsonscan"
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
	sp, err := locateMeta(resource)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(resource)+len(versionID)+80)
	out = append(out, resource[:sp.headEnd]...)
	out = sp.appendMeta(out, resource, versionID, lastUpdated)
	return append(out, resource[sp.tailStart:]...), nil
}

// SpliceMeta is SetMeta without the copy: the result is head, meta and tail written one after
// the other, where head and tail are slices of resource and meta holds the new bytes (the meta
// object, or the member inserted with its comma).
func SpliceMeta(resource []byte, versionID string, lastUpdated time.Time) (head, meta, tail []byte, err error) {
	sp, err := locateMeta(resource)
	if err != nil {
		return nil, nil, nil, err
	}
	meta = sp.appendMeta(make([]byte, 0, sp.tailStart-sp.headEnd+len(versionID)+80), resource, versionID, lastUpdated)
	return resource[:sp.headEnd], meta, resource[sp.tailStart:], nil
}

// metaSplice says where the new meta goes: it replaces resource[headEnd:tailStart], which is the
// existing meta object when there is one, else empty.
type metaSplice struct {
	headEnd, tailStart int
	existing           bool // resource[headEnd:tailStart] is the meta object to rewrite
	first, empty       bool // a new meta goes first among members / into an empty object
}

func locateMeta(d []byte) (metaSplice, error) {
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
		return metaSplice{}, err
	}
	if metaStart >= 0 {
		if d[metaStart] != '{' {
			return metaSplice{}, ErrMetaNotObject
		}
		return metaSplice{headEnd: metaStart, tailStart: metaEnd, existing: true}, nil
	}
	sp := metaSplice{empty: d[jsonscan.SkipWS(d, open+1)] == '}'}
	if insertAt < 0 {
		insertAt, sp.first = open+1, true
	}
	sp.headEnd, sp.tailStart = insertAt, insertAt
	return sp, nil
}

// appendMeta appends what replaces resource[headEnd:tailStart].
func (sp metaSplice) appendMeta(b, d []byte, versionID string, lastUpdated time.Time) []byte {
	var ts [32]byte
	stamp := lastUpdated.UTC().AppendFormat(ts[:0], lastUpdatedLayout)
	switch {
	case sp.existing:
		return setMetaMembers(b, d[sp.headEnd:sp.tailStart], versionID, stamp)
	case sp.empty:
		return appendMetaObject(b, versionID, stamp)
	case sp.first:
		// Inserted first, before the existing members.
		return append(appendMetaObject(b, versionID, stamp), ',')
	}
	return appendMetaObject(append(b, ','), versionID, stamp)
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
	j := jsonscan.SkipWS(m, 1)
	if j < len(m) && m[j] != '}' {
		for j < len(m) {
			kEnd, kEsc, _ := jsonscan.String(m, j)
			key := m[j+1 : kEnd-1]
			if kEsc {
				key = jsonscan.Unescape(nil, key)
			}
			vStart := jsonscan.SkipWS(m, jsonscan.SkipWS(m, kEnd)+1)
			vEnd, _ := jsonscan.Skip(m, vStart, 1)
			switch string(key) {
			case "versionId":
				repl, kinds, hasVersion = append(repl, span{vStart, vEnd}), append(kinds, 0), true
			case "lastUpdated":
				repl, kinds, hasUpdated = append(repl, span{vStart, vEnd}), append(kinds, 1), true
			}
			j = jsonscan.SkipWS(m, vEnd)
			if j >= len(m) || m[j] == '}' {
				break
			}
			j = jsonscan.SkipWS(m, j+1)
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
		if k := jsonscan.SkipWS(m, 1); k < len(m) && m[k] != '}' {
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
