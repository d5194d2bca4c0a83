package fhirpath

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"
)

// Doc is a resource read for FHIRPath: a flat array of nodes over the JSON
// bytes, one node per FHIR element (array items are nodes of their own, a
// primitive and its _name object are one node), each with its model element
// and type. No typed model of the resource is built: values stay in the JSON
// and are read when an expression needs them.
//
// A Doc is reused across resources with Parse; strings it hands out (in
// Values and String) point into the parsed bytes and the Doc's buffers, so
// they are valid until the next Parse and while the bytes are unchanged.
type Doc struct {
	model *Model
	src   []byte
	buf   []byte // decoded strings that held escapes
	nodes []node
	// Building state.
	members []member
	stack   []openNode
	kids    []NodeID // scratch for the _name merge
}

// openNode is a node being built.
type openNode struct {
	id       NodeID
	last     NodeID // last child so far
	mStart   int    // first of its members in Doc.members
	hasUnder bool
}

// NodeID identifies a node of a Doc; the root resource is 0.
type NodeID int32

// NoNode is the absent node.
const NoNode NodeID = -1

type node struct {
	typ    *Type
	elem   *Element // nil for the root resource and for unknown elements
	vs, ve int32    // value bytes: in src, or in buf when flagEsc
	flags  uint8
	parent NodeID
	first  NodeID // first child
	next   NodeID // next sibling
	index  int32  // position in its JSON array, -1 when not in an array
	res    NodeID // the nearest resource at or above the node
}

const (
	flagValue  = 1 << iota // a primitive with a value
	flagEsc                // the value is in buf
	flagUnder              // a _name object not yet merged with its value
	flagString             // the JSON value is a string (else a number or literal)
	flagDead               // unlinked by a merge
	flagPlaced             // a valueless _name node being moved among its element's values
)

// Model returns the model the Doc was parsed with.
func (d *Doc) Model() *Model { return d.model }

// Len returns the number of nodes.
func (d *Doc) Len() int { return len(d.nodes) }

// Type returns the node's type (nil when unknown).
func (d *Doc) Type(n NodeID) *Type { return d.nodes[n].typ }

// Element returns the model element the node is a value of; nil for the root
// resource.
func (d *Doc) Element(n NodeID) *Element { return d.nodes[n].elem }

// Parent returns the node's parent, NoNode for the root.
func (d *Doc) Parent(n NodeID) NodeID { return d.nodes[n].parent }

// Name returns the node's FHIRPath name ("value" for valueQuantity).
func (d *Doc) Name(n NodeID) string { return d.nodes[n].name() }

// name is the node's FHIRPath name: its element's ("" for the root).
func (n *node) name() string {
	if n.elem == nil {
		return ""
	}
	return n.elem.Name
}

// Resource returns the nearest resource at or above the node.
func (d *Doc) Resource(n NodeID) NodeID { return d.nodes[n].res }

// RootResource returns the resource %rootResource names for the node: the
// resource that contains the node's resource when that is a contained
// resource, else the node's resource.
func (d *Doc) RootResource(n NodeID) NodeID {
	r := d.nodes[n].res
	for {
		p := d.nodes[r].parent
		if p == NoNode || d.nodes[r].name() != "contained" {
			return r
		}
		r = d.nodes[p].res
	}
}

// Live reports whether the node is part of the tree (nodes merged away by
// the _name handling are not).
func (d *Doc) Live(n NodeID) bool { return d.nodes[n].flags&flagDead == 0 }

// HasValue reports whether the node is a primitive with a value.
func (d *Doc) HasValue(n NodeID) bool { return d.nodes[n].flags&flagValue != 0 }

// String returns the value of a primitive node as written (decoded), "" when
// it has none.
func (d *Doc) String(n NodeID) string {
	nd := &d.nodes[n]
	if nd.flags&flagValue == 0 {
		return ""
	}
	b := d.src
	if nd.flags&flagEsc != 0 {
		b = d.buf
	}
	if nd.ve <= nd.vs {
		return ""
	}
	return unsafe.String(&b[nd.vs], int(nd.ve-nd.vs))
}

// Children calls fn for each child of n in order until fn returns false.
func (d *Doc) Children(n NodeID, fn func(NodeID) bool) {
	for c := d.nodes[n].first; c != NoNode; c = d.nodes[c].next {
		if !fn(c) {
			return
		}
	}
}

// Child returns the first child of n called name, or NoNode.
func (d *Doc) Child(n NodeID, name string) NodeID {
	for c := d.nodes[n].first; c != NoNode; c = d.nodes[c].next {
		if d.nodes[c].name() == name {
			return c
		}
	}
	return NoNode
}

