package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

const (
	// DefaultMaxSkew is the clock skew allowed, either way, between the
	// request time and the server clock; AWS allows 15 minutes.
	DefaultMaxSkew = 15 * time.Minute
	// DefaultMaxBody is the largest body, in bytes, that Verify reads and
	// hashes: 64 MiB.
	DefaultMaxBody int64 = 64 << 20
)

// unsignedPayload is the X-Amz-Content-Sha256 value of a client that did not
// hash the body.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// amzDateFormat is ISO 8601 basic format, as used by X-Amz-Date and in the
// string to sign.
const amzDateFormat = "20060102T150405Z"

// Verifier checks SigV4 header signatures. Set its fields before first use
// and do not change them afterwards; a Verifier is then safe for concurrent
// use. The zero values of Now, MaxSkew and MaxBody mean their defaults, so
// NewVerifier is a convenience, not a requirement.
type Verifier struct {
	// Credentials resolves access key ids. Required; when nil, every
	// otherwise valid request fails with UnknownKey.
	Credentials Credentials
	// Service is the signing name the credential scope must carry, for
	// example "healthlake". Required; empty matches no request.
	Service string
	// Now returns the server time for the skew check. Default (nil):
	// time.Now.
	Now func() time.Time
	// MaxSkew is how far the request time may be from Now, either way.
	// Default (0): DefaultMaxSkew, 15 minutes.
	MaxSkew time.Duration
	// MaxBody is the largest body Verify reads, in bytes; a longer body is
	// BodyTooLarge. Default (0): DefaultMaxBody, 64 MiB.
	MaxBody int64
	// Budget, when set, is the memory of all bodies in flight: a body's
	// buffer is reserved as it grows and stays reserved until r.Body is
	// closed (Middleware closes it when the handler returns); a body that
	// does not fit is Throttled. Default nil: no shared bound.
	Budget Budget
	// AllowUnsignedPayload accepts X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, in
	// which case the body is neither read nor hashed. Default false: such
	// requests are BadSignature.
	AllowUnsignedPayload bool
}

// Budget is memory shared by the request bodies in flight. Both methods are
// called from many goroutines at once.
type Budget interface {
	// Reserve takes n bytes, or takes nothing and reports false when fewer
	// than n remain.
	Reserve(n int64) bool
	// Release gives back n bytes taken with Reserve.
	Release(n int64)
}

// NewVerifier returns a Verifier for signing name service with the default
// clock, skew (15 minutes) and body limit (64 MiB), refusing unsigned
// payloads.
func NewVerifier(creds Credentials, service string) *Verifier {
	return &Verifier{Credentials: creds, Service: service}
}

