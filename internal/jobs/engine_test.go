package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

var tenant = store.Tenant{AccountID: "000000000000", Region: "us-east-1"}

// scripted is a worker whose runs follow a script; it signals each run on runs.
type scripted struct {
	mu     sync.Mutex
	calls  int
	tokens []string // the lease token of each run
	runs   chan store.Job
	run    func(ctx context.Context, call int) (jobs.Result, error)
}

func (w *scripted) Run(ctx context.Context, j store.Job, lease jobs.Lease) (jobs.Result, error) {
	w.mu.Lock()
	w.calls++
	call := w.calls
	w.tokens = append(w.tokens, lease.Token)
	run := w.run
	w.mu.Unlock()
	if lease.Token == "" || lease.Token != j.LeaseToken {
		return jobs.Result{}, fmt.Errorf("run %d: lease token %q, job's %q", call, lease.Token, j.LeaseToken)
	}
	w.runs <- j
	return run(ctx, call)
}

func setup(t *testing.T, w jobs.Worker, ids ...string) (*sqlite.Store, *jobs.Engine) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, _, err := st.DatastoreCreate(ctx, store.Datastore{Tenant: tenant, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if _, _, err := st.JobCreate(ctx, store.Job{Tenant: tenant, ID: id, Kind: store.JobImport, DatastoreID: "ds",
			SubmitTime: time.UnixMilli(int64(1000 + i))}); err != nil {
			t.Fatal(err)
		}
	}
	e := jobs.New(jobs.Config{Store: st, Workers: map[store.JobKind]jobs.Worker{store.JobImport: w}, Owner: "test",
		Lease: 3 * time.Second, Poll: 10 * time.Millisecond, MaxAttempts: 3})
	return st, e
}

func waitStatus(t *testing.T, st *sqlite.Store, id string, want store.JobStatus) store.Job {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		j, err := st.JobGet(context.Background(), tenant, "ds", store.JobImport, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == want {
			return j
		}
	}
	t.Fatalf("job %s never reached %s", id, want)
	return store.Job{}
}

func TestRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	w := &scripted{runs: make(chan store.Job, 10), run: func(_ context.Context, call int) (jobs.Result, error) {
		if call < 3 {
			return jobs.Result{}, errors.New("transient")
		}
		return jobs.Result{Status: store.JobCompleted, Progress: []byte(`{"ok":true}`)}, nil
	}}
	st, e := setup(t, w, "j1")
	e.Start(context.Background())
	defer e.Stop()
	j := waitStatus(t, st, "j1", store.JobCompleted)
	if j.Attempts != 3 || string(j.Progress) != `{"ok":true}` || j.EndTime.IsZero() || j.LeaseOwner != "" {
		t.Errorf("job = attempts %d, progress %s, end %v, owner %q", j.Attempts, j.Progress, j.EndTime, j.LeaseOwner)
	}
}

func TestFailsAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	w := &scripted{runs: make(chan store.Job, 10), run: func(context.Context, int) (jobs.Result, error) {
		return jobs.Result{}, errors.New("disk on fire at /secret/path")
	}}
	st, e := setup(t, w, "j1")
	e.Start(context.Background())
	defer e.Stop()
	j := waitStatus(t, st, "j1", store.JobFailed)
	if j.Attempts != 3 || j.Message == "" || j.Message != "The job failed after 3 attempts because of an internal error" {
		t.Errorf("job = attempts %d, message %q", j.Attempts, j.Message)
	}
}

// TestStopLeavesJobToResume: stopping the engine cancels a running job without finishing it; the
// next engine (after the leases are released) runs it again, and jobs of one store run in order.
func TestStopLeavesJobToResume(t *testing.T) {
	t.Parallel()
	block := func(ctx context.Context, _ int) (jobs.Result, error) {
		<-ctx.Done()
		return jobs.Result{}, ctx.Err()
	}
	w := &scripted{runs: make(chan store.Job, 10), run: block}
	st, e := setup(t, w, "first", "second")
	e.Start(context.Background())
	if j := <-w.runs; j.ID != "first" {
		t.Fatalf("ran %s first", j.ID)
	}
	e.Stop()
	j, _ := st.JobGet(context.Background(), tenant, "ds", store.JobImport, "first")
	if j.Status != store.JobInProgress || !j.EndTime.IsZero() {
		t.Fatalf("after stop: %s", j.Status)
	}
	if q, _ := st.JobGet(context.Background(), tenant, "ds", store.JobImport, "second"); q.Status != store.JobQueued {
		t.Errorf("second job = %s, want QUEUED", q.Status)
	}
	if err := st.JobReleaseAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.run = func(context.Context, int) (jobs.Result, error) { return jobs.Result{Status: store.JobCompleted}, nil }
	w.mu.Unlock()
	e2 := jobs.New(jobs.Config{Store: st, Workers: map[store.JobKind]jobs.Worker{store.JobImport: w}, Owner: "test2",
		Lease: 3 * time.Second, Poll: 10 * time.Millisecond})
	e2.Start(context.Background())
	defer e2.Stop()
	if j := <-w.runs; j.ID != "first" || j.Attempts != 2 {
		t.Fatalf("resumed %s (attempt %d), want first (attempt 2)", j.ID, j.Attempts)
	}
	waitStatus(t, st, "first", store.JobCompleted)
	waitStatus(t, st, "second", store.JobCompleted)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tokens) != 3 || w.tokens[0] == w.tokens[1] || w.tokens[1] == w.tokens[2] {
		t.Errorf("lease tokens of the runs = %q; want three distinct ones", w.tokens)
	}
}

