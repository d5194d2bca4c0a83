package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// testErase erases one earlier version, refuses the current version alone, erases a resource
// with its versions, index entries and idempotency key, and fences a job's erase by its lease.
func testErase(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "er", time.Now(), 0)
	pat := func(id, family string) store.ResourceWrite {
		return store.ResourceWrite{Type: "Patient", ID: id, Body: []byte(`{"resourceType":"Patient","id":"` + id + `","f":"` + family + `"}`),
			Index: []store.IndexEntry{{Param: "family", Kind: store.IndexString, Value: family, Exact: family}}}
	}
	for _, f := range []string{"one", "two", "three"} {
		if _, err := s.ResourceWrite(ctx, "er", []store.ResourceWrite{pat("p", f)}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keyed := pat("k", "keyed")
	keyed.IdempotencyKey = "key-1"
	if _, err := s.ResourceWrite(ctx, "er", []store.ResourceWrite{keyed, pat("q", "three")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	byFamily := func(f string) []string {
		res, err := s.ResourceSearch(ctx, store.SearchQuery{DatastoreID: "er", Type: "Patient", Count: 10,
			Where: [][]store.SearchPredicate{{{Param: "family", Kind: store.IndexString, Op: store.OpExact, Value: f}}}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range res.Matches {
			ids = append(ids, r.ID)
		}
		return ids
	}

	n, err := s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: []store.ResourceKey{{Type: "Patient", ID: "p", Version: 1}}})
	if err != nil || n != 1 {
		t.Fatalf("erase version 1: %d, %v", n, err)
	}
	if _, err := s.ResourceVersion(ctx, "er", "Patient", "p", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vread of the erased version: %v, want ErrNotFound", err)
	}
	if h, err := s.ResourceHistory(ctx, "er", "Patient", "p"); err != nil || len(h) != 2 {
		t.Errorf("history after erasing one version: %d versions, %v", len(h), err)
	}
	if _, err := s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: []store.ResourceKey{{Type: "Patient", ID: "q"}, {Type: "Patient", ID: "p", Version: 3}}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("erase of the current version alone: %v, want ErrConflict", err)
	}
	if got := byFamily("three"); len(got) != 2 {
		t.Errorf("a refused erase erased something: %v", got)
	}

	n, err = s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: []store.ResourceKey{{Type: "Patient", ID: "p"}, {Type: "Patient", ID: "k"}, {Type: "Patient", ID: "absent"}}})
	if err != nil || n != 3 {
		t.Fatalf("erase two resources of 2 and 1 versions: %d, %v", n, err)
	}
	for _, id := range []string{"p", "k"} {
		if _, err := s.ResourceGet(ctx, "er", "Patient", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("read of erased %s: %v, want ErrNotFound", id, err)
		}
		if _, err := s.ResourceHistory(ctx, "er", "Patient", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("history of erased %s: %v, want ErrNotFound", id, err)
		}
	}
	if got := byFamily("three"); len(got) != 1 || got[0] != "q" {
		t.Errorf("search after the erase: %v, want [q]", got)
	}
	th, err := s.ResourceTypeHistory(ctx, store.TypeHistoryParams{DatastoreID: "er", Type: "Patient", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range th {
		if v.ID != "q" {
			t.Errorf("type history still has %s/%d", v.ID, v.Version)
		}
	}
	again := pat("k2", "keyed")
	again.IdempotencyKey = "key-1"
	res, err := s.ResourceWrite(ctx, "er", []store.ResourceWrite{again}, time.Now())
	if err != nil || res[0].Replayed {
		t.Errorf("the idempotency key of an erased resource still replays: %+v, %v", res, err)
	}

	// Under a job's lease: a stale token erases nothing, the current one records progress.
	mkJob(t, s, "er", "j", "", time.Now())
	j, err := s.JobClaim(ctx, store.JobClaimParams{Kinds: []store.JobKind{store.JobImport}, Owner: "n", Now: time.Now(), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: []store.ResourceKey{{Type: "Patient", ID: "q"}},
		JobID: "j", LeaseToken: "stale"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("erase with a stale lease: %v, want ErrLeaseLost", err)
	}
	if _, err := s.ResourceGet(ctx, "er", "Patient", "q"); err != nil {
		t.Errorf("a fenced erase erased: %v", err)
	}
	if _, err := s.ResourceErase(ctx, store.EraseParams{DatastoreID: "er", Keys: []store.ResourceKey{{Type: "Patient", ID: "q"}},
		JobID: "j", LeaseToken: j.LeaseToken, Progress: []byte(`{"erased":1}`), LeaseExpires: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.JobGet(ctx, tenantA, "er", store.JobImport, "j")
	if err != nil || string(got.Progress) != `{"erased":1}` {
		t.Errorf("job progress after the erase: %s, %v", got.Progress, err)
	}
}
