// Package background lets work that nobody waits for (the workers of import jobs) run beside
// interactive requests without slowing them. Foreground counts the requests in flight, so that a
// background loop can step aside while any runs (Wait), and notes the ones that write resources
// (NoteWrite, RecentWrite). LowPriority moves a goroutine whose work is mostly outside Go
// (SQLite, through cgo) to an OS thread of its own with a lower scheduling priority, so that the
// threads serving requests get the CPU first. It owns no goroutines.
package background

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Foreground counts interactive requests in flight. The zero value is ready; a nil *Foreground
// counts nothing and never waits.
type Foreground struct {
	// MaxPause is the longest one Wait pauses. Default DefaultMaxPause.
	MaxPause time.Duration
	// Turn is how long background work then runs before it waits again, so that under a steady
	// stream of requests it still gets a share of the time. Default DefaultTurn.
	Turn time.Duration

	n atomic.Int64
	// mu guards idle, closed when n returns to zero.
	mu   sync.Mutex
	idle chan struct{}
	// turnEnds is until when (unix nanoseconds) background work runs without waiting, after a
	// wait that reached MaxPause.
	turnEnds atomic.Int64
	// lastWrite is when (unix nanoseconds) a resource write last began (NoteWrite).
	lastWrite atomic.Int64
}

// The defaults of MaxPause and Turn: under a steady stream of requests, background work gets half
// of its time, in turns of 10 ms.
const (
	DefaultMaxPause = 10 * time.Millisecond
	DefaultTurn     = 10 * time.Millisecond
)

// Begin marks the start of an interactive request; call the returned function at its end.
func (f *Foreground) Begin() (end func()) {
	if f == nil {
		return func() {}
	}
	if f.n.Add(1) == 1 {
		f.mu.Lock()
		if f.idle == nil {
			f.idle = make(chan struct{})
		}
		f.mu.Unlock()
	}
	var once sync.Once
	return func() { once.Do(f.end) }
}

func (f *Foreground) end() {
	if f.n.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	// A Begin may have come in since the count reached zero; then the requests are not over.
	if f.n.Load() == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// Busy reports whether an interactive request is in flight.
func (f *Foreground) Busy() bool { return f != nil && f.n.Load() > 0 }

// NoteWrite records that an interactive request that writes resources began. Such requests are
// the ones background work makes room for between its own writes (see RecentWrite); reads,
// control-plane calls and job status polls only pause it while they are in flight.
func (f *Foreground) NoteWrite() {
	if f != nil {
		f.lastWrite.Store(time.Now().UnixNano())
	}
}

// RecentWrite reports whether a resource write (NoteWrite) began within the last d.
func (f *Foreground) RecentWrite(d time.Duration) bool {
	return f != nil && time.Now().UnixNano()-f.lastWrite.Load() < int64(d)
}

// Wait returns at once when no interactive request is in flight; otherwise it waits until none
// is, for MaxPause at most, or until ctx ends. After a wait of MaxPause, the next waits return at
// once for Turn. Background loops call it between small units of work.
func (f *Foreground) Wait(ctx context.Context) {
	if !f.Busy() {
		return
	}
	if time.Now().UnixNano() < f.turnEnds.Load() {
		return
	}
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
		return
	}
	pause, turn := f.MaxPause, f.Turn
	if pause <= 0 {
		pause = DefaultMaxPause
	}
	if turn <= 0 {
		turn = DefaultTurn
	}
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-idle:
	case <-ctx.Done():
	case <-t.C:
		f.turnEnds.Store(time.Now().Add(turn).UnixNano())
	}
}
