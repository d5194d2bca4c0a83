// Package goruntime sets the Go runtime's scheduling parameters the service runs with
// (Configure) unless the standard environment variable sets them: two more processors than the
// default, for the goroutines that wait inside SQLite. It is called once at the start of the
// process, by the service's main and by the test binaries that measure it (testenv.Main).
package goruntime

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

// Configure sets GOMAXPROCS to the runtime's default plus CgoProcs, unless the GOMAXPROCS
// environment variable is set, and returns the value in effect. Call it once, at the start of
// the process, before anything runs in parallel; a second call changes nothing.
//
// The garbage collector keeps the runtime's pacing: a larger GOGC under a soft memory limit (GOGC
// 300–400, GOMEMLIMIT 200–256 MiB) took 7–18% off an import's CPU time, but a process whose live
// heap outgrows the limit collects all the time (with 160 MiB, a benchmark that holds 250 MB of
// input in memory ran 3–5× slower), and without a limit GOGC 200 took the import's peak RSS past
// 400 MiB.
func Configure() int {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.SetDefaultGOMAXPROCS()
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + CgoProcs)
	}
	return runtime.GOMAXPROCS(0)
}
