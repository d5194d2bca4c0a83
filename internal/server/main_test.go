package server_test

import (
	"os"
	"testing"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// TestMain stops the PostgreSQL server the tests may have started (see testenv.Postgres).
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
