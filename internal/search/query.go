package search

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Op is how a predicate compares; the values match store.SearchOp one for one.
type Op uint8

// Comparison operators: the eight FHIR prefixes, then the string, token and uri modifiers.
const (
	OpEq Op = iota
	OpNe
	OpGt
	OpLt
	OpGe
	OpLe
	OpSa
	OpEb
	OpPrefix
	OpExact
	OpContains
	OpText
	OpBelow
	OpMissing
)

// Predicate is one parsed test on one parameter; see store.SearchPredicate for the meaning of
// each field (Predicate mirrors it field for field).
type Predicate struct {
	Param           string
	Kind            Kind
	Op              Op
	Not             bool
	Missing         bool
	AnySystem       bool
	System          string
	Code            string
	Value           string
	RefType         string
	RefID           string
	Low, High       int64
	NumLow, NumHigh float64
	Num             float64
	Chain           *Chain
}

// Chain is the target side of a chained parameter ("subject:Patient.name=x").
type Chain struct {
	Type  string
	Where []Predicate
}

// Sort is one _sort key.
type Sort struct {
	Param string
	Kind  Kind
	Desc  bool
}

// Include is one _include ("Encounter:patient") or _revinclude ("Observation:subject").
type Include struct {
	Type       string
	Param      string
	TargetType string
}

// Query is a parsed search of one resource type.
type Query struct {
	Type string
	// Where is a conjunction (parameters, repeated parameters) of disjunctions (comma-separated
	// values).
	Where      [][]Predicate
	Sort       []Sort
	Count      int  // page size
	CountOnly  bool // _summary=count or _count=0
	Total      bool // _total=accurate or estimate
	Include    []Include
	RevInclude []Include
	// Page is the opaque cursor of a next link ("" for the first page).
	Page string
	// Ignored lists the parameters that were not understood (lenient handling).
	Ignored []string
}

// Page sizes: the default and the maximum of _count.
const (
	DefaultCount = 100
	MaxCount     = 100
)

// Error is a search that cannot be run as asked (HTTP 400 in the data plane).
type Error struct {
	Param string
	Msg   string
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

// ignoredControls are result parameters accepted and not acted on.
var ignoredControls = map[string]bool{"_format": true, "_pretty": true, "_elements": true, "_contained": true, "_containedType": true}

// Parse parses the search parameters of a search of resource type typ. With strict (Prefer:
// handling=strict) an unknown parameter or modifier is an error; otherwise unknown parameters
// are ignored and listed in Ignored.
func Parse(typ string, values url.Values, strict bool) (Query, error) {
	q := Query{Type: typ, Count: DefaultCount}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, raw := range values[name] {
			if err := q.add(name, raw, strict); err != nil {
				return q, err
			}
		}
	}
	return q, nil
}

func (q *Query) add(name, raw string, strict bool) error {
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
		if raw == "count" {
			q.CountOnly = true
			return nil
		}
		if strict && raw != "false" {
			return errf(name, "only _summary=count is supported")
		}
		q.Ignored = append(q.Ignored, name)
		return nil
	case "_total":
		q.Total = raw == "accurate" || raw == "estimate"
		return nil
	case "_page":
		q.Page = raw
		return nil
	case "_sort":
		return q.addSort(raw)
	case "_include", "_revinclude":
		return q.addInclude(name, raw, strict)
	}
	if ignoredControls[name] {
		return nil
	}
	preds, err := parseParam(q.Type, name, raw, strict)
	if err != nil {
		return err
	}
	if preds == nil {
		q.Ignored = append(q.Ignored, name)
		return nil
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
			q.Sort = append(q.Sort, Sort{Param: code, Desc: desc})
			continue
		}
		p, ok := Lookup(q.Type, code)
		if !ok || p.compiled == nil || p.Kind == kindReference {
			return errf("_sort", "cannot sort %s by %q", q.Type, code)
		}
		q.Sort = append(q.Sort, Sort{Param: code, Kind: p.Kind, Desc: desc})
	}
	return nil
}

