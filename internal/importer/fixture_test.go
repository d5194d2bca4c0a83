package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// fixture is a SQLite store and a folder of buckets holding data store "ds" and import job "j1":
// n Patients (p0 … p<n-1>) from s3://fhir-in/Patient.ndjson at minimal, reports to
// s3://fhir-out/. The test runs the job with its own engine.
type fixture struct {
	dir    string
	db     *sqlite.Store
	folder *s3io.Dir
	tn     store.Tenant
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir(), tn: store.Tenant{AccountID: "000000000000", Region: "us-east-1"}}
	var err error
	if f.db, err = sqlite.Open(ctx, filepath.Join(f.dir, "fhirlake.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.folder, err = s3io.NewDir(f.dir, f.tn.AccountID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.folder.Close() })
	for _, b := range []string{"fhir-in", "fhir-out"} {
		if err := f.folder.As(f.tn.AccountID).CreateBucket(b, f.tn.Region); err != nil {
			t.Fatal(err)
		}
	}
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, `{"resourceType":"Patient","id":"p%d"}`+"\n", i)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "fhir-in", "Patient.ndjson"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.db.DatastoreCreate(ctx, store.Datastore{Tenant: f.tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(jobs.ImportParams{InputS3URI: "s3://fhir-in/", OutputS3URI: "s3://fhir-out/", ValidationLevel: "minimal"})
	if _, _, err := f.db.JobCreate(ctx, store.Job{Tenant: f.tn, ID: "j1", Kind: store.JobImport, DatastoreID: "ds", SubmitTime: time.Now(), Params: params}); err != nil {
		t.Fatal(err)
	}
	return f
}

// wait returns job j1 once it has ended, or as it is after a minute.
func (f *fixture) wait(t *testing.T) (store.Job, jobs.ImportProgress) {
	t.Helper()
	var j store.Job
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if j, err = f.db.JobGet(context.Background(), f.tn, "ds", store.JobImport, "j1"); err != nil {
			t.Fatal(err)
		}
		if j.Status.Terminal() || time.Now().After(deadline) {
			break
		}
	}
	var p jobs.ImportProgress
	json.Unmarshal(j.Progress, &p)
	return j, p
}

// stored returns how many Patients data store ds holds.
func (f *fixture) stored(t *testing.T) int64 {
	t.Helper()
	counts, err := f.db.ResourceCount(context.Background(), "ds")
	if err != nil {
		t.Fatal(err)
	}
	return counts["Patient"]
}
