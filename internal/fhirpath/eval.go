package fhirpath

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrTooCostly is returned when an evaluation takes more steps than its
// bound (Evaluator.MaxSteps).
var ErrTooCostly = errors.New("fhirpath: evaluation exceeded its step bound")

// EvalError is an expression that failed while it ran: an operator applied
// to a collection of several items, operands of the wrong types, and so on.
type EvalError struct {
	Pos int
	Msg string
}

func (e *EvalError) Error() string { return fmt.Sprintf("fhirpath: at %d: %s", e.Pos, e.Msg) }

func evalErr(o *op, format string, args ...any) error {
	return &EvalError{Pos: o.pos, Msg: fmt.Sprintf(format, args...)}
}

// DefaultMaxSteps is the step bound of an Evaluator whose MaxSteps is 0.
// A step is one node visited or one item a function or operator handles.
const DefaultMaxSteps = 1 << 20

type coll = []Value

// Evaluator evaluates compiled expressions on one Doc at a time. It keeps
// scratch storage between evaluations, so reuse one per goroutine; it is not
// safe for concurrent use.
type Evaluator struct {
	// MaxSteps bounds the steps of one evaluation (DefaultMaxSteps when 0).
	MaxSteps int
	// TypeOnlyReferences makes resolve() of a literal reference that points
	// outside the Doc ("Patient/1") yield a value that has the target type
	// and nothing else, so that "resolve() is Patient" can be answered; by
	// default such references resolve to nothing.
	TypeOnlyReferences bool
	// Now is the time now(), today() and timeOfDay() return; the wall clock
	// when zero.
	Now time.Time

	doc           *Doc
	gen           uint64
	arena         []Value
	scopes        [][]scope // slabs of scopes, reused across evaluations
	slab          int       // scopes used in the current slab
	nslab         int       // current slab
	union         map[valueKey]struct{}
	root          scope // the scope of the evaluation's top level
	trueC, falseC coll
	steps         int
	limit         int
	focus         NodeID
	expr          *Expr
	cache         []cacheEntry
	trace         func(name string, values []Value)
	reason        string // why htmlChecks() failed, for the caller's diagnostic
}

type cacheEntry struct {
	expr      *Expr
	gen       uint64
	res, root NodeID
	val       []Value
	// set indexes val for 'in' and 'contains' when every item can be hashed
	// (built on first use; setTried when it was tried and could not be).
	set      map[valueKey]struct{}
	setTried bool
	spare    map[valueKey]struct{} // storage of set, reused across resources
}

// cached returns the valid cache entry of op o, or nil.
func (ev *Evaluator) cached(o *op) *cacheEntry {
	if !o.cacheable || ev.doc == nil {
		return nil
	}
	c := &ev.cache[o.slot]
	n := ev.focusOrRoot()
	if c.expr == ev.expr && c.gen == ev.gen && c.res == ev.doc.Resource(n) && c.root == ev.doc.RootResource(n) {
		return c
	}
	return nil
}

// NewEvaluator returns an Evaluator.
func NewEvaluator() *Evaluator {
	return &Evaluator{focus: NoNode, trueC: coll{boolValue(true)}, falseC: coll{boolValue(false)}}
}

// newScope returns a scope from the evaluator's slabs (scopes live for one
// evaluation; the slabs are reused, so evaluating allocates no scopes).
func (ev *Evaluator) newScope(this coll, index int, total coll, hasTotal bool) *scope {
	const slabSize = 64
	if ev.nslab >= len(ev.scopes) {
		ev.scopes = append(ev.scopes, make([]scope, slabSize))
	}
	if ev.slab == slabSize {
		ev.nslab, ev.slab = ev.nslab+1, 0
		if ev.nslab >= len(ev.scopes) {
			ev.scopes = append(ev.scopes, make([]scope, slabSize))
		}
	}
	sc := &ev.scopes[ev.nslab][ev.slab]
	ev.slab++
	*sc = scope{this: this, index: index, total: total, hasTotal: hasTotal}
	return sc
}

// Reset binds the evaluator to doc (nil for expressions without input).
// Call it after each Parse into a reused Doc.
func (ev *Evaluator) Reset(doc *Doc) {
	ev.doc = doc
	ev.gen++
	if cap(ev.arena) > 1<<16 {
		ev.arena = nil
	}
	for k := range ev.cache {
		if cap(ev.cache[k].val) > 1<<10 {
			ev.cache[k].val = nil
		}
	}
}

// Steps returns the steps the last evaluation took.
func (ev *Evaluator) Steps() int { return ev.steps }

// Reason returns why the last htmlChecks() call failed ("" when it did not).
func (ev *Evaluator) Reason() string { return ev.reason }

// SetTrace sets a function that trace() calls; nil drops traces.
func (ev *Evaluator) SetTrace(fn func(name string, values []Value)) { ev.trace = fn }

// Eval evaluates e with focus as its input and context (NoNode: an empty
// input) and returns the result, which stays valid until the Doc is parsed
// again.
func (ev *Evaluator) Eval(e *Expr, focus NodeID) ([]Value, error) {
	res, err := ev.run(e, focus)
	if err != nil {
		return nil, err
	}
	out := append([]Value(nil), res...)
	ev.arena = ev.arena[:0]
	return out, nil
}

