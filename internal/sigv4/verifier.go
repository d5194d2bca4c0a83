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
	// AllowUnsignedPayload accepts X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, in
	// which case the body is neither read nor hashed. Default false: such
	// requests are BadSignature.
	AllowUnsignedPayload bool
}

// NewVerifier returns a Verifier for signing name service with the default
// clock, skew (15 minutes) and body limit (64 MiB), refusing unsigned
// payloads.
func NewVerifier(creds Credentials, service string) *Verifier {
	return &Verifier{Credentials: creds, Service: service}
}

// Verify checks the SigV4 signature of r and returns the caller's Identity.
// It reads the whole body to hash it (up to MaxBody) and replaces r.Body with
// an in-memory copy, so handlers can read it again; r.ContentLength is set to
// its length. Every refusal is an *Error; a failure to read the body is
// returned as a plain wrapped error.
//
// The checks run cheapest first: the Authorization header, the request
// time and scope, the clock skew, the access key, and only then the body and
// the signature.
func (v *Verifier) Verify(r *http.Request) (Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return Identity{}, newError(MissingAuth, "Missing Authentication Token")
	}
	if len(values) > 1 {
		return Identity{}, newError(BadSignature, "Only one Authorization header is allowed")
	}
	a, err := parseAuthorization(values[0])
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
		return Identity{}, newError(UnknownKey, "The security token included in the request is invalid")
	}

	payloadHash, err := v.payloadHash(r)
	if err != nil {
		return Identity{}, err
	}
	canonical, err := canonicalRequest(r, &a, payloadHash)
	if err != nil {
		return Identity{}, err
	}
	want := signature(cred.SecretAccessKey, &a, stringToSign(amzDate, a.scope(), canonical))
	if !hmac.Equal(want, a.signature) {
		return Identity{}, newError(BadSignature, msgSignatureMismatch)
	}
	return Identity{AccessKeyID: a.accessKeyID, AccountID: cred.AccountID, Region: a.region}, nil
}

// Middleware verifies every request before next sees it. On success the
// Identity is stored in the request context (read it with IdentityFrom); on
// failure onError, the protocol edge's single error translator, writes the
// response and next is not called.
func (v *Verifier) Middleware(next http.Handler, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.Verify(r)
		if err != nil {
			onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// requestTime returns the signing time from X-Amz-Date, or from Date when
// X-Amz-Date is absent, in UTC.
func requestTime(r *http.Request) (time.Time, error) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(amzDateFormat, s)
		if err != nil {
			return time.Time{}, newError(BadSignature, "X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z')")
		}
		return t, nil
	}
	if s := r.Header.Get("Date"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return time.Time{}, newError(BadSignature, "Date must be an HTTP date")
		}
		return t.UTC(), nil
	}
	return time.Time{}, newError(BadSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
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

// payloadHash returns the payload hash for the canonical request: the
// X-Amz-Content-Sha256 value when present, after checking it against the
// body, otherwise the body's SHA-256.
func (v *Verifier) payloadHash(r *http.Request) (string, error) {
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == unsignedPayload {
		if v.AllowUnsignedPayload {
			return declared, nil
		}
		return "", newError(BadSignature, "UNSIGNED-PAYLOAD is not accepted; sign the payload hash")
	}
	if declared != "" && !isHex(declared, sha256.Size*2) {
		return "", newError(BadSignature, "x-amz-content-sha256 must be the hex-encoded SHA-256 of the payload")
	}
	sum, err := v.hashBody(r)
	if err != nil {
		return "", err
	}
	if declared == "" {
		return sum, nil
	}
	if !strings.EqualFold(declared, sum) {
		return "", newError(BadSignature, "The provided 'x-amz-content-sha256' header does not match what was computed")
	}
	return declared, nil // the client signed its own spelling
}

// emptySHA256 is the hex SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// hashBody reads r.Body (at most MaxBody bytes), puts an in-memory copy back
// and returns the hex SHA-256 of the bytes.
func (v *Verifier) hashBody(r *http.Request) (string, error) {
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
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", tooLarge
		}
		return "", fmt.Errorf("sigv4: read body: %w", err)
	}
	if int64(buf.Len()) > limit {
		return "", tooLarge
	}
	body := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// isHex reports whether s is n hexadecimal digits (either case).
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
