package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/store/storetest"
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
