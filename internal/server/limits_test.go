package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/fhirlake/fhirlake/internal/config"
)

// bigPatient returns a valid Patient of about n bytes: extensions of 60 KB strings.
func bigPatient(id string, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Patient","id":"` + id + `","extension":[`)
	for i := 0; b.Len() < n-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"url":"http://example.org/padding","valueString":"` + strings.Repeat("x", min(60000, max(1, n-200-b.Len()))) + `"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// rawUpload is a signed request written by hand on its own connection, so that a test decides
// when each part of the body is sent.
type rawUpload struct {
	t    testing.TB
	conn net.Conn
	body []byte
	sent int
	br   *bufio.Reader
}

// startUpload connects and sends the signed headers of a request with body (Content-Length
// set); the body is sent with send.
func startUpload(t testing.TB, base, method, path, contentType string, body []byte) *rawUpload {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", contentType)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: config.DefaultAccessKeyID,
		SecretAccessKey: config.DefaultSecretAccessKey}, req, hex.EncodeToString(sum[:]), "healthlake", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, req.URL.RequestURI(), req.URL.Host, len(body))
	req.Header.Write(&head)
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	return &rawUpload{t: t, conn: conn, body: body, br: bufio.NewReader(conn)}
}

// send writes the next n bytes of the body (all that is left when n < 0); write errors are
// returned, not fatal: the server may have answered and closed already.
func (u *rawUpload) send(n int) error {
	if n < 0 || u.sent+n > len(u.body) {
		n = len(u.body) - u.sent
	}
	_, err := u.conn.Write(u.body[u.sent : u.sent+n])
	u.sent += n
	return err
}

// response reads the response, waiting at most d.
func (u *rawUpload) response(d time.Duration) (*http.Response, []byte) {
	u.t.Helper()
	u.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(u.br, nil)
	if err != nil {
		u.t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// waitFor polls cond (the server's state, which no event reports) until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func outcomeCode(t testing.TB, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string
		Issue        []struct{ Code string }
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome: %v: %.200s", err, body)
	}
	return oo.Issue[0].Code
}

// TestBodyBudget holds two large uploads in flight, then checks that a third large body on the
// FHIR API and a large control-plane body are answered 429 with Retry-After while the budget is
// taken, that the held uploads complete, and that the budget is free again afterwards.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.MaxBodyBytes = 4 << 20
	cfg.BodyBudgetBytes = 10 << 20
	ts := start(t, cfg)
	ds := createActive(t, ts.client("us-east-1"), "budget")
	base := "/datastore/" + ds + "/r4/"
	const size = 4<<20 - 1000
	held := []*rawUpload{
		startUpload(t, ts.URL, "PUT", base+"Patient/a", "application/fhir+json", bigPatient("a", size)),
		startUpload(t, ts.URL, "PUT", base+"Patient/b", "application/fhir+json", bigPatient("b", size)),
	}
	// One after the other: two bodies growing at once may pass the budget on their way.
	var want int64
	for _, u := range held {
		if err := u.send(len(u.body) - 100); err != nil {
			t.Fatal(err)
		}
		want += int64(len(u.body))
		waitFor(t, 20*time.Second, "a held body in the budget", func() bool { return ts.Srv.BodyBytesInFlight() >= want })
	}

	third := startUpload(t, ts.URL, "PUT", base+"Patient/c", "application/fhir+json", bigPatient("c", size))
	go third.send(-1)
	resp, body := third.response(20 * time.Second)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || outcomeCode(t, body) != "throttled" {
		t.Errorf("third body: %d Retry-After %q %.200s, want 429 throttled with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	cp := `{"MaxResults":1,"Padding":"` + strings.Repeat("x", 3<<20) + `"}`
	resp = rawCall(t, ts.URL, "HealthLake.ListFHIRDatastores", cp, nil,
		signer(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, time.Now(), cp))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Amzn-ErrorType") != "ThrottlingException" || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("control plane: %d %s Retry-After %q %s, want 429 ThrottlingException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), resp.Header.Get("Retry-After"), b)
	}

	for _, u := range held {
		if err := u.send(-1); err != nil {
			t.Fatal(err)
		}
		if resp, body := u.response(20 * time.Second); resp.StatusCode != http.StatusCreated {
			t.Errorf("held upload: %d %.300s, want 201", resp.StatusCode, body)
		}
	}
	waitFor(t, 20*time.Second, "the budget to be free", func() bool { return ts.Srv.BodyBytesInFlight() == 0 })
	retry := startUpload(t, ts.URL, "PUT", base+"Patient/c", "application/fhir+json", bigPatient("c", size))
	go retry.send(-1)
	if resp, body := retry.response(20 * time.Second); resp.StatusCode != http.StatusCreated {
		t.Errorf("retried body: %d %.300s, want 201", resp.StatusCode, body)
	}
}

