package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// TestMigratePostings checks that migration 6 turns the token and reference rows of an older
// database into posting lists and resource entries that search, update and the index check use.
func TestMigratePostings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fhirlake.db")
	db := openDB("file:" + path + "?_journal_mode=WAL")
	if err := migrateTo(ctx, db, 5); err != nil {
		t.Fatal(err)
	}
	// A version-5 store: two observations of one patient with a code each, the way the writer of
	// that version stored them.
	for _, q := range []string{
		`INSERT INTO datastores (seq, id, account, region, status, created_at, ready_at, type_version) VALUES (1, 'ds', '000000000000', 'us-east-1', 'ACTIVE', 0, 0, 'R4')`,
		`INSERT INTO resources (pk, ds, type, id, version, updated, body) VALUES (1, 1, 'Observation', 'o1', 1, 0, '{}'), (5000, 1, 'Observation', 'o2', 1, 0, '{}')`,
		`INSERT INTO search_params (seq, type, code) VALUES (1, 'Observation', 'code'), (2, 'Observation', 'subject')`,
		`INSERT INTO idx_token (ds, param, code, system, text, rpk) VALUES (1, 1, '8302-2', 'http://loinc.org', 'body height', 1), (1, 1, '8302-2', 'http://loinc.org', 'body height', 5000), (1, 1, '29463-7', 'http://loinc.org', '', 5000)`,
		`INSERT INTO idx_ref (ds, param, ref_id, ref_type, rpk) VALUES (1, 2, 'p1', 'Patient', 1), (1, 2, 'p1', 'Patient', 5000)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	search := func(where ...store.SearchPredicate) []string {
		t.Helper()
		q := store.SearchQuery{DatastoreID: "ds", Type: "Observation", Count: 10}
		for _, p := range where {
			q.Where = append(q.Where, []store.SearchPredicate{p})
		}
		res, err := s.ResourceSearch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range res.Matches {
			ids = append(ids, m.ID)
		}
		return ids
	}
	code := func(c string) store.SearchPredicate {
		return store.SearchPredicate{Param: "code", Kind: store.IndexToken, Code: c, System: "http://loinc.org"}
	}
	subject := store.SearchPredicate{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: "p1"}
	if got := search(code("8302-2")); len(got) != 2 {
		t.Errorf("code=8302-2 after migration: %v, want o1 and o2", got)
	}
	if got := search(subject, code("29463-7")); len(got) != 1 || got[0] != "o2" {
		t.Errorf("subject + code=29463-7 after migration: %v, want o2", got)
	}
	var n int
	if err := s.IndexEntries(ctx, "ds", func(typ, id string, es []string) error { n += len(es); return nil }); err != nil || n != 5 {
		t.Errorf("index check after migration: %d entries, %v; want 5", n, err)
	}
	// An update replaces the migrated entries.
	if _, err := s.ResourceWrite(ctx, "ds", []store.ResourceWrite{{Type: "Observation", ID: "o2", Body: []byte(`{}`),
		Index: []store.IndexEntry{{Param: "code", Kind: store.IndexToken, Code: "1-1", System: "http://loinc.org"}}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := search(code("8302-2")); len(got) != 1 || got[0] != "o1" {
		t.Errorf("code=8302-2 after the update: %v, want o1", got)
	}
	if got := search(subject); len(got) != 1 || got[0] != "o1" {
		t.Errorf("subject after the update: %v, want o1", got)
	}
	for _, table := range []string{"idx_token", "idx_ref"} {
		var name string
		if err := s.r.QueryRowContext(ctx, "SELECT name FROM sqlite_master WHERE name = ?", table).Scan(&name); err == nil {
			t.Errorf("%s still exists", table)
		}
	}
}
