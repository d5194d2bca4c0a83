package search

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Entry is one indexed value of one search parameter of a resource, as the store writes it.
type Entry = store.IndexEntry

// Extract returns the index entries of a resource of type typ: every value of every indexable
// search parameter of that type, without duplicates. A body that is not a JSON object of that
// resourceType gives nil. _id and _lastUpdated are not extracted: they are columns of the
// resource itself.
//
// In a body of trimFrom bytes or more, only the top-level members the type's expressions can
// read (fhirpath.Expr.TopMembers) are parsed (the others are scanned and skipped), so that a
// large element no parameter reads (an extension, an attachment's data) costs no memory beyond
// the body.
func Extract(typ string, body []byte) []Entry { return extract(typ, body, len(body) >= trimFrom) }

// trimFrom is the body size from which Extract parses only the members it reads. Below it, the
// scan and copy of trimming cost more than the nodes they save.
const trimFrom = 64 << 10

// extractor is the per-call state of extraction: a Doc and an Evaluator, reused through a pool.
type extractor struct {
	doc     fhirpath.Doc
	d       *fhirpath.Doc // the Doc being evaluated: doc, or the caller's
	ev      *fhirpath.Evaluator
	vals    []fhirpath.Value
	parts   []fhirpath.Value // a composite's component values
	scratch []Entry
	out     []Entry
}

var extractors = sync.Pool{New: func() any {
	ev := fhirpath.NewEvaluator()
	ev.TypeOnlyReferences = true // "where(resolve() is Patient)" reads the reference's type
	return &extractor{ev: ev}
}}

// extract is Extract; trim false parses the whole body, for the tests that check that trimming
// changes nothing.
func extract(typ string, body []byte, trim bool) []Entry {
	ps := Params(typ)
	if len(ps) == 0 {
		return nil
	}
	r := reg()
	if keep := r.keep[typ]; trim && keep != nil {
		kept, err := fhir.KeepMembers(body, func(k []byte) bool { return keep[string(k)] })
		if err != nil {
			return nil
		}
		body = kept
	}
	x := extractors.Get().(*extractor)
	defer x.put()
	d := &x.doc
	if err := r.model.Parse(d, body); err != nil {
		return nil
	}
	if t := d.Type(0); t == nil || t.Name != typ { // resourceType is not typ
		return nil
	}
	return x.entries(ps, d)
}

// ExtractDoc is Extract on a resource already read into a Doc (by the strict validator, which
// evaluates the constraints on one: fhir.Validator.ValidateThen), with the model of
// fhir.FHIRPathModel. The entries do not point into the Doc.
func ExtractDoc(d *fhirpath.Doc) []Entry {
	t := d.Type(0)
	if d.Len() == 0 || t == nil || d.Model() != reg().model {
		return nil
	}
	ps := Params(t.Name)
	if len(ps) == 0 {
		return nil
	}
	x := extractors.Get().(*extractor)
	defer x.put()
	return x.entries(ps, d)
}

// entries evaluates the parameters ps on the resource d.
func (x *extractor) entries(ps []*Param, d *fhirpath.Doc) []Entry {
	x.d = d
	x.ev.Reset(d)
	out := x.out[:0]
	for _, prm := range ps {
		if prm.compiled == nil || prm.composite != nil && !prm.indexed() {
			continue // _id, _lastUpdated; composites that other parameters' entries answer
		}
		vals, err := x.ev.EvalAppend(x.vals[:0], prm.compiled, 0)
		x.vals = vals[:0]
		if err != nil {
			continue
		}
		start := len(out)
		for _, v := range vals {
			if prm.composite != nil {
				out = x.appendComposite(out, prm, v)
				continue
			}
			out = appendValue(out, prm, d, v)
		}
		// Drop duplicates (the same value reached twice, e.g. code of a repeated coding). A
		// parameter has few values, so comparing them pairwise is cheaper than hashing.
		k := start
		for i := start; i < len(out); i++ {
			if !slices.Contains(out[start:k], out[i]) {
				out[k] = out[i]
				k++
			}
		}
		out = out[:k]
	}
	x.out = out[:0]
	x.d = nil
	x.ev.Reset(nil)
	if len(out) == 0 {
		return nil
	}
	res := make([]Entry, len(out))
	copy(res, out)
	clear(out) // the pooled buffer keeps no strings of this resource
	own(res)
	return res
}

