package fhir

import (
	"bytes"
	"github.com/fhirlake/fhirlake/internal/jsonscan"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// This file is the structure-only and strict validator: one pass over the
// JSON that follows the generated tables while it scans, validating syntax as
// it goes and building no tree. Paths, seen members and resource frames live
// in slices that are reused across calls through the Validator's pool. At
// strict, the constraints of the definitions are then evaluated on the
// resource by the FHIRPath engine (invariants.go).

// walker is the scratch state of one Validate call.
type walker struct {
	t      *tables
	strict bool
	d      []byte
	failed bool // a syntax error: the rest of the input is not looked at

	issues []Issue
	capped bool

	path   []seg
	seen   []seenKey
	frames []frame
	buf    []byte // scratch for decoded strings
	depth  int

	// The constraint evaluation of the strict level: the walk builds doc.
	noInvariants bool
	build        bool
	built        bool // doc holds the last input
	docDone      bool // doc is the whole resource, for Validator.ValidateThen
	doc          fhirpath.Doc
	ev           *fhirpath.Evaluator
	steps        int // FHIRPath steps taken on the last resource
}

// seg is one step of an expression path: a member name and, for array
// items, an index (-1 otherwise).
type seg struct {
	name string
	idx  int
}

// seenKey records one member of the object being walked.
type seenKey struct {
	key   uint32
	n     int    // array length, -1 for a single value
	nulls uint64 // value arrays: null items; _element arrays: non-null items (first 64)
}

type frameKind uint8

const (
	frameTop frameKind = iota
	frameContained
	frameNested // Bundle.entry.resource, Parameters.parameter.resource, ...
)

// frame is a resource being walked.
type frame struct {
	td     *typeDef
	kind   frameKind
	id     []byte
	hasID  bool // a string id (kept in id, valid or not)
	idSeen bool // an id member of any kind
}

// objState carries what an object's members need from its context.
type objState struct {
	td      *typeDef
	vs      *valueSet  // a required binding of the Coding/CodeableConcept being walked
	targets *targetSet // Reference targets when td is Reference
	flags   uint8

	system, code []byte // of a Coding with a required binding (strict)
}

const (
	flagResourceRoot = 1 << iota // the object is a resource
)

func (w *walker) reset() {
	w.d = nil
	w.issues = w.issues[:0]
	w.path = w.path[:0]
	w.seen = w.seen[:0]
	// Drop the slices into the last input so that pooled walkers do not pin it.
	clear(w.frames[:cap(w.frames)])
	w.frames = w.frames[:0]
	w.failed, w.capped, w.depth, w.steps, w.docDone = false, false, 0, 0, false
	if w.built {
		w.doc.Begin(nil, nil) // nor does its Doc
		w.built = false
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil
	}
}

// run validates d at structure-only, or strict when strict is set.
func (w *walker) run(d []byte, strict bool) Result {
	w.d, w.strict = d, strict
	w.build = strict && !w.noInvariants
	if w.build {
		w.doc.Begin(w.t.inv.model, d)
		w.built = true
	}
	var res Result
	i := jsonscan.SkipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		res.Issues = []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "the resource is not a JSON object"}}
		return res
	}
	td, end := w.resource(i, frameTop, nil, &res)
	if !w.failed && jsonscan.SkipWS(d, end) != len(d) {
		w.failed = true
	}
	if w.failed {
		res.Issues = []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "the resource is not well-formed JSON"}}
		if td != nil {
			res.ResourceType = td.name
		}
		return res
	}
	if w.build && td != nil {
		w.docDone = w.checkInvariants()
	}
	if len(w.issues) > 0 {
		res.Issues = append([]Issue(nil), w.issues...)
	}
	return res
}

// fail records a syntax error and returns an offset that ends every loop.
func (w *walker) fail() int {
	w.failed = true
	return len(w.d)
}

// expr renders the current path, plus an optional last member name.
func (w *walker) expr(extra string) string {
	var sb strings.Builder
	for k, s := range w.path {
		if k > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.name)
		if s.idx >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.idx))
			sb.WriteByte(']')
		}
	}
	if extra != "" {
		if len(w.path) > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(extra)
	}
	return sb.String()
}

func (w *walker) addAt(severity, code, diag, expr string) {
	if len(w.issues) >= MaxIssues {
		if !w.capped {
			w.capped = true
			w.issues = append(w.issues, Issue{Severity: SeverityWarning, Code: "too-costly", Diagnostics: "more than " + strconv.Itoa(MaxIssues) + " issues; the rest are not reported"})
		}
		return
	}
	w.issues = append(w.issues, Issue{Severity: severity, Code: code, Diagnostics: diag, Expression: expr})
}

