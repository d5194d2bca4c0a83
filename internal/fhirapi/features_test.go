package fhirapi_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// selfLink returns the self link of a Bundle.
func selfLink(t *testing.T, b map[string]any) string {
	t.Helper()
	for _, l := range b["link"].([]any) {
		lm := l.(map[string]any)
		if lm["relation"] == "self" {
			return lm["url"].(string)
		}
	}
	t.Fatalf("no self link in %v", b["link"])
	return ""
}

// outcomeIssues returns the issues of the OperationOutcome entries (search mode "outcome").
func outcomeIssues(b map[string]any) []map[string]any {
	var out []map[string]any
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		em := e.(map[string]any)
		s, _ := em["search"].(map[string]any)
		if s == nil || s["mode"] != "outcome" {
			continue
		}
		for _, is := range em["resource"].(map[string]any)["issue"].([]any) {
			out = append(out, is.(map[string]any))
		}
	}
	return out
}

// definitionElements reads, from the R4 definitions themselves, the top-level elements of a
// resource type that are in the summary and that are mandatory.
func definitionElements(t *testing.T, typ string) (summary, mandatory map[string]bool) {
	t.Helper()
	defs, err := loadDefinitions(testenv.SharedDir(t))
	if err != nil {
		t.Fatal(err)
	}
	summary, mandatory = map[string]bool{}, map[string]bool{}
	for _, el := range defs[typ] {
		name, ok := strings.CutPrefix(el.Path, typ+".")
		if !ok || strings.Contains(name, ".") {
			continue
		}
		name = strings.TrimSuffix(name, "[x]")
		if el.IsSummary {
			summary[name] = true
		}
		if el.Min > 0 {
			mandatory[name] = true
		}
	}
	if len(summary) == 0 {
		t.Fatalf("no StructureDefinition %s in the definitions", typ)
	}
	return summary, mandatory
}

type defElement struct {
	Path      string `json:"path"`
	Min       int    `json:"min"`
	IsSummary bool   `json:"isSummary"`
}

// loadDefinitions decodes the resource StructureDefinitions once per test process.
var loadDefinitions = func() func(shared string) (map[string][]defElement, error) {
	var once sync.Once
	var defs map[string][]defElement
	var err error
	return func(shared string) (map[string][]defElement, error) {
		once.Do(func() {
			var f *os.File
			if f, err = os.Open(filepath.Join(shared, "fhir-r4", "profiles-resources.json.gz")); err != nil {
				return
			}
			defer f.Close()
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(f); err != nil {
				return
			}
			var b struct {
				Entry []struct {
					Resource struct {
						ResourceType string `json:"resourceType"`
						ID           string `json:"id"`
						Snapshot     struct {
							Element []defElement `json:"element"`
						} `json:"snapshot"`
					} `json:"resource"`
				} `json:"entry"`
			}
			if err = json.NewDecoder(zr).Decode(&b); err != nil {
				return
			}
			defs = map[string][]defElement{}
			for _, e := range b.Entry {
				if e.Resource.ResourceType == "StructureDefinition" {
					defs[e.Resource.ID] = e.Resource.Snapshot.Element
				}
			}
		})
		return defs, err
	}
}()

// elementOf maps a JSON member name to its element name: "valueQuantity" to "value" when the
// type has a choice element "value", "_birthDate" to "birthDate".
func elementOf(key string, elements map[string]bool) string {
	key = strings.TrimPrefix(key, "_")
	if elements[key] {
		return key
	}
	for e := range elements {
		if strings.HasPrefix(key, e) && len(key) > len(e) && key[len(e)] >= 'A' && key[len(e)] <= 'Z' {
			return e
		}
	}
	return key
}