// EvalAppend is Eval that appends the result to dst, which saves the copy
// when the caller keeps a buffer across evaluations.
func (ev *Evaluator) EvalAppend(dst []Value, e *Expr, focus NodeID) ([]Value, error) {
	res, err := ev.run(e, focus)
	if err != nil {
		return dst, err
	}
	dst = append(dst, res...)
	ev.arena = ev.arena[:0]
	return dst, nil
}

// Truth is the outcome of an invariant: an expression's result read as a
// boolean.
type Truth uint8

// The outcomes of Check.
const (
	Empty Truth = iota // the result is empty: the invariant cannot be decided
	False
	True
)

// Check evaluates e on focus and reads the result as a boolean the way
// invariants are read: a single true or false; empty; anything else is true
// when not empty (a non-boolean singleton), an error when several items.
func (ev *Evaluator) Check(e *Expr, focus NodeID) (Truth, error) {
	res, err := ev.run(e, focus)
	t := Empty
	switch {
	case err != nil:
	case len(res) == 1:
		t = True
		if b, ok := ev.boolOf(&res[0]); ok && !b {
			t = False
		}
	case len(res) > 1:
		t = True
		for k := range res {
			if b, ok := ev.boolOf(&res[k]); !ok || !b {
				t = False
				break
			}
		}
	}
	ev.arena = ev.arena[:0]
	return t, err
}

func (ev *Evaluator) run(e *Expr, focus NodeID) (coll, error) {
	if ev.doc != nil && e.model != ev.doc.model {
		return nil, errors.New("fhirpath: the expression and the document use different models")
	}
	ev.arena = ev.arena[:0]
	ev.steps = 0
	ev.limit = ev.MaxSteps
	if ev.limit <= 0 {
		ev.limit = DefaultMaxSteps
	}
	ev.focus, ev.expr = focus, e
	ev.reason = ""
	if len(ev.cache) < e.nops {
		ev.cache = append(ev.cache, make([]cacheEntry, e.nops-len(ev.cache))...)
	}
	ev.slab, ev.nslab = 0, 0
	ev.root = scope{index: -1}
	if focus != NoNode {
		ev.root.this = ev.push(nodeValue(focus))
	}
	return ev.eval(e.root, nil, &ev.root)
}

type scope struct {
	this     coll
	index    int
	total    coll
	hasTotal bool
}

func (ev *Evaluator) push(v Value) coll {
	ev.arena = append(ev.arena, v)
	n := len(ev.arena)
	return ev.arena[n-1 : n : n]
}

// since returns the values appended to the arena since start.
func (ev *Evaluator) since(start int) coll {
	n := len(ev.arena)
	return ev.arena[start:n:n]
}

func (ev *Evaluator) step(n int) error {
	ev.steps += n
	if ev.steps > ev.limit {
		return ErrTooCostly
	}
	return nil
}

func (ev *Evaluator) eval(o *op, in coll, sc *scope) (coll, error) {
	switch o.kind {
	case oEmpty:
		return nil, nil
	case oLiteral:
		return ev.push(o.lit), nil
	case oThis:
		return sc.this, nil
	case oIndex:
		if sc.index < 0 {
			return nil, nil
		}
		return ev.push(intValue(int64(sc.index))), nil
	case oTotal:
		return sc.total, nil
	case oConst:
		return ev.constant(o)
	case oMember:
		return ev.member(in, o.name)
	case oRootIdent:
		return ev.rootIdent(sc.this, o.name)
	case oFunc:
		if o.rooted {
			in = sc.this
		}
		if err := ev.step(1); err != nil {
			return nil, err
		}
		return o.fn.impl(ev, o, in, sc)
	case oInvoke:
		if c := ev.cached(o); c != nil {
			return c.val, nil
		}
		l, err := ev.eval(o.left, in, sc)
		if err != nil {
			return nil, err
		}
		r, err := ev.eval(o.right, l, sc)
		if err != nil {
			return nil, err
		}
		if o.cacheable && ev.doc != nil {
			ev.remember(o, r)
		}
		return r, nil
	case oIndexer:
		l, err := ev.eval(o.left, in, sc)
		if err != nil {
			return nil, err
		}
		idx, err := ev.eval(o.args[0], nil, sc)
		if err != nil {
			return nil, err
		}
		if len(idx) == 0 {
			return nil, nil
		}
		n, ok := ev.integerOf(idx)
		if !ok {
			return nil, evalErr(o, "an index must be a single Integer")
		}
		if n < 0 || n >= int64(len(l)) {
			return nil, nil
		}
		return l[n : n+1 : n+1], nil
	case oNeg:
		l, err := ev.eval(o.left, in, sc)
		if err != nil || len(l) == 0 {
			return nil, err
		}
		if len(l) > 1 {
			return nil, evalErr(o, "unary - needs a single item")
		}
		v, _ := ev.sys(l[0])
		switch v.kind {
		case KindInteger:
			v.i = -v.i
		case KindDecimal, KindQuantity:
			v.f = -v.f
			if v.f == 0 {
				v.f = 0 // no negative zero
			}
		default:
			return nil, evalErr(o, "unary - applies to numbers and quantities")
		}
		return ev.push(v), nil
	case oBinary:
		if o.cacheable && ev.doc != nil {
			if c := ev.cached(o); c != nil {
				return c.val, nil
			}
			r, err := ev.binary(o, sc)
			if err == nil {
				ev.remember(o, r)
			}
			return r, err
		}
		return ev.binary(o, sc)
	case oCount:
		src := sc.this
		if !o.rooted {
			var err error
			if src, err = ev.eval(o.left, in, sc); err != nil {
				return nil, err
			}
		}
		d := ev.doc
		n, steps := 0, len(src)
		for _, v := range src {
			if !v.IsNode() {
				continue
			}
			if o.typeFilter && ev.typeNamed(v, o.name) {
				n++
				continue
			}
			for c := d.nodes[v.node].first; c != NoNode; c = d.nodes[c].next {
				steps++
				if o.name == "" || d.nodes[c].name() == o.name {
					n++
				}
			}
		}
		if err := ev.step(steps); err != nil {
			return nil, err
		}
		return ev.push(intValue(int64(n))), nil
	case oIs, oAs:
		l, err := ev.eval(o.left, in, sc)
		if err != nil || len(l) == 0 {
			return nil, err
		}
		if len(l) > 1 {
			if o.kind == oAs && o.lenientAs {
				return ev.ofType(l, o.typ), nil
			}
			return nil, evalErr(o, "'%s' needs a single item", map[opKind]string{oIs: "is", oAs: "as"}[o.kind])
		}
		if o.kind == oIs {
			return ev.pushBool((ev.isType(l[0], o.typ))), nil
		}
		return ev.ofType(l, o.typ), nil
	}
	return nil, evalErr(o, "unsupported expression")
}

