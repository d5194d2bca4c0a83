package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/store"
)

// testHistory pages through the history of one type and of every type (system history), two
// versions a page, and checks the order (newest first; type, id, version breaking ties) and
// that every version comes exactly once, deletes included.
func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkStore(t, s, tenantA, "h1", time.Now(), 0)
	mkStore(t, s, tenantB, "h2", time.Now(), 0)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(ds string, at int, ws ...store.ResourceWrite) {
		t.Helper()
		if _, err := s.ResourceWrite(ctx, ds, ws, base.Add(time.Duration(at)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	res := func(typ, id string) store.ResourceWrite {
		return store.ResourceWrite{Type: typ, ID: id, Body: []byte(`{"resourceType":"` + typ + `","id":"` + id + `"}`)}
	}
	write("h1", 1, res("Patient", "a"), res("Observation", "o"))
	write("h1", 2, res("Patient", "a"))
	write("h1", 3, store.ResourceWrite{Type: "Observation", ID: "o", Delete: true}, res("Patient", "b"))
	write("h2", 4, res("Patient", "other-tenant"))
	page := func(typ string) []string {
		var out []string
		p := store.TypeHistoryParams{DatastoreID: "h1", Type: typ, Limit: 2}
		for range 10 {
			vs, err := s.ResourceTypeHistory(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				out = append(out, fmt.Sprintf("%d %s/%s/%d deleted=%v", v.LastUpdated.Unix()-base.Unix(), v.Type, v.ID, v.Version, v.Deleted))
			}
			if len(vs) < p.Limit {
				return out
			}
			last := vs[len(vs)-1]
			p.After = &last
		}
		t.Fatal("history does not end")
		return nil
	}
	if diff := cmp.Diff([]string{"3 Patient/b/1 deleted=false", "2 Patient/a/2 deleted=false", "1 Patient/a/1 deleted=false"}, page("Patient")); diff != "" {
		t.Errorf("type history (-want +got):\n%s", diff)
	}
	want := []string{"3 Observation/o/2 deleted=true", "3 Patient/b/1 deleted=false", "2 Patient/a/2 deleted=false",
		"1 Observation/o/1 deleted=false", "1 Patient/a/1 deleted=false"}
	if diff := cmp.Diff(want, page("")); diff != "" {
		t.Errorf("system history (-want +got):\n%s", diff)
	}
}
