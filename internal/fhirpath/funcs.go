package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"github.com/fhirlake/fhirlake/internal/jsonscan"
	"html"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// funcDef is a function of the language.
type funcDef struct {
	min, max int
	lambda   uint8 // bit k: argument k is evaluated once per input item, with $this the item
	typeArg  bool  // the argument is a type specifier
	strIn    bool  // the input must be a string (checked statically)
	result   func(in stype, args []stype) stype
	impl     func(ev *Evaluator, o *op, in coll, sc *scope) (coll, error)
}

func resultOf(k Kind) func(stype, []stype) stype {
	t := sysType(k)
	return func(stype, []stype) stype { return t }
}

func sameAsInput(in stype, _ []stype) stype { return in }

var functions map[string]*funcDef

func init() {
	b, s, i, d := resultOf(KindBoolean), resultOf(KindString), resultOf(KindInteger), resultOf(KindDecimal)
	unk := func(stype, []stype) stype { return unknownType }
	functions = map[string]*funcDef{
		// Existence.
		"empty":      {0, 0, 0, false, false, b, fnEmpty},
		"exists":     {0, 1, 1, false, false, b, fnExists},
		"all":        {1, 1, 1, false, false, b, fnAll},
		"allTrue":    {0, 0, 0, false, false, b, fnBoolAgg},
		"anyTrue":    {0, 0, 0, false, false, b, fnBoolAgg},
		"allFalse":   {0, 0, 0, false, false, b, fnBoolAgg},
		"anyFalse":   {0, 0, 0, false, false, b, fnBoolAgg},
		"subsetOf":   {1, 1, 0, false, false, b, fnSubset},
		"supersetOf": {1, 1, 0, false, false, b, fnSubset},
		"count":      {0, 0, 0, false, false, i, fnCount},
		"distinct":   {0, 0, 0, false, false, sameAsInput, fnDistinct},
		"isDistinct": {0, 0, 0, false, false, b, fnIsDistinct},
		// Filtering and projection.
		"where":  {1, 1, 1, false, false, sameAsInput, fnWhere},
		"select": {1, 1, 1, false, false, func(_ stype, a []stype) stype { return a[0] }, fnSelect},
		"repeat": {1, 1, 1, false, false, unk, fnRepeat},
		"ofType": {1, 1, 0, true, false, nil, fnOfType},
		// Subsetting.
		"single":    {0, 0, 0, false, false, sameAsInput, fnSingle},
		"first":     {0, 0, 0, false, false, sameAsInput, fnFirst},
		"last":      {0, 0, 0, false, false, sameAsInput, fnLast},
		"tail":      {0, 0, 0, false, false, sameAsInput, fnTail},
		"skip":      {1, 1, 0, false, false, sameAsInput, fnSkipTake},
		"take":      {1, 1, 0, false, false, sameAsInput, fnSkipTake},
		"intersect": {1, 1, 0, false, false, sameAsInput, fnIntersect},
		"exclude":   {1, 1, 0, false, false, sameAsInput, fnExclude},
		// Combining.
		"union":   {1, 1, 0, false, false, unionType, fnUnion},
		"combine": {1, 1, 0, false, false, unionType, fnCombine},
		// Conversion.
		"iif":                {2, 3, 0b111, false, false, iifType, fnIif},
		"toBoolean":          {0, 0, 0, false, false, b, fnConvert},
		"convertsToBoolean":  {0, 0, 0, false, false, b, fnConvert},
		"toInteger":          {0, 0, 0, false, false, i, fnConvert},
		"convertsToInteger":  {0, 0, 0, false, false, b, fnConvert},
		"toDecimal":          {0, 0, 0, false, false, d, fnConvert},
		"convertsToDecimal":  {0, 0, 0, false, false, b, fnConvert},
		"toString":           {0, 0, 0, false, false, s, fnConvert},
		"convertsToString":   {0, 0, 0, false, false, b, fnConvert},
		"toDate":             {0, 0, 0, false, false, resultOf(KindDate), fnConvert},
		"convertsToDate":     {0, 0, 0, false, false, b, fnConvert},
		"toDateTime":         {0, 0, 0, false, false, resultOf(KindDateTime), fnConvert},
		"convertsToDateTime": {0, 0, 0, false, false, b, fnConvert},
		"toTime":             {0, 0, 0, false, false, resultOf(KindTime), fnConvert},
		"convertsToTime":     {0, 0, 0, false, false, b, fnConvert},
		"toQuantity":         {0, 1, 0, false, false, resultOf(KindQuantity), fnConvert},
		"convertsToQuantity": {0, 1, 0, false, false, b, fnConvert},
		// Strings.
		"indexOf":        {1, 1, 0, false, true, i, fnString},
		"substring":      {1, 2, 0, false, true, s, fnString},
		"startsWith":     {1, 1, 0, false, true, b, fnString},
		"endsWith":       {1, 1, 0, false, true, b, fnString},
		"contains":       {1, 1, 0, false, true, b, fnString},
		"upper":          {0, 0, 0, false, true, s, fnString},
		"lower":          {0, 0, 0, false, true, s, fnString},
		"replace":        {2, 2, 0, false, true, s, fnString},
		"matches":        {1, 1, 0, false, true, b, fnString},
		"matchesFull":    {1, 1, 0, false, true, b, fnString},
		"replaceMatches": {2, 2, 0, false, true, s, fnString},
		"length":         {0, 0, 0, false, true, i, fnString},
		"toChars":        {0, 0, 0, false, true, s, fnString},
		"trim":           {0, 0, 0, false, true, s, fnString},
		"split":          {1, 1, 0, false, true, s, fnString},
		"encode":         {1, 1, 0, false, true, s, fnString},
		"decode":         {1, 1, 0, false, true, s, fnString},
		"escape":         {1, 1, 0, false, true, s, fnString},
		"unescape":       {1, 1, 0, false, true, s, fnString},
		"join":           {0, 1, 0, false, false, s, fnJoin},
		// Math.
		"abs":      {0, 0, 0, false, false, sameAsInput, fnMath},
		"ceiling":  {0, 0, 0, false, false, i, fnMath},
		"exp":      {0, 0, 0, false, false, d, fnMath},
		"floor":    {0, 0, 0, false, false, i, fnMath},
		"ln":       {0, 0, 0, false, false, d, fnMath},
		"log":      {1, 1, 0, false, false, d, fnMath},
		"power":    {1, 1, 0, false, false, unk, fnMath},
		"round":    {0, 1, 0, false, false, d, fnMath},
		"sqrt":     {0, 0, 0, false, false, d, fnMath},
		"truncate": {0, 0, 0, false, false, i, fnMath},
		// Tree navigation.
		"children":    {0, 0, 0, false, false, unk, fnChildren},
		"descendants": {0, 0, 0, false, false, unk, fnDescendants},
		// Utility.
		"trace":     {1, 2, 0b10, false, false, sameAsInput, fnTrace},
		"now":       {0, 0, 0, false, false, resultOf(KindDateTime), fnNow},
		"today":     {0, 0, 0, false, false, resultOf(KindDate), fnNow},
		"timeOfDay": {0, 0, 0, false, false, resultOf(KindTime), fnNow},
		"not":       {0, 0, 0, false, false, b, fnNot},
		"aggregate": {1, 2, 0b1, false, false, unk, fnAggregate},
		"sort":      {0, 8, 0xff, false, false, sameAsInput, fnSort},
		// Types.
		"is":   {1, 1, 0, true, false, b, fnIs},
		"as":   {1, 1, 0, true, false, nil, fnAs},
		"type": {0, 0, 0, false, false, unk, fnType},
		// FHIRPath 2.1 functions the R4 test suite uses.
		"lowBoundary":  {0, 1, 0, false, false, sameAsInput, fnBoundary},
		"highBoundary": {0, 1, 0, false, false, sameAsInput, fnBoundary},
		"precision":    {0, 0, 0, false, false, i, fnPrecision},
		"comparable":   {1, 1, 0, false, false, b, fnComparable},
		// FHIR additions.
		"extension":  {1, 1, 0, false, false, extensionType, fnExtension},
		"hasValue":   {0, 0, 0, false, false, b, fnHasValue},
		"getValue":   {0, 0, 0, false, false, unk, fnGetValue},
		"resolve":    {0, 0, 0, false, false, unk, fnResolve},
		"htmlChecks": {0, 0, 0, false, false, b, fnHTMLChecks},
		"conformsTo": {1, 1, 0, false, false, b, fnConformsTo},
		"memberOf":   {1, 1, 0, false, false, b, fnMemberOf},
	}
}

