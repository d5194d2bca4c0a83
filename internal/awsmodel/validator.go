package awsmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxValueRunes caps how much of a value a message echoes.
	maxValueRunes = 100
	// maxMessageErrors caps how many failures the message text lists; the
	// count in the message and Fields still cover all of them.
	maxMessageErrors = 100
	// renderBudget is the number of bytes render needs to produce so that
	// truncate still sees more than maxValueRunes runes: 4 bytes a rune,
	// plus one.
	renderBudget = 4*maxValueRunes + 1
)

// Validator checks request bodies against the model. It is safe for
// concurrent use; build one with New and share it.
type Validator struct {
	ops map[string]*node
}

// node is a shape compiled for validation.
type node struct {
	*shape
	edges []edge // members with their compiled targets
	item  *node  // list member
	re    *regexp.Regexp
	// Range bounds, parsed from minValue/maxValue for the shape's kind.
	hasMin, hasMax     bool
	minInt, maxInt     int64
	minFloat, maxFloat float64
}

type edge struct {
	member
	node *node
}

// New compiles the generated tables. It panics only if the generated
// tables are inconsistent, which the package tests rule out.
func New() *Validator {
	nodes := make(map[string]*node, len(shapes))
	for key, s := range shapes {
		nodes[key] = compile(key, s)
	}
	for key, n := range nodes {
		for _, m := range n.members {
			n.edges = append(n.edges, edge{member: m, node: mustNode(nodes, key, m.target)})
		}
		if n.kind == kindList {
			n.item = mustNode(nodes, key, n.shape.item)
		}
	}
	v := &Validator{ops: make(map[string]*node, len(operationInputs))}
	for op, input := range operationInputs {
		v.ops[op] = mustNode(nodes, op, input)
	}
	return v
}

func mustNode(nodes map[string]*node, from, key string) *node {
	n, ok := nodes[key]
	if !ok {
		panic(fmt.Sprintf("awsmodel: %s refers to undefined shape %s", from, key))
	}
	return n
}

func compile(key string, s *shape) *node {
	n := &node{shape: s}
	if s.pattern != "" {
		expr := s.regexp
		if expr == "" {
			expr = s.pattern
		}
		n.re = regexp.MustCompile(expr)
	}
	var err error
	switch s.kind {
	case kindInteger:
		if n.hasMin = s.minValue != ""; n.hasMin {
			n.minInt, err = strconv.ParseInt(s.minValue, 10, 64)
		}
		if n.hasMax = s.maxValue != ""; n.hasMax && err == nil {
			n.maxInt, err = strconv.ParseInt(s.maxValue, 10, 64)
		}
	case kindFloat:
		if n.hasMin = s.minValue != ""; n.hasMin {
			n.minFloat, err = strconv.ParseFloat(s.minValue, 64)
		}
		if n.hasMax = s.maxValue != ""; n.hasMax && err == nil {
			n.maxFloat, err = strconv.ParseFloat(s.maxValue, 64)
		}
	}
	if err != nil {
		panic(fmt.Sprintf("awsmodel: shape %s: range: %v", key, err))
	}
	return n
}

// Validate checks a request body (raw JSON as sent by an SDK) against the
// operation's input shape. It returns nil, a *SerializationError (body not
// a JSON object, or a member of the wrong JSON kind), a *ValidationError
// (constraint failures, all of them, in model member order), or an error
// wrapping ErrUnknownOperation.
//
// Unknown members are ignored and JSON null members count as absent; a
// union must set exactly one member, and that member must be a known one.
// Integers must be JSON integer literals within the shape's width.
// Timestamps accept JSON numbers (integer or fractional epoch seconds) and
// RFC 3339 strings. An empty body is not a JSON object: SDKs send "{}".
func (v *Validator) Validate(operation string, body []byte) error {
	return v.ValidateExcept(operation, body)
}

