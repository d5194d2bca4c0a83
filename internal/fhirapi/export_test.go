package fhirapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// exportFixture is a transaction of fixed ids: patients p1..p3 with observations and conditions,
// a practitioner and an organization outside every Patient compartment, and Group g1 of p1 and p2.
const exportFixture = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"resource":{"resourceType":"Patient","id":"p1","gender":"female"},"request":{"method":"PUT","url":"Patient/p1"}},
 {"resource":{"resourceType":"Patient","id":"p2","gender":"male"},"request":{"method":"PUT","url":"Patient/p2"}},
 {"resource":{"resourceType":"Patient","id":"p3","gender":"other"},"request":{"method":"PUT","url":"Patient/p3"}},
 {"resource":{"resourceType":"Practitioner","id":"pr1","name":[{"family":"Doc"}]},"request":{"method":"PUT","url":"Practitioner/pr1"}},
 {"resource":{"resourceType":"Organization","id":"org1","name":"Clinic"},"request":{"method":"PUT","url":"Organization/org1"}},
 {"resource":{"resourceType":"Observation","id":"o1a","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/pr1"}]},"request":{"method":"PUT","url":"Observation/o1a"}},
 {"resource":{"resourceType":"Observation","id":"o1b","status":"final","code":{"text":"b"},"subject":{"reference":"Patient/p1"}},"request":{"method":"PUT","url":"Observation/o1b"}},
 {"resource":{"resourceType":"Observation","id":"o2a","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/p2"}},"request":{"method":"PUT","url":"Observation/o2a"}},
 {"resource":{"resourceType":"Observation","id":"o2b","status":"final","code":{"text":"b"},"subject":{"reference":"Patient/p2"}},"request":{"method":"PUT","url":"Observation/o2b"}},
 {"resource":{"resourceType":"Observation","id":"o3a","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/p3"}},"request":{"method":"PUT","url":"Observation/o3a"}},
 {"resource":{"resourceType":"Observation","id":"o3b","status":"final","code":{"text":"b"},"subject":{"reference":"Patient/p3"}},"request":{"method":"PUT","url":"Observation/o3b"}},
 {"resource":{"resourceType":"Condition","id":"c1","code":{"text":"x"},"subject":{"reference":"Patient/p1"}},"request":{"method":"PUT","url":"Condition/c1"}},
 {"resource":{"resourceType":"Condition","id":"c3","code":{"text":"x"},"subject":{"reference":"Patient/p3"}},"request":{"method":"PUT","url":"Condition/c3"}},
 {"resource":{"resourceType":"Group","id":"g1","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p2"}}]},"request":{"method":"PUT","url":"Group/g1"}}]}`

const (
	exportKMSKey = "arn:aws:kms:us-east-1:000000000000:key/test"
	exportRole   = "arn:aws:iam::000000000000:role/HealthLakeExport"
)

// loadExportFixture writes exportFixture and returns the time of the write.
func (e *env) loadExportFixture() time.Time {
	e.t.Helper()
	r := e.do("POST", "", []byte(exportFixture))
	if r.status != http.StatusOK {
		e.t.Fatalf("fixture transaction: %d %s", r.status, r.body)
	}
	var out struct {
		Entry []struct {
			Response struct{ LastModified time.Time }
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.Entry) == 0 {
		e.t.Fatalf("fixture response: %v %s", err, r.body)
	}
	return out.Entry[0].Response.LastModified
}

// buckets creates bucket folders in the embedded S3.
func (e *env) buckets(names ...string) {
	e.t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(e.cfg.S3Dir, n), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
}

// otherBucket creates a bucket of the other account through the S3 API.
func (e *env) otherBucket(name string) {
	e.t.Helper()
	req, err := http.NewRequest("PUT", e.url+"/"+name, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	const emptySum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("x-amz-content-sha256", emptySum)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: otherKey, SecretAccessKey: otherSecret},
		req, emptySum, "s3", region, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		e.t.Fatalf("create bucket %s as the other account: %d", name, res.StatusCode)
	}
}

// kickoff sends an $export kick-off, checks the 202 answer and returns the job id.
func (e *env) kickoff(method, path string, body []byte) string {
	e.t.Helper()
	return e.kickoffAs(method, path, body, "SUBMITTED")
}

// kickoffAs is kickoff for a job that must start in status want (QUEUED behind another export).
func (e *env) kickoffAs(method, path string, body []byte, want string) string {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("%s %s: %d %s, want 202", method, path, r.status, r.body)
	}
	var got struct{ DatastoreID, JobStatus, JobID string }
	if err := json.Unmarshal(r.body, &got); err != nil {
		e.t.Fatalf("kick-off body: %v: %s", err, r.body)
	}
	if got.DatastoreID != e.ds || got.JobStatus != want || len(got.JobID) != 32 {
		e.t.Errorf("kick-off body = %s", r.body)
	}
	if want := e.url + "/datastore/" + e.ds + "/r4/export/" + got.JobID; r.header.Get("Content-Location") != want {
		e.t.Errorf("Content-Location = %q, want %q", r.header.Get("Content-Location"), want)
	}
	return got.JobID
}

// exportStatus is the status document of an export job.
type exportStatus struct {
	ExportJobProperties struct {
		JobID, JobName, JobStatus, SubmitTime, EndTime, DatastoreID, DataAccessRoleArn, Message string
		OutputDataConfig                                                                        struct {
			S3Configuration struct{ S3URI, KmsKeyID string }
		}
	}
	TransactionTime     string
	Request             string
	RequiresAccessToken *bool
	Output              []struct {
		Type, URL string
		Count     int
	}
	Error []any
}

// waitExport polls the status of a job until it has ended (200) and returns the last document.
func (e *env) waitExport(jobID string) exportStatus {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.do("GET", "export/"+jobID, nil)
		var st exportStatus
		if err := json.Unmarshal(r.body, &st); err != nil {
			e.t.Fatalf("status body: %v: %s", err, r.body)
		}
		switch r.status {
		case http.StatusOK:
			return st
		case http.StatusAccepted:
			if r.header.Get("X-Progress") == "" {
				e.t.Errorf("202 status without X-Progress")
			}
		default:
			e.t.Fatalf("status: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("export %s still %s after a minute", jobID, st.ExportJobProperties.JobStatus)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, as an HTTP client would wait
	}
}

// exportedIDs reads the objects under a job's output folder and returns the ids per type; every
// line must be of its folder's type.
func (e *env) exportedIDs(folderURI string) map[string][]string {
	e.t.Helper()
	rest, ok := strings.CutPrefix(folderURI, "s3://")
	if !ok {
		e.t.Fatalf("folder %q is not an S3 URI", folderURI)
	}
	dir := filepath.Join(e.cfg.S3Dir, filepath.FromSlash(rest))
	got := map[string][]string{}
	types, err := os.ReadDir(dir)
	if err != nil {
		e.t.Fatalf("read export folder: %v", err)
	}
	for _, typ := range types {
		files, err := os.ReadDir(filepath.Join(dir, typ.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, f := range files {
			fh, err := os.Open(filepath.Join(dir, typ.Name(), f.Name()))
			if err != nil {
				e.t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var res struct{ ResourceType, ID string }
				if err := json.Unmarshal(sc.Bytes(), &res); err != nil || res.ResourceType != typ.Name() {
					e.t.Errorf("%s/%s: line %.80s", typ.Name(), f.Name(), sc.Text())
				}
				got[typ.Name()] = append(got[typ.Name()], res.ID)
			}
			fh.Close()
		}
		sort.Strings(got[typ.Name()])
	}
	return got
}

// checkOutput compares the status document's output list with the objects written.
func checkOutput(t *testing.T, st exportStatus, files map[string][]string) {
	t.Helper()
	counts := map[string]int{}
	for _, o := range st.Output {
		counts[o.Type] += o.Count
		if !strings.HasPrefix(o.URL, st.ExportJobProperties.OutputDataConfig.S3Configuration.S3URI+o.Type+"/") {
			t.Errorf("output url %s is not under the job folder", o.URL)
		}
	}
	want := map[string]int{}
	for typ, ids := range files {
		want[typ] = len(ids)
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("output counts (-files +status):\n%s", diff)
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *config.Config) { c.ExportS3URI = "s3://exports/default/" })
	e.buckets("exports", "other")
	loaded := e.loadExportFixture()
	base := e.url + "/datastore/" + e.ds + "/r4"
	ctx := context.Background()
	counts, err := e.srv.Store().ResourceCount(ctx, e.ds)
	if err != nil {
		t.Fatal(err)
	}
	folder := func(prefix, jobID string) string {
		return prefix + e.ds + "-FHIR_EXPORT-" + jobID + "/"
	}
	patientLevel := map[string][]string{
		"Patient":     {"p1", "p2", "p3"},
		"Observation": {"o1a", "o1b", "o2a", "o2b", "o3a", "o3b"},
		"Condition":   {"c1", "c3"},
		"Group":       {"g1"},
	}
	var jobIDs []string

	t.Run("system level, GET with query parameters", func(t *testing.T) {
		id := e.kickoff("GET", "$export?outputS3Uri=s3://other/q/&_outputFormat=application/fhir%2Bndjson", nil)
		jobIDs = append(jobIDs, id)
		st := e.waitExport(id)
		p := st.ExportJobProperties
		if p.JobID != id || p.JobStatus != "COMPLETED" || p.DatastoreID != e.ds || p.EndTime == "" || p.SubmitTime == "" {
			t.Errorf("exportJobProperties = %+v", p)
		}
		if p.OutputDataConfig.S3Configuration.S3URI != folder("s3://other/q/", id) {
			t.Errorf("s3Uri = %s", p.OutputDataConfig.S3Configuration.S3URI)
		}
		if st.Request != base+"/$export" || st.TransactionTime != p.SubmitTime || st.RequiresAccessToken == nil || *st.RequiresAccessToken || st.Error == nil {
			t.Errorf("manifest fields: request %q, transactionTime %q, requiresAccessToken %v, error %v", st.Request, st.TransactionTime, st.RequiresAccessToken, st.Error)
		}
		files := e.exportedIDs(folder("s3://other/q/", id))
		got := map[string]int64{}
		for typ, ids := range files {
			got[typ] = int64(len(ids))
		}
		if diff := cmp.Diff(counts, got); diff != "" {
			t.Errorf("exported counts (-store +files):\n%s", diff)
		}
		checkOutput(t, st, files)
	})

	t.Run("_type in a Parameters body, default location", func(t *testing.T) {
		body := `{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Patient"},{"name":"_type","valueString":"Observation,Patient"},{"name":"_outputFormat","valueString":"ndjson"}]}`
		id := e.kickoff("POST", "$export", []byte(body))
		jobIDs = append(jobIDs, id)
		st := e.waitExport(id)
		if st.ExportJobProperties.JobStatus != "COMPLETED" || st.Request != base+"/$export?_type=Patient%2CObservation" {
			t.Errorf("status %s, request %s", st.ExportJobProperties.JobStatus, st.Request)
		}
		files := e.exportedIDs(folder("s3://exports/default/", id))
		want := map[string][]string{"Patient": patientLevel["Patient"], "Observation": patientLevel["Observation"]}
		if diff := cmp.Diff(want, files); diff != "" {
			t.Errorf("exported (-want +got):\n%s", diff)
		}
		checkOutput(t, st, files)
	})

	t.Run("Patient level, HealthLake JSON body", func(t *testing.T) {
		body := `{"JobName":"rest patients","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://exports/hl","KmsKeyId":"` + exportKMSKey + `"}},"DataAccessRoleArn":"` + exportRole + `"}`
		id := e.kickoff("POST", "Patient/$export", []byte(body))
		jobIDs = append(jobIDs, id)
		st := e.waitExport(id)
		p := st.ExportJobProperties
		if p.JobStatus != "COMPLETED" || p.JobName != "rest patients" || p.DataAccessRoleArn != exportRole ||
			p.OutputDataConfig.S3Configuration.KmsKeyID != exportKMSKey || st.Request != base+"/Patient/$export" {
			t.Errorf("status = %+v, request %s", p, st.Request)
		}
		files := e.exportedIDs(folder("s3://exports/hl/", id))
		if diff := cmp.Diff(patientLevel, files); diff != "" {
			t.Errorf("exported (-want +got):\n%s", diff)
		}
		checkOutput(t, st, files)
	})

	t.Run("Group level", func(t *testing.T) {
		id := e.kickoff("GET", "Group/g1/$export", nil)
		jobIDs = append(jobIDs, id)
		st := e.waitExport(id)
		if st.ExportJobProperties.JobStatus != "COMPLETED" || st.Request != base+"/Group/g1/$export" {
			t.Errorf("status %s, request %s", st.ExportJobProperties.JobStatus, st.Request)
		}
		files := e.exportedIDs(folder("s3://exports/default/", id))
		want := map[string][]string{
			"Patient":     {"p1", "p2"},
			"Observation": {"o1a", "o1b", "o2a", "o2b"},
			"Condition":   {"c1"},
			"Group":       {"g1"},
		}
		if diff := cmp.Diff(want, files); diff != "" {
			t.Errorf("exported (-want +got):\n%s", diff)
		}
		checkOutput(t, st, files)
	})

	t.Run("_since", func(t *testing.T) {
		since := loaded.Add(time.Millisecond)
		for !time.Now().After(since) {
			time.Sleep(time.Millisecond) // the update must fall in a later millisecond than the load
		}
		upd := `{"resourceType":"Observation","id":"o2a","status":"amended","code":{"text":"a"},"subject":{"reference":"Patient/p2"}}`
		if r := e.do("PUT", "Observation/o2a", []byte(upd)); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		q := url.Values{"_since": {since.UTC().Format(time.RFC3339Nano)}, "outputS3Uri": {"s3://exports/since/"}}
		id := e.kickoff("GET", "$export?"+q.Encode(), nil)
		jobIDs = append(jobIDs, id)
		st := e.waitExport(id)
		files := e.exportedIDs(folder("s3://exports/since/", id))
		if diff := cmp.Diff(map[string][]string{"Observation": {"o2a"}}, files); diff != "" {
			t.Errorf("exported (-want +got):\n%s", diff)
		}
		if !strings.Contains(st.Request, "_since=") {
			t.Errorf("request %s does not carry _since", st.Request)
		}
	})

	t.Run("listed and described by the control plane", func(t *testing.T) {
		var listed []string
		pg := healthlake.NewListFHIRExportJobsPaginator(e.hl, &healthlake.ListFHIRExportJobsInput{DatastoreId: &e.ds})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range out.ExportJobPropertiesList {
				listed = append(listed, aws.ToString(j.JobId))
			}
		}
		slices.Sort(listed)
		want := slices.Sorted(slices.Values(jobIDs))
		if diff := cmp.Diff(want, listed); diff != "" {
			t.Errorf("ListFHIRExportJobs (-want +got):\n%s", diff)
		}
		out, err := e.hl.ListFHIRExportJobs(ctx, &healthlake.ListFHIRExportJobsInput{DatastoreId: &e.ds, JobName: aws.String("rest patients")})
		if err != nil || len(out.ExportJobPropertiesList) != 1 || aws.ToString(out.ExportJobPropertiesList[0].JobId) != jobIDs[2] {
			t.Errorf("by name: %+v, %v", out, err)
		}
		d, err := e.hl.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &e.ds, JobId: &jobIDs[0]})
		if err != nil || d.ExportJobProperties.JobStatus != types.JobStatusCompleted {
			t.Errorf("describe: %+v, %v", d, err)
		}
	})

	t.Run("ended jobs, unknown jobs, other stores and tenants", func(t *testing.T) {
		if r := e.do("DELETE", "export/"+jobIDs[0], nil); r.status != http.StatusConflict || issueCode(t, r) != "conflict" {
			t.Errorf("cancel of a completed job: %d %s, want 409", r.status, r.body)
		}
		for _, m := range []string{"GET", "DELETE"} {
			if r := e.do(m, "export/0123456789abcdef0123456789abcdef", nil); r.status != http.StatusNotFound || issueCode(t, r) != "not-found" {
				t.Errorf("%s unknown job: %d %s, want 404", m, r.status, r.body)
			}
		}
		if r := e.send("GET", base+"/export/"+jobIDs[0], nil, otherKey, otherSecret); r.status != http.StatusNotFound {
			t.Errorf("another tenant: %d, want 404", r.status)
		}
		second := e.createStore("second")
		if r := e.send("GET", e.url+"/datastore/"+second+"/r4/export/"+jobIDs[0], nil, e.key, e.secret); r.status != http.StatusNotFound {
			t.Errorf("another store of the tenant: %d, want 404", r.status)
		}
	})

	t.Run("CapabilityStatement", func(t *testing.T) {
		var cs struct {
			Instantiates []string
			Rest         []struct {
				Operation []struct{ Name, Definition string }
				Resource  []struct {
					Type      string
					Operation []struct{ Name, Definition string }
				}
			}
		}
		if err := json.Unmarshal(e.do("GET", "metadata", nil).body, &cs); err != nil || len(cs.Rest) != 1 {
			t.Fatalf("metadata: %v", err)
		}
		if !slices.Contains(cs.Instantiates, "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data") {
			t.Errorf("instantiates = %v", cs.Instantiates)
		}
		ops := map[string]string{}
		for _, o := range cs.Rest[0].Operation {
			ops["system "+o.Name] = o.Definition
		}
		for _, r := range cs.Rest[0].Resource {
			for _, o := range r.Operation {
				if o.Name == "validate" {
					continue // on every type
				}
				ops[r.Type+" "+o.Name] = o.Definition
			}
		}
		want := map[string]string{
			"system export":        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
			"Patient export":       "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
			"Group export":         "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
			"Patient everything":   "http://hl7.org/fhir/OperationDefinition/Patient-everything",
			"Patient purge":        "http://hl7.org/fhir/OperationDefinition/Patient-purge",
			"Composition document": "http://hl7.org/fhir/OperationDefinition/Composition-document",
		}
		if diff := cmp.Diff(want, ops); diff != "" {
			t.Errorf("operations (-want +got):\n%s", diff)
		}
	})
}

func TestExportKickoffErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // no default output location
	e.buckets("exports")
	e.otherBucket("theirs")
	e.loadExportFixture()
	const out = "outputS3Uri=s3://exports/x/"
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"no output location", "GET", "$export", "", 400, "invalid"},
		{"no output location in a HealthLake body", "POST", "Patient/$export", `{"JobName":"x","OutputDataConfig":{"S3Configuration":{"KmsKeyId":"k"}}}`, 400, "invalid"},
		{"output location not S3", "GET", "$export?outputS3Uri=https://exports/x/", "", 400, "invalid"},
		{"bad bucket name", "POST", "$export", `{"OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://Bad_Bucket/x"}}}`, 400, "invalid"},
		{"_outputFormat not NDJSON", "GET", "$export?_outputFormat=text/csv&" + out, "", 400, "not-supported"},
		{"_outputFormat in a Parameters body", "POST", "Patient/$export?" + out, `{"resourceType":"Parameters","parameter":[{"name":"_outputFormat","valueString":"application/fhir+json"}]}`, 400, "not-supported"},
		{"unknown _type", "GET", "$export?_type=Patient,Nope&" + out, "", 400, "invalid"},
		{"_since not an instant", "GET", "$export?_since=2024-01-01&" + out, "", 400, "invalid"},
		{"_since twice", "POST", "$export?_since=2024-01-01T00:00:00Z&" + out, `{"resourceType":"Parameters","parameter":[{"name":"_since","valueInstant":"2024-01-02T00:00:00Z"}]}`, 400, "invalid"},
		{"_typeFilter", "GET", "$export?_typeFilter=Observation%3Fstatus%3Dfinal&" + out, "", 400, "not-supported"},
		{"parameter without a primitive value", "POST", "$export?" + out, `{"resourceType":"Parameters","parameter":[{"name":"_type","valueReference":{"reference":"x"}}]}`, 400, "invalid"},
		{"body of another resource type", "POST", "$export?" + out, `{"resourceType":"Bundle","type":"batch"}`, 400, "invalid"},
		{"body not an object", "POST", "$export?" + out, `["Patient"]`, 400, "invalid"},
		{"bad role ARN", "POST", "$export", `{"OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://exports/x/"}},"DataAccessRoleArn":"role"}`, 400, "invalid"},
		{"JobName the model refuses", "POST", "$export", `{"JobName":"a,b","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://exports/x/"}}}`, 400, "invalid"},
		{"KmsKeyId longer than the model allows", "POST", "$export", `{"OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://exports/x/","KmsKeyId":"` + strings.Repeat("k", 401) + `"}}}`, 400, "invalid"},
		{"another account's bucket", "GET", "$export?outputS3Uri=s3://theirs/x/", "", 403, "forbidden"},
		{"unknown Group", "GET", "Group/nope/$export?" + out, "", 404, "not-found"},
		{"deleted Group", "GET", "Group/g2/$export?" + out, "", 404, "not-found"},
		{"PUT on $export", "PUT", "$export?" + out, "", 405, "not-supported"},
		{"PATCH on a status URL", "PATCH", "export/0123456789abcdef0123456789abcdef", "", 405, "not-supported"},
		{"other type-level operations stay unsupported", "GET", "Observation/$export?" + out, "", 501, "not-supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "deleted Group" {
				g := `{"resourceType":"Group","id":"g2","type":"person","actual":true}`
				if r := e.do("PUT", "Group/g2", []byte(g)); r.status/100 != 2 {
					t.Fatalf("create g2: %d %s", r.status, r.body)
				}
				if r := e.do("DELETE", "Group/g2", nil); r.status != http.StatusNoContent {
					t.Fatalf("delete g2: %d %s", r.status, r.body)
				}
			}
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			r := e.do(c.method, c.path, body)
			if r.status != c.status || issueCode(t, r) != c.code {
				t.Errorf("%d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	out2, err := e.hl.ListFHIRExportJobs(context.Background(), &healthlake.ListFHIRExportJobsInput{DatastoreId: &e.ds})
	if err != nil || len(out2.ExportJobPropertiesList) != 0 {
		t.Errorf("rejected kick-offs created jobs: %+v, %v", out2, err)
	}
}

func TestExportCancel(t *testing.T) {
	t.Parallel()
	gate := testenv.NewGatedPut("-FHIR_EXPORT-")
	e := newEnvWith(t, func(c *config.Config) { c.ExportPerFile = 1 },
		server.WithObjects(func(o importer.Objects) importer.Objects { return gate.Wrap(o) }))
	e.buckets("exports")
	e.loadExportFixture()
	id := e.kickoff("POST", "$export?outputS3Uri=s3://exports/cancel/", nil)
	select {
	case <-gate.Started:
	case <-time.After(time.Minute):
		t.Fatal("the export never wrote an object")
	}
	// A second job waits behind the first (one export at a time per store); it is cancelled before
	// it starts.
	queued := e.kickoffAs("GET", "$export?outputS3Uri=s3://exports/queued/", nil, "QUEUED")
	for i, job := range []string{id, id, queued} { // asking again while a cancel is pending is accepted again
		if r := e.do("DELETE", "export/"+job, nil); r.status != http.StatusAccepted {
			t.Fatalf("cancel %d: %d %s, want 202", i+1, r.status, r.body)
		}
	}
	r := e.do("GET", "export/"+id, nil)
	if r.status != http.StatusAccepted || !strings.Contains(string(r.body), `"jobStatus":"CANCEL_SUBMITTED"`) {
		t.Errorf("status after cancel: %d %s", r.status, r.body)
	}
	close(gate.Release)
	st := e.waitExport(id)
	if st.ExportJobProperties.JobStatus != "CANCEL_COMPLETED" || st.ExportJobProperties.EndTime == "" {
		t.Fatalf("after cancel: %+v", st.ExportJobProperties)
	}
	files := e.exportedIDs("s3://exports/cancel/" + e.ds + "-FHIR_EXPORT-" + id + "/")
	n := 0
	for _, ids := range files {
		n += len(ids)
	}
	if n == 0 || n > 2 {
		t.Errorf("exported %d resources before stopping, want 1 or 2 of 14", n)
	}
	if r := e.do("DELETE", "export/"+id, nil); r.status != http.StatusConflict {
		t.Errorf("cancel of a cancelled job: %d, want 409", r.status)
	}
	if st := e.waitExport(queued); st.ExportJobProperties.JobStatus != "CANCEL_COMPLETED" || len(st.Output) != 0 {
		t.Errorf("queued job after cancel: %s, output %v", st.ExportJobProperties.JobStatus, st.Output)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.S3Dir, "exports", "queued")); !os.IsNotExist(err) {
		t.Errorf("the job cancelled before it started wrote objects (stat: %v)", err)
	}
	d, err := e.hl.DescribeFHIRExportJob(context.Background(), &healthlake.DescribeFHIRExportJobInput{DatastoreId: &e.ds, JobId: &id})
	if err != nil || d.ExportJobProperties.JobStatus != types.JobStatusCancelCompleted {
		t.Errorf("describe: %+v, %v", d, err)
	}
}
