package search

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// Query is a parsed search of one resource type: the store's query (DatastoreID is left for the
// caller) and what the data plane does with its results.
type Query struct {
	store.SearchQuery
	// Total asks for the number of matches next to the page (_total=accurate or estimate).
	Total bool
	// Summary is the _summary mode: "" (none), "true", "text", "data" or "false"; "count" sets
	// CountOnly instead.
	Summary string
	// Elements are the element names of _elements ("" type prefixes removed), nil when absent.
	Elements []string
	// Page is the opaque cursor of a next link ("" for the first page).
	Page string
	// Applied holds the parameters the query applies, as given (name -> values), _page excepted:
	// the Bundle's self link is built from it.
	Applied url.Values
	// Unsupported lists the parameters that were left out (lenient handling), in name order.
	Unsupported []Unsupported
}

// Unsupported is a search parameter that lenient handling left out of a query.
type Unsupported struct {
	Param  string // the parameter name as given, with modifiers and chains
	Value  string
	Reason string
}

// Page sizes: the default and the maximum of _count.
const (
	DefaultCount = 100
	MaxCount     = 100
)

// maxChain bounds the depth of chained parameters (subject:Patient.organization.name is two).
const maxChain = 4

// Error is a search that cannot be run as asked (HTTP 400 in the data plane). Unsupported says
// that the parameter, modifier or prefix is valid FHIR that this server does not implement
// (refused under strict handling), as opposed to a value that is wrong.
type Error struct {
	Param       string
	Msg         string
	Unsupported bool
}

func (e *Error) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return "search parameter " + e.Param + ": " + e.Msg
}

func errf(param, format string, args ...any) *Error {
	return &Error{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// notSupported is the error of a parameter, modifier or prefix this server does not apply; Parse
// turns it into an Unsupported entry (lenient) or an *Error (strict).
type notSupported struct{ msg string }

func (e *notSupported) Error() string { return e.msg }

func unsupported(format string, args ...any) error {
	return &notSupported{msg: fmt.Sprintf(format, args...)}
}

// jsonFormats are the _format values that mean the JSON this server writes.
var jsonFormats = map[string]bool{"json": true, "application/json": true, "application/fhir+json": true}

// summaryModes are the _summary values.
var summaryModes = map[string]bool{"true": true, "text": true, "data": true, "false": true, "count": true}

// Parse parses the search parameters of a search of resource type typ. A parameter, modifier or
// prefix this server does not apply is an *Error under strict handling (Prefer: handling=strict);
// otherwise it is left out of the query and listed in Unsupported. A malformed value is always
// an *Error.
func Parse(typ string, values url.Values, strict bool) (Query, error) {
	q := Query{SearchQuery: store.SearchQuery{Type: typ, Count: DefaultCount}, Applied: url.Values{}}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, raw := range values[name] {
			err := q.add(name, raw)
			var ns *notSupported
			switch {
			case errors.As(err, &ns) && strict:
				return q, &Error{Param: name, Msg: ns.msg, Unsupported: true}
			case errors.As(err, &ns):
				q.Unsupported = append(q.Unsupported, Unsupported{Param: name, Value: raw, Reason: ns.msg})
			case err != nil:
				return q, err
			case name != "_page":
				q.Applied[name] = append(q.Applied[name], raw)
			}
		}
	}
	return q, nil
}

func (q *Query) add(name, raw string) error {
	switch name {
	case "_count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return errf(name, "must be a non-negative integer")
		}
		if n == 0 {
			q.CountOnly = true
		}
		q.Count = min(max(n, 1), MaxCount)
		return nil
	case "_summary":
		if !summaryModes[raw] {
			return errf(name, "must be one of true, text, data, count or false")
		}
		if raw == "count" {
			q.CountOnly = true
			return nil
		}
		q.Summary = raw
		return nil
	case "_elements":
		for _, e := range strings.Split(raw, ",") {
			e = strings.TrimSpace(e)
			if t, rest, ok := strings.Cut(e, "."); ok && t != "" && t[0] >= 'A' && t[0] <= 'Z' {
				if t != q.Type {
					return errf(name, "%q is not an element of %s", e, q.Type)
				}
				e = rest
			}
			if e == "" || strings.Contains(e, ".") {
				return unsupported("only top-level element names are supported, not %q", e)
			}
			q.Elements = append(q.Elements, e)
		}
		return nil
	case "_total":
		switch raw {
		case "accurate", "estimate":
			q.Total = true
		case "none":
		default:
			return errf(name, "must be none, estimate or accurate")
		}
		return nil
	case "_page":
		q.Page = raw
		return nil
	case "_sort":
		return q.addSort(raw)
	case "_format":
		if !jsonFormats[raw] {
			return unsupported("the only format is JSON (application/fhir+json)")
		}
		return nil
	case "_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_include:recurse", "_revinclude:recurse":
		return q.addInclude(strings.Replace(name, ":recurse", ":iterate", 1), raw)
	case "_contained", "_containedType", "_pretty", "_text", "_content", "_list", "_query", "_filter", "_type":
		return unsupported("the parameter %s is not supported", name)
	}
	code, modifier, _ := strings.Cut(name, ":")
	if p, ok := Lookup(q.Type, code); ok && p.composite != nil && !strings.Contains(name, ".") {
		clauses, err := parseComposite(p, modifier, raw)
		if err != nil {
			return err
		}
		q.Where = append(q.Where, clauses...)
		return nil
	}
	preds, err := parseParam(q.Type, name, raw, 0)
	if err != nil {
		return err
	}
	q.Where = append(q.Where, preds)
	return nil
}

