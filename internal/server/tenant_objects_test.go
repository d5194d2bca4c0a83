package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/server"
)

// fhirGet reads path under a data store's FHIR base as the given credential and returns the status.
func fhirGet(t testing.TB, ts *testServer, key, secret, ds, path string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/datastore/"+ds+"/r4/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "healthlake", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// writeObject writes an object into the embedded S3 folder by hand, creating its bucket folder.
func writeObject(t testing.TB, ts *testServer, bucket, key, body string) {
	t.Helper()
	p := filepath.Join(ts.bucket(bucket), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const secretPatient = `{"resourceType":"Patient","id":"p-secret","gender":"female","birthDate":"1970-01-01"}` + "\n"

// TestCrossTenantObjectsRefusedAtStart: buckets made by hand belong to the default account, so a
// second account can neither import from them nor export into them; the control plane refuses at
// start with AccessDeniedException and nothing is imported or written.
func TestCrossTenantObjectsRefusedAtStart(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	mine := ts.client("us-east-1")
	writeObject(t, ts, "fhir-in", "a/Patient.ndjson", secretPatient)
	ts.bucket("fhir-out")

	// The owner imports its own data: allowed.
	myDS := createActive(t, mine, "mine")
	out, err := mine.StartFHIRImportJob(ctx, importInput(myDS, "s3://fhir-in/a/", "s3://fhir-out/mine/"))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, mine, myDS, *out.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("owner's import = %s %s", j.JobStatus, aws.ToString(j.Message))
	}

	other := ts.ClientAs(otherKey, otherSecret, "us-east-1")
	theirDS := createActive(t, other, "theirs")
	var denied *types.AccessDeniedException
	for _, tc := range []struct{ name, in, out string }{
		{"input and output of another account", "s3://fhir-in/a/", "s3://fhir-out/theirs/"},
		{"input of another account", "s3://fhir-in/a/Patient.ndjson", "s3://fhir-out/theirs/"},
	} {
		_, err := other.StartFHIRImportJob(ctx, importInput(theirDS, tc.in, tc.out))
		if !errors.As(err, &denied) {
			t.Errorf("%s: import = %v, want AccessDeniedException", tc.name, err)
		} else if msg := aws.ToString(denied.Message); !strings.Contains(msg, "s3://fhir-") {
			t.Errorf("%s: message %q does not name the location", tc.name, msg)
		}
	}
	_, err = other.StartFHIRExportJob(ctx, exportInput(theirDS, "s3://fhir-out/theirs/"))
	if !errors.As(err, &denied) {
		t.Errorf("export into another account's bucket = %v, want AccessDeniedException", err)
	}
	if st := fhirGet(t, ts, otherKey, otherSecret, theirDS, "Patient/p-secret"); st != http.StatusNotFound {
		t.Errorf("other account reads the owner's patient: status %d, want 404", st)
	}
	if st := fhirGet(t, ts, "test", "test", myDS, "Patient/p-secret"); st != http.StatusOK {
		t.Errorf("owner reads its patient: status %d, want 200", st)
	}
	if _, err := os.Stat(filepath.Join(ts.Cfg.S3Dir, "fhir-out", "theirs")); !os.IsNotExist(err) {
		t.Errorf("something was written for the other account: %v", err)
	}
	list, err := other.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &theirDS})
	if err != nil || len(list.ImportJobPropertiesList) != 0 {
		t.Errorf("refused imports left jobs: %v %v", list, err)
	}
}

// TestCrossTenantObjectsFailAtRun: a job accepted while its bucket did not exist, whose bucket then
// appears owned by another account, ends FAILED with a message and imports or writes nothing.
func TestCrossTenantObjectsFailAtRun(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	ts := start(t, cfg, server.WithoutWorkers())
	ctx := context.Background()
	other := ts.ClientAs(otherKey, otherSecret, "us-east-1")
	ds := createActive(t, other, "theirs")
	imp, err := other.StartFHIRImportJob(ctx, importInput(ds, "s3://late-in/a/", "s3://late-out/x/"))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := other.StartFHIRExportJob(ctx, exportInput(ds, "s3://late-out/y/"))
	if err != nil {
		t.Fatal(err)
	}
	ts.Stop()

	// The default account's buckets appear (made by hand) before the jobs run.
	writeObject(t, ts, "late-in", "a/Patient.ndjson", secretPatient)
	ts.bucket("late-out")
	ts = start(t, ts.Cfg)
	other = ts.ClientAs(otherKey, otherSecret, "us-east-1")
	healthlake.NewFHIRImportJobCompletedWaiter(other, func(o *healthlake.FHIRImportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	}).Wait(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: imp.JobId}, time.Minute)
	di, err := other.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: imp.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if j := di.ImportJobProperties; j.JobStatus != types.JobStatusFailed || !strings.Contains(aws.ToString(j.Message), "access denied") {
		t.Errorf("import = %s %q, want FAILED with access denied", j.JobStatus, aws.ToString(j.Message))
	}
	healthlake.NewFHIRExportJobCompletedWaiter(other, func(o *healthlake.FHIRExportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	}).Wait(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: exp.JobId}, time.Minute)
	de, err := other.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: exp.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if j := de.ExportJobProperties; j.JobStatus != types.JobStatusFailed || !strings.Contains(aws.ToString(j.Message), "access denied") {
		t.Errorf("export = %s %q, want FAILED with access denied", j.JobStatus, aws.ToString(j.Message))
	}
	if st := fhirGet(t, ts, otherKey, otherSecret, ds, "Patient/p-secret"); st != http.StatusNotFound {
		t.Errorf("other account reads the owner's patient: status %d, want 404", st)
	}
	entries, _ := os.ReadDir(filepath.Join(ts.Cfg.S3Dir, "late-out"))
	if len(entries) != 0 {
		t.Errorf("the jobs wrote into another account's bucket: %v", entries)
	}
}