func (ev *Evaluator) focusOrRoot() NodeID {
	if ev.focus == NoNode {
		return 0
	}
	return ev.focus
}

// remember caches the result of a pure op for the rest of the Doc's
// evaluations with the same %resource and %rootResource.
func (ev *Evaluator) remember(o *op, r coll) {
	if ev.doc.Len() == 0 {
		return
	}
	c := &ev.cache[o.slot]
	c.expr, c.gen = ev.expr, ev.gen
	c.res, c.root = ev.doc.Resource(ev.focusOrRoot()), ev.doc.RootResource(ev.focusOrRoot())
	c.val = append(c.val[:0], r...)
	c.set, c.setTried = nil, false
}

func (ev *Evaluator) constant(o *op) (coll, error) {
	switch o.name {
	case "ucum":
		return ev.push(strValue("http://unitsofmeasure.org")), nil
	case "sct":
		return ev.push(strValue("http://snomed.info/sct")), nil
	case "loinc":
		return ev.push(strValue("http://loinc.org")), nil
	case "context":
		if ev.focus == NoNode {
			return nil, nil
		}
		return ev.push(nodeValue(ev.focus)), nil
	case "resource", "rootResource":
		if ev.doc == nil || ev.doc.Len() == 0 {
			return nil, nil
		}
		n := ev.focusOrRoot()
		if o.name == "resource" {
			return ev.push(nodeValue(ev.doc.Resource(n))), nil
		}
		return ev.push(nodeValue(ev.doc.RootResource(n))), nil
	}
	if rest, ok := strings.CutPrefix(o.name, "vs-"); ok {
		return ev.push(strValue("http://hl7.org/fhir/ValueSet/" + rest)), nil
	}
	if rest, ok := strings.CutPrefix(o.name, "ext-"); ok {
		return ev.push(strValue("http://hl7.org/fhir/StructureDefinition/" + rest)), nil
	}
	return nil, evalErr(o, "unknown external constant %%%s", o.name)
}

// member returns the children called name of every node in in.
func (ev *Evaluator) member(in coll, name string) (coll, error) {
	start := len(ev.arena)
	d := ev.doc
	n := 0
	for _, v := range in {
		if v.kind == kindTypeInfo {
			ns, tn, _ := strings.Cut(v.s, ".")
			switch name {
			case "namespace":
				ev.arena = append(ev.arena, strValue(ns))
			case "name":
				ev.arena = append(ev.arena, strValue(tn))
			}
			continue
		}
		if v.kind != KindNone || v.node == NoNode {
			continue
		}
		for c := d.nodes[v.node].first; c != NoNode; c = d.nodes[c].next {
			n++
			if d.nodes[c].name() == name {
				ev.arena = append(ev.arena, nodeValue(c))
			}
		}
	}
	if err := ev.step(n + len(in)); err != nil {
		return nil, err
	}
	return ev.since(start), nil
}