func (q *Query) addSort(raw string) error {
	for _, f := range strings.Split(raw, ",") {
		desc := strings.HasPrefix(f, "-")
		code := strings.TrimPrefix(f, "-")
		switch code {
		case "_id", "_lastUpdated":
			q.Sort = append(q.Sort, store.SearchSort{Param: code, Desc: desc})
			continue
		}
		p, ok := Lookup(q.Type, code)
		if !ok || p.compiled == nil || p.Kind == kindReference || p.composite != nil {
			return errf("_sort", "cannot sort %s by %q", q.Type, code)
		}
		q.Sort = append(q.Sort, store.SearchSort{Param: code, Kind: p.Kind, Desc: desc})
	}
	return nil
}

func (q *Query) addInclude(name, raw string) error {
	base, iterate := strings.CutSuffix(name, ":iterate")
	parts := strings.Split(raw, ":")
	if base == "_include" && (raw == "*" || len(parts) == 2 && parts[0] == q.Type && parts[1] == "*") {
		// Every reference parameter of the searched type.
		for _, p := range Params(q.Type) {
			if p.Kind == kindReference && p.compiled != nil && p.composite == nil {
				q.Include = append(q.Include, store.SearchInclude{Type: q.Type, Param: p.Code, Iterate: iterate})
			}
		}
		return nil
	}
	if raw == "*" || len(parts) >= 2 && parts[1] == "*" {
		return unsupported("%s=%s (every reference parameter) is not supported", name, raw)
	}
	if len(parts) < 2 || len(parts) > 3 {
		return errf(name, "want Type:parameter[:targetType], got %q", raw)
	}
	inc := store.SearchInclude{Type: parts[0], Param: parts[1], Iterate: iterate}
	if len(parts) == 3 {
		inc.TargetType = parts[2]
	}
	p, ok := Lookup(inc.Type, inc.Param)
	if !ok || p.Kind != kindReference || p.composite != nil {
		return errf(name, "%s:%s is not a reference parameter", inc.Type, inc.Param)
	}
	if base == "_include" {
		// With :iterate the source type may be any type the includes reach.
		if inc.Type != q.Type && !iterate {
			return errf(name, "%q does not start with the searched type %s", raw, q.Type)
		}
		q.Include = append(q.Include, inc)
		return nil
	}
	if len(p.Targets) > 0 && !contains(p.Targets, q.Type) && !iterate {
		return errf(name, "%s:%s cannot point at %s", inc.Type, inc.Param, q.Type)
	}
	q.RevInclude = append(q.RevInclude, inc)
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseParam parses one "name[:modifier][.chained]=value[,value]" pair of a search of typ; depth
// counts the chain and _has links above it. The predicates it returns are alternatives (one
// clause).
func parseParam(typ, name, raw string, depth int) ([]store.SearchPredicate, error) {
	if strings.HasPrefix(name, "_has:") {
		return parseHas(typ, name, raw, depth)
	}
	chainRest := ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name, chainRest = name[:i], name[i+1:]
	}
	code, modifier, _ := strings.Cut(name, ":")
	if code == "_id" || code == "_lastUpdated" {
		if chainRest != "" {
			return nil, errf(name, "cannot be chained")
		}
		k := kindToken
		if code == "_lastUpdated" {
			k = kindDate
		}
		return parseValues(&Param{Code: code, Kind: k}, modifier, raw)
	}
	p, ok := Lookup(typ, code)
	if !ok || p.compiled == nil {
		return nil, unsupported("%s has no search parameter %q this server supports", typ, code)
	}
	if p.composite != nil {
		if chainRest != "" {
			return nil, errf(name, "a composite parameter cannot be chained")
		}
		clauses, err := parseComposite(p, modifier, raw)
		if err != nil {
			return nil, err
		}
		if len(clauses) != 1 {
			return nil, unsupported("the composite %s is a conjunction of parameters, which a chain or _has cannot hold", p.Code)
		}
		return clauses[0], nil
	}
	if chainRest == "" {
		return parseValues(p, modifier, raw)
	}
	if p.Kind != kindReference {
		return nil, errf(name, "only reference parameters can be chained")
	}
	if depth+1 > maxChain {
		return nil, unsupported("chains of more than %d links are not supported", maxChain)
	}
	targets := p.Targets
	if modifier != "" {
		if len(p.Targets) > 0 && !contains(p.Targets, modifier) {
			return nil, errf(name, "%s is not a target type of %s", modifier, code)
		}
		targets = []string{modifier}
	}
	innerCode := chainRest
	if i := strings.IndexAny(innerCode, ":."); i >= 0 {
		innerCode = innerCode[:i]
	}
	var out []store.SearchPredicate
	var firstErr error
	for _, t := range targets {
		if _, ok := Lookup(t, innerCode); !ok && innerCode != "_id" && innerCode != "_lastUpdated" && !strings.HasPrefix(chainRest, "_has:") {
			continue
		}
		inner, err := parseParam(t, chainRest, raw, depth+1)
		if err != nil {
			// A target type whose parameter cannot be applied would make the chain match less
			// than asked; the whole chain is then refused.
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		// The comma-separated values of the inner parameter are alternatives of one target.
		for _, ip := range inner {
			out = append(out, store.SearchPredicate{Param: code, Kind: kindReference, Chain: &store.SearchChain{Type: t, Where: []store.SearchPredicate{ip}}})
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(out) == 0 {
		return nil, unsupported("no target type of %s has the search parameter %q", code, innerCode)
	}
	return out, nil
}

// parseHas parses a reverse chain, "_has:Type:parameter:inner=value": resources of the searched
// type that a resource of Type references through parameter, that resource matching inner (which
// may be a _has or a chain again).
func parseHas(typ, name, raw string, depth int) ([]store.SearchPredicate, error) {
	parts := strings.SplitN(strings.TrimPrefix(name, "_has:"), ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return nil, errf(name, "want _has:Type:parameter:search-parameter")
	}
	src, refParam, inner := parts[0], parts[1], parts[2]
	if depth+1 > maxChain {
		return nil, unsupported("chains of more than %d links are not supported", maxChain)
	}
	p, ok := Lookup(src, refParam)
	if !ok || p.Kind != kindReference || p.compiled == nil || p.composite != nil {
		return nil, errf(name, "%s:%s is not a reference parameter", src, refParam)
	}
	if len(p.Targets) > 0 && !contains(p.Targets, typ) {
		return nil, errf(name, "%s:%s cannot point at %s", src, refParam, typ)
	}
	preds, err := parseParam(src, inner, raw, depth+1)
	if err != nil {
		return nil, err
	}
	out := make([]store.SearchPredicate, len(preds))
	for i, ip := range preds {
		out[i] = store.SearchPredicate{Param: refParam, Kind: kindReference, Has: &store.SearchHas{Type: src, Param: refParam, Where: []store.SearchPredicate{ip}}}
	}
	return out, nil
}

// maxCompositeClauses bounds the clauses one composite parameter becomes (see parseComposite).
const maxCompositeClauses = 16

// parseComposite parses the values of a composite parameter, "first$second[,first$second]".
// Each value is a conjunction of tests: for a keyed composite one test of the second
// component's kind on the entries keyed by the first (composites.go); for a conjunction
// composite the tests of its two components' own parameters; for a union, its parts'
// alternatives. The values are alternatives, so the result is the conjunctive normal form of a
// disjunction of conjunctions: clauses whose count is the product of the conjunctions' sizes,
// at most maxCompositeClauses.
func parseComposite(p *Param, modifier, raw string) ([][]store.SearchPredicate, error) {
	if modifier != "" {
		return nil, unsupported("modifiers of composite parameters are not supported")
	}
	var alts [][]store.SearchPredicate
	for _, v := range splitKeepEscapes(raw, ',') {
		first, second, ok := cutUnescaped(v, '$')
		if !ok || first == "" || second == "" {
			return nil, errf(p.Code, "want first$second, got %q", v)
		}
		parts := []*Param{p}
		if p.composite.union != nil {
			parts = nil
			for _, code := range p.composite.union {
				part, ok := lookupIn(p, code)
				if !ok {
					return nil, errf(p.Code, "its part %s is not a composite of the same type", code)
				}
				parts = append(parts, part)
			}
		}
		for _, part := range parts {
			conj, err := compositeValue(part, first, second)
			if err != nil {
				return nil, err
			}
			alts = append(alts, conj)
		}
	}
	n := 1
	for _, a := range alts {
		n *= len(a)
		if n > maxCompositeClauses {
			return nil, unsupported("%s with these many values is too costly to search", p.Code)
		}
	}
	// Pick one test of every alternative for each clause.
	clauses := [][]store.SearchPredicate{nil}
	for _, a := range alts {
		var next [][]store.SearchPredicate
		for _, c := range clauses {
			for _, t := range a {
				next = append(next, append(append([]store.SearchPredicate(nil), c...), t))
			}
		}
		clauses = next
	}
	return clauses, nil
}

// lookupIn finds another composite parameter of the type composite p belongs to.
func lookupIn(p *Param, code string) (*Param, bool) {
	q, ok := Lookup(p.owner, code)
	return q, ok && q.composite != nil && q.composite.union == nil
}

// compositeValue parses one first$second value of composite p (not a union) into the tests
// that together match it.
func compositeValue(p *Param, first, second string) ([]store.SearchPredicate, error) {
	c := p.composite
	parseOne := func(param *Param, code, v string) (store.SearchPredicate, error) {
		pr := store.SearchPredicate{Param: code, Kind: param.Kind}
		if err := parseValue(param, "", v, &pr); err != nil {
			var ns *notSupported
			if errors.As(err, &ns) {
				return pr, err
			}
			return pr, errf(p.Code, "%s", err)
		}
		return pr, nil
	}
	if cp := p.conjunction; cp != nil {
		a, err := parseOne(cp[0], cp[0].Code, unescapeComposite(first))
		if err != nil {
			return nil, err
		}
		b, err := parseOne(cp[1], cp[1].Code, unescape(second))
		if err != nil {
			return nil, err
		}
		return []store.SearchPredicate{a, b}, nil
	}
	var key string
	switch c.first.kind {
	case kindToken:
		system, code, hasSystem := splitPipe(first)
		switch {
		case !hasSystem:
			key = "*|" + unescape(system)
		case code == "":
			return nil, unsupported("a composite's token component without a code (%q) is not supported", first)
		default:
			key = unescape(system) + "|" + unescape(code)
		}
	case kindReference:
		t, id := splitReference(unescape(first))
		if t == "" && !strings.Contains(first, "://") {
			return nil, errf(p.Code, "%q is not a typed reference (Type/id)", first)
		}
		key = unescape(first)
		if t != "" {
			key = t + "/" + id
		}
	}
	pr, err := parseOne(&Param{Code: c.second.code, Kind: c.second.kind}, p.Code+compositeKey+key, unescape(second))
	if err != nil {
		return nil, err
	}
	return []store.SearchPredicate{pr}, nil
}

// unescapeComposite removes the escapes of a composite's first value except those a token
// value keeps for its own parsing ("\|").
func unescapeComposite(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\$`, "$"), `\,`, ",")
}

// splitKeepEscapes splits s at unescaped sep, keeping escapes for the parts' own parsing.
func splitKeepEscapes(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cutUnescaped cuts s at its first unescaped sep.
func cutUnescaped(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// splitValues splits a parameter value at unescaped commas and unescapes "\,", "\|", "\$", "\\".
func splitValues(raw string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			i++
			b.WriteByte(raw[i])
		case c == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
}

// splitPipe splits a token or quantity value at its first unescaped '|'.
func splitPipe(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func parseValues(p *Param, modifier, raw string) ([]store.SearchPredicate, error) {
	name := p.Code
	if modifier != "" {
		name += ":" + modifier
	}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			return []store.SearchPredicate{{Param: p.Code, Kind: p.Kind, Op: store.OpMissing, Missing: raw == "true"}}, nil
		}
		return nil, errf(name, "must be true or false")
	}
	var out []store.SearchPredicate
	for _, v := range splitValues(raw) {
		if v == "" {
			return nil, errf(name, "empty value")
		}
		pr := store.SearchPredicate{Param: p.Code, Kind: p.Kind}
		if err := parseValue(p, modifier, v, &pr); err != nil {
			var ns *notSupported
			if errors.As(err, &ns) {
				return nil, err
			}
			return nil, errf(name, "%s", err)
		}
		out = append(out, pr)
	}
	// :not with several values would be a conjunction of negations, not the disjunction a
	// clause is; one value per :not parameter (repeat the parameter for more).
	if modifier == "not" && len(out) > 1 {
		return nil, errf(name, "use one value per :not parameter")
	}
	return out, nil
}

func modifierUnsupported(p *Param, modifier string) error {
	return unsupported("the modifier :%s is not supported on %s parameters", modifier, p.Kind)
}

// parseValue fills pr from one value.
func parseValue(p *Param, modifier, v string, pr *store.SearchPredicate) error {
	switch p.Kind {
	case kindString:
		switch modifier {
		case "":
			pr.Op, pr.Value = store.OpPrefix, Normalize(v)
		case "exact":
			pr.Op, pr.Value = store.OpExact, v
		case "contains":
			pr.Op, pr.Value = store.OpContains, Normalize(v)
		case "text":
			pr.Op, pr.Value = store.OpText, Normalize(v)
			if pr.Value == "" {
				return fmt.Errorf("empty text")
			}
		default:
			return modifierUnsupported(p, modifier)
		}
	case kindToken:
		switch modifier {
		case "", "not":
			pr.Not = modifier == "not"
		case "text":
			pr.Op, pr.Value = store.OpText, Normalize(v)
			return nil
		default:
			return modifierUnsupported(p, modifier)
		}
		system, code, hasSystem := splitPipe(v)
		if !hasSystem {
			pr.AnySystem, pr.Code = true, unescape(system)
		} else {
			pr.System, pr.Code = unescape(system), unescape(code)
		}
		if p.Code == "_id" && hasSystem {
			return fmt.Errorf("_id takes a plain id")
		}
	case kindReference:
		switch {
		case modifier == "":
		case modifier == "identifier":
			// Reference.identifier, indexed as a token under "<code>:identifier".
			pr.Param, pr.Kind = p.Code+":identifier", kindToken
			system, code, hasSystem := splitPipe(v)
			if !hasSystem {
				pr.AnySystem, pr.Code = true, unescape(system)
			} else {
				pr.System, pr.Code = unescape(system), unescape(code)
			}
			return nil
		case modifier == "above" || modifier == "below":
			return modifierUnsupported(p, modifier)
		case len(p.Targets) > 0 && !contains(p.Targets, modifier):
			return fmt.Errorf("%s is not a target type", modifier)
		default:
			pr.RefType = modifier
		}
		if strings.Contains(v, "://") {
			pr.RefID = v
			return nil
		}
		if t, id := splitReference(v); t != "" {
			if pr.RefType != "" && pr.RefType != t {
				return fmt.Errorf("%q is not a %s reference", v, pr.RefType)
			}
			pr.RefType, pr.RefID = t, id
			return nil
		}
		if strings.Contains(v, "/") {
			return fmt.Errorf("%q is not a reference", v)
		}
		pr.RefID = v
		if pr.RefType == "" && len(p.Targets) == 1 {
			pr.RefType = p.Targets[0]
		}
	case kindDate:
		if modifier != "" {
			return modifierUnsupported(p, modifier)
		}
		op, rest, err := prefix(v)
		if err != nil {
			return err
		}
		r, ok := ParseDate(rest)
		if !ok {
			return fmt.Errorf("%q is not a date", rest)
		}
		pr.Op, pr.Low, pr.High = op, r.Low, r.High
		if op == store.OpAp {
			pr.Low, pr.High = approxDate(r, time.Now())
		}
	case kindNumber, kindQuantity:
		if modifier != "" {
			return modifierUnsupported(p, modifier)
		}
		op, rest, err := prefix(v)
		if err != nil {
			return err
		}
		num, unit := rest, ""
		pr.AnySystem = true
		if p.Kind == kindQuantity {
			var system, hasSystem = "", false
			num, system, hasSystem = splitPipe(rest)
			if hasSystem {
				system, unit, _ = splitPipe(system)
				pr.System, pr.AnySystem = unescape(system), system == ""
				pr.Code = unescape(unit)
			}
		}
		f, lo, hi, err := parseNumber(num)
		if err != nil {
			return err
		}
		pr.Op, pr.Num, pr.NumLow, pr.NumHigh = op, f, lo, hi
		if op == store.OpAp {
			// Approximately: 10% of the value either side, at least its precision.
			d := math.Abs(f) / 10
			pr.NumLow, pr.NumHigh = min(lo, f-d), max(hi, f+d)
		}
	case kindURI:
		switch modifier {
		case "":
			pr.Op = store.OpEq
		case "below":
			pr.Op = store.OpBelow
		case "above":
			pr.Op = store.OpAbove
		default:
			return modifierUnsupported(p, modifier)
		}
		pr.Value = v
	}
	return nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// prefix splits a comparison prefix off a date or number value (eq when there is none).
func prefix(v string) (store.SearchOp, string, error) {
	if len(v) >= 2 {
		switch v[:2] {
		case "eq":
			return store.OpEq, v[2:], nil
		case "ne":
			return store.OpNe, v[2:], nil
		case "gt":
			return store.OpGt, v[2:], nil
		case "lt":
			return store.OpLt, v[2:], nil
		case "ge":
			return store.OpGe, v[2:], nil
		case "le":
			return store.OpLe, v[2:], nil
		case "sa":
			return store.OpSa, v[2:], nil
		case "eb":
			return store.OpEb, v[2:], nil
		case "ap":
			return store.OpAp, v[2:], nil
		}
	}
	return store.OpEq, v, nil
}

// approxDate is the range "ap" (approximately) stands for around a date range r: r widened on
// both sides by a tenth of the time between r and now, as the FHIR search page suggests, and by
// at least a day.
func approxDate(r Range, now time.Time) (int64, int64) {
	gap := now.UnixMilli() - r.Low
	if gap < 0 {
		gap = -gap
	}
	d := max(gap/10, int64(24*time.Hour/time.Millisecond))
	return r.Low - d, r.High + d
}

// parseNumber parses a number and the range its precision implies: "100" is [99.5, 100.5),
// "1.50" is [1.495, 1.505), "1e2" is [50, 150).
func parseNumber(s string) (f, lo, hi float64, err error) {
	f, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, 0, 0, fmt.Errorf("%q is not a number", s)
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp, _ = strconv.Atoi(s[i+1:])
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	half := 0.5 * math.Pow(10, float64(exp-decimals))
	return f, f - half, f + half, nil
}
