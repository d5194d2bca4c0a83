package fhir

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestCorpusDefinitions validates, at strict, the 5,008 resources of the
// official R4 definition bundles in ../shared/fhir-r4 (the
// StructureDefinitions, ValueSets, CodeSystems, SearchParameters and the
// rest, which the HL7 examples leave out): the conformance-resource
// constraints (sdf-*, eld-*, vsd-*, ...) and their narratives must accept
// HL7's own definitions. It also finds the core extensions those definitions
// use outside their declared contexts, which must be contextOutgrown.
func TestCorpusDefinitions(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	outgrown := map[string]bool{}
	total := 0
	for _, name := range []string{"profiles-types", "profiles-resources", "search-parameters", "valuesets",
		"extension-definitions", "profiles-others", "v2-tables", "v3-codesystems", "expansions"} {
		f, err := os.Open(filepath.Join(testenv.SharedDir(t), "fhir-r4", name+".json.gz"))
		if err != nil {
			t.Skipf("definitions not available: %v", err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		err = json.NewDecoder(zr).Decode(&b)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			total++
			r := v.Validate(e.Resource, LevelStrict)
			for _, is := range r.Issues {
				if is.Severity == SeverityError {
					t.Errorf("%s: %s/%s: %s at %s", name, r.ResourceType, r.ID, is.Diagnostics, is.Expression)
				}
				if url, ok := strings.CutPrefix(is.Diagnostics, "extension "); ok && strings.Contains(url, " is not allowed on ") {
					outgrown[url[:strings.IndexByte(url, ' ')]] = true
				}
			}
		}
	}
	if total < 5000 {
		t.Errorf("validated %d resources, want 5,008", total)
	}
	for url := range contextOutgrown {
		if !outgrown[url] {
			t.Errorf("%s is in contextOutgrown but the definitions use it only in its contexts", url)
		}
	}
	for url := range outgrown {
		if _, ok := contextOutgrown[url]; !ok {
			t.Errorf("the definitions use %s outside its contexts: add it to contextOutgrown", url)
		}
	}
}
