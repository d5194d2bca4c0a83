package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// syntheaLines reads every resource of the shared synthea folder (../shared from the module root).
func syntheaLines(b *testing.B) []store.ResourceWrite {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.SharedDir(b), "data", "synthea", "*.ndjson"))
	if len(files) == 0 {
		b.Skip("shared synthea data not present")
	}
	var out []store.ResourceWrite
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var env struct{ ResourceType, ID string }
			line := append([]byte(nil), sc.Bytes()...)
			if err := json.Unmarshal(line, &env); err != nil {
				b.Fatal(err)
			}
			out = append(out, store.ResourceWrite{Type: env.ResourceType, ID: env.ID, Body: line})
		}
		fh.Close()
	}
	return out
}

// extract computes the index entries of writes with two workers, as the import pipeline does.
func extract(writes []store.ResourceWrite) {
	var wg sync.WaitGroup
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(writes); i += 2 {
				es := search.Extract(writes[i].Type, writes[i].Body)
				idx := make([]store.IndexEntry, len(es))
				for j, e := range es {
					idx[j] = store.IndexEntry{Param: e.Param, Kind: store.IndexKind(e.Kind), System: e.System, Code: e.Code,
						Value: e.Value, Exact: e.Exact, RefType: e.RefType, RefID: e.RefID, Low: e.Low, High: e.High,
						NumLow: e.NumLow, NumHigh: e.NumHigh}
				}
				writes[i].Index = idx
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
			if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil); err != nil {
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
