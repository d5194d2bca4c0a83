package search

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fastjson"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestExpressions evaluates the forms of FHIRPath the R4 definitions use, compiled as the
// registry compiles them (for the resource type, with lenient as), and names what they reach.
func TestExpressions(t *testing.T) {
	t.Parallel()
	body := `{"resourceType":"Observation","id":"o","status":"final",
	 "code":{"coding":[{"system":"http://loinc.org","code":"1-8","display":"One"}],"text":"One eight"},
	 "subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/d1"},{"reference":"Patient/p2"},{"reference":"#c"}],
	 "contained":[{"resourceType":"Patient","id":"c"}],
	 "effectivePeriod":{"start":"2020-01-01","end":"2020-02-01"},"valueQuantity":{"value":5.5,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},
	 "component":[{"code":{"text":"c"},"valueCodeableConcept":{"coding":[{"system":"s","code":"x"}]}},{"code":{"text":"d"},"valueString":"str"}]}`
	tests := []struct {
		name string
		expr string
		want []string // the paths of the values reached, with their type after '@'
	}{
		{"path", "Observation.status", []string{"Observation.status@code"}},
		{"other type selects nothing", "Patient.status", nil},
		{"union", "Observation.status | Observation.subject", []string{"Observation.status@code", "Observation.subject@Reference"}},
		{"union shared between types", "Encounter.subject | Observation.subject | Group.member.entity", []string{"Observation.subject@Reference"}},
		{"relative path", "status", []string{"Observation.status@code"}},
		{"choice by base name", "Observation.effective", []string{"Observation.effectivePeriod@Period"}},
		{"as on a choice", "(Observation.value as Quantity)", []string{"Observation.valueQuantity@Quantity"}},
		{"as filters other types", "(Observation.value as string)", nil},
		{"as() function", "Observation.component.value.as(string)", []string{"Observation.component[1].valueString@string"}},
		{"ofType", "Observation.component.value.ofType(CodeableConcept)", []string{"Observation.component[0].valueCodeableConcept@CodeableConcept"}},
		{"where resolve is", "Observation.performer.where(resolve() is Patient)", []string{"Observation.performer[1]@Reference", "Observation.performer[2]@Reference"}},
		{"where field equals", "Observation.component.code.where(text='d')", []string{"Observation.component[1].code@CodeableConcept"}},
		{"Resource base", "Resource.id", []string{"Observation.id@id"}},
	}
	m := reg().model
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := m.Compile(tc.expr, fhirpath.Options{Context: m.Type("Observation"), LenientAs: true})
			if err != nil {
				t.Fatal(err)
			}
			var d fhirpath.Doc
			if err := m.Parse(&d, []byte(body)); err != nil {
				t.Fatal(err)
			}
			ev := fhirpath.NewEvaluator()
			ev.TypeOnlyReferences = true
			ev.Reset(&d)
			vals, err := ev.Eval(e, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vals {
				got = append(got, d.Path(v.Node())+"@"+d.Type(v.Node()).Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
}

// TestSkipped pins the definitions that cannot be indexed, so that a change is deliberate.
func TestSkipped(t *testing.T) {
	var got []string
	for u := range Skipped() {
		got = append(got, u)
	}
	sort.Strings(got)
	want := []string{
		"http://hl7.org/fhir/SearchParameter/DocumentReference-relationship",                      // components swapped in R4
		"http://hl7.org/fhir/SearchParameter/MolecularSequence-chromosome-variant-coordinate",     // three components
		"http://hl7.org/fhir/SearchParameter/MolecularSequence-chromosome-window-coordinate",      // three components
		"http://hl7.org/fhir/SearchParameter/MolecularSequence-referenceseqid-variant-coordinate", // three components
		"http://hl7.org/fhir/SearchParameter/MolecularSequence-referenceseqid-window-coordinate",  // three components
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("skipped definitions (-want +got):\n%s", diff)
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	pat := `{"resourceType":"Patient","id":"p","name":[{"family":"Müller","given":["Renée","Jo"]}],"gender":"female","birthDate":"1970-05",
	 "telecom":[{"system":"email","value":"a@b.c"}],"identifier":[{"system":"urn:s","value":"42","type":{"text":"MRN"}}],
	 "generalPractitioner":[{"reference":"https://other.example/fhir/Practitioner/9"}],"managingOrganization":{"reference":"Organization/o1/_history/3"}}`
	got := map[string][]Entry{}
	for _, e := range Extract("Patient", []byte(pat)) {
		got[e.Param] = append(got[e.Param], e)
	}
	may := mustRange(t, "1970-05")
	checks := []struct {
		param string
		want  []Entry
	}{
		{"family", []Entry{{Param: "family", Kind: KindString, Value: "muller", Exact: "Müller"}}},
		{"given", []Entry{{Param: "given", Kind: KindString, Value: "renee", Exact: "Renée"}, {Param: "given", Kind: KindString, Value: "jo", Exact: "Jo"}}},
		{"gender", []Entry{{Param: "gender", Kind: KindToken, Code: "female"}}},
		{"birthdate", []Entry{{Param: "birthdate", Kind: KindDate, Low: may.Low, High: may.High}}},
		{"email", []Entry{{Param: "email", Kind: KindToken, Code: "a@b.c"}}},
		{"identifier", []Entry{{Param: "identifier", Kind: KindToken, System: "urn:s", Code: "42", Value: "mrn"}}},
		{"general-practitioner", []Entry{{Param: "general-practitioner", Kind: KindReference, RefID: "https://other.example/fhir/Practitioner/9"}}},
		{"organization", []Entry{{Param: "organization", Kind: KindReference, RefType: "Organization", RefID: "o1"}}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, got[c.param]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.param, diff)
		}
	}
	if Extract("Patient", []byte("not json")) != nil {
		t.Errorf("entries from a body that is not JSON")
	}
}

// TestExtractComposite checks that a composite pairs the values of one element: a blood pressure
// Observation's two components are not mixed up.
func TestExtractComposite(t *testing.T) {
	t.Parallel()
	obs := `{"resourceType":"Observation","id":"bp","status":"final",
	 "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
	 "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}],
	 "subject":{"reference":"Patient/p","identifier":{"system":"urn:mrn","value":"7"}}}`
	got := map[string][]float64{}
	var refIDs []Entry
	for _, e := range Extract("Observation", []byte(obs)) {
		if strings.HasPrefix(e.Param, "component-code-value-quantity$") || strings.HasPrefix(e.Param, "combo-code-value-quantity$") {
			got[e.Param] = append(got[e.Param], e.NumLow)
		}
		if e.Param == "subject:identifier" || e.Param == "patient:identifier" {
			refIDs = append(refIDs, e)
		}
	}
	want := map[string][]float64{
		"component-code-value-quantity$http://loinc.org|8480-6": {120}, "component-code-value-quantity$*|8480-6": {120},
		"component-code-value-quantity$http://loinc.org|8462-4": {80}, "component-code-value-quantity$*|8462-4": {80},
	}
	// combo-code-value-quantity is the union of code-value-quantity and
	// component-code-value-quantity: it has no entries of its own and searches both.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("composite entries (-want +got):\n%s", diff)
	}
	wantRef := []Entry{{Param: "patient:identifier", Kind: KindToken, System: "urn:mrn", Code: "7"}, {Param: "subject:identifier", Kind: KindToken, System: "urn:mrn", Code: "7"}}
	sort.Slice(refIDs, func(i, j int) bool { return refIDs[i].Param < refIDs[j].Param })
	if diff := cmp.Diff(wantRef, refIDs); diff != "" {
		t.Errorf(":identifier entries (-want +got):\n%s", diff)
	}
}

// TestExtractForms covers the definitions that need more of FHIRPath than paths, and the
// lifetime of the entries.
func TestExtractForms(t *testing.T) {
	t.Parallel()
	params := func(typ, body, param string) []Entry {
		var out []Entry
		for _, e := range Extract(typ, []byte(body)) {
			if e.Param == param {
				out = append(out, e)
			}
		}
		return out
	}
	tok := func(param, code string) []Entry { return []Entry{{Param: param, Kind: KindToken, Code: code}} }
	ref := func(param, typ, id string) []Entry {
		return []Entry{{Param: param, Kind: KindReference, RefType: typ, RefID: id}}
	}
	cases := []struct {
		name, typ, body, param string
		want                   []Entry
	}{
		// Patient.deceased.exists() and Patient.deceased != false
		{"deceased absent", "Patient", `{"resourceType":"Patient","id":"p"}`, "deceased", tok("deceased", "false")},
		{"deceased false", "Patient", `{"resourceType":"Patient","id":"p","deceasedBoolean":false}`, "deceased", tok("deceased", "false")},
		{"deceased date", "Patient", `{"resourceType":"Patient","id":"p","deceasedDateTime":"2020-01-01"}`, "deceased", tok("deceased", "true")},
		// name | alias: a path without the type name
		{"relative paths", "InsurancePlan", `{"resourceType":"InsurancePlan","id":"i","name":"Gold","alias":["Au"]}`, "name",
			[]Entry{{Param: "name", Kind: KindString, Value: "gold", Exact: "Gold"}, {Param: "name", Kind: KindString, Value: "au", Exact: "Au"}}},
		// Bundle.entry[0].resource, for the parameter's target type
		{"document", "Bundle", `{"resourceType":"Bundle","id":"b","type":"document","entry":[{"resource":{"resourceType":"Composition","id":"c1"}}]}`,
			"composition", ref("composition", "Composition", "c1")},
		{"message", "Bundle", `{"resourceType":"Bundle","id":"b","type":"message","entry":[{"resource":{"resourceType":"MessageHeader","id":"m1"}}]}`,
			"message", ref("message", "MessageHeader", "m1")},
		{"not a document", "Bundle", `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`,
			"composition", nil},
		// where(resolve() is Practitioner) on a conditional reference: its type is known
		{"conditional reference", "Encounter", `{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},
			"participant":[{"individual":{"reference":"Practitioner?identifier=urn:npi|1"}},{"individual":{"reference":"#p"}}]}`,
			"practitioner", []Entry{{Param: "practitioner", Kind: KindReference, RefID: "Practitioner?identifier=urn:npi|1"}}},
		{"resourceType is not the type", "Patient", `{"resourceType":"Person","id":"p","gender":"male"}`, "gender", nil},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, params(c.typ, c.body, c.param)); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", c.name, c.param, diff)
		}
	}

	// Entries own their strings: they survive the reuse of the body and of the parser.
	body := []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Fam\u00edlia"}],"identifier":[{"system":"urn:s","value":"42"}],"managingOrganization":{"reference":"Organization/o1"}}`)
	got := Extract("Patient", body)
	want := fmt.Sprintf("%+v", got)
	for i := range body {
		body[i] = 'x'
	}
	for range 4 {
		Extract("Patient", []byte(`{"resourceType":"Patient","id":"q","name":[{"family":"Oth\u00e9r"}],"identifier":[{"system":"urn:t","value":"43"}]}`))
	}
	if after := fmt.Sprintf("%+v", got); after != want || len(got) < 3 {
		t.Errorf("entries changed with the body:\n%s\n%s", want, after)
	}
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, ok := ParseDate(s)
	if !ok {
		t.Fatalf("ParseDate(%q) failed", s)
	}
	return r
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	ms := func(s string) int64 {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts.UnixMilli()
	}
	tests := []struct {
		in        string
		low, high string
	}{
		{"2020", "2020-01-01T00:00:00Z", "2020-12-31T23:59:59.999Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-02-29T23:59:59.999Z"},
		{"2020-02-03", "2020-02-03T00:00:00Z", "2020-02-03T23:59:59.999Z"},
		{"2020-02-03T10:20", "2020-02-03T10:20:00Z", "2020-02-03T10:20:59.999Z"},
		{"2020-02-03T10:20:30+02:00", "2020-02-03T08:20:30Z", "2020-02-03T08:20:30.999Z"},
		{"2020-02-03T10:20:30.5Z", "2020-02-03T10:20:30.5Z", "2020-02-03T10:20:30.5Z"},
	}
	for _, tc := range tests {
		r, ok := ParseDate(tc.in)
		if !ok || r.Low != ms(tc.low) || r.High != ms(tc.high) {
			t.Errorf("ParseDate(%q) = %v, %v; want [%s, %s]", tc.in, r, ok, tc.low, tc.high)
		}
	}
	for _, bad := range []string{"", "20", "2020-13", "2020-02-30x", "2020-02-03 10:00", "abcd"} {
		if _, ok := ParseDate(bad); ok {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	type P = store.SearchPredicate
	tests := []struct {
		name   string
		typ    string
		query  string
		strict bool
		want   [][]P
		err    bool
	}{
		{"token with system", "Observation", "code=http://loinc.org|1-8", false,
			[][]P{{{Param: "code", Kind: KindToken, System: "http://loinc.org", Code: "1-8"}}}, false},
		{"token any system, or", "Observation", "code=a,b", false,
			[][]P{{{Param: "code", Kind: KindToken, AnySystem: true, Code: "a"}, {Param: "code", Kind: KindToken, AnySystem: true, Code: "b"}}}, false},
		{"token no system and :not", "Observation", "status:not=|final", false,
			[][]P{{{Param: "status", Kind: KindToken, Not: true, Code: "final"}}}, false},
		{"escaped comma", "Patient", `name=a\,b`, false,
			[][]P{{{Param: "name", Kind: KindString, Op: store.OpPrefix, Value: "a,b"}}}, false},
		{"string :exact keeps case", "Patient", "name:exact=Mü", false,
			[][]P{{{Param: "name", Kind: KindString, Op: store.OpExact, Value: "Mü"}}}, false},
		{"date prefix", "Patient", "birthdate=ge2020", false,
			[][]P{{{Param: "birthdate", Kind: KindDate, Op: store.OpGe, Low: mustRange(t, "2020").Low, High: mustRange(t, "2020").High}}}, false},
		{"quantity with precision", "Observation", "value-quantity=lt5.4|http://unitsofmeasure.org|mg", false,
			[][]P{{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpLt, Num: 5.4, NumLow: 5.3500000000000005, NumHigh: 5.45, System: "http://unitsofmeasure.org", Code: "mg"}}}, false},
		{"reference with a single target gets its type", "Patient", "organization=o1", false,
			[][]P{{{Param: "organization", Kind: KindReference, RefType: "Organization", RefID: "o1"}}}, false},
		{"reference type modifier", "Observation", "subject:Patient=p1", false,
			[][]P{{{Param: "subject", Kind: KindReference, RefType: "Patient", RefID: "p1"}}}, false},
		{"chain", "Observation", "subject:Patient.name=smi", false,
			[][]P{{{Param: "subject", Kind: KindReference, Chain: &store.SearchChain{Type: "Patient", Where: []P{{Param: "name", Kind: KindString, Op: store.OpPrefix, Value: "smi"}}}}}}, false},
		{"missing", "Patient", "gender:missing=true", false,
			[][]P{{{Param: "gender", Kind: KindToken, Op: store.OpMissing, Missing: true}}}, false},
		{"_id", "Patient", "_id=x", false, [][]P{{{Param: "_id", Kind: KindToken, AnySystem: true, Code: "x"}}}, false},
		{"unknown lenient", "Patient", "foo=1", false, nil, false},
		{"unknown strict", "Patient", "foo=1", true, nil, true},
		{"unsupported modifier lenient", "Patient", "gender:in=http://vs", false, nil, false},
		{"unsupported modifier strict", "Patient", "gender:in=http://vs", true, nil, true},
		{"bad date", "Patient", "birthdate=2020-13", false, nil, true},
		{"bad value of a known parameter is always an error", "Patient", "birthdate=soon", false, nil, true},
		{"_has", "Patient", "_has:Observation:subject:code=a", false,
			[][]P{{{Param: "subject", Kind: KindReference, Has: &store.SearchHas{Type: "Observation", Param: "subject",
				Where: []P{{Param: "code", Kind: KindToken, AnySystem: true, Code: "a"}}}}}}, false},
		{"_has nested", "Organization", "_has:Patient:organization:_has:Observation:subject:code=a", false,
			[][]P{{{Param: "organization", Kind: KindReference, Has: &store.SearchHas{Type: "Patient", Param: "organization",
				Where: []P{{Param: "subject", Kind: KindReference, Has: &store.SearchHas{Type: "Observation", Param: "subject",
					Where: []P{{Param: "code", Kind: KindToken, AnySystem: true, Code: "a"}}}}}}}}}, false},
		{"_has on a parameter that cannot point at the type", "Organization", "_has:Observation:subject:code=a", false, nil, true},
		{"chain of three links", "Observation", "encounter:Encounter.subject:Patient.organization.name=acme", false,
			[][]P{{{Param: "encounter", Kind: KindReference, Chain: &store.SearchChain{Type: "Encounter", Where: []P{{Param: "subject", Kind: KindReference,
				Chain: &store.SearchChain{Type: "Patient", Where: []P{{Param: "organization", Kind: KindReference, Chain: &store.SearchChain{Type: "Organization",
					Where: []P{{Param: "name", Kind: KindString, Op: store.OpPrefix, Value: "acme"}}}}}}}}}}}}, false},
		{":identifier", "Observation", "subject:identifier=urn:mrn|7", false,
			[][]P{{{Param: "subject:identifier", Kind: KindToken, System: "urn:mrn", Code: "7"}}}, false},
		{"composite over the resource: the conjunction of its components' parameters", "Observation", "code-value-quantity=http://loinc.org|8480-6$gt140", false,
			[][]P{{{Param: "code", Kind: KindToken, System: "http://loinc.org", Code: "8480-6"}},
				{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpGt, Num: 140, NumLow: 139.5, NumHigh: 140.5, AnySystem: true}}}, false},
		{"conjunction composite, two values", "Observation", "code-value-quantity=a$gt1,b$lt2", false,
			[][]P{{{Param: "code", Kind: KindToken, AnySystem: true, Code: "a"}, {Param: "code", Kind: KindToken, AnySystem: true, Code: "b"}},
				{{Param: "code", Kind: KindToken, AnySystem: true, Code: "a"}, {Param: "value-quantity", Kind: KindQuantity, Op: store.OpLt, Num: 2, NumLow: 1.5, NumHigh: 2.5, AnySystem: true}},
				{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpGt, Num: 1, NumLow: 0.5, NumHigh: 1.5, AnySystem: true}, {Param: "code", Kind: KindToken, AnySystem: true, Code: "b"}},
				{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpGt, Num: 1, NumLow: 0.5, NumHigh: 1.5, AnySystem: true}, {Param: "value-quantity", Kind: KindQuantity, Op: store.OpLt, Num: 2, NumLow: 1.5, NumHigh: 2.5, AnySystem: true}}}, false},
		{"composite, any system", "Observation", "component-code-value-quantity=8480-6$lt60", false,
			[][]P{{{Param: "component-code-value-quantity$*|8480-6", Kind: KindQuantity, Op: store.OpLt, Num: 60, NumLow: 59.5, NumHigh: 60.5, AnySystem: true}}}, false},
		{"composite without $", "Observation", "code-value-quantity=8480-6", false, nil, true},
		{"composite that is the union of two", "Observation", "combo-code-value-quantity=8480-6$lt60", false,
			[][]P{{{Param: "code", Kind: KindToken, AnySystem: true, Code: "8480-6"},
				{Param: "component-code-value-quantity$*|8480-6", Kind: KindQuantity, Op: store.OpLt, Num: 60, NumLow: 59.5, NumHigh: 60.5, AnySystem: true}},
				{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpLt, Num: 60, NumLow: 59.5, NumHigh: 60.5, AnySystem: true},
					{Param: "component-code-value-quantity$*|8480-6", Kind: KindQuantity, Op: store.OpLt, Num: 60, NumLow: 59.5, NumHigh: 60.5, AnySystem: true}}}, false},
		{"ap on a number", "Observation", "value-quantity=ap100", false,
			[][]P{{{Param: "value-quantity", Kind: KindQuantity, Op: store.OpAp, Num: 100, NumLow: 90, NumHigh: 110, AnySystem: true}}}, false},
		{"string :text", "Patient", "name:text=Jo%20M", false,
			[][]P{{{Param: "name", Kind: KindString, Op: store.OpText, Value: "jo m"}}}, false},
		{"uri :above", "Patient", "_profile:above=http://x/p/1/v2", false,
			[][]P{{{Param: "_profile", Kind: KindURI, Op: store.OpAbove, Value: "http://x/p/1/v2"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse(tc.typ, v, tc.strict)
			if (err != nil) != tc.err {
				t.Fatalf("Parse(%s) error = %v, want error %v", tc.query, err, tc.err)
			}
			if tc.err {
				return
			}
			if diff := cmp.Diff(tc.want, q.Where); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.want == nil && (len(q.Unsupported) != 1 || len(q.Applied) != 0) {
				t.Errorf("left out: %+v, applied %v; want one unsupported parameter and none applied", q.Unsupported, q.Applied)
			}
		})
	}
}

