package fhirapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// jval is a JSON value that keeps the member order of objects, so a patched resource keeps the
// shape it was stored with. Scalars are slices of the bytes they were parsed from (the stored
// resource or the patch document), never copied, so a copied subtree costs its nodes only.
type jval struct {
	raw  []byte    // a scalar's JSON text; nil for a container
	kids []jmember // object members or array items (key unused)
	kind byte      // '{', '[' or 0 for a scalar
}

type jmember struct {
	key string // decoded member name
	esc bool   // the name needs escaping when written
	val *jval
}

// maxDepth bounds the nesting the parser follows (encoding/json, which checked the patch
// document, allows 10000).
const maxDepth = 10000

var errBadJSON = errors.New("fhirapi: malformed JSON")

// parseJSON parses one JSON value that has already been checked (a stored resource, or a value
// of a patch document that encoding/json decoded); it fails cleanly on anything else.
func parseJSON(b []byte) (*jval, error) {
	p := jparser{d: b}
	p.ws()
	v := p.value(0)
	p.ws()
	if p.err != nil || p.i != len(p.d) {
		return nil, errBadJSON
	}
	return v, nil
}

type jparser struct {
	d   []byte
	i   int
	err error
}

func (p *jparser) ws() {
	for p.i < len(p.d) && (p.d[p.i] == ' ' || p.d[p.i] == '\t' || p.d[p.i] == '\n' || p.d[p.i] == '\r') {
		p.i++
	}
}

func (p *jparser) fail() *jval {
	p.err = errBadJSON
	p.i = len(p.d)
	return nil
}

func (p *jparser) value(depth int) *jval {
	if p.err != nil || p.i >= len(p.d) || depth > maxDepth {
		return p.fail()
	}
	switch p.d[p.i] {
	case '{', '[':
		return p.container(depth)
	case '"':
		start := p.i
		if !p.str() {
			return p.fail()
		}
		return &jval{raw: p.d[start:p.i]}
	}
	start := p.i
	for p.i < len(p.d) && !strings.ContainsRune(" \t\r\n,]}:", rune(p.d[p.i])) {
		p.i++
	}
	raw := p.d[start:p.i]
	if len(raw) == 0 || !json.Valid(raw) {
		return p.fail()
	}
	return &jval{raw: raw}
}

// str moves past a string starting at p.i.
func (p *jparser) str() bool {
	for p.i++; p.i < len(p.d); p.i++ {
		switch p.d[p.i] {
		case '\\':
			p.i++
		case '"':
			p.i++
			return true
		}
	}
	return false
}

func (p *jparser) container(depth int) *jval {
	v := &jval{kind: p.d[p.i]}
	end := byte(']')
	if v.kind == '{' {
		end = '}'
	}
	p.i++
	p.ws()
	if p.i < len(p.d) && p.d[p.i] == end {
		p.i++
		return v
	}
	for p.err == nil {
		var m jmember
		if v.kind == '{' {
			if p.i >= len(p.d) || p.d[p.i] != '"' {
				return p.fail()
			}
			start := p.i
			if !p.str() {
				return p.fail()
			}
			raw := p.d[start:p.i]
			if bytes.IndexByte(raw, '\\') < 0 {
				m.key = string(raw[1 : len(raw)-1])
			} else if json.Unmarshal(raw, &m.key) != nil {
				return p.fail()
			}
			m.esc = needsEscape(m.key)
			p.ws()
			if p.i >= len(p.d) || p.d[p.i] != ':' {
				return p.fail()
			}
			p.i++
			p.ws()
		}
		if m.val = p.value(depth + 1); m.val == nil {
			return p.fail()
		}
		v.kids = append(v.kids, m)
		p.ws()
		if p.i >= len(p.d) {
			return p.fail()
		}
		switch p.d[p.i] {
		case ',':
			p.i++
			p.ws()
		case end:
			p.i++
			return v
		default:
			return p.fail()
		}
	}
	return p.fail()
}

// needsEscape reports whether a member name is written differently from `"` + name + `"`.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			return true
		}
	}
	return false
}

// keySize is the number of bytes a member name takes when written, quotes included.
func keySize(m *jmember) int64 {
	if !m.esc {
		return int64(len(m.key)) + 2
	}
	return int64(len(appendJSON(nil, m.key)))
}

// size is the number of bytes marshal writes for v.
func (v *jval) size() int64 {
	if v.kind == 0 {
		return int64(len(v.raw))
	}
	n := int64(2)
	for i := range v.kids {
		if i > 0 {
			n++
		}
		if v.kind == '{' {
			n += keySize(&v.kids[i]) + 1
		}
		n += v.kids[i].val.size()
	}
	return n
}

