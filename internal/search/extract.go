package search

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Entry is one indexed value of one search parameter of a resource, as the store writes it.
type Entry = store.IndexEntry

// parsers are reused across calls; a pool is safe for concurrent use and holds no state that
// outlives a call.
var parsers fastjson.ParserPool

// Extract returns the index entries of a resource of type typ: every value of every indexable
// search parameter of that type, without duplicates. A body that is not a JSON object gives
// nil. _id and _lastUpdated are not extracted: they are columns of the resource itself.
//
// In a body of trimFrom bytes or more, only the top-level members the type's expressions start
// from are parsed into a tree (the others are scanned and skipped), so that a large element no
// parameter reads (an extension, an attachment's data) costs no memory beyond the body.
func Extract(typ string, body []byte) []Entry { return extract(typ, body, len(body) >= trimFrom) }

// trimFrom is the body size from which Extract parses only the members it reads. Below it, the
// scan and copy of trimming cost more than the tree they save.
const trimFrom = 64 << 10

// extract is Extract; trim false parses the whole body, for the tests that check that trimming
// changes nothing.
func extract(typ string, body []byte, trim bool) []Entry {
	ps := Params(typ)
	if len(ps) == 0 {
		return nil
	}
	if top := reg().tops[typ]; trim && top != nil && !top.all {
		kept, err := fhir.KeepMembers(body, top.keep)
		if err != nil {
			return nil
		}
		body = kept
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	root := node{v: v}
	out := make([]Entry, 0, 16)
	var nodes []node
	for _, prm := range ps {
		if prm.compiled == nil {
			continue
		}
		nodes = prm.compiled.eval(root, typ, nodes[:0])
		start := len(out)
		for _, n := range nodes {
			if prm.composite != nil {
				out = appendComposite(out, prm, n)
				continue
			}
			out = appendEntries(out, prm, n)
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
	if len(out) == 0 {
		return nil
	}
	return out
}

// appendEntries converts one value reached by a parameter's expression into entries.
func appendEntries(out []Entry, p *Param, n node) []Entry {
	v := n.v
	switch p.Kind {
	case kindString:
		if s, ok := str(v); ok {
			return appendString(out, p.Code, s)
		}
		if v.Type() == fastjson.TypeObject {
			// HumanName, Address and other structures: every string part is searchable.
			for _, k := range []string{"text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country", "value", "name"} {
				for _, e := range flat(v.Get(k)) {
					if s, ok := str(e); ok {
						out = appendString(out, p.Code, s)
					}
				}
			}
		}
	case kindToken:
		return appendToken(out, p.Code, n)
	case kindReference:
		if s, ok := str(v); ok { // canonical or uri
			if i := strings.IndexByte(s, '|'); i >= 0 {
				s = s[:i]
			}
			return append(out, refEntry(p.Code, s))
		}
		if v.Type() == fastjson.TypeObject {
			// Reference.identifier, and the identifier of a conditional reference
			// ("Practitioner?identifier=system|value"), are what :identifier searches.
			if id := v.Get("identifier"); id != nil && id.Type() == fastjson.TypeObject {
				if value := string(id.GetStringBytes("value")); value != "" {
					out = append(out, Entry{Param: p.Code + ":identifier", Kind: kindToken, System: string(id.GetStringBytes("system")), Code: value})
				}
			}
			s := string(v.GetStringBytes("reference"))
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
		return appendDate(out, p.Code, v)
	case kindNumber:
		if f, err := v.Float64(); err == nil && v.Type() == fastjson.TypeNumber {
			return append(out, Entry{Param: p.Code, Kind: kindNumber, NumLow: f, NumHigh: f})
		}
	case kindQuantity:
		return appendQuantity(out, p.Code, v)
	case kindURI:
		if s, ok := str(v); ok {
			return append(out, Entry{Param: p.Code, Kind: kindURI, Value: s})
		}
	}
	return out
}

func str(v *fastjson.Value) (string, bool) {
	if v == nil || v.Type() != fastjson.TypeString {
		return "", false
	}
	return string(v.GetStringBytes()), true
}

func flat(v *fastjson.Value) []*fastjson.Value {
	if v == nil {
		return nil
	}
	if v.Type() == fastjson.TypeArray {
		return v.GetArray()
	}
	return []*fastjson.Value{v}
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

func appendToken(out []Entry, code string, n node) []Entry {
	v := n.v
	tok := func(system, c, text string) {
		out = append(out, Entry{Param: code, Kind: kindToken, System: system, Code: c, Value: Normalize(text)})
	}
	switch v.Type() {
	case fastjson.TypeString:
		tok("", string(v.GetStringBytes()), "")
	case fastjson.TypeTrue:
		tok("", "true", "")
	case fastjson.TypeFalse:
		tok("", "false", "")
	case fastjson.TypeNumber:
		tok("", v.String(), "")
	case fastjson.TypeObject:
		s := func(k string) string { return string(v.GetStringBytes(k)) }
		switch {
		case v.Exists("coding") || n.typ == "CodeableConcept" || (v.Exists("text") && !v.Exists("value")):
			text := s("text")
			for _, c := range v.GetArray("coding") {
				d := string(c.GetStringBytes("display"))
				if d == "" {
					d = text
				}
				tok(string(c.GetStringBytes("system")), string(c.GetStringBytes("code")), d)
			}
			if text != "" {
				tok("", "", text)
			}
		case v.Exists("value") && contactSystems[s("system")]:
			tok("", s("value"), "")
		case v.Exists("value"): // Identifier
			text := string(v.GetStringBytes("type", "text"))
			tok(s("system"), s("value"), text)
		case v.Exists("code") || v.Exists("system"): // Coding
			tok(s("system"), s("code"), s("display"))
		}
	}
	return out
}

func appendDate(out []Entry, code string, v *fastjson.Value) []Entry {
	add := func(lo, hi int64) {
		out = append(out, Entry{Param: code, Kind: kindDate, Low: lo, High: hi})
	}
	switch v.Type() {
	case fastjson.TypeString:
		if r, ok := ParseDate(string(v.GetStringBytes())); ok {
			add(r.Low, r.High)
		}
	case fastjson.TypeObject:
		if v.Exists("start") || v.Exists("end") { // Period
			lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
			if r, ok := ParseDate(string(v.GetStringBytes("start"))); ok {
				lo = r.Low
			}
			if r, ok := ParseDate(string(v.GetStringBytes("end"))); ok {
				hi = r.High
			}
			add(lo, hi)
		}
		for _, e := range v.GetArray("event") { // Timing
			if r, ok := ParseDate(string(e.GetStringBytes())); ok {
				add(r.Low, r.High)
			}
		}
		if b := v.Get("repeat", "boundsPeriod"); b != nil {
			out = appendDate(out, code, b)
		}
	}
	return out
}

func appendQuantity(out []Entry, code string, v *fastjson.Value) []Entry {
	if v.Type() != fastjson.TypeObject {
		return out
	}
	if v.Exists("low") || v.Exists("high") { // Range
		lo, hi := math.Inf(-1), math.Inf(1)
		var system, unit string
		if l := v.Get("low"); l != nil {
			lo = l.GetFloat64("value")
			system, unit = string(l.GetStringBytes("system")), quantityUnit(l)
		}
		if h := v.Get("high"); h != nil {
			hi = h.GetFloat64("value")
			system, unit = string(h.GetStringBytes("system")), quantityUnit(h)
		}
		return append(out, Entry{Param: code, Kind: kindQuantity, NumLow: lo, NumHigh: hi, System: system, Code: unit})
	}
	num := v.Get("value")
	if num == nil || num.Type() != fastjson.TypeNumber {
		return out
	}
	f, _ := num.Float64()
	system := string(v.GetStringBytes("system"))
	unit := quantityUnit(v)
	if c := v.GetStringBytes("currency"); len(c) > 0 { // Money
		system, unit = "urn:iso:std:iso:4217", string(c)
	}
	return append(out, Entry{Param: code, Kind: kindQuantity, NumLow: f, NumHigh: f, System: system, Code: unit})
}

// quantityUnit is the coded unit, else the human unit.
func quantityUnit(v *fastjson.Value) string {
	if c := v.GetStringBytes("code"); len(c) > 0 {
		return string(c)
	}
	return string(v.GetStringBytes("unit"))
}

// FormatNumber renders a float the way query values are written, for tests and messages.
func FormatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
