package search

import (
	"fmt"
	"strings"
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
	expr expr
}

// relative compiles an expression evaluated on a node reached by the composite's expression: each
// term of its union starts at that node.
func relative(src string) (expr, error) {
	terms := strings.Split(src, "|")
	for i, t := range terms {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "%") || strings.ContainsAny(t, "()") && !strings.Contains(t, ".as(") {
			return nil, fmt.Errorf("unsupported component expression %q", src)
		}
		terms[i] = "Resource." + t
	}
	return compile(strings.Join(terms, " | "))
}

// compositeKey is the separator of a composite's name and its first component's value in the
// parameter codes of its index entries.
const compositeKey = "$"

// buildComposites adds the composite parameters that can be indexed to r.
func (r *registry) buildComposites(all []string) {
	for i := range compositeDefinitions {
		d := &compositeDefinitions[i]
		c, base, err := compileComposite(d)
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
			}
		}
	}
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

func compileComposite(d *compositeDefinition) (*composite, expr, error) {
	if d.code == "relationship" && len(d.parts) == 2 && d.parts[0].expr == "code" {
		// R4's DocumentReference-relationship gives the reference component the expression of
		// the code and the token component that of the target.
		return nil, nil, fmt.Errorf("the component expressions do not match their parameters' types")
	}
	if len(d.parts) != 2 {
		return nil, nil, fmt.Errorf("%d components (two are supported)", len(d.parts))
	}
	if k := d.parts[0].kind; k != kindToken && k != kindReference {
		return nil, nil, fmt.Errorf("the first component is a %s (a token or a reference is supported)", k)
	}
	if d.parts[1].kind == 0 {
		return nil, nil, fmt.Errorf("the second component's parameter is not a type this package indexes")
	}
	base, err := compile(d.expr)
	if err != nil {
		return nil, nil, err
	}
	c := &composite{}
	for i, p := range d.parts {
		e, err := relative(p.expr)
		if err != nil {
			return nil, nil, err
		}
		cp := compiledPart{code: p.code, kind: p.kind, expr: e}
		if i == 0 {
			c.first = cp
		} else {
			c.second = cp
		}
	}
	return c, base, nil
}

// collectTop adds to t the top-level members a composite reads on a resource of type typ: where
// its expression is the resource itself ("Observation"), the members its components start from.
func (c *composite) collectTop(base expr, typ string, t *topMembers) {
	terms := []expr{base}
	if u, ok := base.(unionExpr); ok {
		terms = u
	}
	for _, term := range terms {
		if root, ok := term.(rootExpr); ok && root.applies(typ) {
			collectTop(c.first.expr, "Resource", t)
			collectTop(c.second.expr, "Resource", t)
			continue
		}
		collectTop(term, typ, t)
	}
}

// appendComposite appends the entries of composite parameter p for one node its expression
// reached: each value of the second component under each key of the first.
func appendComposite(out []Entry, p *Param, n node) []Entry {
	c := p.composite
	if c.union != nil || p.conjunction != nil {
		return out // other parameters' entries answer it
	}
	var keys []string
	for _, v := range c.first.expr.eval(n, "Resource", nil) {
		switch c.first.kind {
		case kindToken:
			for _, e := range appendToken(nil, "", v) {
				if e.Code != "" {
					keys = append(keys, e.System+"|"+e.Code, "*|"+e.Code)
				}
			}
		case kindReference:
			for _, e := range appendEntries(nil, &Param{Kind: kindReference}, v) {
				if e.RefType != "" {
					keys = append(keys, e.RefType+"/"+e.RefID)
				} else {
					keys = append(keys, e.RefID)
				}
			}
		}
	}
	if len(keys) == 0 {
		return out
	}
	second := &Param{Code: p.Code, Kind: c.second.kind}
	var values []Entry
	for _, v := range c.second.expr.eval(n, "Resource", nil) {
		values = appendEntries(values, second, v)
	}
	for _, k := range keys {
		for _, e := range values {
			e.Param = p.Code + compositeKey + k
			out = append(out, e)
		}
	}
	return out
}