func (v *jval) marshal(b []byte) []byte {
	if v.kind == 0 {
		return append(b, v.raw...)
	}
	b = append(b, v.kind)
	for i := range v.kids {
		if i > 0 {
			b = append(b, ',')
		}
		if m := &v.kids[i]; v.kind == '{' {
			if m.esc {
				b = appendJSON(b, m.key)
			} else {
				b = append(b, '"')
				b = append(b, m.key...)
				b = append(b, '"')
			}
			b = append(b, ':')
		}
		b = v.kids[i].val.marshal(b)
	}
	if v.kind == '{' {
		return append(b, '}')
	}
	return append(b, ']')
}

// clone copies the containers of v; scalars share their (immutable) bytes.
func (v *jval) clone() *jval {
	if v.kind == 0 {
		return v
	}
	c := &jval{kind: v.kind, kids: make([]jmember, len(v.kids))}
	for i, m := range v.kids {
		c.kids[i] = jmember{key: m.key, esc: m.esc, val: m.val.clone()}
	}
	return c
}

// equal compares two values as JSON: objects by member set, numbers by value.
func (v *jval) equal(o *jval) bool {
	if v.kind != o.kind || len(v.kids) != len(o.kids) {
		return false
	}
	switch v.kind {
	case 0:
		var a, b any
		if json.Unmarshal(v.raw, &a) != nil || json.Unmarshal(o.raw, &b) != nil {
			return false
		}
		return a == b
	case '[':
		for i := range v.kids {
			if !v.kids[i].val.equal(o.kids[i].val) {
				return false
			}
		}
		return true
	}
	other := make(map[string]*jval, len(o.kids))
	for _, m := range o.kids {
		other[m.key] = m.val
	}
	if len(other) != len(o.kids) {
		return false // repeated member names: not comparable as a set
	}
	for _, m := range v.kids {
		w, ok := other[m.key]
		if !ok || !m.val.equal(w) {
			return false
		}
	}
	return true
}

