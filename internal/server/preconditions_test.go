package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/server"
)

// liveStores counts the caller's data stores that are not DELETED.
func liveStores(t *testing.T, c *healthlake.Client) int {
	t.Helper()
	n := 0
	p := healthlake.NewListFHIRDatastoresPaginator(c, &healthlake.ListFHIRDatastoresInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.DatastorePropertiesList {
			if d.DatastoreStatus != types.DatastoreStatusDeleted {
				n++
			}
		}
	}
	return n
}

// TestDatastoreQuotaConcurrentCreates: 64 creates at once with distinct tokens never make more live
// stores than --max-datastores, round after round (each round deletes what the last one made), and
// a replayed ClientToken at a full quota returns its store instead of "quota exceeded".
func TestDatastoreQuotaConcurrentCreates(t *testing.T) {
	t.Parallel()
	const quota, parallel, rounds = 10, 64, 5
	cfg := newConfig(t)
	cfg.MaxDatastores = quota
	ts := start(t, cfg, server.WithoutWorkers())
	// An own transport, whose spare connections (dialled for the burst, never used) are closed at
	// the end: the server's graceful shutdown would wait 5 s for them.
	tr := &http.Transport{MaxIdleConnsPerHost: parallel}
	t.Cleanup(tr.CloseIdleConnections)
	c := healthlake.New(ts.client("us-east-1").Options(), func(o *healthlake.Options) { o.HTTPClient = &http.Client{Transport: tr} })
	ctx := context.Background()
	input := func(round, i int) *healthlake.CreateFHIRDatastoreInput {
		return &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
			DatastoreName: aws.String(fmt.Sprintf("r%d-%d", round, i)), ClientToken: aws.String(fmt.Sprintf("token-%d-%d", round, i))}
	}
	for round := 0; round < rounds; round++ {
		var mu sync.Mutex
		made := map[int]string{} // create number -> the store it made
		var refused, other int
		var wg sync.WaitGroup
		for i := 0; i < parallel; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := c.CreateFHIRDatastore(ctx, input(round, i))
				var ve *types.ValidationException
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					made[i] = aws.ToString(out.DatastoreId)
				case errors.As(err, &ve):
					refused++
				default:
					other++
					t.Errorf("round %d create %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
		if len(made) != quota || refused != parallel-quota || other != 0 {
			t.Errorf("round %d: %d created, %d refused, %d other errors; want %d created, %d refused",
				round, len(made), refused, other, quota, parallel-quota)
		}
		if n := liveStores(t, c); n > quota {
			t.Fatalf("round %d: %d live data stores, quota %d", round, n, quota)
		}
		if round == rounds-1 {
			// A replay of a token that made a store, at a full quota, returns that store.
			for i, id := range made {
				out, err := c.CreateFHIRDatastore(ctx, input(round, i))
				if err != nil || aws.ToString(out.DatastoreId) != id {
					t.Errorf("replay of token %d at a full quota = %v, %v; want store %s", i, out, err, id)
				}
			}
			break
		}
		for _, id := range made {
			if _, err := c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: aws.String(id)}); err != nil {
				t.Fatalf("round %d: delete %s: %v", round, id, err)
			}
		}
	}
}

// TestJobQueuedAtOnce: a job accepted while another job of the same store and kind is unfinished
// reads QUEUED in its start response and the describe that follows, with no worker running; the
// first job and a job of the other kind read SUBMITTED.
func TestJobQueuedAtOnce(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "queued")
	other := createActive(t, c, "other")
	first, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/a/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/b/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := c.StartFHIRImportJob(ctx, importInput(other, "s3://fhir-in/b/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	export, err := c.StartFHIRExportJob(ctx, exportInput(ds, "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	export2, err := c.StartFHIRExportJob(ctx, exportInput(ds, "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]types.JobStatus{"first": first.JobStatus, "second": second.JobStatus,
		"other store": elsewhere.JobStatus, "export": export.JobStatus, "second export": export2.JobStatus}
	want := map[string]types.JobStatus{"first": types.JobStatusSubmitted, "second": types.JobStatusQueued,
		"other store": types.JobStatusSubmitted, "export": types.JobStatusSubmitted, "second export": types.JobStatusQueued}
	for k, w := range want {
		if started[k] != w {
			t.Errorf("start response of the %s job: %s, want %s", k, started[k], w)
		}
	}
	d, err := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: second.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ImportJobProperties.JobStatus; got != types.JobStatusQueued {
		t.Errorf("describe of the second import: %s, want QUEUED", got)
	}
	e, err := c.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: export2.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ExportJobProperties.JobStatus; got != types.JobStatusQueued {
		t.Errorf("describe of the second export: %s, want QUEUED", got)
	}
}