// rootIdent is a name at the start of a path: each item of $this whose type
// is called name (or derives from a type called name) is kept; other items
// are navigated into.
func (ev *Evaluator) rootIdent(this coll, name string) (coll, error) {
	if len(this) == 1 && this[0].IsNode() && ev.typeNamed(this[0], name) {
		return this, nil
	}
	start := len(ev.arena)
	d := ev.doc
	n := 0
	for _, v := range this {
		if v.IsNode() && ev.typeNamed(v, name) {
			ev.arena = append(ev.arena, v)
			continue
		}
		if v.kind != KindNone || v.node == NoNode {
			continue
		}
		for c := d.nodes[v.node].first; c != NoNode; c = d.nodes[c].next {
			n++
			if d.nodes[c].name() == name {
				ev.arena = append(ev.arena, nodeValue(c))
			}
		}
	}
	if err := ev.step(n + len(this)); err != nil {
		return nil, err
	}
	return ev.since(start), nil
}

func (ev *Evaluator) typeNamed(v Value, name string) bool {
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for t := ev.typeOf(v); t != nil; t = t.Base {
		if t.Name == name {
			return true
		}
	}
	return false
}

func (ev *Evaluator) typeOf(v Value) *Type {
	if v.kind != KindNone {
		return nil
	}
	if v.node == NoNode {
		return v.typ
	}
	return ev.doc.nodes[v.node].typ
}

// isType reports whether v is of type r.
func (ev *Evaluator) isType(v Value, r typeRef) bool {
	if r.nothing {
		return false
	}
	if v.kind == KindNone {
		if r.fhir == nil {
			return false
		}
		t := ev.typeOf(v)
		if t != nil && t.Backbone && r.fhir.Name == "BackboneElement" {
			return true
		}
		return t.Is(r.fhir)
	}
	if r.anySys {
		return true
	}
	if r.fhir != nil {
		return v.kind == KindQuantity && r.fhir.Name == "Quantity"
	}
	return v.kind == r.sys
}

// ofType keeps the items of in that are of type r. As the test suite reads
// as() and ofType(), a FHIR primitive is only of its own type here (a code
// is not a string for them, though "is string" is true).
func (ev *Evaluator) ofType(in coll, r typeRef) coll {
	start := len(ev.arena)
	for _, v := range in {
		if r.fhir != nil && r.fhir.Kind != KindNone && v.kind == KindNone {
			if ev.typeOf(v) == r.fhir {
				ev.arena = append(ev.arena, v)
			}
			continue
		}
		if ev.isType(v, r) {
			ev.arena = append(ev.arena, v)
		}
	}
	return ev.since(start)
}

// sys returns the System value of v: v itself for System values, the value
// of a primitive node, the System Quantity of a Quantity node. ok is false
// for other nodes and for primitives without a value.
func (ev *Evaluator) sys(v Value) (Value, bool) {
	if v.kind != KindNone {
		return v, true
	}
	if v.node == NoNode {
		return v, false
	}
	nd := &ev.doc.nodes[v.node]
	t := nd.typ
	if t == nil {
		return v, false
	}
	if t.Kind == KindNone {
		if isQuantityType(t) {
			return ev.quantityOf(v.node)
		}
		return v, false
	}
	if nd.flags&flagValue == 0 {
		return v, false
	}
	s := ev.doc.String(v.node)
	switch t.Kind {
	case KindBoolean:
		return boolValue(s == "true"), s == "true" || s == "false"
	case KindInteger:
		i, err := strconv.ParseInt(s, 10, 64)
		return intValue(i), err == nil
	case KindDecimal:
		return parseDecimal(s)
	case KindString:
		return strValue(s), true
	case KindDate:
		tm, ok := parseDate(s)
		return Value{kind: KindDate, node: NoNode, t: tm}, ok
	case KindDateTime:
		tm, ok := parseDateTime(s, true)
		return Value{kind: KindDateTime, node: NoNode, t: tm}, ok
	case KindTime:
		tm, ok := parseClock(s, false)
		return Value{kind: KindTime, node: NoNode, t: tm}, ok
	}
	return v, false
}

// quantityOf reads a Quantity node as a System Quantity: its value, and its
// code as the unit when the system is UCUM (else its unit text).
func (ev *Evaluator) quantityOf(n NodeID) (Value, bool) {
	d := ev.doc
	vn := d.Child(n, "value")
	if vn == NoNode || !d.HasValue(vn) {
		return Value{}, false
	}
	num, ok := parseDecimal(d.String(vn))
	if !ok {
		return Value{}, false
	}
	unit := ""
	if c := d.Child(n, "code"); c != NoNode && d.HasValue(c) {
		if s := d.Child(n, "system"); s == NoNode || d.String(s) == "http://unitsofmeasure.org" {
			unit = d.String(c)
		}
	}
	if unit == "" {
		if u := d.Child(n, "unit"); u != NoNode && d.HasValue(u) {
			unit = d.String(u)
		}
	}
	if unit == "" {
		unit = "1"
	}
	q := quantityValue(num, unit)
	if cu, ok := map[string]string{"year": "year", "years": "year", "month": "month", "months": "month"}[unit]; ok && (d.Child(n, "code") == NoNode) {
		q.s, q.cal = cu, true
	}
	return q, true
}

// boolOf reads v as a Boolean (a System Boolean or a FHIR boolean).
func (ev *Evaluator) boolOf(v *Value) (bool, bool) {
	if v.kind == KindBoolean {
		return v.i != 0, true
	}
	return ev.nodeBool(v)
}

