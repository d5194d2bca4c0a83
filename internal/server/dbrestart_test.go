package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// healthz returns the status of GET /healthz.
func healthz(t *testing.T, ts *testServer) int {
	t.Helper()
	res, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// waitHealth waits until /healthz answers want.
func waitHealth(t *testing.T, ts *testServer, want int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if healthz(t, ts) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered %d", want)
		}
	}
}

// TestDatabaseRestart stops the PostgreSQL server of a node (a server of the test's own) while an
// import runs: /healthz answers 503 while the database is down, the job pauses on the fault
// instead of failing, and once the server is back the node reconnects, /healthz answers 200 and
// the job completes with every resource imported exactly once.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	cfg := newConfig(t)
	cfg.Store, cfg.S3DirShared = pg.URL, true
	cfg.JobLease = 3 * time.Second
	g := &gate{marker: "Patient", opened: make(chan struct{}), release: make(chan struct{})}
	p := newPauses()
	ts := start(t, cfg, server.WithJobHook(p.hook),
		server.WithObjects(func(o importer.Objects) importer.Objects { g.Objects = o; return g }))
	c := ts.client("us-east-1")
	ds := createActive(t, c, "restart")
	const n = 6000
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"resourceType":"Patient","id":"p%d","gender":"female","birthDate":"1970-01-01"}`+"\n", i)
	}
	if err := os.WriteFile(filepath.Join(ts.bucket("fhir-in"), "Patient.ndjson"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ts.bucket("fhir-out")
	in := importInput(ds, "s3://fhir-in/Patient.ndjson", "s3://fhir-out/")
	in.ValidationLevel = types.ValidationLevelMinimal
	out, err := c.StartFHIRImportJob(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	<-g.opened // the job runs and is about to read its input
	if got := healthz(t, ts); got != http.StatusOK {
		t.Fatalf("/healthz with the database up = %d", got)
	}
	pg.Stop()
	waitHealth(t, ts, http.StatusServiceUnavailable)
	close(g.release)
	select {
	case <-p.ch:
	case <-time.After(time.Minute):
		t.Fatal("the job did not pause while the database was down")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, ts, http.StatusOK)
	job := waitImport(t, c, ds, *out.JobId)
	r := job.JobProgressReport
	if job.JobStatus != types.JobStatusCompleted || aws.ToInt64(r.TotalNumberOfResourcesImported) != n || aws.ToInt64(r.TotalNumberOfResourcesScanned) != n {
		t.Fatalf("job = %s %+v, want %d resources imported", job.JobStatus, *r, n)
	}
	versions := map[int64]int{}
	if err := ts.Srv.Store().ResourceScan(context.Background(), ds, "Patient", "", func(r store.Resource) error {
		versions[r.Version]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if versions[1] != n || len(versions) != 1 {
		t.Fatalf("versions = %v, want %d resources at version 1", versions, n)
	}
}
