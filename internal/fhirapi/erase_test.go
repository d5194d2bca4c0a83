package fhirapi_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// deleteJob waits for the delete job of a kick-off response to end and returns its final status
// parameters.
func (e *env) deleteJob(t *testing.T, kick resp, op string) map[string]any {
	t.Helper()
	if kick.status != http.StatusAccepted {
		t.Fatalf("%s kick-off: %d %s", op, kick.status, kick.body)
	}
	oo := kick.json(t)
	diag := oo["issue"].([]any)[0].(map[string]any)["diagnostics"].(string)
	if oo["id"] != strings.TrimPrefix(op, "$")+"-job" || !strings.Contains(diag, "job started successfully. Job ID: ") {
		t.Fatalf("%s kick-off body: %s", op, kick.body)
	}
	loc := kick.header.Get("Content-Location")
	jobID := diag[strings.LastIndex(diag, " ")+1:]
	if !strings.HasSuffix(loc, "/"+op+"/"+jobID) {
		t.Fatalf("Content-Location %s does not name job %s", loc, jobID)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.do("GET", loc, nil)
		if r.status != 200 {
			t.Fatalf("status of %s: %d %s", jobID, r.status, r.body)
		}
		ps := map[string]any{}
		for _, p := range r.json(t)["parameter"].([]any) {
			pm := p.(map[string]any)
			for k, v := range pm {
				if k != "name" {
					ps[pm["name"].(string)] = v
				}
			}
		}
		switch ps["jobStatus"] {
		case "COMPLETED":
			return ps
		case "FAILED", "CANCEL_COMPLETED":
			t.Fatalf("job %s ended %v: %v", jobID, ps["jobStatus"], ps["message"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %v", jobID, ps["jobStatus"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone checks that Type/id leaves no trace in read, vread, history and search.
func (e *env) noTrace(t *testing.T, typ, id string, versions int) {
	t.Helper()
	if r := e.do("GET", typ+"/"+id, nil); r.status != 404 {
		t.Errorf("read %s/%s: %d, want 404", typ, id, r.status)
	}
	for v := 1; v <= versions; v++ {
		if r := e.do("GET", typ+"/"+id+"/_history/"+string(rune('0'+v)), nil); r.status != 404 {
			t.Errorf("vread %s/%s/%d: %d, want 404", typ, id, v, r.status)
		}
	}
	if r := e.do("GET", typ+"/"+id+"/_history", nil); r.status != 404 {
		t.Errorf("history %s/%s: %d, want 404", typ, id, r.status)
	}
	if got := e.searchAll(t, typ+"?_id="+id); len(got) != 0 {
		t.Errorf("search finds erased %s/%s", typ, id)
	}
	next := typ + "/_history"
	for next != "" {
		b := e.do("GET", next, nil).json(t)
		entries, _ := b["entry"].([]any)
		for _, en := range entries {
			if strings.HasSuffix(en.(map[string]any)["fullUrl"].(string), "/"+typ+"/"+id) {
				t.Errorf("type history still lists %s/%s", typ, id)
			}
		}
		next = nextLink(b)
	}
}

func TestErase(t *testing.T) {
	e := newEnv(t)
	pid := e.mustCreate(t, mrnPatient("e1", "female"))
	for _, g := range []string{"male", "other"} {
		upd := strings.Replace(mrnPatient("e1", g), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+pid+`",`, 1)
		if r := e.do("PUT", "Patient/"+pid, []byte(upd)); r.status != 200 {
			t.Fatal(r.status, string(r.body))
		}
	}
	obs := func() string {
		r := e.do("POST", "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+pid+`"}}`))
		return r.json(t)["id"].(string)
	}
	o1, o2 := obs(), obs()
	audit := `{"resourceType":"AuditEvent","type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110110"},"recorded":"2024-01-01T00:00:00Z",
	 "agent":[{"requestor":true,"who":{"display":"x"}}],"source":{"observer":{"display":"s"}},"entity":[{"what":{"reference":"Observation/` + o1 + `"}}]}`
	r := e.do("POST", "AuditEvent", []byte(audit))
	if r.status != 201 {
		t.Fatalf("AuditEvent: %d %s", r.status, r.body)
	}
	aid := r.json(t)["id"].(string)

	t.Run("one earlier version", func(t *testing.T) {
		ps := e.deleteJob(t, e.do("POST", "Patient/"+pid+"/_history/1/$erase", nil), "$erase")
		if ps["totalResourcesDeleted"].(float64) != 1 {
			t.Errorf("totalResourcesDeleted = %v, want 1", ps["totalResourcesDeleted"])
		}
		if r := e.do("GET", "Patient/"+pid+"/_history/1", nil); r.status != 404 {
			t.Errorf("vread of the erased version: %d, want 404", r.status)
		}
		if h := e.do("GET", "Patient/"+pid+"/_history", nil).json(t); len(h["entry"].([]any)) != 2 {
			t.Errorf("history after erasing version 1 has %d entries, want 2", len(h["entry"].([]any)))
		}
		if r := e.do("POST", "Patient/"+pid+"/_history/3/$erase", nil); r.status != http.StatusConflict {
			t.Errorf("erase of the current version alone: %d, want 409", r.status)
		}
		if r := e.do("POST", "Patient/"+pid+"/_history/9/$erase", nil); r.status != 404 {
			t.Errorf("erase of a version that does not exist: %d, want 404", r.status)
		}
	})

	t.Run("a resource with its AuditEvents", func(t *testing.T) {
		ps := e.deleteJob(t, e.do("POST", "Observation/"+o1+"/$erase?deleteAuditEvent=true", nil), "$erase")
		if ps["totalResourcesDeleted"].(float64) != 2 || ps["endTime"] == nil || ps["startTime"] == nil {
			t.Errorf("status = %v, want 2 resources deleted and start and end times", ps)
		}
		e.noTrace(t, "Observation", o1, 1)
		e.noTrace(t, "AuditEvent", aid, 1)
		if got := e.searchAll(t, "Observation?subject=Patient/"+pid); len(got) != 1 || got[0] != "Observation/"+o2 {
			t.Errorf("observations of the patient after the erase: %v, want only %s", got, o2)
		}
		if r := e.do("POST", "Observation/"+o1+"/$erase", nil); r.status != 404 {
			t.Errorf("erase of an erased resource: %d, want 404", r.status)
		}
		if r := e.do("POST", "Observation/"+o2+"/$erase?cascade=true", nil); r.status != 400 {
			t.Errorf("erase with an unknown parameter: %d, want 400", r.status)
		}
		if r := e.do("GET", "$erase/0123456789abcdef0123456789abcdef", nil); r.status != 404 {
			t.Errorf("status of an unknown job: %d, want 404", r.status)
		}
	})

	t.Run("a deleted resource's history", func(t *testing.T) {
		if r := e.do("DELETE", "Observation/"+o2, nil); r.status != 204 {
			t.Fatal(r.status)
		}
		e.deleteJob(t, e.do("POST", "Observation/"+o2+"/$erase", nil), "$erase")
		e.noTrace(t, "Observation", o2, 2)
	})
}

func TestPurge(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "data", "synthea")
	e := newEnv(t)
	e.importDir(dir)
	patients := loadNDJSON(t, dir, "Patient")
	victim, bystander := patients[5]["id"].(string), patients[6]["id"].(string)
	// What references each patient, from the NDJSON (every such resource is in the compartment).
	member := map[string][]string{}
	for _, typ := range []string{"Observation", "Encounter", "Claim", "ExplanationOfBenefit", "Procedure", "Immunization",
		"DiagnosticReport", "Condition", "MedicationRequest", "CarePlan", "Goal", "AllergyIntolerance", "ImagingStudy"} {
		for _, m := range loadNDJSON(t, dir, typ) {
			raw, _ := json.Marshal(m)
			for _, p := range []string{victim, bystander} {
				if strings.Contains(string(raw), `"reference":"Patient/`+p+`"`) {
					member[p] = append(member[p], typ+"/"+m["id"].(string))
				}
			}
		}
	}
	audit := `{"resourceType":"AuditEvent","type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110110"},"recorded":"2024-01-01T00:00:00Z",
	 "agent":[{"requestor":true,"who":{"reference":"Patient/` + victim + `"}}],"source":{"observer":{"display":"s"}},"entity":[{"what":{"reference":"Patient/` + victim + `"}}]}`
	if r := e.do("POST", "AuditEvent", []byte(audit)); r.status != 201 {
		t.Fatalf("AuditEvent: %d %s", r.status, r.body)
	}
	before := sorted(e.searchAll(t, "Patient/"+bystander+"/$everything"))

	if r := e.do("POST", "Patient/"+victim+"/$purge?_since=2000-01-01T00:00:00Z&end=2030-01-01T00:00:00Z", nil); r.status != 400 {
		t.Errorf("_since with end: %d, want 400", r.status)
	}
	ps := e.deleteJob(t, e.do("POST", "Patient/"+victim+"/$purge", nil), "$purge")
	if got, want := int(ps["totalResourcesDeleted"].(float64)), len(member[victim])+1; got != want {
		t.Errorf("totalResourcesDeleted = %d, want %d (the compartment and the patient)", got, want)
	}
	for i := 0; i < len(member[victim]); i += 50 {
		var ids []string
		for _, key := range member[victim][i:min(i+50, len(member[victim]))] {
			ids = append(ids, strings.SplitN(key, "/", 2)[1])
		}
		if got := e.searchAll(t, "?_id="+strings.Join(ids, ",")); len(got) != 0 {
			t.Errorf("compartment members left after the purge: %v", got)
		}
	}
	for _, key := range append(member[victim][:5], "Patient/"+victim) {
		typ, id, _ := strings.Cut(key, "/")
		e.noTrace(t, typ, id, 1)
	}
	if got := e.searchAll(t, "AuditEvent?patient=Patient/"+victim); len(got) != 1 {
		t.Errorf("AuditEvents of the purged patient without deleteAuditEvent: %v, want the one kept", got)
	}
	if diff := cmp.Diff(before, sorted(e.searchAll(t, "Patient/"+bystander+"/$everything"))); diff != "" {
		t.Errorf("another patient's compartment changed (-before +after):\n%s", diff)
	}

	// A window in the past finds nothing to purge; deleteAuditEvent removes the audit trail.
	ps = e.deleteJob(t, e.do("POST", "Patient/"+bystander+"/$purge?start=1990-01-01T00:00:00Z&end=1991-01-01T00:00:00Z", nil), "$purge")
	if ps["totalResourcesDeleted"].(float64) != 0 {
		t.Errorf("purge of an empty window deleted %v", ps["totalResourcesDeleted"])
	}
	if len(e.searchAll(t, "Patient/"+bystander+"/$everything")) != len(before) {
		t.Errorf("a purge of an empty window changed the compartment")
	}
	ps = e.deleteJob(t, e.do("POST", "Patient/"+victim+"/$purge?deleteAuditEvent=true", nil), "$purge")
	if ps["totalResourcesDeleted"].(float64) != 1 {
		t.Errorf("second purge with deleteAuditEvent deleted %v, want the AuditEvent", ps["totalResourcesDeleted"])
	}
	if got := e.searchAll(t, "AuditEvent?patient=Patient/"+victim); len(got) != 0 {
		t.Errorf("AuditEvents left: %v", got)
	}
	if r := e.do("GET", strings.Replace(e.do("POST", "Patient/"+bystander+"/$purge?start=1990-01-01T00:00:00Z&end=1991-01-01T00:00:00Z", nil).header.Get("Content-Location"), "$purge", "$erase", 1), nil); r.status != 404 {
		t.Errorf("a purge job read as an erase job: %d, want 404", r.status)
	}
}