// Verify checks the SigV4 signature of r and returns the caller's Identity.
// It reads the whole body to hash it (up to MaxBody, within Budget) and
// replaces r.Body with a reader over the bytes it read, so handlers can read
// it again (Body returns the bytes without a copy); r.ContentLength is set to
// its length. Closing r.Body releases the bytes' Budget. Every refusal is an
// *Error; a failure to read the body other than a timeout is returned as a
// plain wrapped error.
//
// The checks run cheapest first: the Authorization header, the request
// time and scope, the clock skew, the access key and session token, and only
// then the body and the signature. When the client declared the payload hash
// (X-Amz-Content-Sha256), the signature is checked before the body is read,
// so that only a caller holding the secret makes the server buffer a body.
func (v *Verifier) Verify(r *http.Request) (Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return Identity{}, newError(MissingAuth, "Missing Authentication Token")
	}
	if len(values) > 1 {
		return Identity{}, newError(BadSignature, "Only one Authorization header is allowed")
	}
	dateMissing := r.Header.Get("X-Amz-Date") == "" && r.Header.Get("Date") == ""
	a, err := parseAuthorization(values[0], dateMissing)
	if err != nil {
		return Identity{}, err
	}
	if !slices.Contains(a.headers, "host") {
		return Identity{}, newError(BadSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization")
	}

	t, err := requestTime(r)
	if err != nil {
		return Identity{}, err
	}
	amzDate := t.Format(amzDateFormat)
	if a.date != amzDate[:8] {
		return Identity{}, newError(BadSignature, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'",
			a.date, amzDate[:8], amzDate))
	}
	if a.service != v.Service {
		return Identity{}, newError(BadSignature, "Credential should be scoped to correct service: '"+v.Service+"'")
	}
	if err := v.checkSkew(t); err != nil {
		return Identity{}, err
	}

	var cred Credential
	ok := false
	if v.Credentials != nil {
		cred, ok = v.Credentials.Lookup(a.accessKeyID)
	}
	if !ok {
		return Identity{}, newError(UnknownKey, msgInvalidToken)
	}
	// Credentials are static keys: no session token is valid with them.
	if len(r.Header.Values("X-Amz-Security-Token")) > 0 {
		return Identity{}, newError(InvalidToken, msgInvalidToken)
	}

	declared := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case declared == unsignedPayload && !v.AllowUnsignedPayload:
		return Identity{}, newError(BadSignature, "UNSIGNED-PAYLOAD is not accepted; sign the payload hash")
	case declared != "" && declared != unsignedPayload && !isHex(declared, sha256.Size*2):
		return Identity{}, newError(BadSignature, "x-amz-content-sha256 must be the hex-encoded SHA-256 of the payload")
	}
	id := Identity{AccessKeyID: a.accessKeyID, AccountID: cred.AccountID, Region: a.region}
	if declared != "" {
		// The client signed its own spelling of the hash: check the signature first.
		if err := v.checkSignature(r, &a, cred, amzDate, declared); err != nil {
			return Identity{}, err
		}
		if declared == unsignedPayload {
			return id, nil
		}
	}
	sum, err := v.readBody(r)
	if err != nil {
		return Identity{}, err
	}
	if declared == "" {
		err = v.checkSignature(r, &a, cred, amzDate, sum)
	} else if !strings.EqualFold(declared, sum) {
		err = newError(BadSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	if err != nil {
		r.Body.Close() // gives the body's budget back
		return Identity{}, err
	}
	return id, nil
}

// checkSignature compares the signature of a with the one computed over r's
// canonical request with payloadHash.
func (v *Verifier) checkSignature(r *http.Request, a *authorization, cred Credential, amzDate, payloadHash string) error {
	canonical, err := canonicalRequest(r, a, payloadHash)
	if err != nil {
		return err
	}
	sts := stringToSign(amzDate, a.scope(), canonical)
	if !hmac.Equal(signature(cred.SecretAccessKey, a, sts), a.signature) {
		return mismatchError(canonical, sts)
	}
	return nil
}

// Middleware verifies every request before next sees it. On success the
// Identity is stored in the request context (read it with IdentityFrom) and
// the body is closed when next returns, which gives its Budget back; on
// failure onError, the protocol edge's single error translator, writes the
// response and next is not called.
func (v *Verifier) Middleware(next http.Handler, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Verify replaces the body of a copy: net/http looks at its own request's body after
		// the handler to decide whether the connection can be reused.
		r = r.WithContext(r.Context())
		id, err := v.Verify(r)
		if err != nil {
			onError(w, r, err)
			return
		}
		if r.Body != nil {
			defer r.Body.Close()
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// requestTime returns the signing time from X-Amz-Date, or from Date when
// X-Amz-Date is absent, in UTC. parseAuthorization has already refused a
// request with neither.
func requestTime(r *http.Request) (time.Time, error) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(amzDateFormat, s)
		if err != nil {
			return time.Time{}, newError(BadSignature, "X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z')")
		}
		return t, nil
	}
	t, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return time.Time{}, newError(BadSignature, "Date must be an HTTP date")
	}
	return t.UTC(), nil
}

// checkSkew refuses a request time more than MaxSkew away from Now, with
// AWS's messages.
func (v *Verifier) checkSkew(t time.Time) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	n := now().UTC()
	switch {
	case t.Before(n.Add(-skew)):
		return newError(Expired, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s)",
			t.Format(amzDateFormat), n.Add(-skew).Format(amzDateFormat), n.Format(amzDateFormat), skewText(skew)))
	case t.After(n.Add(skew)):
		return newError(Expired, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s)",
			t.Format(amzDateFormat), n.Add(skew).Format(amzDateFormat), n.Format(amzDateFormat), skewText(skew)))
	}
	return nil
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

