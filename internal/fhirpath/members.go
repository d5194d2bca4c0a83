package fhirpath

import "sort"

// TopMembers reports which members of the focus an expression can read:
// the FHIRPath names (a choice element by its base name, "value") of the
// focus's children that it navigates into. all is true when it can read
// any of them: it yields the focus itself (%resource, a type name such as
// "Patient" on its own) or applies to the focus a function that looks
// inside it (children(), descendants(), an equality). A caller that only
// needs the expression's result can leave the other members of a large
// resource out before parsing it (Model.Parse) and get the same result.
//
// The analysis is conservative: names may hold members that a particular
// resource never reaches, never fewer than the expression reads. A
// reference resolved within the resource reads its contained resources, so
// resolve() counts as reading "contained" (and "entry" in a Bundle).
func (e *Expr) TopMembers() (names []string, all bool) {
	a := &membersOf{names: map[string]bool{}}
	if a.visit(e.root, true, true) {
		a.all = true
	}
	if a.all {
		return nil, true
	}
	for n := range a.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, false
}

type membersOf struct {
	names map[string]bool
	all   bool
}

// visit records what o reads of the focus and reports whether its result can
// hold the focus itself. in says whether o's input can hold the focus, this
// whether $this can.
func (a *membersOf) visit(o *op, in, this bool) bool {
	if o == nil {
		return false
	}
	switch o.kind {
	case oEmpty, oLiteral, oIndex:
		return false
	case oTotal:
		a.all = this // aggregate()'s total can be anything its argument yields
		return this
	case oThis:
		return this
	case oConst:
		return o.name == "resource" || o.name == "rootResource" || o.name == "context"
	case oRootIdent:
		return a.name(o.name, this)
	case oMember:
		if in {
			a.names[o.name] = true
		}
		return false
	case oInvoke:
		return a.visit(o.right, a.visit(o.left, in, this), this)
	case oIndexer:
		a.visit(o.args[0], false, this)
		return a.visit(o.left, in, this)
	case oNeg:
		if a.visit(o.left, in, this) {
			a.all = true
		}
		return false
	case oIs:
		a.visit(o.left, in, this)
		return false
	case oAs:
		return a.visit(o.left, in, this)
	case oBinary:
		l, r := a.visit(o.left, false, this), a.visit(o.right, false, this)
		if o.binop == bUnion {
			return l || r
		}
		if l || r { // comparing the focus itself reads all of it
			a.all = true
		}
		return false
	case oCount:
		src := this
		if !o.rooted {
			src = a.visit(o.left, in, this)
		}
		switch {
		case !src:
		case o.name == "":
			a.all = true // children().count()
		case o.typeFilter:
			a.name(o.name, true)
		default:
			a.names[o.name] = true
		}
		return false
	case oFunc:
		return a.function(o, in, this)
	}
	a.all = true
	return false
}

// name records a name at the start of a path: a type name selects $this
// (when it is of that type), another name a member of it.
func (a *membersOf) name(n string, this bool) bool {
	if !this {
		return false
	}
	if n != "" && n[0] >= 'A' && n[0] <= 'Z' {
		return true
	}
	a.names[n] = true
	return false
}

func (a *membersOf) function(o *op, in, this bool) bool {
	if o.rooted {
		in = this
	}
	argHolds := false
	for k, arg := range o.args {
		lambda := o.fn.lambda&(1<<k) != 0
		t := this
		if lambda {
			t = in
		}
		if o.fn.typeArg {
			continue
		}
		if a.visit(arg, false, t) {
			argHolds = true
		}
	}
	if o.name == "resolve" {
		a.names["contained"] = true
		a.names["entry"] = true
		return true // "#" is the resource itself
	}
	switch o.name {
	case "where", "exists", "all":
		// The criterion is read per item; the result is the input's items
		// (where) or a Boolean.
		return o.name == "where" && in
	case "select", "repeat":
		return argHolds
	case "iif":
		return argHolds
	}
	if argHolds {
		a.all = true
	}
	if !in {
		return false
	}
	switch o.name {
	case "ofType", "as", "first", "last", "single", "tail", "skip", "take", "trace":
		return true
	case "empty", "count", "is", "not", "hasValue", "allTrue", "anyTrue", "allFalse", "anyFalse":
		return false
	case "extension":
		a.names["extension"] = true
		return false
	}
	a.all = true
	return false
}
