package storetest

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/store"
)

// testSearchGraph checks the searches that follow references: reverse chains (_has, nested),
// chains three links deep, one clause over several reference parameters, the ap prefix, uri
// :above, string :text, and _include/_revinclude with :iterate.
func testSearchGraph(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "sg", time.Now(), 0)
	ref := func(param, typ, id string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.IndexReference, RefType: typ, RefID: id}
	}
	res := func(typ, id string, idx ...store.IndexEntry) store.ResourceWrite {
		return store.ResourceWrite{Type: typ, ID: id, Body: []byte(`{"resourceType":"` + typ + `","id":"` + id + `"}`), Index: idx}
	}
	code := func(c string) store.IndexEntry {
		return store.IndexEntry{Param: "code", Kind: store.IndexToken, System: "s", Code: c}
	}
	day := func(d string) store.IndexEntry {
		lo := ms(d + "T00:00:00Z")
		return store.IndexEntry{Param: "birthdate", Kind: store.IndexDate, Low: lo, High: lo + 86_400_000 - 1}
	}
	writes := []store.ResourceWrite{
		res("Organization", "o1", store.IndexEntry{Param: "name", Kind: store.IndexString, Value: "acme health", Exact: "Acme Health"}),
		res("Organization", "o2", store.IndexEntry{Param: "name", Kind: store.IndexString, Value: "other", Exact: "Other"}),
		res("Patient", "p1", ref("organization", "Organization", "o1"), day("1970-06-15"),
			store.IndexEntry{Param: "name", Kind: store.IndexString, Value: "maria jose", Exact: "Maria Jose"},
			store.IndexEntry{Param: "_profile", Kind: store.IndexURI, Value: "http://x/p/1"}),
		res("Patient", "p2", ref("organization", "Organization", "o2"), day("1990-01-01"),
			store.IndexEntry{Param: "name", Kind: store.IndexString, Value: "jo ann", Exact: "Jo Ann"}),
		res("Encounter", "e1", ref("subject", "Patient", "p1")),
		res("Encounter", "e2", ref("subject", "Patient", "p2")),
		res("Observation", "obs1", ref("subject", "Patient", "p1"), ref("encounter", "Encounter", "e1"), code("a"),
			store.IndexEntry{Param: "value-quantity", Kind: store.IndexQuantity, NumLow: 100, NumHigh: 100}),
		res("Observation", "obs2", ref("subject", "Patient", "p2"), ref("encounter", "Encounter", "e2"), code("b"),
			store.IndexEntry{Param: "value-quantity", Kind: store.IndexQuantity, NumLow: 150, NumHigh: 150}),
		res("Observation", "obs3", ref("subject", "Patient", "p2"), ref("performer", "Patient", "p1"), code("b")),
	}
	if _, err := s.ResourceWrite(ctx, "sg", writes, time.Now()); err != nil {
		t.Fatal(err)
	}
	has := func(typ, param string, where ...store.SearchPredicate) store.SearchPredicate {
		return store.SearchPredicate{Param: param, Kind: store.IndexReference, Has: &store.SearchHas{Type: typ, Param: param, Where: where}}
	}
	chain := func(param, typ string, where ...store.SearchPredicate) store.SearchPredicate {
		return store.SearchPredicate{Param: param, Kind: store.IndexReference, Chain: &store.SearchChain{Type: typ, Where: where}}
	}
	codeIs := func(c string) store.SearchPredicate {
		return store.SearchPredicate{Param: "code", Kind: store.IndexToken, AnySystem: true, Code: c}
	}
	nameIs := func(prefix string) store.SearchPredicate {
		return store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpPrefix, Value: prefix}
	}
	refIs := func(param, typ, id string) store.SearchPredicate {
		return store.SearchPredicate{Param: param, Kind: store.IndexReference, RefType: typ, RefID: id}
	}
	one := func(p ...store.SearchPredicate) []store.SearchPredicate { return p }
	ap := func(d string) store.SearchPredicate {
		lo := ms(d + "T00:00:00Z")
		return store.SearchPredicate{Param: "birthdate", Kind: store.IndexDate, Op: store.OpAp, Low: lo - 30*86_400_000, High: lo + 31*86_400_000 - 1}
	}
	cases := []struct {
		name  string
		typ   string
		where [][]store.SearchPredicate
		want  []string
	}{
		{"_has", "Patient", [][]store.SearchPredicate{one(has("Observation", "subject", codeIs("a")))}, []string{"p1"}},
		{"_has, two values (or)", "Patient", [][]store.SearchPredicate{one(has("Observation", "subject", codeIs("a")), has("Observation", "subject", codeIs("b")))}, []string{"p1", "p2"}},
		{"_has with another clause", "Patient", [][]store.SearchPredicate{one(has("Observation", "subject", codeIs("b"))), one(nameIs("jo"))}, []string{"p2"}},
		{"_has nested", "Organization", [][]store.SearchPredicate{one(has("Patient", "organization", has("Observation", "subject", codeIs("a"))))}, []string{"o1"}},
		{"_has that matches nothing", "Organization", [][]store.SearchPredicate{one(has("Patient", "organization", has("Observation", "subject", codeIs("zzz"))))}, nil},
		{"chain of three links", "Observation", [][]store.SearchPredicate{one(chain("encounter", "Encounter", chain("subject", "Patient", chain("organization", "Organization", nameIs("acme")))))}, []string{"obs1"}},
		{"one clause over two reference parameters", "Observation", [][]store.SearchPredicate{one(refIs("subject", "Patient", "p1"), refIs("performer", "Patient", "p1"))}, []string{"obs1", "obs3"}},
		{"ap on a date", "Patient", [][]store.SearchPredicate{one(ap("1970-06-01"))}, []string{"p1"}},
		{"ap on a number", "Observation", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "value-quantity", Kind: store.IndexQuantity, Op: store.OpAp, Num: 140, NumLow: 126, NumHigh: 154, AnySystem: true})}, []string{"obs2"}},
		{"uri :above", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_profile", Kind: store.IndexURI, Op: store.OpAbove, Value: "http://x/p/1/v2"})}, []string{"p1"}},
		{"uri :above, a longer value is not above", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_profile", Kind: store.IndexURI, Op: store.OpAbove, Value: "http://x/p"})}, nil},
		{"string :text, word prefixes", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpText, Value: "jo"})}, []string{"p1", "p2"}},
		{"string :text, every word", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpText, Value: "ma jo"})}, []string{"p1"}},
		{"string :text, not inside a word", "Patient", [][]store.SearchPredicate{one(store.SearchPredicate{Param: "name", Kind: store.IndexString, Op: store.OpText, Value: "ose"})}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "sg", Type: tc.typ, Where: tc.where, Count: 10})
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
	includes := []struct {
		name string
		q    store.SearchQuery
		want []string
	}{
		{"_include then :iterate", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_id", Kind: store.IndexToken, Code: "obs1"})},
			Include: []store.SearchInclude{{Type: "Observation", Param: "subject"}, {Type: "Patient", Param: "organization", Iterate: true}}},
			[]string{"Organization/o1", "Patient/p1"}},
		{"_include without :iterate stops", store.SearchQuery{Type: "Observation", Where: [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_id", Kind: store.IndexToken, Code: "obs1"})},
			Include: []store.SearchInclude{{Type: "Observation", Param: "subject"}, {Type: "Patient", Param: "organization"}}},
			[]string{"Patient/p1"}},
		{"_revinclude then :iterate", store.SearchQuery{Type: "Organization", Where: [][]store.SearchPredicate{one(store.SearchPredicate{Param: "_id", Kind: store.IndexToken, Code: "o1"})},
			RevInclude: []store.SearchInclude{{Type: "Patient", Param: "organization"}, {Type: "Observation", Param: "subject", Iterate: true}}},
			[]string{"Observation/obs1", "Patient/p1"}},
	}
	for _, tc := range includes {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.DatastoreID, q.Count = "sg", 10
			res, err := s.ResourceSearch(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Included {
				got = append(got, r.Type+"/"+r.ID)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("included (-want +got):\n%s", diff)
			}
		})
	}
}
