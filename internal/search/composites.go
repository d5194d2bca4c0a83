package search

import (
	"fmt"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// Composite parameters (code-value-quantity, component-code-value-quantity, ...) combine two
// values of one element of a resource: Observation?code-value-quantity=http://loinc.org|8480-6$gt140
// matches an Observation whose code is 8480-6 and whose value, of the same Observation, is above
// 140. To keep that pairing exact with nothing but ordinary index entries, each pair is indexed
// as an entry of the second component's kind under a parameter named after the composite and the
// first component's value: "code-value-quantity$http://loinc.org|8480-6" (that system and code)
// and "code-value-quantity$*|8480-6" (that code in any system) for a token, the reference
// ("Type/id") for a reference. A query then tests one such parameter with the second value's
// comparison, and every prefix and modifier of the second kind applies.
//
// A composite over the resource itself whose second component has at most one value (R4's
// code-value-quantity and the other code-value-* of Observation) needs no entries either: the
// pair is one resource's, so the composite is the conjunction of its components' own parameters
// (code-value-quantity=sys|c$gt5 is code=sys|c and value-quantity=gt5), which are indexed anyway
// (Param.conjunction).
//
// A composite whose expression is the union of other composites' expressions, with the same
// components (R4's combo-code-value-quantity is code-value-quantity on the Observation and
// component-code-value-quantity on its components), is not indexed again: a search of it tests
// the entries of those composites (Param.union).
//
// Composites whose first component is not a token or a reference, with other than two
// components, or whose components do not compile, are not indexed (Skipped lists them).

// compositeDefinition is one generated composite search parameter.
type compositeDefinition struct {
	code  string
	bases []string
	expr  string
	url   string
	// single: the expression is the resource itself and the second component has one value at
	// most (the generator reads that from the resource definitions).
	single bool
	parts  []compositePart
}

// compositePart is one component: its parameter's code and type and its expression, relative to
// the composite's.
type compositePart struct {
	code string
	kind kind
	expr string
}

// composite is a compiled composite parameter.
type composite struct {
	first, second compiledPart
	// union, when set, names the composites whose entries answer this one: it has none of its own.
	union []string
}

type compiledPart struct {
	code string
	kind kind
	// expr is evaluated on each value the composite's expression reaches.
	expr *fhirpath.Expr
	// as converts the part's values into entries (a parameter of the part's kind).
	as *Param
}

// compositeKey is the separator of a composite's name and its first component's value in the
// parameter codes of its index entries.
const compositeKey = "$"

// buildComposites adds the composite parameters that can be indexed to r.
func (r *registry) buildComposites(all []string) {
	for i := range compositeDefinitions {
		d := &compositeDefinitions[i]
		c, err := r.compileComposite(d)
		if err != nil {
			r.skipped[d.url] = err.Error()
			continue
		}
		c.union = unionOf(d)
		for _, b := range d.bases {
			types := []string{b}
			if b == "Resource" || b == "DomainResource" {
				types = all
			}
			for _, t := range types {
				m := r.byType[t]
				if m == nil {
					m = map[string]*Param{}
					r.byType[t] = m
				}
				if _, dup := m[d.code]; dup {
					continue
				}
				base, err := r.compile(d.expr, t)
				if err != nil {
					r.skipped[d.url] = err.Error()
					continue
				}
				p := &Param{Code: d.code, Kind: c.second.kind, URL: d.url, Expr: d.expr, compiled: base, composite: c, owner: t}
				if d.single {
					first, ok1 := m[d.parts[0].code]
					second, ok2 := m[d.parts[1].code]
					if ok1 && ok2 && first.compiled != nil && second.compiled != nil && first.Kind == d.parts[0].kind && second.Kind == d.parts[1].kind {
						p.conjunction = &[2]*Param{first, second}
					}
				}
				m[d.code] = p
				r.sorted[t] = append(r.sorted[t], p)
				if p.indexed() {
					// What the composite reads, for trimming: its expression with each component.
					for _, part := range d.parts {
						e, _ := r.compile("("+d.expr+").select("+part.expr+")", t)
						r.reads[t] = append(r.reads[t], e) // nil (reads anything) if it does not compile
					}
				}
			}
		}
	}
}

// indexed reports whether composite p has entries of its own: it is neither a conjunction nor a
// union of other parameters.
func (p *Param) indexed() bool {
	return p.composite != nil && p.composite.union == nil && p.conjunction == nil
}

// unionOf returns the composites whose expressions, taken together, are d's, with the same
// component expressions and types; nil when there are none.
func unionOf(d *compositeDefinition) []string {
	terms := strings.Split(d.expr, "|")
	if len(terms) < 2 {
		return nil
	}
	var out []string
	for _, term := range terms {
		term = strings.TrimSpace(term)
		found := ""
		for j := range compositeDefinitions {
			o := &compositeDefinitions[j]
			if o.expr != term || len(o.parts) != len(d.parts) {
				continue
			}
			same := true
			for k := range d.parts {
				if o.parts[k].expr != d.parts[k].expr || o.parts[k].kind != d.parts[k].kind {
					same = false
				}
			}
			if same {
				found = o.code
				break
			}
		}
		if found == "" {
			return nil
		}
		out = append(out, found)
	}
	return out
}

func (r *registry) compileComposite(d *compositeDefinition) (*composite, error) {
	if d.code == "relationship" && len(d.parts) == 2 && d.parts[0].expr == "code" {
		// R4's DocumentReference-relationship gives the reference component the expression of
		// the code and the token component that of the target.
		return nil, fmt.Errorf("the component expressions do not match their parameters' types")
	}
	if len(d.parts) != 2 {
		return nil, fmt.Errorf("%d components (two are supported)", len(d.parts))
	}
	if k := d.parts[0].kind; k != kindToken && k != kindReference {
		return nil, fmt.Errorf("the first component is a %s (a token or a reference is supported)", k)
	}
	if d.parts[1].kind == 0 {
		return nil, fmt.Errorf("the second component's parameter is not a type this package indexes")
	}
	c := &composite{}
	for i, p := range d.parts {
		// A component is evaluated on each value the composite's expression reaches, whatever
		// its type: it is compiled without a context.
		e, err := r.compile(p.expr, "")
		if err != nil {
			return nil, err
		}
		cp := compiledPart{code: p.code, kind: p.kind, expr: e, as: &Param{Kind: p.kind}}
		if i == 0 {
			c.first = cp
		} else {
			c.second = cp
		}
	}
	return c, nil
}

// appendComposite appends the entries of composite parameter p for one value v its expression
// reached: each value of the second component under each key of the first.
func (x *extractor) appendComposite(out []Entry, p *Param, v fhirpath.Value) []Entry {
	c := p.composite
	focus := v.Node()
	if focus == fhirpath.NoNode {
		return out
	}
	d := x.d
	vals, err := x.ev.EvalAppend(x.parts[:0], c.first.expr, focus)
	x.parts = vals[:0]
	if err != nil {
		return out
	}
	var keys []string
	for _, fv := range vals {
		for _, e := range appendValue(x.scratch[:0], c.first.as, d, fv) {
			switch {
			case c.first.kind == kindToken && e.Code != "":
				keys = append(keys, e.System+"|"+e.Code, "*|"+e.Code)
			case c.first.kind == kindReference && e.Kind == kindReference && e.RefType != "":
				keys = append(keys, e.RefType+"/"+e.RefID)
			case c.first.kind == kindReference && e.Kind == kindReference:
				keys = append(keys, e.RefID)
			}
		}
	}
	if len(keys) == 0 {
		return out
	}
	vals, err = x.ev.EvalAppend(x.parts[:0], c.second.expr, focus)
	x.parts = vals[:0]
	if err != nil {
		return out
	}
	values := x.scratch[:0]
	for _, sv := range vals {
		values = appendValue(values, c.second.as, d, sv)
	}
	x.scratch = values[:0]
	for _, k := range keys {
		for _, e := range values {
			e.Param = p.Code + compositeKey + k
			out = append(out, e)
		}
	}
	return out
}
