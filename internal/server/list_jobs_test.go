package server_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/store"
)

var tenant = store.Tenant{AccountID: "000000000000", Region: "us-east-1"}

// seedJobs inserts import jobs directly with chosen submit times, names and statuses.
func seedJobs(t testing.TB, st store.Store, ds string, jobs []store.Job) {
	t.Helper()
	ctx := context.Background()
	for _, j := range jobs {
		j.Tenant, j.DatastoreID, j.Kind = tenant, ds, store.JobImport
		if j.Params == nil {
			j.Params = []byte(`{"inputS3Uri":"s3://in-bucket/x/","outputS3Uri":"s3://out-bucket/y/","kmsKeyId":"k","dataAccessRoleArn":"arn:aws:iam::000000000000:role/r","validationLevel":"minimal"}`)
		}
		if _, _, err := st.JobCreate(ctx, j); err != nil {
			t.Fatal(err)
		}
		if j.Status != "" && j.Status != store.JobSubmitted {
			from := []store.JobStatus{store.JobSubmitted, store.JobQueued}
			if _, err := st.JobSetStatus(ctx, tenant, ds, store.JobImport, j.ID, from, j.Status); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func jobIDs(list []types.ImportJobProperties) string {
	var ids []string
	for _, j := range list {
		ids = append(ids, aws.ToString(j.JobId))
	}
	return strings.Join(ids, ",")
}

func TestListImportJobsFilters(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "list")
	other := createActive(t, c, "other")
	base := time.UnixMilli(1_700_000_000_000).UTC()
	at := func(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }
	seedJobs(t, ts.Srv.Store(), ds, []store.Job{
		{ID: "j1", Name: "alpha", SubmitTime: at(1)},
		{ID: "j2", Name: "beta", SubmitTime: at(2), Status: store.JobCompleted},
		{ID: "j3", Name: "alpha", SubmitTime: at(2), Status: store.JobFailed},
		{ID: "j4", Name: "gamma", SubmitTime: at(3.5), Status: store.JobCompleted},
		{ID: "j5", SubmitTime: at(4)},
	})
	seedJobs(t, ts.Srv.Store(), other, []store.Job{{ID: "x1", Name: "alpha", SubmitTime: at(1)}})
	tm := func(sec float64) *time.Time { v := at(sec); return &v }
	cases := []struct {
		name string
		in   healthlake.ListFHIRImportJobsInput
		want string
	}{
		{"all, newest first, ties by id", healthlake.ListFHIRImportJobsInput{}, "j5,j4,j2,j3,j1"},
		{"name exact", healthlake.ListFHIRImportJobsInput{JobName: aws.String("alpha")}, "j3,j1"},
		{"name is case-sensitive", healthlake.ListFHIRImportJobsInput{JobName: aws.String("Alpha")}, ""},
		{"status", healthlake.ListFHIRImportJobsInput{JobStatus: types.JobStatusCompleted}, "j4,j2"},
		{"status queued (behind unfinished j1)", healthlake.ListFHIRImportJobsInput{JobStatus: types.JobStatusQueued}, "j5"},
		{"status none", healthlake.ListFHIRImportJobsInput{JobStatus: types.JobStatusInProgress}, ""},
		{"submitted before is strict", healthlake.ListFHIRImportJobsInput{SubmittedBefore: tm(2)}, "j1"},
		{"submitted after is strict", healthlake.ListFHIRImportJobsInput{SubmittedAfter: tm(2)}, "j5,j4"},
		{"fractional bounds", healthlake.ListFHIRImportJobsInput{SubmittedAfter: tm(3.4), SubmittedBefore: tm(3.6)}, "j4"},
		{"after > before is empty", healthlake.ListFHIRImportJobsInput{SubmittedAfter: tm(4), SubmittedBefore: tm(1)}, ""},
		{"filters combine", healthlake.ListFHIRImportJobsInput{JobName: aws.String("alpha"), JobStatus: types.JobStatusFailed, SubmittedAfter: tm(1)}, "j3"},
		{"max results caps the page", healthlake.ListFHIRImportJobsInput{MaxResults: aws.Int32(2)}, "j5,j4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.DatastoreId = &ds
			out, err := c.ListFHIRImportJobs(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			if got := jobIDs(out.ImportJobPropertiesList); got != tc.want {
				t.Errorf("jobs = %s, want %s", got, tc.want)
			}
			if (out.NextToken != nil) != (tc.in.MaxResults != nil) {
				t.Errorf("NextToken = %v", out.NextToken)
			}
		})
	}
	// Every response field, as Describe gives it.
	out, _ := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, JobName: aws.String("gamma")})
	j := out.ImportJobPropertiesList[0]
	s3c := j.JobOutputDataConfig.(*types.OutputDataConfigMemberS3Configuration).Value
	if aws.ToString(j.DatastoreId) != ds || j.JobStatus != types.JobStatusCompleted || !j.SubmitTime.Equal(at(3.5)) ||
		j.EndTime == nil || aws.ToString(j.DataAccessRoleArn) != "arn:aws:iam::000000000000:role/r" ||
		j.InputDataConfig.(*types.InputDataConfigMemberS3Uri).Value != "s3://in-bucket/x/" ||
		aws.ToString(s3c.S3Uri) != "s3://out-bucket/y/"+ds+"-FHIR_IMPORT-j4/" || aws.ToString(s3c.KmsKeyId) != "k" ||
		j.ValidationLevel != types.ValidationLevelMinimal || aws.ToString(j.JobName) != "gamma" {
		t.Errorf("properties = %+v", j)
	}
	d, _ := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: aws.String("j4")})
	if aws.ToString(d.ImportJobProperties.JobOutputDataConfig.(*types.OutputDataConfigMemberS3Configuration).Value.S3Uri) != aws.ToString(s3c.S3Uri) {
		t.Errorf("describe and list disagree")
	}
}

func TestListImportJobsErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "errs")
	other := createActive(t, c, "errs2")
	var seed []store.Job
	for i := 0; i < 5; i++ {
		seed = append(seed, store.Job{ID: fmt.Sprintf("j%d", i), Name: "n", SubmitTime: time.UnixMilli(int64(1e12) + int64(i))})
	}
	seedJobs(t, ts.Srv.Store(), ds, seed)
	seedJobs(t, ts.Srv.Store(), other, seed[:0])
	page, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, MaxResults: aws.Int32(2)})
	if err != nil || page.NextToken == nil {
		t.Fatal(err)
	}
	tok := *page.NextToken
	tampered := []byte(tok)
	tampered[5] ^= 1
	validation := []struct {
		name string
		in   healthlake.ListFHIRImportJobsInput
	}{
		{"max results 0", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, MaxResults: aws.Int32(0)}},
		{"max results 501", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, MaxResults: aws.Int32(501)}},
		{"bad status", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, JobStatus: "RUNNING"}},
		{"tampered token", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: aws.String(string(tampered))}},
		{"garbage token", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: aws.String("not-a-token")}},
		{"token of another store", healthlake.ListFHIRImportJobsInput{DatastoreId: &other, NextToken: &tok}},
		{"token with other filters", healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: &tok, JobName: aws.String("n")}},
	}
	for _, tc := range validation {
		_, err := c.ListFHIRImportJobs(ctx, &tc.in)
		var ve *types.ValidationException
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want ValidationException", tc.name, err)
		}
	}
	// An empty token is absent; a different page size with the same filters keeps the token valid.
	out, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: aws.String("")})
	if err != nil || len(out.ImportJobPropertiesList) != 5 || out.NextToken != nil {
		t.Errorf("empty token: %v, %v", out, err)
	}
	out, err = c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: &tok, MaxResults: aws.Int32(10)})
	if err != nil || jobIDs(out.ImportJobPropertiesList) != "j2,j1,j0" || out.NextToken != nil {
		t.Errorf("second page: %v, %v", out, err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: aws.String(strings.Repeat("b", 32))}); !errors.As(err, &nf) {
		t.Errorf("unknown store: %v", err)
	}
	foreign := ts.ClientAs(otherKey, otherSecret, "us-east-1")
	if _, err := foreign.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds}); !errors.As(err, &nf) {
		t.Errorf("other tenant's store: %v", err)
	}
	if _, err := foreign.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: &tok}); !errors.As(err, &nf) {
		t.Errorf("other tenant with a token: %v", err)
	}
	if _, err := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &other, JobId: aws.String("j1")}); !errors.As(err, &nf) {
		t.Errorf("job of another store: %v", err)
	}
}

// TestListImportJobsPaginationProperty pages with random page sizes through jobs with many equal
// submit times while other clients submit new jobs, and checks that the pages hold exactly the jobs
// that existed when paging started, in order, with no duplicate and no gap.
func TestListImportJobsPaginationProperty(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t), server.WithoutWorkers())
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "pages")
	rng := rand.New(rand.NewPCG(1, 2))
	var seed []store.Job
	for i := 0; i < 400; i++ {
		seed = append(seed, store.Job{ID: fmt.Sprintf("%032x", rng.Uint64()), SubmitTime: time.UnixMilli(1_700_000_000_000 + int64(rng.IntN(60))*1000)})
	}
	seedJobs(t, ts.Srv.Store(), ds, seed)
	all, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds})
	if err != nil || len(all.ImportJobPropertiesList) != 400 {
		t.Fatalf("full list: %d, %v", len(all.ImportJobPropertiesList), err)
	}
	want := jobIDs(all.ImportJobPropertiesList)
	for i := 1; i < len(all.ImportJobPropertiesList); i++ {
		a, b := all.ImportJobPropertiesList[i-1], all.ImportJobPropertiesList[i]
		if a.SubmitTime.Before(*b.SubmitTime) || (a.SubmitTime.Equal(*b.SubmitTime) && *a.JobId > *b.JobId) {
			t.Fatalf("order broken at %d", i)
		}
	}
	for round := 0; round < 8; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // concurrent submissions
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/x/", "s3://fhir-out/")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		var got []string
		var tok *string
		for {
			out, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: tok,
				MaxResults: aws.Int32(int32(1 + rng.IntN(60))), SubmittedBefore: aws.Time(time.UnixMilli(1_700_000_100_000))})
			if err != nil {
				t.Fatal(err)
			}
			if out.NextToken != nil && *out.NextToken == "" {
				t.Fatal("empty NextToken")
			}
			got = append(got, jobIDs(out.ImportJobPropertiesList))
			if out.NextToken == nil {
				break
			}
			tok = out.NextToken
		}
		close(stop)
		wg.Wait()
		if g := strings.Join(got, ","); g != want {
			t.Fatalf("round %d: paged list differs from the full list", round)
		}
	}
	// Paging without a time bound while jobs are added: the jobs present at the start all appear
	// exactly once.
	seen := map[string]int{}
	var tok *string
	for {
		out, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds, NextToken: tok, MaxResults: aws.Int32(37)})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range out.ImportJobPropertiesList {
			seen[*j.JobId]++
		}
		c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/x/", "s3://fhir-out/"))
		if out.NextToken == nil {
			break
		}
		tok = out.NextToken
	}
	for _, j := range seed {
		if seen[j.ID] != 1 {
			t.Fatalf("job %s seen %d times", j.ID, seen[j.ID])
		}
	}
}