func hasSubsettedTag(r map[string]any) bool {
	meta, _ := r["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, tg := range tags {
		if tg.(map[string]any)["code"] == "SUBSETTED" {
			return true
		}
	}
	return false
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSearchFeatures runs search features over the imported synthea sample, each against an
// expectation computed from the NDJSON or the R4 definitions.
func TestSearchFeatures(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "data", "synthea")
	e := newEnv(t)
	e.importDir(dir)
	patients := loadNDJSON(t, dir, "Patient")
	byID := map[string]map[string]any{}
	for _, p := range patients {
		byID[p["id"].(string)] = p
	}
	born := func(before string) []string {
		var out []string
		for _, p := range patients {
			if str(p, "birthDate") < before {
				out = append(out, "Patient/"+p["id"].(string))
			}
		}
		return sorted(out)
	}

	t.Run("unsupported parameters are left out of self and reported", func(t *testing.T) {
		cases := []struct {
			name, param, value string
		}{
			{"unknown parameter", "foo", "bar"},
			{"unsupported token modifier", "gender:in", "http://hl7.org/fhir/ValueSet/administrative-gender"},
			{"unsupported identifier modifier", "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"},
			{"unsupported result parameter", "_contained", "true"},
			{"unsupported format", "_format", "xml"},
			{"nested _elements", "_elements", "name.family"},
			{"unsupported reference modifier", "general-practitioner:below", "Practitioner/x"},
			{"text search on the narrative", "_text", "Synthea"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				q := "Patient?birthdate=lt1960&" + url.QueryEscape(tc.param) + "=" + url.QueryEscape(tc.value)
				r := e.do("GET", q, nil)
				if r.status != 200 {
					t.Fatalf("lenient: status %d %s", r.status, r.body)
				}
				b := r.json(t)
				self := selfLink(t, b)
				if !strings.Contains(self, "birthdate=lt1960") || strings.Contains(self, url.QueryEscape(tc.param)+"=") && tc.param != "birthdate" ||
					strings.Contains(self, url.QueryEscape(tc.value)) {
					t.Errorf("self link %s: want the applied birthdate=lt1960 and not %s=%s", self, tc.param, tc.value)
				}
				issues := outcomeIssues(b)
				if len(issues) != 1 || issues[0]["code"] != "not-supported" || issues[0]["severity"] != "warning" ||
					!strings.Contains(issues[0]["diagnostics"].(string), tc.param+"="+tc.value) {
					t.Errorf("outcome entry issues = %v, want one not-supported warning naming %s=%s", issues, tc.param, tc.value)
				}
				if diff := cmp.Diff(born("1960"), sorted(bundleIDs(t, b, "match"))); diff != "" {
					t.Errorf("matches are those of the applied parameters (-want +got):\n%s", diff)
				}
				if r := e.do("GET", q, nil, "Prefer", "handling=strict"); r.status != 400 || issueCode(t, r) != "not-supported" {
					t.Errorf("strict: status %d %s, want 400 not-supported", r.status, r.body)
				}
			})
		}
	})

	t.Run("_summary=true keeps the summary elements of the definitions", func(t *testing.T) {
		summary, _ := definitionElements(t, "Patient")
		b := e.do("GET", "Patient?_summary=true&_count=50", nil).json(t)
		ids := bundleIDs(t, b, "match")
		if len(ids) != len(patients) {
			t.Fatalf("got %d patients, want %d", len(ids), len(patients))
		}
		for _, en := range b["entry"].([]any) {
			res := en.(map[string]any)["resource"].(map[string]any)
			orig := byID[res["id"].(string)]
			var want []string
			for k := range orig {
				if k == "resourceType" || summary[elementOf(k, summary)] {
					want = append(want, k)
				}
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, keysOf(res)); diff != "" {
				t.Fatalf("Patient/%s members (-want +got):\n%s", res["id"], diff)
			}
			if !hasSubsettedTag(res) {
				t.Fatalf("Patient/%s is not tagged SUBSETTED", res["id"])
			}
		}
	})

	t.Run("_summary=text, data and _elements", func(t *testing.T) {
		_, mandatory := definitionElements(t, "Patient")
		modes := []struct {
			query string
			keep  func(k string) bool
		}{
			{"_summary=text", func(k string) bool { return k == "text" || k == "id" || k == "meta" || mandatory[k] }},
			{"_summary=data", func(k string) bool { return k != "text" }},
			{"_elements=gender,birthDate", func(k string) bool {
				return k == "gender" || k == "birthDate" || k == "id" || k == "meta" || mandatory[k]
			}},
			{"_elements=Patient.name", func(k string) bool { return k == "name" || k == "id" || k == "meta" || mandatory[k] }},
		}
		for _, m := range modes {
			b := e.do("GET", "Patient?birthdate=lt1960&"+m.query, nil).json(t)
			if !strings.Contains(selfLink(t, b), url.QueryEscape(strings.SplitN(m.query, "=", 2)[1])) {
				t.Errorf("%s: self link %s does not carry it", m.query, selfLink(t, b))
			}
			n := 0
			for _, en := range b["entry"].([]any) {
				res := en.(map[string]any)["resource"].(map[string]any)
				orig := byID[res["id"].(string)]
				want := []string{"meta"} // meta is always present: the server's versionId and lastUpdated
				for k := range orig {
					if k != "meta" && (k == "resourceType" || m.keep(k)) {
						want = append(want, k)
					}
				}
				sort.Strings(want)
				if diff := cmp.Diff(want, keysOf(res)); diff != "" {
					t.Errorf("%s: Patient/%s members (-want +got):\n%s", m.query, res["id"], diff)
				}
				if !hasSubsettedTag(res) {
					t.Errorf("%s: Patient/%s is not tagged SUBSETTED", m.query, res["id"])
				}
				n++
			}
			if n != len(born("1960")) {
				t.Errorf("%s: %d matches, want %d", m.query, n, len(born("1960")))
			}
		}
		b := e.do("GET", "Patient?birthdate=lt1960&_summary=false", nil).json(t)
		for _, en := range b["entry"].([]any) {
			res := en.(map[string]any)["resource"].(map[string]any)
			if hasSubsettedTag(res) || res["text"] == nil {
				t.Errorf("_summary=false changed Patient/%s", res["id"])
			}
		}
	})

	t.Run("_summary and _elements on a read", func(t *testing.T) {
		summary, _ := definitionElements(t, "Patient")
		p := patients[2]
		r := e.do("GET", "Patient/"+p["id"].(string)+"?_summary=true", nil)
		res := r.json(t)
		var want []string
		for k := range p {
			if k == "resourceType" || summary[elementOf(k, summary)] {
				want = append(want, k)
			}
		}
		sort.Strings(want)
		if diff := cmp.Diff(want, keysOf(res)); diff != "" || !hasSubsettedTag(res) {
			t.Errorf("read with _summary=true (-want +got):\n%s (tagged %v)", diff, hasSubsettedTag(res))
		}
		res = e.do("GET", "Patient/"+p["id"].(string)+"/_history/1?_elements=gender", nil).json(t)
		if res["gender"] != p["gender"] || res["name"] != nil || !hasSubsettedTag(res) {
			t.Errorf("vread with _elements=gender: %v", keysOf(res))
		}
		if r := e.do("GET", "Patient/"+p["id"].(string)+"?_summary=count", nil); r.status != 400 {
			t.Errorf("read with _summary=count: %d, want 400", r.status)
		}
	})

	t.Run("_summary=true prunes backbone elements", func(t *testing.T) {
		// Observation.component is a summary element whose children code and value[x] are summary
		// and whose referenceRange, interpretation... are not.
		b := e.do("GET", "Observation?code=http://loinc.org|55284-4&_summary=true&_count=5", nil).json(t)
		n := 0
		for _, en := range b["entry"].([]any) {
			res := en.(map[string]any)["resource"].(map[string]any)
			for _, c := range res["component"].([]any) {
				for k := range c.(map[string]any) {
					if k != "code" && !strings.HasPrefix(k, "value") && k != "modifierExtension" {
						t.Errorf("component member %s survived _summary=true", k)
					}
				}
				n++
			}
			if res["category"] != nil {
				t.Errorf("category (not a summary element) survived _summary=true")
			}
		}
		if n == 0 {
			t.Fatal("no blood pressure components in the sample")
		}
	})

	// All resources of the sample, and which patients each references anywhere in its JSON: in
	// the sample every such resource references the patient through a compartment parameter too.
	all := map[string]map[string]any{}
	refs := map[string]map[string]bool{} // "Type/id" -> patient ids referenced
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range entries {
		typ := strings.TrimSuffix(f.Name(), ".ndjson")
		for _, m := range loadNDJSON(t, dir, typ) {
			key := typ + "/" + m["id"].(string)
			all[key] = m
			raw, _ := json.Marshal(m)
			for _, p := range patients {
				if strings.Contains(string(raw), `"reference":"Patient/`+p["id"].(string)+`"`) {
					if refs[key] == nil {
						refs[key] = map[string]bool{}
					}
					refs[key][p["id"].(string)] = true
				}
			}
		}
	}
	compartment := func(pid string, keep func(key string) bool) []string {
		out := []string{"Patient/" + pid}
		for key, ps := range refs {
			if ps[pid] && (keep == nil || keep(key)) {
				out = append(out, key)
			}
		}
		if keep != nil && !keep("Patient/"+pid) {
			out = out[1:]
		}
		return sorted(out)
	}
	pid := patients[3]["id"].(string)

	t.Run("compartment search", func(t *testing.T) {
		isType := func(typ string) func(string) bool {
			return func(k string) bool { return strings.HasPrefix(k, typ+"/") }
		}
		want := compartment(pid, isType("Observation"))
		if diff := cmp.Diff(want, sorted(e.searchAll(t, "Patient/"+pid+"/Observation?_count=50"))); diff != "" {
			t.Errorf("Patient/%s/Observation (-want +got):\n%s", pid, diff)
		}
		want = compartment(pid, func(k string) bool {
			if !strings.HasPrefix(k, "Encounter/") {
				return false
			}
			return strings.HasPrefix(str(all[k], "period", "start"), "2015")
		})
		if diff := cmp.Diff(want, sorted(e.searchAll(t, "Patient/"+pid+"/Encounter?date=2015"))); diff != "" {
			t.Errorf("Patient/%s/Encounter?date=2015 (-want +got):\n%s", pid, diff)
		}
		if diff := cmp.Diff(compartment(pid, nil), sorted(e.searchAll(t, "Patient/"+pid+"/*?_count=100"))); diff != "" {
			t.Errorf("Patient/%s/* (-want +got):\n%s", pid, diff)
		}
		if got := e.searchAll(t, "Patient/"+pid+"/Organization"); len(got) != 0 {
			t.Errorf("organizations in a patient compartment: %v", got)
		}
		if r := e.do("GET", "Patient/no-such-patient/Observation", nil); r.status != 404 {
			t.Errorf("compartment of an unknown patient: %d, want 404", r.status)
		}
	})

	t.Run("Patient/id/$everything", func(t *testing.T) {
		if diff := cmp.Diff(compartment(pid, nil), sorted(e.searchAll(t, "Patient/"+pid+"/$everything?_count=37"))); diff != "" {
			t.Errorf("$everything (-want +got):\n%s", diff)
		}
		want := compartment(pid, func(k string) bool {
			return strings.HasPrefix(k, "Condition/") || strings.HasPrefix(k, "Immunization/")
		})
		if diff := cmp.Diff(want, sorted(e.searchAll(t, "Patient/"+pid+"/$everything?_type=Condition,Immunization"))); diff != "" {
			t.Errorf("$everything?_type=Condition,Immunization (-want +got):\n%s", diff)
		}
		if got := e.searchAll(t, "Patient/"+pid+"/$everything?_since=2999-01-01T00:00:00Z"); len(got) != 0 {
			t.Errorf("$everything?_since in the future: %v", got)
		}
		if got := e.searchAll(t, "Patient/"+pid+"/$everything?_since=2000-01-01T00:00:00Z"); len(got) != len(compartment(pid, nil)) {
			t.Errorf("$everything?_since before the import: %d, want %d", len(got), len(compartment(pid, nil)))
		}
		r := e.do("POST", "Patient/"+pid+"/$everything", []byte(`{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Patient"}]}`))
		if got := bundleIDs(t, r.json(t), "match"); len(got) != 1 || got[0] != "Patient/"+pid {
			t.Errorf("POST $everything with a Parameters body: %d %v", r.status, got)
		}
		if r := e.do("GET", "Patient/"+pid+"/$everything?start=2010", nil); r.status != 400 {
			t.Errorf("$everything?start: %d, want 400 (not applied)", r.status)
		}
		if r := e.do("GET", "Patient/nobody/$everything", nil); r.status != 404 {
			t.Errorf("$everything of an unknown patient: %d, want 404", r.status)
		}
	})

	t.Run("Patient/$everything", func(t *testing.T) {
		var want []string
		for key, ps := range refs {
			if len(ps) > 0 {
				want = append(want, key)
			}
		}
		for _, p := range patients {
			want = append(want, "Patient/"+p["id"].(string))
		}
		keep := map[string]bool{"Patient": true, "Encounter": true, "Condition": true, "AllergyIntolerance": true, "CarePlan": true}
		var wantSome []string
		for _, k := range want {
			if keep[strings.Split(k, "/")[0]] {
				wantSome = append(wantSome, k)
			}
		}
		if diff := cmp.Diff(sorted(wantSome), sorted(e.searchAll(t, "Patient/$everything?_type=Patient,Encounter,Condition,AllergyIntolerance,CarePlan"))); diff != "" {
			t.Errorf("Patient/$everything (-want +got):\n%s", diff)
		}
	})

	t.Run("system search", func(t *testing.T) {
		b := e.do("GET", "?_type=Patient,Goal&_summary=count", nil).json(t)
		if got, want := int(b["total"].(float64)), len(patients)+len(loadNDJSON(t, dir, "Goal")); got != want {
			t.Errorf("_type=Patient,Goal total = %d, want %d", got, want)
		}
		if diff := cmp.Diff([]string{"Patient/" + pid}, e.searchAll(t, "?_id="+pid)); diff != "" {
			t.Errorf("?_id across every type (-want +got):\n%s", diff)
		}
		var want []string
		for key, m := range all {
			if (strings.HasPrefix(key, "Goal/") || strings.HasPrefix(key, "CarePlan/")) && refs[key][pid] && m != nil {
				want = append(want, key)
			}
		}
		got := e.searchAll(t, "?_type=Goal,CarePlan&patient=Patient/"+pid+"&_count=3")
		if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
			t.Errorf("_type=Goal,CarePlan&patient (-want +got):\n%s", diff)
		}
		// family is a Patient parameter only: searching Goal with it would ignore it.
		b = e.do("GET", "?_type=Patient,Goal&family=x&_count=1", nil).json(t)
		if len(outcomeIssues(b)) != 1 || strings.Contains(selfLink(t, b), "family") {
			t.Errorf("a parameter of one of the types: outcome %v, self %s", outcomeIssues(b), selfLink(t, b))
		}
		if r := e.do("GET", "?_type=Patient,Goal&_sort=_id", nil, "Prefer", "handling=strict"); r.status != 400 {
			t.Errorf("_sort across types, strict: %d, want 400", r.status)
		}
	})

	t.Run("system history", func(t *testing.T) {
		seen := map[string]bool{}
		next := "_history?_count=100"
		for pages := 0; next != ""; pages++ {
			b := e.do("GET", next, nil).json(t)
			for _, en := range b["entry"].([]any) {
				r := en.(map[string]any)["resource"].(map[string]any)
				key := r["resourceType"].(string) + "/" + r["id"].(string)
				if seen[key] {
					t.Fatalf("%s twice in the system history", key)
				}
				seen[key] = true
			}
			next = nextLink(b)
			if pages > 200 {
				t.Fatal("too many pages")
			}
		}
		if len(seen) != len(all) {
			t.Errorf("system history has %d resources, want %d", len(seen), len(all))
		}
		if r := e.do("GET", "_history?_at=2020", nil); r.status != 400 {
			t.Errorf("_history?_at: %d, want 400 (not applied)", r.status)
		}
	})

	// Reference graphs, from the NDJSON: what references what.
	refsOf := func(m map[string]any, field string) []string {
		var out []string
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if r, ok := x["reference"].(string); ok {
					out = append(out, r)
				}
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(m[field])
		return out
	}
	codes := func(m map[string]any, path ...string) []string {
		var out []string
		var cc any = m
		for _, p := range path {
			cc, _ = cc.(map[string]any)[p]
		}
		ccm, _ := cc.(map[string]any)
		if ccm == nil {
			return nil
		}
		for _, c := range ccm["coding"].([]any) {
			cm := c.(map[string]any)
			out = append(out, cm["system"].(string)+"|"+cm["code"].(string))
		}
		return out
	}
	of := func(prefix string) []map[string]any {
		var out []map[string]any
		for k, m := range all {
			if strings.HasPrefix(k, prefix+"/") {
				out = append(out, m)
			}
		}
		return out
	}
	check := func(t *testing.T, query string, want []string) {
		t.Helper()
		if len(want) == 0 {
			t.Fatalf("the sample gives no expected match for %s", query)
		}
		if diff := cmp.Diff(sorted(want), sorted(e.searchAll(t, query))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", query, diff)
		}
	}

	t.Run("_has", func(t *testing.T) {
		const a1c = "http://loinc.org|4548-4" // hemoglobin A1c, for some of the patients
		var want []string
		for _, o := range of("Observation") {
			if slices.Contains(codes(o, "code"), a1c) {
				want = append(want, strings.TrimPrefix(str(o, "subject", "reference"), "x"))
			}
		}
		want = dedupe(want)
		if len(want) == len(patients) {
			t.Fatalf("every patient has %s: the test would not tell", a1c)
		}
		check(t, "Patient?_has:Observation:subject:code="+url.QueryEscape(a1c), want)
		// Nested: patients with an encounter that has a body height observation over 180 cm.
		encs := map[string]bool{}
		for _, o := range of("Observation") {
			q, _ := o["valueQuantity"].(map[string]any)
			if slices.Contains(codes(o, "code"), "http://loinc.org|8302-2") && q != nil && q["value"].(float64) > 180 {
				encs[str(o, "encounter", "reference")] = true
			}
		}
		want = nil
		for _, en := range of("Encounter") {
			if encs["Encounter/"+en["id"].(string)] {
				want = append(want, str(en, "subject", "reference"))
			}
		}
		check(t, "Patient?_has:Encounter:subject:_has:Observation:encounter:value-quantity="+url.QueryEscape("gt180|http://unitsofmeasure.org|cm"), dedupe(want))
	})

	t.Run("chain of three links", func(t *testing.T) {
		org := all[str(of("Encounter")[0], "serviceProvider", "reference")]
		name := org["name"].(string)
		orgs := map[string]bool{}
		for _, o := range of("Organization") {
			if strings.HasPrefix(strings.ToLower(o["name"].(string)), strings.ToLower(name[:6])) {
				orgs["Organization/"+o["id"].(string)] = true
			}
		}
		encs := map[string]bool{}
		for _, en := range of("Encounter") {
			if orgs[str(en, "serviceProvider", "reference")] {
				encs["Encounter/"+en["id"].(string)] = true
			}
		}
		var want []string
		for _, d := range of("DiagnosticReport") {
			for _, r := range refsOf(d, "result") {
				if encs[str(all[r], "encounter", "reference")] {
					want = append(want, "DiagnosticReport/"+d["id"].(string))
					break
				}
			}
		}
		check(t, "DiagnosticReport?result:Observation.encounter:Encounter.service-provider:Organization.name="+url.QueryEscape(name[:6]), want)
	})

	t.Run("composite parameters", func(t *testing.T) {
		var tall, systolic, mixed []string
		for _, o := range of("Observation") {
			key := "Observation/" + o["id"].(string)
			if q, _ := o["valueQuantity"].(map[string]any); q != nil && slices.Contains(codes(o, "code"), "http://loinc.org|8302-2") && q["value"].(float64) > 180 {
				tall = append(tall, key)
			}
			comps, _ := o["component"].([]any)
			sys, dia := false, false
			for _, c := range comps {
				cm := c.(map[string]any)
				q, _ := cm["valueQuantity"].(map[string]any)
				if q == nil {
					continue
				}
				v := q["value"].(float64)
				if slices.Contains(codes(cm, "code"), "http://loinc.org|8480-6") && v > 130 {
					sys = true
				}
				if slices.Contains(codes(cm, "code"), "http://loinc.org|8462-4") && v > 130 {
					dia = true
				}
			}
			if sys {
				systolic = append(systolic, key)
			}
			if dia {
				mixed = append(mixed, key)
			}
		}
		check(t, "Observation?code-value-quantity="+url.QueryEscape("http://loinc.org|8302-2$gt180"), tall)
		check(t, "Observation?component-code-value-quantity="+url.QueryEscape("http://loinc.org|8480-6$gt130"), systolic)
		check(t, "Observation?combo-code-value-quantity="+url.QueryEscape("8480-6$gt130"), systolic)
		// A systolic over 130 does not make the diastolic of the same Observation over 130.
		if got := e.searchAll(t, "Observation?component-code-value-quantity="+url.QueryEscape("http://loinc.org|8462-4$gt130")); len(got) != len(mixed) {
			t.Errorf("diastolic over 130: %d matches, want %d", len(got), len(mixed))
		}
	})

	t.Run("_include:iterate, _revinclude:iterate and _include=*", func(t *testing.T) {
		o := of("Observation")[0]
		enc := str(o, "encounter", "reference")
		want := []string{enc, str(all[enc], "serviceProvider", "reference")}
		b := e.do("GET", "Observation?_id="+o["id"].(string)+"&_include=Observation:encounter&_include:iterate=Encounter:service-provider", nil).json(t)
		if diff := cmp.Diff(sorted(want), sorted(bundleIDs(t, b, "include"))); diff != "" {
			t.Errorf("_include:iterate (-want +got):\n%s", diff)
		}
		if r := e.do("GET", "Observation?_id="+o["id"].(string)+"&_include=Observation:encounter&_include=Encounter:service-provider", nil); r.status != 400 {
			t.Errorf("_include of another type without :iterate: %d, want 400", r.status)
		}
		encs := map[string]bool{}
		var rev []string
		for _, en := range of("Encounter") {
			if str(en, "subject", "reference") == "Patient/"+pid {
				encs["Encounter/"+en["id"].(string)] = true
				rev = append(rev, "Encounter/"+en["id"].(string))
			}
		}
		for _, ob := range of("Observation") {
			if encs[str(ob, "encounter", "reference")] {
				rev = append(rev, "Observation/"+ob["id"].(string))
			}
		}
		b = e.do("GET", "Patient?_id="+pid+"&_revinclude=Encounter:patient&_revinclude:iterate=Observation:encounter", nil).json(t)
		got := bundleIDs(t, b, "include")
		if len(rev) > 1000 {
			t.Fatalf("the sample patient has too much to include (%d)", len(rev))
		}
		if diff := cmp.Diff(sorted(rev), sorted(got)); diff != "" {
			t.Errorf("_revinclude:iterate (-want +got):\n%s", diff)
		}
		en := of("Encounter")[0]
		var star []string
		for _, f := range []string{"subject", "serviceProvider", "participant", "location"} {
			for _, r := range refsOf(en, f) {
				if all[r] != nil {
					star = append(star, r)
				}
			}
		}
		b = e.do("GET", "Encounter?_id="+en["id"].(string)+"&_include=*", nil).json(t)
		if diff := cmp.Diff(sorted(dedupe(star)), sorted(bundleIDs(t, b, "include"))); diff != "" {
			t.Errorf("_include=* (-want +got):\n%s", diff)
		}
	})

	t.Run("ap prefix and string :text", func(t *testing.T) {
		var want []string
		for _, o := range of("Observation") {
			q, _ := o["valueQuantity"].(map[string]any)
			if q != nil && slices.Contains(codes(o, "code"), "http://loinc.org|8302-2") && q["value"].(float64) >= 153 && q["value"].(float64) <= 187 {
				want = append(want, "Observation/"+o["id"].(string))
			}
		}
		check(t, "Observation?code=http://loinc.org|8302-2&value-quantity="+url.QueryEscape("ap170|http://unitsofmeasure.org|cm"), want)
		given := patients[0]["name"].([]any)[0].(map[string]any)["given"].([]any)[0].(string)
		word := strings.ToLower(given[:3])
		want = nil
		for _, p := range patients {
			hit := false
			for _, n := range p["name"].([]any) {
				nm := n.(map[string]any)
				parts := []any{nm["family"]}
				if g, ok := nm["given"].([]any); ok {
					parts = append(parts, g...)
				}
				if pr, ok := nm["prefix"].([]any); ok {
					parts = append(parts, pr...)
				}
				for _, part := range parts {
					for _, w := range strings.Fields(strings.ToLower(fmt.Sprint(part))) {
						if strings.HasPrefix(w, word) {
							hit = true
						}
					}
				}
			}
			if hit {
				want = append(want, "Patient/"+p["id"].(string))
			}
		}
		check(t, "Patient?name:text="+word, want)
	})
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
