package fhir

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// knownInvalidExamples are the official R4 examples that are not valid R4.
// The first five are the ones the data README names (google/fhir rejects
// them too); the TestScript ones are found by the required-binding check,
// which google/fhir does not run on media types; the last ones by the
// constraints of the definitions. Each must be rejected at
// strict, and the value is a fragment a rejecting diagnostic must contain, so
// that it is rejected for its real reason.
var knownInvalidExamples = map[string]string{
	// parent references a DeviceDefinition; DeviceMetric.parent allows Device only.
	"DeviceMetric/example": "points at a DeviceDefinition",
	// reasonReference references a Procedure, which the element does not allow.
	"DeviceUseStatement/example": "points at a Procedure",
	// dispenseRequest.performer references a Practitioner; only Organization is allowed.
	"MedicationRequest/medrx0301": "points at a Practitioner",
	// performer references an Encounter, which Observation.performer does not allow.
	"Observation/clinical-gender": "points at a Encounter",
	// nested items have no linkId (Questionnaire.item.linkId is 1..1).
	"Questionnaire/qs1": "Questionnaire.item.linkId",
	// The TestScript examples still use the STU3 content-type codes "xml" and
	// "json" where R4 binds operation.accept/contentType to BCP-13 media types.
	"TestScript/testscript-example":             `code "json" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	"TestScript/testscript-example-history":     `code "json" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	"TestScript/testscript-example-multisystem": `code "xml" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	"TestScript/testscript-example-readtest":    `code "xml" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	"TestScript/testscript-example-search":      `code "xml" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	"TestScript/testscript-example-update":      `code "xml" is not in the required value set http://hl7.org/fhir/ValueSet/mimetypes`,
	// A placeholder OID (urn:oid:X.Y.Z) where a value set's canonical URL goes.
	"Library/zika-virus-intervention-logic": `"urn:oid:X.Y.Z" is not a valid urn:oid`,
	// Narratives whose div holds only white space break txt-2 ("The
	// narrative SHALL have some non-whitespace content"), found by the
	// constraint evaluation.
	"ActivityDefinition/blood-tubes-supply":        "txt-2",
	"ActivityDefinition/heart-valve-replacement":   "txt-2",
	"EventDefinition/example":                      "txt-2",
	"Questionnaire/zika-virus-exposure-assessment": "txt-2",
}

// corpusResult is what a corpus run saw.
type corpusResult struct {
	total    int
	rejected map[string][]Issue // "Type/id" (or file:line) -> error issues
}

func runCorpus(t *testing.T, dir string, level Level) corpusResult {
	t.Helper()
	v := NewValidator()
	files := ndjsonFiles(t, dir)
	if len(files) == 0 {
		t.Skipf("no NDJSON files in %s", dir)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var readErrs []error
	res := corpusResult{rejected: map[string][]Issue{}}
	sem := make(chan struct{}, 2)
	for _, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n := 0
			err := readLines(f, func(line []byte, lineNo int) {
				n++
				r := v.Validate(line, level)
				if r.Valid() {
					return
				}
				var errs []Issue
				for _, is := range r.Issues {
					if is.Severity == SeverityError {
						errs = append(errs, is)
					}
				}
				key := r.ResourceType + "/" + r.ID
				if r.ID == "" {
					key = filepath.Base(f) + ":" + itoa(lineNo)
				}
				mu.Lock()
				res.rejected[key] = errs
				mu.Unlock()
			})
			mu.Lock()
			res.total += n
			if err != nil {
				readErrs = append(readErrs, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range readErrs {
		t.Error(err)
	}
	return res
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func reportRejections(t *testing.T, rejected map[string][]Issue) {
	t.Helper()
	shown := 0
	for key, issues := range rejected {
		if shown++; shown > 20 {
			t.Errorf("... and %d more", len(rejected)-20)
			return
		}
		t.Errorf("%s rejected: %+v", key, issues)
	}
}

func TestCorpusStrict(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	for _, c := range []struct {
		name, dir string
		min       int
	}{
		{"synthea", "synthea", 8315},
		{"bulk-export-10-patients", "bulk-export-10-patients", 7160},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := runCorpus(t, filepath.Join(shared, "data", c.dir), LevelStrict)
			if res.total < c.min {
				t.Errorf("validated %d resources, want at least %d", res.total, c.min)
			}
			reportRejections(t, res.rejected)
		})
	}
}

// TestCorpusSyntheaFull validates the 180,520 resources of synthea-full at
// strict. It takes a few seconds (about 1.5 s on two cores, most of it
// gunzip), so it runs by default and is skipped with -short.
func TestCorpusSyntheaFull(t *testing.T) {
	if testing.Short() {
		t.Skip("synthea-full is skipped with -short")
	}
	t.Parallel()
	res := runCorpus(t, filepath.Join(testenv.SharedDir(t), "data", "synthea-full"), LevelStrict)
	if res.total < 180520 {
		t.Errorf("validated %d resources, want 180520", res.total)
	}
	reportRejections(t, res.rejected)
}

func TestCorpusHL7Examples(t *testing.T) {
	t.Parallel()
	res := runCorpus(t, filepath.Join(testenv.SharedDir(t), "data", "hl7-r4-examples"), LevelStrict)
	if res.total < 707 {
		t.Errorf("validated %d examples, want at least 707", res.total)
	}
	for key, want := range knownInvalidExamples {
		issues, ok := res.rejected[key]
		if !ok {
			t.Errorf("%s: accepted, want rejected (%s)", key, want)
			continue
		}
		found := false
		for _, is := range issues {
			if strings.Contains(is.Diagnostics, want) || strings.Contains(is.Expression, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: rejected for another reason than %q: %+v", key, want, issues)
		}
		delete(res.rejected, key)
	}
	reportRejections(t, res.rejected)
}
