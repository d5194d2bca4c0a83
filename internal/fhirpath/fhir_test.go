package fhirpath_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// The FHIR-specific parts of the engine, one at a time, on hand-written
// resources.

const bundleJSON = `{"resourceType":"Bundle","id":"b","type":"collection","entry":[
 {"fullUrl":"http://x.org/fhir/Patient/p1","resource":{"resourceType":"Patient","id":"p1","active":true,
   "birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:00:00Z"}]},
   "name":[{"given":["A",null,"C"],"_given":[null,{"extension":[{"url":"http://example.org/b","valueString":"B"}]},{"id":"g3"}]}],
   "managingOrganization":{"reference":"#o1"},
   "contained":[{"resourceType":"Organization","id":"o1","name":"Org","partOf":{"reference":"#"}}]}},
 {"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},
   "subject":{"reference":"Patient/p1"},"performer":[{"reference":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},{"reference":"Practitioner/nowhere"}],
   "valueQuantity":{"value":185,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"},
   "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">ok</div>"}}}]}`

func evalOn(t *testing.T, doc *fhirpath.Doc, focus fhirpath.NodeID, expr string, typeOnly bool) []string {
	t.Helper()
	m := doc.Model()
	e, err := m.Compile(expr, fhirpath.Options{})
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	ev := fhirpath.NewEvaluator()
	ev.TypeOnlyReferences = typeOnly
	ev.Reset(doc)
	res, err := ev.Eval(e, focus)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	out := make([]string, len(res))
	for k, v := range res {
		out[k] = v.Text(doc) + ":" + v.TypeName(doc)
	}
	return out
}

func parse(t *testing.T, src string) *fhirpath.Doc {
	t.Helper()
	var d fhirpath.Doc
	if err := fhir.FHIRPathModel().Parse(&d, []byte(src)); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestFHIRFunctions(t *testing.T) {
	t.Parallel()
	doc := parse(t, bundleJSON)
	patient := doc.Child(doc.Child(0, "entry"), "resource")
	var obs fhirpath.NodeID
	doc.Children(0, func(e fhirpath.NodeID) bool {
		if r := doc.Child(e, "resource"); r != fhirpath.NoNode && doc.Type(r).Name == "Observation" {
			obs = r
		}
		return true
	})
	org := doc.Child(patient, "contained")
	cases := []struct {
		name     string
		focus    fhirpath.NodeID
		expr     string
		typeOnly bool
		want     string
	}{
		{"extension()", patient, "birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", false, "1970-01-01T10:00:00Z:dateTime"},
		{"extension() with %ext-", patient, "birthDate.extension(%`ext-patient-birthTime`).exists()", false, "true:Boolean"},
		{"hasValue() on primitives with and without value", patient, "name.given.select(hasValue())", false, "true:Boolean,false:Boolean,true:Boolean"},
		{"_name children merge by index", patient, "name.given.select(extension.value | id)", false, "B:string,g3:string"},
		{"getValue()", patient, "birthDate.getValue()", false, "@1970-01-01:Date"},
		{"choice type", obs, "value is Quantity", false, "true:Boolean"},
		{"choice value compared as a quantity", obs, "value > 80 'kg'", false, "true:Boolean"},
		{"ofType with a FHIR type", obs, "value.ofType(Quantity).unit", false, "lbs:string"},
		{"resolve() contained", patient, "managingOrganization.resolve().name", false, "Org:string"},
		{"resolve() '#' from contained", org, "partOf.resolve().id", false, "p1:id"},
		{"resolve() Bundle by type and id", obs, "subject.resolve().active", false, "true:boolean"},
		{"resolve() Bundle by fullUrl", obs, "performer.first().resolve().status", false, "final:code"},
		{"resolve() outside the Bundle", obs, "performer.last().resolve().exists()", false, "false:Boolean"},
		{"resolve() type only", obs, "performer.last().resolve() is Practitioner", true, "true:Boolean"},
		{"%resource in contained", org, "%resource.id", false, "o1:id"},
		{"%rootResource in contained", org, "%rootResource.id", false, "p1:id"},
		{"%context", org, "%context.name", false, "Org:string"},
		{"%resource of an entry", doc.Child(obs, "subject"), "%resource.id", false, "o:id"},
		{"htmlChecks()", obs, "text.div.htmlChecks()", false, "true:Boolean"},
		{"conformsTo() core type", obs, "conformsTo('http://hl7.org/fhir/StructureDefinition/Observation')", false, "true:Boolean"},
		{"conformsTo() base type", obs, "conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')", false, "true:Boolean"},
		{"type() of a backbone element", 0, "entry.first().type().name", false, "BackboneElement:String"},
		{"is on a resource", 0, "entry.resource.where($this is Observation).id", false, "o:id"},
		{"descendants()", org, "descendants().reference", false, "#:string"},
		{"children() of a primitive", patient, "birthDate.children().url", false, "http://hl7.org/fhir/StructureDefinition/patient-birthTime:uri"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := strings.Join(evalOn(t, doc, c.focus, c.expr, c.typeOnly), ",")
			if got != c.want {
				t.Errorf("%s = %s, want %s", c.expr, got, c.want)
			}
		})
	}
}

