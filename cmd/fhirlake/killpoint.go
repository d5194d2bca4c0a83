package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fhirlake/fhirlake/internal/jobs"
)

// killEnv names the test-only kill point: "point" or "point:n" (see killHook). The crash test
// sets it; nothing else should.
const killEnv = "FHIRLAKE_TEST_KILL_AT"

// killHook returns a job hook that kills the process with SIGKILL the n-th time (default the
// first) a job reaches the named point (jobs.Point...), so that the crash test can stop the
// service at an exact phase boundary instead of at a moment chosen by timing. It returns nil
// for an empty spec: then no hook is installed at all.
func killHook(spec string, stderr io.Writer) (jobs.Hook, error) {
	if spec == "" {
		return nil, nil
	}
	point, nth := spec, int64(1)
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		n, err := strconv.ParseInt(spec[i+1:], 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q: want point or point:n with n >= 1", killEnv, spec)
		}
		point, nth = spec[:i], n
	}
	var seen atomic.Int64
	return func(p string) {
		if p != point || seen.Add(1) != nth {
			return
		}
		fmt.Fprintf(stderr, "fhirlake: %s: killing the process at %s\n", killEnv, spec)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		// SIGKILL is not deliverable to a handler; nothing after this point may run.
		time.Sleep(time.Hour)
	}, nil
}
