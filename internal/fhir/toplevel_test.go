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

func TestKeepMembers(t *testing.T) {
	t.Parallel()
	keep := func(k []byte) bool {
		return string(k) == "name" || string(k) == "valueQuantity" || string(k) == "resourceType"
	}
	cases := []struct{ in, want string }{
		{`{"resourceType":"Observation","id":"o","valueQuantity":{"value":1},"note":[{"text":"x"}]}`, `{"resourceType":"Observation","valueQuantity":{"value":1}}`},
		{` { "name" : [ {"family":"a"} ] , "extension":[1,2,3] } `, `{"name" : [ {"family":"a"} ]}`},
		{`{"extension":[1]}`, `{}`},
		{`{"name":1,"name":2}`, `{"name":1,"name":2}`},
		{`{}`, `{}`},
	}
	for _, tc := range cases {
		got, err := KeepMembers([]byte(tc.in), keep)
		if err != nil || string(got) != tc.want {
			t.Errorf("KeepMembers(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`[1]`, `{"name":[}`, `{"a":1} x`} {
		if _, err := KeepMembers([]byte(bad), keep); err != ErrNotJSONObject {
			t.Errorf("KeepMembers(%s) error = %v, want ErrNotJSONObject", bad, err)
		}
	}
}
