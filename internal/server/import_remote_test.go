package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestImportFromS3Endpoint runs an import whose input and output live on a real S3 protocol
// endpoint (an in-process gofakes3 server), with gzip and plain objects.
func TestImportFromS3Endpoint(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	backend := s3mem.New()
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(fake.Close)
	for _, b := range []string{"remote-in", "remote-out"} {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	var want int64
	for _, name := range []string{"Patient.ndjson", "Condition.ndjson", "Goal.ndjson"} {
		b, err := os.ReadFile(filepath.Join(shared, "data", "synthea", name))
		if err != nil {
			t.Fatal(err)
		}
		want += int64(bytes.Count(b, []byte("\n")))
		if _, err := backend.PutObject("remote-in", "in/"+name, nil, bytes.NewReader(b), int64(len(b)), nil); err != nil {
			t.Fatal(err)
		}
	}
	gz, err := os.ReadFile(filepath.Join(shared, "data", "synthea-full", "AllergyIntolerance.ndjson.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("remote-in", "in/full/AllergyIntolerance.ndjson.gz", nil, bytes.NewReader(gz), int64(len(gz)), nil); err != nil {
		t.Fatal(err)
	}
	want += 365

	cfg := newConfig(t)
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = fake.URL, "fake", "fake"
	ts := start(t, cfg)
	c := ts.client("us-east-1")
	ds := createActive(t, c, "remote")
	in := importInput(ds, "s3://remote-in/in/", "s3://remote-out/jobs/")
	in.ValidationLevel = types.ValidationLevelStructureOnly
	startOut, err := c.StartFHIRImportJob(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	job := waitImport(t, c, ds, *startOut.JobId)
	r := job.JobProgressReport
	if job.JobStatus != types.JobStatusCompleted || aws.ToInt64(r.TotalNumberOfResourcesImported) != want || aws.ToInt64(r.TotalNumberOfScannedFiles) != 4 {
		t.Fatalf("job = %s %+v, want %d resources", job.JobStatus, *r, want)
	}
	folder := "jobs/" + ds + "-FHIR_IMPORT-" + *startOut.JobId + "/"
	obj, err := backend.GetObject("remote-out", folder+"SUCCESS/full/AllergyIntolerance.ndjson", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if n := strings.Count(string(body), "\n"); n != 365 {
		t.Errorf("SUCCESS lines for the gzip file = %d, want 365", n)
	}
	if _, err := backend.HeadObject("remote-out", folder+"manifest.json"); err != nil {
		t.Errorf("manifest: %v", err)
	}
}
