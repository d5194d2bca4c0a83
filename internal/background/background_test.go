package background

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The pauses of the test are long, so that a wait is told from a slow machine.
const (
	maxPause = 600 * time.Millisecond
	turn     = time.Second
	slow     = maxPause / 2 // more than any stall of a loaded machine, less than a pause
)

func TestForegroundWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := Foreground{MaxPause: maxPause, Turn: turn}
	start := time.Now()
	f.Wait(ctx)
	if d := time.Since(start); d > slow {
		t.Errorf("Wait with no request in flight took %v", d)
	}
	if f.Busy() || f.RecentWrite(time.Minute) {
		t.Error("a new Foreground is busy or has a recent write")
	}

	// A request in flight holds Wait until it ends.
	end := f.Begin()
	if !f.Busy() {
		t.Fatal("Busy is false with a request in flight")
	}
	if f.RecentWrite(time.Minute) {
		t.Error("a request that writes nothing counts as a write")
	}
	var ended atomic.Bool
	released := make(chan bool)
	go func() {
		f.Wait(ctx)
		released <- ended.Load()
	}()
	time.Sleep(10 * time.Millisecond)
	ended.Store(true)
	end()
	end() // a second call changes nothing
	if !<-released {
		t.Error("Wait returned while the request was in flight")
	}
	if f.Busy() {
		t.Error("busy after the request ended")
	}
	f.NoteWrite()
	if !f.RecentWrite(time.Minute) || f.RecentWrite(0) {
		t.Error("RecentWrite does not follow the last write's start")
	}

	// A request that lasts holds Wait for MaxPause, and then background work has its turn.
	end = f.Begin()
	defer end()
	start = time.Now()
	f.Wait(ctx)
	if d := time.Since(start); d < maxPause || d > maxPause+slow {
		t.Errorf("Wait under a long request took %v, want %v", d, maxPause)
	}
	start = time.Now()
	f.Wait(ctx)
	if d := time.Since(start); d > slow {
		t.Errorf("Wait during background's turn took %v, want no wait", d)
	}

	// Its context ends a wait.
	time.Sleep(turn)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	f.Wait(cctx)
	if d := time.Since(start); d > slow {
		t.Errorf("Wait with an ended context took %v, want no wait", d)
	}
}

func TestForegroundNil(t *testing.T) {
	t.Parallel()
	var f *Foreground
	f.Begin()()
	f.Wait(context.Background())
	f.NoteWrite()
	if f.Busy() || f.RecentWrite(time.Hour) {
		t.Error("a nil Foreground is busy")
	}
}
