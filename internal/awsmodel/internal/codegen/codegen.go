// Package codegen turns a Smithy JSON AST model into the Go tables that
// package awsmodel validates requests with. It owns reading the model, the
// choice of which shapes to emit (those reachable from operation inputs), and
// the rewriting of patterns that Go's RE2 engine cannot compile. It does not
// validate anything at run time and knows nothing about HTTP.
package codegen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Trait and prelude identifiers read from the model.
const (
	traitRequired   = "smithy.api#required"
	traitIdemToken  = "smithy.api#idempotencyToken"
	traitLength     = "smithy.api#length"
	traitPattern    = "smithy.api#pattern"
	traitRange      = "smithy.api#range"
	traitEnum       = "smithy.api#enum"
	traitEnumValue  = "smithy.api#enumValue"
	preludePrefix   = "smithy.api#"
	preludeUnitID   = "smithy.api#Unit"
	maxRE2RepeatArg = 1000
)

// astModel is the part of a Smithy JSON AST document the generator reads.
type astModel struct {
	Smithy string              `json:"smithy"`
	Shapes map[string]astShape `json:"shapes"`
}

// astShape is one shape of the AST. Members stay raw so that their order,
// which decides the order of validation errors, survives decoding.
type astShape struct {
	Type       string                     `json:"type"`
	Version    string                     `json:"version"`
	Members    json.RawMessage            `json:"members"`
	Member     *astMember                 `json:"member"`
	Input      *astRef                    `json:"input"`
	Operations []astRef                   `json:"operations"`
	Resources  []astRef                   `json:"resources"`
	Mixins     []astRef                   `json:"mixins"`
	Traits     map[string]json.RawMessage `json:"traits"`

	// Resource lifecycle operations.
	Create               *astRef  `json:"create"`
	Put                  *astRef  `json:"put"`
	Read                 *astRef  `json:"read"`
	Update               *astRef  `json:"update"`
	Delete               *astRef  `json:"delete"`
	List                 *astRef  `json:"list"`
	CollectionOperations []astRef `json:"collectionOperations"`
}

type astRef struct {
	Target string `json:"target"`
}

type astMember struct {
	Target string                     `json:"target"`
	Traits map[string]json.RawMessage `json:"traits"`
}

// shapeOut is one emitted table entry.
type shapeOut struct {
	kind         string // Go constant name of the kind
	bits         int    // integer width, kindInteger only
	members      []memberOut
	item         string
	length       *[2]int64 // min, max (max = -1 when unbounded)
	pattern      string
	regexp       string
	patternRunes *[2]int64
	enum         []string
	rangeMin     string
	rangeMax     string
}

type memberOut struct {
	name, path, target string
	required, idem     bool
}

// generator holds the state of one Generate call.
type generator struct {
	shapes map[string]astShape
	ns     string
	out    map[string]*shapeOut
}

// Generate reads a Smithy JSON AST model and returns the formatted Go source
// of model_gen.go for package awsmodel. source names the model in the file
// header; pass a base name, never a path of the generating machine.
func Generate(model []byte, source string) ([]byte, error) {
	var m astModel
	if err := json.Unmarshal(model, &m); err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	if !strings.HasPrefix(m.Smithy, "2.") && !strings.HasPrefix(m.Smithy, "1.") {
		return nil, fmt.Errorf("unsupported smithy AST version %q", m.Smithy)
	}
	g := &generator{shapes: m.Shapes, out: map[string]*shapeOut{}}

	svcID, err := g.service()
	if err != nil {
		return nil, err
	}
	g.ns, _, _ = strings.Cut(svcID, "#")
	opIDs, err := g.operations(svcID)
	if err != nil {
		return nil, err
	}

	ops := map[string]string{}
	for _, id := range opIDs {
		op := g.shapes[id]
		input := preludeUnitID
		if op.Input != nil {
			input = op.Input.Target
		}
		if input == preludeUnitID {
			// An operation without input still receives "{}".
			g.out[g.key(input)] = &shapeOut{kind: "kindStructure"}
		} else if err := g.emit(input); err != nil {
			return nil, fmt.Errorf("operation %s: %w", id, err)
		}
		ops[localName(id)] = g.key(input)
	}
	return g.render(source, m.Shapes[svcID].Version, ops)
}