// add records an error at the current path (plus extra).
func (w *walker) add(code, diag, extra string) {
	if len(w.issues) >= MaxIssues && w.capped {
		return
	}
	w.addAt(SeverityError, code, diag, w.expr(extra))
}

// skip scans over a value the tables do not describe.
func (w *walker) skip(i int) int {
	end, ok := jsonscan.Skip(w.d, i, w.depth)
	if !ok {
		return w.fail()
	}
	return end
}

// resource walks the resource object at d[i]. For the top-level resource it
// also fills res.ResourceType and res.ID.
func (w *walker) resource(i int, kind frameKind, e *elemDef, res *Result) (*typeDef, int) {
	d := w.d
	// Fast path: resourceType is the first member, as every serializer writes it.
	var rtRaw []byte
	var rtEsc, rtOK, rtFound bool
	j := jsonscan.SkipWS(d, i+1)
	const rtKey = `"resourceType"`
	if j+len(rtKey) < len(d) && string(d[j:j+len(rtKey)]) == rtKey {
		k := jsonscan.SkipWS(d, j+len(rtKey))
		if k < len(d) && d[k] == ':' {
			k = jsonscan.SkipWS(d, k+1)
			rtFound = true
			if k < len(d) && d[k] == '"' {
				end, esc, ok := jsonscan.String(d, k)
				if !ok {
					return nil, w.fail()
				}
				rtRaw, rtEsc, rtOK = d[k+1:end-1], esc, true
			}
		}
	}
	if !rtFound {
		env, ok := scanEnvelope(d, i)
		if !ok {
			return nil, w.fail()
		}
		rtFound, rtOK, rtRaw, rtEsc = env.rtFound, env.rtString, env.rt, env.rtEsc
	}
	var td *typeDef
	var name []byte
	if rtOK {
		name = decoded(rtRaw, rtEsc)
		td = w.t.resources[string(name)]
	}
	if kind == frameTop {
		if td != nil {
			res.ResourceType = td.name
			w.path = append(w.path, seg{td.name, -1})
		} else if rtOK {
			res.ResourceType = string(name)
		}
	}
	if td == nil {
		switch {
		case !rtFound:
			w.add("required", "resourceType is missing", "")
		case !rtOK:
			w.add("structure", "resourceType must be a JSON string", "resourceType")
		default:
			w.add("invalid", "resourceType "+quote(name)+" is not a concrete FHIR R4 resource type", "resourceType")
		}
		end := w.skip(i)
		if kind == frameTop {
			env, ok := scanEnvelope(d, i)
			if ok {
				res.ID, _ = envelopeID(&env)
			}
		}
		return nil, end
	}

	w.frames = append(w.frames, frame{td: td, kind: kind})
	if w.build {
		if kind == frameTop {
			w.doc.Open(nil, td.fp, -1, false)
		} else {
			w.doc.Open(e.fp, td.fp, w.index(), false)
		}
	}
	end := w.object(i, &objState{td: td, flags: flagResourceRoot})
	if w.failed {
		return td, end
	}
	if w.build {
		w.doc.Close()
	}
	f := w.frames[len(w.frames)-1]
	if kind == frameTop {
		if f.hasID {
			res.ID = string(f.id)
		}
		if !f.idSeen {
			w.add("required", "id is missing", "id")
		}
	}
	if kind == frameContained && w.strict && !f.idSeen {
		// Contained resources are reached by "#id" only (dom-3).
		w.add("required", "a contained resource must have an id", "")
	}
	w.frames = w.frames[:len(w.frames)-1]
	return td, end
}

