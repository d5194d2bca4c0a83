package fhir

import (
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"minimal", LevelMinimal, true},
		{"structure-only", LevelStructureOnly, true},
		{"strict", LevelStrict, true},
		{"STRICT", "", false},
		{"", "", false},
	} {
		got, ok := ParseLevel(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestResourceTypes(t *testing.T) {
	t.Parallel()
	types := ResourceTypes()
	if len(types) != 146 {
		t.Fatalf("got %d resource types, want 146", len(types))
	}
	for k := 1; k < len(types); k++ {
		if types[k-1] >= types[k] {
			t.Fatalf("not sorted at %d: %s >= %s", k, types[k-1], types[k])
		}
	}
	for _, name := range []string{"Patient", "Bundle", "Binary", "Parameters", "VerificationResult"} {
		if !IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = false", name)
		}
	}
	for _, name := range []string{"Resource", "DomainResource", "MetadataResource", "patient", "SubscriptionStatus", "Quantity", ""} {
		if IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = true", name)
		}
	}
	types[0] = "changed"
	if ResourceTypes()[0] == "changed" {
		t.Error("ResourceTypes shares its slice with the tables")
	}
}

const (
	obsHead = `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}`
	patHead = `{"resourceType":"Patient","id":"p1"`
)

// TestValidate covers the rules one at a time. want is "" for valid, else a
// fragment of an error diagnostic; expr, when set, is the expected expression
// of that issue.
func TestValidate(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	cases := []struct {
		name  string
		level Level
		in    string
		want  string
		expr  string
	}{
		// Envelope.
		{"resourceType not first", LevelStrict, `{"id":"p1","resourceType":"Patient"}`, "", ""},
		{"escaped id", LevelStrict, `{"resourceType":"Patient","id":"p\u002d1"}`, "", ""},
		{"missing id minimal", LevelMinimal, `{"resourceType":"Patient"}`, "id is missing", "Patient.id"},
		{"missing id strict", LevelStrict, `{"resourceType":"Patient"}`, "id is missing", "Patient.id"},
		{"id number", LevelMinimal, `{"resourceType":"Patient","id":1}`, "id must be a JSON string", ""},
		{"empty input", LevelMinimal, ``, "not a JSON object", ""},
		{"invalid utf-8", LevelStructureOnly, patHead + ",\"gender\":\"m\xffle\"}", "not well-formed", ""},
		{"invalid utf-8 minimal", LevelMinimal, patHead + ",\"gender\":\"m\xffle\"}", "not well-formed", ""},
		{"bad escape", LevelStrict, patHead + `,"gender":"\x"}`, "not well-formed", ""},
		{"deep nesting", LevelStrict, patHead + `,"extension":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}", "not well-formed", ""},
		{"duplicate resourceType", LevelStructureOnly, `{"resourceType":"Patient","id":"p1","resourceType":"Patient"}`, `duplicate JSON key "resourceType"`, ""},

		// Structure.
		{"empty array", LevelStructureOnly, patHead + `,"name":[]}`, "arrays must not be empty", "Patient.name"},
		{"null in object array", LevelStructureOnly, patHead + `,"name":[null]}`, "null is not allowed", "Patient.name[0]"},
		{"primitive array nulls aligned", LevelStrict, patHead + `,"name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://x","valueString":"b"}]}]}],"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, "", ""},
		{"primitive array null without _", LevelStructureOnly, patHead + `,"name":[{"given":["a",null]}]}`, "null items in given", "Patient.name[0].given"},
		{"_ array length", LevelStructureOnly, patHead + `,"name":[{"given":["a","b"],"_given":[null]}]}`, "as many items", "Patient.name[0]._given"},
		{"choice with _ form", LevelStrict, obsHead + `,"valueString":"a","_valueString":{"extension":[{"url":"http://x","valueCode":"y"}]}}`, "", ""},
		{"_ must be object", LevelStructureOnly, patHead + `,"birthDate":"1970","_birthDate":"x"}`, "must be a JSON object", "Patient.birthDate"},
		{"integer out of range", LevelStructureOnly, patHead + `,"multipleBirthInteger":3000000000}`, "not a valid integer", "Patient.multipleBirthInteger"},
		{"integer with fraction", LevelStructureOnly, patHead + `,"multipleBirthInteger":1.5}`, "not a valid integer", ""},
		{"decimal exponent", LevelStrict, obsHead + `,"valueQuantity":{"value":1.5e3}}`, "", ""},
		{"instant without zone", LevelStructureOnly, patHead + `,"meta":{"lastUpdated":"2020-01-01T00:00:00"}}`, "not a valid instant", "Patient.meta.lastUpdated"},
		{"uri with space", LevelStructureOnly, patHead + `,"implicitRules":"http://a b"}`, "not a valid uri", ""},
		{"code with double space", LevelStructureOnly, patHead + `,"gender":"fe  male"}`, "not a valid code", ""},
		{"object where primitive", LevelStructureOnly, patHead + `,"gender":{"value":"male"}}`, "must be a JSON string", ""},
		{"primitive where object", LevelStructureOnly, patHead + `,"maritalStatus":"M"}`, "must be a JSON object", ""},
		{"unknown in nested backbone", LevelStructureOnly, patHead + `,"contact":[{"foo":1}]}`, `unknown element "foo"`, "Patient.contact[0].foo"},
		{"element with only id", LevelStrict, patHead + `,"maritalStatus":{"id":"x"}}`, "ele-1", "Patient.maritalStatus"},

		// Nested resources.
		{"bundle entry", LevelStrict, `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","active":true}}]}`, "", ""},
		{"bundle entry unknown element", LevelStructureOnly, `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","foo":true}}]}`, `unknown element "foo"`, "Bundle.entry[0].resource.foo"},
		{"bundle entry bad type", LevelMinimal, `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]}`, "", ""},
		{"bundle entry bad type strict", LevelStrict, `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]}`, `"Nope" is not a concrete`, "Bundle.entry[0].resource.resourceType"},
		{"bundle in bundle", LevelStrict, `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","gender":"x"}}]}}]}`, `code "x"`, "Bundle.entry[0].resource.entry[0].resource.gender"},
		{"contentReference", LevelStrict, `{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"group","item":[{"type":"string"}]}]}`, "Questionnaire.item.linkId", "Questionnaire.item[0].item[0].linkId"},

		// Strict: cardinality, bindings.
		{"required in structure-only", LevelStructureOnly, `{"resourceType":"Observation","id":"o1"}`, "", ""},
		{"required choice", LevelStrict, `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"component":[{"code":{"text":"y"}}]}`, "", ""},
		{"coding binding", LevelStrict, `{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"activ"}]}}`, `code "activ"`, "Condition.clinicalStatus.coding[0].code"},
		{"coding other system", LevelStrict, `{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://snomed.info/sct","code":"55561003"}]}}`, "", ""},
		{"mime parameters", LevelStrict, `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"text/plain; charset=utf-8"}}]}`, "", ""},
		{"mime bad", LevelStrict, `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"textplain"}}]}`, `code "textplain"`, "DocumentReference.content[0].attachment.contentType"},
		{"ext-1 both", LevelStrict, patHead + `,"extension":[{"url":"http://x","valueString":"a","extension":[{"url":"y","valueString":"b"}]}]}`, "ext-1", "Patient.extension[0]"},
		{"ext-1 neither", LevelStrict, patHead + `,"extension":[{"url":"http://x"}]}`, "ext-1", "Patient.extension[0]"},
		{"extension url required", LevelStrict, patHead + `,"extension":[{"valueString":"a"}]}`, "Extension.url", "Patient.extension[0].url"},

		// Strict: references.
		{"conditional reference", LevelStrict, `{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"participant":[{"individual":{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"}}]}`, "", ""},
		{"conditional wrong type", LevelStrict, obsHead + `,"subject":{"reference":"Practitioner?identifier=x|1"}}`, "points at a Practitioner", "Observation.subject.reference"},
		{"conditional no query", LevelStrict, obsHead + `,"subject":{"reference":"Patient?"}}`, "no search criteria", ""},
		{"conditional unknown type", LevelStrict, obsHead + `,"subject":{"reference":"Foo?x=1"}}`, "must start with a resource type", ""},
		{"history reference", LevelStrict, obsHead + `,"subject":{"reference":"Patient/p1/_history/2"}}`, "", ""},
		{"bad history reference", LevelStrict, obsHead + `,"subject":{"reference":"Patient/p1/x/2"}}`, "Type/id/_history/vid", ""},
		{"absolute wrong type", LevelStrict, obsHead + `,"subject":{"reference":"http://x.org/fhir/Practitioner/1"}}`, "points at a Practitioner", ""},
		{"absolute other", LevelStrict, obsHead + `,"subject":{"reference":"http://x.org/some/thing"}}`, "", ""},
		{"urn uuid not canonical is a warning", LevelStrict, obsHead + `,"subject":{"reference":"urn:uuid:XYZ"}}`, "", ""},
		{"urn uuid upper case is a warning", LevelStrict, obsHead + `,"subject":{"reference":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}}`, "", ""},
		{"urn uuid empty", LevelStrict, obsHead + `,"subject":{"reference":"urn:uuid:"}}`, "not a valid urn:uuid", "Observation.subject.reference"},
		{"urn uuid with space", LevelStrict, obsHead + `,"subject":{"reference":"urn:uuid:not a uuid"}}`, "not a valid urn:uuid", ""},
		{"urn oid not canonical is a warning", LevelStrict, obsHead + `,"subject":{"reference":"urn:oid:1.2.03"}}`, "", ""},
		{"urn oid with bracket", LevelStrict, obsHead + `,"subject":{"reference":"urn:oid:1.2<3"}}`, "not a valid urn:oid", ""},
		{"other urn", LevelStrict, obsHead + `,"subject":{"reference":"urn:isbn:123"}}`, "not a supported URN", ""},
		{"reference any target", LevelStrict, obsHead + `,"focus":[{"reference":"Medication/m"}]}`, "", ""},

		// Strict: dom-* rules.
		{"dom-3 unreferenced", LevelStrict, obsHead + `,"contained":[{"resourceType":"Patient","id":"p"}]}`, "dom-3", "Observation"},
		{"contained without id", LevelStrict, obsHead + `,"contained":[{"resourceType":"Patient"}]}`, "a contained resource must have an id", "Observation.contained[0]"},
		{"dom-3 refers to container", LevelStrict, obsHead + `,"contained":[{"resourceType":"Provenance","id":"pv","target":[{"reference":"#"}],"recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}]}`, "", ""},
		{"dom-3 referenced from contained", LevelStrict, obsHead + `,"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","generalPractitioner":[{"reference":"#o"}]},{"resourceType":"Organization","id":"o","name":"x"}]}`, "", ""},
		{"dom-3 canonical", LevelStrict, `{"resourceType":"Questionnaire","id":"q","status":"draft","contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],"item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}]}`, "", ""},
		{"unresolved local reference", LevelStrict, obsHead + `,"subject":{"reference":"#nope"}}`, `ref-1`, "Observation.subject"},
		{"dom-2", LevelStrict, obsHead + `,"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","contained":[{"resourceType":"Patient","id":"q"}]}]}`, "dom-2", "Observation"},
		{"dom-4", LevelStrict, obsHead + `,"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"versionId":"1"}}]}`, "dom-4", "Observation"},
		{"dom-5", LevelStrict, obsHead + `,"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"security":[{"code":"R"}]}}]}`, "dom-5", "Observation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := v.Validate([]byte(c.in), c.level)
			if c.want == "" {
				if !res.Valid() {
					t.Fatalf("got issues %+v, want valid", res.Issues)
				}
				return
			}
			for _, is := range res.Issues {
				if is.Severity == SeverityError && strings.Contains(is.Diagnostics, c.want) {
					if c.expr != "" && is.Expression != c.expr {
						t.Errorf("expression = %q, want %q (%s)", is.Expression, c.expr, is.Diagnostics)
					}
					return
				}
			}
			t.Errorf("no error containing %q; issues: %+v", c.want, res.Issues)
		})
	}
}

