package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

const kmsKey = "arn:aws:kms:us-east-1:000000000000:key/test"

var role = aws.String("arn:aws:iam::000000000000:role/HealthLakeImport")

func importInput(id, in, out string) *healthlake.StartFHIRImportJobInput {
	return &healthlake.StartFHIRImportJobInput{
		DatastoreId:     &id,
		InputDataConfig: &types.InputDataConfigMemberS3Uri{Value: in},
		JobOutputDataConfig: &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{
			S3Uri: aws.String(out), KmsKeyId: aws.String(kmsKey)}},
		DataAccessRoleArn: role,
	}
}

// waitImport waits with the SDK waiter and returns the final job description.
func waitImport(t testing.TB, c *healthlake.Client, ds, job string) *types.ImportJobProperties {
	t.Helper()
	ctx := context.Background()
	w := healthlake.NewFHIRImportJobCompletedWaiter(c, func(o *healthlake.FHIRImportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	})
	out, err := w.WaitForOutput(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: &job}, 5*time.Minute)
	if err != nil {
		d, _ := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: &job})
		if d != nil {
			t.Fatalf("wait: %v (job %s: %s)", err, d.ImportJobProperties.JobStatus, aws.ToString(d.ImportJobProperties.Message))
		}
		t.Fatalf("wait: %v", err)
	}
	return out.ImportJobProperties
}

// copyDir copies the files of src into dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// countLines counts the non-blank lines of the .ndjson files of a folder.
func countLines(t testing.TB, dir string) (int64, int64) {
	t.Helper()
	var lines, size int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		size += st.Size()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "" {
				lines++
			}
		}
		f.Close()
	}
	return lines, size
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func TestImportSynthea(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "synthea")
	copyDir(t, filepath.Join(shared, "data", "synthea"), filepath.Join(ts.bucket("fhir-in"), "synthea"))
	ts.bucket("fhir-out")
	lines, size := countLines(t, filepath.Join(shared, "data", "synthea"))

	start, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/synthea/", "s3://fhir-out/imports"))
	if err != nil {
		t.Fatal(err)
	}
	if start.JobStatus != types.JobStatusSubmitted || aws.ToString(start.DatastoreId) != ds || len(aws.ToString(start.JobId)) != 32 {
		t.Fatalf("start = %+v", start)
	}
	job := waitImport(t, c, ds, *start.JobId)
	if job.JobStatus != types.JobStatusCompleted {
		t.Fatalf("status = %s (%s)", job.JobStatus, aws.ToString(job.Message))
	}
	folder := "s3://fhir-out/imports/" + ds + "-FHIR_IMPORT-" + *start.JobId + "/"
	s3c := job.JobOutputDataConfig.(*types.OutputDataConfigMemberS3Configuration).Value
	if aws.ToString(s3c.S3Uri) != folder || aws.ToString(s3c.KmsKeyId) != kmsKey {
		t.Errorf("output = %s %s, want %s", aws.ToString(s3c.S3Uri), aws.ToString(s3c.KmsKeyId), folder)
	}
	if job.EndTime == nil || job.SubmitTime == nil || job.EndTime.Before(*job.SubmitTime) || job.ValidationLevel != types.ValidationLevelStrict {
		t.Errorf("times/level = %v %v %s", job.SubmitTime, job.EndTime, job.ValidationLevel)
	}
	r := job.JobProgressReport
	if aws.ToInt64(r.TotalNumberOfScannedFiles) != 16 || aws.ToInt64(r.TotalNumberOfImportedFiles) != 16 ||
		aws.ToInt64(r.TotalNumberOfResourcesScanned) != lines || aws.ToInt64(r.TotalNumberOfResourcesImported) != lines ||
		aws.ToInt64(r.TotalNumberOfResourcesWithCustomerError) != 0 || aws.ToInt64(r.TotalNumberOfFilesReadWithCustomerError) != 0 ||
		aws.ToFloat64(r.Throughput) <= 0 {
		t.Errorf("progress = %+v, want %d resources", *r, lines)
	}
	if got := aws.ToFloat64(r.TotalSizeOfScannedFilesInMB); got < float64(size)/1e6-0.000001 || got > float64(size)/1e6+0.000001 {
		t.Errorf("size = %f MB, want %f", got, float64(size)/1e6)
	}
	// The manifest.
	dir := filepath.Join(ts.Cfg.S3Dir, "fhir-out", "imports", ds+"-FHIR_IMPORT-"+*start.JobId)
	var m map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v %s", err, b)
	}
	if m["numberOfResourcesScanned"] != float64(lines) || m["numberOfResourcesImportedSuccessfully"] != float64(lines) ||
		m["numberOfScannedFiles"] != float64(16) || m["numberOfResourcesWithCustomerError"] != float64(0) ||
		m["successOutput"].(map[string]any)["successOutputS3Uri"] != folder+"SUCCESS/" {
		t.Errorf("manifest = %s", b)
	}
	// One SUCCESS line per resource, no FAILURE folder.
	var success int
	for _, e := range mustReadDir(t, filepath.Join(dir, "SUCCESS")) {
		success += len(readLines(t, filepath.Join(dir, "SUCCESS", e)))
	}
	if int64(success) != lines {
		t.Errorf("SUCCESS lines = %d, want %d", success, lines)
	}
	if _, err := os.Stat(filepath.Join(dir, "FAILURE")); !os.IsNotExist(err) {
		t.Errorf("FAILURE folder exists: %v", err)
	}
	// Stored resources and versions.
	counts, err := ts.Srv.Store().ResourceCount(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, n := range counts {
		stored += n
	}
	if stored != lines || counts["Observation"] != 3690 || counts["Patient"] != 29 {
		t.Errorf("stored %d (%v), want %d", stored, counts, lines)
	}
	// Re-import: every resource gets version 2.
	again, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/synthea/Patient.ndjson", "s3://fhir-out/imports/"))
	if err != nil {
		t.Fatal(err)
	}
	job2 := waitImport(t, c, ds, *again.JobId)
	if aws.ToInt64(job2.JobProgressReport.TotalNumberOfResourcesImported) != 29 {
		t.Fatalf("re-import = %+v", job2.JobProgressReport)
	}
	first := strings.SplitN(readLines(t, filepath.Join(ts.Cfg.S3Dir, "fhir-in", "synthea", "Patient.ndjson"))[0], `"id":"`, 2)[1][:36]
	res, err := ts.Srv.Store().ResourceGet(ctx, ds, "Patient", first)
	if err != nil || res.Version != 2 {
		t.Fatalf("Patient/%s = v%d, %v; want v2", first, res.Version, err)
	}
	dir2 := filepath.Join(ts.Cfg.S3Dir, "fhir-out", "imports", ds+"-FHIR_IMPORT-"+*again.JobId)
	line := readLines(t, filepath.Join(dir2, "SUCCESS", "Patient.ndjson"))[0]
	if !strings.Contains(line, `"lineId":1,`) || !strings.Contains(line, `"versionId":"2"`) || !strings.HasSuffix(line, `"statusCode":200}}`) {
		t.Errorf("success record = %s", line)
	}
}

func mustReadDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestImportMixedValidAndBroken(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ds := createActive(t, c, "mixed")
	in := ts.bucket("fhir-in")
	ts.bucket("fhir-out")
	mixed := strings.Join([]string{
		`{"resourceType":"Patient","id":"p1","gender":"female"}`,
		`{"resourceType":"Patient","id":"p2","gender":"female"`,
		``,
		`{"resourceType":"Patient","gender":"male"}`,
		`{"resourceType":"Nope","id":"x1"}`,
		`{"resourceType":"Patient","id":"bad id!"}`,
		`{"resourceType":"Patient","id":"p3","birthDate":"1990-13-45"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}`,
		`{"resourceType":"Patient","id":"p4","unknownElement":true}`,
	}, "\n") + "\n"
	os.MkdirAll(filepath.Join(in, "mixed"), 0o755)
	os.WriteFile(filepath.Join(in, "mixed", "data.ndjson"), []byte(mixed), 0o644)
	os.WriteFile(filepath.Join(in, "mixed", "notes.txt"), []byte("not fhir\n"), 0o644)
	start, err := c.StartFHIRImportJob(context.Background(), importInput(ds, "s3://fhir-in/mixed/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	job := waitImport(t, c, ds, *start.JobId)
	if job.JobStatus != types.JobStatusCompletedWithErrors {
		t.Fatalf("status = %s", job.JobStatus)
	}
	r := job.JobProgressReport
	if aws.ToInt64(r.TotalNumberOfResourcesScanned) != 8 || aws.ToInt64(r.TotalNumberOfResourcesImported) != 2 ||
		aws.ToInt64(r.TotalNumberOfResourcesWithCustomerError) != 6 || aws.ToInt64(r.TotalNumberOfFilesReadWithCustomerError) != 1 ||
		aws.ToInt64(r.TotalNumberOfScannedFiles) != 2 || aws.ToInt64(r.TotalNumberOfImportedFiles) != 1 {
		t.Errorf("progress = %+v", *r)
	}
	dir := filepath.Join(ts.Cfg.S3Dir, "fhir-out", ds+"-FHIR_IMPORT-"+*start.JobId)
	failures := readLines(t, filepath.Join(dir, "FAILURE", "data.ndjson"))
	wantLines := []string{`"lineId":2,`, `"lineId":4,`, `"lineId":5,`, `"lineId":6,`, `"lineId":7,`, `"lineId":9,`}
	wantText := []string{"", "id", "Nope", "id", "birthDate", "unknownElement"}
	if len(failures) != len(wantLines) {
		t.Fatalf("FAILURE = %d lines:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	for i, f := range failures {
		var rec struct {
			LineID int `json:"lineId"`
			Resp   struct {
				JSONBlob struct {
					ResourceType string `json:"resourceType"`
					Issue        []struct {
						Severity, Code, Diagnostics string
						Expression                  []string
					} `json:"issue"`
				} `json:"jsonBlob"`
				StatusCode int `json:"statusCode"`
			} `json:"UpdateResourceResponse"`
		}
		if err := json.Unmarshal([]byte(f), &rec); err != nil {
			t.Fatalf("record %d is not JSON: %v: %s", i, err, f)
		}
		if !strings.Contains(f, wantLines[i]) || rec.Resp.StatusCode != 400 || rec.Resp.JSONBlob.ResourceType != "OperationOutcome" ||
			len(rec.Resp.JSONBlob.Issue) == 0 || !strings.Contains(f, wantText[i]) {
			t.Errorf("record %d = %s", i, f)
		}
	}
	notes := readLines(t, filepath.Join(dir, "FAILURE", "notes.txt"))
	if len(notes) != 1 || !strings.Contains(notes[0], `"lineId":0`) || !strings.Contains(notes[0], "not NDJSON") {
		t.Errorf("notes failure = %v", notes)
	}
	success := readLines(t, filepath.Join(dir, "SUCCESS", "data.ndjson"))
	if len(success) != 2 || !strings.Contains(success[0], `"lineId":1,`) || !strings.Contains(success[1], `"lineId":8,`) ||
		!strings.Contains(success[0], `"statusCode":201`) {
		t.Errorf("success = %v", success)
	}
}

func TestImportJobFailures(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.MaxImportFiles = 2
	ts := start(t, cfg)
	c := ts.client("us-east-1")
	ds := createActive(t, c, "failing")
	many := filepath.Join(ts.bucket("fhir-in"), "many")
	os.MkdirAll(many, 0o755)
	for i := 0; i < 3; i++ {
		os.WriteFile(filepath.Join(many, fmt.Sprintf("f%d.ndjson", i)), []byte(`{"resourceType":"Patient","id":"x"}`+"\n"), 0o644)
	}
	ts.bucket("fhir-out")
	for _, tc := range []struct{ name, in, out, msg string }{
		{"empty prefix", "s3://fhir-in/nothing/", "s3://fhir-out/", "no objects"},
		{"missing input bucket", "s3://no-such-bucket/x/", "s3://fhir-out/", "bucket does not exist"},
		{"missing output bucket", "s3://fhir-in/", "s3://no-out-bucket/", "not writable"},
		{"too many files", "s3://fhir-in/many/", "s3://fhir-out/", "holds more than 2 objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, err := c.StartFHIRImportJob(context.Background(), importInput(ds, tc.in, tc.out))
			if err != nil {
				t.Fatal(err)
			}
			w := healthlake.NewFHIRImportJobCompletedWaiter(c, func(o *healthlake.FHIRImportJobCompletedWaiterOptions) {
				o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
			})
			err = w.Wait(context.Background(), &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: start.JobId}, time.Minute)
			if err == nil {
				t.Fatal("waiter succeeded, want failure state")
			}
			d, _ := c.DescribeFHIRImportJob(context.Background(), &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: start.JobId})
			p := d.ImportJobProperties
			if p.JobStatus != types.JobStatusFailed || !strings.Contains(aws.ToString(p.Message), tc.msg) || p.EndTime == nil {
				t.Errorf("job = %s %q", p.JobStatus, aws.ToString(p.Message))
			}
		})
	}
	// Jobs need an ACTIVE store.
	del, _ := c.DeleteFHIRDatastore(context.Background(), &healthlake.DeleteFHIRDatastoreInput{DatastoreId: &ds})
	_, err := c.StartFHIRImportJob(context.Background(), importInput(*del.DatastoreId, "s3://fhir-in/", "s3://fhir-out/"))
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("import into deleted store: %v, want ValidationException", err)
	}
	var nf *types.ResourceNotFoundException
	_, err = c.StartFHIRImportJob(context.Background(), importInput(strings.Repeat("a", 32), "s3://fhir-in/", "s3://fhir-out/"))
	if !errors.As(err, &nf) {
		t.Errorf("import into unknown store: %v, want ResourceNotFoundException", err)
	}
}

