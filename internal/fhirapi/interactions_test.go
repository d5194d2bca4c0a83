package fhirapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const patientJSON = `{"resourceType":"Patient","name":[{"family":"Müller","given":["Renée"]}],"gender":"female","birthDate":"1970-05-06","meta":{"profile":["http://example.org/fhir/StructureDefinition/p"]}}`

func issueCode(t *testing.T, r resp) string {
	t.Helper()
	m := r.json(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("body is not an OperationOutcome: %s", r.body)
	}
	return m["issue"].([]any)[0].(map[string]any)["code"].(string)
}

func TestInteractions(t *testing.T) {
	e := newEnv(t)

	// create
	r := e.do("POST", "Patient", []byte(patientJSON))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	p := r.json(t)
	id := p["id"].(string)
	meta := p["meta"].(map[string]any)
	if meta["versionId"] != "1" || meta["lastUpdated"] == nil {
		t.Errorf("create meta = %v", meta)
	}
	if want := e.url + "/datastore/" + e.ds + "/r4/Patient/" + id + "/_history/1"; r.header.Get("Location") != want {
		t.Errorf("Location = %q, want %q", r.header.Get("Location"), want)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Errorf("ETag %q Last-Modified %q", r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}

	// read, search by the new resource's accent-folded name and by uri (_profile)
	if r := e.do("GET", "Patient/"+id, nil); r.status != 200 || r.json(t)["id"] != id {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	for _, q := range []string{"Patient?name=muller", "Patient?given=RENEE", "Patient?_profile=http://example.org/fhir/StructureDefinition/p",
		"Patient?_profile:below=http://example.org/fhir/", "Patient?_profile:missing=false"} {
		if got := bundleIDs(t, e.do("GET", q, nil).json(t), "match"); len(got) != 1 {
			t.Errorf("%s: got %v, want the new patient", q, got)
		}
	}

	// update with If-Match, then a stale If-Match is 412
	upd := strings.Replace(patientJSON, `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+id+`",`, 1)
	upd = strings.Replace(upd, `"female"`, `"other"`, 1)
	r = e.do("PUT", "Patient/"+id, []byte(upd), "If-Match", `W/"1"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %s %s", r.status, r.header.Get("ETag"), r.body)
	}
	if r := e.do("PUT", "Patient/"+id, []byte(upd), "If-Match", `W/"1"`); r.status != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d, want 412", r.status)
	}
	if got := bundleIDs(t, e.do("GET", "Patient?gender=female", nil).json(t), "match"); len(got) != 0 {
		t.Errorf("old index values survive the update: %v", got)
	}
	if got := bundleIDs(t, e.do("GET", "Patient?gender=other", nil).json(t), "match"); len(got) != 1 {
		t.Errorf("new index values missing after update: %v", got)
	}

	// update with a mismatching id, without id, invalid resource
	for _, body := range []string{
		strings.Replace(upd, id, "other-id", 1),
		patientJSON,
		`{"resourceType":"Patient","id":"` + id + `","gender":"nope"}`,
		`{"resourceType":"Observation","id":"` + id + `"}`,
		`not json`,
	} {
		if r := e.do("PUT", "Patient/"+id, []byte(body)); r.status != 400 || issueCode(t, r) == "" {
			t.Errorf("PUT %s: %d %s, want 400", body, r.status, r.body)
		}
	}

	// update-as-create
	r = e.do("PUT", "Patient/given-id", []byte(`{"resourceType":"Patient","id":"given-id","active":true}`))
	if r.status != http.StatusCreated {
		t.Errorf("update-as-create: %d %s", r.status, r.body)
	}

	// patch
	patch := `[{"op":"test","path":"/gender","value":"other"},{"op":"replace","path":"/gender","value":"male"},{"op":"add","path":"/name/0/given/-","value":"Marie"},{"op":"remove","path":"/birthDate"}]`
	r = e.do("PATCH", "Patient/"+id, []byte(patch), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	pp := r.json(t)
	if pp["gender"] != "male" || pp["birthDate"] != nil || len(pp["name"].([]any)[0].(map[string]any)["given"].([]any)) != 2 {
		t.Errorf("patched = %s", r.body)
	}
	if r := e.do("PATCH", "Patient/"+id, []byte(`[{"op":"test","path":"/gender","value":"female"}]`), "Content-Type", "application/json-patch+json"); r.status != 422 {
		t.Errorf("failed test op: %d, want 422", r.status)
	}
	if r := e.do("PATCH", "Patient/"+id, []byte(`[{"op":"replace","path":"/gender","value":"bogus"}]`), "Content-Type", "application/json-patch+json"); r.status != 400 {
		t.Errorf("patch to an invalid resource: %d, want 400", r.status)
	}

	// vread and history
	if r := e.do("GET", "Patient/"+id+"/_history/1", nil); r.status != 200 || r.json(t)["gender"] != "female" {
		t.Errorf("vread 1: %d %s", r.status, r.body)
	}
	h := e.do("GET", "Patient/"+id+"/_history", nil).json(t)
	if h["type"] != "history" || len(h["entry"].([]any)) != 3 {
		t.Errorf("history = %v", h)
	}

	// delete, then read is 410 and search no longer finds it
	if r := e.do("DELETE", "Patient/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "Patient/"+id, nil); r.status != http.StatusGone {
		t.Errorf("read after delete: %d, want 410", r.status)
	}
	if got := bundleIDs(t, e.do("GET", "Patient?gender=male", nil).json(t), "match"); len(got) != 0 {
		t.Errorf("deleted resource still found: %v", got)
	}
	th := e.do("GET", "Patient/_history?_count=2", nil).json(t)
	if len(th["entry"].([]any)) != 2 || nextLink(th) == "" {
		t.Errorf("type history page = %v", th)
	}
	all := 0
	for next := "Patient/_history?_count=2"; next != ""; {
		b := e.do("GET", next, nil).json(t)
		all += len(b["entry"].([]any))
		next = nextLink(b)
	}
	if all != 5 { // create, update, patch, delete of id; create of given-id
		t.Errorf("type history has %d versions, want 5", all)
	}

	// errors of the routing
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "Patient/nope", 404},
		{"GET", "Nope/1", 404},
		{"DELETE", "Patient", 405},
		{"GET", "Patient/" + id + "/_history/9", 404},
		{"PUT", "metadata", 405},
	} {
		if r := e.do(c.method, c.path, nil); r.status != c.status || issueCode(t, r) == "" {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.status, c.status)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	key := "3f1c2a7e-8d2b-4c61-9a57-0e4b1f7d9c21"
	r1 := e.do("POST", "Patient", []byte(patientJSON), "x-amz-fhir-idempotency-key", key)
	if r1.status != 201 {
		t.Fatalf("first: %d %s", r1.status, r1.body)
	}
	r2 := e.do("POST", "Patient", []byte(patientJSON), "x-amz-fhir-idempotency-key", key)
	if r2.status != http.StatusConflict || r2.json(t)["id"] != r1.json(t)["id"] {
		t.Errorf("repeat: %d %s, want 409 with the original", r2.status, r2.body)
	}
	if r := e.do("POST", "Patient", []byte(patientJSON), "x-amz-fhir-idempotency-key", "not-a-uuid"); r.status != 400 {
		t.Errorf("malformed key: %d, want 400", r.status)
	}
	b := e.do("GET", "Patient?_summary=count", nil).json(t)
	if b["total"].(float64) != 1 {
		t.Errorf("total = %v, want 1", b["total"])
	}
}

func TestAuthAndTenancy(t *testing.T) {
	e := newEnv(t)
	path := e.url + "/datastore/" + e.ds + "/r4/metadata"
	if r := e.send("GET", path, nil, "", ""); r.status != 403 || issueCode(t, r) != "login" {
		t.Errorf("unsigned: %d %s", r.status, r.body)
	}
	if r := e.send("GET", path, nil, e.key, "wrong"); r.status != 403 || issueCode(t, r) != "security" {
		t.Errorf("bad signature: %d %s", r.status, r.body)
	}
	if r := e.send("GET", path, nil, otherKey, otherSecret); r.status != 404 {
		t.Errorf("another tenant's store: %d, want 404", r.status)
	}
	if r := e.send("GET", e.url+"/datastore/00000000000000000000000000000000/r4/metadata", nil, e.key, e.secret); r.status != 404 {
		t.Errorf("unknown store: %d, want 404", r.status)
	}
	r := e.do("GET", "metadata", nil)
	cs := r.json(t)
	if r.status != 200 || cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d", r.status)
	}
	found := false
	for _, res := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		rm := res.(map[string]any)
		if rm["type"] != "Observation" {
			continue
		}
		for _, sp := range rm["searchParam"].([]any) {
			if sp.(map[string]any)["name"] == "code" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("CapabilityStatement does not list Observation?code")
	}
}

func TestTransactionAndBatch(t *testing.T) {
	e := newEnv(t)
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","name":[{"family":"Tx"}],"identifier":[{"system":"urn:sys","value":"P1"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},"request":{"method":"POST","url":"Observation"}}]}`
	r := e.do("POST", "", []byte(tx))
	if r.status != 200 {
		t.Fatalf("transaction: %d %s", r.status, r.body)
	}
	b := r.json(t)
	if b["type"] != "transaction-response" {
		t.Fatalf("type = %v", b["type"])
	}
	entries := b["entry"].([]any)
	loc := entries[0].(map[string]any)["response"].(map[string]any)["location"].(string)
	patID := strings.Split(loc, "/")[1]
	obsLoc := entries[1].(map[string]any)["response"].(map[string]any)["location"].(string)
	obs := e.do("GET", strings.Join(strings.Split(obsLoc, "/")[:2], "/"), nil).json(t)
	if got := obs["subject"].(map[string]any)["reference"]; got != "Patient/"+patID {
		t.Errorf("urn:uuid reference resolved to %v, want Patient/%s", got, patID)
	}
	if got := bundleIDs(t, e.do("GET", "Observation?subject=Patient/"+patID, nil).json(t), "match"); len(got) != 1 {
		t.Errorf("transaction writes are not indexed: %v", got)
	}

	// A transaction whose second entry is invalid changes nothing.
	bad := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Patient","name":[{"family":"Atomic"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Patient","gender":"bogus"},"request":{"method":"POST","url":"Patient"}}]}`
	if r := e.do("POST", "", []byte(bad)); r.status != 400 {
		t.Errorf("invalid transaction: %d, want 400", r.status)
	}
	// A version conflict in the last entry rolls back the first.
	conflict := fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Patient","name":[{"family":"Atomic"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Patient","id":"%s","active":true},"request":{"method":"PUT","url":"Patient/%s","ifMatch":"W/\"7\""}}]}`, patID, patID)
	if r := e.do("POST", "", []byte(conflict)); r.status != http.StatusPreconditionFailed {
		t.Errorf("conflicting transaction: %d %s, want 412", r.status, r.body)
	}
	if got := bundleIDs(t, e.do("GET", "Patient?family=atomic", nil).json(t), "match"); len(got) != 0 {
		t.Errorf("failed transactions left %v behind", got)
	}

	// Conditional references: one match resolves, none fails the transaction.
	cond := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"y"},"subject":{"reference":"Patient?identifier=urn:sys|P1"}},"request":{"method":"POST","url":"Observation"}}]}`
	if r := e.do("POST", "", []byte(cond)); r.status != 200 {
		t.Errorf("conditional reference: %d %s", r.status, r.body)
	}
	if got := bundleIDs(t, e.do("GET", "Observation?subject=Patient/"+patID, nil).json(t), "match"); len(got) != 2 {
		t.Errorf("conditional reference not resolved to the patient: %v", got)
	}
	none := strings.Replace(cond, "P1", "P404", 1)
	if r := e.do("POST", "", []byte(none)); r.status != http.StatusPreconditionFailed {
		t.Errorf("conditional reference without a match: %d, want 412", r.status)
	}

	// A batch applies what it can and reports each entry.
	batch := fmt.Sprintf(`{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":{"resourceType":"Patient","name":[{"family":"Batch"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Patient","gender":"bogus"},"request":{"method":"POST","url":"Patient"}},
	 {"request":{"method":"GET","url":"Patient/%s"}},
	 {"request":{"method":"GET","url":"Patient?family=batch"}},
	 {"request":{"method":"DELETE","url":"Patient/missing"}}]}`, patID)
	r = e.do("POST", "", []byte(batch))
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var br struct {
		Type  string
		Entry []struct {
			Resource json.RawMessage
			Response struct{ Status string }
		}
	}
	json.Unmarshal(r.body, &br)
	var statuses []string
	for _, en := range br.Entry {
		statuses = append(statuses, strings.Fields(en.Response.Status)[0])
	}
	if got, want := strings.Join(statuses, ","), "201,400,200,200,404"; br.Type != "batch-response" || got != want {
		t.Errorf("batch statuses %s, want %s", got, want)
	}

	// A write that fails in the store among others that succeed: each keeps its own result, in
	// order, as if the entries ran one by one.
	mixed := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":{"resourceType":"Patient","id":"bA"},"request":{"method":"PUT","url":"Patient/bA"}},
	 {"resource":{"resourceType":"Patient","id":"bB"},"request":{"method":"PUT","url":"Patient/bB","ifMatch":"W/\"7\""}},
	 {"resource":{"resourceType":"Patient","id":"bA","gender":"male"},"request":{"method":"PUT","url":"Patient/bA"}},
	 {"resource":{"resourceType":"Patient","id":"bC"},"request":{"method":"PUT","url":"Patient/bC"}},
	 {"request":{"method":"DELETE","url":"Patient/bC"}}]}`
	r = e.do("POST", "", []byte(mixed))
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	br.Entry = nil
	json.Unmarshal(r.body, &br)
	statuses = nil
	for _, en := range br.Entry {
		statuses = append(statuses, strings.Fields(en.Response.Status)[0])
	}
	if got, want := strings.Join(statuses, ","), "201,412,200,201,204"; got != want {
		t.Errorf("mixed batch statuses %s, want %s", got, want)
	}
	if r := e.do("GET", "Patient/bA", nil); r.status != 200 || !strings.Contains(string(r.body), `"male"`) || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("Patient/bA after the batch: %d %s %s", r.status, r.header.Get("ETag"), r.body)
	}
	for id, want := range map[string]int{"bB": 404, "bC": 410} {
		if r := e.do("GET", "Patient/"+id, nil); r.status != want {
			t.Errorf("Patient/%s after the batch: %d, want %d", id, r.status, want)
		}
	}
}
