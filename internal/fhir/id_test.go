package fhir

import (
	"encoding/json"
	"testing"
)

func TestSetID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
		err            error
	}{
		{"replace in place", `{"resourceType":"Patient","active":true,"id":"old"}`, `{"resourceType":"Patient","active":true,"id":"new"}`, nil},
		{"replace a non-string id", `{"resourceType":"Patient","id":{"x":[1]},"active":true}`, `{"resourceType":"Patient","id":"new","active":true}`, nil},
		{"only the first of two", `{"id":"a","resourceType":"Patient","id":"b"}`, `{"id":"new","resourceType":"Patient","id":"b"}`, nil},
		{"insert after resourceType", `{"active":true,"resourceType":"Patient","gender":"x"}`, `{"active":true,"resourceType":"Patient","id":"new","gender":"x"}`, nil},
		{"insert first without resourceType", `{"active":true}`, `{"id":"new","active":true}`, nil},
		{"empty object", ` { } `, ` {"id":"new" } `, nil},
		{"escaped key", `{"resourceType":"Patient","\u0069d":"old"}`, `{"resourceType":"Patient","\u0069d":"new"}`, nil},
		{"whitespace kept", "{ \"resourceType\" : \"Patient\" ,\n \"id\" : 1 }", "{ \"resourceType\" : \"Patient\" ,\n \"id\" : \"new\" }", nil},
		{"not an object", `[1]`, "", ErrNotJSONObject},
		{"trailing data", `{"id":"a"} x`, "", ErrNotJSONObject},
		{"broken value", `{"resourceType":"Patient","name":[}`, "", ErrNotJSONObject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := SetID([]byte(tc.in), "new")
			if err != tc.err || string(got) != tc.want {
				t.Fatalf("SetID(%s) = %s, %v; want %s, %v", tc.in, got, err, tc.want, tc.err)
			}
			if err == nil && !json.Valid(got) {
				t.Errorf("result is not JSON: %s", got)
			}
		})
	}
}

// FuzzSetID checks that SetID never panics and, on success, gives well-formed JSON whose
// top-level id is the one set.
func FuzzSetID(f *testing.F) {
	for _, s := range []string{`{}`, `{"id":"a"}`, `{"resourceType":"Patient","id":3}`, `{"a":[{"id":1}]}`, `{"id"`, `{"\u0069d":"x","id":"y"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := SetID([]byte(in), "x-1")
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(got, &m) != nil {
			t.Fatalf("SetID(%q) = %q, not a JSON object", in, got)
		}
	})
}
