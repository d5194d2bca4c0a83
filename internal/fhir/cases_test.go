package fhir

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// Decisions for the cases marked impl-defined in cases.ndjson (the proposal's
// column is "impl-defined"; this is what fhirlake does, and why):
//
//   - empty-object at structure-only: reject. An empty object can never be
//     valid FHIR (ele-1) and the level's contract excludes empty objects.
//   - duplicate-key at structure-only: reject. FHIR JSON forbids repeated
//     keys and the structural pass is where keys are seen.
//   - missing-status, missing-code, missing-nested-required at
//     structure-only: accept. Minimum cardinality is a strict-level check,
//     for primitives and complex elements alike, so the level has one rule.
//   - bad-code-required-binding, bad-status-code at structure-only: accept.
//     Terminology (required bindings) is a strict-level check.
var implDefined = map[string]string{
	"empty-object":              "reject",
	"duplicate-key":             "reject",
	"missing-status":            "accept",
	"missing-code":              "accept",
	"missing-nested-required":   "accept",
	"bad-code-required-binding": "accept",
	"bad-status-code":           "accept",
}

type testCase struct {
	Case     string            `json:"case"`
	Category string            `json:"category"`
	Expect   map[string]string `json:"expect"`
	Note     string            `json:"note"`
	Resource json.RawMessage   `json:"resource"`
	Raw      *string           `json:"raw"`
}

func loadCases(t testing.TB) []testCase {
	return loadCasesFrom(t, testenv.SharedDir(t))
}

func loadCasesFrom(t testing.TB, shared string) []testCase {
	path := filepath.Join(shared, "data", "invalid", "cases.ndjson")
	var cases []testCase
	forEachLine(t, path, func(line []byte, n int) {
		var c testCase
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		cases = append(cases, c)
	})
	return cases
}

func (c testCase) input() []byte {
	if c.Raw != nil {
		return []byte(*c.Raw)
	}
	return c.Resource
}

func TestCases(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	cases := loadCases(t)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		for _, level := range []Level{LevelMinimal, LevelStructureOnly, LevelStrict} {
			t.Run(c.Case+"/"+string(level), func(t *testing.T) {
				t.Parallel()
				want := c.Expect[string(level)]
				if want == "impl-defined" {
					var ok bool
					if want, ok = implDefined[c.Case]; !ok {
						t.Fatalf("impl-defined case %s has no decision", c.Case)
					}
				}
				res := v.Validate(c.input(), level)
				got := "reject"
				if res.Valid() {
					got = "accept"
				}
				if got != want {
					t.Errorf("%s at %s: got %s, want %s (%s); issues: %+v", c.Case, level, got, want, c.Note, res.Issues)
				}
			})
		}
	}
}
