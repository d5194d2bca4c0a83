package fhir

import (
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// Core extensions (extension-definitions.json, strict level): an extension
// whose url is one of the 393 R4 core extension definitions must be used in
// one of the definition's contexts and hold a value of one of its types (a
// complex extension holds no value, and its nested extensions are checked
// for their types and cardinalities); the definition's own constraints are
// evaluated on it. A url in the core namespace that is not a core extension
// is a warning: it may be an extension of a later FHIR version.

const coreExtensionPrefix = "http://hl7.org/fhir/StructureDefinition/"

// contextOutgrown are core extensions that the R4 definitions themselves use
// outside the contexts their definitions declare (the official
// StructureDefinitions, ValueSets and CodeSystems carry them there), so a
// declared context is not the whole truth for them: using one elsewhere is a
// warning, not an error. TestCorpusDefinitions finds them in the definitions
// and checks this list.
var contextOutgrown = map[string]string{
	"http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type":         "ElementDefinition.type (declared: ElementDefinition.type.code)",
	"http://hl7.org/fhir/StructureDefinition/structuredefinition-normative-version": "ElementDefinition",
	"http://hl7.org/fhir/StructureDefinition/regex":                                 "ElementDefinition.type",
	"http://hl7.org/fhir/StructureDefinition/translation":                           "ValueSet.expansion.contains",
	"http://hl7.org/fhir/StructureDefinition/valueset-concept-comments":             "CodeSystem.concept",
}

// extensionDef is a core extension definition.
type extensionDef struct {
	url      string
	contexts []string // element paths or type names
	values   []string // allowed value[x] types; empty for a complex extension
	nested   []nestedExtension
	cons     []int
}

type nestedExtension struct {
	url    string
	min    int
	max    string
	values []string
}

// checkExtension checks the Extension node n against its core definition.
func (w *walker) checkExtension(doc *fhirpath.Doc, n fhirpath.NodeID) {
	urlNode := doc.Child(n, "url")
	if urlNode == fhirpath.NoNode {
		return
	}
	url := doc.String(urlNode)
	def := w.t.extensions[url]
	if def == nil {
		if strings.HasPrefix(url, coreExtensionPrefix) && !w.t.isNestedURL(doc, n) {
			w.addAt(SeverityWarning, "extension", "extension "+url+" is in the core namespace but is not an R4 core extension", doc.Path(n))
		}
		return
	}
	holder := doc.Parent(n)
	if holder != fhirpath.NoNode && !w.contextAllows(doc, holder, def.contexts) {
		sev := SeverityError
		if _, ok := contextOutgrown[url]; ok {
			sev = SeverityWarning
		}
		w.addAt(sev, "structure", "extension "+url+" is not allowed on "+doc.Path(holder)+": its context is "+strings.Join(def.contexts, ", "), doc.Path(n))
	}
	value := doc.Child(n, "value")
	hasNested := doc.Child(n, "extension") != fhirpath.NoNode
	switch {
	case len(def.values) > 0 && value != fhirpath.NoNode:
		if t := doc.Type(value); t != nil && !contains(def.values, t.Name) {
			w.addAt(SeverityError, "structure", "extension "+url+" must have a value of type "+strings.Join(def.values, ", ")+", not "+t.Name, doc.Path(value))
		}
	case len(def.values) > 0 && hasNested:
		w.addAt(SeverityError, "structure", "extension "+url+" is a simple extension: it must have a value ("+strings.Join(def.values, ", ")+"), not nested extensions", doc.Path(n))
	case len(def.values) == 0 && value != fhirpath.NoNode:
		w.addAt(SeverityError, "structure", "extension "+url+" is a complex extension: it has nested extensions and no value", doc.Path(value))
	case len(def.values) == 0:
		w.checkNested(doc, n, def)
	}
	for _, k := range def.cons {
		c := w.t.constraints[k]
		if c.prog == nil {
			continue
		}
		if truth, err := w.ev.Check(c.prog, n); err == nil && truth != fhirpath.True {
			w.constraintIssue(c, doc, n, w.ev, len(w.issues))
		}
	}
}

// isNestedURL reports whether the extension n sits inside another extension
// (nested extensions of complex extensions have their own urls).
func (t *tables) isNestedURL(doc *fhirpath.Doc, n fhirpath.NodeID) bool {
	p := doc.Parent(n)
	return p != fhirpath.NoNode && doc.Type(p) != nil && doc.Type(p).Name == "Extension"
}

// checkNested checks the nested extensions of a complex core extension.
func (w *walker) checkNested(doc *fhirpath.Doc, n fhirpath.NodeID, def *extensionDef) {
	counts := make([]int, len(def.nested))
	doc.Children(n, func(c fhirpath.NodeID) bool {
		if doc.Name(c) != "extension" {
			return true
		}
		u := doc.String(doc.Child(c, "url"))
		for k, nd := range def.nested {
			if nd.url != u {
				continue
			}
			counts[k]++
			if v := doc.Child(c, "value"); v != fhirpath.NoNode && len(nd.values) > 0 {
				if t := doc.Type(v); t != nil && !contains(nd.values, t.Name) {
					w.addAt(SeverityError, "structure", "nested extension "+u+" of "+def.url+" must have a value of type "+strings.Join(nd.values, ", ")+", not "+t.Name, doc.Path(v))
				}
			}
		}
		return true
	})
	for k, nd := range def.nested {
		switch {
		case counts[k] < nd.min:
			w.addAt(SeverityError, "required", "extension "+def.url+" needs the nested extension "+nd.url, doc.Path(n))
		case nd.max == "1" && counts[k] > 1:
			w.addAt(SeverityError, "structure", "extension "+def.url+" allows the nested extension "+nd.url+" once", doc.Path(n))
		}
	}
}

// contextAllows reports whether an extension may be used on holder: a
// context names the holder's element path (HumanName.family), its path from
// the resource (Patient.name.family), its type or one of its base types
// (string, Element, DomainResource); Element and Any allow any holder.
func (w *walker) contextAllows(doc *fhirpath.Doc, holder fhirpath.NodeID, contexts []string) bool {
	var full string
	for _, ctx := range contexts {
		switch ctx {
		case "Element", "Any":
			return true
		}
		if e := doc.Element(holder); e != nil && (e.Path == ctx || strings.TrimSuffix(e.Path, "[x]") == ctx) {
			return true
		}
		for t := doc.Type(holder); t != nil; t = t.Base {
			if t.Name == ctx {
				return true
			}
		}
		if full == "" {
			full = logicalPath(doc, holder)
		}
		if full == ctx {
			return true
		}
	}
	return false
}

// logicalPath is the element path of n from its resource, without indexes:
// Patient.name.family.
func logicalPath(doc *fhirpath.Doc, n fhirpath.NodeID) string {
	var parts []string
	for c := n; c != fhirpath.NoNode; c = doc.Parent(c) {
		if t := doc.Type(c); t != nil && t.Resource {
			parts = append(parts, t.Name)
			break
		}
		parts = append(parts, doc.Name(c))
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