// object walks the object at d[i] (d[i] == '{') as type o.td.
func (w *walker) object(i int, o *objState) int {
	d := w.d
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > jsonscan.MaxDepth {
		return w.fail()
	}
	td := o.td
	start := len(w.seen)
	i = jsonscan.SkipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		n := len(w.issues)
		w.add("invariant", "ele-1: an element must have a value or children (empty object)", "")
		if len(w.issues) > n {
			w.issues[n].Key = "ele-1"
		}
		return i + 1
	}
	rtSeen := false
	for !w.failed {
		if i >= len(d) || d[i] != '"' {
			return w.fail()
		}
		kEnd, kEsc, ok := jsonscan.String(d, i)
		if !ok {
			return w.fail()
		}
		key := d[i+1 : kEnd-1]
		if kEsc {
			key = jsonscan.Unescape(nil, key)
		}
		i = jsonscan.SkipWS(d, kEnd)
		if i >= len(d) || d[i] != ':' {
			return w.fail()
		}
		i = jsonscan.SkipWS(d, i+1)
		if i >= len(d) {
			return w.fail()
		}
		packed, known := td.keys[string(key)]
		switch {
		case known:
			i = w.member(i, o, packed, start)
		case td.resource && string(key) == "resourceType":
			if rtSeen {
				w.add("structure", `duplicate JSON key "resourceType"`, "resourceType")
			}
			rtSeen = true
			i = w.skip(i)
		default:
			w.add("structure", "unknown element "+quote(key)+" in "+td.name, string(key))
			i = w.skip(i)
		}
		if w.failed {
			return i
		}
		i = jsonscan.SkipWS(d, i)
		if i >= len(d) {
			return w.fail()
		}
		if d[i] == '}' {
			i++
			break
		}
		if d[i] != ',' {
			return w.fail()
		}
		i = jsonscan.SkipWS(d, i+1)
	}
	if w.failed {
		return i
	}
	w.endObject(o, start)
	if o.system != nil && o.code != nil {
		w.checkCoding(o.vs, o.system, o.code)
	}
	w.seen = w.seen[:start]
	return i
}

// endObject runs the per-object checks once all members are known.
func (w *walker) endObject(o *objState, start int) {
	td := o.td
	seen := w.seen[start:]
	// Primitive arrays and their _element arrays must line up.
	for _, s := range seen {
		e := &td.elems[s.key&0xffff]
		if !e.many {
			continue
		}
		if s.key&keyUnderscore == 0 {
			if s.nulls == 0 {
				continue
			}
			var under *seenKey
			for k := range seen {
				if seen[k].key&0xffff == s.key&0xffff && seen[k].key&keyUnderscore != 0 {
					under = &seen[k]
				}
			}
			if under == nil || s.nulls&^under.nulls != 0 {
				w.add("value", "null items in "+e.name+" need a matching item in _"+e.name, e.name)
			}
			continue
		}
		for _, v := range seen {
			if v.key&0xffff == s.key&0xffff && v.key&keyUnderscore == 0 && v.n != s.n {
				w.add("structure", "_"+e.name+" must have as many items as "+e.name, "_"+e.name)
			}
		}
	}
	if !w.strict {
		return
	}
	for _, ri := range td.required {
		found := false
		for _, s := range seen {
			if s.key&0xffff == uint32(ri) {
				found = true
				break
			}
		}
		if !found {
			e := &td.elems[ri]
			name := e.name
			if e.choice {
				name += "[x]"
			}
			w.add("required", "missing required element "+e.path+" (minimum cardinality "+strconv.Itoa(e.min)+")", name)
		}
	}
}

// member walks the value of one known member at d[i].
func (w *walker) member(i int, o *objState, packed uint32, start int) int {
	d := w.d
	td := o.td
	ei, ti, under := int(packed&0xffff), int(packed>>16&0xff), packed&keyUnderscore != 0
	e := &td.elems[ei]
	et := &e.types[ti]
	// Duplicate keys and second choice variants.
	for _, s := range w.seen[start:] {
		if s.key&0xffff != uint32(ei) {
			continue
		}
		if int(s.key>>16&0xff) != ti {
			w.add("structure", e.path+" has more than one type variant (only one "+e.name+"[x] is allowed)", jsonName(e, et, under))
			break
		}
		if s.key&keyUnderscore == packed&keyUnderscore {
			w.add("structure", "duplicate JSON key "+quote([]byte(jsonName(e, et, under))), jsonName(e, et, under))
			break
		}
	}
	if o.flags&flagResourceRoot != 0 && e.name == "id" {
		w.frames[len(w.frames)-1].idSeen = true
	}
	w.path = append(w.path, seg{jsonElemName(e, et), -1})
	rec := seenKey{key: packed, n: -1}
	child := objState{}
	if !under && et.def != nil {
		child.td = et.def
		switch et.def {
		case w.t.reference:
			child.targets = et.targets
		case w.t.coding, w.t.codeableConcept:
			child.vs = e.vs
			if e.vs == nil && td == w.t.codeableConcept {
				child.vs = o.vs // CodeableConcept.coding inherits the binding
			}
		}
	}
	if e.many {
		if d[i] != '[' {
			w.add("structure", e.path+" has maximum cardinality * and must be a JSON array", "")
			i = w.skip(i)
		} else {
			i = jsonscan.SkipWS(d, i+1)
			if i < len(d) && d[i] == ']' {
				w.add("value", "arrays must not be empty", "")
			}
			n := 0
			for i < len(d) && d[i] != ']' && !w.failed {
				w.path[len(w.path)-1].idx = n
				if d[i] == 'n' {
					var ok bool
					if i, ok = jsonscan.Literal(d, i, "null"); !ok {
						return w.fail()
					}
					if et.prim < primBoolean {
						w.add("value", "null is not allowed in "+e.path, "")
					} else if !under && n < 64 {
						rec.nulls |= 1 << uint(n)
					}
				} else {
					if under && n < 64 {
						rec.nulls |= 1 << uint(n)
					}
					i = w.item(i, o, e, et, under, &child)
				}
				n++
				i = jsonscan.SkipWS(d, i)
				if i < len(d) && d[i] == ',' {
					i = jsonscan.SkipWS(d, i+1)
					if i < len(d) && d[i] == ']' {
						return w.fail()
					}
				} else if i >= len(d) || d[i] != ']' {
					return w.fail()
				}
			}
			if i >= len(d) {
				return w.fail()
			}
			i++
			rec.n = n
		}
	} else {
		switch d[i] {
		case '[':
			w.add("structure", e.path+" has maximum cardinality 1 and must not be a JSON array", "")
			i = w.skip(i)
		case 'n':
			w.add("value", "null is not allowed", "")
			i = w.skip(i)
		default:
			i = w.item(i, o, e, et, under, &child)
		}
	}
	w.path = w.path[:len(w.path)-1]
	w.seen = append(w.seen, rec)
	return i
}