func unionType(in stype, a []stype) stype {
	if in.known && a[0].known {
		return known(append(append([]typeRef(nil), in.types...), a[0].types...)...)
	}
	return unknownType
}

func iifType(_ stype, a []stype) stype {
	if len(a) == 3 && a[1].known && a[2].known {
		return known(append(append([]typeRef(nil), a[1].types...), a[2].types...)...)
	}
	if len(a) == 2 {
		return a[1]
	}
	return unknownType
}

func extensionType(stype, []stype) stype { return unknownType }

// function compiles a function call.
func (c *compiler) function(a *ast, input *stype, sc *cscope) (*op, stype, error) {
	if a.op == "$badTime" {
		return nil, unknownType, semErr(a.pos, "a time literal cannot have a time zone: @T%s", a.name)
	}
	fd := functions[a.op]
	if fd == nil {
		return nil, unknownType, semErr(a.pos, "unknown function %s()", a.op)
	}
	if len(a.args) < fd.min || len(a.args) > fd.max {
		return nil, unknownType, semErr(a.pos, "%s() takes %d to %d arguments, not %d", a.op, fd.min, fd.max, len(a.args))
	}
	o := c.newOp(oFunc, a.pos)
	o.name, o.fn, o.hasFunc = a.op, fd, true
	o.lenientAs = c.opts.LenientAs
	in := sc.this
	if input != nil {
		in = *input
	} else {
		o.rooted = true
		o.deps = sc.thisDep()
	}
	switch a.op {
	case "first", "last", "tail", "skip", "take", "single":
		if c.opts.CheckOrdered && in.unordered {
			return nil, unknownType, semErr(a.pos, "%s() needs an ordered collection; children() and descendants() are not", a.op)
		}
	}
	if fd.strIn && in.known && len(in.types) > 0 && in.none(KindString) {
		return nil, unknownType, semErr(a.pos, "%s() applies to strings, not %s", a.op, typesText(in))
	}
	if fd.typeArg {
		name, ok := typeName(a.args[0])
		if !ok {
			return nil, unknownType, semErr(a.pos, "%s() needs a type name", a.op)
		}
		ref, ok := c.m.resolveType(name)
		if !ok {
			return nil, unknownType, semErr(a.pos, "unknown type %s", name)
		}
		o.typ = ref
		st := known(ref)
		if a.op == "is" {
			st = sysType(KindBoolean)
		}
		return o, st, nil
	}
	argTypes := make([]stype, len(a.args))
	for k, arg := range a.args {
		asc := sc
		lambda := fd.lambda&(1<<k) != 0
		if lambda {
			asc = &cscope{this: in, inLambda: true}
		}
		ao, at, err := c.compile(arg, nil, asc)
		if err != nil {
			return nil, unknownType, err
		}
		o.args = append(o.args, ao)
		argTypes[k] = at
		if lambda {
			o.deps |= ao.deps &^ depLambda
		} else {
			o.deps |= ao.deps
		}
		if a.op == "matches" || a.op == "matchesFull" || a.op == "replaceMatches" {
			if k == 0 && ao.kind == oLiteral && ao.lit.kind == KindString {
				// Check the pattern now; compile it on first use (RE2 compiles
				// bounded repeats such as {1,64} slowly, and most constraints
				// with patterns never run).
				if _, err := syntax.Parse("(?s)"+ao.lit.s, syntax.Perl); err != nil {
					return nil, unknownType, semErr(a.pos, "bad regular expression %q: %v", ao.lit.s, err)
				}
				o.re = &lazyRegex{pattern: ao.lit.s, full: a.op == "matchesFull"}
			}
		}
	}
	if a.op == "iif" && argTypes[0].known && len(argTypes[0].types) > 0 && argTypes[0].none(KindBoolean) {
		return nil, unknownType, semErr(a.pos, "the criterion of iif() must be a Boolean")
	}
	st := unknownType
	if fd.result != nil {
		st = fd.result(in, argTypes)
	}
	if a.op == "children" || a.op == "descendants" {
		st.unordered = true
	}
	return o, st, nil
}

