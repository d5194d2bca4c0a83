package server

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// bodyBudget is the process-wide memory for request bodies in flight: the sigv4 verifier
// reserves a body's buffer as it grows, the FHIR API the resource a PATCH builds. It is the
// sigv4.Budget and fhirapi.Budget of the server.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// Reserve takes n bytes, or reports false when fewer than n remain.
func (b *bodyBudget) Reserve(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release gives back n bytes taken with Reserve.
func (b *bodyBudget) Release(n int64) { b.used.Add(-n) }

// BodyBytesInFlight returns the bytes of the body budget held by requests now.
func (s *Server) BodyBytesInFlight() int64 { return s.budget.used.Load() }

// slowClients gives every request body and every response write a deadline, so that a client
// that sends or reads very slowly cannot hold a connection (and the memory of its request)
// forever: a body must have arrived within BodyTimeout plus its bytes so far divided by
// MinBodyRate (the rule of Apache's mod_reqtimeout), and each write must complete within
// BodyTimeout plus its length divided by MinBodyRate. A body read that passes its deadline
// fails with os.ErrDeadlineExceeded, which the sigv4 verifier answers with 408; net/http then
// closes the connection.
func (s *Server) slowClients(next http.Handler) http.Handler {
	grace, rate := s.cfg.BodyTimeout, s.cfg.MinBodyRate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			// On a copy of the request: net/http looks at its own request's body after the
			// handler to decide whether the connection can be reused.
			r = r.WithContext(r.Context())
			r.Body = &deadlineBody{ReadCloser: r.Body, w: w, rc: rc, start: time.Now(), grace: grace, rate: rate}
		}
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, grace: grace, rate: rate}, r)
		// What net/http still flushes after the handler gets the grace period (it clears the
		// deadline once the response is out).
		rc.SetWriteDeadline(time.Now().Add(grace))
	})
}

// allowance is the time n bytes may take at rate bytes per second, after grace.
func allowance(grace time.Duration, n, rate int64) time.Duration {
	return grace + time.Duration(float64(n)/float64(rate)*float64(time.Second))
}

// deadlineBody sets the connection's read deadline before each read of a request body.
type deadlineBody struct {
	io.ReadCloser
	w     http.ResponseWriter
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	n     int64
	eof   bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.eof {
		return b.ReadCloser.Read(p)
	}
	b.rc.SetReadDeadline(b.start.Add(allowance(b.grace, b.n, b.rate)))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		// The body is complete: the handler may take its time, and net/http's own read of
		// the connection (which watches for the client going away) must not time out.
		b.eof = true
		b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The rest of the body cannot be read, so the connection cannot carry another request.
		b.w.Header().Set("Connection", "close")
	}
	return n, err
}

// deadlineWriter sets the connection's write deadline before each write of a response.
type deadlineWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	grace time.Duration
	rate  int64
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(allowance(w.grace, int64(len(p)), w.rate)))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
