// Package storetest is the conformance suite of the store contract: every backend runs Run against a
// fresh instance and must pass all of it. It owns no backend.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// Factory returns a new, empty store for one test.
type Factory func(t *testing.T) store.Store

var (
	tenantA = store.Tenant{AccountID: "111111111111", Region: "us-east-1"}
	tenantB = store.Tenant{AccountID: "222222222222", Region: "us-east-1"}
)

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	runAll(t, newStore, []namedTest{
		{"DatastoreLifecycle", testDatastoreLifecycle},
		{"DatastoreIdempotency", testDatastoreIdempotency},
		{"DatastoreQuota", testDatastoreQuota},
		{"DatastoreList", testDatastoreList},
		{"Tags", testTags},
		{"JobCreateAndList", testJobCreateAndList},
		{"JobClaimFIFO", testJobClaimFIFO},
		{"JobLease", testJobLease},
		{"JobLeaseFenced", testJobLeaseFenced},
		{"WritesRacingDelete", testWritesRacingDelete},
		{"ImportCommit", testImportCommit},
		{"ResourceVersions", testResourceVersions},
		{"History", testHistory},
		{"Erase", testErase},
	})
}

// namedTest is one test of the suite, run on a store of its own.
type namedTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// runAll runs each test in parallel, each on a new store.
func runAll(t *testing.T, newStore Factory, tests []namedTest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func mkStore(t *testing.T, s store.Store, tn store.Tenant, id string, created time.Time, readyIn time.Duration) store.Datastore {
	t.Helper()
	d, ok, err := s.DatastoreCreate(context.Background(), store.Datastore{
		Tenant: tn, ID: id, Name: "n-" + id, Status: store.DatastoreCreating, CreatedAt: created,
		TypeVersion: "R4", ReadyAt: time.Now().Add(readyIn),
	}, []store.Tag{{Key: "k", Value: "v"}}, 0)
	if err != nil || !ok {
		t.Fatalf("DatastoreCreate(%s) = %v, %v", id, ok, err)
	}
	return d
}

func testDatastoreLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := mkStore(t, s, tenantA, "d1", time.Now(), 0)
	if d.Status != store.DatastoreActive {
		t.Errorf("status with zero delay = %s, want ACTIVE", d.Status)
	}
	slow := mkStore(t, s, tenantA, "d2", time.Now(), time.Hour)
	if slow.Status != store.DatastoreCreating {
		t.Errorf("status = %s, want CREATING", slow.Status)
	}
	if _, err := s.DatastoreDelete(ctx, tenantA, "d2", time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete CREATING store: err = %v, want ErrConflict", err)
	}
	creating, err := s.DatastoreCreating(ctx)
	if err != nil || len(creating) != 1 || creating[0].ID != "d2" {
		t.Fatalf("DatastoreCreating = %v, %v; want [d2]", creating, err)
	}
	if err := s.DatastoreSetReady(ctx, "d1", time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("set ready of an ACTIVE store: %v, want ErrConflict", err)
	}
	if err := s.DatastoreSetReady(ctx, "d2", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.DatastoreGet(ctx, tenantA, "d2"); d.Status != store.DatastoreActive {
		t.Errorf("after set ready: %s, want ACTIVE", d.Status)
	}
	if _, err := s.DatastoreGet(ctx, tenantB, "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant get: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ResourceWrite(ctx, "d1", []store.ResourceWrite{{Type: "Patient", ID: "p", Body: []byte(`{}`)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.DatastoreDelete(ctx, tenantA, "d1", time.Now().Add(time.Hour))
	if err != nil || got.Status != store.DatastoreDeleting {
		t.Fatalf("delete = %v, %v", got.Status, err)
	}
	if _, err := s.DatastoreDelete(ctx, tenantA, "d1", time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete DELETING store: err = %v, want ErrConflict", err)
	}
	if _, err := s.DatastoreAdvance(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = s.DatastoreGet(ctx, tenantA, "d1")
	if err != nil || got.Status != store.DatastoreDeleted {
		t.Fatalf("after advance = %v, %v; want DELETED", got.Status, err)
	}
	if _, err := s.ResourceGet(ctx, "d1", "Patient", "p"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resource of deleted store: err = %v, want ErrNotFound", err)
	}
}

func testDatastoreIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := store.Datastore{Tenant: tenantA, ID: "x1", Status: store.DatastoreActive, CreatedAt: time.Now(), TypeVersion: "R4",
		ClientToken: "tok", RequestHash: "h1"}
	if _, ok, err := s.DatastoreCreate(ctx, d, nil, 0); err != nil || !ok {
		t.Fatalf("first create = %v, %v", ok, err)
	}
	d.ID = "x2"
	got, ok, err := s.DatastoreCreate(ctx, d, nil, 0)
	if err != nil || ok || got.ID != "x1" || got.RequestHash != "h1" {
		t.Fatalf("replay = %+v, %v, %v; want x1, not created", got.ID, ok, err)
	}
	d.Tenant = tenantB
	if got, ok, err := s.DatastoreCreate(ctx, d, nil, 0); err != nil || !ok || got.ID != "x2" {
		t.Fatalf("same token other tenant = %v, %v, %v; want new store", got.ID, ok, err)
	}
}

// testDatastoreQuota: concurrent creates with distinct tokens never pass the limit, stores that
// are DELETED do not count, and a replayed token at a full quota returns its store.
func testDatastoreQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	const limit, parallel, rounds = 10, 64, 5
	for round := 0; round < rounds; round++ {
		made := make(chan store.Datastore, parallel)
		var mu sync.Mutex
		nRefused := 0
		var wg sync.WaitGroup
		for i := 0; i < parallel; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, ok, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tenantA, ID: fmt.Sprintf("q%d-%d", round, i),
					Status: store.DatastoreActive, CreatedAt: time.Now(), TypeVersion: "R4",
					ClientToken: fmt.Sprintf("tok%d-%d", round, i)}, nil, limit)
				switch {
				case err == nil && ok:
					made <- d
				case errors.Is(err, store.ErrLimitExceeded):
					mu.Lock()
					nRefused++
					mu.Unlock()
				default:
					t.Errorf("round %d create %d = %v, %v", round, i, ok, err)
				}
			}()
		}
		wg.Wait()
		close(made)
		var ids []store.Datastore
		for d := range made {
			ids = append(ids, d)
		}
		if len(ids) != limit || nRefused != parallel-limit {
			t.Fatalf("round %d: %d created, %d refused; want %d, %d", round, len(ids), nRefused, limit, parallel-limit)
		}
		// At the full quota a replay returns the store its token made.
		d := ids[0]
		got, ok, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tenantA, ID: "replay", Status: store.DatastoreActive,
			CreatedAt: time.Now(), TypeVersion: "R4", ClientToken: d.ClientToken}, nil, limit)
		if err != nil || ok || got.ID != d.ID {
			t.Fatalf("round %d: replay at a full quota = %s, %v, %v; want %s", round, got.ID, ok, err, d.ID)
		}
		// Another tenant has its own quota.
		if _, ok, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tenantB, ID: fmt.Sprintf("b%d", round), Status: store.DatastoreActive,
			CreatedAt: time.Now(), TypeVersion: "R4"}, nil, limit); err != nil || !ok {
			t.Fatalf("round %d: other tenant = %v, %v", round, ok, err)
		}
		for _, d := range ids {
			if _, err := s.DatastoreDelete(ctx, tenantA, d.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testDatastoreList(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 5; i++ {
		mkStore(t, s, tenantA, fmt.Sprintf("l%d", i), base.Add(time.Duration(i)*time.Second), 0)
	}
	mkStore(t, s, tenantB, "other", base, 0)
	all, err := s.DatastoreList(ctx, store.DatastoreListParams{Tenant: tenantA, Limit: 100})
	if err != nil || len(all) != 5 || all[0].ID != "l4" || all[4].ID != "l0" {
		t.Fatalf("list = %d items, %v", len(all), err)
	}
	page, err := s.DatastoreList(ctx, store.DatastoreListParams{Tenant: tenantA, Limit: 2,
		After: &store.PageKey{Time: all[1].CreatedAt, ID: all[1].ID}})
	if err != nil || len(page) != 2 || page[0].ID != "l2" {
		t.Fatalf("page after l3 = %v, %v", page, err)
	}
	before := base.Add(2 * time.Second)
	f, err := s.DatastoreList(ctx, store.DatastoreListParams{Tenant: tenantA, Limit: 100, CreatedBefore: &before})
	if err != nil || len(f) != 2 {
		t.Fatalf("created before: %d, %v; want 2", len(f), err)
	}
	f, _ = s.DatastoreList(ctx, store.DatastoreListParams{Tenant: tenantA, Limit: 100, Name: "n-l3", Status: store.DatastoreActive})
	if len(f) != 1 || f[0].ID != "l3" {
		t.Fatalf("name+status filter = %v", f)
	}
}

func testTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "t1", time.Now(), 0)
	if err := s.TagsPut(ctx, tenantA, "t1", []store.Tag{{Key: "b", Value: "2"}, {Key: "k", Value: "w"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.TagsDelete(ctx, tenantA, "t1", []string{"absent"}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.TagsList(ctx, tenantA, "t1")
	want := []store.Tag{{Key: "b", Value: "2"}, {Key: "k", Value: "w"}}
	if err != nil || fmt.Sprint(tags) != fmt.Sprint(want) {
		t.Fatalf("tags = %v, %v; want %v", tags, err, want)
	}
	if err := s.TagsPut(ctx, tenantB, "t1", want); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant tag: %v", err)
	}
	if _, err := s.TagsList(ctx, tenantA, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown store: %v", err)
	}
}

func mkJob(t *testing.T, s store.Store, ds, id, token string, at time.Time) store.Job {
	t.Helper()
	j, ok, err := s.JobCreate(context.Background(), store.Job{Tenant: tenantA, ID: id, Kind: store.JobImport, DatastoreID: ds,
		Name: "job-" + id, SubmitTime: at, ClientToken: token, Params: []byte(`{}`)})
	if err != nil || !ok {
		t.Fatalf("JobCreate(%s) = %v, %v", id, ok, err)
	}
	return j
}

func testJobCreateAndList(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "j1", time.Now(), 0)
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 6; i++ {
		mkJob(t, s, "j1", fmt.Sprintf("job%d", i), fmt.Sprintf("tok%d", i), base.Add(time.Duration(i/2)*time.Second))
	}
	got, ok, err := s.JobCreate(ctx, store.Job{Tenant: tenantA, ID: "dup", Kind: store.JobImport, DatastoreID: "j1", ClientToken: "tok0"})
	if err != nil || ok || got.ID != "job0" {
		t.Fatalf("replay = %v %v %v", got.ID, ok, err)
	}
	all, err := s.JobList(ctx, store.JobListParams{Tenant: tenantA, DatastoreID: "j1", Kind: store.JobImport, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range all {
		ids = append(ids, j.ID)
	}
	if want := "[job4 job5 job2 job3 job0 job1]"; fmt.Sprint(ids) != want {
		t.Fatalf("order = %v, want %s", ids, want)
	}
	page, _ := s.JobList(ctx, store.JobListParams{Tenant: tenantA, DatastoreID: "j1", Kind: store.JobImport, Limit: 2,
		After: &store.PageKey{Time: all[2].SubmitTime, ID: all[2].ID}})
	if len(page) != 2 || page[0].ID != "job3" || page[1].ID != "job0" {
		t.Fatalf("page = %v", page)
	}
	after := base
	f, _ := s.JobList(ctx, store.JobListParams{Tenant: tenantA, DatastoreID: "j1", Kind: store.JobImport, Limit: 100, SubmittedAfter: &after, Name: "job-job3"})
	if len(f) != 1 {
		t.Fatalf("filtered = %v", f)
	}
	if _, err := s.JobList(ctx, store.JobListParams{Tenant: tenantB, DatastoreID: "j1", Kind: store.JobImport, Limit: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant list: %v", err)
	}
	if _, err := s.JobGet(ctx, tenantA, "j1", store.JobExport, "job0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("wrong kind get: %v", err)
	}
}

func testJobClaimFIFO(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "f1", time.Now(), 0)
	mkStore(t, s, tenantA, "f2", time.Now(), 0)
	now := time.Now()
	mkJob(t, s, "f1", "a", "", now)
	mkJob(t, s, "f1", "b", "", now)
	mkJob(t, s, "f2", "c", "", now)
	p := store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w1", Now: now, Lease: time.Minute}
	j1, err := s.JobClaim(ctx, p)
	if err != nil || j1.ID != "a" || j1.Status != store.JobInProgress {
		t.Fatalf("claim 1 = %v %v %v", j1.ID, j1.Status, err)
	}
	j2, err := s.JobClaim(ctx, p)
	if err != nil || j2.ID != "c" {
		t.Fatalf("claim 2 = %v %v; want c (b waits behind a)", j2.ID, err)
	}
	if _, err := s.JobClaim(ctx, p); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim 3 err = %v, want ErrNotFound", err)
	}
	b, _ := s.JobGet(ctx, tenantA, "f1", store.JobImport, "b")
	if b.Status != store.JobQueued {
		t.Errorf("b status = %s, want QUEUED", b.Status)
	}
	if err := s.JobFinish(ctx, store.JobFinishParams{ID: "a", LeaseToken: j1.LeaseToken, Status: store.JobCompleted, EndTime: now}); err != nil {
		t.Fatal(err)
	}
	j3, err := s.JobClaim(ctx, p)
	if err != nil || j3.ID != "b" {
		t.Fatalf("claim after finish = %v %v", j3.ID, err)
	}
}

func testJobLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "e1", time.Now(), 0)
	now := time.Now()
	mkJob(t, s, "e1", "a", "", now)
	j, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w1", Now: now, Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	later := store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w2", Now: now.Add(2 * time.Second), Lease: time.Minute}
	j2, err := s.JobClaim(ctx, later)
	if err != nil || j2.ID != j.ID || j2.Attempts != 2 || j2.LeaseOwner != "w2" {
		t.Fatalf("rescue claim = %v %v %q %v", j2.ID, j2.Attempts, j2.LeaseOwner, err)
	}
	if j.LeaseToken == "" || j2.LeaseToken == j.LeaseToken {
		t.Fatalf("lease tokens %q then %q; want a new non-empty token per claim", j.LeaseToken, j2.LeaseToken)
	}
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", LeaseToken: j.LeaseToken, Progress: []byte(`{}`)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("old owner progress: %v, want ErrLeaseLost", err)
	}
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", Progress: []byte(`{}`)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("progress without a token: %v, want ErrLeaseLost", err)
	}
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: j.LeaseToken, DatastoreID: "e1",
		Writes: []store.ResourceWrite{{Type: "Patient", ID: "x", Body: []byte(`{}`)}}, Now: now}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("old owner commit: %v, want ErrLeaseLost", err)
	}
	if _, err := s.ResourceGet(ctx, "e1", "Patient", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("write of a lost lease is visible: %v", err)
	}
	if err := s.JobReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", LeaseToken: j2.LeaseToken}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("progress of a released claim: %v, want ErrLeaseLost", err)
	}
	j3, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w3", Now: now, Lease: time.Minute})
	if err != nil || j3.ID != "a" {
		t.Fatalf("claim after release = %v %v", j3.ID, err)
	}
}

func testImportCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "i1", time.Now(), 0)
	now := time.Now()
	mkJob(t, s, "i1", "a", "", now)
	claim, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w", Now: now, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: claim.LeaseToken, DatastoreID: "i1", Now: now,
		Writes: []store.ResourceWrite{
			{Type: "Patient", ID: "p1", Body: []byte(`{"a":1}`)},
			{Type: "Patient", ID: "p1", Body: []byte(`{"a":2}`)},
			{Type: "Patient", ID: "p2", Body: []byte(`{"b":1}`)},
		},
		Reports: func(r []store.ResourceWriteResult) []store.ReportChunk {
			return []store.ReportChunk{{Name: "SUCCESS/x", Data: []byte(fmt.Sprintf("%d\n", len(r)))}, {Name: "FAILURE/x", Data: []byte("f\n")}}
		},
		Progress:   []byte(`{"n":3}`),
		Checkpoint: []byte(`{"line":3}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Version != 1 || res[1].Version != 2 || res[2].Version != 1 || !res[0].Created || res[1].Created {
		t.Fatalf("results = %+v", res)
	}
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: claim.LeaseToken, DatastoreID: "i1", Now: now,
		Reports: func([]store.ResourceWriteResult) []store.ReportChunk {
			return []store.ReportChunk{{Name: "SUCCESS/x", Data: []byte("2\n")}}
		}}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := s.ReportRead(ctx, "a", "SUCCESS/x", func(b []byte) error { got += string(b); return nil }); err != nil || got != "3\n2\n" {
		t.Fatalf("report = %q, %v", got, err)
	}
	names, _ := s.ReportNames(ctx, "a")
	if fmt.Sprint(names) != "[FAILURE/x SUCCESS/x]" {
		t.Fatalf("names = %v", names)
	}
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: claim.LeaseToken, DatastoreID: "i1", Now: now,
		DeleteReports: []string{"SUCCESS/x"}}); err != nil {
		t.Fatal(err)
	}
	names, _ = s.ReportNames(ctx, "a")
	if fmt.Sprint(names) != "[FAILURE/x]" {
		t.Fatalf("names after delete = %v", names)
	}
	j, _ := s.JobGet(ctx, tenantA, "i1", store.JobImport, "a")
	if string(j.Checkpoint) != `{"line":3}` || string(j.Progress) != `{"n":3}` {
		t.Fatalf("job = %s %s", j.Checkpoint, j.Progress)
	}
	counts, _ := s.ResourceCount(ctx, "i1")
	if counts["Patient"] != 2 {
		t.Fatalf("counts = %v", counts)
	}

	// Several steps in one call: applied in order, results of all steps in order, each step's
	// reports, a later step's delete dropping earlier chunks, the last progress and checkpoint.
	step := func(id string, n int) store.ImportStep {
		return store.ImportStep{
			Writes: []store.ResourceWrite{{Type: "Patient", ID: id, Body: []byte(`{}`)}},
			Reports: func(r []store.ResourceWriteResult) []store.ReportChunk {
				return []store.ReportChunk{{Name: "SUCCESS/y", Data: []byte(fmt.Sprintf("%s v%d\n", id, r[0].Version))}}
			},
			Progress: []byte(fmt.Sprintf(`{"n":%d}`, n)), Checkpoint: []byte(fmt.Sprintf(`{"line":%d}`, n)),
		}
	}
	first := step("p3", 4)
	drop := step("p2", 6)
	drop.DeleteReports = []string{"FAILURE/x"}
	res, err = s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: claim.LeaseToken, DatastoreID: "i1", Now: now,
		Writes: first.Writes, Reports: first.Reports, Progress: first.Progress, Checkpoint: first.Checkpoint,
		Steps: []store.ImportStep{step("p3", 5), drop, step("p4", 7)}})
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for _, r := range res {
		versions = append(versions, r.Version)
	}
	if fmt.Sprint(versions) != "[1 2 2 1]" {
		t.Fatalf("step results = %v, want versions [1 2 2 1]", versions)
	}
	got = ""
	if err := s.ReportRead(ctx, "a", "SUCCESS/y", func(b []byte) error { got += string(b); return nil }); err != nil || got != "p3 v1\np3 v2\np2 v2\np4 v1\n" {
		t.Fatalf("report of the steps = %q, %v", got, err)
	}
	if names, _ := s.ReportNames(ctx, "a"); fmt.Sprint(names) != "[SUCCESS/y]" {
		t.Fatalf("names after the steps = %v", names)
	}
	j, _ = s.JobGet(ctx, tenantA, "i1", store.JobImport, "a")
	if string(j.Checkpoint) != `{"line":7}` || string(j.Progress) != `{"n":7}` {
		t.Fatalf("job after the steps = %s %s", j.Checkpoint, j.Progress)
	}
	// The terminal write drops what is still staged, in the same transaction.
	if err := s.JobFinish(ctx, store.JobFinishParams{ID: "a", LeaseToken: claim.LeaseToken, Status: store.JobCompleted, EndTime: now}); err != nil {
		t.Fatal(err)
	}
	if names, err := s.ReportNames(ctx, "a"); err != nil || len(names) != 0 {
		t.Fatalf("names after finish = %v, %v; want none", names, err)
	}
}

func testResourceVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "r1", time.Now(), 0)
	now := time.UnixMilli(1_700_000_000_123)
	w := func(ws ...store.ResourceWrite) ([]store.ResourceWriteResult, error) {
		return s.ResourceWrite(ctx, "r1", ws, now)
	}
	if _, err := w(store.ResourceWrite{Type: "Patient", ID: "p", Body: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w(store.ResourceWrite{Type: "Patient", ID: "p", Body: []byte(`{"v":2}`), IfVersion: 5}); !errors.Is(err, store.ErrVersionMismatch) {
		t.Fatalf("conditional write err = %v", err)
	}
	if r, err := w(store.ResourceWrite{Type: "Patient", ID: "p", Body: []byte(`{"v":2}`), IfVersion: 1}); err != nil || r[0].Version != 2 {
		t.Fatalf("update = %v %v", r, err)
	}
	if r, err := w(store.ResourceWrite{Type: "Patient", ID: "p", Delete: true}); err != nil || r[0].Version != 3 {
		t.Fatalf("delete = %v %v", r, err)
	}
	cur, err := s.ResourceGet(ctx, "r1", "Patient", "p")
	if err != nil || !cur.Deleted || cur.Version != 3 || !cur.LastUpdated.Equal(now) {
		t.Fatalf("current = %+v %v", cur, err)
	}
	v1, err := s.ResourceVersion(ctx, "r1", "Patient", "p", 1)
	if err != nil || string(v1.Body) != `{"v":1}` {
		t.Fatalf("v1 = %s %v", v1.Body, err)
	}
	h, err := s.ResourceHistory(ctx, "r1", "Patient", "p")
	if err != nil || len(h) != 3 || h[0].Version != 3 || h[2].Version != 1 {
		t.Fatalf("history = %v %v", h, err)
	}
	if r, err := w(store.ResourceWrite{Type: "Patient", ID: "p", Body: []byte(`{"v":4}`)}); err != nil || r[0].Version != 4 || !r[0].Created {
		t.Fatalf("recreate = %v %v", r, err)
	}
	// Atomicity: a failing write rolls back the whole batch.
	if _, err := w(store.ResourceWrite{Type: "Patient", ID: "q", Body: []byte(`{}`)},
		store.ResourceWrite{Type: "Patient", ID: "p", Body: []byte(`{}`), IfVersion: 1}); err == nil {
		t.Fatal("want error")
	}
	if _, err := s.ResourceGet(ctx, "r1", "Patient", "q"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("partial batch visible: %v", err)
	}
	var seen []string
	for _, id := range []string{"b", "a", "c"} {
		w(store.ResourceWrite{Type: "Observation", ID: id, Body: []byte(`{}`)})
	}
	if err := s.ResourceScan(ctx, "r1", "Observation", "a", func(r store.Resource) error { seen = append(seen, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[b c]" {
		t.Fatalf("scan = %v", seen)
	}
}

// testJobLeaseFenced: two claims of one job by the same owner name (two runners of one node), the
// second after the first's lease expired. Only the current claim may write: every write of the stale
// one fails with ErrLeaseLost and changes nothing.
func testJobLeaseFenced(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "fence", time.Now(), 0)
	now := time.Now()
	mkJob(t, s, "fence", "a", "", now)
	claim := func(at time.Time, lease time.Duration) store.Job {
		t.Helper()
		j, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "node", Now: at, Lease: lease})
		if err != nil || j.ID != "a" {
			t.Fatalf("claim = %v, %v", j.ID, err)
		}
		return j
	}
	patient := func(v string) []store.ResourceWrite {
		return []store.ResourceWrite{{Type: "Patient", ID: "p", Body: []byte(`{"v":"` + v + `"}`)}}
	}
	first := claim(now, time.Second)
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: first.LeaseToken, DatastoreID: "fence",
		Writes: patient("first"), Checkpoint: []byte(`{"first":1}`), LeaseExpires: now.Add(time.Second), Now: now}); err != nil {
		t.Fatalf("commit of the current claim: %v", err)
	}
	second := claim(now.Add(2*time.Second), time.Minute)
	if second.Attempts != 2 {
		t.Errorf("second claim attempts = %d, want 2", second.Attempts)
	}

	stale := first
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: stale.LeaseToken, DatastoreID: "fence",
		Writes: patient("stale"), Progress: []byte(`{"stale":1}`), Checkpoint: []byte(`{"stale":1}`),
		Reports: func([]store.ResourceWriteResult) []store.ReportChunk {
			return []store.ReportChunk{{Name: "SUCCESS/stale", Data: []byte("x\n")}}
		}, LeaseExpires: now.Add(time.Hour), Now: now.Add(3 * time.Second)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("stale ImportCommit: err = %v, want ErrLeaseLost", err)
	}
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", LeaseToken: stale.LeaseToken, Progress: []byte(`{"stale":2}`),
		LeaseExpires: now.Add(time.Hour)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("stale JobProgress: err = %v, want ErrLeaseLost", err)
	}
	if err := s.JobFinish(ctx, store.JobFinishParams{ID: "a", LeaseToken: stale.LeaseToken, Status: store.JobFailed,
		Message: "stale", EndTime: now}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("stale JobFinish: err = %v, want ErrLeaseLost", err)
	}
	r, err := s.ResourceGet(ctx, "fence", "Patient", "p")
	if err != nil || r.Version != 1 || string(r.Body) != `{"v":"first"}` {
		t.Errorf("after stale writes: Patient/p = version %d %s, %v; want version 1 of the first claim", r.Version, r.Body, err)
	}
	if names, _ := s.ReportNames(ctx, "a"); len(names) != 0 {
		t.Errorf("stale report chunks stored: %v", names)
	}
	j, _ := s.JobGet(ctx, tenantA, "fence", store.JobImport, "a")
	if j.Status != store.JobInProgress || string(j.Checkpoint) != `{"first":1}` || len(j.Progress) != 0 {
		t.Errorf("after stale writes: job %s, checkpoint %s, progress %s", j.Status, j.Checkpoint, j.Progress)
	}

	// The current claim writes on.
	if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "a", LeaseToken: second.LeaseToken, DatastoreID: "fence",
		Writes: patient("second"), LeaseExpires: now.Add(time.Minute), Now: now.Add(3 * time.Second)}); err != nil {
		t.Fatalf("commit of the current claim: %v", err)
	}
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", LeaseToken: second.LeaseToken, Progress: []byte(`{"n":1}`),
		LeaseExpires: now.Add(time.Minute)}); err != nil {
		t.Fatalf("progress of the current claim: %v", err)
	}
	if err := s.JobFinish(ctx, store.JobFinishParams{ID: "a", LeaseToken: second.LeaseToken, Status: store.JobCompleted, EndTime: now}); err != nil {
		t.Fatalf("finish of the current claim: %v", err)
	}
	if r, _ := s.ResourceGet(ctx, "fence", "Patient", "p"); r.Version != 2 || string(r.Body) != `{"v":"second"}` {
		t.Errorf("Patient/p = version %d %s; want version 2 of the second claim", r.Version, r.Body)
	}
	// A finished job takes no more writes, not even from the claim that finished it.
	if err := s.JobProgress(ctx, store.JobProgressParams{ID: "a", LeaseToken: second.LeaseToken, Progress: []byte(`{}`)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("progress after finish: err = %v, want ErrLeaseLost", err)
	}
}

// testWritesRacingDelete: a data store that is being deleted takes no resource writes and no jobs,
// so writers racing its delete leave no rows behind its purge.
func testWritesRacingDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "gone", time.Now(), 0)
	write := func(id string) error {
		_, err := s.ResourceWrite(ctx, "gone", []store.ResourceWrite{{Type: "Patient", ID: id, Body: []byte(`{}`)}}, time.Now())
		return err
	}
	// Writers run until the store refuses them; the delete and the purge happen while they run.
	const writers = 4
	var wg sync.WaitGroup
	wrote := make(chan struct{}, writers)
	purged := make(chan struct{})
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := write(fmt.Sprintf("w%d-%d", w, i))
				if i == 0 {
					wrote <- struct{}{}
				}
				if err != nil {
					errs[w] = err
					return
				}
				select {
				case <-purged:
					// One more write after the purge, then stop.
					errs[w] = write(fmt.Sprintf("w%d-after", w))
					return
				default:
				}
			}
		}()
	}
	for w := 0; w < writers; w++ {
		<-wrote
	}
	if _, err := s.DatastoreDelete(ctx, tenantA, "gone", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := write("while-deleting"); !errors.Is(err, store.ErrNotActive) {
		t.Errorf("write into a DELETING store: err = %v, want ErrNotActive", err)
	}
	if _, _, err := s.JobCreate(ctx, store.Job{Tenant: tenantA, ID: "late", Kind: store.JobImport, DatastoreID: "gone",
		SubmitTime: time.Now()}); !errors.Is(err, store.ErrNotActive) {
		t.Errorf("job on a DELETING store: err = %v, want ErrNotActive", err)
	}
	if _, err := s.DatastoreAdvance(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	close(purged)
	wg.Wait()
	for w, err := range errs {
		if !errors.Is(err, store.ErrNotActive) {
			t.Errorf("writer %d ended with err = %v, want ErrNotActive", w, err)
		}
	}
	if err := write("after-purge"); !errors.Is(err, store.ErrNotActive) {
		t.Errorf("write into a DELETED store: err = %v, want ErrNotActive", err)
	}
	if counts, err := s.ResourceCount(ctx, "gone"); err != nil || len(counts) != 0 {
		t.Errorf("resources left in the purged store: %v, %v", counts, err)
	}
	if _, err := s.ResourceGet(ctx, "gone", "Patient", "after-purge"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("orphan Patient/after-purge: err = %v, want ErrNotFound", err)
	}
	if _, err := s.JobGet(ctx, tenantA, "gone", store.JobImport, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job of a DELETING store: err = %v, want ErrNotFound", err)
	}
}