// typeName reads a type specifier argument: Name or Namespace.Name.
func typeName(a *ast) (string, bool) {
	switch a.kind {
	case aIdent:
		return a.name, true
	case aInvoke:
		l, ok := typeName(a.left)
		if !ok || a.right.kind != aIdent {
			return "", false
		}
		return l + "." + a.right.name, true
	}
	return "", false
}

// lazyRegex is a constant pattern argument, compiled on first use and then
// shared by every evaluation.
type lazyRegex struct {
	pattern string
	full    bool
	once    sync.Once
	re      *regexp.Regexp
}

func (l *lazyRegex) get() *regexp.Regexp {
	l.once.Do(func() { l.re, _ = compileRegex(l.pattern, l.full) })
	return l.re
}

func compileRegex(pattern string, full bool) (*regexp.Regexp, error) {
	if full {
		pattern = "^(?:" + pattern + ")$"
	}
	return regexp.Compile("(?s)" + pattern)
}

// Helpers for function bodies.

// lambda evaluates a per-item argument with $this = item.
func (ev *Evaluator) lambda(arg *op, item Value, index int, sc *scope) (coll, error) {
	ns, sl := ev.nslab, ev.slab
	r, err := ev.eval(arg, nil, ev.newScope(ev.push(item), index, sc.total, sc.hasTotal))
	ev.nslab, ev.slab = ns, sl
	return r, err
}

// arg evaluates a plain argument in the caller's scope.
func (ev *Evaluator) arg(o *op, k int, sc *scope) (coll, error) {
	return ev.eval(o.args[k], nil, sc)
}

// single returns the only item of c; ok is false for empty; an error for more.
func single(o *op, c coll) (Value, bool, error) {
	switch len(c) {
	case 0:
		return Value{}, false, nil
	case 1:
		return c[0], true, nil
	}
	return Value{}, false, evalErr(o, "%s() needs a single item, found %d", o.name, len(c))
}

// stringArg evaluates argument k to a single string; ok is false when empty.
func (ev *Evaluator) stringArg(o *op, k int, sc *scope) (string, bool, error) {
	c, err := ev.arg(o, k, sc)
	if err != nil {
		return "", false, err
	}
	v, ok, err := single(o, c)
	if err != nil || !ok {
		return "", false, err
	}
	s, ok := ev.sys(v)
	if !ok || s.kind != KindString {
		return "", false, evalErr(o, "%s() needs a string argument", o.name)
	}
	return s.s, true, nil
}

func (ev *Evaluator) intArg(o *op, k int, sc *scope) (int64, bool, error) {
	c, err := ev.arg(o, k, sc)
	if err != nil || len(c) == 0 {
		return 0, false, err
	}
	n, ok := ev.integerOf(c)
	if !ok {
		return 0, false, evalErr(o, "%s() needs an integer argument", o.name)
	}
	return n, true, nil
}

// Existence.

func fnEmpty(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	return ev.pushBool((len(in) == 0)), nil
}

func fnExists(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(o.args) == 0 {
		return ev.pushBool((len(in) > 0)), nil
	}
	mark := len(ev.arena)
	for k, v := range in {
		r, err := ev.lambda(o.args[0], v, k, sc)
		if err != nil {
			return nil, err
		}
		t, err := ev.truth(o, r)
		ev.arena = ev.arena[:mark]
		if err != nil {
			return nil, err
		}
		if t == True {
			return ev.pushBool((true)), nil
		}
	}
	return ev.pushBool((false)), nil
}

func fnAll(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	mark := len(ev.arena)
	for k, v := range in {
		r, err := ev.lambda(o.args[0], v, k, sc)
		if err != nil {
			return nil, err
		}
		t, err := ev.truth(o, r)
		ev.arena = ev.arena[:mark]
		if err != nil {
			return nil, err
		}
		if t != True {
			return ev.pushBool((false)), nil
		}
	}
	return ev.pushBool((true)), nil
}

func fnBoolAgg(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	want := strings.HasSuffix(o.name, "True")
	anyOf := strings.HasPrefix(o.name, "any")
	for k := range in {
		b, ok := ev.boolOf(&in[k])
		if !ok {
			return nil, evalErr(o, "%s() applies to booleans", o.name)
		}
		if anyOf && b == want {
			return ev.pushBool((true)), nil
		}
		if !anyOf && b != want {
			return ev.pushBool((false)), nil
		}
	}
	return ev.pushBool((!anyOf)), nil
}

func (ev *Evaluator) contains(set coll, v Value) (bool, error) {
	if err := ev.step(len(set)); err != nil {
		return false, err
	}
	for _, w := range set {
		if t, _ := ev.itemEqual(v, w); t == True {
			return true, nil
		}
	}
	return false, nil
}

func fnSubset(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	other, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	sub, super := in, other
	if o.name == "supersetOf" {
		sub, super = other, in
	}
	for _, v := range sub {
		ok, err := ev.contains(super, v)
		if err != nil {
			return nil, err
		}
		if !ok {
			return ev.pushBool((false)), nil
		}
	}
	return ev.pushBool((true)), nil
}

func fnCount(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	return ev.push(intValue(int64(len(in)))), nil
}

func fnDistinct(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	return ev.distinctInto(o, len(ev.arena), in)
}

func fnIsDistinct(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	mark := len(ev.arena)
	d, err := ev.distinctInto(o, mark, in)
	if err != nil {
		return nil, err
	}
	n := len(d)
	ev.arena = ev.arena[:mark]
	return ev.pushBool((n == len(in))), nil
}

// Filtering and projection.

func fnWhere(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	for k, v := range in {
		mark := len(ev.arena)
		r, err := ev.lambda(o.args[0], v, k, sc)
		if err != nil {
			return nil, err
		}
		t, err := ev.truth(o, r)
		ev.arena = ev.arena[:mark]
		if err != nil {
			return nil, err
		}
		if t == True {
			ev.arena = append(ev.arena, v)
		}
	}
	return ev.since(start), nil
}

func fnSelect(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	for k, v := range in {
		mark := len(ev.arena)
		r, err := ev.lambda(o.args[0], v, k, sc)
		if err != nil {
			return nil, err
		}
		ev.arena = append(ev.arena[:mark], r...)
	}
	return ev.since(start), nil
}