// TestSlowClients checks that bodies trickling one byte per 100 ms are cut (408, connection
// closed) soon after the body timeout, that headers trickling and idle keep-alive connections
// are closed by their timeouts, and that a normal client is served meanwhile.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.BodyTimeout = 300 * time.Millisecond
	cfg.MinBodyRate = 1 << 10
	cfg.ReadHeaderTimeout = 500 * time.Millisecond
	cfg.IdleTimeout = 500 * time.Millisecond
	ts := start(t, cfg)
	ds := createActive(t, ts.client("us-east-1"), "slow")
	const bound = 5 * time.Second // generous: the cut is due after about 0.3 s

	// Eight bodies sent at 10 bytes per second.
	began := time.Now()
	var slow []*rawUpload
	stop := make(chan struct{})
	defer close(stop)
	for i := range 8 {
		u := startUpload(t, ts.URL, "PUT", "/datastore/"+ds+"/r4/Patient/s"+fmt.Sprint(i), "application/fhir+json", bigPatient("s", 64<<10))
		slow = append(slow, u)
		go func() {
			for u.send(1) == nil {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	// Headers sent at 10 bytes per second.
	hdr, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer hdr.Close()
	go func() {
		io.WriteString(hdr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		for {
			if _, err := hdr.Write([]byte("a")); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	// A keep-alive connection that goes idle after one request.
	idle, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("idle connection's request: %v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}

	// A normal client is served while all of them hold connections.
	body := bigPatient("n", 2<<10)
	normal := startUpload(t, ts.URL, "PUT", "/datastore/"+ds+"/r4/Patient/n", "application/fhir+json", body)
	normal.send(-1)
	if resp, b := normal.response(bound); resp.StatusCode != http.StatusCreated {
		t.Errorf("normal client: %d %s", resp.StatusCode, b)
	}

	for i, u := range slow {
		resp, b := u.response(bound)
		if resp.StatusCode != http.StatusRequestTimeout || outcomeCode(t, b) != "timeout" {
			t.Errorf("slow body %d: %d %s, want 408 timeout", i, resp.StatusCode, b)
		}
		u.conn.SetReadDeadline(time.Now().Add(bound))
		if _, err := u.br.ReadByte(); err == nil {
			t.Errorf("slow body %d: the connection stays open after the 408", i)
		}
	}
	if el := time.Since(began); el > bound {
		t.Errorf("slow bodies cut after %s, want within %s", el, bound)
	}
	for name, c := range map[string]net.Conn{"trickled headers": hdr, "idle keep-alive": idle} {
		c.SetReadDeadline(time.Now().Add(bound))
		var err error
		if name == "idle keep-alive" {
			_, err = ibr.ReadByte()
		} else {
			_, err = io.Copy(io.Discard, c)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open after %s", name, bound)
		}
	}
}

// TestControlPlaneBodyBound checks that the control plane refuses a body over its router's
// bound (8 MiB) with 413 before reading it, though FHIR bodies may be larger.
func TestControlPlaneBodyBound(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	body := `{"MaxResults":1,"Padding":"` + strings.Repeat("x", 9<<20) + `"}`
	resp := rawCall(t, ts.URL, "HealthLake.ListFHIRDatastores", body, nil,
		signer(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, time.Now(), body))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "must not be larger than 8388608 bytes") {
		t.Errorf("9 MiB control-plane body: %d %s, want 413", resp.StatusCode, b)
	}
}
