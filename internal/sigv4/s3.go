package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Payload modes an S3 client names in X-Amz-Content-Sha256 besides a hex SHA-256.
const (
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsigned      = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// ServiceOf returns the signing name in the credential scope of r's Authorization header, or ""
// when the header carries no parsable SigV4 credential. It does not verify anything: a router
// uses it to pick the protocol edge whose verifier then checks the request.
func ServiceOf(r *http.Request) string {
	h := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// VerifyS3 checks a SigV4 request as Amazon S3 does and returns the caller's Identity. It
// differs from Verify in three ways:
//
//   - The canonical URI is the path decoded once and encoded once (S3 neither normalises dot
//     segments and slashes nor encodes twice).
//   - X-Amz-Content-Sha256 is required for a request with a body (without one, the empty
//     payload's hash is signed), and names how the body is protected: its hex SHA-256,
//     UNSIGNED-PAYLOAD, or one of the aws-chunked streaming modes
//     (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, its -TRAILER variant, and
//     STREAMING-UNSIGNED-PAYLOAD-TRAILER), with the seed signature of the Authorization header
//     chaining each chunk's signature.
//   - The body is never buffered. r.Body is replaced by a reader that decodes aws-chunked
//     framing, verifies chunk and trailer signatures, the declared SHA-256, Content-MD5, and
//     any x-amz-checksum-* header or trailer, and the decoded length, as the bytes stream past;
//     a mismatch is returned by Read as a *PayloadError (or *Error for a chunk signature) in
//     place of io.EOF, so a handler that streams the body to storage discards it. r.ContentLength
//     becomes the decoded length (-1 when unknown).
//
// Header problems are refused before any body byte is read, with the same *Error kinds as
// Verify. MaxBody does not apply; the caller bounds object sizes.
func (v *Verifier) VerifyS3(r *http.Request) (Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return Identity{}, newError(MissingAuth, "Missing Authentication Token")
	}
	if len(values) > 1 {
		return Identity{}, newError(BadSignature, "Only one Authorization header is allowed")
	}
	a, err := parseAuthorization(values[0], r.Header.Get("X-Amz-Date") == "" && r.Header.Get("Date") == "")
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
		return Identity{}, newError(BadSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
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
		return Identity{}, newError(UnknownKey, "The AWS Access Key Id you provided does not exist in our records")
	}
	// Credentials are static keys: no session token is valid with them.
	if len(r.Header.Values("X-Amz-Security-Token")) > 0 {
		return Identity{}, newError(InvalidToken, "The provided token is malformed or otherwise invalid.")
	}
	mode := r.Header.Get("X-Amz-Content-Sha256")
	if mode == "" {
		// S3 requires the header; a request without a body (curl 7 signs GETs without it) is
		// signed over the empty payload's hash all the same.
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			return Identity{}, &PayloadError{Reason: MalformedPayload, Msg: "Missing required header for this request: x-amz-content-sha256"}
		}
		mode = emptySHA256
	}
	uri, err := s3CanonicalURI(wirePath(r))
	if err != nil {
		return Identity{}, err
	}
	canonical, err := canonicalRequestWithURI(r, &a, uri, mode)
	if err != nil {
		return Identity{}, err
	}
	key := signingKey(cred.SecretAccessKey, &a)
	seed := hmacSHA256(key, stringToSign(amzDate, a.scope(), canonical))
	if !hmac.Equal(seed, a.signature) {
		return Identity{}, newError(BadSignature, msgSignatureMismatch)
	}
	body, length, err := newPayload(r, mode, chunkSigner{key: key, amzDate: amzDate, scope: a.scope(), prev: a.signature})
	if err != nil {
		return Identity{}, err
	}
	r.Body, r.ContentLength = body, length
	return Identity{AccessKeyID: a.accessKeyID, AccountID: cred.AccountID, Region: a.region}, nil
}

// s3CanonicalURI decodes the wire path once and encodes every byte outside the unreserved set
// and '/' once, which is how S3 clients sign object keys.
func s3CanonicalURI(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	d, err := url.PathUnescape(p)
	if err != nil {
		return "", newError(BadSignature, "The request path is not validly percent-encoded")
	}
	var b strings.Builder
	b.Grow(len(d) + 16)
	for i := range len(d) {
		if c := d[i]; c == '/' || unreserved(c) {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String(), nil
}

// decodedLength reads X-Amz-Decoded-Content-Length (-1 when absent).
func decodedLength(r *http.Request) (int64, error) {
	s := r.Header.Get("X-Amz-Decoded-Content-Length")
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, &PayloadError{Reason: MalformedPayload, Msg: "x-amz-decoded-content-length must be a non-negative integer"}
	}
	return n, nil
}

// emptyHash is the hex SHA-256 of nothing, as raw bytes.
var emptyHash = sha256.Sum256(nil)

// MiddlewareS3 is Middleware with VerifyS3: next sees the Identity in the context and the
// verifying body.
func (v *Verifier) MiddlewareS3(next http.Handler, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.VerifyS3(r)
		if err != nil {
			onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}