func fnRepeat(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	var out []Value
	queue := append([]Value(nil), in...)
	for len(queue) > 0 {
		var next []Value
		for k, v := range queue {
			mark := len(ev.arena)
			r, err := ev.lambda(o.args[0], v, k, sc)
			if err != nil {
				return nil, err
			}
			for _, w := range r {
				dup := false
				if err := ev.step(1); err != nil {
					return nil, err
				}
				if w.IsNode() {
					for _, x := range out {
						if x.IsNode() && x.node == w.node {
							dup = true
							break
						}
					}
				} else {
					dup, err = ev.contains(out, w)
					if err != nil {
						return nil, err
					}
				}
				if !dup {
					out = append(out, w)
					next = append(next, w)
				}
			}
			ev.arena = ev.arena[:mark]
		}
		queue = next
	}
	start := len(ev.arena)
	ev.arena = append(ev.arena, out...)
	return ev.since(start), nil
}

func fnOfType(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	return ev.ofType(in, o.typ), nil
}

// Subsetting.

func fnSingle(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) > 1 {
		return nil, evalErr(o, "single() on %d items", len(in))
	}
	return in, nil
}

func fnFirst(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) == 0 {
		return nil, nil
	}
	return in[:1:1], nil
}

func fnLast(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) == 0 {
		return nil, nil
	}
	return in[len(in)-1:], nil
}

func fnTail(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) <= 1 {
		return nil, nil
	}
	return in[1:], nil
}

func fnSkipTake(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	n, ok, err := ev.intArg(o, 0, sc)
	if err != nil || !ok {
		return nil, err
	}
	if n < 0 {
		n = 0
	}
	if n > int64(len(in)) {
		n = int64(len(in))
	}
	if o.name == "skip" {
		return in[n:], nil
	}
	return in[:n:n], nil
}

func fnIntersect(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	other, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	start := len(ev.arena)
	for _, v := range in {
		ok, err := ev.contains(other, v)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if dup, err := ev.contains(ev.arena[start:], v); err != nil {
			return nil, err
		} else if !dup {
			ev.arena = append(ev.arena, v)
		}
	}
	return ev.since(start), nil
}

func fnExclude(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	other, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	start := len(ev.arena)
	for _, v := range in {
		ok, err := ev.contains(other, v)
		if err != nil {
			return nil, err
		}
		if !ok {
			ev.arena = append(ev.arena, v)
		}
	}
	return ev.since(start), nil
}

func fnUnion(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	other, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	return ev.distinctInto(o, len(ev.arena), in, other)
}

func fnCombine(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	other, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	start := len(ev.arena)
	ev.arena = append(ev.arena, in...)
	ev.arena = append(ev.arena, other...)
	return ev.since(start), nil
}

// Conversion.

func fnIif(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	inner := sc
	if !o.rooted {
		// X.iif(...): the arguments are read on X, even when it is empty
		// (ctm-1: member.resolve().iif(empty(), true, ...)).
		if len(in) > 1 {
			return nil, evalErr(o, "iif() on %d items", len(in))
		}
		inner = ev.newScope(in, sc.index, sc.total, sc.hasTotal)
	}
	crit, err := ev.eval(o.args[0], nil, inner)
	if err != nil {
		return nil, err
	}
	if len(crit) > 1 {
		return nil, evalErr(o, "the criterion of iif() must be a single Boolean")
	}
	t, err := ev.truth(o, crit)
	if err != nil {
		return nil, err
	}
	if len(crit) == 1 {
		if _, ok := ev.boolOf(&crit[0]); !ok {
			return nil, evalErr(o, "the criterion of iif() must be a Boolean")
		}
	}
	if t == True {
		return ev.eval(o.args[1], nil, inner)
	}
	if len(o.args) == 3 {
		return ev.eval(o.args[2], nil, inner)
	}
	return nil, nil
}

func fnConvert(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	s, ok := ev.sys(v)
	checking := strings.HasPrefix(o.name, "convertsTo")
	target := strings.TrimPrefix(strings.TrimPrefix(o.name, "convertsTo"), "to")
	var out Value
	if ok {
		var unit string
		hasUnit := false
		if target == "Quantity" && len(o.args) == 1 {
			u, got, err := ev.stringArg(o, 0, sc)
			if err != nil {
				return nil, err
			}
			unit, hasUnit = u, got
		}
		out, ok = convert(s, target)
		if ok && hasUnit && out.s != unit {
			if c, comparable := quantityCompare(out, Value{kind: KindQuantity, s: unit, f: 1}); comparable {
				_ = c
				_, ua, _ := canonical(out)
				_, ub, _ := canonical(Value{kind: KindQuantity, s: unit, f: 1})
				out.f = out.f * ua.factor / ub.factor
				out.s = unit
			} else {
				ok = false
			}
		}
	}
	if checking {
		return ev.pushBool((ok)), nil
	}
	if !ok {
		return nil, nil
	}
	return ev.push(out), nil
}

var quantityText = regexp.MustCompile(`^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']*)'|(\w+))?$`)

