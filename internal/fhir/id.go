package fhir

// SetID returns a copy of the resource JSON object with its top-level id set to id: the value of
// an existing id member is replaced where it is (the first one, when there are several); a
// missing id is inserted after resourceType (or first). Every other byte is kept as it was. The
// scan is byte-level over the top level; values are checked for well-formed JSON but not decoded.
func SetID(resource []byte, id string) ([]byte, error) {
	d := resource
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, ErrNotJSONObject
	}
	idStart, idEnd, insertAt := -1, -1, i+1
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
			case "id":
				if idStart < 0 {
					idStart, idEnd = vStart, j
				}
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
	out := make([]byte, 0, len(d)+len(id)+8)
	if idStart >= 0 {
		out = append(out, d[:idStart]...)
		out = appendJSONString(out, id)
		return append(out, d[idEnd:]...), nil
	}
	out = append(out, d[:insertAt]...)
	switch {
	case empty:
		out = append(out, `"id":`...)
		out = appendJSONString(out, id)
	case insertAt == i+1:
		out = append(out, `"id":`...)
		out = appendJSONString(out, id)
		out = append(out, ',')
	default:
		out = append(out, `,"id":`...)
		out = appendJSONString(out, id)
	}
	return append(out, d[insertAt:]...), nil
}
