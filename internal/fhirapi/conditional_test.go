package fhirapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fhirlake/fhirlake/internal/config"
)

// mrnPatient is a Patient with one MRN identifier.
func mrnPatient(mrn, gender string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":%q}],"gender":%q}`, mrn, gender)
}

// withMRN returns the ids of the current patients with an MRN, by a search.
func (e *env) withMRN(t *testing.T, mrn string) []string {
	t.Helper()
	var ids []string
	for _, id := range e.searchAll(t, "Patient?identifier="+url.QueryEscape("urn:mrn|"+mrn)) {
		ids = append(ids, strings.TrimPrefix(id, "Patient/"))
	}
	return ids
}

func (e *env) mustCreate(t *testing.T, body string) string {
	t.Helper()
	r := e.do("POST", "Patient", []byte(body))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

func TestConditionalInteractions(t *testing.T) {
	e := newEnvWith(t, func(c *config.Config) { c.ConditionalDeleteMax = 3 })
	crit := func(mrn string) string { return "identifier=" + url.QueryEscape("urn:mrn|"+mrn) }

	t.Run("create with If-None-Exist: 0, 1 and many matches", func(t *testing.T) {
		r := e.do("POST", "Patient", []byte(mrnPatient("c1", "female")), "If-None-Exist", crit("c1"))
		if r.status != http.StatusCreated {
			t.Fatalf("no match: %d %s, want 201", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		r = e.do("POST", "Patient", []byte(mrnPatient("c1", "male")), "If-None-Exist", crit("c1"))
		if r.status != http.StatusOK || r.json(t)["id"] != id || r.json(t)["gender"] != "female" {
			t.Fatalf("one match: %d %s, want 200 with the existing Patient/%s", r.status, r.body, id)
		}
		if got := e.withMRN(t, "c1"); len(got) != 1 {
			t.Errorf("patients with mrn c1: %v, want one", got)
		}
		e.mustCreate(t, mrnPatient("c2", "female"))
		e.mustCreate(t, mrnPatient("c2", "male"))
		r = e.do("POST", "Patient", []byte(mrnPatient("c2", "other")), "If-None-Exist", "Patient?"+crit("c2"))
		if r.status != http.StatusPreconditionFailed || issueCode(t, r) != "multiple-matches" {
			t.Errorf("two matches: %d %s, want 412 multiple-matches", r.status, r.body)
		}
		if got := e.withMRN(t, "c2"); len(got) != 2 {
			t.Errorf("patients with mrn c2: %v, want the two", got)
		}
		r = e.do("POST", "Patient", []byte(mrnPatient("c3", "other")), "If-None-Exist", "foo=bar")
		if r.status != 400 {
			t.Errorf("criteria with an unknown parameter: %d, want 400 (it would match everything)", r.status)
		}
	})

	t.Run("concurrent conditional creates make one resource", func(t *testing.T) {
		const n = 8
		statuses := make([]int, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do("POST", "Patient", []byte(mrnPatient("race", "female")), "If-None-Exist", crit("race"))
				statuses[i] = r.status
				if r.status < 300 {
					ids[i] = r.json(t)["id"].(string)
				}
			}()
		}
		wg.Wait()
		created := 0
		for i, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Errorf("request %d: status %d", i, s)
			}
			if ids[i] != ids[0] {
				t.Errorf("request %d answered Patient/%s, request 0 Patient/%s", i, ids[i], ids[0])
			}
		}
		if got := e.withMRN(t, "race"); created != 1 || len(got) != 1 {
			t.Errorf("%d creates answered 201 and %d patients exist, want 1 and 1", created, len(got))
		}
	})

	t.Run("update PUT [type]?criteria: 0, 1 and many matches", func(t *testing.T) {
		r := e.do("PUT", "Patient?"+crit("u1"), []byte(mrnPatient("u1", "female")))
		if r.status != http.StatusCreated {
			t.Fatalf("no match: %d %s, want 201", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		r = e.do("PUT", "Patient?"+crit("u1"), []byte(mrnPatient("u1", "male")))
		if r.status != http.StatusOK || r.json(t)["id"] != id || r.header.Get("ETag") != `W/"2"` {
			t.Fatalf("one match: %d %s %s, want 200 version 2 of Patient/%s", r.status, r.header.Get("ETag"), r.body, id)
		}
		if got := e.withMRN(t, "u1"); len(got) != 1 || got[0] != id {
			t.Errorf("patients with mrn u1: %v, want [%s]", got, id)
		}
		withID := strings.Replace(mrnPatient("u1", "other"), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"not-the-match",`, 1)
		if r := e.do("PUT", "Patient?"+crit("u1"), []byte(withID)); r.status != 400 {
			t.Errorf("body id other than the match's: %d, want 400", r.status)
		}
		if r := e.do("PUT", "Patient?"+crit("u1"), []byte(mrnPatient("u1", "other")), "If-Match", `W/"1"`); r.status != http.StatusPreconditionFailed {
			t.Errorf("stale If-Match on the match: %d, want 412", r.status)
		}
		given := strings.Replace(mrnPatient("u2", "other"), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"given-u2",`, 1)
		if r := e.do("PUT", "Patient?"+crit("u2"), []byte(given)); r.status != http.StatusCreated || r.json(t)["id"] != "given-u2" {
			t.Errorf("no match, body with an id: %d %s, want 201 with that id", r.status, r.body)
		}
		e.mustCreate(t, mrnPatient("u3", "female"))
		e.mustCreate(t, mrnPatient("u3", "male"))
		if r := e.do("PUT", "Patient?"+crit("u3"), []byte(mrnPatient("u3", "other"))); r.status != http.StatusPreconditionFailed {
			t.Errorf("two matches: %d, want 412", r.status)
		}
	})

	t.Run("patch PATCH [type]?criteria: 0, 1 and many matches", func(t *testing.T) {
		id := e.mustCreate(t, mrnPatient("p1", "female"))
		patch := []byte(`[{"op":"replace","path":"/gender","value":"male"}]`)
		r := e.do("PATCH", "Patient?"+crit("p1"), patch, "Content-Type", "application/json-patch+json")
		if r.status != 200 || r.json(t)["id"] != id || r.json(t)["gender"] != "male" {
			t.Fatalf("one match: %d %s", r.status, r.body)
		}
		if r := e.do("PATCH", "Patient?"+crit("nobody"), patch, "Content-Type", "application/json-patch+json"); r.status != 404 {
			t.Errorf("no match: %d, want 404", r.status)
		}
		e.mustCreate(t, mrnPatient("p2", "female"))
		e.mustCreate(t, mrnPatient("p2", "female"))
		if r := e.do("PATCH", "Patient?"+crit("p2"), patch, "Content-Type", "application/json-patch+json"); r.status != http.StatusPreconditionFailed {
			t.Errorf("two matches: %d, want 412", r.status)
		}
	})

	t.Run("delete DELETE [type]?criteria: 0, 1, several and too many matches", func(t *testing.T) {
		id := e.mustCreate(t, mrnPatient("d1", "female"))
		if r := e.do("DELETE", "Patient?"+crit("d1"), nil); r.status != http.StatusNoContent {
			t.Fatalf("one match: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "Patient/"+id, nil); r.status != http.StatusGone {
			t.Errorf("read after the conditional delete: %d, want 410", r.status)
		}
		if r := e.do("DELETE", "Patient?"+crit("d1"), nil); r.status != http.StatusNoContent {
			t.Errorf("no match: %d, want 204", r.status)
		}
		for range 3 {
			e.mustCreate(t, mrnPatient("d3", "male"))
		}
		if r := e.do("DELETE", "Patient?"+crit("d3"), nil); r.status != http.StatusNoContent {
			t.Fatalf("three matches with --conditional-delete-max 3: %d %s", r.status, r.body)
		}
		if got := e.withMRN(t, "d3"); len(got) != 0 {
			t.Errorf("left after deleting all: %v", got)
		}
		for range 4 {
			e.mustCreate(t, mrnPatient("d4", "male"))
		}
		if r := e.do("DELETE", "Patient?"+crit("d4"), nil); r.status != http.StatusPreconditionFailed {
			t.Errorf("four matches over a maximum of 3: %d, want 412", r.status)
		}
		if got := e.withMRN(t, "d4"); len(got) != 4 {
			t.Errorf("a refused conditional delete deleted: %d left, want 4", len(got))
		}
	})

	t.Run("conditional entries and PATCH in a transaction", func(t *testing.T) {
		existing := e.mustCreate(t, mrnPatient("t1", "female"))
		toPatch := e.mustCreate(t, mrnPatient("t2", "female"))
		e.mustCreate(t, mrnPatient("t3", "female"))
		patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/gender","value":"other"}]`))
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":` + mrnPatient("t1", "male") + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"` + crit("t1") + `"}},
		 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","resource":` + mrnPatient("t-new", "male") + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"` + crit("t-new") + `"}},
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},"performer":[{"reference":"urn:uuid:22222222-2222-4222-8222-222222222222"}]},"request":{"method":"POST","url":"Observation"}},
		 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + patch + `"},"request":{"method":"PATCH","url":"Patient/` + toPatch + `"}},
		 {"request":{"method":"DELETE","url":"Patient?` + crit("t3") + `"}},
		 {"resource":` + mrnPatient("t4", "female") + `,"request":{"method":"PUT","url":"Patient?` + crit("t4") + `"}}
		]}`
		r := e.do("POST", "", []byte(tx))
		if r.status != 200 {
			t.Fatalf("transaction: %d %s", r.status, r.body)
		}
		entries := r.json(t)["entry"].([]any)
		statuses := []string{}
		for _, en := range entries {
			statuses = append(statuses, en.(map[string]any)["response"].(map[string]any)["status"].(string))
		}
		want := []string{"200 OK", "201 Created", "201 Created", "200 OK", "204 No Content", "201 Created"}
		if strings.Join(statuses, ",") != strings.Join(want, ",") {
			t.Errorf("statuses %v, want %v", statuses, want)
		}
		if loc := entries[0].(map[string]any)["response"].(map[string]any)["location"]; !strings.HasPrefix(loc.(string), "Patient/"+existing+"/") {
			t.Errorf("the matched conditional create answers %v, want Patient/%s", loc, existing)
		}
		obsLoc := entries[2].(map[string]any)["response"].(map[string]any)["location"].(string)
		obs := e.do("GET", strings.Join(strings.Split(obsLoc, "/")[:2], "/"), nil).json(t)
		if ref := str(obs, "subject", "reference"); ref != "Patient/"+existing {
			t.Errorf("reference to the matched conditional create's fullUrl = %s, want Patient/%s", ref, existing)
		}
		newID := e.withMRN(t, "t-new")
		if len(newID) != 1 || obs["performer"].([]any)[0].(map[string]any)["reference"] != "Patient/"+newID[0] {
			t.Errorf("reference to the created conditional entry = %v, want Patient/%v", obs["performer"], newID)
		}
		if g := e.do("GET", "Patient/"+toPatch, nil).json(t)["gender"]; g != "other" {
			t.Errorf("patched gender = %v", g)
		}
		if got := e.withMRN(t, "t3"); len(got) != 0 {
			t.Errorf("conditional delete in the transaction left %v", got)
		}
		if got := e.withMRN(t, "t1"); len(got) != 1 {
			t.Errorf("patients with mrn t1: %v, want only the existing one", got)
		}
		// A failing entry (a conditional update with two matches) fails all of it.
		e.mustCreate(t, mrnPatient("t5", "female"))
		e.mustCreate(t, mrnPatient("t5", "female"))
		bad := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":` + mrnPatient("t6", "male") + `,"request":{"method":"POST","url":"Patient"}},
		 {"resource":` + mrnPatient("t5", "male") + `,"request":{"method":"PUT","url":"Patient?` + crit("t5") + `"}}]}`
		if r := e.do("POST", "", []byte(bad)); r.status != http.StatusPreconditionFailed {
			t.Errorf("transaction with an ambiguous conditional update: %d %s, want 412", r.status, r.body)
		}
		if got := e.withMRN(t, "t6"); len(got) != 0 {
			t.Errorf("the failed transaction created %v", got)
		}
	})

	t.Run("conditional entries and PATCH in a batch", func(t *testing.T) {
		id := e.mustCreate(t, mrnPatient("b1", "female"))
		patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/gender","value":"male"}]`))
		batch := `{"resourceType":"Bundle","type":"batch","entry":[
		 {"resource":` + mrnPatient("b1", "male") + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"` + crit("b1") + `"}},
		 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + patch + `"},"request":{"method":"PATCH","url":"Patient?` + crit("b1") + `"}},
		 {"resource":{"resourceType":"Binary","contentType":"text/plain","data":"eA=="},"request":{"method":"PATCH","url":"Patient/` + id + `"}},
		 {"request":{"method":"DELETE","url":"Patient?` + crit("nobody") + `"}}
		]}`
		r := e.do("POST", "", []byte(batch))
		if r.status != 200 {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		var statuses []string
		for _, en := range r.json(t)["entry"].([]any) {
			statuses = append(statuses, en.(map[string]any)["response"].(map[string]any)["status"].(string))
		}
		want := []string{"200 OK", "200 OK", "415 Unsupported Media Type", "204 No Content"}
		if strings.Join(statuses, ",") != strings.Join(want, ",") {
			t.Errorf("statuses %v, want %v", statuses, want)
		}
		if g := e.do("GET", "Patient/"+id, nil).json(t)["gender"]; g != "male" {
			t.Errorf("gender after the batch's conditional patch = %v, want male", g)
		}
	})
}