// convert is the toX() conversions; ok is false when v does not convert.
func convert(v Value, target string) (Value, bool) {
	switch target {
	case "Boolean":
		switch v.kind {
		case KindBoolean:
			return v, true
		case KindInteger:
			if v.i == 0 || v.i == 1 {
				return boolValue(v.i == 1), true
			}
		case KindDecimal:
			if v.f == 0 || v.f == 1 {
				return boolValue(v.f == 1), true
			}
		case KindString:
			switch strings.ToLower(v.s) {
			case "true", "t", "yes", "y", "1", "1.0":
				return boolValue(true), true
			case "false", "f", "no", "n", "0", "0.0":
				return boolValue(false), true
			}
		}
	case "Integer":
		switch v.kind {
		case KindInteger:
			return v, true
		case KindBoolean:
			return intValue(v.i), true
		case KindString:
			if n, err := strconv.ParseInt(v.s, 10, 32); err == nil && !strings.HasPrefix(v.s, "+") {
				return intValue(n), true
			}
		}
	case "Decimal":
		switch v.kind {
		case KindDecimal:
			return v, true
		case KindInteger:
			return decValue(float64(v.i), 0), true
		case KindBoolean:
			return decValue(float64(v.i), 0), true
		case KindString:
			if d, ok := parseDecimal(v.s); ok && !strings.ContainsAny(v.s, "eE") {
				return d, true
			}
		}
	case "String":
		switch v.kind {
		case KindString:
			return v, true
		case KindBoolean, KindInteger, KindDecimal, KindDate, KindDateTime, KindTime, KindQuantity:
			return strValue(v.toStringValue()), true
		}
	case "Date":
		switch v.kind {
		case KindDate:
			return v, true
		case KindDateTime:
			t := v.t
			t.prec = min(t.prec, precDay)
			return Value{kind: KindDate, node: NoNode, t: t}, true
		case KindString:
			if t, ok := parseDate(v.s); ok {
				return Value{kind: KindDate, node: NoNode, t: t}, true
			}
		}
	case "DateTime":
		switch v.kind {
		case KindDateTime:
			return v, true
		case KindDate:
			return Value{kind: KindDateTime, node: NoNode, t: v.t}, true
		case KindString:
			if t, ok := parseDateTime(v.s, true); ok {
				return Value{kind: KindDateTime, node: NoNode, t: t}, true
			}
		}
	case "Time":
		switch v.kind {
		case KindTime:
			return v, true
		case KindString:
			if t, ok := parseClock(v.s, false); ok {
				return Value{kind: KindTime, node: NoNode, t: t}, true
			}
		}
	case "Quantity":
		switch v.kind {
		case KindQuantity:
			return v, true
		case KindInteger, KindDecimal:
			return quantityValue(v, "1"), true
		case KindBoolean:
			return quantityValue(decValue(float64(v.i), 1), "1"), true
		case KindString:
			m := quantityText.FindStringSubmatch(strings.TrimSpace(v.s))
			if m == nil {
				return Value{}, false
			}
			num, err := numberLiteral(strings.TrimPrefix(m[1], "+"))
			if err != nil {
				return Value{}, false
			}
			switch {
			case m[2] != "":
				return quantityValue(num, m[2]), true
			case m[3] != "":
				cu, ok := calendarUnits[m[3]]
				if !ok {
					return Value{}, false
				}
				q := quantityValue(num, cu)
				q.cal = true
				return q, true
			}
			return quantityValue(num, "1"), true
		}
	}
	return Value{}, false
}

// Strings.

func fnString(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	sv, ok := ev.sys(v)
	if !ok || sv.kind != KindString {
		return nil, evalErr(o, "%s() applies to strings", o.name)
	}
	s := sv.s
	switch o.name {
	case "length":
		return ev.push(intValue(int64(utf8.RuneCountInString(s)))), nil
	case "upper":
		return ev.push(strValue(strings.ToUpper(s))), nil
	case "lower":
		return ev.push(strValue(strings.ToLower(s))), nil
	case "trim":
		return ev.push(strValue(strings.TrimSpace(s))), nil
	case "toChars":
		start := len(ev.arena)
		for _, r := range s {
			ev.arena = append(ev.arena, strValue(string(r)))
		}
		return ev.since(start), nil
	case "substring":
		startIdx, ok, err := ev.intArg(o, 0, sc)
		if err != nil || !ok {
			return nil, err
		}
		rs := []rune(s)
		if startIdx < 0 || startIdx >= int64(len(rs)) {
			return nil, nil
		}
		end := int64(len(rs))
		if len(o.args) == 2 {
			n, ok, err := ev.intArg(o, 1, sc)
			if err != nil {
				return nil, err
			}
			if ok {
				end = min(end, startIdx+max(n, 0))
			}
		}
		return ev.push(strValue(string(rs[startIdx:end]))), nil
	case "matches", "matchesFull":
		var re *regexp.Regexp
		if o.re != nil {
			re = o.re.get()
		} else {
			p, ok, err := ev.stringArg(o, 0, sc)
			if err != nil || !ok {
				return nil, err
			}
			if re, err = compileRegex(p, o.name == "matchesFull"); err != nil {
				return nil, evalErr(o, "bad regular expression %q", p)
			}
		}
		if re == nil {
			return nil, evalErr(o, "bad regular expression")
		}
		return ev.pushBool((re.MatchString(s))), nil
	case "replaceMatches":
		p, ok, err := ev.stringArg(o, 0, sc)
		if err != nil || !ok {
			return nil, err
		}
		sub, ok, err := ev.stringArg(o, 1, sc)
		if err != nil || !ok {
			return nil, err
		}
		if p == "" {
			return ev.push(strValue(s)), nil
		}
		var re *regexp.Regexp
		if o.re != nil {
			re = o.re.get()
		} else if re, err = compileRegex(p, false); err != nil {
			return nil, evalErr(o, "bad regular expression %q", p)
		}
		if re == nil {
			return nil, evalErr(o, "bad regular expression %q", p)
		}
		return ev.push(strValue(re.ReplaceAllString(s, sub))), nil
	case "replace":
		p, ok, err := ev.stringArg(o, 0, sc)
		if err != nil || !ok {
			return nil, err
		}
		sub, ok, err := ev.stringArg(o, 1, sc)
		if err != nil || !ok {
			return nil, err
		}
		return ev.push(strValue(strings.ReplaceAll(s, p, sub))), nil
	}
	arg, ok, err := ev.stringArg(o, 0, sc)
	if err != nil || !ok {
		return nil, err
	}
	switch o.name {
	case "indexOf":
		i := strings.Index(s, arg)
		if i > 0 {
			i = utf8.RuneCountInString(s[:i])
		}
		return ev.push(intValue(int64(i))), nil
	case "startsWith":
		return ev.pushBool((strings.HasPrefix(s, arg))), nil
	case "endsWith":
		return ev.pushBool((strings.HasSuffix(s, arg))), nil
	case "contains":
		return ev.pushBool((strings.Contains(s, arg))), nil
	case "split":
		start := len(ev.arena)
		for _, part := range strings.Split(s, arg) {
			ev.arena = append(ev.arena, strValue(part))
		}
		return ev.since(start), nil
	case "encode", "decode":
		out, ok := codec(o.name == "encode", arg, s)
		if !ok {
			return nil, nil
		}
		return ev.push(strValue(out)), nil
	case "escape":
		switch arg {
		case "html":
			return ev.push(strValue(htmlEscaper.Replace(s))), nil
		case "json":
			return ev.push(strValue(jsonEscaper.Replace(s))), nil
		}
		return nil, nil
	case "unescape":
		switch arg {
		case "html":
			return ev.push(strValue(html.UnescapeString(s))), nil
		case "json":
			return ev.push(strValue(string(jsonscan.Unescape(nil, []byte(s))))), nil
		}
		return nil, nil
	}
	return nil, evalErr(o, "unknown function %s()", o.name)
}

