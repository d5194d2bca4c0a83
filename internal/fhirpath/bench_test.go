package fhirpath_test

import (
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

const benchPatient = `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25","managingOrganization":{"reference":"Organization/1"}}`

// BenchmarkCheck evaluates single invariants on a small Patient: one op is
// one evaluation.
func BenchmarkCheck(b *testing.B) {
	m := fhir.FHIRPathModel()
	var doc fhirpath.Doc
	if err := m.Parse(&doc, []byte(benchPatient)); err != nil {
		b.Fatal(err)
	}
	ev := fhirpath.NewEvaluator()
	ev.Reset(&doc)
	name := doc.Child(0, "name")
	gender := doc.Child(0, "gender")
	for _, c := range []struct {
		name, expr string
		node       fhirpath.NodeID
	}{
		{"ele-1 primitive", "hasValue() or (children().count() > id.count())", gender},
		{"ele-1 object", "hasValue() or (children().count() > id.count())", name},
		{"path", "name.given", 0},
	} {
		e := m.MustCompile(c.expr, fhirpath.Options{})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := ev.Check(e, c.node); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
