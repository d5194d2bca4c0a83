package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
)

// commitStore answers ImportCommit with err; nothing else of the contract is used here.
type commitStore struct {
	store.Store
	err error
}

func (s *commitStore) ImportCommit(context.Context, store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	return nil, s.err
}

func progress(t *testing.T, p jobs.ImportProgress) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportCountersResumedJob counts only what a run adds: a job resumed from a stored progress
// does not count again what an earlier process imported, and a failed commit counts nothing.
func TestImportCountersResumedJob(t *testing.T) {
	m := New()
	inner := &commitStore{}
	st := m.Store(inner)
	ctx := context.Background()
	job := store.Job{ID: "j1", Kind: store.JobImport,
		Progress: progress(t, jobs.ImportProgress{ResourcesImported: 100, ResourcesCustomerError: 3, ScannedBytes: 1000, ActiveSeconds: 10})}
	m.RunStarted(job)
	if got := testutil.ToFloat64(m.running.WithLabelValues("import")); got != 1 {
		t.Errorf("running = %v", got)
	}
	step := func(p jobs.ImportProgress) {
		if _, err := st.ImportCommit(ctx, store.ImportCommitParams{JobID: "j1", Progress: progress(t, p)}); err != nil && inner.err == nil {
			t.Fatal(err)
		}
	}
	step(jobs.ImportProgress{ResourcesImported: 150, ResourcesCustomerError: 4, ScannedBytes: 1500, ActiveSeconds: 15, ImportedFiles: 1})
	inner.err = errors.New("lease lost")
	step(jobs.ImportProgress{ResourcesImported: 400, ResourcesCustomerError: 9, ScannedBytes: 9000, ActiveSeconds: 20, ImportedFiles: 2})
	inner.err = nil
	if got := testutil.ToFloat64(m.throughput); got != 10 {
		t.Errorf("throughput while running = %v, want 150/15 = 10", got)
	}
	step(jobs.ImportProgress{ResourcesImported: 200, ResourcesCustomerError: 4, ScannedBytes: 2000, ActiveSeconds: 20, ImportedFiles: 2})
	m.RunEnded(job, store.JobCompleted, 3*time.Second)
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"imported", testutil.ToFloat64(m.resources.WithLabelValues("imported")), 100},
		{"customer errors", testutil.ToFloat64(m.resources.WithLabelValues("customer_error")), 1},
		{"files", testutil.ToFloat64(m.files.WithLabelValues("imported")), 2},
		{"bytes", testutil.ToFloat64(m.bytes), 1000},
		{"ended", testutil.ToFloat64(m.ended.WithLabelValues("import", "COMPLETED")), 1},
		{"running", testutil.ToFloat64(m.running.WithLabelValues("import")), 0},
		{"throughput", testutil.ToFloat64(m.throughput), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.commits); n != 1 {
		t.Errorf("commit histograms = %d, want 1 (import)", n)
	}
}

// TestRegistriesAreSeparate: two Metrics (two servers in one process) share nothing.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.ObserveRequest("healthlake", "ListFHIRDatastores", 200, time.Millisecond)
	if got := testutil.ToFloat64(b.requests.WithLabelValues("healthlake", "ListFHIRDatastores", "200")); got != 0 {
		t.Errorf("second registry saw %v requests", got)
	}
	if got := testutil.ToFloat64(a.requests.WithLabelValues("healthlake", "ListFHIRDatastores", "200")); got != 1 {
		t.Errorf("first registry saw %v requests", got)
	}
}

// BenchmarkObserveRequest is what every HTTP request pays for its metrics: one counter and one
// histogram observation.
func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("healthlake", "DescribeFHIRDatastore", 200, 150*time.Microsecond)
		}
	})
}

// BenchmarkImportCommitted is what every committed import step (up to 4,000 resources) pays for
// the import counters: decoding its progress and adding the deltas.
func BenchmarkImportCommitted(b *testing.B) {
	m := New()
	m.RunStarted(store.Job{ID: "j", Kind: store.JobImport})
	p := jobs.ImportProgress{ScannedFiles: 3, ScannedBytes: 1 << 20, ImportedFiles: 2, ResourcesScanned: 4000, ResourcesImported: 3990, ResourcesCustomerError: 10, ActiveSeconds: 1}
	steps := make([][]byte, 1024)
	for i := range steps {
		p.ResourcesImported += 4000
		steps[i], _ = json.Marshal(p)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.importCommitted("j", steps[i%len(steps)])
	}
}