func (q *Query) addInclude(name, raw string, strict bool) error {
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[1] == "*" {
		if strict {
			return errf(name, "want Type:parameter[:targetType], got %q", raw)
		}
		q.Ignored = append(q.Ignored, name)
		return nil
	}
	inc := Include{Type: parts[0], Param: parts[1]}
	if len(parts) == 3 {
		inc.TargetType = parts[2]
	}
	p, ok := Lookup(inc.Type, inc.Param)
	if !ok || p.Kind != kindReference {
		return errf(name, "%s:%s is not a reference parameter", inc.Type, inc.Param)
	}
	if name == "_include" {
		if inc.Type != q.Type {
			return errf(name, "%q does not start with the searched type %s", raw, q.Type)
		}
		q.Include = append(q.Include, inc)
		return nil
	}
	if len(p.Targets) > 0 && !contains(p.Targets, q.Type) {
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

// parseParam parses one "name[:modifier][.chained]=value[,value]" pair. It returns nil, nil for
// a parameter to ignore.
func parseParam(typ, name, raw string, strict bool) ([]Predicate, error) {
	unknown := func(format string, args ...any) ([]Predicate, error) {
		if strict {
			return nil, errf(name, format, args...)
		}
		return nil, nil
	}
	chainRest := ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name, chainRest = name[:i], name[i+1:]
	}
	code, modifier, _ := strings.Cut(name, ":")
	if code == "_id" || code == "_lastUpdated" {
		if chainRest != "" {
			return unknown("cannot be chained")
		}
		kind := kindToken
		if code == "_lastUpdated" {
			kind = kindDate
		}
		return parseValues(&Param{Code: code, Kind: kind}, modifier, raw)
	}
	p, ok := Lookup(typ, code)
	if !ok || p.compiled == nil {
		return unknown("unknown search parameter for %s", typ)
	}
	if chainRest == "" {
		return parseValues(p, modifier, raw)
	}
	if p.Kind != kindReference {
		return nil, errf(name, "only reference parameters can be chained")
	}
	targets := p.Targets
	if modifier != "" {
		targets = []string{modifier}
	}
	innerName, _, _ := strings.Cut(chainRest, ":")
	var out []Predicate
	for _, t := range targets {
		if _, ok := Lookup(t, innerName); !ok && innerName != "_id" && innerName != "_lastUpdated" {
			continue
		}
		inner, err := parseParam(t, chainRest, raw, true)
		if err != nil {
			return nil, err
		}
		if strings.Contains(chainRest, ".") {
			return nil, errf(name, "only one level of chaining is supported")
		}
		// The comma-separated values of the inner parameter are alternatives of one target.
		for _, ip := range inner {
			out = append(out, Predicate{Param: code, Kind: kindReference, Chain: &Chain{Type: t, Where: []Predicate{ip}}})
		}
	}
	if len(out) == 0 {
		return nil, errf(name, "no target type of %s has the parameter %q", code, innerName)
	}
	return out, nil
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

func parseValues(p *Param, modifier, raw string) ([]Predicate, error) {
	name := p.Code
	if modifier != "" {
		name += ":" + modifier
	}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			return []Predicate{{Param: p.Code, Kind: p.Kind, Op: OpMissing, Missing: raw == "true"}}, nil
		}
		return nil, errf(name, "must be true or false")
	}
	var out []Predicate
	for _, v := range splitValues(raw) {
		if v == "" {
			return nil, errf(name, "empty value")
		}
		pr := Predicate{Param: p.Code, Kind: p.Kind}
		if err := parseValue(p, modifier, v, &pr); err != nil {
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

// parseValue fills pr from one value.
func parseValue(p *Param, modifier, v string, pr *Predicate) error {
	switch p.Kind {
	case kindString:
		switch modifier {
		case "":
			pr.Op, pr.Value = OpPrefix, Normalize(v)
		case "exact":
			pr.Op, pr.Value = OpExact, v
		case "contains":
			pr.Op, pr.Value = OpContains, Normalize(v)
		default:
			return fmt.Errorf("modifier :%s is not supported", modifier)
		}
	case kindToken:
		switch modifier {
		case "", "not":
			pr.Not = modifier == "not"
		case "text":
			pr.Op, pr.Value = OpText, Normalize(v)
			return nil
		default:
			return fmt.Errorf("modifier :%s is not supported", modifier)
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
		case modifier == "identifier" || modifier == "missing":
			return fmt.Errorf("modifier :%s is not supported", modifier)
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
			return fmt.Errorf("modifier :%s is not supported", modifier)
		}
		op, rest := prefix(v)
		if op == OpPrefix {
			return fmt.Errorf("prefix of %q is not supported", v)
		}
		r, ok := ParseDate(rest)
		if !ok {
			return fmt.Errorf("%q is not a date", rest)
		}
		pr.Op, pr.Low, pr.High = op, r.Low, r.High
	case kindNumber, kindQuantity:
		if modifier != "" {
			return fmt.Errorf("modifier :%s is not supported", modifier)
		}
		op, rest := prefix(v)
		if op == OpPrefix {
			return fmt.Errorf("prefix of %q is not supported", v)
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
	case kindURI:
		switch modifier {
		case "":
			pr.Op = OpEq
		case "below":
			pr.Op = OpBelow
		default:
			return fmt.Errorf("modifier :%s is not supported", modifier)
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

// prefix splits a comparison prefix off a date or number value (eq when there is none). "ap" is
// not supported (OpPrefix is returned as the refusal).
func prefix(v string) (Op, string) {
	if len(v) >= 2 {
		switch v[:2] {
		case "eq":
			return OpEq, v[2:]
		case "ne":
			return OpNe, v[2:]
		case "gt":
			return OpGt, v[2:]
		case "lt":
			return OpLt, v[2:]
		case "ge":
			return OpGe, v[2:]
		case "le":
			return OpLe, v[2:]
		case "sa":
			return OpSa, v[2:]
		case "eb":
			return OpEb, v[2:]
		case "ap":
			return OpPrefix, v
		}
	}
	return OpEq, v
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