// Path renders the location of n as a FHIRPath expression in the style of
// the HL7 validator: Observation.referenceRange[0].low, with the JSON name of
// choice elements (valueQuantity).
func (d *Doc) Path(n NodeID) string {
	if nd := &d.nodes[n]; nd.parent == NoNode && nd.index < 0 && nd.typ != nil {
		return nd.typ.Name
	}
	var steps []NodeID
	for c := n; c != NoNode; c = d.nodes[c].parent {
		steps = append(steps, c)
	}
	var sb strings.Builder
	for k := len(steps) - 1; k >= 0; k-- {
		nd := &d.nodes[steps[k]]
		if k < len(steps)-1 {
			sb.WriteByte('.')
			sb.WriteString(nd.name())
			if nd.elem != nil && nd.elem.Choice && nd.typ != nil {
				sb.WriteString(upperFirst(nd.typ.Name))
			}
		} else if nd.typ != nil {
			sb.WriteString(nd.typ.Name)
		}
		if nd.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(int(nd.index)))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// Building a Doc. Model.Parse builds one from JSON; a reader that walks the
// JSON itself (the validator) can build it as it goes, with Begin, then
// Open/Close around each object value and Value for each primitive, in
// document order, and End.

// Begin starts a Doc over src (reusing d's storage).
func (d *Doc) Begin(m *Model, src []byte) {
	d.model, d.src = m, src
	d.buf = d.buf[:0]
	clear(d.nodes) // drop pointers into the last input
	d.nodes = d.nodes[:0]
	d.members = d.members[:0]
	d.stack = d.stack[:0]
	if cap(d.buf) > 1<<20 {
		d.buf = nil
	}
	if cap(d.nodes) > 1<<16 {
		d.nodes = nil
	}
	if len(src) >= presizeFrom {
		// Size the nodes once: growing a slice of millions of nodes by
		// appending allocates five times its final size.
		if n := maxNodes(src); cap(d.nodes) < n {
			d.nodes = make([]node, 0, n)
		}
	}
}

// presizeFrom is the input size from which Begin counts the nodes a Doc can
// need before building it.
const presizeFrom = 64 << 10

// maxNodes bounds the nodes of a Doc over the JSON src: one per value that
// is not an array (the root, each member's value, each array item), counted
// as one for the root, one per member (':'), one per array ('[') and one per
// comma between array items.
func maxNodes(src []byte) int {
	n := 1
	var arrays []bool // per open container: whether it is an array
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '"':
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case ':':
			n++
		case '[':
			n++
			arrays = append(arrays, true)
		case '{':
			arrays = append(arrays, false)
		case ']', '}':
			if len(arrays) > 0 {
				arrays = arrays[:len(arrays)-1]
			}
		case ',':
			if len(arrays) > 0 && arrays[len(arrays)-1] {
				n++
			}
		}
	}
	return n
}

// Open starts the node of an object value of element e (nil for the root
// resource) with type t, at index in its JSON array (-1 when not in one).
// under marks the _name object of primitive e (t its type), whose members
// are the primitive's id and extensions.
func (d *Doc) Open(e *Element, t *Type, index int, under bool) {
	parent := NoNode
	name := ""
	if len(d.stack) > 0 {
		parent = d.stack[len(d.stack)-1].id
	}
	if e != nil {
		name = e.Name
	}
	id := d.add(parent, t, e, int32(index))
	if under {
		d.nodes[id].flags |= flagUnder
	}
	d.link(id, name, under)
	d.stack = append(d.stack, openNode{id: id, last: NoNode, mStart: len(d.members)})
}

// Close ends the node Open started.
func (d *Doc) Close() {
	top := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	if top.hasUnder {
		d.merge(top.id, d.members[top.mStart:])
	}
	d.members = d.members[:top.mStart]
}

// Value adds a primitive of element e with type t whose value is src[start:end]
// (a string's content without quotes, or a number or literal token).
func (d *Doc) Value(e *Element, t *Type, index int, start, end int, str bool) {
	id := d.value(e, t, index, str)
	d.nodes[id].vs, d.nodes[id].ve = int32(start), int32(end)
}

// DecodedValue adds a primitive string whose content held escapes, decoded.
func (d *Doc) DecodedValue(e *Element, t *Type, index int, text []byte) {
	id := d.value(e, t, index, true)
	start := len(d.buf)
	d.buf = append(d.buf, text...)
	nd := &d.nodes[id]
	nd.vs, nd.ve = int32(start), int32(len(d.buf))
	nd.flags |= flagEsc
}

func (d *Doc) value(e *Element, t *Type, index int, str bool) NodeID {
	parent := d.stack[len(d.stack)-1].id
	id := d.add(parent, t, e, int32(index))
	d.nodes[id].flags |= flagValue
	if str {
		d.nodes[id].flags |= flagString
	}
	d.link(id, e.Name, false)
	return id
}

// link makes id the last child of the open node, and records which member
// of the object it belongs to (for the _name merge).
func (d *Doc) link(id NodeID, name string, under bool) {
	if len(d.stack) == 0 {
		return
	}
	top := &d.stack[len(d.stack)-1]
	if top.last == NoNode {
		d.nodes[top.id].first = id
	} else {
		d.nodes[top.last].next = id
	}
	top.last = id
	top.hasUnder = top.hasUnder || under
	if k := len(d.members) - 1; k >= top.mStart && d.members[k].name == name && d.members[k].under == under {
		d.members[k].n++
		return
	}
	d.members = append(d.members, member{name: name, under: under, first: id, n: 1})
}

// End finishes the Doc; every Open must have been closed.
func (d *Doc) End() error {
	if len(d.stack) != 0 || len(d.nodes) == 0 {
		return errors.New("fhirpath: unbalanced Doc building")
	}
	return nil
}

func (d *Doc) add(parent NodeID, t *Type, e *Element, index int32) NodeID {
	id := NodeID(len(d.nodes))
	res := id
	if parent != NoNode {
		res = d.nodes[parent].res
	}
	if t != nil && t.Resource {
		res = id
	}
	d.nodes = append(d.nodes, node{typ: t, elem: e, parent: parent, first: NoNode, next: NoNode, index: index, res: res})
	return id
}