var (
	htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	jsonEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
)

func codec(encode bool, format, s string) (string, bool) {
	var enc *base64.Encoding
	switch format {
	case "base64":
		enc = base64.StdEncoding
	case "urlbase64":
		enc = base64.URLEncoding
	case "hex":
		if encode {
			return hex.EncodeToString([]byte(s)), true
		}
		b, err := hex.DecodeString(s)
		return string(b), err == nil
	default:
		return "", false
	}
	if encode {
		return enc.EncodeToString([]byte(s)), true
	}
	b, err := enc.DecodeString(s)
	return string(b), err == nil
}

func fnJoin(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	sep := ""
	if len(o.args) == 1 {
		s, ok, err := ev.stringArg(o, 0, sc)
		if err != nil {
			return nil, err
		}
		if ok {
			sep = s
		}
	}
	parts := make([]string, 0, len(in))
	for _, v := range in {
		s, ok := ev.sys(v)
		if !ok || s.kind != KindString {
			return nil, evalErr(o, "join() applies to strings")
		}
		parts = append(parts, s.s)
	}
	return ev.push(strValue(strings.Join(parts, sep))), nil
}

// Math.

func fnMath(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	n, ok := ev.sys(v)
	if !ok || !isNumber(n.kind) && !(n.kind == KindQuantity && o.name == "abs") {
		return nil, evalErr(o, "%s() applies to numbers", o.name)
	}
	x, xs := numberOf(n)
	if n.kind == KindQuantity {
		x, xs = n.f, int(n.sc)
	}
	switch o.name {
	case "abs":
		switch n.kind {
		case KindInteger:
			if n.i < 0 {
				n.i = -n.i
			}
		default:
			n.f = math.Abs(n.f)
		}
		return ev.push(n), nil
	case "ceiling":
		return ev.push(intValue(int64(math.Ceil(x)))), nil
	case "floor":
		return ev.push(intValue(int64(math.Floor(x)))), nil
	case "truncate":
		return ev.push(intValue(int64(math.Trunc(x)))), nil
	case "exp":
		return ev.decimal(math.Exp(x))
	case "ln":
		if x <= 0 {
			return nil, nil
		}
		return ev.decimal(math.Log(x))
	case "sqrt":
		if x < 0 {
			return nil, nil
		}
		return ev.decimal(math.Sqrt(x))
	case "round":
		p := int64(0)
		if len(o.args) == 1 {
			var ok bool
			if p, ok, err = ev.intArg(o, 0, sc); err != nil || !ok {
				return nil, err
			}
			if p < 0 {
				return nil, evalErr(o, "round() needs a precision of 0 or more")
			}
		}
		_ = xs
		return ev.push(decValue(roundTo(x, int(p)), int(p))), nil
	}
	c, err := ev.arg(o, 0, sc)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	av, ok, err := single(o, c)
	if err != nil || !ok {
		return nil, err
	}
	a, ok := ev.sys(av)
	if !ok || !isNumber(a.kind) {
		return nil, evalErr(o, "%s() needs a number argument", o.name)
	}
	y, _ := numberOf(a)
	switch o.name {
	case "log":
		if x <= 0 || y <= 0 || y == 1 {
			return nil, nil
		}
		return ev.decimal(math.Log(x) / math.Log(y))
	case "power":
		r := math.Pow(x, y)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, nil
		}
		if n.kind == KindInteger && a.kind == KindInteger && y >= 0 {
			return ev.push(intValue(int64(r))), nil
		}
		return ev.decimal(r)
	}
	return nil, evalErr(o, "unknown function %s()", o.name)
}

func (ev *Evaluator) decimal(f float64) (coll, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, nil
	}
	return ev.push(decValue(roundTo(f, 8), 8)), nil
}

// Tree navigation.

func fnChildren(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	d := ev.doc
	n := 0
	for _, v := range in {
		if !v.IsNode() {
			continue
		}
		for c := d.nodes[v.node].first; c != NoNode; c = d.nodes[c].next {
			ev.arena = append(ev.arena, nodeValue(c))
			n++
		}
	}
	if err := ev.step(n); err != nil {
		return nil, err
	}
	return ev.since(start), nil
}

func fnDescendants(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	d := ev.doc
	for _, v := range in {
		if !v.IsNode() {
			continue
		}
		// Depth first, in document order, without recursion.
		c := d.nodes[v.node].first
		for c != NoNode {
			ev.arena = append(ev.arena, nodeValue(c))
			if len(ev.arena)-start > ev.limit-ev.steps {
				return nil, ErrTooCostly
			}
			if f := d.nodes[c].first; f != NoNode {
				c = f
				continue
			}
			for c != NoNode && d.nodes[c].next == NoNode {
				c = d.nodes[c].parent
				if c == v.node {
					c = NoNode
				}
			}
			if c != NoNode {
				c = d.nodes[c].next
			}
		}
	}
	if err := ev.step(len(ev.arena) - start); err != nil {
		return nil, err
	}
	return ev.since(start), nil
}

// Utility.

func fnTrace(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if ev.trace == nil {
		return in, nil
	}
	name, _, err := ev.stringArg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	shown := in
	if len(o.args) == 2 {
		var all []Value
		for k, v := range in {
			r, err := ev.lambda(o.args[1], v, k, sc)
			if err != nil {
				return nil, err
			}
			all = append(all, r...)
		}
		shown = all
	}
	ev.trace(name, shown)
	return in, nil
}

