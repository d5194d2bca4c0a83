package fhirapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// importFailures runs a strict import of one NDJSON file and returns the 1-based numbers of the
// lines it refused.
func (e *env) importFailures(t *testing.T, name string, data []byte) map[int]bool {
	t.Helper()
	ctx := context.Background()
	in := filepath.Join(e.cfg.S3Dir, "vinput")
	for _, d := range []string{in, filepath.Join(e.cfg.S3Dir, "voutput")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.hl.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{
		DatastoreId:     &e.ds,
		InputDataConfig: &types.InputDataConfigMemberS3Uri{Value: "s3://vinput/"},
		JobOutputDataConfig: &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{
			S3Uri: aws.String("s3://voutput/"), KmsKeyId: aws.String("arn:aws:kms:us-east-1:000000000000:key/test")}},
		DataAccessRoleArn: aws.String("arn:aws:iam::000000000000:role/HealthLakeImport"),
		ValidationLevel:   types.ValidationLevelStrict,
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := e.hl.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &e.ds, JobId: out.JobId})
		if err != nil {
			t.Fatal(err)
		}
		if s := d.ImportJobProperties.JobStatus; s == types.JobStatusCompleted || s == types.JobStatusCompletedWithErrors {
			break
		} else if s == types.JobStatusFailed || time.Now().After(deadline) {
			t.Fatalf("import %s: %s", s, aws.ToString(d.ImportJobProperties.Message))
		}
		time.Sleep(20 * time.Millisecond)
	}
	failed := map[int]bool{}
	f, err := os.Open(filepath.Join(e.cfg.S3Dir, "voutput", e.ds+"-FHIR_IMPORT-"+*out.JobId, "FAILURE", name))
	if os.IsNotExist(err) {
		return failed
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			LineID int `json:"lineId"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		failed[rec.LineID] = true
	}
	return failed
}

// verdict reads a $validate answer: whether the OperationOutcome has an error issue.
func verdict(t *testing.T, r resp) (valid bool) {
	t.Helper()
	if r.status == 400 {
		return false // the resource could not be read at all
	}
	if r.status != 200 {
		t.Fatalf("$validate: %d %s", r.status, r.body)
	}
	for _, is := range r.json(t)["issue"].([]any) {
		if s := is.(map[string]any)["severity"]; s == "error" || s == "fatal" {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(filepath.Join(testenv.SharedDir(t), "data", "invalid", "cases.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var c struct {
			Resource json.RawMessage `json:"resource"`
			Raw      *string         `json:"raw"`
		}
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		if c.Raw != nil {
			lines = append(lines, *c.Raw)
		} else {
			lines = append(lines, string(c.Resource))
		}
	}
	// Valid lines get ids unique to this test, so that the import's writes do not collide.
	failed := e.importFailures(t, "cases.ndjson", []byte(strings.Join(lines, "\n")+"\n"))
	if len(failed) == 0 || len(failed) == len(lines) {
		t.Fatalf("the strict import refused %d of %d cases; the comparison needs both kinds", len(failed), len(lines))
	}
	for i, l := range lines {
		typ := "Patient"
		var probe struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal([]byte(l), &probe) == nil && probe.ResourceType != "" && e.do("GET", probe.ResourceType+"?_count=1", nil).status == 200 {
			typ = probe.ResourceType
		}
		direct := verdict(t, e.do("POST", typ+"/$validate", []byte(l)))
		if imported := !failed[i+1]; direct != imported {
			t.Errorf("case %d (%.80s): $validate says valid=%v, the strict import %v", i+1, l, direct, imported)
		}
		if json.Valid([]byte(l)) && strings.HasPrefix(strings.TrimSpace(l), "{") {
			params := `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + l + `}]}`
			if inParams := verdict(t, e.do("POST", typ+"/$validate", []byte(params))); inParams != direct {
				t.Errorf("case %d: valid=%v in a Parameters body, %v as the body", i+1, inParams, direct)
			}
		}
	}

	t.Run("modes and levels", func(t *testing.T) {
		noID := `{"resourceType":"Patient","gender":"female"}`
		if verdict(t, e.do("POST", "Patient/$validate", []byte(noID))) {
			t.Errorf("a Patient without id passed the strict level (an import line needs one)")
		}
		if !verdict(t, e.do("POST", "Patient/$validate?mode=create", []byte(noID))) {
			t.Errorf("mode=create: a Patient without id must pass (the server assigns it)")
		}
		if verdict(t, e.do("POST", "Patient/p1/$validate?mode=update", []byte(noID))) {
			t.Errorf("mode=update without an id in the body passed")
		}
		withID := `{"resourceType":"Patient","id":"p2","gender":"female"}`
		if verdict(t, e.do("POST", "Patient/p1/$validate", []byte(withID))) {
			t.Errorf("instance-level $validate with another id in the body passed")
		}
		params := `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + noID + `},{"name":"mode","valueCode":"create"},{"name":"profile","valueCanonical":"http://example.org/p"}]}`
		r := e.do("POST", "Patient/$validate", []byte(params))
		if !verdict(t, r) || !strings.Contains(string(r.body), "was not checked") {
			t.Errorf("Parameters with mode and profile: %s, want valid with a warning that the profile was not checked", r.body)
		}
		// A profile the resource declares is not known to the validator: an information issue says so.
		declared := `{"resourceType":"Patient","meta":{"profile":["http://example.org/declared"]},"gender":"male"}`
		if r := e.do("POST", "Patient/$validate?mode=create", []byte(declared)); !verdict(t, r) ||
			!strings.Contains(string(r.body), `"information"`) || !strings.Contains(string(r.body), "http://example.org/declared") {
			t.Errorf("a declared meta.profile: %s, want valid with an information issue naming the profile", r.body)
		}
		if verdict(t, e.do("POST", "Patient/nobody/$validate?mode=delete", nil)) {
			t.Errorf("mode=delete of a patient that does not exist passed")
		}
		id := e.mustCreate(t, mrnPatient("v1", "male"))
		if !verdict(t, e.do("POST", "Patient/"+id+"/$validate?mode=delete", nil)) {
			t.Errorf("mode=delete of an existing patient failed")
		}
		if r := e.do("POST", "Patient/$validate?mode=sideways", []byte(noID)); r.status != 400 {
			t.Errorf("unknown mode: %d, want 400", r.status)
		}
		if r := e.do("GET", "Patient/$validate", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET $validate: %d, want 405", r.status)
		}
		if got := e.withMRN(t, "never-stored"); len(got) != 0 {
			t.Errorf("$validate stored something")
		}
	})
}

func TestDocument(t *testing.T) {
	e := newEnv(t)
	pid := e.mustCreate(t, mrnPatient("doc", "female"))
	mk := func(body string) string {
		t.Helper()
		typ := strings.SplitN(strings.SplitN(body, `"resourceType":"`, 2)[1], `"`, 2)[0]
		r := e.do("POST", typ, []byte(body))
		if r.status != 201 {
			t.Fatalf("create %s: %d %s", typ, r.status, r.body)
		}
		return typ + "/" + r.json(t)["id"].(string)
	}
	org := mk(`{"resourceType":"Organization","name":"Clinic"}`)
	prac := mk(`{"resourceType":"Practitioner","name":[{"family":"Who"}]}`)
	obs := mk(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/%s"},"performer":[{"reference":"%s"}]}`, pid, prac))
	unrelated := mk(`{"resourceType":"Organization","name":"Elsewhere"}`)
	comp := mk(fmt.Sprintf(`{"resourceType":"Composition","status":"final","type":{"text":"summary"},"date":"2024-01-01","title":"T",
	 "subject":{"reference":"Patient/%s"},"author":[{"reference":"%s"}],"custodian":{"reference":"%s"},
	 "section":[{"title":"Vitals","entry":[{"reference":"%s"},{"reference":"https://elsewhere.example/fhir/Observation/9"}]}]}`, pid, prac, org, obs))
	r := e.do("GET", comp+"/$document", nil)
	if r.status != 200 {
		t.Fatalf("$document: %d %s", r.status, r.body)
	}
	b := r.json(t)
	if b["type"] != "document" || b["timestamp"] == nil || b["identifier"] == nil {
		t.Errorf("not a document Bundle: type %v timestamp %v identifier %v", b["type"], b["timestamp"], b["identifier"])
	}
	var got []string
	for _, en := range b["entry"].([]any) {
		res := en.(map[string]any)["resource"].(map[string]any)
		got = append(got, res["resourceType"].(string)+"/"+res["id"].(string))
	}
	want := []string{comp, "Patient/" + pid, prac, org, obs}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("document entries %v, want %v (Composition first, then what it references, transitively; not %s)", got, want, unrelated)
	}
	r = e.do("POST", comp+"/$document", []byte(`{"resourceType":"Parameters","parameter":[{"name":"persist","valueBoolean":true}]}`))
	if r.status != 201 {
		t.Fatalf("$document persist: %d %s", r.status, r.body)
	}
	stored := r.json(t)["id"].(string)
	if s := e.do("GET", "Bundle/"+stored, nil); s.status != 200 || s.json(t)["type"] != "document" {
		t.Errorf("the persisted document: %d %s", s.status, s.body)
	}
	dangling := mk(`{"resourceType":"Composition","status":"final","type":{"text":"x"},"date":"2024-01-01","title":"T","author":[{"reference":"Practitioner/nobody"}]}`)
	if r := e.do("GET", dangling+"/$document", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("document with a reference that does not resolve: %d, want 422", r.status)
	}
	if r := e.do("GET", "Composition/nobody/$document", nil); r.status != 404 {
		t.Errorf("$document of an unknown Composition: %d, want 404", r.status)
	}
}