func TestDocPath(t *testing.T) {
	t.Parallel()
	doc := parse(t, bundleJSON)
	got := map[string]bool{}
	for i := 0; i < doc.Len(); i++ {
		if doc.Live(fhirpath.NodeID(i)) {
			got[doc.Path(fhirpath.NodeID(i))] = true
		}
	}
	for _, want := range []string{
		"Bundle", "Bundle.entry[0].resource", "Bundle.entry[0].resource.name[0].given[1]",
		"Bundle.entry[0].resource.name[0].given[1].extension[0].valueString", "Bundle.entry[0].resource.birthDate.extension[0]",
		"Bundle.entry[1].resource.valueQuantity.code", "Bundle.entry[0].resource.contained[0].partOf",
	} {
		if !got[want] {
			t.Errorf("no node at %s", want)
		}
	}
}

func TestStepBound(t *testing.T) {
	t.Parallel()
	m := fhir.FHIRPathModel()
	// A Questionnaire nested 200 deep: descendants() of every item of
	// descendants() is quadratic, and the bound stops it.
	src := `{"resourceType":"Questionnaire","id":"q","status":"draft"` + strings.Repeat(`,"item":[{"linkId":"x","type":"group"`, 200) + strings.Repeat("}]", 200) + "}"
	doc := parse(t, src)
	ev := fhirpath.NewEvaluator()
	ev.Reset(doc)
	ev.MaxSteps = 10_000
	e := m.MustCompile("descendants().select(descendants()).count()", fhirpath.Options{})
	if _, err := ev.Eval(e, 0); !errors.Is(err, fhirpath.ErrTooCostly) {
		t.Fatalf("got %v, want ErrTooCostly", err)
	}
	if ev.Steps() > 20_000 {
		t.Errorf("stopped after %d steps, bound 10000", ev.Steps())
	}
	ev.MaxSteps = 0
	r, err := ev.Eval(e, 0)
	if err != nil || len(r) != 1 {
		t.Fatalf("with the default bound: %v %v", r, err)
	}
	e = m.MustCompile("repeat(item).count()", fhirpath.Options{})
	if r, err := ev.Eval(e, 0); err != nil || r[0].Text(doc) != "200" {
		t.Errorf("repeat(item).count() = %v %v, want 200", r, err)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	m := fhir.FHIRPathModel()
	obs := m.Type("Observation")
	for _, c := range []struct {
		expr string
		ctx  *fhirpath.Type
		want string
	}{
		{"status.foo", obs, "has no element foo"},
		{"valueQuantity", obs, "has no element valueQuantity"},
		{"nope()", nil, "unknown function"},
		{"count(1)", nil, "takes 0 to 0 arguments"},
		{"1 +", nil, "syntax error"},
		{"'a", nil, "unterminated string"},
		{"ofType(Nope)", nil, "unknown type Nope"},
		{"code.coding.startsWith('x')", obs, "applies to strings"},
		{"@2020-01-01 + 1", nil, "only be added a quantity"},
		{"iif('x', 1, 2)", nil, "must be a Boolean"},
		{"name.matches('(')", nil, "bad regular expression"},
	} {
		if _, err := m.Compile(c.expr, fhirpath.Options{Context: c.ctx}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want an error containing %q", c.expr, err, c.want)
		}
	}
}
