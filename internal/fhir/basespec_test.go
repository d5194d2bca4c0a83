package fhir

import (
	"strings"
	"testing"
)

// TestBaseSpecRules covers the rules of the R4 base specification that are
// not constraints of the definitions: the size of strings, the XHTML of
// narratives, the core extensions' contexts and value types, the codes a
// grammar-checked value set admits beside its grammar, and the reference
// policy for urn:uuid and urn:oid. want is "" for valid, else a fragment of
// an error; warn is a fragment of a warning the resource must carry.
func TestBaseSpecRules(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	big := strings.Repeat("a", 1<<20+1)
	div := func(x string) string {
		return `{"resourceType":"Patient","id":"p","text":{"status":"generated","div":` + x + `}}`
	}
	cases := []struct {
		name, in, want, warn string
	}{
		// Strings SHALL NOT exceed 1MB.
		{"string over 1 MB", `{"resourceType":"Patient","id":"p","name":[{"text":"` + big + `"}]}`, "must not exceed 1 MB", ""},
		{"string of 1 MB", `{"resourceType":"Patient","id":"p","name":[{"text":"` + big[1:] + `"}]}`, "", ""},
		{"base64 over 1 MB is not a string", `{"resourceType":"Binary","id":"b","contentType":"text/plain","data":"` + strings.Repeat("QUJD", 1<<18+1) + `"}`, "", ""},

		// Narrative XHTML.
		{"narrative ok", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>A <b>b</b> <a href=\"http://x.org\">link</a> <img src=\"#i\" alt=\"i\"/></p><table><tr><td colspan=\"2\">c</td></tr></table></div>"`), "", ""},
		{"narrative not XML", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>a</div>"`), "not well-formed", ""},
		{"narrative HTML entity", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\">a &reg; b</div>"`), "&reg;", ""},
		{"narrative numeric entity", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\">a &#174; &amp; b</div>"`), "", ""},
		{"narrative no namespace", div(`"<div>a</div>"`), "xmlns", ""},
		{"narrative wrong root", div(`"<p xmlns=\"http://www.w3.org/1999/xhtml\">a</p>"`), "must be <div>", ""},
		{"narrative script", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x()</script></div>"`), "<script>", ""},
		{"narrative form", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><form>x</form></div>"`), "<form>", ""},
		{"narrative event handler", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"x()\">a</p></div>"`), "onclick", ""},
		{"narrative javascript link", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"javascript:x()\">a</a></div>"`), "javascript URL", ""},
		{"narrative external style", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p style=\"background:url(http://x.org/i.png)\">a</p></div>"`), "external resource", ""},
		{"narrative unknown attribute", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p data-x=\"1\">a</p></div>"`), "data-x", ""},
		{"narrative empty", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"> </div>"`), "txt-2", ""},
		{"narrative only an image", div(`"<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"#i\"/></div>"`), "", ""},
		{"narrative doctype", div(`"<!DOCTYPE html><div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"`), "DOCTYPE", ""},

		// Core extensions: context and value type.
		{"mothers-family on family", `{"resourceType":"Patient","id":"p","name":[{"family":"Lee","_family":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-mothers-family","valueString":"Lee"}]}}]}`, "", ""},
		{"mothers-family on given", `{"resourceType":"Patient","id":"p","name":[{"given":["A"],"_given":[{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-mothers-family","valueString":"Lee"}]}]}]}`, "is not allowed on Patient.name[0].given[0]", ""},
		{"mothers-family on Patient", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-mothers-family","valueString":"Lee"}]}`, "its context is HumanName.family", ""},
		{"narrativeLink url", `{"resourceType":"Patient","id":"p","gender":"male","_gender":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/narrativeLink","valueUrl":"#a"}]}}`, "", ""},
		{"narrativeLink uri", `{"resourceType":"Patient","id":"p","gender":"male","_gender":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/narrativeLink","valueUri":"#a"}]}}`, "must have a value of type url, not uri", ""},
		{"birthTime on birthDate", `{"resourceType":"Patient","id":"p","birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:00:00Z"}]}}`, "", ""},
		{"resource-level extension", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName","valueString":"Lee"}]}`, "", ""},
		{"element-wide extension", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`, "", ""},
		{"simple extension with nested ones", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName","extension":[{"url":"x","valueString":"a"}]}]}`, "is a simple extension", ""},
		{"complex extension with a value", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-nationality","valueString":"a"}]}`, "is a complex extension", ""},
		{"complex extension", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-nationality","extension":[{"url":"code","valueCodeableConcept":{"text":"NL"}}]}]}`, "", ""},
		{"complex extension nested type", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-nationality","extension":[{"url":"code","valueString":"NL"}]}]}`, "nested extension code", ""},
		{"unknown core extension is a warning", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/not-an-r4-extension","valueString":"a"}]}`, "", "not an R4 core extension"},
		{"other extensions are not checked", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://example.org/anything","valueString":"a"}]}`, "", ""},

		// Attachment.size is the size of the data.
		{"attachment size right", `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","size":5}}]}`, "", ""},
		{"attachment size wrong", `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","size":100}}]}`, "stated attachment size 100 does not match", ""},

		// A code with a required binding needs a code, even with extensions.
		{"code only as extensions", `{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"_category":[{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}]}`, "no code provided", ""},
		{"code from a cross-version extension", `{"resourceType":"ValueSet","id":"v","status":"draft","compose":{"include":[{"system":"http://x.org","filter":[{"property":"concept","_op":{"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op","valueCode":"child-of"}]},"value":"1"}]}]}}`, "", ""},

		// uri values: urn forms, absolute fullUrls and canonical URLs.
		{"uri urn:uuid bad", `{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520","value":"1"}]}`, "not a valid urn:uuid", ""},
		{"uri urn:oid with version", `{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:2.16.840.1.113883|1","value":"1"}]}`, "", ""},
		{"fullUrl relative", `{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, "must be an absolute URL", ""},
		{"canonical url relative", `{"resourceType":"ValueSet","id":"v","url":"ValueSet/v","status":"draft"}`, "must be an absolute URL", ""},
		{"canonical url absolute", `{"resourceType":"ValueSet","id":"v","url":"http://x.org/ValueSet/v","status":"draft"}`, "", ""},

		// Codes a grammar-checked value set admits beside its grammar.
		{"CapabilityStatement format json and xml", `{"resourceType":"CapabilityStatement","id":"c","status":"active","date":"2020","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["json","xml","ttl","application/fhir+json"],"rest":[{"mode":"server"}]}`, "", ""},
		{"CapabilityStatement format bad", `{"resourceType":"CapabilityStatement","id":"c","status":"active","date":"2020","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["jsn"],"rest":[{"mode":"server"}]}`, `code "jsn" is not in the required value set`, ""},
		{"Attachment contentType json is not a media type", `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"json"}}]}`, `code "json"`, ""},

		// Reference policy for urn:uuid and urn:oid.
		{"urn uuid canonical", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}}`, "", ""},
		{"urn uuid upper case", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}}`, "", "not in canonical form"},
		{"urn uuid no hyphens", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:c757873dec9a4326a141556f43239520"}}`, "", "not in canonical form"},
		{"urn uuid nothing", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:"}}`, "not a valid urn:uuid", ""},
		{"urn oid canonical", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:oid:2.16.840.1.113883"}}`, "", ""},
		{"urn oid leading zero", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:oid:2.16.0840"}}`, "", "not in canonical form"},
		{"urn oid with space", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"urn:oid:2.16 840"}}`, "not a valid urn:oid", ""},
		{"uuid element stays strict", `{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:ietf:rfc:3986","value":"x"}],"extension":[{"url":"http://example.org/u","valueUuid":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}]}`, "not a valid uuid", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := v.Validate([]byte(c.in), LevelStrict)
			if c.warn != "" {
				found := false
				for _, is := range res.Issues {
					found = found || is.Severity == SeverityWarning && strings.Contains(is.Diagnostics, c.warn)
				}
				if !found {
					t.Errorf("no warning containing %q; issues: %+v", c.warn, res.Issues)
				}
			}
			if c.want == "" {
				if !res.Valid() {
					t.Errorf("got issues %+v, want valid", shorten(res.Issues))
				}
				return
			}
			for _, is := range res.Issues {
				if is.Severity == SeverityError && strings.Contains(is.Diagnostics, c.want) {
					return
				}
			}
			t.Errorf("no error containing %q; issues: %+v", c.want, shorten(res.Issues))
		})
	}
}

// shorten keeps diagnostics readable in failure messages.
func shorten(issues []Issue) []Issue {
	out := append([]Issue(nil), issues...)
	for k := range out {
		if len(out[k].Diagnostics) > 200 {
			out[k].Diagnostics = out[k].Diagnostics[:200] + "..."
		}
	}
	return out
}

func TestSubstanceExposureRisk(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	ext := `"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/allergyintolerance-substanceExposureRisk","extension":[{"url":"substance","valueCodeableConcept":{"text":"peanut"}},{"url":"exposureRisk","valueCodeableConcept":{"coding":[{"system":"http://hl7.org/fhir/allerg-intol-substance-exp-risk","code":"known-reaction-risk"}]}}]}]`
	bad := `{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"code":{"text":"peanut"},` + ext + `}`
	good := `{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},` + ext + `}`
	res := v.Validate([]byte(bad), LevelStrict)
	found := false
	for _, is := range res.Issues {
		found = found || is.Key == "inv-1" && is.Expression == "AllergyIntolerance.extension[0]"
	}
	if !found {
		t.Errorf("bad: %+v", res.Issues)
	}
	if res := v.Validate([]byte(good), LevelStrict); !res.Valid() {
		t.Errorf("good: %+v", res.Issues)
	}
}