func fnNow(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	now := ev.Now
	if now.IsZero() {
		now = time.Now()
	}
	_, off := now.Zone()
	t := temporal{y: int16(now.Year()), mo: int8(now.Month()), d: int8(now.Day()), h: int8(now.Hour()), mi: int8(now.Minute()),
		s: int8(now.Second()), ms: int16(now.Nanosecond() / 1e6), tzSet: true, tz: int16(off / 60)}
	switch o.name {
	case "now":
		t.prec = precMilli
		return ev.push(Value{kind: KindDateTime, node: NoNode, t: t}), nil
	case "today":
		t.prec, t.tzSet = precDay, false
		return ev.push(Value{kind: KindDate, node: NoNode, t: t}), nil
	}
	t.prec, t.tzSet = precMilli, false
	t.y, t.mo, t.d = 0, 0, 0
	return ev.push(Value{kind: KindTime, node: NoNode, t: t}), nil
}

func fnNot(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	t, err := ev.truth(o, in)
	if err != nil {
		return nil, err
	}
	return ev.pushTruth(notTruth(t)), nil
}

func fnAggregate(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	var total coll
	if len(o.args) == 2 {
		init, err := ev.arg(o, 1, sc)
		if err != nil {
			return nil, err
		}
		total = append([]Value(nil), init...)
	}
	for k, v := range in {
		inner := ev.newScope(ev.push(v), k, total, true)
		r, err := ev.eval(o.args[0], nil, inner)
		if err != nil {
			return nil, err
		}
		total = append(total[:0:0], r...)
	}
	start := len(ev.arena)
	ev.arena = append(ev.arena, total...)
	return ev.since(start), nil
}

