package fhir

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// FuzzValidate checks, on any bytes, that no level panics, that the levels
// agree on well-formedness, that what the minimal scanner accepts
// encoding/json accepts too, and that SetMeta output is valid JSON whose
// resource keeps its verdict at minimal.
func FuzzValidate(f *testing.F) {
	seeds := []string{
		``, `{}`, `[]`, `null`, `{"resourceType":"Patient","id":"a"}`,
		`{"resourceType":"Patient","id":"a","meta":{"versionId":"1"},"name":[{"given":["x",null],"_given":[null,{"id":"q"}]}]}`,
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":1e2}}}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"t"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}]}`,
		`{"resourceType":"Patient","id":"\u0061","gender":"\ud83d\ude00"}`,
		"{\"resourceType\":\"Patient\",\"id\":\"a\",\"x\":\"\xff\"}",
		`{"resourceType":"Patient","id":"a",}`,
		`{"a":[[[[[[[[[[[[]]]]]]]]]]]]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if shared := testenv.Shared(); shared != "" {
		for _, c := range loadCasesFrom(f, shared) {
			f.Add(c.input())
		}
	}
	v := NewValidator()
	stamp := time.Date(2020, 11, 23, 6, 24, 13, 202_000_000, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		min := v.Validate(data, LevelMinimal)
		structure := v.Validate(data, LevelStructureOnly)
		strict := v.Validate(data, LevelStrict)
		if structure.Valid() && !min.Valid() || strict.Valid() && !structure.Valid() {
			t.Fatalf("levels disagree: minimal %+v, structure-only %+v, strict %+v", min.Issues, structure.Issues, strict.Issues)
		}
		wellFormed := !hasMalformed(min)
		if wellFormed && !json.Valid(data) {
			t.Fatalf("minimal scanner accepted JSON that encoding/json rejects: %q", data)
		}
		if wellFormed != !hasMalformed(strict) {
			t.Fatalf("well-formedness differs: minimal %+v, strict %+v", min.Issues, strict.Issues)
		}
		out, err := SetMeta(data, "v\"1", stamp)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("SetMeta output is not valid JSON: %q", out)
		}
		if !wellFormed {
			t.Fatalf("SetMeta accepted malformed input %q", data)
		}
		if again := v.Validate(out, LevelMinimal); again.ResourceType != min.ResourceType || again.ID != min.ID {
			t.Fatalf("SetMeta changed the envelope: %+v -> %+v", min, again)
		}
	})
}

func hasMalformed(r Result) bool {
	for _, is := range r.Issues {
		if is.Diagnostics == "the resource is not well-formed JSON" || is.Diagnostics == "the resource is not a JSON object" {
			return true
		}
	}
	return false
}
