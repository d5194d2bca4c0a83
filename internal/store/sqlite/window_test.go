package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// TestSearchWindowWidens checks that a key-ordered search driven by a posting list finds matches
// far beyond its first window of chunks, on the first page and through the cursor.
func TestSearchWindowWidens(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4", CreatedAt: time.Now()}, nil, 0); err != nil {
		t.Fatal(err)
	}
	obs := func(id string) store.ResourceWrite {
		return store.ResourceWrite{Type: "Observation", ID: id, Body: []byte(`{}`),
			Index: []store.IndexEntry{{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: "8302-2"}}}
	}
	write := func(w store.ResourceWrite) {
		if _, err := s.ResourceWrite(ctx, "ds", []store.ResourceWrite{w}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	write(obs("near"))
	// Move the next resource key far past the first window (16 chunks of 4,096 keys), and past
	// the window after it.
	if _, err := s.w.ExecContext(ctx, "INSERT INTO resources (pk, ds, type, id, version, updated, body) VALUES (?, 1, 'Patient', 'filler', 1, 0, '{}')", int64(100)<<chunkShift); err != nil {
		t.Fatal(err)
	}
	write(obs("far"))
	q := store.SearchQuery{DatastoreID: "ds", Type: "Observation", Count: 5,
		Where: [][]store.SearchPredicate{{{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: "8302-2"}}}}
	ids := func(res store.SearchResult) (out []string) {
		for _, m := range res.Matches {
			out = append(out, m.ID)
		}
		return out
	}
	res, err := s.ResourceSearch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res); len(got) != 2 || got[0] != "near" || got[1] != "far" || res.Next != nil {
		t.Errorf("one page of 5 = %v (next %s), want [near far] and no next page", got, res.Next)
	}
	q.Count = 1
	first, err := s.ResourceSearch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	q.Cursor = first.Next
	second, err := s.ResourceSearch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ids(first), ids(second); len(a) != 1 || a[0] != "near" || len(b) != 1 || b[0] != "far" || second.Next != nil {
		t.Errorf("pages of 1 = %v then %v (next %s), want [near] then [far] and the end", a, b, second.Next)
	}
}
