package fhirapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// loadNDJSON decodes every line of one file of the synthea folder.
func loadNDJSON(t testing.TB, dir, typ string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, typ+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	var out []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// searchAll follows next links from [base]/query and returns every match, failing on duplicates.
func (e *env) searchAll(t *testing.T, query string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	next := query
	for pages := 0; next != ""; pages++ {
		r := e.do("GET", next, nil)
		if r.status != 200 {
			t.Fatalf("GET %s = %d %s", next, r.status, r.body)
		}
		b := r.json(t)
		for _, id := range bundleIDs(t, b, "match") {
			if seen[id] {
				t.Fatalf("%s: %s returned twice (page %d)", query, id, pages)
			}
			seen[id] = true
			out = append(out, id)
		}
		next = nextLink(b)
		if pages > 1000 {
			t.Fatal("too many pages")
		}
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func TestSyntheaSearch(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "data", "synthea")
	e := newEnv(t)
	e.importDir(dir)

	patients := loadNDJSON(t, dir, "Patient")
	observations := loadNDJSON(t, dir, "Observation")
	encounters := loadNDJSON(t, dir, "Encounter")
	pat := patients[0]
	patID := pat["id"].(string)
	family := pat["name"].([]any)[0].(map[string]any)["family"].(string)
	birth := pat["birthDate"].(string)

	// expect filters a type's resources with keep and returns their "Type/id".
	expect := func(typ string, all []map[string]any, keep func(m map[string]any) bool) []string {
		var out []string
		for _, m := range all {
			if keep(m) {
				out = append(out, typ+"/"+m["id"].(string))
			}
		}
		return sorted(out)
	}
	hasFamily := func(m map[string]any, prefix string, exact bool) bool {
		for _, n := range m["name"].([]any) {
			f, _ := n.(map[string]any)["family"].(string)
			if exact && f == prefix || !exact && strings.HasPrefix(strings.ToLower(f), strings.ToLower(prefix)) {
				return true
			}
		}
		return false
	}
	hasCode := func(m map[string]any, system, code string) bool {
		for _, c := range m["code"].(map[string]any)["coding"].([]any) {
			cm := c.(map[string]any)
			if cm["system"] == system && cm["code"] == code {
				return true
			}
		}
		return false
	}
	effective := func(m map[string]any) time.Time {
		ts, _ := time.Parse(time.RFC3339, str(m, "effectiveDateTime"))
		return ts
	}
	y2010 := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	y2020 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"patients by family prefix", "Patient?family=" + url.QueryEscape(strings.ToUpper(family[:3])),
			expect("Patient", patients, func(m map[string]any) bool { return hasFamily(m, family[:3], false) })},
		{"patients by name :exact", "Patient?name:exact=" + url.QueryEscape(family),
			expect("Patient", patients, func(m map[string]any) bool { return hasFamily(m, family, true) })},
		{"patients by name :contains", "Patient?name:contains=" + url.QueryEscape(family[1:4]),
			expect("Patient", patients, func(m map[string]any) bool {
				for _, n := range m["name"].([]any) {
					b, _ := json.Marshal(n)
					if strings.Contains(strings.ToLower(string(b)), strings.ToLower(family[1:4])) {
						return true
					}
				}
				return false
			})},
		{"patients by birthdate", "Patient?birthdate=" + birth,
			expect("Patient", patients, func(m map[string]any) bool { return m["birthDate"] == birth })},
		{"patients born before 1960", "Patient?birthdate=lt1960",
			expect("Patient", patients, func(m map[string]any) bool { return str(m, "birthDate") < "1960" })},
		{"patients born in the 1980s (ge+le)", "Patient?birthdate=ge1980&birthdate=le1989",
			expect("Patient", patients, func(m map[string]any) bool { b := str(m, "birthDate"); return b >= "1980" && b < "1990" })},
		{"patients born after 1990 (sa)", "Patient?birthdate=sa1990",
			expect("Patient", patients, func(m map[string]any) bool { return str(m, "birthDate") >= "1991" })},
		{"patients by gender :not", "Patient?gender:not=male",
			expect("Patient", patients, func(m map[string]any) bool { return m["gender"] != "male" })},
		{"patients with deceased date missing", "Patient?death-date:missing=false",
			expect("Patient", patients, func(m map[string]any) bool { return str(m, "deceasedDateTime") != "" })},
		{"patients deceased (Patient.deceased.exists() and Patient.deceased != false)", "Patient?deceased=true",
			expect("Patient", patients, func(m map[string]any) bool { return str(m, "deceasedDateTime") != "" || m["deceasedBoolean"] == true })},
		{"patients not deceased", "Patient?deceased=false",
			expect("Patient", patients, func(m map[string]any) bool { return str(m, "deceasedDateTime") == "" && m["deceasedBoolean"] != true })},
		{"patient by _id", "Patient?_id=" + patID, []string{"Patient/" + patID}},
		{"observations of a patient by LOINC code and date range",
			"Observation?subject=Patient/" + patID + "&code=http://loinc.org|8302-2&date=ge2010-01-01&date=lt2020-01-01",
			expect("Observation", observations, func(m map[string]any) bool {
				d := effective(m)
				return str(m, "subject", "reference") == "Patient/"+patID && hasCode(m, "http://loinc.org", "8302-2") && !d.Before(y2010) && d.Before(y2020)
			})},
		{"observations by code without system", "Observation?code=8302-2",
			expect("Observation", observations, func(m map[string]any) bool { return hasCode(m, "http://loinc.org", "8302-2") })},
		{"observations by code :text", "Observation?code:text=body%20hei",
			expect("Observation", observations, func(m map[string]any) bool {
				return strings.HasPrefix(strings.ToLower(str(m, "code", "text")), "body hei")
			})},
		{"observations by quantity", "Observation?value-quantity=gt180|http://unitsofmeasure.org|cm",
			expect("Observation", observations, func(m map[string]any) bool {
				q, _ := m["valueQuantity"].(map[string]any)
				return q != nil && q["code"] == "cm" && q["value"].(float64) > 180
			})},
		{"observations chained on the patient's name", "Observation?subject:Patient.name=" + url.QueryEscape(family) + "&code=8302-2",
			expect("Observation", observations, func(m map[string]any) bool {
				ref := strings.TrimPrefix(str(m, "subject", "reference"), "Patient/")
				for _, p := range patients {
					if p["id"] == ref && hasFamily(p, family, false) {
						return hasCode(m, "http://loinc.org", "8302-2")
					}
				}
				return false
			})},
		{"encounters by patient (reference id only)", "Encounter?patient=" + patID,
			expect("Encounter", encounters, func(m map[string]any) bool { return str(m, "subject", "reference") == "Patient/"+patID })},
		{"encounters by tag", "Encounter?_tag=https://smarthealthit.org/tags|synthea-5-2019&_count=50",
			expect("Encounter", encounters, func(m map[string]any) bool { return true })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sorted(e.searchAll(t, tc.query))
			if len(tc.want) == 0 {
				t.Fatalf("test data gives no expected match for %s", tc.query)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: matches differ (-want +got):\n%s", tc.query, diff)
			}
		})
	}

	t.Run("paging through every observation without duplicates", func(t *testing.T) {
		got := e.searchAll(t, "Observation?_count=100")
		if len(got) != len(observations) {
			t.Errorf("got %d observations over all pages, want %d", len(got), len(observations))
		}
	})
	t.Run("paging sorted by date descending", func(t *testing.T) {
		next := "Observation?_sort=-date&_count=97&subject=Patient/" + patID
		var last string
		n := 0
		for next != "" {
			b := e.do("GET", next, nil).json(t)
			for _, en := range b["entry"].([]any) {
				d := str(en.(map[string]any)["resource"].(map[string]any), "effectiveDateTime")
				if last != "" && d > last {
					t.Fatalf("date %s after %s in descending order", d, last)
				}
				last = d
				n++
			}
			next = nextLink(b)
		}
		want := len(expect("Observation", observations, func(m map[string]any) bool { return str(m, "subject", "reference") == "Patient/"+patID }))
		if n != want {
			t.Errorf("got %d, want %d", n, want)
		}
	})
	t.Run("encounters include their patient", func(t *testing.T) {
		b := e.do("GET", "Encounter?subject=Patient/"+patID+"&_include=Encounter:patient&_count=10", nil).json(t)
		inc := bundleIDs(t, b, "include")
		if diff := cmp.Diff([]string{"Patient/" + patID}, inc); diff != "" {
			t.Errorf("included (-want +got):\n%s", diff)
		}
		if len(bundleIDs(t, b, "match")) != 10 {
			t.Errorf("want a full page of 10 matches")
		}
	})
	t.Run("patient revincludes its encounters", func(t *testing.T) {
		b := e.do("GET", "Patient?_id="+patID+"&_revinclude=Encounter:patient", nil).json(t)
		want := expect("Encounter", encounters, func(m map[string]any) bool { return str(m, "subject", "reference") == "Patient/"+patID })
		if diff := cmp.Diff(want, sorted(bundleIDs(t, b, "include"))); diff != "" {
			t.Errorf("revincluded (-want +got):\n%s", diff)
		}
	})
	t.Run("_summary=count and _total", func(t *testing.T) {
		b := e.do("GET", "Observation?code=8302-2&_summary=count", nil).json(t)
		want := len(expect("Observation", observations, func(m map[string]any) bool { return hasCode(m, "http://loinc.org", "8302-2") }))
		if got := int(b["total"].(float64)); got != want {
			t.Errorf("total = %d, want %d", got, want)
		}
		if b["entry"] != nil {
			t.Errorf("_summary=count returned entries")
		}
	})
	t.Run("POST _search with a form body", func(t *testing.T) {
		r := e.do("POST", "Patient/_search", []byte("birthdate="+birth), "Content-Type", "application/x-www-form-urlencoded")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		want := expect("Patient", patients, func(m map[string]any) bool { return m["birthDate"] == birth })
		if diff := cmp.Diff(want, sorted(bundleIDs(t, r.json(t), "match"))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		r = e.do("POST", "Patient/_search?gender=male", []byte("birthdate="+birth), "Content-Type", "application/x-www-form-urlencoded")
		if r.status != 400 {
			t.Errorf("parameters in both body and URL: status %d, want 400", r.status)
		}
	})
	t.Run("_lastUpdated covers the import", func(t *testing.T) {
		b := e.do("GET", "Patient?_lastUpdated=ge2000-01-01&_summary=count", nil).json(t)
		if got := int(b["total"].(float64)); got != len(patients) {
			t.Errorf("total = %d, want %d", got, len(patients))
		}
		b = e.do("GET", fmt.Sprintf("Patient?_lastUpdated=gt%d&_summary=count", time.Now().Year()+1), nil).json(t)
		if got := int(b["total"].(float64)); got != 0 {
			t.Errorf("future _lastUpdated total = %d, want 0", got)
		}
	})
	t.Run("unknown parameters: lenient by default, error when strict", func(t *testing.T) {
		if r := e.do("GET", "Patient?foo=bar&_count=1", nil); r.status != 200 {
			t.Errorf("lenient: status %d", r.status)
		}
		r := e.do("GET", "Patient?foo=bar", nil, "Prefer", "handling=strict")
		if r.status != 400 || r.json(t)["resourceType"] != "OperationOutcome" {
			t.Errorf("strict: status %d %s, want 400 OperationOutcome", r.status, r.body)
		}
	})
	t.Run("bad values are 400", func(t *testing.T) {
		for _, q := range []string{"Patient?birthdate=notadate", "Patient?_count=x", "Patient?_sort=link", "Observation?value-quantity=gtfive", "Patient?_page=%25%25"} {
			if r := e.do("GET", q, nil); r.status != 400 {
				t.Errorf("%s: status %d, want 400", q, r.status)
			}
		}
	})
}
