package fhirpath

import (
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
	// scratch for Parse
	members []member
}

// NodeID identifies a node of a Doc; the root resource is 0.
type NodeID int32

// NoNode is the absent node.
const NoNode NodeID = -1

type node struct {
	name   string
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
func (d *Doc) Name(n NodeID) string { return d.nodes[n].name }

// Resource returns the nearest resource at or above the node.
func (d *Doc) Resource(n NodeID) NodeID { return d.nodes[n].res }

// RootResource returns the resource %rootResource names for the node: the
// resource that contains the node's resource when that is a contained
// resource, else the node's resource.
func (d *Doc) RootResource(n NodeID) NodeID {
	r := d.nodes[n].res
	for {
		p := d.nodes[r].parent
		if p == NoNode || d.nodes[r].name != "contained" {
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
		if d.nodes[c].name == name {
			return c
		}
	}
	return NoNode
}

// Path renders the location of n as a FHIRPath expression in the style of
// the HL7 validator: Observation.referenceRange[0].low, with the JSON name of
// choice elements (valueQuantity).
func (d *Doc) Path(n NodeID) string {
	var steps []NodeID
	for c := n; c != NoNode; c = d.nodes[c].parent {
		steps = append(steps, c)
	}
	var sb strings.Builder
	for k := len(steps) - 1; k >= 0; k-- {
		nd := &d.nodes[steps[k]]
		if k < len(steps)-1 {
			sb.WriteByte('.')
			sb.WriteString(nd.name)
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

// Builder use by Parse.

func (d *Doc) reset(m *Model, src []byte) {
	d.model, d.src = m, src
	d.buf = d.buf[:0]
	clear(d.nodes[:cap(d.nodes)]) // drop pointers into the last input
	d.nodes = d.nodes[:0]
	d.members = d.members[:0]
	if cap(d.buf) > 1<<20 {
		d.buf = nil
	}
}

func (d *Doc) add(parent NodeID, name string, t *Type, e *Element, index int32) NodeID {
	id := NodeID(len(d.nodes))
	res := id
	if parent != NoNode {
		res = d.nodes[parent].res
	}
	if t != nil && t.Resource {
		res = id
	}
	d.nodes = append(d.nodes, node{name: name, typ: t, elem: e, parent: parent, first: NoNode, next: NoNode, index: index, res: res})
	return id
}