// jsonElemName is the path step for an element: the JSON name of a choice
// variant (valueQuantity), the plain name otherwise.
func jsonElemName(e *elemDef, et *elemType) string {
	if e.choice {
		return et.jsonName
	}
	return e.name
}

func jsonName(e *elemDef, et *elemType, under bool) string {
	n := jsonElemName(e, et)
	if under {
		return "_" + n
	}
	return n
}

// item walks one value (not null, not an array) of element e.
func (w *walker) item(i int, o *objState, e *elemDef, et *elemType, under bool, child *objState) int {
	d := w.d
	if under {
		if d[i] != '{' {
			w.add("structure", "_"+e.name+" must be a JSON object (the primitive's id and extensions)", "")
			return w.skip(i)
		}
		if !w.build {
			return w.object(i, &objState{td: w.t.element})
		}
		w.doc.Open(e.fp, et.fp, w.index(), true)
		end := w.object(i, &objState{td: w.t.element})
		if !w.failed {
			w.doc.Close()
		}
		return end
	}
	switch {
	case et.prim >= primBoolean:
		return w.primitive(i, o, e, et)
	case et.prim == primResource:
		if d[i] != '{' {
			w.add("structure", e.path+" must be a JSON object (a resource)", "")
			return w.skip(i)
		}
		kind := frameNested
		if e.name == "contained" && o.flags&flagResourceRoot != 0 {
			kind = frameContained
		}
		_, end := w.resource(i, kind, e, nil)
		return end
	default:
		if d[i] != '{' {
			w.add("structure", e.path+" is a "+et.code+" and must be a JSON object", "")
			return w.skip(i)
		}
		c := *child
		if !w.build {
			return w.object(i, &c)
		}
		w.doc.Open(e.fp, et.fp, w.index(), false)
		end := w.object(i, &c)
		if !w.failed {
			w.doc.Close()
		}
		return end
	}
}

// index is the array index of the member being walked, -1 when it is not in
// an array.
func (w *walker) index() int { return w.path[len(w.path)-1].idx }

