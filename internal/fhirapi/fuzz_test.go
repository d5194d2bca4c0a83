package fhirapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirapi"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// fuzzLimit is the body bound of the fuzzed handler, and memory is judged against it.
const fuzzLimit = 256 << 10

// fuzzOps are the interactions FuzzFHIRRequest drives: op names one, else its first byte picks.
var fuzzOps = []string{"create", "update", "patch", "search", "search-post", "bundle", "read",
	"conditional-create", "conditional-update", "conditional-patch", "conditional-delete", "operation", "get"}

// FuzzFHIRRequest sends arbitrary creates, updates, patches, searches and Bundles to the FHIR API
// of an authenticated caller, over a SQLite store: whatever the bytes, the service must not panic,
// must not answer 5xx (but the 501 not-supported of an unimplemented $operation), must answer an
// error with an OperationOutcome, and must not allocate more than a bounded multiple of its body
// bound for one request. The seeds run in the normal suite beside the control plane's FuzzRequest.
func FuzzFHIRRequest(f *testing.F) {
	patient := `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["J"]}],"gender":"female","birthDate":"1970-01-01"}`
	obs := `{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":180,"unit":"cm"}}`
	bomb := "[" + strings.Repeat(`{"op":"copy","from":"/name/0","path":"/name/0/given/-"},`, 20) + `{"op":"copy","from":"/name","path":"/name/-"}]`
	seeds := []struct{ op, typ, id, query, body string }{
		{"create", "Patient", "", "", patient},
		{"create", "Observation", "", "", obs},
		{"create", "Patient", "", "", `{"resourceType":"Patient","id":7,"active":"yes"}`},
		{"create", "Patient", "", "", `[` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `]`},
		{"create", "Patient", "", "", `{"resourceType":"Patient","extension":[{"url":"x","valueString":"\u0000\ud800"}]}`},
		{"update", "Patient", "p1", "", patient},
		{"update", "Patient", "p1", "", `{"resourceType":"Patient","id":"p1","id":"p2"}`},
		{"update", "Observation", "o1", "", strings.Replace(obs, "final", "bogus", 1)},
		{"update", "Patient", "../x", "", `{"resourceType":"Patient","id":"../x"}`},
		{"patch", "Patient", "p1", "", `[{"op":"replace","path":"/gender","value":"male"},{"op":"add","path":"/name/0/given/-","value":"K"}]`},
		{"patch", "Patient", "p1", "", bomb},
		{"patch", "Patient", "p1", "", `[{"op":"move","from":"/name","path":"/name/0/x"},{"op":"test","path":"","value":{}}]`},
		{"patch", "Patient", "p1", "", `[{"op":"remove","path":"/resourceType"}]`},
		{"patch", "Observation", "o1", "", `[{"op":"add","path":"/valueQuantity/value","value":1e400}]`},
		{"search", "Patient", "", "name=doe&gender=female&_count=1000000&_sort=-birthdate", ""},
		{"search", "Observation", "", "code=http://loinc.org|8302-2&subject:Patient.name=doe&_include=Observation:subject&_revinclude=*", ""},
		{"search", "Observation", "", "date=ge2020-13-45&value-quantity=lt1e999|x|y&_total=accurate&_summary=count", ""},
		{"search", "Patient", "", "_page=%zz&birthdate=eq&_id=&name:exact=&_has:Observation:subject:code=x", ""},
		{"search", "Patient", "", strings.Repeat("name=a&", 500), ""},
		{"search-post", "Patient", "", "", "family=doe&_count=2"},
		{"bundle", "", "", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":` + patient + `,"request":{"method":"POST","url":"Patient"}},` +
			`{"resource":` + strings.Replace(obs, `"Patient/p1"`, `"urn:uuid:1"`, 1) + `,"request":{"method":"PUT","url":"Observation/o2"}}]}`},
		{"bundle", "", "", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?name=doe"}},{"request":{"method":"DELETE","url":"Patient/p9"}},{"request":{"method":"PATCH","url":"Patient/p1"}}]}`},
		{"read", "Patient", "p1/_history/1", "", ""},
		{"read", "Patient", "p1/$everything", "", ""},
		{"conditional-create", "Patient", "", "identifier=urn:x|1", patient},
		{"conditional-create", "Patient", "", "_has:Observation:subject:code=8302-2", patient},
		{"conditional-update", "Patient", "", "name=doe", patient},
		{"conditional-update", "Patient", "", "_count=1", patient},
		{"conditional-patch", "Patient", "", "gender=female", `[{"op":"replace","path":"/gender","value":"male"}]`},
		{"conditional-delete", "Observation", "", "subject=Patient/p1", ""},
		{"operation", "Patient", "$validate", "mode=create", patient},
		{"operation", "Patient", "p1/$validate", "", `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + patient + `},{"name":"mode","valueCode":"update"}]}`},
		{"operation", "Patient", "p1/$everything", "_since=2020-01-01T00:00:00Z&_type=Observation&_count=1", ""},
		{"operation", "Composition", "c1/$document", "persist=true", ""},
		{"operation", "Patient", "p1/_history/1/$erase", "", ""},
		{"get", "", "", "_type=Patient,Observation&_id=p1&_sort=_id", ""},
		{"get", "", "Patient/p1/*", "_count=1&_page=eyJwIjo5OTl9", ""},
		{"get", "", "_history", "_count=2&_since=2020", ""},
		{"search", "Observation", "", "code-value-quantity=http://loinc.org|8302-2$gt1,8302-2$ap180&combo-code-value-quantity=x$lt1", ""},
		{"search", "Patient", "", "_has:Observation:subject:_has:AuditEvent:entity:agent=x&name:text=do&_include:iterate=*&_elements=name", ""},
		{"search", "DiagnosticReport", "", "result.encounter.subject.organization.name=x&result:Observation.subject:identifier=a|b&_summary=true", ""},
	}
	for _, s := range seeds {
		f.Add(s.op, s.typ, s.id, s.query, []byte(s.body))
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	tenant := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	const ds = "0123456789abcdef0123456789abcdef"
	now := time.Now()
	if _, _, err := st.DatastoreCreate(ctx, store.Datastore{Tenant: tenant, ID: ds, Status: store.DatastoreActive,
		CreatedAt: now, ReadyAt: now, TypeVersion: "R4"}, nil, 0); err != nil {
		f.Fatal(err)
	}
	h := fhirapi.New(st, fhir.NewValidator(), fhirapi.Options{PublicURL: "http://127.0.0.1:4599", Exports: st, Deletes: st, MaxBody: fuzzLimit})
	id := sigv4.Identity{AccessKeyID: "test", AccountID: tenant.AccountID, Region: tenant.Region}
	base := "/datastore/" + ds + "/r4/"
	for _, body := range []string{patient, obs} {
		var m struct{ ResourceType, ID string }
		json.Unmarshal([]byte(body), &m)
		req := httptest.NewRequest("PUT", base+m.ResourceType+"/"+m.ID, strings.NewReader(body)).WithContext(sigv4.WithIdentity(ctx, id))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			f.Fatalf("seed %s: %d %s", m.ResourceType, rec.Code, rec.Body)
		}
	}

	f.Fuzz(func(t *testing.T, op, typ, rid, query string, body []byte) {
		if len(op) == 0 {
			return
		}
		k := slices.Index(fuzzOps, op)
		if k < 0 {
			k = int(op[0]) % len(fuzzOps)
		}
		var method, target, ctype string
		switch fuzzOps[k] {
		case "create":
			method, target, ctype = "POST", base+url.PathEscape(typ), "application/fhir+json"
		case "update":
			method, target, ctype = "PUT", base+url.PathEscape(typ)+"/"+url.PathEscape(rid), "application/fhir+json"
		case "patch":
			method, target, ctype = "PATCH", base+url.PathEscape(typ)+"/"+url.PathEscape(rid), "application/json-patch+json"
		case "search":
			method, target = "GET", base+url.PathEscape(typ)+"?"+query
		case "search-post":
			method, target, ctype = "POST", base+url.PathEscape(typ)+"/_search", "application/x-www-form-urlencoded"
		case "bundle":
			method, target, ctype = "POST", base, "application/fhir+json"
		case "read":
			method, target = "GET", base+url.PathEscape(typ)+"/"+rid
		case "conditional-create":
			method, target, ctype = "POST", base+url.PathEscape(typ), "application/fhir+json"
		case "conditional-update":
			method, target, ctype = "PUT", base+url.PathEscape(typ)+"?"+query, "application/fhir+json"
		case "conditional-patch":
			method, target, ctype = "PATCH", base+url.PathEscape(typ)+"?"+query, "application/json-patch+json"
		case "conditional-delete":
			method, target = "DELETE", base+url.PathEscape(typ)+"?"+query
		case "operation":
			method, target, ctype = "POST", base+url.PathEscape(typ)+"/"+rid+"?"+query, "application/fhir+json"
		case "get":
			method, target = "GET", base+rid+"?"+query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // not a request a client can send
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(string(body)))
		req.URL, req.RequestURI = u, u.RequestURI()
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if fuzzOps[k] == "conditional-create" {
			req.Header.Set("If-None-Exist", query)
		}
		req = req.WithContext(sigv4.WithIdentity(req.Context(), id))
		rec := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.ServeHTTP(rec, req)
		runtime.ReadMemStats(&after)
		// 501 is the deliberate answer to an $operation this server does not implement.
		if rec.Code >= 500 && !(rec.Code == http.StatusNotImplemented && strings.Contains(rec.Body.String(), `"not-supported"`)) {
			t.Fatalf("%s %s: status %d: %s", method, target, rec.Code, rec.Body)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256*fuzzLimit {
			t.Fatalf("%s %s: one request allocated %d bytes, more than 256 times the %d-byte body bound", method, target, alloc, fuzzLimit)
		}
		if rec.Code >= 400 {
			var oo struct{ ResourceType string }
			if json.Unmarshal(rec.Body.Bytes(), &oo) != nil || oo.ResourceType != "OperationOutcome" {
				t.Fatalf("%s %s: error %d without an OperationOutcome: %.300s", method, target, rec.Code, rec.Body)
			}
		}
	})
}