// ValidateExcept is Validate with the members at the given paths (as messages write them, e.g.
// "outputDataConfig.s3Configuration.kmsKeyId") not required: for callers that start an
// operation on another protocol's request, which may leave them out. Every other constraint
// applies as in Validate.
func (v *Validator) ValidateExcept(operation string, body []byte, optional ...string) error {
	root, ok := v.ops[operation]
	if !ok {
		return fmt.Errorf("awsmodel: %w %q", ErrUnknownOperation, operation)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &SerializationError{Message: "Request body is empty; expected a JSON object"}
		}
		return &SerializationError{Message: "Request body is not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &SerializationError{Message: "Request body has data after the JSON object"}
	}
	if _, isObj := doc.(map[string]any); !isObj {
		return &SerializationError{Message: fmt.Sprintf("Request body is a JSON %s; expected a JSON object", jsonKind(doc))}
	}
	c := checker{optional: map[string]bool{}}
	for _, p := range optional {
		c.optional[p] = true
	}
	if err := c.check(root, doc, ""); err != nil {
		return err
	}
	return c.result()
}

// checker collects failures during one Validate call.
type checker struct {
	fields   []FieldError
	texts    []string
	optional map[string]bool // paths of required members that may be absent
}

func (c *checker) fail(path, value, constraint string) {
	c.fields = append(c.fields, FieldError{Path: path, Constraint: constraint})
	if len(c.texts) < maxMessageErrors {
		c.texts = append(c.texts, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
	}
}

func (c *checker) result() error {
	switch len(c.fields) {
	case 0:
		return nil
	case 1:
		return &ValidationError{Message: "1 validation error detected: " + c.texts[0], Fields: c.fields}
	default:
		return &ValidationError{
			Message: fmt.Sprintf("%d validation errors detected: %s", len(c.fields), strings.Join(c.texts, "; ")),
			Fields:  c.fields,
		}
	}
}

// check validates val, which is present and not null, against n. A wrong
// JSON kind stops the walk with a SerializationError: AWS deserialises
// before it validates, so constraint failures found so far do not matter.
func (c *checker) check(n *node, val any, path string) *SerializationError {
	switch n.kind {
	case kindStructure, kindUnion:
		obj, ok := val.(map[string]any)
		if !ok {
			return kindError(val, path, "object")
		}
		return c.checkMembers(n, obj, path)
	case kindList:
		list, ok := val.([]any)
		if !ok {
			return kindError(val, path, "array")
		}
		c.checkLength(n.length, int64(len(list)), val, path)
		for i, item := range list {
			p := join(path, strconv.Itoa(i+1)+".member")
			if item == nil {
				c.fail(p, "null", "Member must not be null")
				continue
			}
			if err := c.check(n.item, item, p); err != nil {
				return err
			}
		}
	case kindString:
		s, ok := val.(string)
		if !ok {
			return kindError(val, path, "string")
		}
		c.checkString(n, s, path)
	case kindBoolean:
		if _, ok := val.(bool); !ok {
			return kindError(val, path, "boolean")
		}
	case kindInteger:
		num, ok := val.(json.Number)
		if !ok {
			return kindError(val, path, "integer")
		}
		i, err := strconv.ParseInt(string(num), 10, n.bits)
		if err != nil {
			return &SerializationError{Message: fmt.Sprintf("Value %s at '%s' is not a %d-bit integer", quote(string(num)), path, n.bits)}
		}
		if n.hasMin && i < n.minInt {
			c.fail(path, quote(string(num)), "Member must have value greater than or equal to "+n.minValue)
		}
		if n.hasMax && i > n.maxInt {
			c.fail(path, quote(string(num)), "Member must have value less than or equal to "+n.maxValue)
		}
	case kindFloat:
		f, err := parseFloat(val)
		if err != nil {
			return &SerializationError{Message: fmt.Sprintf("Value at '%s' is not a finite number or NaN/Infinity string: %v", path, err)}
		}
		if n.hasMin && f < n.minFloat {
			c.fail(path, quote(render(val)), "Member must have value greater than or equal to "+n.minValue)
		}
		if n.hasMax && f > n.maxFloat {
			c.fail(path, quote(render(val)), "Member must have value less than or equal to "+n.maxValue)
		}
	case kindTimestamp:
		switch t := val.(type) {
		case json.Number:
			if f, err := strconv.ParseFloat(string(t), 64); err != nil || math.IsInf(f, 0) {
				return &SerializationError{Message: fmt.Sprintf("Value %s at '%s' is not a finite number of epoch seconds", quote(string(t)), path)}
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
				return &SerializationError{Message: fmt.Sprintf("Value %s at '%s' is not an ISO-8601 date-time or epoch seconds", quote(t), path)}
			}
		default:
			return kindError(val, path, "timestamp")
		}
	case kindDocument:
		// Any JSON value is a document.
	}
	return nil
}

func (c *checker) checkMembers(n *node, obj map[string]any, path string) *SerializationError {
	if n.kind == kindUnion && !oneMemberSet(n, obj) {
		c.fail(path, quote(render(obj)), "Member must have exactly one member set")
	}
	for _, m := range n.edges {
		p := join(path, m.path)
		val := obj[m.name]
		if val == nil {
			if m.required && !c.optional[p] {
				c.fail(p, "null", "Member must not be null")
			}
			continue
		}
		if err := c.check(m.node, val, p); err != nil {
			return err
		}
	}
	return nil
}

// oneMemberSet reports whether a union value sets exactly one member, and
// that member is one the model knows. Unknown keys count here, unlike in
// structures: a union with a known and an unknown member has two members
// set, and one with only an unknown member cannot be processed. "__type",
// which AWS JSON protocols may add to unions, is not a member.
func oneMemberSet(n *node, obj map[string]any) bool {
	set, known := 0, 0
	for k, v := range obj {
		if v == nil || k == "__type" {
			continue
		}
		set++
		if slices.ContainsFunc(n.members, func(m member) bool { return m.name == k }) {
			known++
		}
	}
	return set == 1 && known == 1
}

func (c *checker) checkString(n *node, s, path string) {
	if len(n.enum) > 0 && !slices.Contains(n.enum, s) {
		c.fail(path, quote(s), "Member must satisfy enum value set: ["+strings.Join(n.enum, ", ")+"]")
	}
	runes := int64(utf8.RuneCountInString(s))
	c.checkLength(n.length, runes, s, path)
	if n.re != nil {
		ok := n.patternLength == nil || (runes >= n.patternLength.min && runes <= n.patternLength.max)
		if !ok || !n.re.MatchString(s) {
			c.fail(path, quote(s), "Member must satisfy regular expression pattern: "+n.pattern)
		}
	}
}

// checkLength checks size, in characters for strings and items for lists.
func (c *checker) checkLength(l *span, size int64, val any, path string) {
	if l == nil {
		return
	}
	if size < l.min {
		c.fail(path, quote(render(val)), fmt.Sprintf("Member must have length greater than or equal to %d", l.min))
	}
	if l.max >= 0 && size > l.max {
		c.fail(path, quote(render(val)), fmt.Sprintf("Member must have length less than or equal to %d", l.max))
	}
}

func join(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}

func parseFloat(val any) (float64, error) {
	switch t := val.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, fmt.Errorf("out of range: %s", truncate(string(t)))
		}
		return f, nil
	case string:
		// Smithy's JSON protocols carry non-finite values as strings.
		switch t {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, fmt.Errorf("unexpected JSON %s", jsonKind(val))
}

func kindError(val any, path, want string) *SerializationError {
	return &SerializationError{Message: fmt.Sprintf("Unexpected JSON %s at '%s'; expected %s", jsonKind(val), path, want)}
}

func jsonKind(val any) string {
	switch val.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	default:
		return "null"
	}
}

// quote renders a value the way AWS messages show it: in single quotes,
// cut to maxValueRunes characters.
func quote(s string) string {
	return "'" + truncate(s) + "'"
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxValueRunes {
		return s
	}
	i, n := 0, 0
	for i = range s {
		if n == maxValueRunes {
			break
		}
		n++
	}
	return s[:i] + "..."
}

// render shows a decoded JSON value Java-style: strings bare, lists as
// "[a, b]", objects as "{K=v}" with sorted keys. It stops early once the
// text is longer than quote will keep, so huge values cost little.
func render(val any) string {
	var b strings.Builder
	renderTo(&b, val)
	return b.String()
}

func renderTo(b *strings.Builder, val any) {
	room := renderBudget - b.Len()
	if room < 0 {
		return // already past what truncate keeps
	}
	switch t := val.(type) {
	case string:
		b.WriteString(t[:min(len(t), room+1)])
	case json.Number:
		b.WriteString(string(t))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	case []any:
		b.WriteByte('[')
		for i, item := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			renderTo(b, item)
			if b.Len() > renderBudget {
				return
			}
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(t) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteByte('=')
			renderTo(b, t[k])
			if b.Len() > renderBudget {
				return
			}
		}
		b.WriteByte('}')
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