func TestValidateResultFields(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	for _, level := range []Level{LevelMinimal, LevelStructureOnly, LevelStrict} {
		res := v.Validate([]byte(`{"resourceType":"Patient","id":"bad id"}`), level)
		if res.ResourceType != "Patient" || res.ID != "bad id" || res.Valid() {
			t.Errorf("%s: got %q %q valid=%v, want Patient, \"bad id\", invalid", level, res.ResourceType, res.ID, res.Valid())
		}
		res = v.Validate([]byte(`{"resourceType":"Nope","id":"x"}`), level)
		if res.ResourceType != "Nope" || res.Valid() {
			t.Errorf("%s: got %q valid=%v, want Nope, invalid", level, res.ResourceType, res.Valid())
		}
	}
	var zero Validator
	if zero.Validate([]byte(`{}`), LevelStrict).Valid() {
		t.Error("zero Validator accepted a resource")
	}
}

func TestValidateIssueCap(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	sb.WriteString(patHead)
	for k := 0; k < 300; k++ {
		sb.WriteString(`,"x` + itoa(k) + `":1`)
	}
	sb.WriteString("}")
	res := NewValidator().Validate([]byte(sb.String()), LevelStrict)
	if len(res.Issues) != MaxIssues+1 {
		t.Fatalf("got %d issues, want %d", len(res.Issues), MaxIssues+1)
	}
	if last := res.Issues[MaxIssues]; last.Code != "too-costly" {
		t.Errorf("last issue = %+v, want too-costly", last)
	}
}