// service returns the ID of the model's single service shape.
func (g *generator) service() (string, error) {
	var ids []string
	for id, s := range g.shapes {
		if s.Type == "service" {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("model has %d service shapes, want exactly 1", len(ids))
	}
	return ids[0], nil
}

// operations returns the IDs of every operation bound to the service,
// directly or through its resources, sorted and without duplicates.
func (g *generator) operations(svcID string) ([]string, error) {
	seen := map[string]bool{}
	var ops []string
	var walk func(id string) error
	walk = func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		s, ok := g.shapes[id]
		if !ok {
			return fmt.Errorf("shape %s is bound but not defined", id)
		}
		switch s.Type {
		case "operation":
			ops = append(ops, id)
			return nil
		case "service", "resource":
		default:
			return fmt.Errorf("shape %s of type %s bound as an operation", id, s.Type)
		}
		refs := slices.Concat(s.Operations, s.CollectionOperations, s.Resources)
		for _, r := range []*astRef{s.Create, s.Put, s.Read, s.Update, s.Delete, s.List} {
			if r != nil {
				refs = append(refs, *r)
			}
		}
		for _, r := range refs {
			if err := walk(r.Target); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(svcID); err != nil {
		return nil, err
	}
	slices.SortFunc(ops, func(a, b string) int { return strings.Compare(localName(a), localName(b)) })
	for i := 1; i < len(ops); i++ {
		if localName(ops[i]) == localName(ops[i-1]) {
			return nil, fmt.Errorf("operations %s and %s share a name", ops[i-1], ops[i])
		}
	}
	return ops, nil
}

// key is the table key of a shape: its name for shapes in the service
// namespace, the full ID otherwise (prelude shapes, other namespaces).
func (g *generator) key(id string) string {
	if ns, name, ok := strings.Cut(id, "#"); ok && ns == g.ns {
		return name
	}
	return id
}

func localName(id string) string {
	_, name, _ := strings.Cut(id, "#")
	return name
}

// preludeTypes maps the simple prelude shapes a model may target without
// defining them to their shape type.
var preludeTypes = map[string]string{
	"String": "string", "Boolean": "boolean", "PrimitiveBoolean": "boolean",
	"Byte": "byte", "PrimitiveByte": "byte", "Short": "short", "PrimitiveShort": "short",
	"Integer": "integer", "PrimitiveInteger": "integer", "Long": "long", "PrimitiveLong": "long",
	"Float": "float", "PrimitiveFloat": "float", "Double": "double", "PrimitiveDouble": "double",
	"Timestamp": "timestamp", "Document": "document",
}

// lookup returns the definition of id, synthesising prelude shapes.
func (g *generator) lookup(id string) (astShape, error) {
	if s, ok := g.shapes[id]; ok {
		return s, nil
	}
	if name, ok := strings.CutPrefix(id, preludePrefix); ok {
		if t, ok := preludeTypes[name]; ok {
			return astShape{Type: t}, nil
		}
	}
	return astShape{}, fmt.Errorf("shape %s is not defined", id)
}

// emit adds the shape id and everything reachable from it to the output.
func (g *generator) emit(id string) error {
	k := g.key(id)
	if _, done := g.out[k]; done {
		return nil
	}
	s, err := g.lookup(id)
	if err != nil {
		return err
	}
	if len(s.Mixins) > 0 {
		return fmt.Errorf("shape %s uses mixins; flatten the model first", id)
	}
	o := &shapeOut{}
	g.out[k] = o // registered before recursing so that recursive shapes terminate
	if err := g.fill(id, s, s.Traits, o); err != nil {
		return fmt.Errorf("shape %s: %w", id, err)
	}
	return nil
}

// fill sets o from shape s with the given effective traits.
func (g *generator) fill(id string, s astShape, traits map[string]json.RawMessage, o *shapeOut) error {
	var err error
	switch s.Type {
	case "structure", "union":
		o.kind = "kindStructure"
		if s.Type == "union" {
			o.kind = "kindUnion"
		}
		o.members, err = g.members(id, s)
		return err
	case "list", "set":
		o.kind = "kindList"
		if s.Member == nil {
			return errors.New("list without member")
		}
		o.item, err = g.memberTarget(id, "member", *s.Member)
		if err != nil {
			return err
		}
		o.length, err = lengthTrait(traits)
		return err
	case "string", "enum":
		o.kind = "kindString"
		if o.length, err = lengthTrait(traits); err != nil {
			return err
		}
		if err := patternTrait(traits, o); err != nil {
			return err
		}
		if s.Type == "enum" {
			o.enum, err = enumShapeValues(s)
		} else {
			o.enum, err = enumTraitValues(traits)
		}
		return err
	case "boolean":
		o.kind = "kindBoolean"
		return nil
	case "byte", "short", "integer", "long":
		o.kind = "kindInteger"
		o.bits = map[string]int{"byte": 8, "short": 16, "integer": 32, "long": 64}[s.Type]
		return rangeTrait(traits, o, true)
	case "float", "double":
		o.kind = "kindFloat"
		return rangeTrait(traits, o, false)
	case "timestamp":
		o.kind = "kindTimestamp"
		return nil
	case "document":
		o.kind = "kindDocument"
		return nil
	default:
		return fmt.Errorf("type %q is not supported in operation inputs", s.Type)
	}
}

// members returns the members of a structure or union in model order.
func (g *generator) members(id string, s astShape) ([]memberOut, error) {
	if len(s.Members) == 0 {
		return nil, nil
	}
	names, err := orderedKeys(s.Members)
	if err != nil {
		return nil, err
	}
	var all map[string]astMember
	if err := json.Unmarshal(s.Members, &all); err != nil {
		return nil, err
	}
	out := make([]memberOut, 0, len(names))
	for _, name := range names {
		m := all[name]
		target, err := g.memberTarget(id, name, m)
		if err != nil {
			return nil, err
		}
		_, req := m.Traits[traitRequired]
		_, idem := m.Traits[traitIdemToken]
		out = append(out, memberOut{name: name, path: lowerFirst(name), target: target, required: req, idem: idem})
	}
	return out, nil
}

// memberTarget emits the member's target and returns its table key. A member
// that carries constraint traits of its own gets a synthesised shape named
// "Container$member" holding the target's traits overlaid by the member's.
func (g *generator) memberTarget(container, name string, m astMember) (string, error) {
	constrained := false
	for _, t := range []string{traitLength, traitPattern, traitRange, traitEnum} {
		if _, ok := m.Traits[t]; ok {
			constrained = true
		}
	}
	if !constrained {
		return g.key(m.Target), g.emit(m.Target)
	}
	s, err := g.lookup(m.Target)
	if err != nil {
		return "", err
	}
	traits := map[string]json.RawMessage{}
	for k, v := range s.Traits {
		traits[k] = v
	}
	for k, v := range m.Traits {
		traits[k] = v
	}
	k := g.key(container) + "$" + name
	o := &shapeOut{}
	g.out[k] = o
	if err := g.fill(m.Target, s, traits, o); err != nil {
		return "", fmt.Errorf("member %s$%s: %w", container, name, err)
	}
	return k, nil
}

func lengthTrait(traits map[string]json.RawMessage) (*[2]int64, error) {
	raw, ok := traits[traitLength]
	if !ok {
		return nil, nil
	}
	var l struct{ Min, Max *int64 }
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("length trait: %w", err)
	}
	out := [2]int64{0, -1}
	if l.Min != nil {
		out[0] = *l.Min
	}
	if l.Max != nil {
		out[1] = *l.Max
	}
	return &out, nil
}

func rangeTrait(traits map[string]json.RawMessage, o *shapeOut, integral bool) error {
	raw, ok := traits[traitRange]
	if !ok {
		return nil
	}
	var r struct{ Min, Max json.Number }
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("range trait: %w", err)
	}
	for _, n := range []json.Number{r.Min, r.Max} {
		if n == "" {
			continue
		}
		var err error
		if integral {
			_, err = strconv.ParseInt(n.String(), 10, 64)
		} else {
			_, err = strconv.ParseFloat(n.String(), 64)
		}
		if err != nil {
			return fmt.Errorf("range bound %s: %w", n, err)
		}
	}
	o.rangeMin, o.rangeMax = r.Min.String(), r.Max.String()
	return nil
}

