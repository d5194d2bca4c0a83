package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// walLoad is a mixed load: an import (ImportCommit batches of new resources with index entries
// and report chunks) and REST-like updates on one store, while four readers run reads, scans,
// counts and searches without pause. It writes about total bytes of resource bodies and returns
// the largest size of the -wal file seen (after each commit and every millisecond), and its size
// once the load stopped and the checkpointer had brought it under limit (or five seconds passed).
func walLoad(tb testing.TB, s *sqlite.Store, path string, limit, total int64) (maxWAL, endWAL int64) {
	tb.Helper()
	ctx := context.Background()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "wal", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := s.JobCreate(ctx, store.Job{Tenant: tn, ID: "imp", Kind: store.JobImport, DatastoreID: "wal", SubmitTime: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	job, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "n", Now: time.Now(), Lease: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	pad := strings.Repeat("x", 1800)
	body := func(id string, v int) []byte {
		return []byte(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","valueInteger":%d,"note":[{"text":%q}]}`, id, v, pad))
	}
	index := func(id string) []store.IndexEntry {
		return []store.IndexEntry{
			{Param: "status", Kind: store.IndexToken, Code: "final"},
			{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: fmt.Sprintf("p%02d", len(id)%100)},
			{Param: "date", Kind: store.IndexDate, Low: time.Now().UnixMilli(), High: time.Now().UnixMilli()},
		}
	}
	wal := path + "-wal"
	var maxSeen atomic.Int64
	sample := func() {
		if fi, err := os.Stat(wal); err == nil && fi.Size() > maxSeen.Load() {
			maxSeen.Store(fi.Size())
		}
	}
	done := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	// Besides the samples after each commit, a poller catches the file's size between them.
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	// Readers: each runs queries back to back until the writers stop.
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := errors.New("enough")
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var err error
				switch (i + r) % 4 {
				case 0:
					_, err = s.ResourceGet(ctx, "wal", "Observation", fmt.Sprintf("o%d", i*7%max(1, int(written.Load()/2000))))
				case 1:
					n := 0
					err = s.ResourceScan(ctx, "wal", "Observation", "", func(store.Resource) error {
						if n++; n == 200 {
							return stop
						}
						return nil
					})
				case 2:
					_, err = s.ResourceCount(ctx, "wal")
				case 3:
					_, err = s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "wal", Type: "Observation", Count: 20,
						Where: [][]store.SearchPredicate{{{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: fmt.Sprintf("p%02d", i%100)}}}})
				}
				if err != nil && !errors.Is(err, stop) && !errors.Is(err, store.ErrNotFound) {
					tb.Errorf("reader: %v", err)
					return
				}
			}
		}()
	}
	// REST-like updates of the resources imported so far.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			n := int(written.Load() / 2000)
			if n == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			id := fmt.Sprintf("o%d", i*31%n)
			if _, err := s.ResourceWrite(ctx, "wal", []store.ResourceWrite{{Type: "Observation", ID: id, Body: body(id, -i), Index: index(id)}}, time.Now()); err != nil {
				tb.Errorf("update: %v", err)
				return
			}
			written.Add(2000)
			sample()
		}
	}()
	// The import.
	for next := 0; written.Load() < total; {
		writes := make([]store.ResourceWrite, 200)
		for i := range writes {
			id := fmt.Sprintf("o%d", next)
			next++
			writes[i] = store.ResourceWrite{Type: "Observation", ID: id, Body: body(id, next), Index: index(id)}
		}
		if _, err := s.ImportCommit(ctx, store.ImportCommitParams{JobID: "imp", LeaseToken: job.LeaseToken, DatastoreID: "wal",
			Writes: writes, Reports: func(r []store.ResourceWriteResult) []store.ReportChunk {
				return []store.ReportChunk{{Name: "SUCCESS/o.ndjson", Data: []byte(strings.Repeat("ok\n", len(r)))}}
			}, Checkpoint: []byte(fmt.Sprintf(`{"n":%d}`, next)), LeaseExpires: time.Now().Add(time.Hour), Now: time.Now()}); err != nil {
			tb.Fatal(err)
		}
		written.Add(int64(len(writes)) * 2000)
		sample()
	}
	close(done)
	wg.Wait()
	sample()
	// The last commits' WAL is bounded by the checkpointer, which they woke: give it a moment.
	var fi os.FileInfo
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if fi, err = os.Stat(wal); err != nil {
			tb.Fatal(err)
		}
		if fi.Size() <= limit || time.Now().After(deadline) {
			break
		}
	}
	return maxSeen.Load(), fi.Size()
}

// TestWALBounded: under a mixed load the -wal file never grows past the limit by more than a few
// transactions, and it ends within the limit once the checkpointer has caught up. Without the bound, this load leaves a WAL of about
// twice the bytes it writes (PASSIVE checkpoints never restart it while readers run).
func TestWALBounded(t *testing.T) {
	t.Parallel()
	const limit = 4 << 20
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.WithWALLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	maxWAL, endWAL := walLoad(t, s, path, limit, 12<<20)
	t.Logf("WAL: max %.1f MiB, end %.1f MiB (limit %d MiB)", float64(maxWAL)/(1<<20), float64(endWAL)/(1<<20), limit>>20)
	// One import commit of this load adds about 1 MiB of frames. A truncation that a reader holds
	// off for longer than its wait is retried at a later commit, which on a loaded machine can be a
	// few commits on: allow 8 MiB over the limit, well under the 30 MiB this load reaches without one.
	if maxWAL > limit+8<<20 {
		t.Errorf("the WAL reached %d bytes; want at most the limit %d plus 8 MiB", maxWAL, limit)
	}
	if endWAL > limit {
		t.Errorf("the WAL ends at %d bytes, over the limit %d", endWAL, limit)
	}
}

// BenchmarkWALUnderLoad reports the WAL's high-water mark and its size after a mixed load that
// writes 256 MiB of resource bodies, with the default WAL limit and, as the baseline, with none
// (the checkpointer then only runs PASSIVE checkpoints).
func BenchmarkWALUnderLoad(b *testing.B) {
	for _, bc := range []struct {
		name  string
		limit int64
	}{{"limit=none", 1 << 50}, {"limit=64MiB", sqlite.DefaultWALLimit}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				path := filepath.Join(b.TempDir(), "wal.db")
				s, err := sqlite.Open(context.Background(), path, sqlite.WithWALLimit(bc.limit))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				maxWAL, endWAL := walLoad(b, s, path, bc.limit, 256<<20)
				b.ReportMetric(time.Since(start).Seconds(), "load-s")
				fi, _ := os.Stat(path)
				s.Close()
				b.ReportMetric(float64(maxWAL)/(1<<20), "max-wal-MiB")
				b.ReportMetric(float64(endWAL)/(1<<20), "end-wal-MiB")
				b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
			}
		})
	}
}
