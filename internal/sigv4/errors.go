package sigv4

import "errors"

// Kind classifies why a request was refused. Each protocol edge maps a Kind
// to its own wire error; the suggested control-plane mapping is given with
// each constant.
type Kind int

const (
	// MissingAuth: no Authorization header. Control plane: HTTP 403
	// MissingAuthenticationTokenException.
	MissingAuth Kind = iota + 1
	// UnknownKey: the access key id is not known. Control plane: HTTP 403
	// UnrecognizedClientException.
	UnknownKey
	// BadSignature: a missing or malformed date, a wrong credential scope, an
	// unsigned Host header, a payload that does not match its declared hash,
	// or a signature that does not match. Control plane: HTTP 403
	// InvalidSignatureException.
	BadSignature
	// Expired: the request time is outside the allowed clock skew.
	// Control plane: HTTP 403 InvalidSignatureException (the message says
	// "Signature expired" or "Signature not yet current").
	Expired
	// BodyTooLarge: the body is longer than Verifier.MaxBody. Control plane:
	// HTTP 413 with a ValidationException-style body.
	BodyTooLarge
	// IncompleteSignature: an Authorization header that is not a complete
	// AWS4-HMAC-SHA256 one (a component or the request date missing, a
	// component that is not key=value, another scheme). Control plane: HTTP
	// 400 IncompleteSignatureException.
	IncompleteSignature
	// Throttled: the body does not fit in Verifier.Budget now. Control plane:
	// HTTP 429 ThrottlingException with a Retry-After header.
	Throttled
	// BodyTimeout: reading the body hit a read deadline (the server's minimum
	// body rate). Control plane: HTTP 408 RequestTimeoutException.
	BodyTimeout
	// InvalidToken: the request carries a session token (X-Amz-Security-Token),
	// which static credentials never have. Control plane: HTTP 403
	// UnrecognizedClientException; S3: HTTP 400 InvalidToken.
	InvalidToken
)

// String returns a short lowercase name of k.
func (k Kind) String() string {
	switch k {
	case MissingAuth:
		return "missing authentication"
	case UnknownKey:
		return "unknown access key"
	case BadSignature:
		return "bad signature"
	case Expired:
		return "signature expired"
	case BodyTooLarge:
		return "body too large"
	case IncompleteSignature:
		return "incomplete signature"
	case Throttled:
		return "throttled"
	case InvalidToken:
		return "invalid session token"
	case BodyTimeout:
		return "body timeout"
	}
	return "unknown kind"
}

// Error is a refused request. Msg is written in the style of the messages
// AWS returns and is safe to send to the client: it never contains the
// expected signature, a secret, or a derived key. On a signature mismatch it
// carries the canonical request and string to sign the server computed, as
// AWS services do, so that the client can see what it signed differently.
type Error struct {
	Kind Kind
	Msg  string
}

// Error implements error.
func (e *Error) Error() string {
	return "sigv4: " + e.Kind.String() + ": " + e.Msg
}

// KindOf returns the Kind of the *Error in err's chain, or 0 when there is
// none (for example when reading the body failed), which edges should treat
// as an internal error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func newError(k Kind, msg string) *Error {
	return &Error{Kind: k, Msg: msg}
}

// msgSignatureMismatch is AWS's wording for a signature that does not match;
// mismatchError adds what AWS adds after it.
const msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// msgInvalidToken is AWS's wording for an unknown access key or session token.
const msgInvalidToken = "The security token included in the request is invalid."

// mismatchError is the refusal of a signature that does not match, with the
// canonical request and string to sign the server computed.
func mismatchError(canonical, sts string) *Error {
	return newError(BadSignature, msgSignatureMismatch+"\n\nThe Canonical String for this request should have been\n'"+
		canonical+"'\n\nThe String-to-Sign should have been\n'"+sts+"'\n")
}
