package search

import (
	"sort"
	"strings"
	"sync"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
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
	Code    string
	Kind    Kind
	URL     string   // the canonical URL of the SearchParameter definition
	Expr    string   // its FHIRPath expression
	Targets []string // reference target types
	// compiled is Expr compiled for the type; nil for _id and _lastUpdated, which the store
	// answers from the resource row.
	compiled *fhirpath.Expr
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
	model   *fhirpath.Model
	// keep holds, per type, the top-level JSON members its parameters' expressions can read;
	// nil when they can read any.
	keep map[string]map[string]bool
	// reads holds, per type, the expressions of what its composites read (their expressions
	// with each component's), for keep.
	reads map[string][]*fhirpath.Expr
	// compartments: compartment type -> resource type -> member parameters (sorted);
	// compartmentTypes: compartment type -> resource types with members (sorted).
	compartments     map[string]map[string][]string
	compartmentTypes map[string][]string
}

// reg builds the registry once per process; it is never modified afterwards.
var reg = sync.OnceValue(buildRegistry)

func buildRegistry() *registry {
	r := &registry{byType: map[string]map[string]*Param{}, sorted: map[string][]*Param{}, skipped: map[string]string{},
		model: fhir.FHIRPathModel(), keep: map[string]map[string]bool{}, reads: map[string][]*fhirpath.Expr{}}
	all := fhir.ResourceTypes()
	for i := range definitions {
		d := &definitions[i]
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
				var c *fhirpath.Expr
				if d.code != "_id" && d.code != "_lastUpdated" {
					var err error
					if c, err = r.compile(d.expr, t); err != nil {
						r.skipped[d.url] = err.Error()
						continue
					}
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
		var reads []*fhirpath.Expr
		for _, p := range ps {
			if p.compiled != nil && p.composite == nil {
				reads = append(reads, p.compiled)
			}
		}
		r.keep[t] = keepOf(r.model.Type(t), append(reads, r.reads[t]...))
	}
	r.reads = nil
	r.buildCompartments()
	return r
}

// compile compiles a definition's expression for resource type typ (nil typ: for any input):
// the paths of a union shared between types that start with another type ("Encounter.subject"
// for a Patient) compile to nothing.
func (r *registry) compile(src, typ string) (*fhirpath.Expr, error) {
	opts := fhirpath.Options{LenientAs: true}
	if typ != "" {
		opts.Context = r.model.Type(typ)
	}
	return r.model.Compile(src, opts)
}

// keepOf returns the top-level JSON members of a resource of type t that exprs can read, or nil
// when they may read any.
func keepOf(t *fhirpath.Type, exprs []*fhirpath.Expr) map[string]bool {
	if t == nil {
		return nil
	}
	keep := map[string]bool{"resourceType": true}
	for _, e := range exprs {
		if e == nil {
			return nil
		}
		names, all := e.TopMembers()
		if all {
			return nil
		}
		for _, n := range names {
			el := t.Element(n)
			if el == nil || !el.Choice {
				keep[n], keep["_"+n] = true, true
				continue
			}
			for _, et := range el.Types {
				j := n + strings.ToUpper(et.Name[:1]) + et.Name[1:]
				keep[j], keep["_"+j] = true, true
			}
		}
	}
	return keep
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

// Skipped returns the definitions (by URL) that are not indexed, with the reason: composites of
// other than two components or whose components do not fit their parameters (every other R4
// definition compiles for each of its base types).
func Skipped() map[string]string {
	return reg().skipped
}
