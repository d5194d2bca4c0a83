package postgres

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestSearchPlans loads the shared synthea data (8,315 resources), refreshes the planner's
// statistics as an import does, and checks that the plan of every selective query shape reads
// through an index: no sequential scan of resources or of an index table. The plans are logged
// (go test -v) and docs/POSTGRES.md quotes them.
func TestSearchPlans(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "data", "synthea")
	ctx := context.Background()
	s, err := Open(ctx, Config{URL: testenv.Postgres(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := store.Tenant{AccountID: "000000000000", Region: "us-east-1"}
	if _, _, err := s.DatastoreCreate(ctx, store.Datastore{Tenant: tn, ID: "ds", Status: store.DatastoreActive, TypeVersion: "R4"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	patient, family := "", ""
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 64<<20)
		var batch []store.ResourceWrite
		for sc.Scan() {
			var head struct {
				ResourceType, ID string
				Name             json.RawMessage
			}
			line := append([]byte(nil), sc.Bytes()...)
			if err := json.Unmarshal(line, &head); err != nil {
				t.Fatal(err)
			}
			var names []struct{ Family string }
			if head.ResourceType == "Patient" && patient == "" && json.Unmarshal(head.Name, &names) == nil && len(names) > 0 {
				patient, family = head.ID, strings.ToLower(names[0].Family)
			}
			batch = append(batch, store.ResourceWrite{Type: head.ResourceType, ID: head.ID, Body: line, Index: search.Extract(head.ResourceType, line)})
		}
		fh.Close()
		if _, err := s.ResourceWrite(ctx, "ds", batch, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.analyzeGrown(ctx); err != nil {
		t.Fatal(err)
	}
	day := func(d string) (int64, int64) {
		lo, _ := time.Parse("2006-01-02", d)
		return lo.UnixMilli(), lo.UnixMilli() + 86_400_000 - 1
	}
	lo2010, _ := day("2010-01-01")
	lo2020, _ := day("2020-01-01")
	one := func(p store.SearchPredicate) []store.SearchPredicate { return []store.SearchPredicate{p} }
	code := store.SearchPredicate{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: "8302-2"}
	anyCode := store.SearchPredicate{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: "8302-2"}
	subject := store.SearchPredicate{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: patient}
	from := store.SearchPredicate{Param: "date", Kind: store.IndexDate, Op: store.OpGe, Low: lo2010, High: lo2010 + 86_400_000 - 1}
	to := store.SearchPredicate{Param: "date", Kind: store.IndexDate, Op: store.OpLt, Low: lo2020, High: lo2020 + 86_400_000 - 1}
	shapes := []struct {
		name string
		q    store.SearchQuery
	}{
		{"token with system", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(code)}}},
		{"token, any system", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(anyCode)}}},
		{"reference", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(subject)}}},
		{"reference and token", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(subject), one(code)}}},
		{"reference, token and date range", store.SearchQuery{Type: "Observation",
			Where: [][]store.SearchPredicate{one(subject), one(code), one(from), one(to)}}},
		{"date range alone", store.SearchQuery{Type: "Encounter", Where: [][]store.SearchPredicate{
			one(store.SearchPredicate{Param: "date", Kind: store.IndexDate, Op: store.OpGe, Low: lo2010, High: lo2010 + 86_400_000 - 1}),
			one(store.SearchPredicate{Param: "date", Kind: store.IndexDate, Op: store.OpLt, Low: lo2010 + 365*86_400_000, High: lo2010 + 366*86_400_000 - 1})}}},
		{"string prefix", store.SearchQuery{Type: "Patient", Where: [][]store.SearchPredicate{
			one(store.SearchPredicate{Param: "family", Kind: store.IndexString, Op: store.OpPrefix, Value: family[:3]})}}},
		{"chained reference", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{
			one(store.SearchPredicate{Param: "subject", Kind: store.IndexReference, Chain: &store.SearchChain{Type: "Patient",
				Where: []store.SearchPredicate{{Param: "family", Kind: store.IndexString, Op: store.OpPrefix, Value: family}}}}),
			one(code)}}},
		{"_has", store.SearchQuery{Type: "Patient", Where: [][]store.SearchPredicate{one(store.SearchPredicate{Param: "subject", Kind: store.IndexReference,
			Has: &store.SearchHas{Type: "Observation", Param: "subject", Where: []store.SearchPredicate{code}}})}}},
		{"_id", store.SearchQuery{Type: "Patient", Where: [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_id", Kind: store.IndexToken, Code: patient})}}},
		{"type page, no parameter", store.SearchQuery{Type: "Observation"}},
	}
	for _, sh := range shapes {
		sh.q.DatastoreID, sh.q.Count = "ds", 50
		_, b, err := s.searchSQL(ctx, sh.q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.pool.Query(ctx, "EXPLAIN "+b.sql(), append([]any{pgx.QueryExecModeExec}, b.args...)...)
		if err != nil {
			t.Fatalf("%s: %v", sh.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("%s:\n%s", sh.name, plan)
		for _, l := range lines {
			if strings.Contains(l, "Seq Scan on resources") || strings.Contains(l, "Seq Scan on idx_") {
				t.Errorf("%s: sequential scan: %s", sh.name, strings.TrimSpace(l))
			}
		}
		res, err := s.ResourceSearch(ctx, sh.q)
		if err != nil || len(res.Matches) == 0 {
			t.Errorf("%s: %d matches, %v", sh.name, len(res.Matches), err)
		}
	}
}
