package fhirpath_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestMaxNodes checks the bound Begin sizes a large Doc's nodes by: never
// below the nodes the Doc gets, on the corpora and on shapes with arrays,
// _name members, nulls, escapes and unknown members.
func TestMaxNodes(t *testing.T) {
	t.Parallel()
	m := fhir.FHIRPathModel()
	var d fhirpath.Doc
	check := func(name string, src []byte) {
		t.Helper()
		if err := m.Parse(&d, src); err != nil {
			return
		}
		if n := fhirpath.MaxNodes(src); n < d.Len() {
			t.Errorf("%s: bound %d, Doc has %d nodes", name, n, d.Len())
		}
	}
	for k, src := range []string{
		`{"resourceType":"Patient"}`,
		`{"resourceType":"Patient","name":[],"telecom":[{}],"given":["a"]}`,
		`{"resourceType":"Patient","name":[{"given":["A",null,"C"],"_given":[null,{"id":"x"},{"extension":[{"url":"u","valueString":"\"],:,"}]}]}]}`,
		`{"resourceType":"Patient","birthDate":"1970","_birthDate":{"id":"b"},"unknown":{"a":[1,2,3]},"active":true}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"x\\"y"}]}}]}`,
	} {
		check(strings.Repeat("#", k+1), []byte(src))
	}
	dir := filepath.Join(testenv.SharedDir(t), "data")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.ndjson"))
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			check(f, sc.Bytes())
			n++
		}
		fh.Close()
	}
	// A large resource of small extensions: the bound is tight enough to
	// be worth allocating.
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Patient","id":"big","extension":[`)
	for i := 0; i < 20000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"url":"http://example.org/p","valueString":"xxxxxxxxxxxxxxxxxxxx"}`)
	}
	b.WriteString(`]}`)
	if err := m.Parse(&d, b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if bound := fhirpath.MaxNodes(b.Bytes()); bound < d.Len() || bound > 2*d.Len() {
		t.Errorf("extensions: bound %d for %d nodes", bound, d.Len())
	}
	t.Logf("%d corpus resources", n)
}
