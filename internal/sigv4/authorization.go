package sigv4

import (
	"encoding/hex"
	"strings"
)

// algorithm is the only Authorization scheme this package verifies.
const algorithm = "AWS4-HMAC-SHA256"

// scopeTerminator ends every SigV4 credential scope.
const scopeTerminator = "aws4_request"

// authorization is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header.
type authorization struct {
	accessKeyID string
	date        string // YYYYMMDD from the credential scope
	region      string
	service     string
	// signedHeaders is the SignedHeaders value exactly as sent; it goes into
	// the canonical request verbatim.
	signedHeaders string
	// headers is signedHeaders split on ';', in the client's order.
	headers []string
	// signature is the decoded 32-byte HMAC.
	signature []byte
}

// scope returns the credential scope without the access key id.
func (a *authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + scopeTerminator
}

// Messages of an incomplete Authorization header, in AWS's wording.
const (
	msgNeedDate = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)

// parseAuthorization parses an Authorization header value; dateMissing says
// that the request has neither X-Amz-Date nor Date, which AWS reports together
// with the missing components. An empty value is MissingAuth. A value that is
// not a complete AWS4-HMAC-SHA256 header (another scheme, a component missing
// or not key=value, no request date) is IncompleteSignature, with AWS's
// messages and the header echoed after "Authorization=". A complete header
// with a malformed value is BadSignature. Components may be separated by ","
// or ", ", in any order, each exactly once.
func parseAuthorization(h string, dateMissing bool) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	if h == "" {
		return a, newError(MissingAuth, "Missing Authentication Token")
	}
	scheme, rest, _ := strings.Cut(h, " ")
	var credential, signedHeaders, signature string
	var seenCredential, seenSignedHeaders, seenSignature bool
	if scheme == algorithm {
		for part := range strings.SplitSeq(rest, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				return a, newError(IncompleteSignature, "'"+part+"' not a valid key=value pair (missing equal-sign) in Authorization header: '"+h+"'.")
			}
			var dst *string
			var seen *bool
			switch name {
			case "Credential":
				dst, seen = &credential, &seenCredential
			case "SignedHeaders":
				dst, seen = &signedHeaders, &seenSignedHeaders
			case "Signature":
				dst, seen = &signature, &seenSignature
			default:
				return a, newError(BadSignature, "Authorization header has an unknown component")
			}
			if *seen {
				return a, newError(BadSignature, "Authorization header repeats the '"+name+"' component")
			}
			*dst, *seen = value, true
		}
	}
	// Another scheme has none of the components, as AWS reports it.
	var missing []string
	for _, c := range []struct {
		name string
		seen bool
	}{{"Credential", seenCredential}, {"Signature", seenSignature}, {"SignedHeaders", seenSignedHeaders}} {
		if !c.seen {
			missing = append(missing, "Authorization header requires '"+c.name+"' parameter.")
		}
	}
	if dateMissing {
		missing = append(missing, msgNeedDate)
	}
	if len(missing) > 0 {
		return a, newError(IncompleteSignature, strings.Join(missing, " ")+" Authorization="+h)
	}

	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" {
		return a, newError(BadSignature, "Credential must have the form <access key>/<YYYYMMDD>/<region>/<service>/"+scopeTerminator)
	}
	a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	if parts[4] != scopeTerminator {
		return a, newError(BadSignature, "Credential should be scoped with a valid terminator: '"+scopeTerminator+"'")
	}
	if !isDigits(a.date, 8) {
		return a, newError(BadSignature, "Credential should be scoped to a date of the form YYYYMMDD")
	}
	if !validRegion(a.region) {
		return a, newError(BadSignature, "Credential should be scoped to a valid region")
	}
	if a.service == "" {
		return a, newError(BadSignature, "Credential should be scoped to a service")
	}

	if signedHeaders == "" {
		return a, newError(BadSignature, "SignedHeaders must not be empty")
	}
	a.signedHeaders = signedHeaders
	a.headers = strings.Split(signedHeaders, ";")
	for _, name := range a.headers {
		if !validHeaderName(name) {
			return a, newError(BadSignature, "SignedHeaders must be a ';'-separated list of lowercase header names")
		}
	}

	if len(signature) != 64 {
		return a, newError(BadSignature, "Signature must be 64 hexadecimal characters")
	}
	sig, err := hex.DecodeString(signature)
	if err != nil {
		return a, newError(BadSignature, "Signature must be 64 hexadecimal characters")
	}
	a.signature = sig
	return a, nil
}

// isDigits reports whether s is exactly n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validRegion accepts AWS-style region names (lowercase letters, digits and
// '-', at most 64 bytes). The region is half of the tenant key, so anything
// unusual is refused rather than stored.
func validRegion(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is a non-empty lowercase HTTP token, the
// form every SigV4 client uses in SignedHeaders.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
