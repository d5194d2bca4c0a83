package goruntime

import (
	"os"
	"runtime"
	"testing"
)

func TestConfigure(t *testing.T) {
	// Not parallel: it changes GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	if os.Getenv("GOMAXPROCS") != "" {
		if n := Configure(); n != runtime.GOMAXPROCS(0) {
			t.Errorf("Configure = %d with GOMAXPROCS set, runtime has %d", n, runtime.GOMAXPROCS(0))
		}
		return
	}
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	for range 2 { // a second call gives the same, not more
		if n := Configure(); n != def+CgoProcs || runtime.GOMAXPROCS(0) != n {
			t.Errorf("Configure = %d, GOMAXPROCS %d, want %d", n, runtime.GOMAXPROCS(0), def+CgoProcs)
		}
	}
}
