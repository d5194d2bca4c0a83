package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
)

// Expr is a compiled expression. It holds no evaluation state and is safe
// for concurrent use.
type Expr struct {
	src   string
	root  *op
	model *Model
	nops  int
}

// String returns the expression's source.
func (e *Expr) String() string { return e.src }

// Options tune compilation.
type Options struct {
	// Context is the type of the context the expression is evaluated on
	// (a resource type, a data type, a backbone element); nil when unknown.
	// With a context, paths are checked against the model and unknown
	// elements are errors.
	Context *Type
	// Strict also rejects a path that starts with a type name other than the
	// context's ("Encounter.name" on a Patient), which otherwise selects
	// nothing (search parameters use that to share one expression between
	// types) and is compiled to an empty collection, so that it costs
	// nothing when evaluated.
	Strict bool
	// CheckOrdered rejects functions that depend on order (first(), skip(),
	// an indexer...) applied to the output of children() or descendants(),
	// whose order FHIRPath does not define.
	CheckOrdered bool
	// LenientAs makes as() on a collection of several items filter them like
	// ofType(), as the engines the R4 definitions were written for did
	// (dom-3 uses descendants().as(canonical)); without it that is an error.
	LenientAs bool
}

// SemanticError is an expression that parses but cannot be evaluated on the
// model: an unknown element, function or type, or operands of the wrong type.
type SemanticError struct {
	Pos int
	Msg string
}

func (e *SemanticError) Error() string { return fmt.Sprintf("fhirpath: at %d: %s", e.Pos, e.Msg) }

type opKind uint8

const (
	oEmpty opKind = iota
	oLiteral
	oMember    // navigate to a member of each input item
	oRootIdent // a name at the start of a path: a type filter or a member of $this
	oFunc
	oThis
	oIndex
	oTotal
	oConst
	oInvoke
	oIndexer
	oNeg
	oBinary
	oIs
	oAs
	oCount // count() of a member or of children(), without building the collection
)

// op is a node of the compiled tree.
type op struct {
	kind        opKind
	name        string
	lit         Value
	left, right *op
	args        []*op
	fn          *funcDef
	typ         typeRef // is, as, ofType
	binop       binOp
	rooted      bool  // a function or name at the start of a path: its input is $this
	deps        uint8 // what the result depends on besides %resource (depFocus, depLambda)
	cacheable   bool  // deps == 0 and the subtree calls a function: cached per resource
	hasFunc     bool
	re          *lazyRegex // a constant regex argument, compiled once
	slot        int        // cache slot of a cacheable op: equal subexpressions share one
	text        string     // canonical text of the subexpression (for slots)
	typeFilter  bool       // oCount of a root name: items of that type count as themselves
	id          int
	lenientAs   bool
	pos         int
}

// Dependencies of an op's result.
const (
	depFocus  = 1 << iota // the evaluation's focus: top-level $this, %context
	depLambda             // the innermost lambda's $this, $index or $total
)

// stype is what the checker knows about the items an expression yields.
type stype struct {
	known     bool
	types     []typeRef
	unordered bool // from children() or descendants()
}

var unknownType = stype{}

func known(t ...typeRef) stype { return stype{known: true, types: t} }

func sysType(k Kind) stype { return known(typeRef{sys: k}) }

type compiler struct {
	m     *Model
	opts  Options
	nops  int
	slots map[string]int // cache slot of each cacheable subexpression, by its text
}

// cscope is what the checker knows of $this while compiling.
type cscope struct {
	this     stype
	inLambda bool // $this is the item of a function argument evaluated per item
}

func (sc *cscope) thisDep() uint8 {
	if sc.inLambda {
		return depLambda
	}
	return depFocus
}

// Compile compiles src for the model.
func (m *Model) Compile(src string, opts Options) (*Expr, error) {
	a, err := parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{m: m, opts: opts, slots: map[string]int{}}
	sc := &cscope{this: unknownType}
	if opts.Context != nil {
		sc.this = known(typeRef{fhir: opts.Context})
	}
	root, _, err := c.compile(a, nil, sc)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root, model: m, nops: c.nops}, nil
}

