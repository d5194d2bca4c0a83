package fhirapi

import (
	"strings"
	"sync"

	"github.com/valyala/fastjson"
)

//go:generate go run ./internal/gen -shared ../../../shared -out elements_gen.go

// elementInfo is one entry of an element list (elements_gen.go).
type elementInfo struct {
	name      string // JSON name; the base name of a choice element ("value" of value[x])
	summary   bool   // ElementDefinition.isSummary
	mandatory bool   // min > 0
	choice    bool
	sub       string // path of the list of a summary backbone element's children, "" for others
}

// elementTables decodes elementLists once: owner path -> its summary and mandatory children.
var elementTables = sync.OnceValue(func() map[string][]elementInfo {
	out := make(map[string][]elementInfo, len(elementLists))
	for owner, list := range elementLists {
		var infos []elementInfo
		for _, part := range strings.Split(list, ",") {
			name, rest, _ := strings.Cut(part, " ")
			flags, sub, _ := strings.Cut(rest, ">")
			infos = append(infos, elementInfo{name: name, summary: strings.Contains(flags, "S"),
				mandatory: strings.Contains(flags, "M"), choice: strings.Contains(flags, "X"), sub: sub})
		}
		out[owner] = infos
	}
	return out
})

// lookupElement finds the element of owner that a JSON member key belongs to: the element of that
// name, the choice element whose name the key extends with a type ("valueQuantity"), and for a
// primitive's extension member ("_birthDate") the element it extends.
func lookupElement(owner, key string) (elementInfo, bool) {
	key = strings.TrimPrefix(key, "_")
	for _, e := range elementTables()[owner] {
		if e.name == key {
			return e, true
		}
		if e.choice && len(key) > len(e.name) && strings.HasPrefix(key, e.name) && key[len(e.name)] >= 'A' && key[len(e.name)] <= 'Z' {
			return e, true
		}
	}
	return elementInfo{}, false
}

// subset is how a search or read narrows the resources it returns (_summary, _elements). The
// zero value returns resources whole.
type subset struct {
	summary  string          // "true", "text" or "data"; "" or "false" for none
	elements map[string]bool // _elements names; nil when absent
}

func newSubset(summary string, elements []string) subset {
	s := subset{summary: summary}
	if s.summary == "false" {
		s.summary = ""
	}
	if elements != nil {
		s.elements = map[string]bool{}
		for _, e := range elements {
			s.elements[e] = true
		}
	}
	return s
}

func (s subset) none() bool { return s.summary == "" && s.elements == nil }

// readSubset returns what narrows a read or vread answer by the request's _summary and
// _elements (FHIR allows them on reads). _format (JSON) is accepted; other parameters are
// ignored, or refused under Prefer: handling=strict. A read without a query string is answered
// as stored.
func (h *Handler) readSubset(c *call, typ string) func(*response, error) (*response, error) {
	return func(resp *response, err error) (*response, error) {
		if err != nil || c.r.URL.RawQuery == "" {
			return resp, err
		}
		q := c.r.URL.Query()
		var sub subset
		for k, vs := range q {
			switch k {
			case "_summary":
				if len(vs) != 1 || vs[0] != "true" && vs[0] != "text" && vs[0] != "data" && vs[0] != "false" {
					return nil, invalid("_summary on a read must be true, text, data or false")
				}
				sub.summary = vs[0]
			case "_elements":
				var names []string
				for _, e := range strings.Split(strings.Join(vs, ","), ",") {
					e = strings.TrimPrefix(strings.TrimSpace(e), typ+".")
					if e == "" || strings.Contains(e, ".") {
						return nil, fail("not-supported", "only top-level element names are supported in _elements, not %q", e)
					}
					names = append(names, e)
				}
				sub.elements = newSubset("", names).elements
			case "_format":
				if f := vs[0]; f != "json" && f != "application/json" && f != "application/fhir+json" {
					return nil, fail("not-supported", "the only format is JSON (application/fhir+json)")
				}
			default:
				if strictHandling(c.r) {
					return nil, fail("not-supported", "the parameter %s does not apply to a read", k)
				}
			}
		}
		if sub.summary == "false" {
			sub.summary = ""
		}
		if sub.none() || resp.body == nil {
			return resp, nil
		}
		body, err := sub.apply(resp.bytes(), typ)
		if err != nil {
			return nil, err
		}
		resp.body, resp.more = body, nil
		return resp, nil
	}
}

// subsettedTag marks a resource that was returned with elements left out (FHIR R4 search, "Summary").
const subsettedTag = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED","display":"Resource encoded in summary mode"}`

// apply returns a resource of type typ (rendered, with meta) narrowed to the subset and tagged
// SUBSETTED. _summary takes precedence over _elements when both are given, as the R4 search page
// says the two should not be combined and _summary is the more restrictive.
func (s subset) apply(body []byte, typ string) ([]byte, error) {
	if s.none() {
		return body, nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, err
	}
	o, err := v.Object()
	if err != nil {
		return nil, err
	}
	var drop []string
	o.Visit(func(k []byte, m *fastjson.Value) {
		key := string(k)
		if !s.keep(typ, key, m) {
			drop = append(drop, key)
		}
	})
	for _, k := range drop {
		o.Del(k)
	}
	if meta := o.Get("meta"); meta != nil && meta.Type() == fastjson.TypeObject {
		mo, _ := meta.Object()
		tags := mo.Get("tag")
		if tags == nil || tags.Type() != fastjson.TypeArray {
			tags = fastjson.MustParse("[]")
			mo.Set("tag", tags)
		}
		tags.SetArrayItem(len(tags.GetArray()), fastjson.MustParse(subsettedTag))
	}
	return v.MarshalTo(nil), nil
}

// keep reports whether a top-level member stays; summary backbone elements are pruned in place.
func (s subset) keep(typ, key string, m *fastjson.Value) bool {
	switch key {
	case "resourceType", "id", "meta":
		return true
	}
	e, known := lookupElement(typ, key)
	switch s.summary {
	case "data":
		return key != "text" && key != "_text"
	case "text":
		return key == "text" || (known && e.mandatory)
	case "true":
		if !known || !e.summary {
			return false
		}
		if e.sub != "" {
			pruneSummary(e.sub, m)
		}
		return true
	}
	// _elements: the elements named, plus the mandatory ones.
	if s.elements[strings.TrimPrefix(key, "_")] || (known && (s.elements[e.name] || e.mandatory)) {
		return true
	}
	return false
}

// pruneSummary removes the non-summary members of a backbone element (or of each in an array),
// whose child list is owner.
func pruneSummary(owner string, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			pruneSummary(owner, item)
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		var drop []string
		o.Visit(func(k []byte, m *fastjson.Value) {
			e, ok := lookupElement(owner, string(k))
			if !ok || !e.summary {
				drop = append(drop, string(k))
				return
			}
			if e.sub != "" {
				pruneSummary(e.sub, m)
			}
		})
		for _, k := range drop {
			o.Del(k)
		}
	}
}
