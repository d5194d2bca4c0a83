package postgres_test

import (
	"context"
	"testing"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/postgres"
	"github.com/fhirlake/fhirlake/internal/store/storetest"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

func TestConformance(t *testing.T) {
	storetest.RunSearch(t, open)
	storetest.Run(t, open)
}

// open returns a store on a fresh schema.
func open(t *testing.T) store.Store {
	s, err := postgres.Open(context.Background(), postgres.Config{URL: testenv.Postgres(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