func fnSort(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	type keyed struct {
		v    Value
		keys []Value
	}
	items := make([]keyed, len(in))
	desc := make([]bool, len(o.args))
	for k, v := range in {
		items[k].v = v
		if len(o.args) == 0 {
			s, _ := ev.sys(v)
			items[k].keys = []Value{s}
			continue
		}
		for a, arg := range o.args {
			expr := arg
			if expr.kind == oNeg {
				desc[a], expr = true, expr.left
			}
			r, err := ev.lambda(expr, v, k, sc)
			if err != nil {
				return nil, err
			}
			key := Value{node: NoNode}
			if len(r) > 0 {
				if k, ok := ev.sys(r[0]); ok {
					key = k
				}
			}
			items[k].keys = append(items[k].keys, key)
		}
	}
	var sortErr error
	sort.SliceStable(items, func(x, y int) bool {
		for a := range items[x].keys {
			kx, ky := items[x].keys[a], items[y].keys[a]
			if kx.kind == KindNone || ky.kind == KindNone {
				// A missing key sorts first, in either direction.
				if (kx.kind == KindNone) == (ky.kind == KindNone) {
					continue
				}
				return kx.kind == KindNone
			}
			c, ok, err := ev.compare(o, kx, ky)
			if err != nil {
				sortErr = err
				return false
			}
			if !ok || c == 0 {
				continue
			}
			if a < len(desc) && desc[a] {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	if sortErr != nil {
		return nil, sortErr
	}
	start := len(ev.arena)
	for _, it := range items {
		ev.arena = append(ev.arena, it.v)
	}
	return ev.since(start), nil
}

// Types.

func fnIs(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	return ev.pushBool((ev.isType(v, o.typ))), nil
}

func fnAs(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) > 1 && !o.lenientAs {
		return nil, evalErr(o, "as() on %d items", len(in))
	}
	return ev.ofType(in, o.typ), nil
}

func fnType(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	for _, v := range in {
		name := ""
		switch {
		case v.kind == KindNone:
			t := ev.typeOf(v)
			if t == nil {
				continue
			}
			name = "FHIR." + t.PathName()
		case v.kind == kindTypeInfo:
			name = "System.Object"
		default:
			name = "System." + v.kind.String()
		}
		ev.arena = append(ev.arena, Value{kind: kindTypeInfo, node: NoNode, s: name})
	}
	return ev.since(start), nil
}

func fnBoundary(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	s, ok := ev.sys(v)
	if !ok {
		return nil, nil
	}
	high := o.name == "highBoundary"
	p, hasP := int64(-1), false
	if len(o.args) == 1 {
		if p, hasP, err = ev.intArg(o, 0, sc); err != nil {
			return nil, err
		}
	}
	switch s.kind {
	case KindInteger, KindDecimal, KindQuantity:
		x, xs := s.f, int(s.sc)
		if s.kind == KindInteger {
			x, xs = float64(s.i), 0
		}
		if !hasP {
			p = 8
		}
		out, ok := decimalBoundary(x, xs, int(p), high)
		if !ok {
			return nil, nil
		}
		if s.kind == KindQuantity {
			s.f, s.sc = out.f, out.sc
			return ev.push(s), nil
		}
		return ev.push(out), nil
	case KindDate, KindDateTime, KindTime:
		if !hasP {
			p = map[Kind]int64{KindDate: 8, KindDateTime: 17, KindTime: 9}[s.kind]
		}
		t, ok := s.t.boundary(s.kind, int(p), high)
		if !ok {
			return nil, nil
		}
		k := s.kind
		if k == KindDateTime && t.prec <= precDay {
			k = KindDate
		}
		return ev.push(Value{kind: k, node: NoNode, t: t}), nil
	}
	return nil, nil
}

// decimalBoundary is lowBoundary/highBoundary of a decimal: the value less
// (low) or plus (high) half a unit of its last digit, cut to p digits (the
// low boundary truncated, the high one rounded), mirrored for negatives.
func decimalBoundary(x float64, xs, p int, high bool) (Value, bool) {
	if p < 0 || p > 31 {
		return Value{}, false
	}
	if x < 0 {
		v, ok := decimalBoundary(-x, xs, p, !high)
		v.f = -v.f
		return v, ok
	}
	half := 0.5 * math.Pow10(-xs)
	var r float64
	if high {
		r = roundTo(x+half, p)
	} else {
		f := math.Pow10(p)
		r = math.Trunc(roundTo((x-half)*f, 6)) / f
	}
	return decValue(r, p), true
}

func fnPrecision(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	s, ok := ev.sys(v)
	if !ok {
		return nil, nil
	}
	switch s.kind {
	case KindDecimal:
		return ev.push(intValue(int64(s.sc))), nil
	case KindInteger:
		return ev.push(intValue(0)), nil
	case KindDate, KindDateTime, KindTime:
		return ev.push(intValue(int64(s.t.precisionDigits(s.kind)))), nil
	}
	return nil, nil
}

func fnComparable(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	c, err := ev.arg(o, 0, sc)
	if err != nil {
		return nil, err
	}
	w, ok, err := single(o, c)
	if err != nil || !ok {
		return nil, err
	}
	a, aok := ev.sys(v)
	b, bok := ev.sys(w)
	if !aok || !bok || a.kind != KindQuantity || b.kind != KindQuantity {
		return nil, evalErr(o, "comparable() applies to quantities")
	}
	_, ok = quantityCompare(a, b)
	return ev.pushBool((ok)), nil
}

// FHIR functions.

func fnExtension(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	url, ok, err := ev.stringArg(o, 0, sc)
	if err != nil || !ok {
		return nil, err
	}
	start := len(ev.arena)
	d := ev.doc
	n := 0
	for _, v := range in {
		if !v.IsNode() {
			continue
		}
		for c := d.nodes[v.node].first; c != NoNode; c = d.nodes[c].next {
			n++
			if d.nodes[c].name() != "extension" {
				continue
			}
			if u := d.Child(c, "url"); u != NoNode && d.String(u) == url {
				ev.arena = append(ev.arena, nodeValue(c))
			}
		}
	}
	if err := ev.step(n); err != nil {
		return nil, err
	}
	return ev.since(start), nil
}

func fnHasValue(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) != 1 {
		return ev.pushBool((false)), nil
	}
	v := in[0]
	if v.kind != KindNone {
		return ev.pushBool((v.kind != kindTypeInfo)), nil
	}
	return ev.pushBool((v.node != NoNode && ev.doc.HasValue(v.node))), nil
}

func fnGetValue(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	if len(in) != 1 {
		return nil, nil
	}
	v := in[0]
	if v.kind == KindNone && (v.node == NoNode || !ev.doc.HasValue(v.node)) {
		return nil, nil
	}
	s, ok := ev.sys(v)
	if !ok {
		return nil, nil
	}
	return ev.push(s), nil
}

func fnConformsTo(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	url, ok, err := ev.stringArg(o, 0, sc)
	if err != nil || !ok {
		return nil, err
	}
	name, core := strings.CutPrefix(url, "http://hl7.org/fhir/StructureDefinition/")
	if !core || ev.doc.model.types[name] == nil {
		return nil, evalErr(o, "conformsTo(): the profile %s is not known", url)
	}
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	return ev.pushBool((ev.typeNamed(v, name))), nil
}

func fnMemberOf(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	// Terminology membership needs a terminology service: unknown.
	return nil, nil
}

func fnHTMLChecks(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	v, ok, err := single(o, in)
	if err != nil || !ok {
		return nil, err
	}
	s, ok := ev.sys(v)
	if !ok || s.kind != KindString {
		ev.reason = "the narrative is not a string"
		return ev.pushBool((false)), nil
	}
	if p := CheckNarrative(s.s); p != nil {
		ev.reason = p.Error()
		return ev.pushBool((false)), nil
	}
	return ev.pushBool((true)), nil
}

// fnResolve follows references: "#id" to a contained resource of the
// enclosing resource, and other references to the resource of an entry of
// an enclosing Bundle whose fullUrl is the reference (or ends with it, for
// relative ones). Canonical and uri values are resolved the same way.
func fnResolve(ev *Evaluator, o *op, in coll, sc *scope) (coll, error) {
	start := len(ev.arena)
	d := ev.doc
	for _, v := range in {
		ref := ""
		var at NodeID = NoNode
		if s, ok := ev.sys(v); ok && s.kind == KindString {
			ref, at = s.s, v.node
		} else if v.IsNode() {
			if r := d.Child(v.node, "reference"); r != NoNode {
				ref, at = d.String(r), v.node
			}
		}
		if ref == "" {
			continue
		}
		if err := ev.step(1); err != nil {
			return nil, err
		}
		if n := ev.resolveRef(at, ref); n != NoNode {
			ev.arena = append(ev.arena, nodeValue(n))
			continue
		}
		if ev.TypeOnlyReferences {
			if t := ev.referenceType(ref); t != nil {
				ev.arena = append(ev.arena, Value{node: NoNode, typ: t})
			}
		}
	}
	return ev.since(start), nil
}

func (ev *Evaluator) resolveRef(at NodeID, ref string) NodeID {
	d := ev.doc
	if at == NoNode {
		return NoNode
	}
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		res := d.RootResource(at)
		if id == "" {
			return res
		}
		for c := d.nodes[res].first; c != NoNode; c = d.nodes[c].next {
			if d.nodes[c].name() == "contained" {
				if idn := d.Child(c, "id"); idn != NoNode && d.String(idn) == id {
					return c
				}
			}
		}
		return NoNode
	}
	// Enclosing Bundles, innermost first.
	for r := d.Resource(at); r != NoNode; {
		if t := d.nodes[r].typ; t != nil && t.Name == "Bundle" {
			steps := 0
			for e := d.nodes[r].first; e != NoNode; e = d.nodes[e].next {
				steps++
				if d.nodes[e].name() != "entry" {
					continue
				}
				res := d.Child(e, "resource")
				if res == NoNode {
					continue
				}
				if fu := d.Child(e, "fullUrl"); fu != NoNode {
					full := d.String(fu)
					if full == ref || strings.HasSuffix(full, "/"+ref) {
						return res
					}
				}
				if rt := d.nodes[res].typ; rt != nil {
					if idn := d.Child(res, "id"); idn != NoNode && rt.Name+"/"+d.String(idn) == ref {
						return res
					}
				}
			}
			if ev.step(steps) != nil {
				return NoNode
			}
		}
		p := d.nodes[r].parent
		if p == NoNode {
			break
		}
		r = d.nodes[p].res
	}
	return NoNode
}

// referenceType returns the resource type a literal reference names
// (Patient/1, https://x/fhir/Patient/1/_history/2), or nil.
func (ev *Evaluator) referenceType(ref string) *Type {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if q := strings.IndexByte(ref, '?'); q >= 0 {
		if t := ev.doc.model.types[ref[:q]]; t != nil && t.Resource {
			return t
		}
		return nil
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return nil
	}
	k := strings.LastIndexByte(ref[:j], '/')
	if t := ev.doc.model.types[ref[k+1:j]]; t != nil && t.Resource {
		return t
	}
	return nil
}
