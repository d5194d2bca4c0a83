package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/server/servertest"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// describeJob returns an import or export job's status and message.
func describeJob(t *testing.T, c *healthlake.Client, ds, job string, export bool) (types.JobStatus, string) {
	t.Helper()
	ctx := context.Background()
	if export {
		out, err := c.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: &job})
		if err != nil {
			t.Fatal(err)
		}
		return out.ExportJobProperties.JobStatus, aws.ToString(out.ExportJobProperties.Message)
	}
	out, err := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: &job})
	if err != nil {
		t.Fatal(err)
	}
	return out.ImportJobProperties.JobStatus, aws.ToString(out.ImportJobProperties.Message)
}

// waitEnd waits until a job is terminal and returns its status and message.
func waitEnd(t *testing.T, c *healthlake.Client, ds, job string, export bool) (types.JobStatus, string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, msg := describeJob(t, c, ds, job, export)
		if store.JobStatus(st).Terminal() {
			return st, msg
		}
	}
	t.Fatalf("job %s did not end", job)
	return "", ""
}

// pauses counts the engine's "paused" hook points and signals each one.
type pauses struct {
	n  atomic.Int64
	ch chan string
}

func newPauses() *pauses { return &pauses{ch: make(chan string, 1000)} }

func (p *pauses) hook(point string) {
	if strings.HasSuffix(point, ".paused") {
		p.n.Add(1)
		select {
		case p.ch <- point:
		default:
		}
	}
}

