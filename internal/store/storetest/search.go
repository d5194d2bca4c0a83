package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/store"
)

// RunSearch runs the search part of the suite: index maintenance on write and delete, every
// index kind and operator, sorting, keyset paging, includes and tenancy of the index.
func RunSearch(t *testing.T, newStore Factory) {
	runAll(t, newStore, []namedTest{
		{"Search", testSearch},
		{"DateWindow", testDateWindow},
		{"Graph", testSearchGraph},
		{"WriteCondition", testWriteCondition},
		{"SortMissingValues", testSortMissing},
		{"BulkUpdate", testBulkUpdate},
	})
}

// testBulkUpdate writes 300 resources in one call and then a new version of each in another (a
// backend may take a bulk path for many updates): every resource is at version 2, its history has
// version 1, and the index holds the new values only.
func testBulkUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "bu", time.Now(), 0)
	const n = 300
	batch := func(code string, base int64) []store.ResourceWrite {
		var ws []store.ResourceWrite
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("o%03d", i)
			ws = append(ws, store.ResourceWrite{Type: "Observation", ID: id, Body: []byte(`{"resourceType":"Observation","id":"` + id + `","c":"` + code + `"}`),
				Index: []store.IndexEntry{
					{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: code},
					{Param: "date", Kind: store.IndexDate, Low: base + int64(i), High: base + int64(i)},
				}})
		}
		return ws
	}
	if _, err := s.ResourceWrite(ctx, "bu", batch("old", 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := s.ResourceWrite(ctx, "bu", batch("new", 1_000_000), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Version != 2 || r.Created {
			t.Fatalf("update %d = %+v, want version 2", i, r)
		}
	}
	count := func(code string) int64 {
		r, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "bu", Type: "Observation", CountOnly: true,
			Where: [][]store.SearchPredicate{{{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: code}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Total
	}
	if o, nw := count("old"), count("new"); o != 0 || nw != n {
		t.Errorf("index after the bulk update: %d old, %d new; want 0, %d", o, nw, n)
	}
	dates := func(op store.SearchOp) int64 {
		r, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "bu", Type: "Observation", CountOnly: true,
			Where: [][]store.SearchPredicate{{{Param: "date", Kind: store.IndexDate, Op: op, Low: 999_999, High: 999_999}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Total
	}
	if before, after := dates(store.OpLt), dates(store.OpGt); before != 0 || after != n {
		t.Errorf("dates after the bulk update: %d old, %d new; want 0, %d", before, after, n)
	}
	v1, err := s.ResourceVersion(ctx, "bu", "Observation", "o123", 1)
	if err != nil || string(v1.Body) != `{"resourceType":"Observation","id":"o123","c":"old"}` {
		t.Errorf("version 1 = %s, %v", v1.Body, err)
	}
	cur, err := s.ResourceGet(ctx, "bu", "Observation", "o123")
	if err != nil || cur.Version != 2 || string(cur.Body) != `{"resourceType":"Observation","id":"o123","c":"new"}` {
		t.Errorf("current = %d %s, %v", cur.Version, cur.Body, err)
	}
}

// testWriteCondition checks that a conditional write is applied only while its search matches
// exactly the resources it names, that the search sees the call's earlier writes, and that a
// failed condition writes nothing of the call.
func testWriteCondition(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "wc", time.Now(), 0)
	pat := func(id, mrn string) store.ResourceWrite {
		return store.ResourceWrite{Type: "Patient", ID: id, Body: []byte(`{"resourceType":"Patient","id":"` + id + `"}`),
			Index: []store.IndexEntry{{Param: "identifier", Kind: store.IndexToken, System: "urn:mrn", Code: mrn}}}
	}
	byMRN := func(mrn string, matches ...string) *store.WriteCondition {
		return &store.WriteCondition{Type: "Patient", Matches: matches,
			Where: [][]store.SearchPredicate{{{Param: "identifier", Kind: store.IndexToken, System: "urn:mrn", Code: mrn}}}}
	}
	create := func(id, mrn string, cond *store.WriteCondition) error {
		w := pat(id, mrn)
		w.IfNoneExist, w.Condition = true, cond
		_, err := s.ResourceWrite(ctx, "wc", []store.ResourceWrite{w}, time.Now())
		return err
	}
	if err := create("a", "1", byMRN("1")); err != nil {
		t.Fatalf("create with no match: %v", err)
	}
	if err := create("b", "1", byMRN("1")); !errors.Is(err, store.ErrConditionChanged) {
		t.Fatalf("second create of mrn 1: %v, want ErrConditionChanged", err)
	}
	if _, err := s.ResourceGet(ctx, "wc", "Patient", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused create was written: %v", err)
	}
	// The condition sees earlier writes of the same call, and its failure undoes them.
	w1, w2 := pat("c", "2"), pat("d", "2")
	w2.Condition = byMRN("2")
	if _, err := s.ResourceWrite(ctx, "wc", []store.ResourceWrite{w1, w2}, time.Now()); !errors.Is(err, store.ErrConditionChanged) {
		t.Fatalf("condition after a matching write of the same call: %v, want ErrConditionChanged", err)
	}
	if _, err := s.ResourceGet(ctx, "wc", "Patient", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the earlier write of a refused call was kept: %v", err)
	}
	// An update decided on one match stands while that is still the only match.
	u := pat("a", "1")
	u.IfVersion, u.Condition = 1, byMRN("1", "a")
	if _, err := s.ResourceWrite(ctx, "wc", []store.ResourceWrite{u}, time.Now()); err != nil {
		t.Errorf("update with its one match: %v", err)
	}
	if err := create("e", "3", nil); err != nil {
		t.Fatal(err)
	}
	d := store.ResourceWrite{Type: "Patient", ID: "a", Delete: true, Condition: byMRN("1", "a", "e")}
	if _, err := s.ResourceWrite(ctx, "wc", []store.ResourceWrite{d}, time.Now()); !errors.Is(err, store.ErrConditionChanged) {
		t.Errorf("condition naming a resource that does not match: %v, want ErrConditionChanged", err)
	}
}

// testDateWindow checks two-sided date searches (which a backend may serve from a window on the
// range start) against ranges of every shape: short, long ones that began long before the
// window, open-ended ones, and a long range written after shorter ones.
func testDateWindow(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "dw", time.Now(), 0)
	enc := func(id string, lo, hi int64) store.ResourceWrite {
		return store.ResourceWrite{Type: "Encounter", ID: id, Body: []byte(`{"resourceType":"Encounter","id":"` + id + `"}`),
			Index: []store.IndexEntry{{Param: "date", Kind: store.IndexDate, Low: lo, High: hi}}}
	}
	day := int64(24 * time.Hour / time.Millisecond)
	batches := [][]store.ResourceWrite{
		{
			enc("inside", ms("2020-03-05T10:00:00Z"), ms("2020-03-05T11:00:00Z")),
			enc("before", ms("2020-02-01T00:00:00Z"), ms("2020-02-01T00:00:00Z")+day-1),
			enc("after", ms("2020-04-01T00:00:00Z"), ms("2020-04-01T00:00:00Z")+day-1),
			enc("edge-start", ms("2020-02-28T00:00:00Z"), ms("2020-03-01T00:00:00Z")),
		},
		{enc("long", ms("2001-01-01T00:00:00Z"), ms("2030-01-01T00:00:00Z"))},
		{enc("open-start", math.MinInt64, ms("2021-01-01T00:00:00Z")), enc("open-end", ms("2019-06-01T00:00:00Z"), math.MaxInt64)},
	}
	for _, w := range batches {
		if _, err := s.ResourceWrite(ctx, "dw", w, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	date := func(op store.SearchOp, day string) []store.SearchPredicate {
		lo := ms(day + "T00:00:00Z")
		return []store.SearchPredicate{{Param: "date", Kind: store.IndexDate, Op: op, Low: lo, High: lo + 86_400_000 - 1}}
	}
	cases := []struct {
		name  string
		where [][]store.SearchPredicate
		want  []string
	}{
		{"ge and lt", [][]store.SearchPredicate{date(store.OpGe, "2020-03-01"), date(store.OpLt, "2020-03-15")},
			[]string{"inside", "long", "open-end", "open-start"}},
		{"gt and le", [][]store.SearchPredicate{date(store.OpGt, "2020-03-01"), date(store.OpLe, "2020-03-15")},
			[]string{"inside", "long", "open-end", "open-start"}},
		{"eq and ge", [][]store.SearchPredicate{date(store.OpEq, "2020-03-05"), date(store.OpGe, "2020-03-01")}, []string{"inside"}},
		{"sa and eb", [][]store.SearchPredicate{date(store.OpSa, "2020-03-01"), date(store.OpEb, "2020-05-01")},
			[]string{"after", "inside"}},
		{"window before everything", [][]store.SearchPredicate{date(store.OpGe, "1990-01-01"), date(store.OpLt, "1990-02-01")},
			[]string{"open-start"}},
	}
	// Procedure.date only ever holds finite ranges, so a backend may bound the window from below;
	// the long range is written after the short ones.
	proc := func(id string, lo, hi int64) store.ResourceWrite {
		w := enc(id, lo, hi)
		w.Type, w.Body = "Procedure", []byte(`{"resourceType":"Procedure","id":"`+id+`"}`)
		return w
	}
	for _, w := range [][]store.ResourceWrite{
		{proc("p-inside", ms("2020-03-05T10:00:00Z"), ms("2020-03-05T11:00:00Z")), proc("p-before", ms("2020-02-01T00:00:00Z"), ms("2020-02-02T00:00:00Z"))},
		{proc("p-long", ms("2001-01-01T00:00:00Z"), ms("2030-01-01T00:00:00Z"))},
		{proc("p-later-short", ms("2020-03-10T00:00:00Z"), ms("2020-03-10T00:01:00Z"))},
	} {
		if _, err := s.ResourceWrite(ctx, "dw", w, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "dw", Type: "Procedure", Count: 100,
		Where: [][]store.SearchPredicate{date(store.OpGe, "2020-03-01"), date(store.OpLt, "2020-03-15")}})
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, r := range res.Matches {
		procs = append(procs, r.ID)
	}
	sort.Strings(procs)
	if diff := cmp.Diff([]string{"p-inside", "p-later-short", "p-long"}, procs); diff != "" {
		t.Errorf("finite ranges (-want +got):\n%s", diff)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "dw", Type: "Encounter", Where: tc.where, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range res.Matches {
				ids = append(ids, r.ID)
			}
			sort.Strings(ids)
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func ms(s string) int64 {
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return ts.UnixMilli()
}

func testSearch(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "sa", time.Now(), 0)
	mkStore(t, s, tenantB, "sb", time.Now(), 0)
	obs := func(id, patient, code string, when string, value float64) store.ResourceWrite {
		lo := ms(when)
		return store.ResourceWrite{Type: "Observation", ID: id, Body: []byte(`{"resourceType":"Observation","id":"` + id + `"}`),
			Index: []store.IndexEntry{
				{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: patient},
				{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: code, Value: "body height"},
				{Param: "date", Kind: store.IndexDate, Low: lo, High: lo + 999},
				{Param: "value-quantity", Kind: store.IndexQuantity, NumLow: value, NumHigh: value, System: "http://unitsofmeasure.org", Code: "cm"},
			}}
	}
	writes := []store.ResourceWrite{
		{Type: "Patient", ID: "p1", Body: []byte(`{"resourceType":"Patient","id":"p1"}`), Index: []store.IndexEntry{
			{Param: "name", Kind: store.IndexString, Value: "muller", Exact: "Müller"},
			{Param: "birthdate", Kind: store.IndexDate, Low: ms("1970-01-01T00:00:00Z"), High: ms("1970-01-02T00:00:00Z") - 1},
			{Param: "_profile", Kind: store.IndexURI, Value: "http://x/p"},
		}},
		{Type: "Patient", ID: "p2", Body: []byte(`{"resourceType":"Patient","id":"p2"}`), Index: []store.IndexEntry{
			{Param: "name", Kind: store.IndexString, Value: "smith", Exact: "Smith"},
			{Param: "birthdate", Kind: store.IndexDate, Low: math.MinInt64, High: ms("1980-01-01T00:00:00Z")},
		}},
	}
	for i := 0; i < 250; i++ {
		p := "p1"
		if i%2 == 1 {
			p = "p2"
		}
		code := "8302-2"
		if i%5 == 0 {
			code = "29463-7"
		}
		writes = append(writes, obs(fmt.Sprintf("o%03d", i), p, code, fmt.Sprintf("2020-01-%02dT10:00:00Z", 1+i%28), float64(i)))
	}
	if _, err := s.ResourceWrite(ctx, "sa", writes, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The other tenant's store has a look-alike that must never show up.
	if _, err := s.ResourceWrite(ctx, "sb", []store.ResourceWrite{obs("o000", "p1", "8302-2", "2020-01-01T10:00:00Z", 1)}, time.Now()); err != nil {
		t.Fatal(err)
	}

	search := func(t *testing.T, typ string, where ...[]store.SearchPredicate) []string {
		t.Helper()
		var ids []string
		q := store.SearchQuery{DatastoreID: "sa", Type: typ, Where: where, Count: 40}
		for pages := 0; ; pages++ {
			res, err := s.ResourceSearch(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Matches {
				ids = append(ids, r.ID)
			}
			if res.Next == nil {
				break
			}
			q.Cursor = res.Next
		}
		sort.Strings(ids)
		return ids
	}
	one := func(p store.SearchPredicate) []store.SearchPredicate { return []store.SearchPredicate{p} }
	obsWhere := func(keep func(i int) bool) []string {
		var out []string
		for i := 0; i < 250; i++ {
			if keep(i) {
				out = append(out, fmt.Sprintf("o%03d", i))
			}
		}
		return out
	}
	tests := []struct {
		name  string
		typ   string
		where [][]store.SearchPredicate
		want  []string
	}{
		{"string prefix", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpPrefix, Value: "mul"})}, []string{"p1"}},
		{"string exact", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpExact, Value: "Müller"})}, []string{"p1"}},
		{"string exact is case-sensitive", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpExact, Value: "müller"})}, nil},
		{"string contains", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpContains, Value: "mit"})}, []string{"p2"}},
		{"uri", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_profile", Kind: store.IndexURI, Value: "http://x/p"})}, []string{"p1"}},
		{"uri below", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_profile", Kind: store.IndexURI, Op: store.OpBelow, Value: "http://x/"})}, []string{"p1"}},
		{"missing true", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_profile", Kind: store.IndexURI, Op: store.OpMissing, Missing: true})}, []string{"p2"}},
		{"missing on a never-indexed parameter", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "gender", Kind: store.IndexToken, Op: store.OpMissing, Missing: true})}, []string{"p1", "p2"}},
		{"date eq a day", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpEq, Low: ms("1970-01-01T00:00:00Z"), High: ms("1970-01-02T00:00:00Z") - 1})}, []string{"p1"}},
		{"date lt reaches an open start", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpLt, Low: ms("1960-01-01T00:00:00Z"), High: ms("1961-01-01T00:00:00Z") - 1})}, []string{"p2"}},
		{"date gt", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpGt, Low: ms("1975-01-01T00:00:00Z"), High: ms("1976-01-01T00:00:00Z") - 1})}, []string{"p2"}},
		{"date sa", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpSa, Low: ms("1969-01-01T00:00:00Z"), High: ms("1970-01-01T00:00:00Z") - 1})}, []string{"p1"}},
		{"date eb", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpEb, Low: ms("1971-01-01T00:00:00Z"), High: ms("1972-01-01T00:00:00Z") - 1})}, []string{"p1"}},
		{"date ne", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpNe, Low: ms("1970-01-01T00:00:00Z"), High: ms("1970-01-02T00:00:00Z") - 1})}, []string{"p2"}},
		{"_id", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_id", Kind: store.IndexToken, Code: "p2"})}, []string{"p2"}},
		{"reference and token", "Observation", [][]store.SearchPredicate{
			one(store.SearchPredicate{Param: "subject", Kind: store.IndexReference, RefType: "Patient", RefID: "p1"}),
			one(store.SearchPredicate{Param: "code", Kind: store.IndexToken, System: "http://loinc.org", Code: "29463-7"}),
		}, obsWhere(func(i int) bool { return i%2 == 0 && i%5 == 0 })},
		{"token any system, two values (or)", "Observation", [][]store.SearchPredicate{{
			{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: "29463-7"},
			{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: "nope"},
		}}, obsWhere(func(i int) bool { return i%5 == 0 })},
		{"token :not", "Observation", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: "8302-2", Not: true})}, obsWhere(func(i int) bool { return i%5 == 0 })},
		{"token :text", "Observation", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "code", Kind: store.IndexToken, Op: store.OpText, Value: "body"})}, obsWhere(func(i int) bool { return true })},
		{"quantity ge with unit", "Observation", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "value-quantity", Kind: store.IndexQuantity, Op: store.OpGe, Num: 240, Code: "cm", AnySystem: true})}, obsWhere(func(i int) bool { return i >= 240 })},
		{"quantity eq with precision", "Observation", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "value-quantity", Kind: store.IndexQuantity, Op: store.OpEq, Num: 7, NumLow: 6.5, NumHigh: 7.5, AnySystem: true})}, []string{"o007"}},
		{"chained reference", "Observation", [][]store.SearchPredicate{
			one(store.SearchPredicate{Param: "subject", Kind: store.IndexReference, Chain: &store.SearchChain{Type: "Patient",
				Where: []store.SearchPredicate{{Param: "name", Kind: store.IndexString, Op: store.OpPrefix, Value: "smi"}}}}),
			one(store.SearchPredicate{Param: "date", Kind: store.IndexDate, Op: store.OpLe, Low: ms("2020-01-02T00:00:00Z"), High: ms("2020-01-03T00:00:00Z") - 1}),
		}, obsWhere(func(i int) bool { return i%2 == 1 && 1+i%28 <= 2 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, search(t, tc.typ, tc.where...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("count, sort and includes", func(t *testing.T) {
		res, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "sa", Type: "Observation", CountOnly: true})
		if err != nil || res.Total != 250 {
			t.Fatalf("count = %d, %v", res.Total, err)
		}
		q := store.SearchQuery{DatastoreID: "sa", Type: "Observation", Count: 7,
			Sort:    []store.SearchSort{{Param: "value-quantity", Kind: store.IndexQuantity, Desc: true}},
			Include: []store.SearchInclude{{Type: "Observation", Param: "subject"}}}
		var vals []string
		for {
			res, err := s.ResourceSearch(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Matches {
				vals = append(vals, r.ID)
			}
			if len(res.Included) == 0 || len(res.Included) > 2 {
				t.Errorf("included %d patients", len(res.Included))
			}
			if res.Next == nil {
				break
			}
			q.Cursor = res.Next
		}
		want := obsWhere(func(int) bool { return true })
		sort.Sort(sort.Reverse(sort.StringSlice(want)))
		if diff := cmp.Diff(want, vals); diff != "" {
			t.Errorf("sorted by value desc (-want +got):\n%s", diff)
		}
		res, err = s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "sa", Type: "Patient", Count: 10,
			Where:      [][]store.SearchPredicate{{{Param: "_id", Kind: store.IndexToken, Code: "p1"}}},
			RevInclude: []store.SearchInclude{{Type: "Observation", Param: "subject"}}})
		if err != nil || len(res.Included) != 125 {
			t.Errorf("revinclude: %d, %v", len(res.Included), err)
		}
	})

	t.Run("update and delete maintain the index", func(t *testing.T) {
		w := obs("o001", "p1", "new-code", "2020-01-01T10:00:00Z", 1)
		if _, err := s.ResourceWrite(ctx, "sa", []store.ResourceWrite{w}, time.Now()); err != nil {
			t.Fatal(err)
		}
		code := func(c string) [][]store.SearchPredicate {
			return [][]store.SearchPredicate{{{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: c}}}
		}
		if got := search(t, "Observation", code("new-code")...); !cmp.Equal(got, []string{"o001"}) {
			t.Errorf("after update: %v", got)
		}
		if got := search(t, "Observation", code("8302-2")...); len(got) != 199 {
			t.Errorf("old value still indexed: %d matches", len(got))
		}
		if _, err := s.ResourceWrite(ctx, "sa", []store.ResourceWrite{{Type: "Observation", ID: "o001", Delete: true}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := search(t, "Observation", code("new-code")...); len(got) != 0 {
			t.Errorf("after delete: %v", got)
		}
	})

	t.Run("idempotency keys and bad cursors", func(t *testing.T) {
		w := store.ResourceWrite{Type: "Patient", ID: "k1", Body: []byte(`{"resourceType":"Patient","id":"k1"}`), IdempotencyKey: "key-1"}
		if res, err := s.ResourceWrite(ctx, "sa", []store.ResourceWrite{w}, time.Now()); err != nil || res[0].Replayed {
			t.Fatalf("first write: %v %v", res, err)
		}
		w.ID = "k2"
		res, err := s.ResourceWrite(ctx, "sa", []store.ResourceWrite{w}, time.Now())
		if err != nil || !res[0].Replayed || res[0].ID != "k1" || res[0].Version != 1 {
			t.Errorf("replay = %+v, %v", res, err)
		}
		if _, err := s.ResourceGet(ctx, "sa", "Patient", "k2"); err == nil {
			t.Errorf("a replayed write was applied")
		}
		_, err = s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "sa", Type: "Patient", Count: 1, Cursor: []byte("junk")})
		if err == nil {
			t.Errorf("junk cursor accepted")
		}
	})
}

