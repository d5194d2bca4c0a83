package sigv4

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// canonicalRequest builds the SigV4 canonical request of r for the header
// list in a, with payloadHash as the last line. See the package doc for the
// rules.
func canonicalRequest(r *http.Request, a *authorization, payloadHash string) (string, error) {
	var uri strings.Builder
	writeCanonicalURI(&uri, wirePath(r))
	return canonicalRequestWithURI(r, a, uri.String(), payloadHash)
}

// canonicalRequestWithURI builds the canonical request of r with the given canonical URI.
func canonicalRequestWithURI(r *http.Request, a *authorization, uri, payloadHash string) (string, error) {
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range a.headers {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeHeaderValue(&b, v)
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(a.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// stringToSign returns the SigV4 string to sign; amzDate is the request time
// in ISO 8601 basic format (20060102T150405Z).
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signature returns the raw HMAC-SHA256 signature of sts under the key
// derived from secret and the credential scope of a.
func signature(secret string, a *authorization, sts string) []byte {
	return hmacSHA256(signingKey(secret, a), sts)
}

// signingKey derives the SigV4 signing key of secret for the credential scope of a.
func signingKey(secret string, a *authorization) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), a.date)
	key = hmacSHA256(key, a.region)
	key = hmacSHA256(key, a.service)
	return hmacSHA256(key, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// wirePath returns the path of r as the client sent it, still percent-encoded.
// Clients sign the encoded path they send, so the decoded r.URL.Path (or its
// re-encoding, which may differ) is not used when the request-target is
// available.
func wirePath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	// Requests built in-process (not read by net/http's server), absolute-form
	// request-targets and "*".
	return r.URL.EscapedPath()
}

// writeCanonicalURI writes the non-S3 canonical URI of the encoded path p:
// normalised, then each byte other than '/' and the unreserved set
// percent-encoded (a second time, for bytes the client had already encoded).
func writeCanonicalURI(b *strings.Builder, p string) {
	p = normalizePath(p)
	for i := range len(p) {
		if c := p[i]; c == '/' || unreserved(c) {
			b.WriteByte(c)
		} else {
			writeEscaped(b, c)
		}
	}
}

// normalizePath resolves "." and ".." segments and drops empty segments,
// keeping a leading and a trailing slash; the empty path becomes "/". This is
// what botocore does for every non-S3 service (RFC 3986 section 5.2.4 plus
// collapsing repeated slashes).
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] == '/' && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p // already normal: no empty, "." or ".." segments
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// canonicalQuery returns the canonical query string of the raw query: each
// name and value form-decoded ('+' is a space, as url.ParseQuery and hence the
// handlers read it), SigV4-encoded, and the pairs sorted by encoded name,
// then encoded value. Empty pieces ("a=1&&b=2") are skipped, like the SDK
// signer does; a piece without '=' has an empty value. A bad percent escape is
// BadSignature.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	type pair struct{ name, value string }
	pairs := make([]pair, 0, strings.Count(raw, "&")+1)
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		name, value, _ := strings.Cut(piece, "=")
		var err error
		if name, err = recodeQueryComponent(name); err != nil {
			return "", err
		}
		if value, err = recodeQueryComponent(value); err != nil {
			return "", err
		}
		pairs = append(pairs, pair{name, value})
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(strings.Compare(x.name, y.name), strings.Compare(x.value, y.value))
	})
	var b strings.Builder
	b.Grow(len(raw) + 16)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String(), nil
}

// recodeQueryComponent decodes one form-encoded query name or value and
// encodes it the SigV4 way.
func recodeQueryComponent(s string) (string, error) {
	if allUnreserved(s) {
		return s, nil
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		return "", newError(BadSignature, "The query string is not validly percent-encoded")
	}
	if allUnreserved(d) {
		return d, nil
	}
	var b strings.Builder
	b.Grow(len(d) * 3)
	for i := range len(d) {
		if c := d[i]; unreserved(c) {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String(), nil
}

// headerValues returns the values of the signed header name (lowercase).
// net/http moves Host and Transfer-Encoding out of r.Header, so those come
// from the request fields.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	case "content-length":
		if _, ok := r.Header["Content-Length"]; !ok && r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	if vs := r.Header.Values(name); len(vs) > 0 {
		return vs
	}
	// Header names that textproto does not canonicalise (for example with
	// '_') are stored as sent; find them case-insensitively.
	for k, vs := range r.Header {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}

// writeHeaderValue writes v trimmed of surrounding spaces and tabs with each
// run of inner spaces collapsed to one, the SigV4 header-value rule.
func writeHeaderValue(b *strings.Builder, v string) {
	v = strings.Trim(v, " \t")
	if !strings.Contains(v, "  ") {
		b.WriteString(v)
		return
	}
	space := false
	for i := range len(v) {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
}

const upperHex = "0123456789ABCDEF"

func writeEscaped(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(upperHex[c>>4])
	b.WriteByte(upperHex[c&15])
}

// unreserved reports whether c is in the RFC 3986 unreserved set, the only
// bytes SigV4 leaves unencoded.
func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func allUnreserved(s string) bool {
	for i := range len(s) {
		if !unreserved(s[i]) {
			return false
		}
	}
	return true
}
