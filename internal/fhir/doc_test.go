package fhir

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestWalkerDocMatchesParse checks that the Doc the strict walk builds as it
// validates is the Doc fhirpath's own JSON reader builds, node for node, on
// the Synthea and HL7 example corpora: the constraints see what any other
// user of the engine would see.
func TestWalkerDocMatchesParse(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	model := v.t.inv.model
	shared := testenv.SharedDir(t)
	n := 0
	for _, dir := range []string{"synthea", "hl7-r4-examples"} {
		for _, f := range ndjsonFiles(t, filepath.Join(shared, "data", dir)) {
			forEachLine(t, f, func(line []byte, lineNo int) {
				n++
				w := &walker{t: v.t}
				w.run(line, true)
				var parsed fhirpath.Doc
				if err := model.Parse(&parsed, line); err != nil {
					t.Fatalf("%s:%d: %v", f, lineNo, err)
				}
				if diff := docDiff(&w.doc, &parsed); diff != "" {
					t.Errorf("%s:%d: %s", filepath.Base(f), lineNo, diff)
				}
			})
		}
	}
	if n < 9000 {
		t.Errorf("compared %d resources", n)
	}
}

func docDiff(a, b *fhirpath.Doc) string {
	if a.Len() != b.Len() {
		return fmt.Sprintf("%d nodes, want %d", a.Len(), b.Len())
	}
	for i := 0; i < a.Len(); i++ {
		n := fhirpath.NodeID(i)
		if a.Live(n) != b.Live(n) {
			return fmt.Sprintf("node %d live %v, want %v", i, a.Live(n), b.Live(n))
		}
		if !a.Live(n) {
			continue
		}
		if a.Path(n) != b.Path(n) || a.Type(n) != b.Type(n) || a.Element(n) != b.Element(n) || a.Parent(n) != b.Parent(n) ||
			a.HasValue(n) != b.HasValue(n) || a.String(n) != b.String(n) || a.Resource(n) != b.Resource(n) {
			return fmt.Sprintf("node %d: %s %q, want %s %q", i, a.Path(n), a.String(n), b.Path(n), b.String(n))
		}
		var ca, cb []fhirpath.NodeID
		a.Children(n, func(c fhirpath.NodeID) bool { ca = append(ca, c); return true })
		b.Children(n, func(c fhirpath.NodeID) bool { cb = append(cb, c); return true })
		if fmt.Sprint(ca) != fmt.Sprint(cb) {
			return fmt.Sprintf("node %d (%s): children %v, want %v", i, a.Path(n), ca, cb)
		}
	}
	return ""
}
