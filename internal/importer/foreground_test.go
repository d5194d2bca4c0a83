package importer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/background"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// stepCounter is the importer's store, counting the commit calls that carry resources by whether
// they carry several steps.
type stepCounter struct {
	*sqlite.Store
	mu                sync.Mutex
	single, multiStep int
}

func (s *stepCounter) ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	n := len(p.Writes)
	for _, st := range p.Steps {
		n += len(st.Writes)
	}
	if n > 0 {
		s.mu.Lock()
		if len(p.Steps) > 0 {
			s.multiStep++
		} else {
			s.single++
		}
		s.mu.Unlock()
	}
	return s.Store.ImportCommit(ctx, p)
}

// TestCommitsFollowWrites: an import commits many steps per call, but one step per call while
// REST resource writes come (Foreground.NoteWrite), and requests that write nothing do not make
// it do so; either way it imports every resource once.
func TestCommitsFollowWrites(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		writes bool
	}{{"reads", false}, {"writes", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const n = 2000
			f := newFixture(t, n)
			// Short requests all along the import, writes or not.
			fg := &background.Foreground{}
			if c.writes {
				fg.NoteWrite() // before the import starts, which commits its first batch at once
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					end := fg.Begin()
					if c.writes {
						fg.NoteWrite()
					}
					time.Sleep(100 * time.Microsecond)
					end()
				}
			}()
			counter := &stepCounter{Store: f.db}
			e := jobs.New(jobs.Config{Store: f.db, Owner: "test", Lease: 3 * time.Second, Poll: 10 * time.Millisecond,
				Workers: map[store.JobKind]jobs.Worker{store.JobImport: importer.New(importer.Config{Objects: f.folder.Guard(), Store: counter,
					Validator: fhir.NewValidator(), BatchResources: 500, CommitInterval: time.Hour, Foreground: fg})}})
			e.Start(ctx)
			defer e.Stop()
			j, p := f.wait(t)
			if j.Status != store.JobCompleted || p.ResourcesImported != n {
				t.Fatalf("job = %s %q, %+v; want COMPLETED with %d resources", j.Status, j.Message, p, n)
			}
			if got := f.stored(t); got != n {
				t.Errorf("stored %d Patients, want %d", got, n)
			}
			counter.mu.Lock()
			defer counter.mu.Unlock()
			t.Logf("commit calls: %d of one step, %d of several", counter.single, counter.multiStep)
			if c.writes && (counter.multiStep != 0 || counter.single < n/16) {
				t.Errorf("while writes come: %d calls of one step and %d of several, want %d or more and none", counter.single, counter.multiStep, n/16)
			}
			if !c.writes && counter.multiStep == 0 {
				t.Errorf("with requests that write nothing: no call of several steps (%d of one)", counter.single)
			}
		})
	}
}