func (ev *Evaluator) nodeBool(v *Value) (bool, bool) {
	if v.kind == KindNone && v.node != NoNode {
		if t := ev.doc.nodes[v.node].typ; t != nil && t.Kind == KindBoolean {
			s, ok := ev.sys(*v)
			return s.Bool(), ok
		}
	}
	return false, false
}

func (ev *Evaluator) integerOf(c coll) (int64, bool) {
	if len(c) != 1 {
		return 0, false
	}
	v, ok := ev.sys(c[0])
	if !ok || v.kind != KindInteger {
		return 0, false
	}
	return v.i, true
}

// truth reads a collection as a boolean operand: empty is unknown, a single
// Boolean is itself, any other single item is true, several items are an
// error.
func (ev *Evaluator) truth(o *op, c coll) (Truth, error) {
	switch len(c) {
	case 0:
		return Empty, nil
	case 1:
		if b, ok := ev.boolOf(&c[0]); ok {
			if b {
				return True, nil
			}
			return False, nil
		}
		return True, nil
	}
	return Empty, evalErr(o, "a boolean operand must be a single item, found %d", len(c))
}

func (ev *Evaluator) pushTruth(t Truth) coll {
	switch t {
	case True:
		return ev.trueC
	case False:
		return ev.falseC
	}
	return nil
}

// pushBool returns a collection of one Boolean (shared, read-only: callers
// never write into the collections they get).
func (ev *Evaluator) pushBool(b bool) coll {
	if b {
		return ev.trueC
	}
	return ev.falseC
}

func (ev *Evaluator) binary(o *op, sc *scope) (coll, error) {
	switch o.binop {
	case bAnd, bOr, bImplies:
		l, err := ev.eval(o.left, nil, sc)
		if err != nil {
			return nil, err
		}
		lt, err := ev.truth(o, l)
		if err != nil {
			return nil, err
		}
		// Short cuts that do not need the right operand.
		switch {
		case o.binop == bAnd && lt == False:
			return ev.pushTruth(False), nil
		case o.binop == bOr && lt == True:
			return ev.pushTruth(True), nil
		case o.binop == bImplies && lt == False:
			return ev.pushTruth(True), nil
		}
		r, err := ev.eval(o.right, nil, sc)
		if err != nil {
			return nil, err
		}
		rt, err := ev.truth(o, r)
		if err != nil {
			return nil, err
		}
		switch o.binop {
		case bAnd:
			switch {
			case rt == False:
				return ev.pushTruth(False), nil
			case lt == True && rt == True:
				return ev.pushTruth(True), nil
			}
			return nil, nil
		case bOr:
			switch {
			case rt == True:
				return ev.pushTruth(True), nil
			case lt == False && rt == False:
				return ev.pushTruth(False), nil
			}
			return nil, nil
		default: // implies, lt is True or Empty
			if lt == True {
				return ev.pushTruth(rt), nil
			}
			if rt == True {
				return ev.pushTruth(True), nil
			}
			return nil, nil
		}
	}
	l, err := ev.eval(o.left, nil, sc)
	if err != nil {
		return nil, err
	}
	r, err := ev.eval(o.right, nil, sc)
	if err != nil {
		return nil, err
	}
	switch o.binop {
	case bXor:
		lt, err := ev.truth(o, l)
		if err != nil {
			return nil, err
		}
		rt, err := ev.truth(o, r)
		if err != nil {
			return nil, err
		}
		if lt == Empty || rt == Empty {
			return nil, nil
		}
		return ev.pushTruth(boolTruth(lt != rt)), nil
	case bEq, bNe:
		t, err := ev.collEqual(l, r)
		if err != nil {
			return nil, err
		}
		if o.binop == bNe {
			t = notTruth(t)
		}
		return ev.pushTruth(t), nil
	case bEquiv, bNotEquiv:
		b, err := ev.collEquivalent(l, r)
		if err != nil {
			return nil, err
		}
		if o.binop == bNotEquiv {
			b = !b
		}
		return ev.pushBool((b)), nil
	case bLt, bLe, bGt, bGe:
		if len(l) == 0 || len(r) == 0 {
			return nil, nil
		}
		if len(l) > 1 || len(r) > 1 {
			return nil, evalErr(o, "a comparison needs single items")
		}
		c, ok, err := ev.compare(o, l[0], r[0])
		if err != nil || !ok {
			return nil, err
		}
		var b bool
		switch o.binop {
		case bLt:
			b = c < 0
		case bLe:
			b = c <= 0
		case bGt:
			b = c > 0
		default:
			b = c >= 0
		}
		return ev.pushBool((b)), nil
	case bUnion:
		return ev.distinctInto(o, len(ev.arena), l, r)
	case bIn, bContains:
		item, set, setOp := l, r, o.right
		if o.binop == bContains {
			item, set, setOp = r, l, o.left
		}
		if len(item) == 0 {
			return nil, nil
		}
		if len(item) > 1 {
			return nil, evalErr(o, "'%s' needs a single item", map[binOp]string{bIn: "in", bContains: "contains"}[o.binop])
		}
		if len(set) > 8 {
			// A set that is the same for the whole resource (ref-1's
			// %rootResource.contained.id, dom-3's references) is indexed once.
			if c := ev.cached(setOp); c != nil {
				if m := ev.indexSet(c); m != nil {
					if k, ok := ev.key(item[0]); ok {
						_, found := m[k]
						return ev.pushBool(found), nil
					}
				}
			}
		}
		if err := ev.step(len(set)); err != nil {
			return nil, err
		}
		for _, v := range set {
			if t, _ := ev.itemEqual(item[0], v); t == True {
				return ev.pushBool((true)), nil
			}
		}
		return ev.pushBool((false)), nil
	case bConcat:
		if len(l) > 1 || len(r) > 1 {
			return nil, evalErr(o, "& needs single items")
		}
		var a, b string
		if len(l) == 1 {
			v, ok := ev.sys(l[0])
			if !ok || v.kind != KindString {
				return nil, evalErr(o, "& applies to strings")
			}
			a = v.s
		}
		if len(r) == 1 {
			v, ok := ev.sys(r[0])
			if !ok || v.kind != KindString {
				return nil, evalErr(o, "& applies to strings")
			}
			b = v.s
		}
		return ev.push(strValue(a + b)), nil
	}
	return ev.arith(o, l, r)
}

