package fhirpath

import (
	"fmt"
	"strings"
)

// Kind is the System type of a value: the type of a literal, or the type that
// the value of a FHIR primitive is read as (a FHIR code is a System.String).
type Kind uint8

// The System kinds. KindNone marks values that are not System values: nodes
// of complex types, backbone elements and resources.
const (
	KindNone Kind = iota
	KindBoolean
	KindString
	KindInteger
	KindDecimal
	KindDate
	KindDateTime
	KindTime
	KindQuantity
)

var kindNames = [...]string{"", "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Type is a type of the data model: a FHIR primitive, complex type, backbone
// element or resource. The model's maker fills the exported fields and hands
// the types to NewModel, which indexes them; after that a Type is never
// changed.
type Type struct {
	// Name is the FHIR type name ("Patient", "HumanName", "code"); for a
	// backbone element it is the element's path ("Observation.component").
	Name string
	// Base is the type this one derives from (code → string, Age → Quantity,
	// Patient → DomainResource), nil at the top of the hierarchy.
	Base *Type
	// Kind is the System kind that values of a FHIR primitive are read as;
	// KindNone for every other type.
	Kind Kind
	// Resource marks resource types; Backbone marks backbone elements.
	Resource, Backbone bool
	// Elements are the type's elements in definition order.
	Elements []*Element

	byName map[string]*Element
	keys   map[string]jsonKey
}

// Element is one element of a type.
type Element struct {
	// Name is the FHIRPath name: a choice element value[x] is "value".
	Name string
	// Path is the element's path in its definition ("Observation.value[x]").
	Path string
	// Types are the element's types; several for a choice element. A
	// resource-valued element (contained, Bundle.entry.resource) has the
	// model's Resource type and gets its real type from resourceType.
	Types []*Type
	// Many is true when the maximum cardinality is not 1.
	Many bool
	// Choice marks a choice element ([x]).
	Choice bool
	// ID numbers the elements of a model from 0, for side tables.
	ID int
}

// jsonKey is what a JSON member name of an object of some type stands for.
type jsonKey struct {
	elem  *Element
	typ   *Type
	under bool // the _name form: the id and extensions of a primitive
}

// Model is an indexed set of types. It is immutable and safe for concurrent
// use.
type Model struct {
	types    map[string]*Type
	elements []*Element
	// The types the engine needs by name.
	resource, element, backbone, extension, quantity *Type
}

// NewModel indexes types. Every type an element refers to must be in types;
// the model needs Resource, Element, BackboneElement, Extension and Quantity.
func NewModel(types []*Type) (*Model, error) {
	m := &Model{types: make(map[string]*Type, len(types))}
	for _, t := range types {
		if _, dup := m.types[t.Name]; dup {
			return nil, fmt.Errorf("fhirpath: type %s defined twice", t.Name)
		}
		m.types[t.Name] = t
	}
	for _, t := range types {
		t.byName = make(map[string]*Element, len(t.Elements))
		t.keys = make(map[string]jsonKey, len(t.Elements)*2)
		for _, e := range t.Elements {
			e.ID = len(m.elements)
			m.elements = append(m.elements, e)
			t.byName[e.Name] = e
			for _, et := range e.Types {
				if m.types[et.Name] != et {
					return nil, fmt.Errorf("fhirpath: %s: type %s is not in the model", e.Path, et.Name)
				}
				key := e.Name
				if e.Choice {
					key += upperFirst(et.Name)
				}
				t.keys[key] = jsonKey{elem: e, typ: et}
				if et.Kind != KindNone {
					t.keys["_"+key] = jsonKey{elem: e, typ: et, under: true}
				}
			}
		}
	}
	for name, dst := range map[string]**Type{
		"Resource": &m.resource, "Element": &m.element, "BackboneElement": &m.backbone,
		"Extension": &m.extension, "Quantity": &m.quantity,
	} {
		if *dst = m.types[name]; *dst == nil {
			return nil, fmt.Errorf("fhirpath: the model has no type %s", name)
		}
	}
	return m, nil
}

// Type returns the FHIR type called name, or nil.
func (m *Model) Type(name string) *Type { return m.types[name] }

// Elements returns every element of the model, indexed by Element.ID.
func (m *Model) Elements() []*Element { return m.elements }

// Element returns the element of t called name (the FHIRPath name), or nil.
func (t *Type) Element(name string) *Element { return t.byName[name] }

// Is reports whether t is u or derives from it.
func (t *Type) Is(u *Type) bool {
	for ; t != nil; t = t.Base {
		if t == u {
			return true
		}
	}
	return false
}

// PathName is the name FHIRPath reflection gives the type: backbone elements
// are BackboneElement.
func (t *Type) PathName() string {
	if t.Backbone {
		return "BackboneElement"
	}
	return t.Name
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// typeRef is a resolved type specifier: a model type or a System kind.
type typeRef struct {
	fhir *Type
	sys  Kind
	// anySys is System.Any: every System value.
	anySys bool
	// nothing is a System type that no value has (System.Patient).
	nothing bool
}

func (r typeRef) String() string {
	if r.fhir != nil {
		return "FHIR." + r.fhir.Name
	}
	if r.anySys {
		return "System.Any"
	}
	return "System." + r.sys.String()
}

// resolveType resolves a type specifier: "Patient", "FHIR.Patient",
// "System.Boolean", "Boolean". Unqualified names are looked up in the model
// first, then among the System types.
func (m *Model) resolveType(spec string) (typeRef, bool) {
	ns, name, qualified := strings.Cut(spec, ".")
	if !qualified {
		name, ns = ns, ""
	}
	if ns == "" || ns == "FHIR" {
		if t := m.types[name]; t != nil {
			return typeRef{fhir: t}, true
		}
		if name == "BackboneElement" {
			return typeRef{fhir: m.backbone}, true
		}
		if ns == "FHIR" {
			return typeRef{}, false
		}
	}
	if ns == "" || ns == "System" {
		if name == "Any" {
			return typeRef{anySys: true}, true
		}
		for k := KindBoolean; k <= KindQuantity; k++ {
			if kindNames[k] == name {
				return typeRef{sys: k}, true
			}
		}
		if ns == "System" && m.types[name] != nil {
			// A model type asked for in the System namespace: nothing is one.
			return typeRef{nothing: true}, true
		}
	}
	return typeRef{}, false
}
