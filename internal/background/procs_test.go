package background

import (
	"os"
	"runtime"
	"testing"
)

func TestSetProcs(t *testing.T) {
	// Not parallel: it changes GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	if os.Getenv("GOMAXPROCS") != "" {
		if n := SetProcs(); n != runtime.GOMAXPROCS(0) {
			t.Errorf("SetProcs = %d with GOMAXPROCS set, runtime has %d", n, runtime.GOMAXPROCS(0))
		}
		return
	}
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	for range 2 { // a second call gives the same, not more
		if n := SetProcs(); n != def+CgoProcs || runtime.GOMAXPROCS(0) != n {
			t.Errorf("SetProcs = %d, GOMAXPROCS %d, want %d", n, runtime.GOMAXPROCS(0), def+CgoProcs)
		}
	}
}
