package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/store/storetest"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

func TestConformance(t *testing.T) {
	storetest.RunSearch(t, open)
	storetest.Run(t, open)
}

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fhirlake.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "a", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d, err := s.DatastoreGet(ctx, tn, "a"); err != nil || d.Status != store.DatastoreActive {
		t.Fatalf("after reopen: %+v %v", d, err)
	}
}

// TestDiskFull fills the file system of the database (a small tmpfs): a write then fails with
// store.ErrDiskFull and changes nothing, and the same write succeeds once space is back.
func TestDiskFull(t *testing.T) {
	dir, ok := testenv.MountTmpfs(t, "8m")
	if !ok {
		t.Skip("cannot mount a tmpfs here")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "a", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	var writes []store.ResourceWrite
	for i := 0; i < 2000; i++ {
		writes = append(writes, store.ResourceWrite{Type: "Patient", ID: fmt.Sprintf("p%d", i),
			Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","text":"%s"}`, i, strings.Repeat("x", 500)))})
	}
	ballast := testenv.Fill(t, dir)
	if _, err := s.ResourceWrite(ctx, "a", writes, time.Now()); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull", err)
	}
	if counts, err := s.ResourceCount(ctx, "a"); err != nil || counts["Patient"] != 0 {
		t.Fatalf("after the failed write: %v, %v; want nothing stored", counts, err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResourceWrite(ctx, "a", writes, time.Now()); err != nil {
		t.Fatalf("write once space is back: %v", err)
	}
	if counts, err := s.ResourceCount(ctx, "a"); err != nil || counts["Patient"] != 2000 {
		t.Fatalf("after space is back: %v, %v; want 2000 patients", counts, err)
	}
}

// TestEraseKeepsPostingsConsistent erases resources that share posting rows with others and
// checks, through IndexEntries, that no posting key of an erased resource is left and that the
// others' entries are intact.
func TestEraseKeepsPostingsConsistent(t *testing.T) {
	ctx := context.Background()
	s := open(t).(*sqlite.Store)
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "er", Status: store.DatastoreActive, TypeVersion: "R4",
		CreatedAt: time.Now(), ReadyAt: time.Now()}, nil, 0); err != nil {
		t.Fatal(err)
	}
	var writes []store.ResourceWrite
	for i := range 20 {
		id := fmt.Sprintf("o%d", i)
		writes = append(writes, store.ResourceWrite{Type: "Observation", ID: id, Body: []byte(`{"resourceType":"Observation","id":"` + id + `"}`),
			Index: []store.IndexEntry{{Param: "code", Kind: store.IndexToken, System: "s", Code: "c"},
				{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: "p"},
				{Param: "value-quantity", Kind: store.IndexQuantity, NumLow: float64(i), NumHigh: float64(i)}}})
	}
	if _, err := s.ResourceWrite(ctx, "er", writes, time.Now()); err != nil {
		t.Fatal(err)
	}
	var keys []store.ResourceKey
	for i := 0; i < 20; i += 2 {
		keys = append(keys, store.ResourceKey{Type: "Observation", ID: fmt.Sprintf("o%d", i)})
	}
	if n, err := s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: keys}); err != nil || n != 10 {
		t.Fatalf("erase: %d, %v", n, err)
	}
	left := 0
	if err := s.IndexEntries(ctx, "er", func(typ, id string, entries []string) error {
		left++
		if len(entries) != 3 {
			t.Errorf("%s/%s has %d entries, want 3", typ, id, len(entries))
		}
		return nil
	}); err != nil {
		t.Fatalf("index after the erase: %v", err)
	}
	if left != 10 {
		t.Errorf("%d resources left in the index, want 10", left)
	}
}