// emptySHA256 is the hex SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// firstChunk is the first buffer of a body: the buffer then grows as bytes
// arrive, so that budget and memory follow the bytes that arrived rather than
// what the client announced. With a known length it grows four times at a
// step (fewer copies; the announced length is the last step), without one it
// doubles (less overshoot).
const firstChunk = 64 << 10

// readBody reads r.Body (at most MaxBody bytes, reserving Budget as the
// buffer grows), puts a reader over the bytes back and returns their hex
// SHA-256. On failure the budget taken is released.
func (v *Verifier) readBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return emptySHA256, nil
	}
	limit := v.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	tooLarge := newError(BodyTooLarge, fmt.Sprintf("Request body must not be larger than %d bytes", limit))
	if r.ContentLength > limit {
		return "", tooLarge
	}
	// ceiling is the capacity the buffer may grow to: the announced length,
	// else one byte over the limit (reaching it means the body is too large).
	ceiling, step := limit+1, int64(2)
	if r.ContentLength >= 0 {
		ceiling, step = r.ContentLength, 4
	}
	h := &heldBody{budget: v.Budget}
	fail := func(err error) (string, error) {
		r.Body.Close()
		h.Close()
		return "", err
	}
	for {
		if len(h.b) == cap(h.b) {
			if int64(cap(h.b)) >= ceiling {
				// Full at the announced length: expect the end of the body.
				var one [1]byte
				n, err := r.Body.Read(one[:])
				if n == 0 && err == io.EOF {
					break
				}
				if err != nil && err != io.EOF {
					return fail(readError(err, tooLarge))
				}
				if n == 0 {
					continue
				}
				ceiling, step = limit+1, 2 // longer than announced: read on, within the limit
				if !h.grow(int64(len(h.b))+1, ceiling, step) {
					return fail(errThrottled)
				}
				h.b = append(h.b, one[0])
			} else if !h.grow(int64(len(h.b))+1, ceiling, step) {
				return fail(errThrottled)
			}
		}
		n, err := r.Body.Read(h.b[len(h.b):cap(h.b)])
		h.b = h.b[:len(h.b)+n]
		if int64(len(h.b)) > limit {
			return fail(tooLarge)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(readError(err, tooLarge))
		}
	}
	r.Body.Close()
	h.Reader = bytes.NewReader(h.b)
	r.Body = h
	body := h.b
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// errThrottled refuses a body that does not fit in the budget.
var errThrottled = newError(Throttled, "Too many request bodies are in flight; retry later")

// readError classifies a failure to read the body.
func readError(err error, tooLarge *Error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return newError(BodyTimeout, "The request body did not arrive in time: it was sent more slowly than the server's minimum rate")
	}
	return fmt.Errorf("sigv4: read body: %w", err)
}

// heldBody is a body Verify read: a reader over its bytes that gives their
// budget back on Close.
type heldBody struct {
	*bytes.Reader
	b        []byte
	budget   Budget
	reserved int64 // bytes of budget held for cap(b)
}

// grow gives b room for at least need bytes, multiplying its capacity by step
// up to ceiling, and reports false when the budget refuses the new buffer.
func (h *heldBody) grow(need, ceiling, step int64) bool {
	size := min(max(int64(cap(h.b))*step, firstChunk, need), max(ceiling, need))
	if h.budget != nil && !h.budget.Reserve(size) {
		return false
	}
	nb := make([]byte, len(h.b), size)
	copy(nb, h.b)
	h.b = nb
	if h.budget != nil {
		h.budget.Release(h.reserved)
		h.reserved = size
	}
	return true
}

// Close releases the body's budget; later calls do nothing.
func (h *heldBody) Close() error {
	if h.budget != nil && h.reserved > 0 {
		h.budget.Release(h.reserved)
	}
	h.reserved = 0
	return nil
}

// Body returns the body Verify read and checked, without a copy, and true;
// false when Verify did not read r's body (no body, or an unsigned payload).
// The bytes must not be modified.
func Body(r *http.Request) ([]byte, bool) {
	if h, ok := r.Body.(*heldBody); ok {
		return h.b, true
	}
	return nil, false
}

// isHex reports whether s is n hexadecimal digits (either case).
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
