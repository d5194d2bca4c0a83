package importer_test

import (
	"context"
	"encoding/json"
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
	"github.com/fhirlake/fhirlake/internal/s3io"
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
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	folder, err := s3io.NewDir(dir, "000000000000")
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	for _, b := range []string{"fhir-in", "fhir-out"} {
		if err := folder.As("000000000000").CreateBucket(b, "us-east-1"); err != nil {
			t.Fatal(err)
		}
	}
	objects := folder.Guard()
	const n = 3000
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, `{"resourceType":"Patient","id":"p%d"}`+"\n", i)
	}
	os.WriteFile(filepath.Join(dir, "fhir-in", "Patient.ndjson"), []byte(in.String()), 0o644)
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := db.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(jobs.ImportParams{InputS3URI: "s3://fhir-in/", OutputS3URI: "s3://fhir-out/", ValidationLevel: "minimal"})
	if _, _, err := db.JobCreate(ctx, store.Job{Tenant: tn, ID: "j1", Kind: store.JobImport, DatastoreID: "ds", SubmitTime: time.Now(), Params: params}); err != nil {
		t.Fatal(err)
	}
	// The listing takes the first commit; 500 resources go in each of the others.
	disk := &fullDisk{Store: db, commits: 3}
	e := jobs.New(jobs.Config{Store: db, Owner: "test", Lease: 3 * time.Second, Poll: 10 * time.Millisecond, FaultTimeout: time.Minute,
		Workers: map[store.JobKind]jobs.Worker{store.JobImport: importer.New(importer.Config{Objects: objects, Store: disk,
			Validator: fhir.NewValidator(), BatchResources: 500, CommitInterval: time.Hour})},
		Hook: func(p string) {
			if p == "import.paused" {
				disk.free()
			}
		}})
	e.Start(ctx)
	defer e.Stop()
	var j store.Job
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if j, err = db.JobGet(ctx, tn, "ds", store.JobImport, "j1"); err != nil || j.Status.Terminal() || time.Now().After(deadline) {
			break
		}
	}
	var p jobs.ImportProgress
	json.Unmarshal(j.Progress, &p)
	if j.Status != store.JobCompleted || p.ResourcesScanned != n || p.ResourcesImported != n || j.Attempts != 2 {
		t.Fatalf("job = %s %q after %d attempts, %+v; want COMPLETED with %d resources after 2", j.Status, j.Message, j.Attempts, p, n)
	}
	report, err := os.ReadFile(filepath.Join(dir, "fhir-out", "ds-FHIR_IMPORT-j1", "SUCCESS", "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(report), "\n"), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf(`{"lineId":%d,`, i+1)) || !strings.Contains(l, `"versionId":"1"`) {
			t.Fatalf("SUCCESS line %d = %s", i+1, l)
		}
	}
	if counts, err := db.ResourceCount(ctx, "ds"); err != nil || counts["Patient"] != n || len(lines) != n {
		t.Errorf("stored %v (%v) with %d SUCCESS lines; want %d of each", counts, err, len(lines), n)
	}
}
