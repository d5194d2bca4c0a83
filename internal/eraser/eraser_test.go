package eraser_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/eraser"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// failingStore stops erasing after a number of erases that remove something, as a crash would.
type failingStore struct {
	*sqlite.Store
	left int
}

var errCrash = errors.New("crash")

func (f *failingStore) ResourceErase(ctx context.Context, p store.EraseParams) (int64, error) {
	if len(p.Keys) > 0 {
		if f.left == 0 {
			return 0, errCrash
		}
		f.left--
	}
	return f.Store.ResourceErase(ctx, p)
}

// TestPurgeResumes stops a purge after two batches (the conditions, then the first observations)
// and runs the job again from what the store recorded: every member of the compartment is erased exactly once by count, the other patient's
// resources stay, and the AuditEvent stays without deleteAuditEvent.
func TestPurgeResumes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := st.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4",
		CreatedAt: time.Now(), ReadyAt: time.Now()}, nil, 0); err != nil {
		t.Fatal(err)
	}
	ref := func(param, id string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.IndexReference, RefType: "Patient", RefID: id}
	}
	res := func(typ, id string, idx ...store.IndexEntry) store.ResourceWrite {
		return store.ResourceWrite{Type: typ, ID: id, Body: []byte(`{"resourceType":"` + typ + `","id":"` + id + `"}`), Index: idx}
	}
	writes := []store.ResourceWrite{res("Patient", "p"), res("Patient", "q"), res("AuditEvent", "a", ref("patient", "p"))}
	for i := range 12 {
		writes = append(writes, res("Observation", fmt.Sprintf("o%d", i), ref("subject", "p")))
		writes = append(writes, res("Observation", fmt.Sprintf("q%d", i), ref("subject", "q")))
	}
	for i := range 3 {
		writes = append(writes, res("Condition", fmt.Sprintf("c%d", i), ref("subject", "p"), ref("patient", "p")))
	}
	if _, err := st.ResourceWrite(ctx, "ds", writes, time.Now()); err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(jobs.DeleteParams{Operation: "purge", Type: "Patient", ID: "p"})
	if _, _, err := st.JobCreate(ctx, store.Job{Tenant: tn, ID: "j", Kind: store.JobDelete, DatastoreID: "ds", SubmitTime: time.Now(), Params: params}); err != nil {
		t.Fatal(err)
	}
	run := func(s eraser.Store, at time.Time) (jobs.Result, error) {
		j, err := st.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobDelete}, Owner: "n", Now: at, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		e := eraser.New(eraser.Config{Store: s, Batch: 5})
		return e.Run(ctx, j, jobs.Lease{Token: j.LeaseToken, Until: func() time.Time { return at.Add(time.Minute) }})
	}
	if _, err := run(&failingStore{Store: st, left: 2}, time.Now()); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v, want the crash", err)
	}
	if counts, err := st.ResourceCount(ctx, "ds"); err != nil || counts["Condition"] != 0 || counts["Observation"] != 12+7 {
		t.Fatalf("after the crash: %v, %v; want the conditions and 5 of the patient's observations gone", counts, err)
	}
	r, err := run(st, time.Now().Add(2*time.Minute)) // after the first claim's lease
	if err != nil || r.Status != store.JobCompleted {
		t.Fatalf("resumed run: %+v, %v", r, err)
	}
	var prog jobs.DeleteProgress
	if err := json.Unmarshal(r.Progress, &prog); err != nil || prog.Resources != 16 {
		t.Errorf("resources deleted = %d (%v), want 16: 12 observations, 3 conditions and the patient", prog.Resources, err)
	}
	counts, err := st.ResourceCount(ctx, "ds")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"Patient": 1, "Observation": 12, "AuditEvent": 1}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%s left: %d, want %d", typ, counts[typ], n)
		}
	}
	if counts["Condition"] != 0 {
		t.Errorf("conditions left: %d", counts["Condition"])
	}
}
