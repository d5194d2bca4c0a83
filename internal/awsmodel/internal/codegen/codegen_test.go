package codegen

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRE2Pattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		runes          *[2]int64
		wantErr        bool
	}{
		{name: "compiles as is", in: `^[a-zA-Z0-9-]+$`, want: `^[a-zA-Z0-9-]+$`},
		{name: "bounded length string", in: `^[\P{M}\p{M}]{1,5000}$`, want: `^[\P{M}\p{M}]*$`, runes: &[2]int64{1, 5000}},
		{name: "next token", in: `^\p{ASCII}{0,8192}$`, want: `^\p{ASCII}*$`, runes: &[2]int64{0, 8192}},
		{name: "string", in: `^[\P{M}\p{M}]{0,10000}$`, want: `^[\P{M}\p{M}]*$`, runes: &[2]int64{0, 10000}},
		{name: "big repeat of a group", in: `^(ab){0,2000}$`, wantErr: true},
		{name: "big repeat mid pattern", in: `^x[a-z]{0,2000}$`, wantErr: true},
		{name: "lookahead", in: `^(?=a)a$`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, runes, err := RE2Pattern(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("RE2Pattern(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("RE2Pattern(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("RE2Pattern(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if diff := cmp.Diff(tc.runes, runes); diff != "" {
				t.Errorf("bounds mismatch (-want +got):\n%s", diff)
			}
			if _, err := regexp.Compile(got); err != nil {
				t.Errorf("rewritten pattern does not compile: %v", err)
			}
		})
	}
}

// testModel exercises what the HealthLake model does not: enum traits,
// member-level constraints, prelude targets, an operation without input,
// resource-bound operations and recursive shapes.
const testModel = `{
  "smithy": "2.0",
  "shapes": {
    "ex#Svc": {"type": "service", "version": "1", "operations": [{"target": "ex#Ping"}], "resources": [{"target": "ex#Thing"}]},
    "ex#Thing": {"type": "resource", "read": {"target": "ex#GetThing"}},
    "ex#Ping": {"type": "operation"},
    "ex#GetThing": {"type": "operation", "input": {"target": "ex#GetThingInput"}},
    "ex#GetThingInput": {"type": "structure", "members": {
      "Zeta": {"target": "ex#Color", "traits": {"smithy.api#required": {}}},
      "Alpha": {"target": "smithy.api#String", "traits": {"smithy.api#length": {"min": 2}}},
      "Size": {"target": "ex#Size"},
      "Node": {"target": "ex#Node"},
      "Any": {"target": "smithy.api#Document"}
    }},
    "ex#Color": {"type": "string", "traits": {"smithy.api#enum": [{"value": "red", "name": "RED"}, {"value": "blue"}]}},
    "ex#Size": {"type": "enum", "members": {"S": {"target": "smithy.api#Unit"}, "L": {"target": "smithy.api#Unit", "traits": {"smithy.api#enumValue": "large"}}}},
    "ex#Node": {"type": "structure", "members": {"Next": {"target": "ex#Node"}, "N": {"target": "ex#Count"}}},
    "ex#Count": {"type": "long", "traits": {"smithy.api#range": {"max": 10}}}
  }
}`

func TestGenerate(t *testing.T) {
	t.Parallel()
	src, err := Generate([]byte(testModel), "test.json")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	// Collapse gofmt's alignment so that the checks read naturally.
	got := strings.Join(strings.Fields(string(src)), " ")
	for _, want := range []string{
		"// Source: test.json (service version 1).",
		`"GetThing": "GetThingInput",`,
		`"Ping": "smithy.api#Unit",`,
		`{name: "Zeta", path: "zeta", target: "Color", required: true},`,
		`{name: "Alpha", path: "alpha", target: "GetThingInput$Alpha"},`,
		`enum: []string{"red", "blue"},`,
		`enum: []string{"S", "large"},`,
		"length: &span{min: 2, max: -1},",
		`{name: "Next", path: "next", target: "Node"},`,
		`maxValue: "10",`,
		"bits: 64,",
		`"smithy.api#Document": {`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("generated source lacks %q", want)
		}
	}
	if strings.Index(got, `name: "Zeta"`) > strings.Index(got, `name: "Alpha"`) {
		t.Error("members are not in model order")
	}
}

func TestGenerateRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"no service":  `{"smithy":"2.0","shapes":{}}`,
		"map input":   `{"smithy":"2.0","shapes":{"ex#S":{"type":"service","operations":[{"target":"ex#Op"}]},"ex#Op":{"type":"operation","input":{"target":"ex#M"}},"ex#M":{"type":"map","key":{"target":"smithy.api#String"},"value":{"target":"smithy.api#String"}}}}`,
		"bad pattern": `{"smithy":"2.0","shapes":{"ex#S":{"type":"service","operations":[{"target":"ex#Op"}]},"ex#Op":{"type":"operation","input":{"target":"ex#I"}},"ex#I":{"type":"structure","members":{"A":{"target":"ex#P"}}},"ex#P":{"type":"string","traits":{"smithy.api#pattern":"^(?!x)$"}}}}`,
		"undefined":   `{"smithy":"2.0","shapes":{"ex#S":{"type":"service","operations":[{"target":"ex#Op"}]},"ex#Op":{"type":"operation","input":{"target":"ex#Missing"}}}}`,
	}
	for name, model := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := Generate([]byte(model), "m.json"); err == nil {
				t.Error("Generate succeeded, want an error")
			}
		})
	}
}
