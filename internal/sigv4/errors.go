package sigv4

import "errors"

// Kind classifies why a request was refused. Each protocol edge maps a Kind
// to its own wire error; the suggested control-plane mapping is given with
// each constant (all HTTP 403 except BodyTooLarge).
type Kind int

const (
	// MissingAuth: no Authorization header, or one that is not
	// AWS4-HMAC-SHA256. Control plane: MissingAuthenticationTokenException.
	MissingAuth Kind = iota + 1
	// UnknownKey: the access key id is not known.
	// Control plane: UnrecognizedClientException.
	UnknownKey
	// BadSignature: a malformed Authorization header, a missing or malformed
	// date, a wrong credential scope, an unsigned Host header, a payload that
	// does not match its declared hash, or a signature that does not match.
	// Control plane: InvalidSignatureException.
	BadSignature
	// Expired: the request time is outside the allowed clock skew.
	// Control plane: InvalidSignatureException (the message says
	// "Signature expired" or "Signature not yet current").
	Expired
	// BodyTooLarge: the body is longer than Verifier.MaxBody. Control plane:
	// HTTP 413 with a ValidationException-style body.
	BodyTooLarge
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
	}
	return "unknown kind"
}

// Error is a refused request. Msg is written in the style of the messages
// AWS returns and is safe to send to the client: it never contains the
// expected signature, a secret, or a derived key.
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

// msgSignatureMismatch is AWS's wording for a signature that does not match.
const msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details"
