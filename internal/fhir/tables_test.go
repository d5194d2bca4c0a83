package fhir

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestGeneratedTablesUpToDate regenerates the tables from the shared R4
// definitions and compares them with the committed r4tables.json.gz. It
// compiles and runs the generator (a few seconds), so it is skipped with
// -short and when the shared folder is absent.
func TestGeneratedTablesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the tables is skipped with -short")
	}
	shared := testenv.SharedDir(t)
	out := filepath.Join(t.TempDir(), "r4tables.json.gz")
	cmd := exec.Command("go", "run", "./internal/gen", "-shared", shared, "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, r4TablesGz) {
		t.Error("r4tables.json.gz is stale: run go generate ./internal/fhir")
	}
}

func TestTables(t *testing.T) {
	t.Parallel()
	tb, err := loadTables()
	if err != nil {
		t.Fatal(err)
	}
	check := func(typ, key string, wantElem string, wantMany bool) {
		t.Helper()
		td := tb.types[typ]
		if td == nil {
			t.Errorf("type %s missing", typ)
			return
		}
		k, ok := td.keys[key]
		if !ok {
			t.Errorf("%s has no member %q", typ, key)
			return
		}
		e := &td.elems[k&0xffff]
		if e.path != wantElem || e.many != wantMany {
			t.Errorf("%s.%s -> %s many=%v, want %s many=%v", typ, key, e.path, e.many, wantElem, wantMany)
		}
	}
	check("Observation", "valueQuantity", "Observation.value[x]", false)
	check("Observation", "_valueString", "Observation.value[x]", false)
	check("Observation", "component", "Observation.component", true)
	check("Questionnaire.item", "item", "Questionnaire.item.item", true) // contentReference
	check("Patient", "contained", "Patient.contained", true)
	check("Patient", "_birthDate", "Patient.birthDate", false)
	check("Bundle.entry", "resource", "Bundle.entry.resource", false)
	check("Extension", "valueReference", "Extension.value[x]", false)
	if got := tb.types["Questionnaire.item"].elems[tb.types["Questionnaire.item"].keys["item"]&0xffff].types[0].def; got != tb.types["Questionnaire.item"] {
		t.Errorf("Questionnaire.item.item does not resolve to Questionnaire.item")
	}
	if len(tb.resources) != 146 {
		t.Errorf("%d concrete resource types, want 146", len(tb.resources))
	}
	for _, name := range []string{"Bundle", "Binary", "Parameters"} {
		if tb.resources[name].domain {
			t.Errorf("%s marked as DomainResource", name)
		}
	}
	if !tb.resources["Patient"].domain {
		t.Error("Patient not marked as DomainResource")
	}
}
