package preload_test

import (
	"regexp"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/preload"
)

// TestSampleIsValid checks the embedded sample: 820 resources of three patients, every one valid
// at strict, and every Patient/Organization/Practitioner reference resolvable inside the sample.
func TestSampleIsValid(t *testing.T) {
	t.Parallel()
	docs, err := preload.Synthea()
	if err != nil {
		t.Fatal(err)
	}
	v := fhir.NewValidator()
	ids := map[string]bool{}
	patients := 0
	for _, d := range docs {
		r := v.Validate(d, fhir.LevelStrict)
		if !r.Valid() {
			t.Fatalf("%s/%s invalid: %v", r.ResourceType, r.ID, r.Issues)
		}
		ids[r.ResourceType+"/"+r.ID] = true
		if r.ResourceType == "Patient" {
			patients++
		}
	}
	if len(docs) != 820 || patients != 3 {
		t.Errorf("sample has %d resources and %d patients", len(docs), patients)
	}
	for _, d := range docs {
		for _, m := range refs.FindAllSubmatch(d, -1) {
			if !ids[string(m[1])] {
				t.Errorf("unresolved reference %s", m[1])
			}
		}
	}
}

var refs = regexp.MustCompile(`"reference":"((?:Patient|Organization|Practitioner)/[^"]+)"`)