func TestImportIdempotentToken(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "idem")
	in := importInput(ds, "s3://fhir-in/a/", "s3://fhir-out/")
	in.ClientToken = aws.String("11111111-2222-3333-4444-555555555555")
	a, err := c.StartFHIRImportJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.StartFHIRImportJob(ctx, in)
	if err != nil || aws.ToString(b.JobId) != aws.ToString(a.JobId) {
		t.Fatalf("replay = %v, %v", b, err)
	}
	in.InputDataConfig = &types.InputDataConfigMemberS3Uri{Value: "s3://fhir-in/b/"}
	_, err = c.StartFHIRImportJob(ctx, in)
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("same token, other input: %v", err)
	}
	// Without a token the SDK makes one per call: two jobs.
	// (The SDK writes the token it makes into the input, so clear it before each call.)
	in.ClientToken = nil
	x, _ := c.StartFHIRImportJob(ctx, in)
	in.ClientToken = nil
	y, _ := c.StartFHIRImportJob(ctx, in)
	if aws.ToString(x.JobId) == aws.ToString(y.JobId) {
		t.Errorf("two calls without a token gave one job")
	}
}

// gate blocks Open of keys containing a marker until released.
type gate struct {
	importer.Objects
	marker  string
	opened  chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	if strings.Contains(key, g.marker) {
		g.once.Do(func() { close(g.opened) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Objects.Open(ctx, bucket, key, offset)
}

func TestImportQueuesPerDatastore(t *testing.T) {
	t.Parallel()
	g := &gate{marker: "slow", opened: make(chan struct{}), release: make(chan struct{})}
	ts := start(t, newConfig(t), server.WithObjects(func(o importer.Objects) importer.Objects { g.Objects = o; return g }))
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "queue")
	other := createActive(t, c, "other")
	in := ts.bucket("fhir-in")
	ts.bucket("fhir-out")
	os.WriteFile(filepath.Join(in, "slow.ndjson"), []byte(`{"resourceType":"Patient","id":"a"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(in, "fast.ndjson"), []byte(`{"resourceType":"Patient","id":"b"}`+"\n"), 0o644)
	first, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/slow.ndjson", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	<-g.opened // the first job is running and blocked
	second, _ := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/fast.ndjson", "s3://fhir-out/"))
	third, _ := c.StartFHIRImportJob(ctx, importInput(other, "s3://fhir-in/fast.ndjson", "s3://fhir-out/"))
	// Another store's job runs in parallel and completes while the first is blocked.
	if j := waitImport(t, c, other, *third.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("other store's job = %s", j.JobStatus)
	}
	d1, _ := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: first.JobId})
	d2, _ := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: second.JobId})
	if d1.ImportJobProperties.JobStatus != types.JobStatusInProgress || d2.ImportJobProperties.JobStatus != types.JobStatusQueued {
		t.Fatalf("statuses = %s, %s; want IN_PROGRESS, QUEUED", d1.ImportJobProperties.JobStatus, d2.ImportJobProperties.JobStatus)
	}
	if d2.ImportJobProperties.JobProgressReport != nil || d2.ImportJobProperties.EndTime != nil {
		t.Errorf("queued job has progress or end time")
	}
	close(g.release)
	j1 := waitImport(t, c, ds, *first.JobId)
	j2 := waitImport(t, c, ds, *second.JobId)
	if j1.JobStatus != types.JobStatusCompleted || j2.JobStatus != types.JobStatusCompleted || j2.EndTime.Before(*j1.EndTime) {
		t.Errorf("end = %s %v, %s %v", j1.JobStatus, j1.EndTime, j2.JobStatus, j2.EndTime)
	}
}