// patternTrait records the pattern as written and an RE2 form of it.
func patternTrait(traits map[string]json.RawMessage, o *shapeOut) error {
	raw, ok := traits[traitPattern]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, &o.pattern); err != nil {
		return fmt.Errorf("pattern trait: %w", err)
	}
	re, runes, err := RE2Pattern(o.pattern)
	if err != nil {
		return err
	}
	o.regexp, o.patternRunes = re, runes
	return nil
}

// RE2Pattern returns a form of the ECMAScript pattern p that Go's regexp
// package compiles. Patterns RE2 accepts are returned unchanged. The one
// rewrite supported is for patterns RE2 rejects only because of a repeat
// count above 1000, of the form ^ATOM{m,n}$ with ATOM a character class or
// a \p / \P property: they become ^ATOM*$ and the bounds m..n, counted in
// characters (runes), are returned to be checked separately. Any other
// pattern RE2 rejects is an error, so that the generator stops instead of
// emitting a table that cannot be compiled.
func RE2Pattern(p string) (string, *[2]int64, error) {
	_, err := syntax.Parse(p, syntax.Perl)
	if err == nil {
		return p, nil, nil
	}
	var se *syntax.Error
	if !errors.As(err, &se) || se.Code != syntax.ErrInvalidRepeatSize {
		return "", nil, fmt.Errorf("pattern %q does not compile in RE2: %w", p, err)
	}
	bounded := regexp.MustCompile(`^\^(\[(?:\\.|[^\]\\])*\]|\\[pP]\{[A-Za-z_]+\}|\\[pP][A-Za-z])\{(\d+),(\d+)\}\$$`)
	sm := bounded.FindStringSubmatch(p)
	if sm == nil {
		return "", nil, fmt.Errorf("pattern %q has a repeat count above %d and is not of the form ^ATOM{m,n}$", p, maxRE2RepeatArg)
	}
	lo, err1 := strconv.ParseInt(sm[2], 10, 64)
	hi, err2 := strconv.ParseInt(sm[3], 10, 64)
	if err1 != nil || err2 != nil || lo > hi {
		return "", nil, fmt.Errorf("pattern %q: bad repeat bounds", p)
	}
	re := "^" + sm[1] + "*$"
	if _, err := syntax.Parse(re, syntax.Perl); err != nil {
		return "", nil, fmt.Errorf("pattern %q rewritten as %q: %w", p, re, err)
	}
	return re, &[2]int64{lo, hi}, nil
}

