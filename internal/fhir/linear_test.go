package fhir

import (
	"strconv"
	"strings"
	"testing"
)

// TestValidateStaysLinear checks that the constraint evaluation of strict
// grows linearly with the resource for shapes that would be quadratic if
// each evaluation walked the whole resource: many contained resources each
// referenced (dom-3 and ref-1 look up the contained ids), deep nesting
// (que-2 collects every linkId), and many Bundle entries (bdl-7 compares
// fullUrls). The measure is the FHIRPath engine's steps, which are
// deterministic; doubling the input must not much more than double them.
func TestValidateStaysLinear(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	shapes := map[string]func(n int) string{
		"contained": func(n int) string {
			var sb strings.Builder
			sb.WriteString(`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"hasMember":[`)
			for k := 0; k < n; k++ {
				if k > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(`{"reference":"#c` + strconv.Itoa(k) + `"}`)
			}
			sb.WriteString(`],"contained":[`)
			for k := 0; k < n; k++ {
				if k > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(`{"resourceType":"Observation","id":"c` + strconv.Itoa(k) + `","status":"final","code":{"text":"x"}}`)
			}
			sb.WriteString("]}")
			return sb.String()
		},
		"nested": func(n int) string {
			var sb strings.Builder
			sb.WriteString(`{"resourceType":"Questionnaire","id":"q","status":"draft"`)
			for k := 0; k < n; k++ {
				sb.WriteString(`,"item":[{"linkId":"x` + strconv.Itoa(k) + `","type":"group"`)
			}
			sb.WriteString(`,"item":[{"linkId":"leaf","type":"string"}]` + strings.Repeat("}]", n) + "}")
			return sb.String()
		},
		"entries": func(n int) string {
			var sb strings.Builder
			sb.WriteString(`{"resourceType":"Bundle","id":"b","type":"collection","entry":[`)
			for k := 0; k < n; k++ {
				if k > 0 {
					sb.WriteByte(',')
				}
				id := strconv.Itoa(k)
				sb.WriteString(`{"fullUrl":"http://x.org/Patient/` + id + `","resource":{"resourceType":"Patient","id":"` + id + `","link":[{"other":{"reference":"Patient/` + id + `"},"type":"seealso"}]}}`)
			}
			sb.WriteString("]}")
			return sb.String()
		},
	}
	sizes := map[string][2]int{"contained": {400, 800}, "nested": {100, 200}, "entries": {1000, 2000}}
	for name, make := range shapes {
		name, make := name, make
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var steps [2]int
			for k, n := range sizes[name] {
				w := &walker{t: v.t}
				res := w.run([]byte(make(n)), true)
				for _, is := range res.Issues {
					if is.Severity == SeverityError {
						t.Fatalf("n=%d: %+v", n, is)
					}
				}
				steps[k] = w.steps
			}
			ratio := float64(steps[1]) / float64(steps[0])
			t.Logf("%s: %d steps at n=%d, %d at n=%d (x%.2f)", name, steps[0], sizes[name][0], steps[1], sizes[name][1], ratio)
			if ratio > 2.3 {
				t.Errorf("steps %d -> %d when the input doubles (x%.2f), want linear", steps[0], steps[1], ratio)
			}
		})
	}
}
