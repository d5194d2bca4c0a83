//go:build !linux

package background

import "runtime"

// LowPriority locks the calling goroutine to its OS thread; lowering the thread's priority is
// implemented on Linux only.
func LowPriority() { runtime.LockOSThread() }