func enumShapeValues(s astShape) ([]string, error) {
	names, err := orderedKeys(s.Members)
	if err != nil {
		return nil, err
	}
	var all map[string]astMember
	if err := json.Unmarshal(s.Members, &all); err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		v := name // an enum member without enumValue has its name as value
		if raw, ok := all[name].Traits[traitEnumValue]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("enum member %s: %w", name, err)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func enumTraitValues(traits map[string]json.RawMessage) ([]string, error) {
	raw, ok := traits[traitEnum]
	if !ok {
		return nil, nil
	}
	var defs []struct{ Value string }
	if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, fmt.Errorf("enum trait: %w", err)
	}
	out := make([]string, 0, len(defs))
	for _, d := range defs {
		out = append(out, d.Value)
	}
	return out, nil
}

// orderedKeys returns the keys of a JSON object in document order.
func orderedKeys(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("members: want a JSON object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// lowerFirst gives the lowerCamelCase path segment AWS uses in validation
// messages: the member name with its first letter lower-cased.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// render writes the Go source.
func (g *generator) render(source, version string, ops map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by go run ./internal/gen; DO NOT EDIT.\n")
	fmt.Fprintf(&b, "// Source: %s (service version %s).\n\n", source, version)
	b.WriteString("package awsmodel\n\n")

	b.WriteString("// operationInputs maps each operation name to the key of its input shape.\n")
	b.WriteString("var operationInputs = map[string]string{\n")
	for _, name := range sortedKeys(ops) {
		fmt.Fprintf(&b, "\t%q: %q,\n", name, ops[name])
	}
	b.WriteString("}\n\n")

	b.WriteString("// shapes holds every shape reachable from an operation input, by key.\n")
	b.WriteString("var shapes = map[string]*shape{\n")
	for _, k := range sortedKeys(g.out) {
		o := g.out[k]
		fmt.Fprintf(&b, "\t%q: {\n\t\tkind: %s,\n", k, o.kind)
		if o.bits != 0 {
			fmt.Fprintf(&b, "\t\tbits: %d,\n", o.bits)
		}
		if len(o.members) > 0 {
			b.WriteString("\t\tmembers: []member{\n")
			for _, m := range o.members {
				fmt.Fprintf(&b, "\t\t\t{name: %q, path: %q, target: %q", m.name, m.path, m.target)
				if m.required {
					b.WriteString(", required: true")
				}
				if m.idem {
					b.WriteString(", idempotencyToken: true")
				}
				b.WriteString("},\n")
			}
			b.WriteString("\t\t},\n")
		}
		if o.item != "" {
			fmt.Fprintf(&b, "\t\titem: %q,\n", o.item)
		}
		if o.length != nil {
			fmt.Fprintf(&b, "\t\tlength: &span{min: %d, max: %d},\n", o.length[0], o.length[1])
		}
		if o.pattern != "" {
			fmt.Fprintf(&b, "\t\tpattern: %s,\n", goString(o.pattern))
			if o.regexp != o.pattern {
				fmt.Fprintf(&b, "\t\tregexp: %s,\n", goString(o.regexp))
			}
		}
		if o.patternRunes != nil {
			fmt.Fprintf(&b, "\t\tpatternLength: &span{min: %d, max: %d},\n", o.patternRunes[0], o.patternRunes[1])
		}
		if len(o.enum) > 0 {
			b.WriteString("\t\tenum: []string{")
			for i, v := range o.enum {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%q", v)
			}
			b.WriteString("},\n")
		}
		if o.rangeMin != "" {
			fmt.Fprintf(&b, "\t\tminValue: %q,\n", o.rangeMin)
		}
		if o.rangeMax != "" {
			fmt.Fprintf(&b, "\t\tmaxValue: %q,\n", o.rangeMax)
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")

	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format generated source: %w", err)
	}
	return src, nil
}

// goString quotes s as a raw string literal when it can, for readable patterns.
func goString(s string) string {
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