func TestParseControls(t *testing.T) {
	t.Parallel()
	raw := "_count=500&_sort=-date,_id&_include=Encounter:patient&_revinclude=Observation:encounter&_summary=count&_page=abc"
	v, _ := url.ParseQuery(raw)
	q, err := Parse("Encounter", v, true)
	if err != nil {
		t.Fatal(err)
	}
	applied, _ := url.ParseQuery(strings.Replace(raw, "&_page=abc", "", 1))
	want := Query{SearchQuery: store.SearchQuery{Type: "Encounter", Count: MaxCount, CountOnly: true,
		Sort:       []store.SearchSort{{Param: "date", Kind: KindDate, Desc: true}, {Param: "_id"}},
		Include:    []store.SearchInclude{{Type: "Encounter", Param: "patient"}},
		RevInclude: []store.SearchInclude{{Type: "Observation", Param: "encounter"}}},
		Page: "abc", Applied: applied}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	v, _ = url.ParseQuery("_include=*&_include:iterate=Patient:organization&_revinclude:iterate=Observation:subject")
	q, err = Parse("Encounter", v, true)
	if err != nil {
		t.Fatal(err)
	}
	var refs int
	for _, p := range Params("Encounter") {
		if p.Kind == KindReference {
			refs++
		}
	}
	if len(q.Include) != refs+1 || !q.Include[len(q.Include)-1].Iterate || len(q.RevInclude) != 1 || !q.RevInclude[0].Iterate {
		t.Errorf("_include=* and :iterate: %d includes (want %d, the last iterating), revincludes %+v", len(q.Include), refs+1, q.RevInclude)
	}
	for _, bad := range []string{"_include=Patient:organization", "_revinclude=Observation:code", "_sort=subject", "_count=-1", "_summary=yes", "_total=maybe"} {
		v, _ := url.ParseQuery(bad)
		if _, err := Parse("Encounter", v, true); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Renée  Müller ": "renee muller", "ŁÓDŹ": "lodz", "Straße": "strasse", "": ""} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExtractTrimmed checks that parsing only the top-level members the expressions read gives
// the same index entries as parsing the whole resource, over the reference corpora.
func TestExtractTrimmed(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	n, trimmedTypes := 0, map[string]bool{}
	for _, dir := range []string{"synthea", "hl7-r4-examples", "bulk-export-10-patients"} {
		files, err := filepath.Glob(filepath.Join(shared, "data", dir, "*.ndjson"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no NDJSON in %s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for line := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
				typ := string(fastjson.MustParseBytes(line).GetStringBytes("resourceType"))
				want, got := extract(typ, line, false), extract(typ, line, true)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s in %s: trimmed extraction differs (-full +trimmed):\n%s", typ, f, diff)
				}
				if reg().keep[typ] != nil {
					trimmedTypes[typ] = true
				}
				n++
			}
		}
	}
	t.Logf("%d resources of %d trimmed types agree", n, len(trimmedTypes))
	if len(trimmedTypes) < 100 {
		t.Errorf("only %d types are trimmed", len(trimmedTypes))
	}
}

// TestExtractDoc checks that the entries of a resource extracted from the Doc the strict validator
// read it into are those Extract gives, over the reference corpora.
func TestExtractDoc(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	v := fhir.NewValidator()
	n := 0
	for _, dir := range []string{"synthea", "hl7-r4-examples", "bulk-export-10-patients"} {
		files, _ := filepath.Glob(filepath.Join(shared, "data", dir, "*.ndjson"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for line := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
				var got []Entry
				called := false
				res := v.ValidateThen(line, fhir.LevelStrict, func(d *fhirpath.Doc) { got, called = ExtractDoc(d), true })
				if called != res.Valid() {
					t.Fatalf("%s: use called %v for a resource valid %v", f, called, res.Valid())
				}
				if !called {
					continue
				}
				want := Extract(res.ResourceType, line)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s %s/%s: entries from the validator's Doc differ (-Extract +ExtractDoc):\n%s", f, res.ResourceType, res.ID, diff)
				}
				n++
			}
		}
	}
	if n < 10000 {
		t.Errorf("only %d resources compared", n)
	}
	t.Logf("%d resources agree", n)
}

