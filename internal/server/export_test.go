package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

func exportInput(ds, out string) *healthlake.StartFHIRExportJobInput {
	return &healthlake.StartFHIRExportJobInput{
		DatastoreId:       &ds,
		OutputDataConfig:  &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{S3Uri: aws.String(out), KmsKeyId: aws.String(kmsKey)}},
		DataAccessRoleArn: role,
	}
}

func waitExport(t testing.TB, c *healthlake.Client, ds, job string) *types.ExportJobProperties {
	t.Helper()
	w := healthlake.NewFHIRExportJobCompletedWaiter(c, func(o *healthlake.FHIRExportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	})
	out, err := w.WaitForOutput(context.Background(), &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: &job}, 5*time.Minute)
	if err != nil {
		t.Fatalf("wait export: %v", err)
	}
	return out.ExportJobProperties
}

// importSynthea imports shared/data/synthea into a new store and returns its id.
func importSynthea(t testing.TB, ts *testServer, c *healthlake.Client) string {
	t.Helper()
	ds := createActive(t, c, "src")
	copyDir(t, filepath.Join(testenv.SharedDir(t), "data", "synthea"), filepath.Join(ts.bucket("fhir-in"), "synthea"))
	ts.bucket("fhir-out")
	in := importInput(ds, "s3://fhir-in/synthea/", "s3://fhir-out/imports/")
	in.ValidationLevel = types.ValidationLevelMinimal
	out, err := c.StartFHIRImportJob(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, c, ds, *out.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("import = %s", j.JobStatus)
	}
	return ds
}

// TestExportRoundTrip exports an imported store, checks the layout and counts, imports the export
// into a fresh store and compares every current resource.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.ExportPerFile = 1000
	ts := start(t, cfg)
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := importSynthea(t, ts, c)
	st := ts.Srv.Store()
	// One deleted resource must not be exported.
	if _, err := st.ResourceWrite(ctx, ds, []store.ResourceWrite{{Type: "Goal", ID: firstID(t, ts, "Goal"), Delete: true}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	counts, _ := st.ResourceCount(ctx, ds)
	started, err := c.StartFHIRExportJob(ctx, exportInput(ds, "s3://fhir-out/exports"))
	if err != nil {
		t.Fatal(err)
	}
	if started.JobStatus != types.JobStatusSubmitted {
		t.Errorf("status = %s", started.JobStatus)
	}
	job := waitExport(t, c, ds, *started.JobId)
	folder := "s3://fhir-out/exports/" + ds + "-FHIR_EXPORT-" + *started.JobId + "/"
	if job.JobStatus != types.JobStatusCompleted || aws.ToString(job.OutputDataConfig.(*types.OutputDataConfigMemberS3Configuration).Value.S3Uri) != folder || job.EndTime == nil {
		t.Fatalf("job = %+v", job)
	}
	dir := filepath.Join(ts.Cfg.S3Dir, "fhir-out", "exports", ds+"-FHIR_EXPORT-"+*started.JobId)
	got := map[string]int64{}
	for _, typ := range mustReadDir(t, dir) {
		for _, f := range mustReadDir(t, filepath.Join(dir, typ)) {
			lines := readLines(t, filepath.Join(dir, typ, f))
			if len(lines) > 1000 {
				t.Errorf("%s/%s has %d resources, want at most 1000", typ, f, len(lines))
			}
			for _, l := range lines {
				if !strings.Contains(l, `"resourceType":"`+typ+`"`) || !strings.Contains(l, `"versionId":"`) {
					t.Fatalf("%s line: %.80s", typ, l)
				}
			}
			got[typ] += int64(len(lines))
		}
	}
	for typ, n := range counts {
		if got[typ] != n {
			t.Errorf("%s: exported %d, stored %d", typ, got[typ], n)
		}
	}
	if len(mustReadDir(t, filepath.Join(dir, "Observation"))) != 4 {
		t.Errorf("Observation objects = %v, want 4 (3,690 at 1,000 each)", mustReadDir(t, filepath.Join(dir, "Observation")))
	}
	// Round trip: import the export into a fresh store.
	fresh := createActive(t, c, "copy")
	in := importInput(fresh, "s3://fhir-out/exports/"+ds+"-FHIR_EXPORT-"+*started.JobId+"/", "s3://fhir-out/roundtrip/")
	imp, err := c.StartFHIRImportJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, c, fresh, *imp.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("round-trip import = %s", j.JobStatus)
	}
	copied, _ := st.ResourceCount(ctx, fresh)
	for typ, n := range counts {
		if copied[typ] != n {
			t.Errorf("%s: copied %d, want %d", typ, copied[typ], n)
		}
		var compared int
		err := st.ResourceScan(ctx, ds, typ, "", func(a store.Resource) error {
			b, err := st.ResourceGet(ctx, fresh, typ, a.ID)
			if err != nil {
				return err
			}
			if !sameResource(t, a.Body, b.Body) {
				t.Errorf("%s/%s differs after the round trip", typ, a.ID)
			}
			compared++
			return nil
		})
		if err != nil || int64(compared) != n {
			t.Errorf("%s: compared %d of %d: %v", typ, compared, n, err)
		}
	}
}

