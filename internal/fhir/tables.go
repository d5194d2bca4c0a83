package fhir

//go:generate go run ./internal/gen -shared ../../../shared -out r4tables.json.gz

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// r4TablesGz holds the generated tables (see ./internal/gen): a gzip-compressed
// JSON document with every type, element and required value set of R4.
//
//go:embed r4tables.json.gz
var r4TablesGz []byte

// primKind is the primitive type of an element, or primComplex.
type primKind uint8

const (
	primComplex primKind = iota
	primResource
	primBoolean
	primInteger
	primDecimal
	primString
	primURI
	primURL
	primCanonical
	primBase64Binary
	primInstant
	primDate
	primDateTime
	primTime
	primCode
	primOID
	primID
	primMarkdown
	primUnsignedInt
	primPositiveInt
	primUUID
	primXHTML
)

var primByName = map[string]primKind{
	"boolean": primBoolean, "integer": primInteger, "decimal": primDecimal, "string": primString,
	"uri": primURI, "url": primURL, "canonical": primCanonical, "base64Binary": primBase64Binary,
	"instant": primInstant, "date": primDate, "dateTime": primDateTime, "time": primTime,
	"code": primCode, "oid": primOID, "id": primID, "markdown": primMarkdown,
	"unsignedInt": primUnsignedInt, "positiveInt": primPositiveInt, "uuid": primUUID, "xhtml": primXHTML,
}

// vsKind says how codes of a required binding are checked.
type vsKind uint8

const (
	vsNone  vsKind = iota // no usable expansion: not checked
	vsCodes               // membership in the expansion
	vsMime                // BCP-13 grammar
	vsLang                // BCP-47 grammar
	vsUCUM                // UCUM grammar
)

type valueSet struct {
	url     string
	kind    vsKind
	codes   map[string]struct{} // code alone, for elements of type code
	pairs   map[string]struct{} // "system|code", for Coding and CodeableConcept
	systems map[string]struct{}
}

// typeDef describes a complex type, a resource or a backbone element.
type typeDef struct {
	name     string
	resource bool
	abstract bool
	domain   bool
	backbone bool
	base     string
	index    int // position in tables.resourceNames when a concrete resource, else -1
	elems    []elemDef
	keys     map[string]uint32 // JSON member name -> packed key (see packKey)
	required []uint16          // elements with min >= 1
	cons     []int             // constraints of the type (indexes into tables.constraints)
	fp       *fhirpath.Type
}

type elemDef struct {
	name   string
	path   string
	min    int
	many   bool
	choice bool
	types  []elemType
	vs     *valueSet           // required binding, nil when none
	extra  map[string]struct{} // codes allowed beside a grammar-checked value set
	cons   []int               // constraints listed on the element
	fp     *fhirpath.Element
}

type elemType struct {
	code     string   // FHIR type code or backbone path
	jsonName string   // element name plus choice suffix (valueQuantity); the plain name otherwise
	suffix   string   // choice suffix ("Quantity"), "" when not a choice
	prim     primKind // primComplex for complex and backbone types
	def      *typeDef // complex and backbone types
	targets  *targetSet
	fp       *fhirpath.Type
}

// targetSet is a bit set over tables.resourceNames; nil means any type.
type targetSet [3]uint64

func (s *targetSet) has(i int) bool {
	if s == nil {
		return true
	}
	return i >= 0 && i < 192 && s[i>>6]&(1<<(uint(i)&63)) != 0
}

// Packed keys: element index in the low 16 bits, choice type index in the
// next 8 bits, and keyUnderscore when the member is the _element form.
const keyUnderscore = 1 << 24

func packKey(elem, typ int, under bool) uint32 {
	k := uint32(elem) | uint32(typ)<<16
	if under {
		k |= keyUnderscore
	}
	return k
}

// tables are the immutable decoded definitions shared by every Validator.
type tables struct {
	types         map[string]*typeDef
	resources     map[string]*typeDef // concrete resource types only
	resourceNames []string            // sorted
	regexes       map[string]string   // primitive type -> regex from the definitions
	primBase      map[string]string   // primitive type -> the type it derives from

	reference, coding, codeableConcept, extension, meta, element *typeDef

	constraints []*constraint
	extensions  map[string]*extensionDef // core extensions by URL
	inv         *invariants              // the FHIRPath model and the compiled constraints
}

var (
	tablesOnce sync.Once
	tablesVal  *tables
	tablesErr  error
)

// loadTables decodes the embedded tables once per process. The result is
// never modified afterwards, so every Validator can share it.
func loadTables() (*tables, error) {
	tablesOnce.Do(func() { tablesVal, tablesErr = decodeTables(r4TablesGz) })
	return tablesVal, tablesErr
}

type rawTables struct {
	Types []struct {
		Name     string `json:"n"`
		Kind     string `json:"k"`
		Abstract bool   `json:"a"`
		Domain   bool   `json:"d"`
		Base     string `json:"base"`
		Cons     []int  `json:"c"`
		Elems    []struct {
			Name   string `json:"n"`
			Path   string `json:"p"`
			Min    int    `json:"min"`
			Many   bool   `json:"many"`
			Choice bool   `json:"x"`
			Types  []struct {
				Code    string   `json:"c"`
				Targets []string `json:"r"`
			} `json:"t"`
			Binding int      `json:"b"`
			Extra   []string `json:"xc"`
			Cons    []int    `json:"c"`
		} `json:"e"`
	} `json:"types"`
	Primitives []struct {
		Name string `json:"n"`
		Base string `json:"base"`
	} `json:"primitives"`
	ValueSets []struct {
		URL   string   `json:"u"`
		Kind  string   `json:"k"`
		Codes []string `json:"c"`
	} `json:"valueSets"`
	Regexes     map[string]string `json:"regexes"`
	Constraints []struct {
		Key      string `json:"k"`
		Severity string `json:"s"`
		Human    string `json:"h"`
		Expr     string `json:"e"`
		Source   string `json:"src"`
	} `json:"constraints"`
	Extensions []struct {
		URL      string   `json:"u"`
		Contexts []string `json:"ctx"`
		Values   []string `json:"v"`
		Nested   []struct {
			URL    string   `json:"u"`
			Min    int      `json:"min"`
			Max    string   `json:"max"`
			Values []string `json:"v"`
		} `json:"x"`
		Cons []int `json:"c"`
	} `json:"extensions"`
}

