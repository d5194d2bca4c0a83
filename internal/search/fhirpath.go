package search

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/valyala/fastjson"
)

// This file is the small FHIRPath evaluator that runs the expressions of the search parameter
// definitions over resource JSON. It handles the subset they use:
//
//	union   := term ('|' term)*
//	term    := path ('as' Type)?
//	path    := ('(' union ')' | Name) ('.' step)*
//	step    := Name | 'where' '(' cond ')' | 'as' '(' Type ')' | 'ofType' '(' Type ')'
//	cond    := 'resolve' '(' ')' 'is' Type | Name '=' 'string'
//
// The first name of a path is a resource type (or Resource / DomainResource); a path of another
// type selects nothing, which is how one union serves many base types. A choice element
// ("value[x]") is reached by its base name ("value") and remembers its type from the JSON key
// suffix ("valueQuantity" is a Quantity), which is what 'as' and 'ofType' test. Anything else
// (functions such as exists(), operators such as 'and' or '!=') fails to compile; compile
// errors are how the registry finds the parameters it cannot index.

// node is one value reached by a path: a JSON value and, for choice elements, its FHIR type.
type node struct {
	v   *fastjson.Value
	typ string // "Quantity", "dateTime", ... ; "" when the JSON does not say
}

// expr is a compiled expression.
type expr interface {
	eval(root node, rootType string, out []node) []node
}

type unionExpr []expr

func (u unionExpr) eval(root node, rt string, out []node) []node {
	for _, e := range u {
		out = e.eval(root, rt, out)
	}
	return out
}

// rootExpr selects the resource itself when its type matches.
type rootExpr struct{ typ string }

func (r rootExpr) eval(root node, rt string, out []node) []node {
	if r.applies(rt) {
		out = append(out, root)
	}
	return out
}

// applies reports whether the path's first name selects a resource of type rt.
func (r rootExpr) applies(rt string) bool {
	return r.typ == rt || r.typ == "Resource" || r.typ == "DomainResource"
}

// stepExpr applies one step to every node its source selects.
type stepExpr struct {
	src  expr
	name string // child name, when a path step
	// filters: exactly one of the below is set when name is "".
	asType    string // as / ofType
	isRef     string // where(resolve() is T)
	eqField   string // where(field = 'lit')
	eqLiteral string
}

func (s *stepExpr) eval(root node, rt string, out []node) []node {
	in := s.src.eval(root, rt, nil)
	for _, n := range in {
		switch {
		case s.name != "":
			out = child(n, s.name, out)
		case s.asType != "":
			if strings.EqualFold(n.typ, s.asType) {
				out = append(out, n)
			}
		case s.isRef != "":
			if n.v.Type() == fastjson.TypeObject {
				if t, _ := splitReference(string(n.v.GetStringBytes("reference"))); t == s.isRef {
					out = append(out, n)
				}
			}
		case s.eqField != "":
			if n.v.Type() == fastjson.TypeObject && string(n.v.GetStringBytes(s.eqField)) == s.eqLiteral {
				out = append(out, n)
			}
		}
	}
	return out
}

// child appends the values of member name of n (arrays flattened), or of the choice members
// name<Type>.
func child(n node, name string, out []node) []node {
	o, err := n.v.Object()
	if err != nil {
		return out
	}
	if v := o.Get(name); v != nil {
		return appendFlat(out, v, "")
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if len(k) > len(name) && string(k[:len(name)]) == name && isTypeSuffix(k[len(name):]) {
			out = appendFlat(out, v, choiceType(string(k[len(name):])))
		}
	})
	return out
}

func appendFlat(out []node, v *fastjson.Value, typ string) []node {
	if v.Type() == fastjson.TypeArray {
		for _, e := range v.GetArray() {
			out = append(out, node{v: e, typ: typ})
		}
		return out
	}
	return append(out, node{v: v, typ: typ})
}

// choiceType turns a JSON key suffix into the FHIR type name: primitive types start lower case.
func choiceType(suffix string) string {
	if primitiveTypes[suffix] {
		return strings.ToLower(suffix[:1]) + suffix[1:]
	}
	return suffix
}

var primitiveTypes = map[string]bool{
	"Boolean": true, "Integer": true, "String": true, "Decimal": true, "Uri": true, "Url": true,
	"Canonical": true, "Base64Binary": true, "Instant": true, "Date": true, "DateTime": true,
	"Time": true, "Code": true, "Oid": true, "Id": true, "Markdown": true, "UnsignedInt": true,
	"PositiveInt": true, "Uuid": true,
}