// get returns the value and index of an object member, or nil and -1.
func (v *jval) get(key string) (*jval, int) {
	for i := range v.kids {
		if v.kids[i].key == key {
			return v.kids[i].val, i
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

// patcher applies one JSON Patch document within bounds: the resource never grows past limit
// bytes (as written), its growth is reserved in the shared budget, and the bytes the operations
// copy and compare stay under a work bound, so that a small document cannot make the server
// build or scan a huge one.
type patcher struct {
	doc      *jval
	size     int64 // bytes doc.marshal writes
	limit    int64
	work     int64 // bytes copied and compared so far
	budget   Budget
	reserved int64
}

// workFactor bounds the bytes a patch may copy and compare to this many times the resource limit.
const workFactor = 16

// applyPatch applies a JSON Patch document to a resource of at most limit bytes, reserving the
// resource it builds in budget (when not nil) until release is called; problems with the
// document are 400s, a failed "test" is a 422, a result over the limit is a 422 too-costly, and
// a full budget a 429. On error nothing stays reserved and release is nil.
func applyPatch(resource, patch []byte, limit int64, budget Budget) (out []byte, release func(), err error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, nil, invalid("the body is not a JSON Patch array of operations")
	}
	doc, err := parseJSON(resource)
	if err != nil {
		return nil, nil, err
	}
	p := &patcher{doc: doc, size: doc.size(), limit: limit, budget: budget}
	if out, err = p.run(ops); err != nil {
		p.release()
		return nil, nil, err
	}
	return out, p.release, nil
}

func (p *patcher) run(ops []patchOp) ([]byte, error) {
	if err := p.reserve(); err != nil {
		return nil, err
	}
	var err error
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
		if err := p.apply(op, val); err != nil {
			return nil, fmt.Errorf("patch operation %d: %w", i, err)
		}
		if p.size > p.limit {
			return nil, p.tooLarge()
		}
		if err := p.reserve(); err != nil {
			return nil, err
		}
	}
	return p.doc.marshal(make([]byte, 0, p.size)), nil
}

func (p *patcher) tooLarge() error {
	return fail("too-costly", "the patched resource would be larger than %d bytes", p.limit)
}

// spend counts n bytes of work and fails when the patch has done too much.
func (p *patcher) spend(n int64) error {
	if p.work += n; p.work > workFactor*p.limit {
		return fail("too-costly", "the patch copies or compares more than %d bytes", workFactor*p.limit)
	}
	return nil
}

// reserve keeps the budget reservation at least the resource's size, growing it by half again
// so that a growing resource does not reserve at every operation.
func (p *patcher) reserve() error {
	if p.budget == nil || p.size <= p.reserved {
		return nil
	}
	n := max(p.size-p.reserved, p.reserved/2, 64<<10)
	if !p.budget.Reserve(n) {
		return fail("throttled", "too many request bodies are in flight; retry later")
	}
	p.reserved += n
	return nil
}

func (p *patcher) release() {
	if p.budget != nil && p.reserved > 0 {
		p.budget.Release(p.reserved)
	}
	p.reserved = 0
}

func (p *patcher) apply(op patchOp, val *jval) error {
	path := *op.Path
	switch op.Op {
	case "add":
		return p.add(path, val)
	case "remove":
		_, err := p.remove(path)
		return err
	case "replace":
		if _, err := lookup(p.doc, path); err != nil {
			return err
		}
		if path == "" {
			p.doc, p.size = val, val.size()
			return nil
		}
		if _, err := p.remove(path); err != nil {
			return err
		}
		return p.add(path, val)
	case "move":
		if strings.HasPrefix(path, *op.From+"/") {
			return invalid("cannot move %s into itself", *op.From)
		}
		v, err := p.remove(*op.From)
		if err != nil {
			return err
		}
		return p.add(path, v)
	case "copy":
		v, err := lookup(p.doc, *op.From)
		if err != nil {
			return err
		}
		// Check the bound before building the copy.
		n := v.size()
		if p.size+n > p.limit {
			return p.tooLarge()
		}
		if err := p.spend(n); err != nil {
			return err
		}
		return p.add(path, v.clone())
	case "test":
		v, err := lookup(p.doc, path)
		if err != nil {
			return err
		}
		if err := p.spend(val.size()); err != nil {
			return err
		}
		if !v.equal(val) {
			return fail("processing", "test failed: the value at %s differs", path)
		}
		return nil
	}
	return invalid("unknown patch operation %q", op.Op)
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

func index(n int, tok string, allowEnd bool) (int, error) {
	if tok == "-" && allowEnd {
		return n, nil
	}
	i, err := strconv.Atoi(tok)
	if err != nil || strings.Trim(tok, "0123456789") != "" || (tok != "0" && tok[0] == '0') {
		return 0, invalid("%q is not an array index", tok)
	}
	limit := n - 1
	if allowEnd {
		limit = n
	}
	if i > limit {
		return 0, fail("processing", "array index %d is out of range", i)
	}
	return i, nil
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
	switch cur.kind {
	case '{':
		v, _ := cur.get(t)
		if v == nil {
			return nil, fail("processing", "path member %q does not exist", t)
		}
		return v, nil
	case '[':
		i, err := index(len(cur.kids), t, false)
		if err != nil {
			return nil, err
		}
		return cur.kids[i].val, nil
	}
	return nil, fail("processing", "path step %q goes into a primitive", t)
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

// add puts val at path and keeps size exact.
func (p *patcher) add(path string, val *jval) error {
	if path == "" {
		p.doc, p.size = val, val.size()
		return nil
	}
	par, last, err := parent(p.doc, path)
	if err != nil {
		return err
	}
	n := val.size()
	switch par.kind {
	case '{':
		if old, i := par.get(last); i >= 0 {
			p.size += n - old.size()
			par.kids[i].val = val
			return nil
		}
		m := jmember{key: last, esc: needsEscape(last), val: val}
		p.size += keySize(&m) + 1 + n
		if len(par.kids) > 0 {
			p.size++
		}
		par.kids = append(par.kids, m)
	case '[':
		i, err := index(len(par.kids), last, true)
		if err != nil {
			return err
		}
		p.size += n
		if len(par.kids) > 0 {
			p.size++
		}
		par.kids = append(par.kids, jmember{})
		copy(par.kids[i+1:], par.kids[i:])
		par.kids[i] = jmember{val: val}
	default:
		return fail("processing", "cannot add into a primitive at %s", path)
	}
	return nil
}

// remove takes the value at path out and keeps size exact.
func (p *patcher) remove(path string) (*jval, error) {
	par, last, err := parent(p.doc, path)
	if err != nil {
		return nil, err
	}
	var i int
	switch par.kind {
	case '{':
		if _, i = par.get(last); i < 0 {
			return nil, fail("processing", "%s does not exist", path)
		}
		p.size -= keySize(&par.kids[i]) + 1
	case '[':
		if i, err = index(len(par.kids), last, false); err != nil {
			return nil, err
		}
	default:
		return nil, fail("processing", "%s does not exist", path)
	}
	v := par.kids[i].val
	p.size -= v.size()
	if len(par.kids) > 1 {
		p.size--
	}
	par.kids = append(par.kids[:i], par.kids[i+1:]...)
	return v, nil
}
