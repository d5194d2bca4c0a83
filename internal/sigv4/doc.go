// Package sigv4 verifies AWS Signature Version 4 requests that carry their
// signature in the Authorization header (algorithm AWS4-HMAC-SHA256). Every
// protocol edge uses it: the AWS JSON 1.0 control plane (POST /) and the FHIR
// REST data plane (/datastore/<id>/r4/...) with signing name "healthlake"
// ([Verifier.Verify]), and the S3 API with signing name "s3"
// ([Verifier.VerifyS3], s3.go and payload.go: S3's canonical URI, and bodies
// verified as they stream, including the aws-chunked STREAMING-* modes with
// their chunk signatures and trailing checksums). [ServiceOf] reads the
// signing name a request was scoped to, for routing.
//
// The package owns: parsing the Authorization header, the date and
// credential-scope checks, the clock-skew window, reading and hashing the
// payload (within [Verifier.MaxBody] and the shared [Budget], giving the
// bytes back to the handler without a copy through [Body]), rebuilding the
// canonical request, the constant-time signature comparison, and the typed
// [Error] that says why a request was refused, in AWS's words (on a
// mismatch, with the canonical request and string to sign the server
// computed). [Verifier.Middleware] puts the caller's [Identity] into the
// request context and releases the body's budget when the handler returns.
//
// It does not own: where secrets come from (the consumer-side [Credentials]
// interface, one method), how a refusal is written to the wire (each edge
// translates an [Error] once, by its [Kind]), the minimum rate a body must
// arrive at (the server sets read deadlines; a body read that hits one is
// [BodyTimeout]), query-string (presigned URL) authentication, and SigV4a.
// Credentials are static keys: a request with X-Amz-Security-Token is
// refused as AWS refuses an invalid session token.
//
// # Canonical request: own code, not the SDK signer
//
// The expected signature is computed from a canonical request that this
// package builds itself, following the AWS SigV4 specification, rather than
// by re-signing a rebuilt request with aws-sdk-go-v2's aws/signer/v4. The SDK
// signer is a client: it decides which headers to sign, and several of its
// decisions cannot be undone from outside.
//
//   - It never signs User-Agent, Expect, Transfer-Encoding or
//     X-Amzn-Trace-Id, even when the client listed them in SignedHeaders
//     (curl --aws-sigv4 signs every header given with -H, User-Agent
//     included).
//   - It always adds x-amz-date, so a client that signed with the Date header
//     instead cannot be reproduced.
//   - It adds content-length whenever the body is non-empty, and strips a
//     default port from Host depending on a URL scheme the server does not
//     know (TLS may end at a proxy).
//   - It escapes the path it is given without the RFC 3986 dot-segment and
//     double-slash normalisation that botocore and the AWS services apply.
//
// A verifier must sign exactly the header list the client chose, in the
// client's order, so the canonical request is rebuilt here (canonical.go)
// and the SDK signer serves as the test oracle instead: the tests sign
// requests with it, with botocore and curl (when installed), with canonical
// requests written out by hand, and with two vectors of the AWS SigV4 test
// suite, and all must verify.
//
// The canonical request is:
//
//   - the method;
//   - the canonical URI: the path exactly as it came on the wire (the
//     request-target, before any decoding), normalised like botocore (dot
//     segments resolved, repeated slashes collapsed), then every byte outside
//     the unreserved set and '/' percent-encoded again. This is the non-S3
//     rule: a path the client sent as "/a%20b" is signed as "/a%2520b", and
//     "$export" as "%24export". Clients that sign the raw path instead (curl
//     7.x) fail here for such paths, as they do against AWS;
//   - the canonical query: each name and value decoded with form rules (so
//     '+' is a space, as handlers will read it), re-encoded with the
//     unreserved set and "%20", and the pairs sorted by name, then value;
//   - one "name:value" line per signed header, values trimmed, runs of
//     spaces collapsed, repeated headers joined with ",";
//   - the SignedHeaders list exactly as the client sent it;
//   - the payload hash: the X-Amz-Content-Sha256 value when present (it must
//     equal the body's SHA-256), otherwise the SHA-256 of the body.
package sigv4