// own copies the strings of entries that point into the body or the Doc (which the next
// extraction reuses) into one string of their own, one allocation per resource.
func own(out []Entry) {
	n := 0
	for i := range out {
		e := &out[i]
		n += len(e.System) + len(e.Code) + len(e.Exact) + len(e.RefType) + len(e.RefID)
		if e.Kind == kindURI { // other kinds' Value is Normalize's, which is new
			n += len(e.Value)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for i := range out {
		e := &out[i]
		b.WriteString(e.System)
		b.WriteString(e.Code)
		b.WriteString(e.Exact)
		b.WriteString(e.RefType)
		b.WriteString(e.RefID)
		if e.Kind == kindURI {
			b.WriteString(e.Value)
		}
	}
	all, pos := b.String(), 0
	take := func(f *string) {
		l := len(*f)
		*f = all[pos : pos+l]
		pos += l
	}
	for i := range out {
		e := &out[i]
		take(&e.System)
		take(&e.Code)
		take(&e.Exact)
		take(&e.RefType)
		take(&e.RefID)
		if e.Kind == kindURI {
			take(&e.Value)
		}
	}
}

// put returns x to the pool, without the buffers a large resource grew.
func (x *extractor) put() {
	x.doc.Begin(nil, nil) // drop the body
	if cap(x.out) > 1<<12 || cap(x.vals) > 1<<14 || cap(x.parts) > 1<<14 || cap(x.scratch) > 1<<12 {
		x.out, x.vals, x.parts, x.scratch = nil, nil, nil, nil
	}
	extractors.Put(x)
}

// jsonKind is how a value was written in the JSON.
type jsonKind uint8

const (
	jNone jsonKind = iota // absent: a primitive with no value, only an id or extensions
	jString
	jNumber
	jBool
	jObject
)

func kindOf(d *fhirpath.Doc, n fhirpath.NodeID) jsonKind {
	if n == fhirpath.NoNode {
		return jNone
	}
	t := d.Type(n)
	if t == nil || t.Kind == fhirpath.KindNone {
		return jObject
	}
	if !d.HasValue(n) {
		return jNone
	}
	switch t.Kind {
	case fhirpath.KindBoolean:
		return jBool
	case fhirpath.KindInteger, fhirpath.KindDecimal:
		return jNumber
	}
	return jString
}

// member returns the first child of n called name in the JSON (a choice element's typed
// members do not count), or NoNode.
func member(d *fhirpath.Doc, n fhirpath.NodeID, name string) fhirpath.NodeID {
	found := fhirpath.NoNode
	d.Children(n, func(c fhirpath.NodeID) bool {
		if d.Name(c) == name && !d.Element(c).Choice && kindOf(d, c) != jNone {
			found = c
			return false
		}
		return true
	})
	return found
}

// members calls fn for every child of n called name in the JSON (array items one by one).
func members(d *fhirpath.Doc, n fhirpath.NodeID, name string, fn func(fhirpath.NodeID)) {
	d.Children(n, func(c fhirpath.NodeID) bool {
		if d.Name(c) == name && !d.Element(c).Choice && kindOf(d, c) != jNone {
			fn(c)
		}
		return true
	})
}

// strOf is the value of member name of n when it is a JSON string, else "".
func strOf(d *fhirpath.Doc, n fhirpath.NodeID, name string) string {
	if c := member(d, n, name); kindOf(d, c) == jString {
		return d.String(c)
	}
	return ""
}

func has(d *fhirpath.Doc, n fhirpath.NodeID, name string) bool {
	return member(d, n, name) != fhirpath.NoNode
}

// stringParts are the members of a structure (HumanName, Address...) whose strings a string
// parameter indexes.
var stringParts = []string{"text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country", "value", "name"}

// appendValue converts one value of a parameter's expression into entries.
func appendValue(out []Entry, p *Param, d *fhirpath.Doc, v fhirpath.Value) []Entry {
	if !v.IsNode() {
		// A computed value: Patient-deceased is a Boolean.
		switch v.Kind() {
		case fhirpath.KindBoolean:
			if p.Kind == kindToken {
				return append(out, Entry{Param: p.Code, Kind: kindToken, Code: strconv.FormatBool(v.Bool())})
			}
		case fhirpath.KindString:
			switch p.Kind {
			case kindString:
				return appendString(out, p.Code, v.Str())
			case kindToken:
				return append(out, Entry{Param: p.Code, Kind: kindToken, Code: v.Str()})
			case kindURI:
				return append(out, Entry{Param: p.Code, Kind: kindURI, Value: v.Str()})
			}
		}
		return out
	}
	n := v.Node()
	k := kindOf(d, n)
	switch p.Kind {
	case kindString:
		switch k {
		case jString:
			return appendString(out, p.Code, d.String(n))
		case jObject:
			for _, name := range stringParts {
				members(d, n, name, func(c fhirpath.NodeID) {
					if kindOf(d, c) == jString {
						out = appendString(out, p.Code, d.String(c))
					}
				})
			}
		}
	case kindToken:
		return appendToken(out, p.Code, d, n, k)
	case kindReference:
		switch k {
		case jString: // canonical or uri
			s := d.String(n)
			if i := strings.IndexByte(s, '|'); i >= 0 {
				s = s[:i]
			}
			return append(out, refEntry(p.Code, s))
		case jObject:
			if t := d.Type(n); t != nil && t.Resource {
				// Bundle.entry[0].resource: a reference to the resource, when it is of a
				// target type (a document's Composition, a message's MessageHeader).
				if id := strOf(d, n, "id"); id != "" && (len(p.Targets) == 0 || slices.Contains(p.Targets, t.Name)) {
					return append(out, Entry{Param: p.Code, Kind: kindReference, RefType: t.Name, RefID: id})
				}
				return out
			}
			// Reference.identifier, and the identifier of a conditional reference
			// ("Practitioner?identifier=system|value"), are what :identifier searches.
			if id := member(d, n, "identifier"); kindOf(d, id) == jObject {
				if value := strOf(d, id, "value"); value != "" {
					out = append(out, Entry{Param: p.Code + ":identifier", Kind: kindToken, System: strOf(d, id, "system"), Code: value})
				}
			}
			s := strOf(d, n, "reference")
			if typ, q, ok := strings.Cut(s, "?identifier="); ok && typ != "" && !strings.ContainsAny(typ, "/&") && !strings.Contains(q, "&") {
				system, value, hasSystem := strings.Cut(q, "|")
				if !hasSystem {
					system, value = "", q
				}
				if value != "" {
					out = append(out, Entry{Param: p.Code + ":identifier", Kind: kindToken, System: system, Code: value})
				}
			}
			if s != "" && s[0] != '#' {
				return append(out, refEntry(p.Code, s))
			}
		}
	case kindDate:
		return appendDate(out, p.Code, d, n, k)
	case kindNumber:
		if k == jNumber {
			if f, err := strconv.ParseFloat(d.String(n), 64); err == nil {
				return append(out, Entry{Param: p.Code, Kind: kindNumber, NumLow: f, NumHigh: f})
			}
		}
	case kindQuantity:
		if k == jObject {
			return appendQuantity(out, p.Code, d, n)
		}
	case kindURI:
		if k == jString {
			return append(out, Entry{Param: p.Code, Kind: kindURI, Value: d.String(n)})
		}
	}
	return out
}

func appendToken(out []Entry, code string, d *fhirpath.Doc, n fhirpath.NodeID, k jsonKind) []Entry {
	tok := func(system, c, text string) {
		out = append(out, Entry{Param: code, Kind: kindToken, System: system, Code: c, Value: Normalize(text)})
	}
	switch k {
	case jString, jNumber, jBool:
		tok("", d.String(n), "")
	case jObject:
		s := func(name string) string { return strOf(d, n, name) }
		t := d.Type(n)
		switch {
		case has(d, n, "coding") || t != nil && t.Name == "CodeableConcept" || has(d, n, "text") && !has(d, n, "value"):
			text := s("text")
			members(d, n, "coding", func(c fhirpath.NodeID) {
				disp := strOf(d, c, "display")
				if disp == "" {
					disp = text
				}
				tok(strOf(d, c, "system"), strOf(d, c, "code"), disp)
			})
			if text != "" {
				tok("", "", text)
			}
		case has(d, n, "value") && contactSystems[s("system")]:
			tok("", s("value"), "")
		case has(d, n, "value"): // Identifier
			text := ""
			if ty := member(d, n, "type"); ty != fhirpath.NoNode {
				text = strOf(d, ty, "text")
			}
			tok(s("system"), s("value"), text)
		case has(d, n, "code") || has(d, n, "system"): // Coding
			tok(s("system"), s("code"), s("display"))
		}
	}
	return out
}

func appendDate(out []Entry, code string, d *fhirpath.Doc, n fhirpath.NodeID, k jsonKind) []Entry {
	add := func(lo, hi int64) {
		out = append(out, Entry{Param: code, Kind: kindDate, Low: lo, High: hi})
	}
	switch k {
	case jString:
		if r, ok := ParseDate(d.String(n)); ok {
			add(r.Low, r.High)
		}
	case jObject:
		if has(d, n, "start") || has(d, n, "end") { // Period
			lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
			if r, ok := ParseDate(strOf(d, n, "start")); ok {
				lo = r.Low
			}
			if r, ok := ParseDate(strOf(d, n, "end")); ok {
				hi = r.High
			}
			add(lo, hi)
		}
		members(d, n, "event", func(e fhirpath.NodeID) { // Timing
			if kindOf(d, e) == jString {
				if r, ok := ParseDate(d.String(e)); ok {
					add(r.Low, r.High)
				}
			}
		})
		if rep := member(d, n, "repeat"); rep != fhirpath.NoNode {
			d.Children(rep, func(c fhirpath.NodeID) bool {
				if t := d.Type(c); d.Name(c) == "bounds" && t != nil && t.Name == "Period" {
					out = appendDate(out, code, d, c, jObject)
					return false
				}
				return true
			})
		}
	}
	return out
}

func appendQuantity(out []Entry, code string, d *fhirpath.Doc, n fhirpath.NodeID) []Entry {
	num := func(q fhirpath.NodeID) (float64, bool) {
		c := member(d, q, "value")
		if kindOf(d, c) != jNumber {
			return 0, false
		}
		f, err := strconv.ParseFloat(d.String(c), 64)
		return f, err == nil
	}
	l, h := member(d, n, "low"), member(d, n, "high")
	if l != fhirpath.NoNode || h != fhirpath.NoNode { // Range
		lo, hi := math.Inf(-1), math.Inf(1)
		var system, unit string
		if l != fhirpath.NoNode {
			lo, _ = num(l)
			system, unit = strOf(d, l, "system"), unitOf(d, l)
		}
		if h != fhirpath.NoNode {
			hi, _ = num(h)
			system, unit = strOf(d, h, "system"), unitOf(d, h)
		}
		return append(out, Entry{Param: code, Kind: kindQuantity, NumLow: lo, NumHigh: hi, System: system, Code: unit})
	}
	f, ok := num(n)
	if !ok {
		return out
	}
	system, unit := strOf(d, n, "system"), unitOf(d, n)
	if c := strOf(d, n, "currency"); c != "" { // Money
		system, unit = "urn:iso:std:iso:4217", c
	}
	return append(out, Entry{Param: code, Kind: kindQuantity, NumLow: f, NumHigh: f, System: system, Code: unit})
}

// unitOf is the coded unit of a Quantity, else the human unit.
func unitOf(d *fhirpath.Doc, q fhirpath.NodeID) string {
	if c := strOf(d, q, "code"); c != "" {
		return c
	}
	return strOf(d, q, "unit")
}

func appendString(out []Entry, code, s string) []Entry {
	if s == "" {
		return out
	}
	return append(out, Entry{Param: code, Kind: kindString, Value: Normalize(s), Exact: s})
}

func refEntry(code, ref string) Entry {
	if t, id := splitReference(ref); t != "" && !strings.Contains(ref, "://") {
		return Entry{Param: code, Kind: kindReference, RefType: t, RefID: id}
	}
	return Entry{Param: code, Kind: kindReference, RefID: ref}
}

// contactSystems are the ContactPoint.system codes, which tell a ContactPoint from an Identifier.
var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}

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