// MustCompile is Compile for expressions known to be valid (tests, tables).
func (m *Model) MustCompile(src string, opts Options) *Expr {
	e, err := m.Compile(src, opts)
	if err != nil {
		panic(err)
	}
	return e
}

func (c *compiler) newOp(kind opKind, pos int) *op {
	o := &op{kind: kind, id: c.nops, pos: pos}
	c.nops++
	return o
}

func semErr(pos int, format string, args ...any) error {
	return &SemanticError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// compile compiles a. input is the static type of the items the expression
// is applied to when it is the right side of a '.', nil when it starts a
// path (its input is then $this).
func (c *compiler) compile(a *ast, input *stype, sc *cscope) (*op, stype, error) {
	switch a.kind {
	case aEmpty:
		o := c.newOp(oEmpty, a.pos)
		return o, known(), nil
	case aLiteral:
		o := c.newOp(oLiteral, a.pos)
		o.lit = a.lit
		if a.lit.kind == KindQuantity {
			return o, known(typeRef{sys: KindQuantity}), nil
		}
		return o, sysType(a.lit.kind), nil
	case aThis:
		o := c.newOp(oThis, a.pos)
		o.deps = sc.thisDep()
		return o, sc.this, nil
	case aIndex:
		o := c.newOp(oIndex, a.pos)
		o.deps = sc.thisDep()
		return o, sysType(KindInteger), nil
	case aTotal:
		o := c.newOp(oTotal, a.pos)
		o.deps = sc.thisDep()
		return o, unknownType, nil
	case aConst:
		o := c.newOp(oConst, a.pos)
		o.name = a.name
		switch a.name {
		case "context":
			o.deps = depFocus
			return o, c.contextType(), nil
		case "resource", "rootResource":
			if t := c.opts.Context; t != nil && t.Resource && a.name == "resource" {
				return o, known(typeRef{fhir: t}), nil
			}
			return o, unknownType, nil
		case "ucum", "sct", "loinc":
			return o, sysType(KindString), nil
		}
		if strings.HasPrefix(a.name, "vs-") || strings.HasPrefix(a.name, "ext-") {
			return o, sysType(KindString), nil
		}
		return nil, unknownType, semErr(a.pos, "unknown external constant %%%s", a.name)
	case aIdent:
		return c.ident(a, input, sc)
	case aFunc:
		return c.function(a, input, sc)
	case aInvoke:
		l, lt, err := c.compile(a.left, input, sc)
		if err != nil {
			return nil, lt, err
		}
		r, rt, err := c.compile(a.right, &lt, sc)
		if err != nil {
			return nil, rt, err
		}
		if lt.unordered && r.kind == oMember {
			rt.unordered = true
		}
		if l.kind == oEmpty && emptyOnEmpty(r) {
			return l, known(), nil
		}
		if f := c.countOf(l, r); f != nil {
			return f, rt, nil
		}
		o := c.newOp(oInvoke, a.pos)
		o.left, o.right = l, r
		c.finish(o, l, r)
		return o, rt, nil
	case aIndexer:
		l, lt, err := c.compile(a.left, input, sc)
		if err != nil {
			return nil, lt, err
		}
		idx, it, err := c.compile(a.args[0], nil, sc)
		if err != nil {
			return nil, it, err
		}
		if it.known && len(it.types) > 0 && !it.is(KindInteger) {
			return nil, it, semErr(a.pos, "an index must be an Integer")
		}
		if c.opts.CheckOrdered && lt.unordered {
			return nil, it, semErr(a.pos, "an indexer needs an ordered collection; children() and descendants() are not")
		}
		if l.kind == oEmpty {
			return l, lt, nil
		}
		o := c.newOp(oIndexer, a.pos)
		o.left, o.args = l, []*op{idx}
		c.finish(o, l, idx)
		return o, lt, nil
	case aUnary:
		l, lt, err := c.compile(a.left, input, sc)
		if err != nil {
			return nil, lt, err
		}
		if a.op == "+" {
			return l, lt, nil
		}
		o := c.newOp(oNeg, a.pos)
		o.left = l
		c.finish(o, l)
		return o, lt, nil
	case aTypeOp:
		l, lt, err := c.compile(a.left, input, sc)
		if err != nil {
			return nil, lt, err
		}
		ref, ok := c.m.resolveType(a.name)
		if !ok {
			return nil, lt, semErr(a.pos, "unknown type %s", a.name)
		}
		kind := oIs
		st := sysType(KindBoolean)
		if a.op == "as" {
			kind, st = oAs, known(ref)
		}
		if l.kind == oEmpty {
			return l, known(), nil
		}
		o := c.newOp(kind, a.pos)
		o.left, o.typ, o.lenientAs = l, ref, c.opts.LenientAs
		c.finish(o, l)
		return o, st, nil
	case aBinary:
		return c.binary(a, input, sc)
	}
	return nil, unknownType, semErr(a.pos, "unsupported expression")
}

// countOf fuses "path.name.count()" and "path.children().count()" into one
// op that counts the matching children without collecting them (ele-1 runs
// children().count() > id.count() on every element).
func (c *compiler) countOf(l, r *op) *op {
	if r.kind != oFunc || r.name != "count" || len(r.args) > 0 {
		return nil
	}
	o := c.newOp(oCount, r.pos)
	switch {
	case l.kind == oRootIdent:
		o.name, o.rooted, o.deps = l.name, true, l.deps
		o.typeFilter = true
	case l.kind == oFunc && l.name == "children" && l.rooted:
		o.rooted, o.deps = true, l.deps
	case l.kind == oInvoke && l.right.kind == oMember:
		o.left, o.name = l.left, l.right.name
		c.finish(o, l.left)
	case l.kind == oInvoke && l.right.kind == oFunc && l.right.name == "children":
		o.left = l.left
		c.finish(o, l.left)
	default:
		return nil
	}
	o.hasFunc = true
	return o
}

// finish sets what o depends on from its operands and whether its result
// can be cached.
func (c *compiler) finish(o *op, parts ...*op) {
	for _, p := range parts {
		o.deps |= p.deps
		o.hasFunc = o.hasFunc || p.hasFunc
	}
	// A path or operator that depends only on %resource and %rootResource
	// is computed once per resource: bdl-3 reads %resource.type for every
	// entry of a Bundle, and navigating the Bundle each time would be
	// quadratic in its entries.
	o.cacheable = o.deps == 0 && (o.kind == oInvoke || o.kind == oBinary) && !constantOnly(o)
	if o.cacheable {
		o.text = opText(o)
		slot, ok := c.slots[o.text]
		if !ok {
			slot = o.id
			c.slots[o.text] = slot
		}
		o.slot = slot
	}
}

// constantOnly reports whether o reads no node (literals, %ucum...): such
// ops are cheaper to compute than to look up.
func constantOnly(o *op) bool {
	if o == nil {
		return true
	}
	switch o.kind {
	case oLiteral, oEmpty:
		return true
	case oConst:
		return o.name != "resource" && o.name != "rootResource" && o.name != "context"
	case oInvoke, oBinary:
		return constantOnly(o.left) && constantOnly(o.right)
	}
	return false
}

// opText renders a compiled subexpression canonically, so that equal
// subexpressions (dom-3 reads %resource.descendants() four times) share one
// cache slot.
func opText(o *op) string {
	if o == nil {
		return ""
	}
	var sb strings.Builder
	var walk func(o *op)
	walk = func(o *op) {
		sb.WriteByte('(')
		sb.WriteString(strconv.Itoa(int(o.kind)))
		sb.WriteByte(' ')
		sb.WriteString(o.name)
		if o.kind == oLiteral {
			sb.WriteString(" " + strconv.Itoa(int(o.lit.kind)) + ":" + o.lit.format(nil))
		}
		if o.kind == oBinary {
			sb.WriteString(" b" + strconv.Itoa(int(o.binop)))
		}
		if o.kind == oIs || o.kind == oAs || o.typ != (typeRef{}) {
			sb.WriteString(" t" + o.typ.String())
		}
		if o.rooted {
			sb.WriteString(" r")
		}
		for _, p := range []*op{o.left, o.right} {
			if p != nil {
				walk(p)
			}
		}
		for _, a := range o.args {
			walk(a)
		}
		sb.WriteByte(')')
	}
	walk(o)
	return sb.String()
}

func (c *compiler) contextType() stype {
	if c.opts.Context != nil {
		return known(typeRef{fhir: c.opts.Context})
	}
	return unknownType
}

func (t stype) is(k Kind) bool {
	for _, r := range t.types {
		if r.sys == k && r.fhir == nil {
			return true
		}
		if r.fhir != nil && r.fhir.Kind == k {
			return true
		}
	}
	return false
}

// none reports whether every type of t is known and none yields a
// value of one of ks (so an operator needing one of ks cannot apply).
func (t stype) none(ks ...Kind) bool {
	if !t.known || len(t.types) == 0 {
		return false
	}
	for _, r := range t.types {
		if r.anySys {
			return false
		}
		k := r.sys
		if r.fhir != nil {
			k = r.fhir.Kind
			if isQuantityType(r.fhir) {
				k = KindQuantity
			}
		}
		for _, want := range ks {
			if k == want {
				return false
			}
		}
	}
	return true
}

// isQuantityType reports whether t is Quantity or derives from it (Age,
// Duration, SimpleQuantity...).
func isQuantityType(t *Type) bool {
	for u := t; u != nil; u = u.Base {
		if u.Name == "Quantity" {
			return true
		}
	}
	return false
}

func (c *compiler) ident(a *ast, input *stype, sc *cscope) (*op, stype, error) {
	if input != nil {
		o := c.newOp(oMember, a.pos)
		o.name = a.name
		st, err := c.member(a.pos, *input, a.name)
		return o, st, err
	}
	// A name at the start of a path: a member of $this, or a type name.
	o := c.newOp(oRootIdent, a.pos)
	o.name, o.rooted, o.deps = a.name, true, sc.thisDep()
	this := sc.this
	if this.known {
		if st, err := c.member(a.pos, this, a.name); err == nil {
			return o, st, nil
		}
		for _, r := range this.types {
			if r.fhir != nil && r.fhir.PathName() == a.name {
				return o, known(r), nil
			}
			if r.fhir != nil {
				for b := r.fhir; b != nil; b = b.Base {
					if b.Name == a.name {
						return o, known(r), nil
					}
				}
			}
		}
		if t := c.m.types[a.name]; t != nil && (t.Resource || a.name == "Resource" || a.name == "DomainResource") {
			if c.opts.Strict {
				return nil, unknownType, semErr(a.pos, "the context is %s, not %s", typesText(this), a.name)
			}
			if c.concrete(this) {
				// $this cannot be of that type and has no such member: the path
				// selects nothing ("Encounter.subject" on a Patient, as the
				// unions of search parameters shared between types have).
				return c.newOp(oEmpty, a.pos), known(), nil
			}
			return o, known(typeRef{fhir: t}), nil
		}
		_, err := c.member(a.pos, this, a.name)
		return nil, unknownType, err
	}
	if t := c.m.types[a.name]; t != nil && a.name[0] >= 'A' && a.name[0] <= 'Z' {
		return o, known(typeRef{fhir: t}), nil
	}
	return o, unknownType, nil
}

// emptyOnEmpty reports whether o, applied to an empty input, yields empty
// whatever else it reads.
func emptyOnEmpty(o *op) bool {
	switch o.kind {
	case oMember, oEmpty:
		return true
	case oFunc:
		switch o.name {
		case "where", "select", "ofType", "as", "first", "last", "tail", "skip", "take", "single",
			"distinct", "children", "descendants", "repeat", "resolve", "extension", "getValue":
			return true
		}
	}
	return false
}

// concrete reports whether the items of t are known to be of FHIR types none
// of which is an abstract resource type (Resource, DomainResource), so that
// they are of no resource type other than t's own.
func (c *compiler) concrete(t stype) bool {
	if !t.known || len(t.types) == 0 {
		return false
	}
	for _, r := range t.types {
		if r.fhir == nil || r.anySys || r.fhir == c.m.resource || r.fhir.Resource && r.fhir.Name == "DomainResource" {
			return false
		}
	}
	return true
}

func typesText(t stype) string {
	var names []string
	for _, r := range t.types {
		names = append(names, r.String())
	}
	return strings.Join(names, " | ")
}

// member is the static type of .name applied to items of type in.
func (c *compiler) member(pos int, in stype, name string) (stype, error) {
	if !in.known {
		return unknownType, nil
	}
	out := stype{known: true}
	found := len(in.types) == 0
	for _, r := range in.types {
		if r.anySys {
			return unknownType, nil
		}
		if r.fhir == nil {
			continue
		}
		t := r.fhir
		if t == c.m.resource || (t.Resource && t.Name == "DomainResource") {
			// Any resource: look the name up in every resource type.
			if e := t.Element(name); e != nil {
				found = true
				for _, et := range e.Types {
					out.types = append(out.types, typeRef{fhir: et})
				}
				continue
			}
			return unknownType, nil
		}
		if e := t.Element(name); e != nil {
			found = true
			for _, et := range e.Types {
				out.types = append(out.types, typeRef{fhir: et})
			}
		}
	}
	if !found {
		return unknownType, semErr(pos, "%s has no element %s", typesText(in), name)
	}
	return out, nil
}

type binOp uint8

const (
	bAnd binOp = iota
	bOr
	bXor
	bImplies
	bEq
	bNe
	bEquiv
	bNotEquiv
	bLt
	bLe
	bGt
	bGe
	bUnion
	bIn
	bContains
	bAdd
	bSub
	bMul
	bDiv
	bIntDiv
	bMod
	bConcat
)

var binOps = map[string]binOp{
	"and": bAnd, "or": bOr, "xor": bXor, "implies": bImplies, "=": bEq, "!=": bNe, "~": bEquiv, "!~": bNotEquiv,
	"<": bLt, "<=": bLe, ">": bGt, ">=": bGe, "|": bUnion, "in": bIn, "contains": bContains,
	"+": bAdd, "-": bSub, "*": bMul, "/": bDiv, "div": bIntDiv, "mod": bMod, "&": bConcat,
}

func (c *compiler) binary(a *ast, input *stype, sc *cscope) (*op, stype, error) {
	bo, ok := binOps[a.op]
	if !ok {
		return nil, unknownType, semErr(a.pos, "unknown operator %s", a.op)
	}
	l, lt, err := c.compile(a.left, nil, sc)
	if err != nil {
		return nil, lt, err
	}
	r, rt, err := c.compile(a.right, nil, sc)
	if err != nil {
		return nil, rt, err
	}
	if bo == bUnion && l.kind == oEmpty && r.kind == oEmpty {
		return l, known(), nil
	}
	o := c.newOp(oBinary, a.pos)
	o.binop, o.left, o.right = bo, l, r
	c.finish(o, l, r)
	switch bo {
	case bUnion:
		if lt.known && rt.known {
			return o, known(append(append([]typeRef(nil), lt.types...), rt.types...)...), nil
		}
		return o, unknownType, nil
	case bAdd, bSub:
		temporalL := lt.known && len(lt.types) > 0 && !lt.none(KindDate, KindDateTime, KindTime)
		if temporalL && rt.known && len(rt.types) > 0 && rt.none(KindQuantity) {
			return nil, unknownType, semErr(a.pos, "a date or time can only be added a quantity")
		}
		if bo == bAdd && lt.known && lt.is(KindString) {
			return o, sysType(KindString), nil
		}
		return o, c.numericResult(lt, rt), nil
	case bMul, bDiv, bIntDiv, bMod:
		return o, c.numericResult(lt, rt), nil
	case bConcat:
		return o, sysType(KindString), nil
	}
	return o, sysType(KindBoolean), nil
}

func (c *compiler) numericResult(lt, rt stype) stype {
	if lt.known && len(lt.types) == 1 && lt.types[0].fhir == nil {
		return lt
	}
	return unknownType
}
