package server_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/store"
)

// BenchmarkDescribeDatastore measures the whole request path with the real SDK client over
// loopback HTTP: sign → verify → dispatch → model validation → store → encode → SDK decode.
func BenchmarkDescribeDatastore(b *testing.B) {
	ts := start(b, newConfig(b))
	c := ts.client("us-east-1")
	id := createActive(b, c, "bench")
	ctx := context.Background()
	in := &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.DescribeFHIRDatastore(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkListImportJobs100k lists a data store holding 100,000 import jobs, unfiltered and with
// each filter, through the SDK; it reports p50/p99 latency per call of a 100-job page.
func BenchmarkListImportJobs100k(b *testing.B) {
	ts := start(b, newConfig(b), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ds := createActive(b, c, "many")
	st := ts.Srv.Store()
	ctx := context.Background()
	base := time.UnixMilli(1_600_000_000_000)
	statuses := []store.JobStatus{store.JobCompleted, store.JobCompletedErrors, store.JobFailed}
	for i := 0; i < 100_000; i++ {
		j := store.Job{Tenant: tenant, ID: fmt.Sprintf("%032x", i), Kind: store.JobImport, DatastoreID: ds,
			Name: fmt.Sprintf("job-%d", i%100), SubmitTime: base.Add(time.Duration(i) * time.Second), Params: []byte(`{}`)}
		if _, _, err := st.JobCreate(ctx, j); err != nil {
			b.Fatal(err)
		}
		if i%10 != 0 {
			if _, err := st.JobSetStatus(ctx, tenant, ds, store.JobImport, j.ID, []store.JobStatus{store.JobSubmitted, store.JobQueued}, statuses[i%3]); err != nil {
				b.Fatal(err)
			}
		}
	}
	mid := base.Add(50_000 * time.Second)
	cases := []struct {
		name string
		in   healthlake.ListFHIRImportJobsInput
	}{
		{"unfiltered", healthlake.ListFHIRImportJobsInput{}},
		{"status", healthlake.ListFHIRImportJobsInput{JobStatus: types.JobStatusFailed}},
		{"name", healthlake.ListFHIRImportJobsInput{JobName: aws.String("job-42")}},
		{"submitted-window", healthlake.ListFHIRImportJobsInput{SubmittedAfter: &mid, SubmittedBefore: aws.Time(mid.Add(time.Hour))}},
		{"rare-status-deep", healthlake.ListFHIRImportJobsInput{JobStatus: types.JobStatusSubmitted, SubmittedBefore: aws.Time(base.Add(1000 * time.Second))}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			in := tc.in
			in.DatastoreId = &ds
			in.MaxResults = aws.Int32(100)
			var lat []time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				out, err := c.ListFHIRImportJobs(ctx, &in)
				lat = append(lat, time.Since(t0))
				if err != nil || len(out.ImportJobPropertiesList) == 0 {
					b.Fatalf("%v, %d jobs", err, len(out.ImportJobPropertiesList))
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
