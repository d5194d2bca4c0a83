package background

import (
	"runtime"
	"syscall"
)

// lowNice is the nice value of LowPriority threads: a CFS weight of 110 against 1,024 for the
// default 0, so that such a thread gets about a tenth of a core that a default one also wants.
const lowNice = 10

// LowPriority locks the calling goroutine to its OS thread and lowers that thread's scheduling
// priority. Call it at the start of a goroutine and never unlock: the thread then ends with the
// goroutine, and no other goroutine ever runs on it. A goroutine that mostly waits for cgo calls
// (SQLite) is what it is for: a goroutine that runs Go code holds a P, which Go's own scheduler
// does not know to give up for the lower priority.
func LowPriority() {
	runtime.LockOSThread()
	// Raising the nice value is always permitted; failure leaves the default priority.
	syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), lowNice)
}