func TestDom6Warning(t *testing.T) {
	t.Parallel()
	res := NewValidator().Validate([]byte(patHead+"}"), LevelStrict)
	if !res.Valid() || len(res.Issues) != 1 || res.Issues[0].Severity != SeverityWarning || !strings.HasPrefix(res.Issues[0].Diagnostics, "dom-6") {
		t.Errorf("got %+v, want one dom-6 warning", res.Issues)
	}
}

func TestCheckOptions(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	in := []byte(`{"resourceType":"Patient","id":"p","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},"gender":"x"}`)
	res := v.Check(in, Options{})
	info, gender := false, false
	for _, is := range res.Issues {
		info = info || is.Severity == SeverityInformation && strings.Contains(is.Diagnostics, "us-core-patient was not checked") && is.Expression == "Patient.meta.profile[0]"
		gender = gender || is.Severity == SeverityError && is.Expression == "Patient.gender"
	}
	if !info || !gender || res.Valid() {
		t.Errorf("Check: %+v", res.Issues)
	}
	for _, is := range v.Check(in, Options{BaseOnly: true}).Issues {
		if is.Severity == SeverityInformation {
			t.Errorf("BaseOnly reported %+v", is)
		}
	}
	if !v.Check(in, Options{Level: LevelMinimal, BaseOnly: true}).Valid() {
		t.Error("minimal rejected a bad code")
	}
	noID := []byte(`{"resourceType":"Patient","gender":"male"}`)
	if v.Check(noID, Options{BaseOnly: true}).Valid() {
		t.Error("a resource without an id passed")
	}
	if r := v.Check(noID, Options{BaseOnly: true, IDOptional: true}); !r.Valid() {
		t.Errorf("IDOptional: %+v", r.Issues)
	}
	out := string(res.OperationOutcome())
	if !strings.Contains(out, `"severity":"information"`) || !strings.Contains(out, `"expression":["Patient.gender"]`) {
		t.Errorf("OperationOutcome: %s", out)
	}
}
