package server

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/background"
)

// TestInFlight: a request counts as in flight once its headers are read and until its response
// is written, and the connection idle between requests does not.
func TestInFlight(t *testing.T) {
	t.Parallel()
	fg := &background.Foreground{}
	release := make(chan struct{})
	inHandler := make(chan bool, 1)
	hs := &http.Server{ConnState: inFlight(fg), ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inHandler <- fg.Busy()
			<-release
			w.Write([]byte("ok"))
		})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	defer hs.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually := func(want bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); fg.Busy() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Busy = %v", what, !want)
			}
		}
	}
	if fg.Busy() {
		t.Fatal("busy with a connection that sent nothing")
	}
	br := bufio.NewReader(c)
	for i := range 2 {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if !<-inHandler {
			t.Errorf("request %d: not in flight in its handler", i)
		}
		close(release)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The connection stays open, idle: the request is over.
		eventually(false, "after the response")
		release = make(chan struct{})
	}
}