// engineWith returns an engine like setup's, with cfg adjusted by adjust.
func engineWith(st *sqlite.Store, w jobs.Worker, adjust func(*jobs.Config)) *jobs.Engine {
	cfg := jobs.Config{Store: st, Workers: map[store.JobKind]jobs.Worker{store.JobImport: w}, Owner: "test",
		Lease: 3 * time.Second, Poll: 10 * time.Millisecond, MaxAttempts: 3}
	adjust(&cfg)
	return jobs.New(cfg)
}

// TestFaultPausesWithoutUsingAttempts: runs that end in a fault are retried past MaxAttempts,
// each pause goes through the hook, and the job completes once the fault clears.
func TestFaultPausesWithoutUsingAttempts(t *testing.T) {
	t.Parallel()
	w := &scripted{runs: make(chan store.Job, 10), run: func(_ context.Context, call int) (jobs.Result, error) {
		if call <= 3 {
			return jobs.Result{}, &jobs.Fault{Message: "The output location s3://b/ is not writable: permission denied", Err: errors.New("EROFS")}
		}
		return jobs.Result{Status: store.JobCompleted}, nil
	}}
	st, _ := setup(t, w, "j1")
	var paused atomic.Int64
	e := engineWith(st, w, func(c *jobs.Config) {
		c.MaxAttempts = 2
		c.FaultTimeout = 3 * time.Second // pauses of 0.3, 0.6 and 0.75 s
		c.Hook = func(p string) {
			if p == "import.paused" {
				paused.Add(1)
			}
		}
	})
	e.Start(context.Background())
	defer e.Stop()
	j := waitStatus(t, st, "j1", store.JobCompleted)
	if j.Attempts != 4 || paused.Load() != 3 || j.Message != "" {
		t.Errorf("job = attempts %d, pauses %d, message %q; want 4, 3, none", j.Attempts, paused.Load(), j.Message)
	}
}

// TestFaultFailsAfterTimeout: a fault that does not clear fails the job once the fault timeout
// has passed since the first fault, with the fault's message; a full data store disk is a fault
// of its own.
func TestFaultFailsAfterTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"output", &jobs.Fault{Message: "The output location s3://b/(x)/ is not writable: permission denied", Err: errors.New("EROFS /secret")},
			"The output location s3://b/_x_/ is not writable: permission denied"},
		{"disk full", fmt.Errorf("commit: %w: database or disk is full", store.ErrDiskFull), "The data store ran out of disk space"},
		{"database unreachable", fmt.Errorf("begin: %w: connection refused", store.ErrUnavailable), "The data store database was unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &scripted{runs: make(chan store.Job, 100), run: func(context.Context, int) (jobs.Result, error) { return jobs.Result{}, tc.err }}
			st, _ := setup(t, w, "j1")
			const timeout = 300 * time.Millisecond
			e := engineWith(st, w, func(c *jobs.Config) { c.FaultTimeout = timeout })
			t0 := time.Now()
			e.Start(context.Background())
			defer e.Stop()
			j := waitStatus(t, st, "j1", store.JobFailed)
			if el := time.Since(t0); j.Message != tc.want || el < timeout || j.Attempts < 3 {
				t.Errorf("job = %q after %s and %d attempts; want %q after at least %s and 3 attempts", j.Message, el, j.Attempts, tc.want, timeout)
			}
		})
	}
}

// TestErrorsAfterFaultsCountFromZero: internal errors get MaxAttempts runs of their own, however
// many faults came before.
func TestErrorsAfterFaultsCountFromZero(t *testing.T) {
	t.Parallel()
	w := &scripted{runs: make(chan store.Job, 100), run: func(_ context.Context, call int) (jobs.Result, error) {
		if call <= 2 {
			return jobs.Result{}, fmt.Errorf("commit: %w", store.ErrDiskFull)
		}
		return jobs.Result{}, errors.New("internal")
	}}
	st, _ := setup(t, w, "j1")
	e := engineWith(st, w, func(c *jobs.Config) { c.FaultTimeout = 3 * time.Second })
	e.Start(context.Background())
	defer e.Stop()
	j := waitStatus(t, st, "j1", store.JobFailed)
	if j.Attempts != 5 || j.Message != "The job failed after 3 attempts because of an internal error" {
		t.Errorf("job = attempts %d, message %q; want 5 and 3 internal errors", j.Attempts, j.Message)
	}
}