// TestImportDiskFull fills the disk of the data directory (a small tmpfs) while an import runs:
// the job pauses instead of failing, and once space returns it completes with exactly the
// counters, reports and versions of an import that never met the fault.
func TestImportDiskFull(t *testing.T) {
	t.Parallel()
	if servertest.Postgres() {
		t.Skip("on PostgreSQL the data directory holds no database; a full database disk is SQLSTATE 53100, classified in the store")
	}
	dataDir, ok := testenv.MountTmpfs(t, "24m")
	if !ok {
		t.Skip("cannot mount a tmpfs here; the importer's TestStoreFaultResumes covers the path with a failing store")
	}
	cfg := newConfig(t)
	cfg.DataDir, cfg.S3Dir = dataDir, t.TempDir()
	// On a full disk the engine may not be able to shorten the lease of a paused job: keep it
	// short so the retry does not wait for long.
	cfg.JobLease = 3 * time.Second
	g := &gate{marker: "Patient", opened: make(chan struct{}), release: make(chan struct{})}
	p := newPauses()
	ts := start(t, cfg, server.WithJobHook(p.hook),
		server.WithObjects(func(o importer.Objects) importer.Objects { g.Objects = o; return g }))
	c := ts.client("us-east-1")
	ds := createActive(t, c, "full")
	const n = 6000
	const slack = 8 << 20 // bytes left free: room for the first commit or so, not for all
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"resourceType":"Patient","id":"p%d","gender":"female","name":[{"family":"Family%d","given":["Given%d"]}],"birthDate":"1970-01-01","address":[{"line":["%d Long Street Name"],"city":"Somewhere","postalCode":"%05d"}]}`+"\n", i, i, i, i, i)
	}
	os.WriteFile(filepath.Join(ts.bucket("fhir-in"), "Patient.ndjson"), []byte(b.String()), 0o644)
	ts.bucket("fhir-out")
	in := importInput(ds, "s3://fhir-in/Patient.ndjson", "s3://fhir-out/")
	in.ValidationLevel = types.ValidationLevelMinimal
	out, err := c.StartFHIRImportJob(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	job := *out.JobId
	<-g.opened // the job runs and is about to read its input
	// Leave room for a part of the input, so that the disk fills in the middle of the import.
	ballast := testenv.Fill(t, dataDir)
	if st, err := os.Stat(ballast); err != nil || os.Truncate(ballast, st.Size()-slack) != nil {
		t.Fatalf("make room: %v", err)
	}
	close(g.release)
wait:
	for deadline := time.Now().Add(time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("on a full disk the job neither paused nor ended")
		}
		select {
		case <-p.ch:
			break wait
		case <-time.After(20 * time.Millisecond):
			if st, msg := describeJob(t, c, ds, job, false); store.JobStatus(st).Terminal() {
				t.Fatalf("on a full disk the job ended %s (%s) instead of pausing", st, msg)
			}
		}
	}
	d, err := c.DescribeFHIRImportJob(context.Background(), &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: &job})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.ImportJobProperties.JobStatus; st != types.JobStatusInProgress {
		t.Errorf("paused job = %s, want IN_PROGRESS", st)
	}
	if r := d.ImportJobProperties.JobProgressReport; r != nil {
		t.Logf("paused with %d resources imported", aws.ToInt64(r.TotalNumberOfResourcesImported))
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	j := waitImport(t, c, ds, job)
	r := j.JobProgressReport
	if j.JobStatus != types.JobStatusCompleted || aws.ToInt64(r.TotalNumberOfResourcesScanned) != n ||
		aws.ToInt64(r.TotalNumberOfResourcesImported) != n || aws.ToInt64(r.TotalNumberOfImportedFiles) != 1 {
		t.Fatalf("job = %s %+v, want %d resources", j.JobStatus, *r, n)
	}
	lines := readLines(t, filepath.Join(ts.Cfg.S3Dir, "fhir-out", ds+"-FHIR_IMPORT-"+job, "SUCCESS", "Patient.ndjson"))
	seen := map[string]bool{}
	for _, l := range lines {
		id := strings.SplitN(l, ",", 2)[0]
		if seen[id] || !strings.Contains(l, `"versionId":"1"`) {
			t.Fatalf("SUCCESS line repeated or not version 1: %s", l)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("SUCCESS lines = %d, want %d", len(seen), n)
	}
	counts, err := ts.Srv.Store().ResourceCount(context.Background(), ds)
	if err != nil || counts["Patient"] != n {
		t.Errorf("stored = %v, %v; want %d patients", counts, err, n)
	}
	t.Logf("paused %d times", p.n.Load())
}

// TestJobUnwritableOutput runs an import and an export whose output folder is read-only: each
// pauses and retries for the fault timeout, then fails with a message that names the location
// and the cause.
func TestJobUnwritableOutput(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.JobFaultTimeout = time.Second
	p := newPauses()
	ts := start(t, cfg, server.WithJobHook(p.hook))
	c := ts.client("us-east-1")
	ds := createActive(t, c, "readonly")
	os.WriteFile(filepath.Join(ts.bucket("fhir-in"), "Patient.ndjson"), []byte(`{"resourceType":"Patient","id":"a"}`+"\n"), 0o644)
	testenv.ReadOnly(t, ts.bucket("ro-out"))

	t0 := time.Now()
	out, err := c.StartFHIRImportJob(context.Background(), importInput(ds, "s3://fhir-in/", "s3://ro-out/jobs/"))
	if err != nil {
		t.Fatal(err)
	}
	st, msg := waitEnd(t, c, ds, *out.JobId, false)
	if want := "The output location s3://ro-out/jobs/ is not writable: permission denied"; st != types.JobStatusFailed || msg != want {
		t.Errorf("import = %s %q, want FAILED %q", st, msg, want)
	}
	if el := time.Since(t0); el < cfg.JobFaultTimeout || p.n.Load() == 0 {
		t.Errorf("import failed after %s and %d pauses, want at least %s and one pause", el, p.n.Load(), cfg.JobFaultTimeout)
	}
	exp, err := c.StartFHIRExportJob(context.Background(), exportInput(ds, "s3://ro-out/exports/"))
	if err != nil {
		t.Fatal(err)
	}
	st, msg = waitEnd(t, c, ds, *exp.JobId, true)
	if want := "The output location s3://ro-out/exports/ is not writable: permission denied"; st != types.JobStatusFailed || msg != want {
		t.Errorf("export = %s %q, want FAILED %q", st, msg, want)
	}
}

// TestJobS3Unreachable runs an import against an S3 endpoint where nothing listens: it pauses and
// retries for the fault timeout, then fails with a message that says the location is unreachable.
func TestJobS3Unreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg := newConfig(t)
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = "http://"+closed, "fake", "fake"
	cfg.JobFaultTimeout = time.Second
	p := newPauses()
	ts := start(t, cfg, server.WithJobHook(p.hook))
	c := ts.client("us-east-1")
	ds := createActive(t, c, "unreachable")
	out, err := c.StartFHIRImportJob(context.Background(), importInput(ds, "s3://remote-in/x/", "s3://remote-out/jobs/"))
	if err != nil {
		t.Fatal(err)
	}
	st, msg := waitEnd(t, c, ds, *out.JobId, false)
	if want := "The output location s3://remote-out/jobs/ is not reachable: the S3 endpoint is unavailable"; st != types.JobStatusFailed || msg != want {
		t.Errorf("import = %s %q, want FAILED %q", st, msg, want)
	}
	if p.n.Load() == 0 {
		t.Error("the job never paused")
	}
}
