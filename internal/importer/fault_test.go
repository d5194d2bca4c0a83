package importer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// fullDisk is the importer's store with a disk that fills after a number of commits: every
// ImportCommit then fails with store.ErrDiskFull, as the SQLite backend reports it, until free
// is called.
type fullDisk struct {
	*sqlite.Store
	mu      sync.Mutex
	commits int // commits left before the disk is full
	full    bool
}

func (s *fullDisk) ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	s.mu.Lock()
	if s.commits == 0 {
		s.full = true
	}
	s.commits--
	full := s.full
	s.mu.Unlock()
	if full {
		return nil, fmt.Errorf("commit: %w: database or disk is full", store.ErrDiskFull)
	}
	return s.Store.ImportCommit(ctx, p)
}

func (s *fullDisk) free() {
	s.mu.Lock()
	s.full = false
	s.mu.Unlock()
}

// TestStoreFaultResumes runs an import through the engine on a store whose disk fills after two
// commits: the job pauses, and once space returns it completes with every resource and report
// line exactly once. (The server's TestImportDiskFull does the same on a real full tmpfs where
// the test may mount one.)
func TestStoreFaultResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 3000
	f := newFixture(t, n)
	objects := f.folder.Guard()
	// The listing takes the first commit; 500 resources go in each of the others.
	disk := &fullDisk{Store: f.db, commits: 3}
	e := jobs.New(jobs.Config{Store: f.db, Owner: "test", Lease: 3 * time.Second, Poll: 10 * time.Millisecond, FaultTimeout: time.Minute,
		Workers: map[store.JobKind]jobs.Worker{store.JobImport: importer.New(importer.Config{Objects: objects, Store: disk,
			Validator: fhir.NewValidator(), BatchResources: 500, CommitInterval: time.Hour})},
		Hook: func(p string) {
			if p == "import.paused" {
				disk.free()
			}
		}})
	e.Start(ctx)
	defer e.Stop()
	j, p := f.wait(t)
	if j.Status != store.JobCompleted || p.ResourcesScanned != n || p.ResourcesImported != n || j.Attempts != 2 {
		t.Fatalf("job = %s %q after %d attempts, %+v; want COMPLETED with %d resources after 2", j.Status, j.Message, j.Attempts, p, n)
	}
	report, err := os.ReadFile(filepath.Join(f.dir, "fhir-out", "ds-FHIR_IMPORT-j1", "SUCCESS", "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(report), "\n"), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf(`{"lineId":%d,`, i+1)) || !strings.Contains(l, `"versionId":"1"`) {
			t.Fatalf("SUCCESS line %d = %s", i+1, l)
		}
	}
	if got := f.stored(t); got != n || len(lines) != n {
		t.Errorf("stored %d Patients with %d SUCCESS lines; want %d of each", got, len(lines), n)
	}
}
