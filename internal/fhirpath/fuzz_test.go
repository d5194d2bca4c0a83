package fhirpath_test

import (
	"errors"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// FuzzEval compiles any expression and evaluates it on any resource: the
// engine never panics, and an evaluation stops near its step bound.
func FuzzEval(f *testing.F) {
	for _, s := range []string{
		"name.given", "descendants().count()", "repeat(children()).count()", "%resource.descendants().select(descendants())",
		"(1|2|3).aggregate($this+$total, 0)", "iif(true, 1, 2)", "@2020-01-01 + 1 month", "'abc'.matches('b+')",
		"contained.where(('#'+id in %resource.descendants().reference).not()).empty()", "extension('x').value",
		"children().count() > id.count()", "value as Quantity > 1 'kg'", "sort(-$this)", "1/0", "{}.first().last()",
	} {
		f.Add(s, bundleJSON)
	}
	f.Add("descendants()", `{"resourceType":"Patient","id":"p","name":[{"given":["a"]}]}`)
	m := fhir.FHIRPathModel()
	f.Fuzz(func(t *testing.T, expr, resource string) {
		e, err := m.Compile(expr, fhirpath.Options{LenientAs: true})
		if err != nil {
			return
		}
		var doc fhirpath.Doc
		ev := fhirpath.NewEvaluator()
		ev.MaxSteps = 5000
		if err := m.Parse(&doc, []byte(resource)); err != nil {
			ev.Reset(nil)
			_, _ = ev.Eval(e, fhirpath.NoNode)
			return
		}
		ev.Reset(&doc)
		_, err = ev.Eval(e, 0)
		if errors.Is(err, fhirpath.ErrTooCostly) && ev.Steps() > 5000+2*doc.Len()+100 {
			t.Fatalf("%q stopped after %d steps, bound 5000 (doc of %d nodes)", expr, ev.Steps(), doc.Len())
		}
		if _, err := ev.Check(e, 0); err != nil && !errors.Is(err, fhirpath.ErrTooCostly) {
			var ee *fhirpath.EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error of an unexpected kind: %v", expr, err)
			}
		}
	})
}
