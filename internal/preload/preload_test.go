package preload_test

import (
	"context"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/preload"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// TestSampleIsValid checks the embedded sample: 820 resources of three patients, every one valid
// at strict, and every Patient/Organization/Practitioner reference resolvable inside the sample.
func TestSampleIsValid(t *testing.T) {
	t.Parallel()
	docs, err := preload.Synthea()
	if err != nil {
		t.Fatal(err)
	}
	v := fhir.NewValidator()
	ids := map[string]bool{}
	patients := 0
	for _, d := range docs {
		r := v.Validate(d, fhir.LevelStrict)
		if !r.Valid() {
			t.Fatalf("%s/%s invalid: %v", r.ResourceType, r.ID, r.Issues)
		}
		ids[r.ResourceType+"/"+r.ID] = true
		if r.ResourceType == "Patient" {
			patients++
		}
	}
	if len(docs) != 820 || patients != 3 {
		t.Errorf("sample has %d resources and %d patients", len(docs), patients)
	}
	for _, d := range docs {
		for _, m := range refs.FindAllSubmatch(d, -1) {
			if !ids[string(m[1])] {
				t.Errorf("unresolved reference %s", m[1])
			}
		}
	}
}

var refs = regexp.MustCompile(`"reference":"((?:Patient|Organization|Practitioner)/[^"]+)"`)

// racingStore lets two loads both see an empty store before either writes, as two nodes can.
type racingStore struct {
	preload.Store
	counted sync.WaitGroup
}

func (r *racingStore) ResourceCount(ctx context.Context, id string) (map[string]int64, error) {
	m, err := r.Store.ResourceCount(ctx, id)
	r.counted.Done()
	r.counted.Wait()
	return m, err
}

// TestLoadRace runs two loads of one store at once: one writes the sample and the other nothing,
// so every resource stays at version 1.
func TestLoadRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "preload.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := st.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreCreating,
		TypeVersion: "R4", ReadyAt: time.Now().Add(time.Hour)}, nil, 0); err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: st}
	rs.counted.Add(2)
	var wg sync.WaitGroup
	loaded := make([]int, 2)
	errs := make([]error, 2)
	for i := range loaded {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loaded[i], errs[i] = preload.Load(ctx, rs, "ds", search.Extract)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || loaded[0]+loaded[1] != 820 {
		t.Fatalf("loads = %v, %v; want 820 resources loaded once", loaded, errs)
	}
	p, err := st.ResourceGet(ctx, "ds", "Patient", firstPatient(t))
	if err != nil || p.Version != 1 {
		t.Fatalf("patient = version %d, %v; want version 1", p.Version, err)
	}
}

func firstPatient(t *testing.T) string {
	docs, err := preload.Synthea()
	if err != nil {
		t.Fatal(err)
	}
	v := fhir.NewValidator()
	for _, d := range docs {
		if r := v.Validate(d, fhir.LevelMinimal); r.ResourceType == "Patient" {
			return r.ID
		}
	}
	t.Fatal("no patient in the sample")
	return ""
}