func decodeTables(gz []byte) (*tables, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("fhir tables: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("fhir tables: %w", err)
	}
	var rt rawTables
	if err := json.Unmarshal(raw, &rt); err != nil {
		return nil, fmt.Errorf("fhir tables: %w", err)
	}
	t := &tables{types: map[string]*typeDef{}, resources: map[string]*typeDef{}, regexes: rt.Regexes, primBase: map[string]string{}}
	for _, p := range rt.Primitives {
		t.primBase[p.Name] = p.Base
	}
	for _, rc := range rt.Constraints {
		t.constraints = append(t.constraints, &constraint{key: rc.Key, severity: rc.Severity, human: rc.Human, expr: rc.Expr, source: rc.Source})
	}

	vss := make([]*valueSet, len(rt.ValueSets))
	for i, rv := range rt.ValueSets {
		vs := &valueSet{url: rv.URL}
		switch rv.Kind {
		case "codes":
			vs.kind = vsCodes
			vs.codes, vs.pairs, vs.systems = map[string]struct{}{}, map[string]struct{}{}, map[string]struct{}{}
			for _, c := range rv.Codes {
				sys, code, _ := strings.Cut(c, "|")
				vs.codes[code] = struct{}{}
				vs.pairs[c] = struct{}{}
				vs.systems[sys] = struct{}{}
			}
		case "mime":
			vs.kind = vsMime
		case "lang":
			vs.kind = vsLang
		case "ucum":
			vs.kind = vsUCUM
		}
		vss[i] = vs
	}

	for _, rty := range rt.Types {
		td := &typeDef{name: rty.Name, resource: rty.Kind == "resource", abstract: rty.Abstract, domain: rty.Domain, index: -1,
			backbone: rty.Kind == "backbone", base: rty.Base, cons: rty.Cons}
		t.types[td.name] = td
		if td.resource && !td.abstract {
			t.resources[td.name] = td
			t.resourceNames = append(t.resourceNames, td.name)
		}
	}
	sort.Strings(t.resourceNames)
	resIndex := map[string]int{}
	for i, n := range t.resourceNames {
		resIndex[n] = i
		t.resources[n].index = i
	}

	for _, rty := range rt.Types {
		td := t.types[rty.Name]
		td.elems = make([]elemDef, len(rty.Elems))
		td.keys = make(map[string]uint32, len(rty.Elems)*2)
		for i, re := range rty.Elems {
			e := &td.elems[i]
			*e = elemDef{name: re.Name, path: re.Path, min: re.Min, many: re.Many, choice: re.Choice, cons: re.Cons}
			if re.Binding >= 0 && re.Binding < len(vss) {
				e.vs = vss[re.Binding]
			}
			if len(re.Extra) > 0 {
				e.extra = map[string]struct{}{}
				for _, c := range re.Extra {
					e.extra[c] = struct{}{}
				}
			}
			if re.Min > 0 {
				td.required = append(td.required, uint16(i))
			}
			for j, rtp := range re.Types {
				et := elemType{code: rtp.Code}
				if p, ok := primByName[rtp.Code]; ok {
					et.prim = p
				} else if rtp.Code == "Resource" {
					et.prim = primResource
				} else if d, ok := t.types[rtp.Code]; ok {
					et.def = d
				} else {
					return nil, fmt.Errorf("fhir tables: %s: unknown type %q", re.Path, rtp.Code)
				}
				if len(rtp.Targets) > 0 {
					ts := new(targetSet)
					for _, tg := range rtp.Targets {
						if k, ok := resIndex[tg]; ok {
							ts[k>>6] |= 1 << (uint(k) & 63)
						}
					}
					et.targets = ts
				}
				name := re.Name
				if re.Choice {
					et.suffix = upperFirst(rtp.Code)
					name += et.suffix
				}
				et.jsonName = name
				e.types = append(e.types, et)
				td.keys[name] = packKey(i, j, false)
				if et.prim >= primBoolean {
					td.keys["_"+name] = packKey(i, j, true)
				}
			}
		}
	}
	for name, dst := range map[string]**typeDef{
		"Reference": &t.reference, "Coding": &t.coding, "CodeableConcept": &t.codeableConcept,
		"Extension": &t.extension, "Meta": &t.meta, "Element": &t.element,
	} {
		if *dst = t.types[name]; *dst == nil {
			return nil, fmt.Errorf("fhir tables: type %s missing", name)
		}
	}
	t.extensions = make(map[string]*extensionDef, len(rt.Extensions))
	for _, rx := range rt.Extensions {
		x := &extensionDef{url: rx.URL, contexts: rx.Contexts, values: rx.Values, cons: rx.Cons}
		for _, n := range rx.Nested {
			x.nested = append(x.nested, nestedExtension{url: n.URL, min: n.Min, max: n.Max, values: n.Values})
		}
		t.extensions[x.url] = x
	}
	inv, err := newInvariants(t)
	if err != nil {
		return nil, err
	}
	t.inv = inv
	return t, nil
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
