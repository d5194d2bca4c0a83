package fhir

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestConstraintsTypeCheck compiles every evaluated constraint against each
// type it is declared on, with the engine's checks of paths, functions and
// operand types: an expression that names an element its context does not
// have would silently select nothing.
func TestConstraintsTypeCheck(t *testing.T) {
	t.Parallel()
	tb, err := loadTables()
	if err != nil {
		t.Fatal(err)
	}
	m := tb.inv.model
	checked := 0
	try := func(where string, ctx *fhirpath.Type, idx []int) {
		for _, k := range idx {
			c := tb.constraints[k]
			if c.prog == nil || c.key == "ele-1" || c.key == "ext-1" {
				continue
			}
			checked++
			if _, err := m.Compile(c.run, fhirpath.Options{Context: ctx, LenientAs: true}); err != nil {
				t.Errorf("%s %s on %s: %v", c.key, c.run, where, err)
			}
		}
	}
	for _, td := range tb.types {
		try(td.name, td.fp, td.cons)
		for i := range td.elems {
			e := &td.elems[i]
			if len(e.types) == 1 {
				try(e.path, e.types[0].fp, e.cons)
			}
		}
	}
	if checked < 200 {
		t.Errorf("checked %d constraint uses, want more than 200", checked)
	}
}

// TestConstraintReport writes the list of the constraints of the R4
// definitions, with what strict does with each, to testdata/constraints.txt
// (-update rewrites it) and checks the counts.
func TestConstraintReport(t *testing.T) {
	t.Parallel()
	all := Constraints()
	var evaluated, corrected, left int
	var sb strings.Builder
	for _, c := range all {
		switch {
		case c.LeftOut != "":
			left++
		case c.Corrected != "":
			corrected++
			evaluated++
		default:
			evaluated++
		}
	}
	fmt.Fprintf(&sb, "# The constraints of the R4 (4.0.1) definitions: %d (data types, resources and core extensions), %d evaluated at strict (%d of them with a corrected expression), %d left out.\n",
		len(all), evaluated, corrected, left)
	for _, c := range all {
		status := "evaluated"
		switch {
		case c.LeftOut != "":
			status = "left out: " + c.LeftOut
		case c.Corrected != "":
			status = "corrected: " + c.Corrected + "; evaluated: " + c.Evaluated
		}
		fmt.Fprintf(&sb, "%s\t%s\t%s\t%s\n", c.Key, c.Severity, strings.TrimPrefix(c.Source, "http://hl7.org/fhir/StructureDefinition/"), status)
	}
	got := sb.String()
	path := filepath.Join("testdata", "constraints.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("testdata/constraints.txt is stale: run go test ./internal/fhir -run TestConstraintReport -update")
	}
	if len(all) < 240 || left > 5 {
		t.Errorf("%d constraints, %d left out", len(all), left)
	}
}

// TestValuedConstraints checks the constraints strict does not evaluate on a
// primitive with a value because their expression is "hasValue() or (...)":
// they are ele-1, and the engine finds them true on every such node of the
// corpora.
func TestValuedConstraints(t *testing.T) {
	t.Parallel()
	tb, err := loadTables()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, c := range tb.constraints {
		if c.valued {
			keys[c.key] = true
		}
	}
	if len(keys) != 1 || !keys["ele-1"] {
		t.Fatalf("valued constraints: %v, want ele-1", keys)
	}
	m := tb.inv.model
	var d fhirpath.Doc
	ev := fhirpath.NewEvaluator()
	checked := 0
	for _, dir := range []string{"synthea", "hl7-r4-examples"} {
		for _, f := range ndjsonFiles(t, filepath.Join(testenv.SharedDir(t), "data", dir)) {
			forEachLine(t, f, func(line []byte, _ int) {
				if m.Parse(&d, line) != nil {
					return
				}
				ev.Reset(&d)
				for i := 0; i < d.Len(); i++ {
					n := fhirpath.NodeID(i)
					if !d.Live(n) || !d.HasValue(n) {
						continue
					}
					for _, c := range tb.inv.forNode(&d, n) {
						if !c.valued {
							continue
						}
						checked++
						if truth, err := ev.Check(c.prog, n); err != nil || truth != fhirpath.True {
							t.Fatalf("%s on %s: %v %v", c.key, d.Path(n), truth, err)
						}
					}
				}
			})
		}
	}
	if checked < 100000 {
		t.Errorf("checked %d nodes", checked)
	}
	t.Logf("ele-1 true on %d primitives with a value", checked)
}
