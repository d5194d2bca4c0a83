package fhirapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// jval is a JSON value that keeps the member order of objects, so a patched resource keeps the
// shape it was stored with.
type jval struct {
	obj    []jmember // object members, when isObj
	arr    []*jval   // array items, when isArr
	scalar json.RawMessage
	isObj  bool
	isArr  bool
}

type jmember struct {
	key string
	val *jval
}

func parseJSON(b []byte) (*jval, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (*jval, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &jval{isObj: true}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				m, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				v.obj = append(v.obj, jmember{key: kt.(string), val: m})
			}
			_, err := dec.Token()
			return v, err
		case '[':
			v := &jval{isArr: true, arr: []*jval{}}
			for dec.More() {
				m, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, m)
			}
			_, err := dec.Token()
			return v, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return &jval{scalar: json.RawMessage(t.String())}, nil
	default:
		raw, err := json.Marshal(t)
		return &jval{scalar: raw}, err
	}
}

func (v *jval) marshal(b []byte) []byte {
	switch {
	case v.isObj:
		b = append(b, '{')
		for i, m := range v.obj {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, m.key)
			b = append(b, ':')
			b = m.val.marshal(b)
		}
		return append(b, '}')
	case v.isArr:
		b = append(b, '[')
		for i, m := range v.arr {
			if i > 0 {
				b = append(b, ',')
			}
			b = m.marshal(b)
		}
		return append(b, ']')
	}
	return append(b, v.scalar...)
}

func (v *jval) clone() *jval {
	return mustParse(v.marshal(nil))
}

func mustParse(b []byte) *jval {
	v, _ := parseJSON(b)
	return v
}

func (v *jval) equal(o *jval) bool {
	return bytes.Equal(canonical(v), canonical(o))
}

// canonical renders a value with object members sorted, for the "test" operation.
func canonical(v *jval) []byte {
	var x any
	json.Unmarshal(v.marshal(nil), &x)
	b, _ := json.Marshal(x)
	return b
}

func (v *jval) get(key string) (*jval, int) {
	for i, m := range v.obj {
		if m.key == key {
			return m.val, i
		}
	}
	return nil, -1
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string          `json:"op"`
	Path  *string         `json:"path"`
	From  *string         `json:"from"`
	Value json.RawMessage `json:"value"`
}

// applyPatch applies a JSON Patch document to a resource; problems with the document are 400s
// and a failed "test" is a 422.
func applyPatch(resource, patch []byte) ([]byte, error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, invalid("the body is not a JSON Patch array of operations")
	}
	doc, err := parseJSON(resource)
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, invalid("patch operation %d has no path", i)
		}
		var val *jval
		if op.Op == "add" || op.Op == "replace" || op.Op == "test" {
			if op.Value == nil {
				return nil, invalid("patch operation %d (%s) has no value", i, op.Op)
			}
			if val, err = parseJSON(op.Value); err != nil {
				return nil, invalid("patch operation %d has an invalid value", i)
			}
		}
		if (op.Op == "move" || op.Op == "copy") && op.From == nil {
			return nil, invalid("patch operation %d (%s) has no from", i, op.Op)
		}
		if doc, err = applyOp(doc, op, val); err != nil {
			return nil, fmt.Errorf("patch operation %d: %w", i, err)
		}
	}
	return doc.marshal(nil), nil
}

func applyOp(doc *jval, op patchOp, val *jval) (*jval, error) {
	path := *op.Path
	switch op.Op {
	case "add":
		return add(doc, path, val)
	case "remove":
		_, err := remove(doc, path)
		return doc, err
	case "replace":
		if _, err := lookup(doc, path); err != nil {
			return nil, err
		}
		if path == "" {
			return val, nil
		}
		if _, err := remove(doc, path); err != nil {
			return nil, err
		}
		return add(doc, path, val)
	case "move":
		if strings.HasPrefix(path, *op.From+"/") {
			return nil, invalid("cannot move %s into itself", *op.From)
		}
		v, err := remove(doc, *op.From)
		if err != nil {
			return nil, err
		}
		return add(doc, path, v)
	case "copy":
		v, err := lookup(doc, *op.From)
		if err != nil {
			return nil, err
		}
		return add(doc, path, v.clone())
	case "test":
		v, err := lookup(doc, path)
		if err != nil {
			return nil, err
		}
		if !v.equal(val) {
			return nil, fail(422, "processing", "test failed: the value at %s differs", path)
		}
		return doc, nil
	}
	return nil, invalid("unknown patch operation %q", op.Op)
}

// pointer splits a JSON Pointer into unescaped tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, invalid("%q is not a JSON Pointer", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func index(arr []*jval, tok string, allowEnd bool) (int, error) {
	if tok == "-" && allowEnd {
		return len(arr), nil
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 || (tok != "0" && tok[0] == '0') {
		return 0, invalid("%q is not an array index", tok)
	}
	limit := len(arr) - 1
	if allowEnd {
		limit = len(arr)
	}
	if n > limit {
		return 0, fail(422, "processing", "array index %d is out of range", n)
	}
	return n, nil
}

// parent resolves every token but the last.
func parent(doc *jval, path string) (*jval, string, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, "", err
	}
	if len(toks) == 0 {
		return nil, "", invalid("the path must not be the whole resource")
	}
	cur := doc
	for _, t := range toks[:len(toks)-1] {
		if cur, err = step(cur, t); err != nil {
			return nil, "", err
		}
	}
	return cur, toks[len(toks)-1], nil
}

func step(cur *jval, t string) (*jval, error) {
	switch {
	case cur.isObj:
		v, _ := cur.get(t)
		if v == nil {
			return nil, fail(422, "processing", "path member %q does not exist", t)
		}
		return v, nil
	case cur.isArr:
		i, err := index(cur.arr, t, false)
		if err != nil {
			return nil, err
		}
		return cur.arr[i], nil
	}
	return nil, fail(422, "processing", "path step %q goes into a primitive", t)
}

func lookup(doc *jval, path string) (*jval, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	cur := doc
	for _, t := range toks {
		if cur, err = step(cur, t); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

func add(doc *jval, path string, val *jval) (*jval, error) {
	if path == "" {
		return val, nil
	}
	p, last, err := parent(doc, path)
	if err != nil {
		return nil, err
	}
	switch {
	case p.isObj:
		if _, i := p.get(last); i >= 0 {
			p.obj[i].val = val
		} else {
			p.obj = append(p.obj, jmember{key: last, val: val})
		}
	case p.isArr:
		i, err := index(p.arr, last, true)
		if err != nil {
			return nil, err
		}
		p.arr = append(p.arr, nil)
		copy(p.arr[i+1:], p.arr[i:])
		p.arr[i] = val
	default:
		return nil, fail(422, "processing", "cannot add into a primitive at %s", path)
	}
	return doc, nil
}

func remove(doc *jval, path string) (*jval, error) {
	p, last, err := parent(doc, path)
	if err != nil {
		return nil, err
	}
	switch {
	case p.isObj:
		v, i := p.get(last)
		if i < 0 {
			return nil, fail(422, "processing", "%s does not exist", path)
		}
		p.obj = append(p.obj[:i], p.obj[i+1:]...)
		return v, nil
	case p.isArr:
		i, err := index(p.arr, last, false)
		if err != nil {
			return nil, err
		}
		v := p.arr[i]
		p.arr = append(p.arr[:i], p.arr[i+1:]...)
		return v, nil
	}
	return nil, fail(422, "processing", "%s does not exist", path)
}
