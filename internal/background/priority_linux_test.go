package background

import (
	"syscall"
	"testing"
)

func TestLowPriority(t *testing.T) {
	t.Parallel()
	got := make(chan int)
	go func() {
		LowPriority()
		// The raw system call returns 20 - nice.
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			got <- -100
			return
		}
		got <- 20 - p
	}()
	if n := <-got; n != lowNice {
		t.Errorf("nice of a LowPriority thread = %d, want %d", n, lowNice)
	}
	// The test's own thread keeps the default priority.
	if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid()); err != nil || 20-p == lowNice {
		t.Errorf("nice of another thread = %d (%v)", 20-p, err)
	}
}
