// Command gen reads the official FHIR R4 (4.0.1) definition bundles and writes
// the compact validation tables that package fhir embeds.
//
// It reads profiles-types.json.gz, profiles-resources.json.gz and
// expansions.json.gz from the -shared folder's fhir-r4 directory and writes a
// gzip-compressed JSON document (see package fhir, tables.go, for its shape).
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
	"sort"
	"strings"
)

// The output document. Field names are short because the file is embedded.

type outTables struct {
	Version   string            `json:"version"`
	Types     []outType         `json:"types"`
	ValueSets []outValueSet     `json:"valueSets"`
	Regexes   map[string]string `json:"regexes"`
}

type outType struct {
	Name     string    `json:"n"`
	Kind     string    `json:"k"` // "resource", "complex" or "backbone"
	Abstract bool      `json:"a,omitempty"`
	Domain   bool      `json:"d,omitempty"` // derives from DomainResource
	Elems    []outElem `json:"e"`
}

type outElem struct {
	Name    string       `json:"n"` // JSON name without [x]
	Path    string       `json:"p"`
	Min     int          `json:"min,omitempty"`
	Many    bool         `json:"many,omitempty"`
	Choice  bool         `json:"x,omitempty"`
	Types   []outElemTyp `json:"t"`
	Binding int          `json:"b"` // index into ValueSets of a required binding, -1 when none
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
	Snapshot       struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	SliceName        string `json:"sliceName"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code          string      `json:"code"`
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
	g := &generator{vsIndex: map[string]int{}, vsByURL: vsByURL, regexes: map[string]string{}}
	for i := range sds {
		if err := g.addDefinition(&sds[i]); err != nil {
			return fmt.Errorf("%s: %w", sds[i].ID, err)
		}
	}
	sort.Slice(g.types, func(i, j int) bool { return g.types[i].Name < g.types[j].Name })
	doc := outTables{Version: "4.0.1", Types: g.types, ValueSets: g.valueSets, Regexes: g.regexes}
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
	types     []outType
	valueSets []outValueSet
	vsIndex   map[string]int
	vsByURL   map[string]*valueSet
	regexes   map[string]string
}

func (g *generator) addDefinition(sd *structureDefinition) error {
	switch sd.Kind {
	case "primitive-type":
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
		} else if _, seen := g.typeNamed(parent); seen {
			continue
		}
		for _, el := range children[parent] {
			e, err := g.element(el, root, children, isResource && parent == root)
			if err != nil {
				return err
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
	}
	return e, nil
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
