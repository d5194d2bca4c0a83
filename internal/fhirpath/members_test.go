package fhirpath_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

func TestTopMembers(t *testing.T) {
	t.Parallel()
	m := fhir.FHIRPathModel()
	cases := []struct {
		ctx, expr string
		want      []string // nil: all
	}{
		{"Patient", "Patient.name", []string{"name"}},
		{"Patient", "Patient.name | Encounter.subject | Group.member.entity", []string{"name"}},
		{"InsurancePlan", "name | alias", []string{"alias", "name"}},
		{"Patient", "Patient.deceased.exists() and Patient.deceased != false", []string{"deceased"}},
		{"Patient", "Patient.where(gender = 'male').birthDate", []string{"birthDate", "gender"}},
		{"Observation", "Observation.subject.where(resolve() is Patient)", []string{"contained", "entry", "subject"}},
		{"Observation", "(Observation.value as Quantity) | Observation.component.value.ofType(Quantity)", []string{"component", "value"}},
		{"Patient", "Patient.extension('http://example.org/x').value", []string{"extension"}},
		{"Patient", "Patient.contact.where(%resource.active).name.first()", []string{"active", "contact"}},
		{"Patient", "Patient.telecom.where(system = 'phone') | Patient.name.select(%resource.gender)", []string{"gender", "name", "telecom"}},
		{"Bundle", "Bundle.entry[0].resource", []string{"entry"}},
		{"Patient", "Patient.name.count() > 1 and Patient.link.exists()", []string{"link", "name"}},
		{"Patient", "Patient", nil},
		{"Patient", "%resource.name | %context", nil},
		{"Patient", "Patient.descendants().ofType(Reference)", nil},
		{"Patient", "children().count()", nil},
		{"Patient", "Patient.where(true) = Patient", nil},
		{"Patient", "Patient.name.where($this = %resource)", nil},
	}
	for _, c := range cases {
		e, err := m.Compile(c.expr, fhirpath.Options{Context: m.Type(c.ctx), LenientAs: true})
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		names, all := e.TopMembers()
		if all != (c.want == nil) || !all && !cmp.Equal(names, c.want) {
			t.Errorf("%s on %s: TopMembers = %v, %v; want %v", c.expr, c.ctx, names, all, c.want)
		}
	}
}

// TestTopMembersSuite evaluates every expression of the FHIRPath test suite
// that runs on a JSON input twice: on the input, and on the input with only
// the top-level members TopMembers names. The results must be the same.
func TestTopMembersSuite(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.SharedDir(t), "fhirpath")
	m := fhir.FHIRPathModel()
	tests := suiteTests(t, dir)
	checked, trimmed, reading := 0, 0, 0
	for _, tc := range tests {
		if tc.InputFile == "" || tc.Expression.Invalid != "" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "input", strings.TrimSuffix(tc.InputFile, ".xml")+".json"))
		if err != nil {
			continue
		}
		var full fhirpath.Doc
		if err := m.Parse(&full, raw); err != nil {
			t.Fatal(err)
		}
		typ := full.Type(0)
		e, err := m.Compile(strings.TrimSpace(tc.Expression.Text), fhirpath.Options{Context: typ})
		if err != nil {
			continue
		}
		want, err := evalText(&full, e)
		if err != nil {
			continue
		}
		checked++
		names, all := e.TopMembers()
		if all {
			continue
		}
		trimmed++
		if len(names) > 0 {
			reading++
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		keep := map[string]bool{"resourceType": true}
		for _, n := range names {
			keep[n] = true
		}
		for k := range obj {
			if !keep[baseName(typ, k)] {
				delete(obj, k)
			}
		}
		small, _ := json.Marshal(obj)
		var part fhirpath.Doc
		if err := m.Parse(&part, small); err != nil {
			t.Fatal(err)
		}
		got, err := evalText(&part, e)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("%s: %s reads %v: on the whole input %v, on those members %v (%v)", tc.Name, tc.Expression.Text, names, want, got, err)
		}
	}
	t.Logf("%d expressions checked, %d of them on trimmed inputs (%d that read some members)", checked, trimmed, reading)
	if reading < 100 {
		t.Errorf("only %d expressions read a subset of the members", reading)
	}
}

// baseName is the FHIRPath name of a top-level JSON member of a resource of
// type t: "value" for valueQuantity and _valueString, "birthDate" for
// _birthDate.
func baseName(t *fhirpath.Type, key string) string {
	key = strings.TrimPrefix(key, "_")
	if key == "resourceType" || t.Element(key) != nil {
		return key
	}
	for _, e := range t.Elements {
		if !e.Choice || !strings.HasPrefix(key, e.Name) {
			continue
		}
		for _, et := range e.Types {
			if key == e.Name+strings.ToUpper(et.Name[:1])+et.Name[1:] {
				return e.Name
			}
		}
	}
	return key
}

func evalText(d *fhirpath.Doc, e *fhirpath.Expr) ([]string, error) {
	ev := fhirpath.NewEvaluator()
	ev.Reset(d)
	res, err := ev.Eval(e, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res))
	for k, v := range res {
		out[k] = v.Text(d) + ":" + v.TypeName(d)
	}
	return out, nil
}

// suiteTests reads the tests of the FHIRPath test suite in dir.
func suiteTests(t *testing.T, dir string) []suiteTest {
	raw, err := os.ReadFile(filepath.Join(dir, "tests-fhir-r4.xml"))
	if err != nil {
		t.Skipf("FHIRPath test suite not available: %v", err)
	}
	var s suite
	if err := xml.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var out []suiteTest
	for _, g := range s.Groups {
		out = append(out, g.Tests...)
	}
	return out
}

// TestOtherResourceType checks paths that start with a resource type other
// than the context's, which compile to an empty collection (search
// parameters share one union between types): the operators and functions
// around them see an empty collection.
func TestOtherResourceType(t *testing.T) {
	t.Parallel()
	doc := parse(t, `{"resourceType":"Patient","id":"p","name":[{"family":"A"},{"family":"B"}],"active":true}`)
	m := doc.Model()
	cases := map[string]string{
		"Encounter.subject | Patient.name.family":                             "A:string,B:string",
		"Encounter.subject.where(true).first()":                               "",
		"Encounter.subject.exists()":                                          "false:Boolean",
		"Encounter.subject.count()":                                           "0:Integer",
		"Encounter.subject.empty() and Patient.active":                        "true:Boolean",
		"(Encounter.subject as Reference) | (Encounter.subject is Reference)": "",
		"Encounter.participant[0] | Group.member":                             "",
		"iif(Encounter.exists(), 1, 2)":                                       "2:Integer",
	}
	for expr, want := range cases {
		e, err := m.Compile(expr, fhirpath.Options{Context: m.Type("Patient")})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		got, err := evalText(doc, e)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if g := strings.Join(got, ","); g != want {
			t.Errorf("%s = %s, want %s", expr, g, want)
		}
	}
}
