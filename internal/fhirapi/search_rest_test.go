package fhirapi_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSearchIdentifierAndAbove covers what the Synthea sample has no data for: references by
// identifier (:identifier) and uri :above.
func TestSearchIdentifierAndAbove(t *testing.T) {
	e := newEnv(t)
	mk := func(body string) string {
		t.Helper()
		r := e.do("POST", "Observation", []byte(body))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return "Observation/" + r.json(t)["id"].(string)
	}
	obs := func(subject, profile string) string {
		return fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":%s,"meta":{"profile":[%q]}}`, subject, profile)
	}
	byIdentifier := mk(obs(`{"identifier":{"system":"urn:mrn","value":"42"},"display":"by MRN"}`, "http://example.org/fhir/StructureDefinition/obs"))
	otherMRN := mk(obs(`{"identifier":{"system":"urn:mrn","value":"43"}}`, "http://example.org/fhir/StructureDefinition/obs/v2"))
	otherSystem := mk(obs(`{"identifier":{"system":"urn:other","value":"42"}}`, "http://other.example/p"))
	literal := mk(obs(`{"reference":"Patient/42"}`, "http://example.org/fhir/StructureDefinition/obs"))
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"Observation?subject:identifier=" + url.QueryEscape("urn:mrn|42"), []string{byIdentifier}},
		{"Observation?subject:identifier=42", []string{byIdentifier, otherSystem}},
		{"Observation?subject:identifier=" + url.QueryEscape("urn:mrn|42,urn:mrn|43"), []string{byIdentifier, otherMRN}},
		// Each stored profile that is a prefix of the value is above it.
		{"Observation?_profile:above=" + url.QueryEscape("http://example.org/fhir/StructureDefinition/obs/v2/extra"), []string{byIdentifier, otherMRN, literal}},
		{"Observation?_profile:above=" + url.QueryEscape("http://example.org/fhir/StructureDefinition/ob"), nil},
		{"Observation?_profile:above=" + url.QueryEscape("http://other.example/p"), []string{otherSystem}},
	} {
		if diff := cmp.Diff(sorted(tc.want), sorted(e.searchAll(t, tc.query)), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.query, diff)
		}
	}
}
