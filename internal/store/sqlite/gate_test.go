package sqlite

import (
	"context"
	"errors"
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
	s, err := Open(ctx, filepath.Join(t.TempDir(), "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
