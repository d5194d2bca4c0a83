package sqlite_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// syntheaLines reads every resource of the shared synthea folder.
func syntheaLines(b *testing.B) []store.ResourceWrite {
	return testenv.SharedWrites(b, "synthea", "*.ndjson")
}

// extract computes the index entries of writes with two workers, as the import pipeline does.
func extract(writes []store.ResourceWrite) {
	var wg sync.WaitGroup
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(writes); i += 2 {
				writes[i].Index = search.Extract(writes[i].Type, writes[i].Body)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkImportIndexing measures the store side of the import path on synthea/ (8,315
// resources, batches of 2,000 as the importer commits them): writing without index entries,
// extracting the entries alone (two workers), and writing with them.
func BenchmarkImportIndexing(b *testing.B) {
	lines := syntheaLines(b)
	ctx := context.Background()
	run := func(b *testing.B, index bool) {
		for range b.N {
			b.StopTimer()
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "fhirlake.db"))
			if err != nil {
				b.Fatal(err)
			}
			tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
			if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
				b.Fatal(err)
			}
			writes := make([]store.ResourceWrite, len(lines))
			copy(writes, lines)
			b.StartTimer()
			start := time.Now()
			for i := 0; i < len(writes); i += 2000 {
				batch := writes[i:min(i+2000, len(writes))]
				if index {
					extract(batch)
				}
				if _, err := s.ResourceWrite(ctx, "ds", batch, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(writes))/time.Since(start).Seconds(), "resources/s")
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	}
	b.Run("without-index", func(b *testing.B) { run(b, false) })
	b.Run("with-index", func(b *testing.B) { run(b, true) })
	b.Run("extract-only", func(b *testing.B) {
		for range b.N {
			writes := make([]store.ResourceWrite, len(lines))
			copy(writes, lines)
			start := time.Now()
			extract(writes)
			b.ReportMetric(float64(len(writes))/time.Since(start).Seconds(), "resources/s")
		}
	})
}

// BenchmarkImportIndexingFull measures the same store writes at scale, on synthea-full (180,520
// resources, about 2.1 million index entries), in commits of 4,000 resources as the importer makes
// them; index entries are extracted beforehand and not timed. sqlite-floor then copies the index
// rows and posting rows the with-index run wrote into an empty database of the same schema with
// one INSERT ... SELECT per table, in the order they were written: SQLite's own cost for those
// B-tree inserts, with no Go, cgo or per-row statement work at all, once in one transaction and
// once in one transaction per 4,000 resources. Compare resources/s within one run.
func BenchmarkImportIndexingFull(b *testing.B) {
	lines := testenv.SharedWrites(b, "synthea-full", "*.ndjson.gz")
	extract(lines)
	rows := 0
	for _, w := range lines {
		rows += len(w.Index)
	}
	ctx := context.Background()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	// load writes lines into a new store in dir and returns its path and the time the writes took.
	load := func(b *testing.B, dir string, index bool) (string, time.Duration) {
		path := filepath.Join(dir, "fhirlake.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < len(lines); i += 4000 {
			batch := append([]store.ResourceWrite(nil), lines[i:min(i+4000, len(lines))]...)
			if !index {
				for j := range batch {
					batch[j].Index = nil
				}
			}
			if _, err := s.ResourceWrite(ctx, "ds", batch, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		return path, time.Since(start)
	}
	perSecond := func(d time.Duration) float64 { return float64(len(lines)) / d.Seconds() }
	b.Run("without-index", func(b *testing.B) {
		for range b.N {
			_, d := load(b, b.TempDir(), false)
			b.ReportMetric(perSecond(d), "resources/s")
		}
	})
	b.Run("with-index", func(b *testing.B) {
		for range b.N {
			_, d := load(b, b.TempDir(), true)
			b.ReportMetric(perSecond(d), "resources/s")
			b.ReportMetric(float64(rows)/float64(len(lines)), "rows/resource")
		}
	})
	// floor copies the index rows in rpk ranges of chunk resources, one transaction each.
	floor := func(b *testing.B, chunk int64) {
		for range b.N {
			b.StopTimer()
			dir := b.TempDir()
			src, _ := load(b, dir, true)
			dst := filepath.Join(dir, "floor.db")
			s, err := sqlite.Open(ctx, dst) // the same schema, empty
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			db, err := sql.Open("sqlite3", "file:"+dst+"?_journal_mode=WAL&_synchronous=NORMAL")
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			if _, err := db.ExecContext(ctx, "PRAGMA cache_size=-65536; ATTACH ? AS src", src); err != nil {
				b.Fatal(err)
			}
			var last int64
			if err := db.QueryRowContext(ctx, "SELECT max(pk) FROM src.resources").Scan(&last); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			postedChunk := int64(-1)
			for lo := int64(0); lo < last; lo += chunk {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, t := range []string{"idx_string", "idx_date", "idx_number", "idx_uri"} {
					q := "INSERT INTO main." + t + " SELECT * FROM src." + t + " WHERE rpk > ? AND rpk <= ? ORDER BY rpk"
					if _, err := tx.ExecContext(ctx, q, lo, lo+chunk); err != nil {
						b.Fatal(err)
					}
				}
				// Posting rows by the chunk of 4,096 resource keys they cover: each once, with the
				// first range that reaches its first key.
				for _, t := range []string{"post_token", "post_ref"} {
					q := "INSERT INTO main." + t + " SELECT * FROM src." + t + " WHERE chunk > ? AND chunk * 4096 <= ?"
					if _, err := tx.ExecContext(ctx, q, postedChunk, lo+chunk); err != nil {
						b.Fatal(err)
					}
				}
				postedChunk = (lo + chunk) / 4096
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perSecond(time.Since(start)), "resources/s")
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
	}
	b.Run("sqlite-floor-one-commit", func(b *testing.B) { floor(b, math.MaxInt32) })
	b.Run("sqlite-floor-4000-per-commit", func(b *testing.B) { floor(b, 4000) })
}