func boolTruth(b bool) Truth {
	if b {
		return True
	}
	return False
}

func notTruth(t Truth) Truth {
	switch t {
	case True:
		return False
	case False:
		return True
	}
	return Empty
}

// distinctInto appends the items of the collections to the arena from start,
// leaving out items equal to one already there (the union operator).
func (ev *Evaluator) distinctInto(o *op, start int, cs ...coll) (coll, error) {
	total := 0
	for _, c := range cs {
		total += len(c)
	}
	var seen map[valueKey]struct{}
	if total > 16 {
		if ev.union == nil {
			ev.union = make(map[valueKey]struct{}, total)
		}
		seen = ev.union
		clear(seen)
	}
	for _, c := range cs {
	items:
		for _, v := range c {
			if seen != nil {
				if k, ok := ev.key(v); ok {
					if _, dup := seen[k]; dup {
						continue
					}
					seen[k] = struct{}{}
					ev.arena = append(ev.arena, v)
					continue
				}
			}
			out := ev.arena[start:]
			if err := ev.step(len(out)); err != nil {
				return nil, err
			}
			for _, w := range out {
				if t, _ := ev.itemEqual(v, w); t == True {
					continue items
				}
			}
			ev.arena = append(ev.arena, v)
		}
	}
	return ev.since(start), nil
}

// valueKey is what equal items share, for the values whose equality can be
// hashed (strings, booleans, whole numbers, and nodes of those types).
type valueKey struct {
	kind Kind
	s    string
	f    float64
}

// key returns v's hash key; ok is false for values compared pairwise.
func (ev *Evaluator) key(v Value) (valueKey, bool) {
	s, ok := ev.sys(v)
	if !ok {
		return valueKey{}, false
	}
	switch s.kind {
	case KindString:
		return valueKey{kind: KindString, s: s.s}, true
	case KindBoolean:
		return valueKey{kind: KindBoolean, f: float64(s.i)}, true
	case KindInteger:
		return valueKey{kind: KindInteger, f: float64(s.i)}, true
	case KindDecimal:
		if s.f == math.Trunc(s.f) {
			return valueKey{kind: KindInteger, f: s.f}, true
		}
	}
	return valueKey{}, false
}

// indexSet returns the hash index of a cached collection, building it on
// first use; nil when some item cannot be hashed.
func (ev *Evaluator) indexSet(c *cacheEntry) map[valueKey]struct{} {
	if c.set != nil || c.setTried {
		return c.set
	}
	c.setTried = true
	m := c.spare
	if m == nil {
		m = make(map[valueKey]struct{}, len(c.val))
		c.spare = m
	}
	clear(m)
	for _, v := range c.val {
		k, ok := ev.key(v)
		if !ok {
			return nil
		}
		m[k] = struct{}{}
	}
	c.set = m
	return m
}

// collEqual is the = operator on collections.
func (ev *Evaluator) collEqual(l, r coll) (Truth, error) {
	if len(l) == 0 || len(r) == 0 {
		return Empty, nil
	}
	if len(l) != len(r) {
		return False, nil
	}
	if err := ev.step(len(l)); err != nil {
		return Empty, err
	}
	res := True
	for k := range l {
		t, err := ev.itemEqual(l[k], r[k])
		if err != nil {
			return Empty, err
		}
		switch t {
		case False:
			return False, nil
		case Empty:
			res = Empty
		}
	}
	return res, nil
}

