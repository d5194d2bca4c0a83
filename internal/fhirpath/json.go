package fhirpath

import (
	"errors"
	"github.com/fhirlake/fhirlake/internal/jsonscan"
)

var errSyntax = errors.New("fhirpath: the resource is not well-formed JSON")

// member is one member of an object being built, for the _name merge: its
// nodes (one, or the items of an array) are consecutive siblings.
type member struct {
	name  string
	under bool
	first NodeID
	n     int32
}

// Parse reads the resource JSON data into d (reusing its storage) with m's
// types. Members the model does not know are left out, as are values of the
// wrong JSON kind; malformed JSON is an error. The root must be an object;
// its resourceType names its type (a type the model does not know gives an
// untyped root without children).
func (m *Model) Parse(d *Doc, data []byte) error {
	d.Begin(m, data)
	p := reader{d: d, s: data}
	i := p.ws(0)
	if i >= len(data) || data[i] != '{' {
		return errSyntax
	}
	t := p.resourceType(i)
	d.Open(nil, t, -1, false)
	end, ok := p.object(i, t, 1)
	if !ok || p.ws(end) != len(data) {
		return errSyntax
	}
	d.Close()
	return d.End()
}

type reader struct {
	d       *Doc
	s       []byte
	scratch []byte
}

func (p *reader) ws(i int) int {
	for i < len(p.s) {
		switch p.s[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

// resourceType finds the resourceType member of the object at s[i] and
// returns the model's resource type of that name, or nil.
func (p *reader) resourceType(i int) *Type {
	s := p.s
	i = p.ws(i + 1)
	for i < len(s) && s[i] == '"' {
		kEnd, esc, ok := jsonscan.String(s, i)
		if !ok {
			return nil
		}
		key := s[i+1 : kEnd-1]
		i = p.ws(kEnd)
		if i >= len(s) || s[i] != ':' {
			return nil
		}
		i = p.ws(i + 1)
		if !esc && string(key) == "resourceType" {
			if i < len(s) && s[i] == '"' {
				vEnd, vEsc, ok := jsonscan.String(s, i)
				if !ok || vEsc {
					return nil
				}
				if t := p.d.model.types[string(s[i+1:vEnd-1])]; t != nil && t.Resource {
					return t
				}
			}
			return nil
		}
		end, ok := jsonscan.Skip(s, i, 1)
		if !ok {
			return nil
		}
		i = p.ws(end)
		if i >= len(s) || s[i] != ',' {
			return nil
		}
		i = p.ws(i + 1)
	}
	return nil
}

// object reads the members of the object at s[i], of type t (nil: skip them
// all), into the open node, and returns the offset after it.
func (p *reader) object(i int, t *Type, depth int) (int, bool) {
	s := p.s
	if depth > jsonscan.MaxDepth {
		return i, false
	}
	i = p.ws(i + 1)
	if i < len(s) && s[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return i, false
		}
		kEnd, esc, ok := jsonscan.String(s, i)
		if !ok {
			return i, false
		}
		key := s[i+1 : kEnd-1]
		if esc {
			key = jsonscan.Unescape(nil, key)
		}
		i = p.ws(kEnd)
		if i >= len(s) || s[i] != ':' {
			return i, false
		}
		i = p.ws(i + 1)
		var k jsonKey
		known := false
		if t != nil {
			k, known = t.keys[string(key)]
		}
		switch {
		case !known:
			if i, ok = jsonscan.Skip(s, i, depth); !ok {
				return i, false
			}
		case i < len(s) && s[i] == '[':
			i = p.ws(i + 1)
			for idx := 0; i < len(s) && s[i] != ']'; idx++ {
				if i, ok = p.value(i, k, idx, depth+1); !ok {
					return i, false
				}
				i = p.ws(i)
				if i < len(s) && s[i] == ',' {
					i = p.ws(i + 1)
				} else if i >= len(s) || s[i] != ']' {
					return i, false
				}
			}
			if i >= len(s) {
				return i, false
			}
			i++
		default:
			if i, ok = p.value(i, k, -1, depth); !ok {
				return i, false
			}
		}
		i = p.ws(i)
		if i >= len(s) {
			return i, false
		}
		if s[i] == '}' {
			return i + 1, true
		}
		if s[i] != ',' {
			return i, false
		}
		i = p.ws(i + 1)
	}
}

// value reads one value of the member k at s[i] (not an array) into the open
// node; null and values of the wrong kind make no node.
func (p *reader) value(i int, k jsonKey, idx int, depth int) (int, bool) {
	s, d := p.s, p.d
	if i >= len(s) {
		return i, false
	}
	c := s[i]
	if k.under || k.typ.Kind == KindNone {
		if c != '{' {
			return jsonscan.Skip(s, i, depth)
		}
		t := k.typ
		walk := t
		switch {
		case k.under:
			walk = d.model.element
		case t == d.model.resource:
			t = p.resourceType(i)
			walk = t
		}
		d.Open(k.elem, t, idx, k.under)
		end, ok := p.object(i, walk, depth+1)
		if ok {
			d.Close()
		}
		return end, ok
	}
	switch {
	case c == '"':
		end, esc, ok := jsonscan.String(s, i)
		if !ok {
			return end, false
		}
		if esc {
			d.DecodedValue(k.elem, k.typ, idx, jsonscan.Unescape(p.scratch[:0], s[i+1:end-1]))
		} else {
			d.Value(k.elem, k.typ, idx, i+1, end-1, true)
		}
		return end, true
	case c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		end, ok := jsonscan.Skip(s, i, depth)
		if ok {
			d.Value(k.elem, k.typ, idx, i, end, false)
		}
		return end, ok
	}
	return jsonscan.Skip(s, i, depth)
}

// merge joins each _name node of object n with the value node of the same
// name and index: the value node takes its children (id, extension) and the
// _name node leaves the tree. A _name node without a value stays, as a
// primitive without a value, in its place among the values by index
// (given: ["a", null], _given: [null, {...}] is a, then the valueless one).
func (d *Doc) merge(n NodeID, members []member) {
	var byName map[string]int
	if len(members) > 32 {
		byName = make(map[string]int, len(members))
		for k := len(members) - 1; k >= 0; k-- {
			if !members[k].under {
				byName[members[k].name] = k
			}
		}
	}
	relink := false
	// placed[first node of a value member] = its valueless _name nodes.
	var placed map[NodeID][]NodeID
	for _, u := range members {
		if !u.under {
			continue
		}
		vk := -1
		if byName != nil {
			if k, ok := byName[u.name]; ok {
				vk = k
			}
		} else {
			for k, v := range members {
				if !v.under && v.name == u.name {
					vk = k
					break
				}
			}
		}
		vc, vn := NoNode, int32(0)
		if vk >= 0 {
			vc, vn = members[vk].first, members[vk].n
		}
		uc := u.first
		for j := int32(0); j < u.n; j++ {
			un := &d.nodes[uc]
			next := un.next
			for vn > 0 && d.nodes[vc].index < un.index {
				vc, vn = d.nodes[vc].next, vn-1
			}
			un.flags &^= flagUnder
			relink = true
			if vn > 0 && d.nodes[vc].index == un.index && d.nodes[vc].first == NoNode {
				vnode := &d.nodes[vc]
				vnode.first = un.first
				for ch := un.first; ch != NoNode; ch = d.nodes[ch].next {
					d.nodes[ch].parent = vc
				}
				un.first = NoNode
				un.flags |= flagDead
			} else if vk >= 0 {
				if placed == nil {
					placed = map[NodeID][]NodeID{}
				}
				first := members[vk].first
				placed[first] = append(placed[first], uc)
				un.flags |= flagPlaced
			}
			uc = next
		}
	}
	if !relink {
		return
	}
	// Relink the children: merged _name nodes leave, valueless ones move
	// among the values of their element, by index.
	kids := d.kids[:0]
	for c := d.nodes[n].first; c != NoNode; c = d.nodes[c].next {
		kids = append(kids, c)
	}
	d.kids = kids
	last := NoNode
	emit := func(c NodeID) {
		if last == NoNode {
			d.nodes[n].first = c
		} else {
			d.nodes[last].next = c
		}
		last = c
	}
	for i := 0; i < len(kids); {
		c := kids[i]
		if d.nodes[c].flags&(flagDead|flagPlaced) != 0 {
			i++
			continue
		}
		extra, ok := placed[c]
		if !ok {
			emit(c)
			i++
			continue
		}
		// The value nodes of this element are consecutive siblings from c:
		// merge them with the valueless ones by index.
		name, k := d.nodes[c].name(), 0
		for ; i < len(kids) && d.nodes[kids[i]].name() == name && d.nodes[kids[i]].flags&(flagDead|flagPlaced) == 0; i++ {
			for k < len(extra) && d.nodes[extra[k]].index < d.nodes[kids[i]].index {
				emit(extra[k])
				k++
			}
			emit(kids[i])
		}
		for ; k < len(extra); k++ {
			emit(extra[k])
		}
	}
	if last == NoNode {
		d.nodes[n].first = NoNode
	} else {
		d.nodes[last].next = NoNode
	}
	for _, c := range kids {
		d.nodes[c].flags &^= flagPlaced
	}
}