var complexTypes = map[string]bool{
	"Address": true, "Age": true, "Annotation": true, "Attachment": true, "CodeableConcept": true,
	"Coding": true, "ContactPoint": true, "Count": true, "Distance": true, "Duration": true,
	"HumanName": true, "Identifier": true, "Money": true, "Period": true, "Quantity": true,
	"Range": true, "Ratio": true, "Reference": true, "SampledData": true, "Signature": true,
	"Timing": true, "ContactDetail": true, "Contributor": true, "DataRequirement": true,
	"Expression": true, "ParameterDefinition": true, "RelatedArtifact": true,
	"TriggerDefinition": true, "UsageContext": true, "Dosage": true, "Meta": true,
}

// isTypeSuffix reports whether a member name suffix is a FHIR data type name, as the suffix of a
// choice element is ("Quantity" in "valueQuantity"; not "History" in "classHistory").
func isTypeSuffix(s []byte) bool {
	return primitiveTypes[string(s)] || complexTypes[string(s)]
}

// splitReference returns the type and id of a literal reference ("Patient/1",
// "https://x/fhir/Patient/1/_history/2"); "" type for anything else.
func splitReference(ref string) (typ, id string) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 || j == len(ref)-1 {
		return "", ""
	}
	id = ref[j+1:]
	k := strings.LastIndexByte(ref[:j], '/')
	typ = ref[k+1 : j]
	if typ == "" || !unicode.IsUpper(rune(typ[0])) {
		return "", ""
	}
	return typ, id
}

// compile parses an expression of the supported subset.
func compile(src string) (expr, error) {
	p := &parser{toks: tokenize(src)}
	e, err := p.union()
	if err != nil {
		return nil, err
	}
	if p.peek() != "" {
		return nil, fmt.Errorf("unsupported FHIRPath at %q", p.peek())
	}
	return e, nil
}

type parser struct {
	toks []string
	i    int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.i++
	return t
}

func (p *parser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("unsupported FHIRPath: want %q, got %q", t, got)
	}
	return nil
}

func (p *parser) union() (expr, error) {
	var u unionExpr
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		u = append(u, t)
		if p.peek() != "|" {
			break
		}
		p.next()
	}
	if len(u) == 1 {
		return u[0], nil
	}
	return u, nil
}

func (p *parser) term() (expr, error) {
	e, err := p.path()
	if err != nil {
		return nil, err
	}
	if p.peek() == "as" {
		p.next()
		t := p.next()
		if !isName(t) {
			return nil, fmt.Errorf("unsupported FHIRPath: type name %q", t)
		}
		e = &stepExpr{src: e, asType: t}
	}
	return e, nil
}

func (p *parser) path() (expr, error) {
	var e expr
	switch t := p.next(); {
	case t == "(":
		var err error
		if e, err = p.union(); err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	case isName(t):
		e = rootExpr{typ: t}
	default:
		return nil, fmt.Errorf("unsupported FHIRPath at %q", t)
	}
	for p.peek() == "." {
		p.next()
		name := p.next()
		if !isName(name) && !(name == "as" && p.peek() == "(") {
			return nil, fmt.Errorf("unsupported FHIRPath step %q", name)
		}
		if p.peek() != "(" {
			e = &stepExpr{src: e, name: name}
			continue
		}
		p.next()
		switch name {
		case "as", "ofType":
			t := p.next()
			if !isName(t) {
				return nil, fmt.Errorf("unsupported FHIRPath: type name %q", t)
			}
			e = &stepExpr{src: e, asType: t}
		case "where":
			s, err := p.cond(e)
			if err != nil {
				return nil, err
			}
			e = s
		default:
			return nil, fmt.Errorf("unsupported FHIRPath function %s()", name)
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (p *parser) cond(src expr) (expr, error) {
	name := p.next()
	if name == "resolve" {
		if err := p.expect("("); err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if err := p.expect("is"); err != nil {
			return nil, err
		}
		t := p.next()
		if !isName(t) {
			return nil, fmt.Errorf("unsupported FHIRPath: type name %q", t)
		}
		return &stepExpr{src: src, isRef: t}, nil
	}
	if !isName(name) {
		return nil, fmt.Errorf("unsupported FHIRPath condition at %q", name)
	}
	if err := p.expect("="); err != nil {
		return nil, err
	}
	lit := p.next()
	if len(lit) < 2 || lit[0] != '\'' {
		return nil, fmt.Errorf("unsupported FHIRPath literal %q", lit)
	}
	return &stepExpr{src: src, eqField: name, eqLiteral: lit[1 : len(lit)-1]}, nil
}

func isName(t string) bool {
	if t == "" || t == "as" || t == "is" {
		return false
	}
	for i, c := range t {
		if !(c == '_' || unicode.IsLetter(c) || i > 0 && unicode.IsDigit(c)) {
			return false
		}
	}
	return true
}

// tokenize splits an expression into names, string literals ('...' kept quoted) and symbols
// (one- or two-character operators).
func tokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := i + 1
			for j < len(s) && s[j] != '\'' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, s[i:min(j+1, len(s))])
			i = j + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, "!=")
			i += 2
		default:
			out = append(out, s[i:i+1])
			i++
		}
	}
	return out
}
