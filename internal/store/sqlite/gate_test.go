package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// TestImportYieldsToRESTWrite checks that an import commit of several steps ends its
// transaction after the step in progress when a REST write waits for the writer: the REST write
// is committed before the next step runs, and the job's checkpoint is that of the last step
// committed before it.
func TestImportYieldsToRESTWrite(t *testing.T) {
	ctx := context.Background()
	s, tn, claim := claimedImport(t)
	now := time.Now()
	rest := make(chan error, 1)
	var seenBySecond error = errors.New("second step did not run")
	var checkpointSeen string
	steps := []store.ImportStep{
		{Writes: []store.ResourceWrite{{Type: "Patient", ID: "i1", Body: []byte(`{}`)}}, Checkpoint: []byte(`{"line":1}`),
			Reports: func([]store.ResourceWriteResult) []store.ReportChunk {
				// A REST write arrives while the first step is being applied.
				go func() {
					_, err := s.ResourceWrite(ctx, "ds", []store.ResourceWrite{{Type: "Patient", ID: "rest", Body: []byte(`{}`)}}, time.Now())
					rest <- err
				}()
				for waiting, _ := s.gate.urgentWaiting(); !waiting; waiting, _ = s.gate.urgentWaiting() {
					runtime.Gosched()
				}
				return nil
			}},
		{Writes: []store.ResourceWrite{{Type: "Patient", ID: "i2", Body: []byte(`{}`)}}, Checkpoint: []byte(`{"line":2}`),
			Reports: func([]store.ResourceWriteResult) []store.ReportChunk {
				// Readers see only committed data.
				_, seenBySecond = s.ResourceGet(ctx, "ds", "Patient", "rest")
				j, _ := s.JobGet(ctx, tn, "ds", store.JobImport, "j")
				checkpointSeen = string(j.Checkpoint)
				return nil
			}},
	}
	res, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "j", LeaseToken: claim.LeaseToken, DatastoreID: "ds", Now: now,
		Writes: steps[0].Writes, Reports: steps[0].Reports, Checkpoint: steps[0].Checkpoint, Steps: steps[1:]})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-rest; err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	if seenBySecond != nil {
		t.Errorf("the REST write was not committed before the second step: %v", seenBySecond)
	}
	if checkpointSeen != `{"line":1}` {
		t.Errorf("checkpoint committed with the first step = %q, want {\"line\":1}", checkpointSeen)
	}
	j, err := s.JobGet(ctx, tn, "ds", store.JobImport, "j")
	if err != nil || string(j.Checkpoint) != `{"line":2}` {
		t.Errorf("final checkpoint = %s, %v", j.Checkpoint, err)
	}
}

// TestImportStepYieldsMidway: a REST write that arrives while an import transaction is still
// writing the resources of its first step gets the writer before that step commits (the import
// transaction rolls back and applies the step again afterwards, once).
func TestImportStepYieldsMidway(t *testing.T) {
	ctx := context.Background()
	s, tn, claim := claimedImport(t)
	now := time.Now()
	// One step long enough to be caught while it writes.
	const n = 3000
	writes := make([]store.ResourceWrite, n)
	for i := range writes {
		writes[i] = store.ResourceWrite{Type: "Observation", ID: fmt.Sprintf("o%d", i),
			Body: []byte(`{"resourceType":"Observation","status":"final"}`)}
	}
	type done struct {
		res []store.ResourceWriteResult
		err error
	}
	imported := make(chan done, 1)
	go func() {
		res, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "j", LeaseToken: claim.LeaseToken, DatastoreID: "ds", Now: now,
			Writes: writes, Checkpoint: []byte(`{"line":3000}`)})
		imported <- done{res, err}
	}()
	for {
		s.gate.mu.Lock()
		busy := s.gate.busy
		s.gate.mu.Unlock()
		if busy {
			break
		}
		runtime.Gosched()
	}
	if _, err := s.ResourceWrite(ctx, "ds", []store.ResourceWrite{{Type: "Patient", ID: "rest", Body: []byte(`{}`)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	counts, err := s.ResourceCount(ctx, "ds")
	if err != nil {
		t.Fatal(err)
	}
	d := <-imported
	if d.err != nil {
		t.Fatal(d.err)
	}
	if counts["Observation"] != 0 || counts["Patient"] != 1 {
		t.Errorf("when the REST write returned: %v, want the Patient and none of the import's step", counts)
	}
	if len(d.res) != n {
		t.Fatalf("%d results, want %d", len(d.res), n)
	}
	for i, r := range d.res {
		if !r.Created || r.Version != 1 {
			t.Fatalf("result %d = %+v, want created at version 1", i, r)
		}
	}
	if counts, err := s.ResourceCount(ctx, "ds"); err != nil || counts["Observation"] != n {
		t.Errorf("after the import: %v, %v", counts, err)
	}
	if j, err := s.JobGet(ctx, tn, "ds", store.JobImport, "j"); err != nil || string(j.Checkpoint) != `{"line":3000}` {
		t.Errorf("checkpoint = %s, %v", j.Checkpoint, err)
	}
}

// claimedImport opens a store with data store "ds" and import job "j", claimed by owner "w".
func claimedImport(t *testing.T) (*Store, store.Tenant, store.Job) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	now := time.Now()
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4", CreatedAt: now}, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.JobCreate(ctx, store.Job{Tenant: tn, ID: "j", Kind: store.JobImport, DatastoreID: "ds", SubmitTime: now, Params: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	claim, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "w", Now: now, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s, tn, claim
}