// itemEqual is = on two items.
func (ev *Evaluator) itemEqual(a, b Value) (Truth, error) {
	if a.IsNode() && b.IsNode() && a.node == b.node {
		return True, nil
	}
	as, aok := ev.sys(a)
	bs, bok := ev.sys(b)
	if !aok || !bok {
		if a.IsNode() && b.IsNode() && !aok && !bok {
			return boolTruth(ev.deepEqual(a.node, b.node, false)), nil
		}
		return False, nil
	}
	switch {
	case as.kind == KindString && bs.kind == KindString:
		return boolTruth(as.s == bs.s), nil
	case as.kind == KindBoolean && bs.kind == KindBoolean:
		return boolTruth(as.i == bs.i), nil
	case as.kind == KindInteger && bs.kind == KindInteger:
		return boolTruth(as.i == bs.i), nil
	case isNumber(as.kind) && isNumber(bs.kind):
		x, xs := numberOf(as)
		y, ys := numberOf(bs)
		return boolTruth(decEqual(x, xs, y, ys)), nil
	case isDateKind(as.kind) && isDateKind(bs.kind):
		c, ok := compareTemporal(as.t, bs.t, false)
		if !ok {
			return Empty, nil
		}
		return boolTruth(c == 0), nil
	case as.kind == KindTime && bs.kind == KindTime:
		c, ok := compareTemporal(as.t, bs.t, true)
		if !ok {
			return Empty, nil
		}
		return boolTruth(c == 0), nil
	case as.kind == KindQuantity && bs.kind == KindQuantity:
		c, ok := quantityCompare(as, bs)
		if !ok {
			return Empty, nil
		}
		return boolTruth(c == 0), nil
	}
	return False, nil
}

func isNumber(k Kind) bool   { return k == KindInteger || k == KindDecimal }
func isDateKind(k Kind) bool { return k == KindDate || k == KindDateTime }

func numberOf(v Value) (float64, int) {
	if v.kind == KindInteger {
		return float64(v.i), 0
	}
	return v.f, int(v.sc)
}

// deepEqual compares two complex nodes member by member; equiv compares
// strings and numbers as ~ does.
func (ev *Evaluator) deepEqual(a, b NodeID, equiv bool) bool {
	d := ev.doc
	if d.nodes[a].typ != d.nodes[b].typ && !equiv {
		if d.nodes[a].typ == nil || d.nodes[b].typ == nil || d.nodes[a].typ.Name != d.nodes[b].typ.Name {
			return false
		}
	}
	if ev.step(1) != nil {
		return false
	}
	ca, cb := d.nodes[a].first, d.nodes[b].first
	for ca != NoNode && cb != NoNode {
		if d.nodes[ca].name() != d.nodes[cb].name() {
			return false
		}
		x, y := nodeValue(ca), nodeValue(cb)
		if equiv {
			if !ev.itemEquivalent(x, y) {
				return false
			}
		} else if t, _ := ev.itemEqual(x, y); t != True {
			return false
		}
		ca, cb = d.nodes[ca].next, d.nodes[cb].next
	}
	if ca != NoNode || cb != NoNode {
		return false
	}
	// Primitive values.
	if d.HasValue(a) != d.HasValue(b) {
		return false
	}
	return true
}

// collEquivalent is the ~ operator: the same items in any order.
func (ev *Evaluator) collEquivalent(l, r coll) (bool, error) {
	if len(l) != len(r) {
		return false, nil
	}
	if err := ev.step(len(l) * len(r)); err != nil {
		return false, err
	}
	used := make([]bool, len(r))
outer:
	for _, a := range l {
		for k, b := range r {
			if !used[k] && ev.itemEquivalent(a, b) {
				used[k] = true
				continue outer
			}
		}
		return false, nil
	}
	return true, nil
}

func (ev *Evaluator) itemEquivalent(a, b Value) bool {
	as, aok := ev.sys(a)
	bs, bok := ev.sys(b)
	if !aok || !bok {
		if a.IsNode() && b.IsNode() && !aok && !bok {
			return ev.deepEqual(a.node, b.node, true)
		}
		return false
	}
	switch {
	case as.kind == KindString && bs.kind == KindString:
		return normalizeSpace(as.s) == normalizeSpace(bs.s)
	case as.kind == KindBoolean && bs.kind == KindBoolean:
		return as.i == bs.i
	case isNumber(as.kind) && isNumber(bs.kind):
		x, xs := numberOf(as)
		y, ys := numberOf(bs)
		return decEquivalent(x, xs, y, ys)
	case isDateKind(as.kind) && isDateKind(bs.kind):
		c, ok := compareTemporal(as.t, bs.t, false)
		return ok && c == 0
	case as.kind == KindTime && bs.kind == KindTime:
		c, ok := compareTemporal(as.t, bs.t, true)
		return ok && c == 0
	case as.kind == KindQuantity && bs.kind == KindQuantity:
		eq, ok := quantityEquivalent(as, bs)
		return ok && eq
	}
	return false
}