// primitive walks a primitive value at d[i].
func (w *walker) primitive(i int, o *objState, e *elemDef, et *elemType) int {
	d := w.d
	switch et.prim {
	case primBoolean:
		if d[i] != 't' && d[i] != 'f' {
			w.add("structure", e.path+" is a boolean and must be JSON true or false", "")
			return w.skip(i)
		}
		end := w.skip(i)
		if w.build && !w.failed {
			w.doc.Value(e.fp, et.fp, w.index(), i, end, false)
		}
		return end
	case primInteger, primUnsignedInt, primPositiveInt, primDecimal:
		if d[i] != '-' && (d[i] < '0' || d[i] > '9') {
			w.add("structure", e.path+" is a "+et.code+" and must be a JSON number", "")
			return w.skip(i)
		}
		end, ok := jsonscan.Number(d, i)
		if !ok {
			return w.fail()
		}
		if w.build {
			w.doc.Value(e.fp, et.fp, w.index(), i, end, false)
		}
		var min int64 = -1 << 31
		switch et.prim {
		case primDecimal:
			return end
		case primUnsignedInt:
			min = 0
		case primPositiveInt:
			min = 1
		}
		if !integerToken(d[i:end], min) {
			w.add("value", "value "+string(d[i:end])+" is not a valid "+et.code, "")
		}
		return end
	}
	if d[i] != '"' {
		w.add("structure", e.path+" is a "+et.code+" and must be a JSON string", "")
		return w.skip(i)
	}
	end, esc, ok := jsonscan.String(d, i)
	if !ok {
		return w.fail()
	}
	s := d[i+1 : end-1]
	if esc {
		w.buf = jsonscan.Unescape(w.buf[:0], s)
		s = w.buf
	}
	if w.build {
		if esc {
			w.doc.DecodedValue(e.fp, et.fp, w.index(), s)
		} else {
			w.doc.Value(e.fp, et.fp, w.index(), i+1, end-1, true)
		}
	}
	if len(s) == 0 {
		w.add("value", "strings must not be empty", "")
		return end
	}
	valid := true
	switch et.prim {
	case primString, primMarkdown:
		valid = validString(s)
	case primURI, primURL, primCanonical:
		valid = validURI(s)
		if valid && w.strict {
			w.checkURI(o, e, s)
		}
	case primCode:
		valid = validCode(s)
	case primID:
		valid = validID(s)
	case primDate:
		valid = validDate(s)
	case primDateTime:
		valid = validDateTime(s)
	case primInstant:
		valid = validInstant(s)
	case primTime:
		valid = validTime(s)
	case primOID:
		valid = validOID(s)
	case primUUID:
		valid = validUUID(s)
	case primBase64Binary:
		valid = validBase64(s)
	}
	if o.flags&flagResourceRoot != 0 && e.name == "id" {
		f := &w.frames[len(w.frames)-1]
		f.id, f.hasID = w.keep(s, esc), true
	}
	if !valid {
		w.add("value", "value "+quote(s)+" is not a valid "+et.code, "")
		return end
	}
	if len(s) > maxString && (et.prim == primString || et.prim == primMarkdown || et.prim == primCode || et.prim == primID) {
		w.add("value", "a string must not exceed 1 MB ("+strconv.Itoa(len(s))+" bytes)", "")
	}
	if !w.strict {
		return end
	}
	if e.vs != nil && et.prim == primCode {
		if _, extra := e.extra[string(s)]; !extra {
			w.checkCode(e.vs, s)
		}
	}
	if o.td == w.t.coding && o.vs != nil {
		switch e.name {
		case "system":
			o.system = w.keep(s, esc)
		case "code":
			o.code = w.keep(s, esc)
		}
	}
	if o.td == w.t.reference && e.name == "reference" {
		w.checkReference(s, esc, o.targets)
	}
	return end
}

// checkURI applies the strict rules on uri values: urn:uuid and urn:oid
// values must be well-formed (the uuid and oid types' rules); a Bundle
// entry's fullUrl and a canonical resource's url must be absolute.
func (w *walker) checkURI(o *objState, e *elemDef, s []byte) {
	id := s
	if k := bytes.IndexByte(id, '|'); k >= 0 {
		id = id[:k] // a canonical's version
	}
	switch {
	case bytes.HasPrefix(s, []byte("urn:uuid:")) && !validUUID(id):
		w.add("value", "value "+quote(s)+" is not a valid urn:uuid (a lowercase UUID, 8-4-4-4-12 hex digits)", "")
		return
	case bytes.HasPrefix(s, []byte("urn:oid:")) && !validOID(id):
		w.add("value", "value "+quote(s)+" is not a valid urn:oid", "")
		return
	}
	switch {
	case e.name == "fullUrl" && o.td.name == "Bundle.entry" && !hasScheme(s):
		w.add("value", "fullUrl "+quote(s)+" must be an absolute URL", "")
	case e.name == "url" && o.flags&flagResourceRoot != 0 && s[0] != '#' && !hasScheme(s):
		w.add("value", "the canonical URL "+quote(s)+" must be an absolute URL", "")
	}
}

// hasScheme reports whether s starts with a URI scheme and a colon.
func hasScheme(s []byte) bool {
	for k, c := range s {
		switch {
		case c == ':':
			return k > 0 && k < len(s)-1
		case isAlpha(c), k > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// maxString is R4's limit on the size of a string: "Strings SHALL NOT exceed
// 1MB in size" (1 MiB of UTF-8).
const maxString = 1 << 20

// keep returns s for storing beyond the current value: decoded strings live
// in the scratch buffer, so they are copied.
func (w *walker) keep(s []byte, esc bool) []byte {
	if !esc {
		return s
	}
	return append([]byte(nil), s...)
}
