package background

import (
	"os"
	"runtime"
)

// CgoProcs is how many Ps the service runs with beyond the runtime's default: one for each
// goroutine that spends most of its time in SQLite through cgo (an import's committer, the WAL
// checkpointer). A goroutine in a cgo call keeps its P until the runtime's monitor takes it
// back, which happens at its next wake-up, up to 10 ms later when it has been quiet; with no P
// to spare, the goroutines of requests wait for that wake-up.
const CgoProcs = 2

// SetProcs sets GOMAXPROCS to the runtime's default plus CgoProcs, unless the GOMAXPROCS
// environment variable is set, and returns the value in effect. Call it once, at the start of
// the process, before anything runs in parallel.
func SetProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.SetDefaultGOMAXPROCS()
	n := runtime.GOMAXPROCS(0) + CgoProcs
	runtime.GOMAXPROCS(n)
	return n
}
