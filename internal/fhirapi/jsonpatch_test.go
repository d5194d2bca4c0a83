package fhirapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestApplyPatch checks RFC 6902 results and errors, and that the tracked size is exact.
func TestApplyPatch(t *testing.T) {
	t.Parallel()
	const doc = `{"resourceType":"Patient","id":"p","name":[{"given":["A","B"]}],"a\u003cb":1,"gender":"male"}`
	cases := []struct {
		name, patch, want string
		status            int // of the error, 0 when the patch applies
	}{
		{"add member", `[{"op":"add","path":"/active","value":true}]`,
			`{"resourceType":"Patient","id":"p","name":[{"given":["A","B"]}],"a\u003cb":1,"gender":"male","active":true}`, 0},
		{"add array item and end", `[{"op":"add","path":"/name/0/given/1","value":"X"},{"op":"add","path":"/name/0/given/-","value":"Z"}]`,
			`{"resourceType":"Patient","id":"p","name":[{"given":["A","X","B","Z"]}],"a\u003cb":1,"gender":"male"}`, 0},
		{"remove, replace, escaped key", `[{"op":"remove","path":"/name/0/given/0"},{"op":"replace","path":"/a<b","value":{"x":[1,2]}}]`,
			`{"resourceType":"Patient","id":"p","name":[{"given":["B"]}],"a\u003cb":{"x":[1,2]},"gender":"male"}`, 0},
		{"move and copy", `[{"op":"move","from":"/gender","path":"/sex"},{"op":"copy","from":"/name/0","path":"/name/-"}]`,
			`{"resourceType":"Patient","id":"p","name":[{"given":["A","B"]},{"given":["A","B"]}],"a\u003cb":1,"sex":"male"}`, 0},
		{"copies are independent", `[{"op":"copy","from":"/name/0","path":"/name/-"},{"op":"add","path":"/name/1/given/-","value":"C"}]`,
			`{"resourceType":"Patient","id":"p","name":[{"given":["A","B"]},{"given":["A","B","C"]}],"a\u003cb":1,"gender":"male"}`, 0},
		{"test passes by value", `[{"op":"test","path":"/name/0","value":{ "given" : ["A","B"] }},{"op":"test","path":"/a<b","value":1.0}]`, doc, 0},
		{"replace the whole", `[{"op":"replace","path":"","value":{"resourceType":"Patient"}}]`, `{"resourceType":"Patient"}`, 0},
		{"test fails", `[{"op":"test","path":"/gender","value":"female"}]`, "", 422},
		{"missing member", `[{"op":"remove","path":"/birthDate"}]`, "", 422},
		{"index out of range", `[{"op":"add","path":"/name/3","value":{}}]`, "", 422},
		{"not an index", `[{"op":"add","path":"/name/+0","value":{}}]`, "", 400},
		{"move into itself", `[{"op":"move","from":"/name","path":"/name/0/x"}]`, "", 400},
		{"unknown op", `[{"op":"merge","path":"/a"}]`, "", 400},
		{"no value", `[{"op":"add","path":"/a"}]`, "", 400},
		{"not a patch", `{"op":"add"}`, "", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, release, err := applyPatch([]byte(doc), []byte(tc.patch), 1<<20, nil)
			if tc.status != 0 {
				var api *apiError
				if !errors.As(err, &api) || api.statusCode() != tc.status {
					t.Fatalf("error = %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			release()
			if cap(out) != len(out) {
				t.Errorf("tracked size %d, marshal wrote %d", cap(out), len(out))
			}
			if !jsonEqual(t, out, tc.want) {
				t.Errorf("patched = %s, want %s", out, tc.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("result is not JSON: %v: %s", err, a)
	}
	json.Unmarshal([]byte(b), &y)
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}

// TestPatchBounds checks that the result bound is enforced before a copy is built, that
// growth is reserved and given back, and that the work bound stops repeated comparisons.
func TestPatchBounds(t *testing.T) {
	t.Parallel()
	doc := `{"resourceType":"Patient","extension":[{"url":"u","extension":[{"url":"v","valueString":"` + strings.Repeat("x", 1000) + `"}]}]}`
	bomb := "[" + strings.Repeat(`{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"},`, 15) +
		`{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"}]`
	b := &countingBudget{limit: 1 << 30}
	_, _, err := applyPatch([]byte(doc), []byte(bomb), 256<<10, b)
	var api *apiError
	if !errors.As(err, &api) || api.statusCode() != 422 || api.issues[0].Code != "too-costly" {
		t.Fatalf("bomb: %v, want 422 too-costly", err)
	}
	if b.used != 0 || b.peak > 2*(256<<10) {
		t.Errorf("budget after the bomb: %d in use, peak %d", b.used, b.peak)
	}

	small := &countingBudget{limit: 4 << 10}
	if _, _, err := applyPatch([]byte(doc), []byte(bomb), 256<<10, small); !errors.As(err, &api) || api.statusCode() != 429 {
		t.Errorf("full budget: %v, want 429", err)
	}
	if small.used != 0 {
		t.Errorf("%d bytes stay reserved after a refusal", small.used)
	}

	tests := "[" + strings.Repeat(`{"op":"test","path":"/extension","value":`+doc[strings.Index(doc, "["):len(doc)-1]+`},`, 200) + `{"op":"test","path":"/a","value":1}]`
	if _, _, err := applyPatch([]byte(doc), []byte(tests), 8<<10, nil); !errors.As(err, &api) || api.statusCode() != 422 || api.issues[0].Code != "too-costly" {
		t.Errorf("repeated large tests: %v, want 422 too-costly", err)
	}
}

type countingBudget struct{ limit, used, peak int64 }

func (b *countingBudget) Reserve(n int64) bool {
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *countingBudget) Release(n int64) { b.used -= n }

// FuzzApplyPatch checks that any patch of a resource applies or fails with an apiError, never
// panics, and that a result is well-formed JSON whose size the patcher tracked exactly.
func FuzzApplyPatch(f *testing.F) {
	doc := `{"resourceType":"Patient","id":"p","name":[{"given":["A"]}],"x":{"y":[1,{"z":null}]}}`
	for _, s := range []string{
		`[{"op":"add","path":"/x/y/-","value":{"a":"\u00e9"}}]`,
		`[{"op":"remove","path":"/x/y/0"},{"op":"move","from":"/x","path":"/w"}]`,
		`[{"op":"copy","from":"/name","path":"/name/0/copy"}]`,
		`[{"op":"replace","path":"","value":[]}]`,
		`[{"op":"test","path":"/name/0/given","value":["A"]}]`,
		`[{"op":"add","path":"/a~1b~0c","value":"\"<&>"}]`,
		`[]`, `[{}]`, `[{"op":"add","path":"x","value":1}]`,
	} {
		f.Add(doc, s)
	}
	f.Fuzz(func(t *testing.T, doc, patch string) {
		if !json.Valid([]byte(doc)) {
			return // stored resources are always well-formed
		}
		out, release, err := applyPatch([]byte(doc), []byte(patch), 1<<16, nil)
		if err != nil {
			var api *apiError
			if !errors.As(err, &api) && !errors.Is(err, errBadJSON) {
				t.Fatalf("error %v is neither an apiError nor a parse error", err)
			}
			return
		}
		release()
		if !json.Valid(out) {
			t.Fatalf("result is not JSON: %q", out)
		}
		if len(out) > 1<<16 {
			t.Fatalf("result of %d bytes passes the bound", len(out))
		}
		// The output buffer is allocated at the tracked size: it is full when the size is exact.
		if cap(out) != len(out) {
			t.Fatalf("tracked size %d, marshal wrote %d: %s", cap(out), len(out), out)
		}
	})
}
