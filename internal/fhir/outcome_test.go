package fhir

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMarshalOperationOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		issues []Issue
		want   string
	}{
		{"none", nil,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"no issues"}]}`},
		{"one", []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: `unknown element "foo" in Patient`, Expression: "Patient"}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure","diagnostics":"unknown element \"foo\" in Patient","expression":["Patient"]}]}`},
		{"no expression, no diagnostics", []Issue{{Severity: SeverityWarning, Code: "invariant", Diagnostics: "", Expression: ""}, {Severity: SeverityError, Code: "required", Diagnostics: "x", Expression: "Patient.id"}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"invariant"},{"severity":"error","code":"required","diagnostics":"x","expression":["Patient.id"]}]}`},
		{"escapes", []Issue{{Severity: SeverityError, Code: "value", Diagnostics: "a\\b\n\t\x01 é \xff", Expression: "P.x"}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","diagnostics":"a\\b\n\t\u0001 é \ufffd","expression":["P.x"]}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := MarshalOperationOutcome(c.issues)
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}