// sameResource compares two resource bodies ignoring meta.versionId and meta.lastUpdated.
func sameResource(t testing.TB, a, b []byte) bool {
	norm := func(raw []byte) string {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if meta, ok := m["meta"].(map[string]any); ok {
			delete(meta, "versionId")
			delete(meta, "lastUpdated")
			if len(meta) == 0 {
				delete(m, "meta")
			}
		}
		out, _ := json.Marshal(m)
		return string(out)
	}
	return norm(a) == norm(b)
}

func firstID(t testing.TB, ts *testServer, typ string) string {
	t.Helper()
	l := readLines(t, filepath.Join(ts.Cfg.S3Dir, "fhir-in", "synthea", typ+".ndjson"))[0]
	var r struct{ ID string }
	json.Unmarshal([]byte(l), &r)
	return r.ID
}

func TestExportJobsListAndErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "exports")
	ts.bucket("fhir-out")
	var ids []string
	for i := 0; i < 3; i++ {
		in := exportInput(ds, "s3://fhir-out/e/")
		in.JobName = aws.String("nightly")
		out, err := c.StartFHIRExportJob(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.JobId)
		waitExport(t, c, ds, *out.JobId)
	}
	missing, _ := c.StartFHIRExportJob(ctx, exportInput(ds, "s3://no-bucket-here/e/"))
	w := healthlake.NewFHIRExportJobCompletedWaiter(c, func(o *healthlake.FHIRExportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: missing.JobId}, time.Minute); err == nil {
		t.Error("export to a missing bucket succeeded")
	}
	pg := healthlake.NewListFHIRExportJobsPaginator(c, &healthlake.ListFHIRExportJobsInput{DatastoreId: &ds, MaxResults: aws.Int32(2)})
	var seen []string
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range out.ExportJobPropertiesList {
			seen = append(seen, *j.JobId)
		}
	}
	if len(seen) != 4 {
		t.Errorf("listed %d export jobs, want 4", len(seen))
	}
	for _, id := range ids {
		if !slices.Contains(seen, id) {
			t.Errorf("export job %s not listed", id)
		}
	}
	out, err := c.ListFHIRExportJobs(ctx, &healthlake.ListFHIRExportJobsInput{DatastoreId: &ds, JobStatus: types.JobStatusFailed})
	if err != nil || len(out.ExportJobPropertiesList) != 1 || !strings.Contains(aws.ToString(out.ExportJobPropertiesList[0].Message), "not writable") {
		t.Errorf("failed filter: %+v, %v", out, err)
	}
	out, _ = c.ListFHIRExportJobs(ctx, &healthlake.ListFHIRExportJobsInput{DatastoreId: &ds, JobName: aws.String("nightly")})
	if len(out.ExportJobPropertiesList) != 3 {
		t.Errorf("name filter: %d", len(out.ExportJobPropertiesList))
	}
	imports, _ := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds})
	if len(imports.ImportJobPropertiesList) != 0 {
		t.Errorf("export jobs listed as imports")
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: aws.String("nope")}); !errors.As(err, &nf) {
		t.Errorf("unknown job: %v", err)
	}
	tok := aws.String("11111111-1111-1111-1111-111111111111")
	in := exportInput(ds, "s3://fhir-out/e/")
	in.ClientToken = tok
	a, _ := c.StartFHIRExportJob(ctx, in)
	b, _ := c.StartFHIRExportJob(ctx, in)
	if aws.ToString(a.JobId) != aws.ToString(b.JobId) {
		t.Errorf("token replay made a new job")
	}
}

func TestExportCancel(t *testing.T) {
	t.Parallel()
	slow := testenv.NewGatedPut("FHIR_EXPORT")
	cfg := newConfig(t)
	cfg.ExportPerFile = 100
	ts := start(t, cfg, server.WithObjects(func(o importer.Objects) importer.Objects { return slow.Wrap(o) }))
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := importSynthea(t, ts, c)
	started, err := c.StartFHIRExportJob(ctx, exportInput(ds, "s3://fhir-out/cancel/"))
	if err != nil {
		t.Fatal(err)
	}
	<-slow.Started
	if _, err := ts.Srv.Store().JobSetStatus(ctx, tenant, ds, store.JobExport, *started.JobId,
		[]store.JobStatus{store.JobInProgress}, store.JobCancelSubmitted); err != nil {
		t.Fatal(err)
	}
	close(slow.Release)
	w := healthlake.NewFHIRExportJobCompletedWaiter(c, func(o *healthlake.FHIRExportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	err = w.Wait(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: started.JobId}, time.Minute)
	d, _ := c.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: started.JobId})
	if err == nil || d.ExportJobProperties.JobStatus != types.JobStatusCancelCompleted || d.ExportJobProperties.EndTime == nil {
		t.Fatalf("after cancel: %v, %s", err, d.ExportJobProperties.JobStatus)
	}
	// It stopped early: far fewer objects than a full export would write.
	var objects int
	filepath.Walk(filepath.Join(ts.Cfg.S3Dir, "fhir-out", "cancel"), func(_ string, info os.FileInfo, _ error) error {
		if info != nil && !info.IsDir() {
			objects++
		}
		return nil
	})
	if objects == 0 || objects > 3 {
		t.Errorf("objects written = %d, want 1..3", objects)
	}

}
