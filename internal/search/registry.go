package search

import (
	"sort"
	"sync"

	"github.com/fhirlake/fhirlake/internal/fhir"
)

// Kind is a search parameter type.
type Kind = kind

// Search parameter types (FHIR SearchParameter.type) that this package indexes.
const (
	KindString    = kindString
	KindToken     = kindToken
	KindReference = kindReference
	KindDate      = kindDate
	KindNumber    = kindNumber
	KindQuantity  = kindQuantity
	KindURI       = kindURI
)

// definition is one generated search parameter definition.
type definition struct {
	code    string
	kind    kind
	bases   []string
	expr    string
	targets []string
	url     string
}

// Param is a search parameter of one resource type.
type Param struct {
	Code     string
	Kind     Kind
	URL      string   // the canonical URL of the SearchParameter definition
	Expr     string   // its FHIRPath expression
	Targets  []string // reference target types
	compiled expr     // nil for _id and _lastUpdated, which the store answers from the resource row
	// composite, for a composite parameter, holds its two components; Kind is then the second
	// component's (composites.go).
	composite *composite
	// conjunction, for a composite over the resource itself whose second component has one value
	// at most, holds the parameters of its two components: it is their conjunction.
	conjunction *[2]*Param
	owner       string // the resource type of a composite parameter
}

// TypeName is the parameter's FHIR type: Kind's name, or "composite".
func (p *Param) TypeName() string {
	if p.composite != nil {
		return "composite"
	}
	return p.Kind.String()
}

// registry is the compiled, immutable set of parameters per resource type.
type registry struct {
	byType  map[string]map[string]*Param
	sorted  map[string][]*Param
	skipped map[string]string // definition URL -> why it is not indexed
	// tops holds, per type, the top-level members the type's expressions start from.
	tops map[string]*topMembers
	// compartments: compartment type -> resource type -> member parameters (sorted);
	// compartmentTypes: compartment type -> resource types with members (sorted).
	compartments     map[string]map[string][]string
	compartmentTypes map[string][]string
}

// topMembers are the top-level members of a resource type that its parameters' expressions
// read: extraction parses only these. A choice element's base name ("value") stands for its
// typed members ("valueQuantity").
type topMembers struct {
	names map[string]bool
	all   bool // an expression selects the resource itself: parse everything
}

// keep reports whether a top-level member is read by some expression.
func (t *topMembers) keep(key []byte) bool {
	if t.names[string(key)] {
		return true
	}
	for n := range t.names {
		if len(key) > len(n) && string(key[:len(n)]) == n && isTypeSuffix(key[len(n):]) {
			return true
		}
	}
	return false
}

// collectTop adds to t the top-level members e reads on a resource of type typ.
func collectTop(e expr, typ string, t *topMembers) {
	switch e := e.(type) {
	case unionExpr:
		for _, x := range e {
			collectTop(x, typ, t)
		}
	case rootExpr:
		if e.applies(typ) {
			t.all = true // the resource itself is a value
		}
	case *stepExpr:
		root, ok := e.src.(rootExpr)
		switch {
		case !ok:
			collectTop(e.src, typ, t)
		case !root.applies(typ):
		case e.name != "":
			t.names[e.name] = true
		default:
			t.all = true // a filter on the resource itself
		}
	default:
		t.all = true
	}
}

// reg builds the registry once per process; it is never modified afterwards.
var reg = sync.OnceValue(buildRegistry)

func buildRegistry() *registry {
	r := &registry{byType: map[string]map[string]*Param{}, sorted: map[string][]*Param{}, skipped: map[string]string{},
		tops: map[string]*topMembers{}}
	all := fhir.ResourceTypes()
	for i := range definitions {
		d := &definitions[i]
		var c expr
		if d.code != "_id" && d.code != "_lastUpdated" {
			var err error
			if c, err = compile(d.expr); err != nil {
				r.skipped[d.url] = err.Error()
				continue
			}
		}
		for _, base := range d.bases {
			types := []string{base}
			if base == "Resource" || base == "DomainResource" {
				types = all
			}
			for _, t := range types {
				if base == "DomainResource" && (t == "Bundle" || t == "Binary" || t == "Parameters") {
					continue
				}
				m := r.byType[t]
				if m == nil {
					m = map[string]*Param{}
					r.byType[t] = m
				}
				if _, dup := m[d.code]; dup {
					continue
				}
				p := &Param{Code: d.code, Kind: d.kind, URL: d.url, Expr: d.expr, Targets: d.targets, compiled: c}
				m[d.code] = p
				r.sorted[t] = append(r.sorted[t], p)
			}
		}
	}
	r.buildComposites(all)
	for t, ps := range r.sorted {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code })
		top := &topMembers{names: map[string]bool{}}
		for _, p := range ps {
			switch {
			case p.composite != nil:
				p.composite.collectTop(p.compiled, t, top)
			case p.compiled != nil:
				collectTop(p.compiled, t, top)
			}
		}
		r.tops[t] = top
	}
	r.buildCompartments()
	return r
}

// Params returns the search parameters of a resource type, sorted by code.
func Params(typ string) []*Param {
	return reg().sorted[typ]
}

// Lookup returns one search parameter of a resource type.
func Lookup(typ, code string) (*Param, bool) {
	p, ok := reg().byType[typ][code]
	return p, ok
}

// Skipped returns the definitions (by URL) whose expression this package cannot evaluate, with
// the reason.
func Skipped() map[string]string {
	return reg().skipped
}
