package fhir

import (
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// TestValidateThen checks when ValidateThen hands over its Doc: at the strict
// level for a valid resource (warnings allowed), as Model.Parse reads it, and
// never for a resource with errors or at the other levels.
func TestValidateThen(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	good := []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"F","given":["A","B"]}],"birthDate":"1970","_birthDate":{"id":"b"}}`)
	bad := []byte(`{"resourceType":"Patient","id":"p","name":[{"family":""}]}`)
	for _, c := range []struct {
		name  string
		body  []byte
		level Level
		want  bool
	}{
		{"strict, valid (dom-6 warns)", good, LevelStrict, true},
		{"strict, an error", bad, LevelStrict, false},
		{"structure-only", good, LevelStructureOnly, false},
		{"minimal", good, LevelMinimal, false},
		{"not JSON", []byte(`{"resourceType":`), LevelStrict, false},
	} {
		called := false
		res := v.ValidateThen(c.body, c.level, func(d *fhirpath.Doc) {
			called = true
			var want fhirpath.Doc
			if err := FHIRPathModel().Parse(&want, c.body); err != nil {
				t.Fatal(err)
			}
			if d.Len() != want.Len() || d.Path(fhirpath.NodeID(d.Len()-1)) != want.Path(fhirpath.NodeID(want.Len()-1)) || d.Model() != want.Model() {
				t.Errorf("%s: the Doc differs from Model.Parse's (%d and %d nodes)", c.name, d.Len(), want.Len())
			}
		})
		if called != c.want {
			t.Errorf("%s: use called %v, want %v (issues %v)", c.name, called, c.want, res.Issues)
		}
		if plain := v.Validate(c.body, c.level); len(plain.Issues) != len(res.Issues) || plain.ResourceType != res.ResourceType || plain.ID != res.ID {
			t.Errorf("%s: ValidateThen %+v, Validate %+v", c.name, res, plain)
		}
	}
}