// testSortMissing pages, two matches at a time, through resources sorted by a parameter that
// some of them lack, ascending and descending, by a date, a string and a token: resources
// without a value come last either way, ties keep insertion order, and every resource comes
// exactly once.
func testSortMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "sm", time.Now(), 0)
	type pat struct {
		id, birth, name, gender string
	}
	pats := []pat{{"a", "1980", "m", ""}, {"b", "", "", "male"}, {"c", "1970", "z", "female"}, {"d", "", "k", ""},
		{"e", "1980", "", "male"}, {"f", "1990", "a", ""}, {"g", "", "", ""}}
	var writes []store.ResourceWrite
	for _, p := range pats {
		var ix []store.IndexEntry
		if p.birth != "" {
			lo := ms(p.birth + "-01-01T00:00:00Z")
			ix = append(ix, store.IndexEntry{Param: "birthdate", Kind: store.IndexDate, Low: lo, High: lo + 999})
		}
		if p.name != "" {
			ix = append(ix, store.IndexEntry{Param: "name", Kind: store.IndexString, Value: p.name, Exact: p.name})
		}
		if p.gender != "" {
			ix = append(ix, store.IndexEntry{Param: "gender", Kind: store.IndexToken, System: "http://hl7.org/fhir/administrative-gender", Code: p.gender})
		}
		writes = append(writes, store.ResourceWrite{Type: "Patient", ID: p.id, Body: []byte(`{"resourceType":"Patient","id":"` + p.id + `"}`), Index: ix})
	}
	if _, err := s.ResourceWrite(ctx, "sm", writes, time.Now()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		param string
		kind  store.IndexKind
		desc  bool
		want  string
	}{
		{"birthdate", store.IndexDate, false, "[c a e f b d g]"},
		{"birthdate", store.IndexDate, true, "[f a e c b d g]"},
		{"name", store.IndexString, false, "[f d a c b e g]"},
		{"name", store.IndexString, true, "[c a d f b e g]"},
		{"gender", store.IndexToken, false, "[c b e a d f g]"},
		{"gender", store.IndexToken, true, "[b e c a d f g]"},
	}
	for _, tc := range cases {
		q := store.SearchQuery{DatastoreID: "sm", Type: "Patient", Count: 2, Sort: []store.SearchSort{{Param: tc.param, Kind: tc.kind, Desc: tc.desc}}}
		var ids []string
		for pages := 0; pages < 10; pages++ {
			res, err := s.ResourceSearch(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Matches {
				ids = append(ids, r.ID)
			}
			if res.Next == nil {
				break
			}
			q.Cursor = res.Next
		}
		if got := fmt.Sprint(ids); got != tc.want {
			t.Errorf("sort by %s desc=%v: %s, want %s", tc.param, tc.desc, got, tc.want)
		}
	}
}
