package postgres_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/postgres"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// syntheaFull reads every resource of synthea-full, with index entries extracted by two workers
// as the import pipeline does.
func syntheaFull(b *testing.B) []store.ResourceWrite {
	b.Helper()
	out := testenv.SharedWrites(b, "synthea-full", "*.ndjson.gz")
	var wg sync.WaitGroup
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(out); i += 2 {
				out[i].Index = search.Extract(out[i].Type, out[i].Body)
			}
		}()
	}
	wg.Wait()
	return out
}

// BenchmarkImportCommitFull measures the store side of an import of synthea-full (180,520
// resources, 2.1 million index rows) on PostgreSQL: ImportCommit in batches of 4,000 resources as
// the importer makes them, index entries extracted beforehand and not timed; once without index
// entries and once with them.
func BenchmarkImportCommitFull(b *testing.B) {
	lines := syntheaFull(b)
	rows := 0
	for _, w := range lines {
		rows += len(w.Index)
	}
	ctx := context.Background()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	load := func(b *testing.B, index bool) time.Duration {
		url := testenv.Postgres(b)
		s, err := postgres.Open(ctx, postgres.Config{URL: url})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.JobCreate(ctx, store.Job{Tenant: tn, ID: "job", Kind: store.JobImport, DatastoreID: "ds", SubmitTime: time.Now()}); err != nil {
			b.Fatal(err)
		}
		job, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "bench", Now: time.Now(), Lease: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		cpu := testenv.PostgresCPU(b, url)
		var cpu0 time.Duration
		if cpu != nil {
			cpu0 = cpu()
		}
		proc0 := processCPU()
		start := time.Now()
		for i := 0; i < len(lines); i += 4000 {
			batch := append([]store.ResourceWrite(nil), lines[i:min(i+4000, len(lines))]...)
			if !index {
				for j := range batch {
					batch[j].Index = nil
				}
			}
			if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: job.ID, LeaseToken: job.LeaseToken, DatastoreID: "ds",
				Writes: batch, Now: time.Now(), LeaseExpires: time.Now().Add(time.Hour), Progress: []byte(`{}`)}); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		b.ReportMetric(float64((processCPU()-proc0).Microseconds())/float64(len(lines)), "go-core-µs/resource")
		if cpu != nil {
			b.ReportMetric(float64((cpu()-cpu0).Microseconds())/float64(len(lines)), "pg-core-µs/resource")
		}
		return took
	}
	perSecond := func(d time.Duration) float64 { return float64(len(lines)) / d.Seconds() }
	b.Run("without-index", func(b *testing.B) {
		for range b.N {
			b.ReportMetric(perSecond(load(b, false)), "resources/s")
		}
	})
	b.Run("with-index", func(b *testing.B) {
		for range b.N {
			b.ReportMetric(perSecond(load(b, true)), "resources/s")
			b.ReportMetric(float64(rows)/float64(len(lines)), "rows/resource")
		}
	})
}

// processCPU returns the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
