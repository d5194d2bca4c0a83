// Command gen reads the official FHIR R4 (4.0.1) definition bundles and writes
// the compact validation tables that package fhir embeds.
//
// It reads profiles-types.json.gz, profiles-resources.json.gz,
// extension-definitions.json.gz and expansions.json.gz from the -shared
// folder's fhir-r4 directory and writes a gzip-compressed JSON document (see
// package fhir, tables.go, for its shape): the types and their elements,
// the required value sets, the primitive regexes, every constraint
// (invariant) of the definitions with the elements it is declared on, and
// the core extensions' contexts, value types and nested extensions.
// The output is deterministic so that regenerating it without changes in the
// inputs leaves the committed file byte-for-byte unchanged.
//
// Usage (from package fhir, through go generate):
//
//	go run ./internal/gen -shared ../../../shared -out r4tables.json.gz
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The output document. Field names are short because the file is embedded.

type outTables struct {
	Version     string            `json:"version"`
	Types       []outType         `json:"types"`
	Primitives  []outPrimitive    `json:"primitives"`
	ValueSets   []outValueSet     `json:"valueSets"`
	Regexes     map[string]string `json:"regexes"`
	Constraints []outConstraint   `json:"constraints"`
	Extensions  []outExtension    `json:"extensions"`
}

type outType struct {
	Name     string    `json:"n"`
	Kind     string    `json:"k"` // "resource", "complex" or "backbone"
	Abstract bool      `json:"a,omitempty"`
	Domain   bool      `json:"d,omitempty"` // derives from DomainResource
	Base     string    `json:"base,omitempty"`
	Cons     []int     `json:"c,omitempty"` // constraints of the type (its root element, or a backbone's element)
	Elems    []outElem `json:"e"`
}

type outPrimitive struct {
	Name string `json:"n"`
	Base string `json:"base"`
}

type outElem struct {
	Name    string       `json:"n"` // JSON name without [x]
	Path    string       `json:"p"`
	Min     int          `json:"min,omitempty"`
	Many    bool         `json:"many,omitempty"`
	Choice  bool         `json:"x,omitempty"`
	Types   []outElemTyp `json:"t"`
	Binding int          `json:"b"`            // index into ValueSets of a required binding, -1 when none
	Extra   []string     `json:"xc,omitempty"` // codes the element allows beside a grammar-checked value set
	Cons    []int        `json:"c,omitempty"`  // constraints listed on the element in the snapshot
}

// outConstraint is one invariant of the definitions.
type outConstraint struct {
	Key      string `json:"k"`
	Severity string `json:"s"`
	Human    string `json:"h"`
	Expr     string `json:"e"`
	Source   string `json:"src"` // the definition that declares it
}

// outExtension is a core extension: where it may be used and what it holds.
type outExtension struct {
	URL      string      `json:"u"`
	Contexts []string    `json:"ctx"`
	Values   []string    `json:"v,omitempty"` // allowed value[x] types; none for a complex extension
	Nested   []outNested `json:"x,omitempty"`
	Cons     []int       `json:"c,omitempty"` // its own constraints
}

type outNested struct {
	URL    string   `json:"u"`
	Min    int      `json:"min,omitempty"`
	Max    string   `json:"max"`
	Values []string `json:"v,omitempty"`
}

type outElemTyp struct {
	Code    string   `json:"c"`           // FHIR type code, or the path of a backbone type
	Targets []string `json:"r,omitempty"` // Reference target resource types; empty means any
}

type outValueSet struct {
	URL   string   `json:"u"`
	Kind  string   `json:"k"`           // "codes", "mime", "lang", "ucum" or "none"
	Codes []string `json:"c,omitempty"` // "system|code", sorted
}

// The input documents: only the members the generator reads.

type bundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type structureDefinition struct {
	ResourceType   string `json:"resourceType"`
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Type           string `json:"type"`
	BaseDefinition string `json:"baseDefinition"`
	Derivation     string `json:"derivation"`
	URL            string `json:"url"`
	Context        []struct {
		Type       string `json:"type"`
		Expression string `json:"expression"`
	} `json:"context"`
	Snapshot struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	SliceName        string `json:"sliceName"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	Short            string `json:"short"`
	Comment          string `json:"comment"`
	FixedURI         string `json:"fixedUri"`
	Constraint       []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
		Source     string `json:"source"`
	} `json:"constraint"`
	Type []struct {
		Code          string      `json:"code"`
		Profile       []string    `json:"profile"`
		TargetProfile []string    `json:"targetProfile"`
		Extension     []extension `json:"extension"`
	} `json:"type"`
	Binding *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
}

type extension struct {
	URL         string `json:"url"`
	ValueURL    string `json:"valueUrl"`
	ValueString string `json:"valueString"`
}

type valueSet struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url"`
	Compose      struct {
		Include []struct {
			System  string            `json:"system"`
			Concept []json.RawMessage `json:"concept"`
		} `json:"include"`
	} `json:"compose"`
	Expansion *struct {
		Contains []contains `json:"contains"`
	} `json:"expansion"`
}

