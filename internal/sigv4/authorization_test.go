package sigv4

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const testSig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	cred := "Credential=AKID/20240501/us-east-1/healthlake/aws4_request"
	tests := []struct {
		name   string
		header string
		want   Kind // 0: parses
		check  func(t *testing.T, a authorization)
	}{
		{
			name:   "SDK layout",
			header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date, Signature=" + testSig,
			check: func(t *testing.T, a authorization) {
				if a.accessKeyID != "AKID" || a.date != "20240501" || a.region != "us-east-1" || a.service != "healthlake" {
					t.Errorf("scope = %s %s %s %s", a.accessKeyID, a.date, a.region, a.service)
				}
				if a.signedHeaders != "host;x-amz-date" || len(a.headers) != 2 || len(a.signature) != 32 {
					t.Errorf("signedHeaders %q headers %q signature %x", a.signedHeaders, a.headers, a.signature)
				}
			},
		},
		{
			name:   "no spaces after commas, other order",
			header: "AWS4-HMAC-SHA256 Signature=" + testSig + ",SignedHeaders=host," + cred,
		},
		{name: "empty", header: "", want: MissingAuth},
		{name: "other scheme", header: "Basic dXNlcjpwYXNz", want: IncompleteSignature},
		{name: "SigV4a", header: "AWS4-ECDSA-P256-SHA256 " + cred, want: IncompleteSignature},
		{name: "scheme only", header: "AWS4-HMAC-SHA256", want: IncompleteSignature},
		{name: "missing signature", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host", want: IncompleteSignature},
		{name: "repeated component", header: "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "unknown component", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + testSig + ", Foo=bar", want: BadSignature},
		{name: "component without =", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders, Signature=" + testSig, want: IncompleteSignature},
		{name: "short credential", header: "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/healthlake, SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "bad terminator", header: "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/healthlake/aws5_request, SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "bad scope date", header: "AWS4-HMAC-SHA256 Credential=AKID/2024-05-01/us-east-1/healthlake/aws4_request, SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "bad region", header: "AWS4-HMAC-SHA256 Credential=AKID/20240501/US East/healthlake/aws4_request, SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "empty service", header: "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1//aws4_request, SignedHeaders=host, Signature=" + testSig, want: BadSignature},
		{name: "empty signed header name", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + testSig, want: BadSignature},
		{name: "uppercase signed header", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host, Signature=" + testSig, want: BadSignature},
		{name: "short signature", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=abc", want: BadSignature},
		{name: "non-hex signature", header: "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + strings.Repeat("zz", 32), want: BadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := parseAuthorization(tt.header, false)
			if got := KindOf(err); got != tt.want {
				t.Fatalf("parseAuthorization(%q) error = %v, want kind %v", tt.header, err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

// FuzzParseAuthorization checks that any header value parses or fails with
// an *Error, never panics, and that a parsed value is self-consistent. The
// seeds run in the normal test suite.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 ",
		"AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/healthlake/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + testSig,
		"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=",
		"AWS4-HMAC-SHA256 ,,,===",
		"AWS4-HMAC-SHA256 Credential==, Signature==, SignedHeaders==",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g, SignedHeaders=\x00, Signature=\xff",
		"Bearer x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header, false)
		if err != nil {
			if k := KindOf(err); k != MissingAuth && k != BadSignature && k != IncompleteSignature {
				t.Fatalf("parseAuthorization(%q) error kind %v (%v)", header, k, err)
			}
			return
		}
		if len(a.signature) != 32 || a.accessKeyID == "" || !validRegion(a.region) || !isDigits(a.date, 8) ||
			strings.Join(a.headers, ";") != a.signedHeaders || !utf8.ValidString(a.signedHeaders) {
			t.Fatalf("parseAuthorization(%q) accepted an inconsistent value: %+v", header, a)
		}
	})
}