// BenchmarkExtract extracts the index entries of every resource of synthea/ (8,315 resources),
// parsing the whole resource (full, what Extract does below trimFrom) or only the members the
// expressions read (trimmed, what Extract does from trimFrom on): the price of trimming small
// resources.
func BenchmarkExtract(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(testenv.SharedDir(b), "data", "synthea", "*.ndjson"))
	type res struct {
		typ  string
		body []byte
	}
	var all []res
	var size int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for line := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
			all = append(all, res{string(fastjson.MustParseBytes(line).GetStringBytes("resourceType")), line})
			size += int64(len(line))
		}
	}
	for _, trim := range []bool{false, true} {
		b.Run(map[bool]string{false: "full", true: "trimmed"}[trim], func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range all {
					extract(r.typ, r.body, trim)
				}
			}
			b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}

// TestCompartments pins that every member parameter of the R4 compartment definitions is an
// indexed reference parameter ("{def}", the compartment's own resource, aside).
func TestCompartments(t *testing.T) {
	for comp, members := range compartmentDefs {
		for typ, params := range members {
			got := map[string]bool{}
			for _, p := range Compartment(comp, typ) {
				got[p] = true
			}
			for _, code := range params {
				if code != "{def}" && !got[code] {
					t.Errorf("%s compartment: %s.%s is not an indexed reference parameter", comp, typ, code)
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"performer", "subject"}, Compartment("Patient", "Observation")); diff != "" {
		t.Errorf("Patient compartment of Observation (-want +got):\n%s", diff)
	}
	if CompartmentTypes("Observation") != nil || len(CompartmentTypes("Patient")) < 50 {
		t.Errorf("CompartmentTypes: Observation %v, Patient %d types", CompartmentTypes("Observation"), len(CompartmentTypes("Patient")))
	}
}