type contains struct {
	System   string     `json:"system"`
	Code     string     `json:"code"`
	Abstract bool       `json:"abstract"`
	Contains []contains `json:"contains"`
}

const (
	fhirTypeExt = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	regexExt    = "http://hl7.org/fhir/StructureDefinition/regex"
	sdPrefix    = "http://hl7.org/fhir/StructureDefinition/"
)

func main() {
	shared := flag.String("shared", "", "path of the shared folder that holds fhir-r4/")
	out := flag.String("out", "r4tables.json.gz", "output file")
	flag.Parse()
	if err := run(*shared, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(shared, out string) error {
	if shared == "" {
		return errors.New("-shared is required")
	}
	dir := filepath.Join(shared, "fhir-r4")
	var sds []structureDefinition
	for _, name := range []string{"profiles-types.json.gz", "profiles-resources.json.gz"} {
		got, err := readDefinitions(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		sds = append(sds, got...)
	}
	vsByURL, err := readValueSets(filepath.Join(dir, "expansions.json.gz"))
	if err != nil {
		return err
	}
	exts, err := readDefinitions(filepath.Join(dir, "extension-definitions.json.gz"))
	if err != nil {
		return err
	}
	g := &generator{vsIndex: map[string]int{}, vsByURL: vsByURL, regexes: map[string]string{}, consIndex: map[outConstraint]int{},
		profiles: map[string]*structureDefinition{}}
	// Constraint profiles of data types (SimpleQuantity, MoneyQuantity): an
	// element whose type names one carries the profile's constraints.
	for i := range sds {
		if sd := &sds[i]; sd.Derivation == "constraint" && sd.Kind == "complex-type" {
			g.profiles[sdPrefix+sd.ID] = sd
		}
	}
	for i := range sds {
		if err := g.addDefinition(&sds[i]); err != nil {
			return fmt.Errorf("%s: %w", sds[i].ID, err)
		}
	}
	for i := range exts {
		if err := g.addExtension(&exts[i]); err != nil {
			return fmt.Errorf("%s: %w", exts[i].ID, err)
		}
	}
	sort.Slice(g.types, func(i, j int) bool { return g.types[i].Name < g.types[j].Name })
	sort.Slice(g.primitives, func(i, j int) bool { return g.primitives[i].Name < g.primitives[j].Name })
	sort.Slice(g.extensions, func(i, j int) bool { return g.extensions[i].URL < g.extensions[j].URL })
	doc := outTables{Version: "4.0.1", Types: g.types, Primitives: g.primitives, ValueSets: g.valueSets, Regexes: g.regexes,
		Constraints: g.constraints, Extensions: g.extensions}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func readGzipJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readDefinitions(path string) ([]structureDefinition, error) {
	var b bundle
	if err := readGzipJSON(path, &b); err != nil {
		return nil, err
	}
	var sds []structureDefinition
	for _, e := range b.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if head.ResourceType != "StructureDefinition" {
			continue
		}
		var sd structureDefinition
		if err := json.Unmarshal(e.Resource, &sd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		sds = append(sds, sd)
	}
	return sds, nil
}

func readValueSets(path string) (map[string]*valueSet, error) {
	var b bundle
	if err := readGzipJSON(path, &b); err != nil {
		return nil, err
	}
	m := map[string]*valueSet{}
	for _, e := range b.Entry {
		vs := new(valueSet)
		if err := json.Unmarshal(e.Resource, vs); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if vs.ResourceType == "ValueSet" {
			m[vs.URL] = vs
		}
	}
	return m, nil
}

type generator struct {
	types       []outType
	primitives  []outPrimitive
	valueSets   []outValueSet
	vsIndex     map[string]int
	vsByURL     map[string]*valueSet
	regexes     map[string]string
	constraints []outConstraint
	consIndex   map[outConstraint]int
	extensions  []outExtension
	profiles    map[string]*structureDefinition // data type constraint profiles by URL
}

// cons returns the indexes of an element's constraints, adding new ones to
// the output. Constraints without a source are the definition's own.
func (g *generator) cons(el *elementDefinition, owner string) []int {
	var out []int
	for _, c := range el.Constraint {
		src := c.Source
		if src == "" {
			src = sdPrefix + owner
		}
		oc := outConstraint{Key: c.Key, Severity: c.Severity, Human: c.Human, Expr: c.Expression, Source: src}
		k, ok := g.consIndex[oc]
		if !ok {
			k = len(g.constraints)
			g.consIndex[oc] = k
			g.constraints = append(g.constraints, oc)
		}
		out = append(out, k)
	}
	return out
}

// appendNew appends the indexes of b that a lacks.
func appendNew(a, b []int) []int {
	for _, k := range b {
		found := false
		for _, j := range a {
			found = found || j == k
		}
		if !found {
			a = append(a, k)
		}
	}
	return a
}

func baseName(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

func (g *generator) addDefinition(sd *structureDefinition) error {
	switch sd.Kind {
	case "primitive-type":
		g.primitives = append(g.primitives, outPrimitive{Name: sd.ID, Base: baseName(sd.BaseDefinition)})
		for _, el := range sd.Snapshot.Element {
			if el.Path != sd.Type+".value" {
				continue
			}
			for _, t := range el.Type {
				for _, x := range t.Extension {
					if x.URL == regexExt {
						g.regexes[sd.ID] = x.ValueString
					}
				}
			}
		}
		return nil
	case "complex-type", "resource":
	default:
		return nil // logical models
	}
	els := sd.Snapshot.Element
	if len(els) == 0 {
		return errors.New("no snapshot")
	}
	root := els[0].Path
	isResource := sd.Kind == "resource"
	// Group the snapshot elements by parent path. Elements with children become
	// their own (backbone) type, named by their path.
	children := map[string][]*elementDefinition{}
	var parents []string
	for i := range els {
		el := &els[i]
		if el.SliceName != "" || i == 0 {
			continue
		}
		dot := strings.LastIndexByte(el.Path, '.')
		parent := el.Path[:dot]
		if _, ok := children[parent]; !ok {
			parents = append(parents, parent)
		}
		children[parent] = append(children[parent], el)
	}
	byPath := map[string]*elementDefinition{}
	for i := range els {
		if els[i].SliceName == "" {
			byPath[els[i].Path] = &els[i]
		}
	}
	for _, parent := range parents {
		t := outType{Name: parent, Kind: "backbone"}
		if parent == root {
			t.Name = sd.ID
			t.Kind = "complex"
			if isResource {
				t.Kind = "resource"
				t.Domain = strings.HasSuffix(sd.BaseDefinition, "/DomainResource") || sd.ID == "DomainResource"
			}
			t.Abstract = sd.Abstract
			if sd.BaseDefinition != "" {
				t.Base = baseName(sd.BaseDefinition)
			}
			t.Cons = g.cons(&els[0], sd.ID)
		} else if _, seen := g.typeNamed(parent); seen {
			continue
		} else if el := byPath[parent]; el != nil {
			t.Base = "BackboneElement"
			if len(el.Type) == 1 {
				t.Base = el.Type[0].Code
			}
			t.Cons = g.cons(el, sd.ID)
		}
		for _, el := range children[parent] {
			e, err := g.element(el, root, children, isResource && parent == root)
			if err != nil {
				return err
			}
			e.Cons = g.cons(el, sd.ID)
			for _, ty := range el.Type {
				for _, p := range ty.Profile {
					if prof := g.profiles[p]; prof != nil && len(prof.Snapshot.Element) > 0 {
						e.Cons = appendNew(e.Cons, g.cons(&prof.Snapshot.Element[0], prof.ID))
					}
				}
			}
			t.Elems = append(t.Elems, e)
		}
		g.types = append(g.types, t)
	}
	return nil
}

func (g *generator) typeNamed(name string) (int, bool) {
	for i := range g.types {
		if g.types[i].Name == name {
			return i, true
		}
	}
	return 0, false
}

func (g *generator) element(el *elementDefinition, root string, children map[string][]*elementDefinition, resourceRoot bool) (outElem, error) {
	name := el.Path[strings.LastIndexByte(el.Path, '.')+1:]
	e := outElem{Name: name, Path: el.Path, Min: el.Min, Many: el.Max != "1" && el.Max != "0", Binding: -1}
	if strings.HasSuffix(name, "[x]") {
		e.Name = strings.TrimSuffix(name, "[x]")
		e.Choice = true
	}
	if el.ContentReference != "" {
		e.Types = []outElemTyp{{Code: strings.TrimPrefix(el.ContentReference, "#")}}
		return e, nil
	}
	if _, ok := children[el.Path]; ok {
		e.Types = []outElemTyp{{Code: el.Path}}
		return e, nil
	}
	for _, t := range el.Type {
		code := t.Code
		if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
			for _, x := range t.Extension {
				if x.URL == fhirTypeExt {
					code = x.ValueURL
				}
			}
		}
		if resourceRoot && name == "id" {
			code = "id" // Resource.id is a logical id (see the definitions' README)
		}
		ot := outElemTyp{Code: code}
		if code == "Reference" {
			for _, p := range t.TargetProfile {
				target := strings.TrimPrefix(p, sdPrefix)
				if target == "Resource" || target == "DomainResource" {
					ot.Targets = nil
					break
				}
				ot.Targets = append(ot.Targets, target)
			}
		}
		e.Types = append(e.Types, ot)
	}
	if len(e.Types) == 0 {
		return e, fmt.Errorf("%s: no type", el.Path)
	}
	if b := el.Binding; b != nil && b.Strength == "required" && b.ValueSet != "" {
		url, _, _ := strings.Cut(b.ValueSet, "|")
		e.Binding = g.valueSet(url)
		if g.valueSets[e.Binding].Kind == "mime" {
			e.Extra = extraFormatCodes(el.Comment)
		}
	}
	return e, nil
}

// extraFormats matches the comment with which R4 allows the codes xml, json
// and ttl next to media types (CapabilityStatement.format,
// Signature.targetFormat): "\"xml\", \"json\" and \"ttl\" are allowed, which
// describe the simple encodings...".
var extraFormats = regexp.MustCompile(`^"(\w+)", "(\w+)" and "(\w+)" are allowed`)

func extraFormatCodes(comment string) []string {
	m := extraFormats.FindStringSubmatch(comment)
	if m == nil {
		return nil
	}
	return m[1:]
}

// addExtension records a core extension definition: its contexts, the types
// its value may have (none for a complex extension), its nested extensions
// and its own constraints.
func (g *generator) addExtension(sd *structureDefinition) error {
	if sd.Type != "Extension" || sd.URL == "" {
		return nil
	}
	x := outExtension{URL: sd.URL}
	for _, c := range sd.Context {
		if c.Type != "element" {
			return fmt.Errorf("context type %s not handled", c.Type)
		}
		x.Contexts = append(x.Contexts, c.Expression)
	}
	els := sd.Snapshot.Element
	if len(els) == 0 {
		return errors.New("no snapshot")
	}
	for _, k := range g.cons(&els[0], sd.ID) {
		if c := g.constraints[k]; c.Source == sdPrefix+sd.ID {
			x.Cons = append(x.Cons, k)
		}
	}
	var nested *outNested
	for i := range els {
		el := &els[i]
		switch {
		case el.Path == "Extension.value[x]" && el.Max != "0":
			for _, t := range el.Type {
				x.Values = append(x.Values, t.Code)
			}
		case el.Path == "Extension.extension" && el.SliceName != "":
			x.Nested = append(x.Nested, outNested{Min: el.Min, Max: el.Max})
			nested = &x.Nested[len(x.Nested)-1]
		case el.Path == "Extension.extension.url" && nested != nil:
			nested.URL = el.FixedURI
		case el.Path == "Extension.extension.value[x]" && nested != nil && el.Max != "0":
			for _, t := range el.Type {
				nested.Values = append(nested.Values, t.Code)
			}
		}
	}
	g.extensions = append(g.extensions, x)
	return nil
}

// valueSet returns the index of the value set with url in the output, adding it
// on first use. Value sets over BCP-13, BCP-47 and UCUM are checked by grammar;
// value sets without a usable expansion are not checked at all.
func (g *generator) valueSet(url string) int {
	if i, ok := g.vsIndex[url]; ok {
		return i
	}
	out := outValueSet{URL: url, Kind: "none"}
	if vs := g.vsByURL[url]; vs != nil {
		for _, inc := range vs.Compose.Include {
			if len(inc.Concept) > 0 {
				continue // an explicit list: use the expansion
			}
			switch inc.System {
			case "urn:ietf:bcp:13":
				out.Kind = "mime"
			case "urn:ietf:bcp:47":
				out.Kind = "lang"
			case "http://unitsofmeasure.org":
				out.Kind = "ucum"
			}
		}
		if out.Kind == "none" && vs.Expansion != nil {
			seen := map[string]bool{}
			var walk func([]contains)
			walk = func(cs []contains) {
				for _, c := range cs {
					if c.Code != "" && !c.Abstract && !seen[c.System+"|"+c.Code] {
						seen[c.System+"|"+c.Code] = true
						out.Codes = append(out.Codes, c.System+"|"+c.Code)
					}
					walk(c.Contains)
				}
			}
			walk(vs.Expansion.Contains)
			sort.Strings(out.Codes)
			if len(out.Codes) > 0 {
				out.Kind = "codes"
			}
		}
	}
	g.vsIndex[url] = len(g.valueSets)
	g.valueSets = append(g.valueSets, out)
	return len(g.valueSets) - 1
}
