package fhirpath_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// BenchmarkSearchExpressions measures what making search extraction a user
// of this engine would cost: on the synthea corpus, the search package's own
// extraction (search.Extract: its path subset on a fastjson tree, and the
// index entries) next to this engine reading each resource into a Doc and
// evaluating every search parameter expression of its type (the values
// only, no entries). One op is one resource.
func BenchmarkSearchExpressions(b *testing.B) {
	type res struct {
		typ  string
		body []byte
	}
	var corpus []res
	dir := filepath.Join(testenv.SharedDir(b), "data", "synthea")
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		typ := strings.TrimSuffix(filepath.Base(f), ".ndjson")
		for sc.Scan() {
			corpus = append(corpus, res{typ, append([]byte(nil), sc.Bytes()...)})
		}
		fh.Close()
	}
	if len(corpus) == 0 {
		b.Skip("no synthea data")
	}
	m := fhir.FHIRPathModel()
	exprs := map[string][]*fhirpath.Expr{}
	compiled, failed := 0, 0
	for _, r := range corpus {
		if _, ok := exprs[r.typ]; ok {
			continue
		}
		list := []*fhirpath.Expr{}
		for _, p := range search.Params(r.typ) {
			if p.Expr == "" {
				continue
			}
			e, err := m.Compile(p.Expr, fhirpath.Options{LenientAs: true})
			if err != nil {
				failed++
				continue
			}
			compiled++
			list = append(list, e)
		}
		exprs[r.typ] = list
	}
	b.Logf("%d search expressions compiled, %d not", compiled, failed)
	b.Run("search.Extract", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r := corpus[i%len(corpus)]
			search.Extract(r.typ, r.body)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
	})
	b.Run("fhirpath", func(b *testing.B) {
		var doc fhirpath.Doc
		ev := fhirpath.NewEvaluator()
		ev.TypeOnlyReferences = true
		values := 0
		for i := 0; i < b.N; i++ {
			r := corpus[i%len(corpus)]
			if err := m.Parse(&doc, r.body); err != nil {
				b.Fatal(err)
			}
			ev.Reset(&doc)
			for _, e := range exprs[r.typ] {
				v, err := ev.Eval(e, 0)
				if err != nil {
					b.Fatal(err)
				}
				values += len(v)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		b.ReportMetric(float64(values)/float64(b.N), "values/resource")
	})
}

// TestSearchExpressionsCompile compiles the expression of every search
// parameter of every R4 resource type with the engine, including the ones
// the search package's own subset skips (search.Skipped).
func TestSearchExpressionsCompile(t *testing.T) {
	t.Parallel()
	m := fhir.FHIRPathModel()
	n := 0
	for _, typ := range fhir.ResourceTypes() {
		for _, p := range search.Params(typ) {
			if p.Expr == "" {
				continue
			}
			n++
			if _, err := m.Compile(p.Expr, fhirpath.Options{LenientAs: true, Context: m.Type(typ)}); err != nil {
				t.Errorf("%s %s: %s: %v", typ, p.Code, p.Expr, err)
			}
		}
	}
	// The three R4 definitions the search package's subset skips evaluate
	// here (their expressions as in search-parameters.json).
	skipped := map[string]struct{ expr, resource, want string }{
		"http://hl7.org/fhir/SearchParameter/Bundle-composition": {"Bundle.entry[0].resource",
			`{"resourceType":"Bundle","id":"b","type":"document","entry":[{"resource":{"resourceType":"Composition","id":"c"}}]}`, "Composition"},
		"http://hl7.org/fhir/SearchParameter/Bundle-message": {"Bundle.entry[0].resource",
			`{"resourceType":"Bundle","id":"b","type":"message","entry":[{"resource":{"resourceType":"MessageHeader","id":"m"}}]}`, "MessageHeader"},
		"http://hl7.org/fhir/SearchParameter/Patient-deceased": {"Patient.deceased.exists() and Patient.deceased != false",
			`{"resourceType":"Patient","id":"p","deceasedBoolean":false}`, "false"},
	}
	for url := range search.Skipped() {
		c, ok := skipped[url]
		if !ok {
			t.Errorf("search skips %s, which this test does not know", url)
			continue
		}
		doc := parse(t, c.resource)
		got := evalOn(t, doc, 0, c.expr, false)
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) && !strings.HasSuffix(got[0], ":"+c.want) {
			t.Errorf("%s: %s = %v, want %s", url, c.expr, got, c.want)
		}
	}
	if n < 1000 {
		t.Errorf("compiled %d expressions", n)
	}
	t.Logf("%d search parameter expressions compile", n)
}