func normalizeSpace(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// compare orders two items for < <= > >=; ok is false when the order is
// unknown (dates of different precisions, quantities of different units).
func (ev *Evaluator) compare(o *op, a, b Value) (int, bool, error) {
	as, aok := ev.sys(a)
	bs, bok := ev.sys(b)
	if !aok || !bok {
		if a.IsNode() && !aok || b.IsNode() && !bok {
			// A primitive without a value, or a complex node: nothing to compare.
			if ev.primitiveNoValue(a) || ev.primitiveNoValue(b) {
				return 0, false, nil
			}
		}
		return 0, false, evalErr(o, "these values cannot be compared")
	}
	switch {
	case as.kind == KindInteger && bs.kind == KindInteger:
		switch {
		case as.i < bs.i:
			return -1, true, nil
		case as.i > bs.i:
			return 1, true, nil
		}
		return 0, true, nil
	case isNumber(as.kind) && isNumber(bs.kind):
		x, xs := numberOf(as)
		y, ys := numberOf(bs)
		return decCompare(x, xs, y, ys), true, nil
	case as.kind == KindString && bs.kind == KindString:
		return strings.Compare(as.s, bs.s), true, nil
	case isDateKind(as.kind) && isDateKind(bs.kind):
		c, ok := compareTemporal(as.t, bs.t, false)
		return c, ok, nil
	case as.kind == KindTime && bs.kind == KindTime:
		c, ok := compareTemporal(as.t, bs.t, true)
		return c, ok, nil
	case as.kind == KindQuantity && bs.kind == KindQuantity:
		c, ok := quantityCompare(as, bs)
		return c, ok, nil
	}
	return 0, false, evalErr(o, "a %s cannot be compared with a %s", as.kind, bs.kind)
}

func (ev *Evaluator) primitiveNoValue(v Value) bool {
	if !v.IsNode() {
		return false
	}
	t := ev.doc.nodes[v.node].typ
	return t != nil && (t.Kind != KindNone || isQuantityType(t))
}

func (ev *Evaluator) arith(o *op, l, r coll) (coll, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, evalErr(o, "arithmetic needs single items")
	}
	a, aok := ev.sys(l[0])
	b, bok := ev.sys(r[0])
	if !aok || !bok {
		return nil, nil
	}
	switch o.binop {
	case bAdd, bSub:
		sign := 1
		if o.binop == bSub {
			sign = -1
		}
		switch {
		case a.kind == KindInteger && b.kind == KindInteger:
			return ev.push(intValue(a.i + int64(sign)*b.i)), nil
		case isNumber(a.kind) && isNumber(b.kind):
			x, xs := numberOf(a)
			y, ys := numberOf(b)
			s := max(xs, ys)
			return ev.push(decValue(roundTo(x+float64(sign)*y, s), s)), nil
		case a.kind == KindString && b.kind == KindString && sign == 1:
			return ev.push(strValue(a.s + b.s)), nil
		case (isDateKind(a.kind) || a.kind == KindTime) && b.kind == KindQuantity:
			t, err := addDuration(a.t, a.kind, b, sign)
			if err != nil {
				return nil, evalErr(o, "%v", err)
			}
			a.t = t
			return ev.push(a), nil
		case a.kind == KindQuantity && b.kind == KindQuantity:
			q, ok := quantityAdd(a, b, float64(sign))
			if !ok {
				return nil, nil
			}
			return ev.push(q), nil
		}
	case bMul:
		switch {
		case a.kind == KindInteger && b.kind == KindInteger:
			return ev.push(intValue(a.i * b.i)), nil
		case isNumber(a.kind) && isNumber(b.kind):
			x, xs := numberOf(a)
			y, ys := numberOf(b)
			s := min(xs+ys, 15)
			return ev.push(decValue(roundTo(x*y, s), s)), nil
		case a.kind == KindQuantity && b.kind == KindQuantity:
			q, ok := quantityMul(a, b, false)
			if !ok {
				return nil, nil
			}
			return ev.push(q), nil
		case a.kind == KindQuantity && isNumber(b.kind):
			y, ys := numberOf(b)
			a.f, a.sc = a.f*y, a.sc+int16(ys)
			return ev.push(a), nil
		}
	case bDiv:
		switch {
		case isNumber(a.kind) && isNumber(b.kind):
			x, _ := numberOf(a)
			y, _ := numberOf(b)
			if y == 0 {
				return nil, nil
			}
			return ev.push(decValue(roundTo(x/y, 8), 8)), nil
		case a.kind == KindQuantity && b.kind == KindQuantity:
			q, ok := quantityMul(a, b, true)
			if !ok {
				return nil, nil
			}
			return ev.push(q), nil
		case a.kind == KindQuantity && isNumber(b.kind):
			y, _ := numberOf(b)
			if y == 0 {
				return nil, nil
			}
			a.f, a.sc = roundTo(a.f/y, 8), 8
			return ev.push(a), nil
		}
	case bIntDiv, bMod:
		if !isNumber(a.kind) || !isNumber(b.kind) {
			break
		}
		if a.kind == KindInteger && b.kind == KindInteger {
			if b.i == 0 {
				return nil, nil
			}
			if o.binop == bIntDiv {
				return ev.push(intValue(a.i / b.i)), nil
			}
			return ev.push(intValue(a.i % b.i)), nil
		}
		x, xs := numberOf(a)
		y, ys := numberOf(b)
		if y == 0 {
			return nil, nil
		}
		if o.binop == bIntDiv {
			return ev.push(intValue(int64(math.Trunc(x / y)))), nil
		}
		s := max(xs, ys)
		return ev.push(decValue(roundTo(math.Mod(x, y), s), s)), nil
	}
	return nil, evalErr(o, "operator not defined for %s and %s", a.kind, b.kind)
}
