package sigv4

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	gocmp "github.com/google/go-cmp/cmp"
)

const (
	testKeyID   = "AKIDEXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testAccount = "123456789012"
	testService = "healthlake"
	testRegion  = "us-east-1"
	testHost    = "healthlake.local:8080"
)

// testTime is the signing time of every fixture and the verifier's clock.
var testTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	v := NewVerifier(StaticCredentials{
		testKeyID:   {SecretAccessKey: testSecret, AccountID: testAccount},
		"AKIDOTHER": {SecretAccessKey: "other-secret", AccountID: "210987654321"},
	}, testService)
	v.Now = func() time.Time { return testTime }
	return v
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sdkRequest describes a request to sign with aws-sdk-go-v2's signer.
type sdkRequest struct {
	method  string
	target  string // path and query as the client's URL has them
	header  map[string]string
	body    string
	region  string // default testRegion
	keyID   string // default testKeyID
	secret  string // default testSecret
	token   string // session token, optional
	service string // default testService
	// payloadHash is the hash signed; default the body's SHA-256.
	payloadHash string
	at          time.Time
}

// signSDK signs req with the SDK v4 signer and returns the server-side view
// of it: what net/http's server would hand to a handler.
func signSDK(t testing.TB, req sdkRequest) *http.Request {
	t.Helper()
	c, err := http.NewRequest(req.method, "http://"+testHost+req.target, strings.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.header {
		c.Header.Set(k, v)
	}
	creds := aws.Credentials{
		AccessKeyID:     cmp.Or(req.keyID, testKeyID),
		SecretAccessKey: cmp.Or(req.secret, testSecret),
		SessionToken:    req.token,
	}
	at := req.at
	if at.IsZero() {
		at = testTime
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, c, cmp.Or(req.payloadHash, hexSHA256([]byte(req.body))),
		cmp.Or(req.service, testService), cmp.Or(req.region, testRegion), at)
	if err != nil {
		t.Fatal(err)
	}
	return serverRequest(c, []byte(req.body))
}

// serverRequest turns a signed client request into the request a server
// reads: request-target as sent, Host moved out of the header map.
func serverRequest(c *http.Request, body []byte) *http.Request {
	r := httptest.NewRequest(c.Method, c.URL.RequestURI(), bytes.NewReader(body))
	r.Host = cmp.Or(c.Host, c.URL.Host)
	r.Header = c.Header.Clone()
	r.Header.Del("Host")
	return r
}

func TestVerifySDKSigned(t *testing.T) {
	t.Parallel()
	jsonHeader := map[string]string{
		"Content-Type": "application/x-amz-json-1.0",
		"X-Amz-Target": "HealthLake.ListFHIRDatastores",
	}
	tests := []struct {
		name string
		req  sdkRequest
		// wireQuery, when set, replaces the canonical query the SDK leaves
		// on the request with an equivalent one in another order or spelling.
		wireQuery string
		want      Identity
	}{
		{
			name: "control plane POST with JSON body",
			req:  sdkRequest{method: "POST", target: "/", header: jsonHeader, body: `{"MaxResults":10}`},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "control plane POST under a base path, other region and key",
			req: sdkRequest{method: "POST", target: "/prefix/", header: jsonHeader, body: `{}`,
				region: "eu-west-1", keyID: "AKIDOTHER", secret: "other-secret"},
			want: Identity{AccessKeyID: "AKIDOTHER", AccountID: "210987654321", Region: "eu-west-1"},
		},
		{
			name: "search with repeated keys, colon, pipe and space",
			req: sdkRequest{method: "GET",
				target: "/datastore/abc/r4/Observation?code=http://loinc.org|1234-5&date=ge2020-01-01&date=le2021-01-01&_count=10&name=a%20b"},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "search sent unsorted with raw characters and plus for space",
			req: sdkRequest{method: "GET",
				target: "/datastore/abc/r4/Observation?code=http://loinc.org|1234-5&date=ge2020-01-01&_count=10&name=a%20b"},
			wireQuery: "name=a+b&_count=10&date=ge2020-01-01&code=http%3A%2F%2Floinc.org%7c1234-5",
			want:      Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "query key without value",
			req:  sdkRequest{method: "GET", target: "/datastore/abc/r4/Patient?_summary&_count=1"},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "dollar operation path",
			req:  sdkRequest{method: "GET", target: "/datastore/abc/r4/$export?_type=Patient,Observation"},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "instance operation and escaped path segment",
			req:  sdkRequest{method: "POST", target: "/datastore/abc/r4/Group/g%201/$export", body: `{}`},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "PUT FHIR resource",
			req: sdkRequest{method: "PUT", target: "/datastore/abc/r4/Patient/p-1",
				header: map[string]string{"Content-Type": "application/fhir+json", "If-Match": `W/"1"`},
				body:   `{"resourceType":"Patient","id":"p-1"}`},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "PATCH with content hash header",
			req: sdkRequest{method: "PATCH", target: "/datastore/abc/r4/Patient/p-1",
				header: map[string]string{"Content-Type": "application/json-patch+json",
					"X-Amz-Content-Sha256": hexSHA256([]byte(`[{"op":"remove","path":"/active"}]`))},
				body: `[{"op":"remove","path":"/active"}]`},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
		{
			name: "DELETE signed five minutes ago",
			req:  sdkRequest{method: "DELETE", target: "/datastore/abc/r4/Patient/p-1", at: testTime.Add(-5 * time.Minute)},
			want: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := signSDK(t, tt.req)
			if tt.wireQuery != "" {
				w := httptest.NewRequest(r.Method, r.URL.EscapedPath()+"?"+tt.wireQuery, r.Body)
				w.Host, w.Header = r.Host, r.Header
				r = w
			}
			got, err := testVerifier().Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Identity mismatch (-want +got):\n%s", diff)
			}
			body, err := io.ReadAll(r.Body)
			if err != nil || string(body) != tt.req.body {
				t.Errorf("body after Verify = %q, %v; want %q", body, err, tt.req.body)
			}
		})
	}
}

// signLiteral signs a canonical request written out by hand, following
// "Create a canonical request" and "Calculate the signature" in the AWS
// SigV4 documentation, and returns the Authorization header value.
func signLiteral(keyID, secret, date, region, service, signedHeaders, canonical, amzDate string) string {
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	scope := date + "/" + region + "/" + service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
	key := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), service), "aws4_request")
	return "AWS4-HMAC-SHA256 Credential=" + keyID + "/" + scope + ", SignedHeaders=" + signedHeaders +
		", Signature=" + hex.EncodeToString(mac(key, sts))
}

// literalCase is a request whose canonical request is spelled out in full.
type literalCase struct {
	name          string
	method        string
	target        string // request-target on the wire
	host          string
	header        map[string]string
	body          string
	signedHeaders string
	// canonical is the canonical request up to and including the
	// SignedHeaders line; the payload hash line is appended.
	canonical string
	// payloadHash overrides the hash of body in the canonical request.
	payloadHash string
	amzDate     string // default testTime
	service     string // default testService
}

func (c literalCase) request() *http.Request {
	r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
	r.Host = cmp.Or(c.host, testHost)
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	amzDate := cmp.Or(c.amzDate, testTime.Format(amzDateFormat))
	canonical := c.canonical + "\n" + cmp.Or(c.payloadHash, hexSHA256([]byte(c.body)))
	r.Header.Set("Authorization", signLiteral(testKeyID, testSecret, amzDate[:8], testRegion,
		cmp.Or(c.service, testService), c.signedHeaders, canonical, amzDate))
	return r
}

func TestVerifyLiteralCanonicalRequest(t *testing.T) {
	t.Parallel()
	body := `{"DatastoreTypeVersion":"R4"}`
	tests := []literalCase{
		{
			// botocore signs every header except user-agent, expect,
			// transfer-encoding and x-amzn-trace-id, and never content-length
			// for JSON protocols.
			name:   "botocore style control plane",
			method: "POST", target: "/",
			header: map[string]string{
				"Content-Type": "application/x-amz-json-1.0",
				"X-Amz-Target": "HealthLake.CreateFHIRDatastore",
				"X-Amz-Date":   "20240501T120000Z",
				"User-Agent":   "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux",
			},
			body:          body,
			signedHeaders: "content-type;host;x-amz-date;x-amz-target",
			canonical: "POST\n/\n\n" +
				"content-type:application/x-amz-json-1.0\n" +
				"host:" + testHost + "\n" +
				"x-amz-date:20240501T120000Z\n" +
				"x-amz-target:HealthLake.CreateFHIRDatastore\n\n" +
				"content-type;host;x-amz-date;x-amz-target",
		},
		{
			name:   "botocore style with a padded header value",
			method: "POST", target: "/",
			header: map[string]string{
				"Content-Type": "application/x-amz-json-1.0",
				"X-Amz-Target": "HealthLake.ListFHIRImportJobs",
				"X-Amz-Date":   "20240501T120000Z",
				"X-Custom":     "a   b    c",
			},
			body:          `{"DatastoreId":"abc"}`,
			signedHeaders: "content-type;host;x-amz-date;x-amz-target;x-custom",
			canonical: "POST\n/\n\n" +
				"content-type:application/x-amz-json-1.0\n" +
				"host:" + testHost + "\n" +
				"x-amz-date:20240501T120000Z\n" +
				"x-amz-target:HealthLake.ListFHIRImportJobs\n" +
				"x-custom:a b c\n\n" +
				"content-type;host;x-amz-date;x-amz-target;x-custom",
		},
		{
			// curl --aws-sigv4 signs the headers given with -H, User-Agent
			// included, which the SDK signer would drop.
			name:   "curl style with signed user-agent",
			method: "GET", target: "/datastore/abc/r4/Patient?_count=2&name=Smith",
			header: map[string]string{
				"X-Amz-Date": "20240501T120000Z",
				"User-Agent": "fhir-script/1.0",
				"Accept":     "application/fhir+json",
			},
			signedHeaders: "accept;host;user-agent;x-amz-date",
			canonical: "GET\n/datastore/abc/r4/Patient\n_count=2&name=Smith\n" +
				"accept:application/fhir+json\n" +
				"host:" + testHost + "\n" +
				"user-agent:fhir-script/1.0\n" +
				"x-amz-date:20240501T120000Z\n\n" +
				"accept;host;user-agent;x-amz-date",
		},
		{
			name:   "Date header instead of X-Amz-Date",
			method: "GET", target: "/datastore/abc/r4/metadata",
			header:        map[string]string{"Date": "Wed, 01 May 2024 12:00:00 GMT"},
			signedHeaders: "date;host",
			canonical: "GET\n/datastore/abc/r4/metadata\n\n" +
				"date:Wed, 01 May 2024 12:00:00 GMT\n" +
				"host:" + testHost + "\n\n" +
				"date;host",
		},
		{
			// Non-S3 canonical URI: the encoded wire path is encoded again
			// and dot segments are resolved.
			name:   "double-encoded and normalised path",
			method: "GET", target: "/datastore/abc/r4/./Binary/a%20b/$everything?q=%E2%9C%93",
			header:        map[string]string{"X-Amz-Date": "20240501T120000Z"},
			signedHeaders: "host;x-amz-date",
			canonical: "GET\n/datastore/abc/r4/Binary/a%2520b/%24everything\nq=%E2%9C%93\n" +
				"host:" + testHost + "\n" +
				"x-amz-date:20240501T120000Z\n\n" +
				"host;x-amz-date",
		},
		{
			name:   "unsorted query with spaces, colon and pipe",
			method: "GET", target: "/datastore/abc/r4/Observation?date=ge2020-01-01&code=http://loinc.org|1234-5&code=a+b&_count=10",
			header:        map[string]string{"X-Amz-Date": "20240501T120000Z"},
			signedHeaders: "host;x-amz-date",
			canonical: "GET\n/datastore/abc/r4/Observation\n" +
				"_count=10&code=a%20b&code=http%3A%2F%2Floinc.org%7C1234-5&date=ge2020-01-01\n" +
				"host:" + testHost + "\n" +
				"x-amz-date:20240501T120000Z\n\n" +
				"host;x-amz-date",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := testVerifier().Verify(tt.request())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion}
			if got != want {
				t.Errorf("Identity = %+v, want %+v", got, want)
			}
		})
	}
}

// TestVerifyAWSTestSuite checks the get-vanilla and
// get-vanilla-query-order-key-case vectors of the AWS SigV4 test suite.
func TestVerifyAWSTestSuite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target, signature string
	}{
		{"get-vanilla", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", tt.target, nil)
			r.Host = "example.amazonaws.com"
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "+
				"SignedHeaders=host;x-amz-date, Signature="+tt.signature)
			v := NewVerifier(StaticCredentials{testKeyID: {SecretAccessKey: testSecret}}, "service")
			v.Now = func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }
			if _, err := v.Verify(r); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	body := `{"DatastoreId":"abc"}`
	base := sdkRequest{
		method: "POST", target: "/datastore/abc/r4/Patient?_count=10&name=x",
		header: map[string]string{"Content-Type": "application/fhir+json", "X-Amz-Target": "HealthLake.X"},
		body:   body,
	}
	with := func(f func(*sdkRequest)) sdkRequest {
		r := base
		f(&r)
		return r
	}
	// literal builds a request from a hand-written canonical request.
	literal := func(signedHeaders, canonical string) *http.Request {
		return literalCase{method: "GET", target: "/", signedHeaders: signedHeaders, canonical: canonical,
			header: map[string]string{"X-Amz-Date": "20240501T120000Z"}}.request()
	}
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		v    func(*Verifier)
		want Kind
		msg  string // substring of Error.Msg
	}{
		{
			name: "missing Authorization",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Del("Authorization")
				return r
			},
			want: MissingAuth,
			msg:  "Missing Authentication Token",
		},
		{
			name: "other scheme",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("Authorization", "Bearer eyJhbGciOi")
				return r
			},
			want: IncompleteSignature,
			msg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer eyJhbGciOi",
		},
		{
			name: "malformed Authorization",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/20240501/us-east-1/healthlake/aws4_request")
				return r
			},
			want: IncompleteSignature,
			msg: "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization=AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20240501/us-east-1/healthlake/aws4_request",
		},
		{
			name: "no Credential",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 "+a[strings.Index(a, "SignedHeaders="):])
				return r
			},
			want: IncompleteSignature,
			msg:  "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=",
		},
		{
			name: "component without =",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/20240501/us-east-1/healthlake/aws4_request, SignedHeaders, Signature=abc")
				return r
			},
			want: IncompleteSignature,
			msg: "'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header: " +
				"'AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20240501/us-east-1/healthlake/aws4_request, SignedHeaders, Signature=abc'.",
		},
		{
			name: "session token",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.token = "IQoJb3JpZ2luX2VjEXAMPLE==" }))
			},
			want: InvalidToken,
			msg:  "The security token included in the request is invalid.",
		},
		{
			name: "unsigned session token",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("X-Amz-Security-Token", "anything")
				return r
			},
			want: InvalidToken,
			msg:  "The security token included in the request is invalid.",
		},
		{
			name: "two Authorization headers",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Add("Authorization", r.Header.Get("Authorization"))
				return r
			},
			want: BadSignature,
			msg:  "Only one Authorization header",
		},
		{
			name: "unknown key",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.keyID = "AKIDUNKNOWN" }))
			},
			want: UnknownKey,
			msg:  "security token included in the request is invalid",
		},
		{
			name: "nil Credentials",
			req:  func(t *testing.T) *http.Request { return signSDK(t, base) },
			v:    func(v *Verifier) { v.Credentials = nil },
			want: UnknownKey,
			msg:  "security token included in the request is invalid",
		},
		{
			name: "wrong secret",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.secret = "not-the-secret" }))
			},
			want: BadSignature,
			msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key " +
				"and signing method. Consult the service documentation for details.\n\n" +
				"The Canonical String for this request should have been\n'POST\n/datastore/abc/r4/Patient\n_count=10&name=x\n" +
				"content-length:21\ncontent-type:application/fhir+json\nhost:" + testHost + "\nx-amz-date:20240501T120000Z\n" +
				"x-amz-target:HealthLake.X\n\ncontent-length;content-type;host;x-amz-date;x-amz-target\n" +
				hexSHA256([]byte(body)) + "'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240501T120000Z\n" +
				"20240501/us-east-1/healthlake/aws4_request\n",
		},
		{
			name: "stale date",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.at = testTime.Add(-16 * time.Minute) }))
			},
			want: Expired,
			msg:  "Signature expired: 20240501T114400Z is now earlier than 20240501T114500Z (20240501T120000Z - 15 min)",
		},
		{
			name: "future date",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.at = testTime.Add(16 * time.Minute) }))
			},
			want: Expired,
			msg:  "Signature not yet current: 20240501T121600Z is still later than 20240501T121500Z",
		},
		{
			name: "tighter configured skew",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) { r.at = testTime.Add(-2 * time.Minute) }))
			},
			v:    func(v *Verifier) { v.MaxSkew = time.Minute },
			want: Expired,
			msg:  "(20240501T120000Z - 1 min)",
		},
		{
			name: "missing date",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Del("X-Amz-Date")
				return r
			},
			want: IncompleteSignature,
			msg:  "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=",
		},
		{
			name: "missing date and signature",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Del("X-Amz-Date")
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/20240501/us-east-1/healthlake/aws4_request")
				return r
			},
			want: IncompleteSignature,
			msg: "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=",
		},
		{
			name: "malformed X-Amz-Date",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("X-Amz-Date", "2024-05-01T12:00:00Z")
				return r
			},
			want: BadSignature,
			msg:  "ISO 8601 basic format",
		},
		{
			name: "scope date mismatch",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20240501/", "/20240430/", 1))
				return r
			},
			want: BadSignature,
			msg:  "'20240430' != '20240501'",
		},
		{
			name: "wrong service",
			req:  func(t *testing.T) *http.Request { return signSDK(t, with(func(r *sdkRequest) { r.service = "s3" })) },
			want: BadSignature,
			msg:  "scoped to correct service: 'healthlake'",
		},
		{
			name: "tampered body",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "abc", "abd", 1)))
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "tampered query",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "_count=10", "_count=11", 1)
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "added query parameter",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.URL.RawQuery += "&_elements=id"
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "tampered path",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.RequestURI = strings.Replace(r.RequestURI, "Patient", "Practitioner", 1)
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "tampered signed header",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Header.Set("X-Amz-Target", "HealthLake.DeleteFHIRDatastore")
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "tampered host",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Host = "evil.example"
				return r
			},
			want: BadSignature,
			msg:  "signature we calculated does not match",
		},
		{
			name: "X-Amz-Content-Sha256 mismatch",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) {
					r.payloadHash = hexSHA256([]byte("something else"))
					r.header = map[string]string{"X-Amz-Content-Sha256": r.payloadHash}
				}))
			},
			want: BadSignature,
			msg:  "'x-amz-content-sha256' header does not match",
		},
		{
			name: "X-Amz-Content-Sha256 not a hash",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) {
					r.header = map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
				}))
			},
			want: BadSignature,
			msg:  "hex-encoded SHA-256",
		},
		{
			name: "UNSIGNED-PAYLOAD refused by default",
			req: func(t *testing.T) *http.Request {
				return signSDK(t, with(func(r *sdkRequest) {
					r.header = map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}
				}))
			},
			want: BadSignature,
			msg:  "UNSIGNED-PAYLOAD is not accepted",
		},
		{
			name: "unsigned host header",
			req: func(*testing.T) *http.Request {
				return literal("x-amz-date", "GET\n/\n\nx-amz-date:20240501T120000Z\n\nx-amz-date")
			},
			want: BadSignature,
			msg:  "'Host' must be a 'SignedHeader'",
		},
		{
			name: "invalid query escape",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.URL.RawQuery += "&x=%zz"
				return r
			},
			want: BadSignature,
			msg:  "not validly percent-encoded",
		},
		{
			name: "body over limit",
			req:  func(t *testing.T) *http.Request { return signSDK(t, base) },
			v:    func(v *Verifier) { v.MaxBody = int64(len(body)) - 1 },
			want: BodyTooLarge,
			msg:  "not be larger than 20 bytes",
		},
		{
			name: "chunked body over limit",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.ContentLength = -1
				return r
			},
			v:    func(v *Verifier) { v.MaxBody = 8 },
			want: BodyTooLarge,
			msg:  "not be larger than 8 bytes",
		},
		{
			name: "body read times out",
			req: func(t *testing.T) *http.Request {
				r := signSDK(t, base)
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader(body[:5]), errReader{os.ErrDeadlineExceeded}))
				return r
			},
			want: BodyTimeout,
			msg:  "The request body did not arrive in time",
		},
		{
			name: "body over the budget",
			req:  func(t *testing.T) *http.Request { return signSDK(t, base) },
			v:    func(v *Verifier) { v.Budget = newTestBudget(int64(len(body)) - 1) },
			want: Throttled,
			msg:  "Too many request bodies are in flight; retry later",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := testVerifier()
			if tt.v != nil {
				tt.v(v)
			}
			_, err := v.Verify(tt.req(t))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error = %v, want *Error of kind %v", err, tt.want)
			}
			if e.Kind != tt.want {
				t.Errorf("Kind = %v (%s), want %v", e.Kind, e.Msg, tt.want)
			}
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tt.msg)
			}
			if strings.Contains(e.Msg, testSecret) {
				t.Errorf("message leaks the secret: %s", e.Msg)
			}
		})
	}
}

func TestVerifyUnsignedPayloadAllowed(t *testing.T) {
	t.Parallel()
	c, err := http.NewRequest("POST", "http://"+testHost+"/", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
		c, "UNSIGNED-PAYLOAD", testService, testRegion, testTime)
	if err != nil {
		t.Fatal(err)
	}
	v := testVerifier()
	v.AllowUnsignedPayload = true
	if _, err := v.Verify(serverRequest(c, []byte(`{}`))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestMiddleware runs SDK-signed requests through a real HTTP server.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	type result struct {
		id   Identity
		ok   bool
		body string
		err  error
	}
	results := make(chan result, 1)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		b, err := io.ReadAll(r.Body)
		results <- result{id: id, ok: ok, body: string(b), err: err}
	})
	onError := func(w http.ResponseWriter, r *http.Request, err error) {
		results <- result{err: err}
		w.WriteHeader(http.StatusForbidden)
	}
	srv := httptest.NewServer(testVerifier().Middleware(next, onError))
	defer srv.Close()

	tests := []struct {
		name     string
		secret   string
		wantKind Kind
	}{
		{name: "valid signature reaches next"},
		{name: "bad signature goes to onError", secret: "wrong", wantKind: BadSignature},
	}
	for _, tt := range tests { // sequential: one server, one results channel
		t.Run(tt.name, func(t *testing.T) {
			body := `{"resourceType":"Patient"}`
			c, err := http.NewRequest("POST", srv.URL+"/datastore/abc/r4/Patient?_pretty=true", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			c.Header.Set("Content-Type", "application/fhir+json")
			err = v4.NewSigner().SignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: cmp.Or(tt.secret, testSecret)},
				c, hexSHA256([]byte(body)), testService, testRegion, testTime)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(c)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-results
			if tt.wantKind != 0 {
				if KindOf(got.err) != tt.wantKind || got.ok {
					t.Errorf("onError got %v (identity present %v), want kind %v", got.err, got.ok, tt.wantKind)
				}
				return
			}
			want := result{id: Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: testRegion}, ok: true, body: body}
			if got != want {
				t.Errorf("next saw %+v, want %+v", got, want)
			}
		})
	}
}

func TestIdentityContext(t *testing.T) {
	t.Parallel()
	if _, ok := IdentityFrom(context.Background()); ok {
		t.Error("IdentityFrom(empty context) reported an identity")
	}
	want := Identity{AccessKeyID: "AKID", AccountID: testAccount, Region: "us-west-2"}
	got, ok := IdentityFrom(WithIdentity(context.Background(), want))
	if !ok || got != want {
		t.Errorf("IdentityFrom = %+v, %v; want %+v, true", got, ok, want)
	}
}

// BenchmarkVerify measures a typical signed 200-byte control-plane POST.
func BenchmarkVerify(b *testing.B) {
	body := `{"InputDataConfig":{"S3Uri":"s3://bucket/input/"},"JobOutputDataConfig":{"S3Configuration":` +
		`{"S3Uri":"s3://bucket/out/","KmsKeyId":"k"}},"DatastoreId":"abc","DataAccessRoleArn":"arn:aws:iam::1:role/r"}`
	body += strings.Repeat(" ", 200-len(body))
	r := signSDK(b, sdkRequest{method: "POST", target: "/", body: body, header: map[string]string{
		"Content-Type": "application/x-amz-json-1.0",
		"X-Amz-Target": "HealthLake.StartFHIRImportJob",
	}})
	v := testVerifier()
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// testBudget is a Budget that records its peak use.
type testBudget struct {
	mu              sync.Mutex
	limit, used, hi int64
}

func newTestBudget(limit int64) *testBudget { return &testBudget{limit: limit} }

func (b *testBudget) Reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	b.hi = max(b.hi, b.used)
	return true
}

func (b *testBudget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("budget released more than it reserved")
	}
}

func (b *testBudget) state() (used, hi int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.hi
}

// TestVerifyBudget checks that a body's bytes are reserved while it is held and released by
// closing the body, for bodies with and without a Content-Length, and that Body hands the
// verified bytes to the handler without a copy.
func TestVerifyBudget(t *testing.T) {
	t.Parallel()
	body := `{"resourceType":"Patient","text":"` + strings.Repeat("x", 300<<10) + `"}`
	for _, chunked := range []bool{false, true} {
		t.Run(map[bool]string{false: "content-length", true: "chunked"}[chunked], func(t *testing.T) {
			t.Parallel()
			r := signSDK(t, sdkRequest{method: "PUT", target: "/datastore/abc/r4/Patient/p", body: body})
			if chunked {
				r.ContentLength = -1
			}
			b := newTestBudget(1 << 20)
			v := testVerifier()
			v.Budget = b
			if _, err := v.Verify(r); err != nil {
				t.Fatal(err)
			}
			used, hi := b.state()
			if used < int64(len(body)) || used > 2*int64(len(body)) {
				t.Errorf("reserved %d bytes while the %d-byte body is held", used, len(body))
			}
			// The buffer doubles: with a known length it ends at the length, without one
			// it may overshoot, and the old buffer is held while it is copied.
			if peak := map[bool]int64{false: 2, true: 3}[chunked] * int64(len(body)); hi > peak {
				t.Errorf("peak reservation %d bytes for a %d-byte body, want at most %d", hi, len(body), peak)
			}
			got, ok := Body(r)
			if !ok || string(got) != body {
				t.Fatalf("Body = %d bytes, %v", len(got), ok)
			}
			again, _ := io.ReadAll(r.Body)
			if string(again) != body {
				t.Errorf("r.Body reads %d bytes, want the body", len(again))
			}
			r.Body.Close()
			r.Body.Close() // a second close releases nothing more
			if used, _ := b.state(); used != 0 {
				t.Errorf("after Close %d bytes stay reserved", used)
			}
		})
	}
}

// panicReader fails the test if the body is read.
type panicReader struct{ t *testing.T }

func (p panicReader) Read([]byte) (int, error) {
	p.t.Error("the body was read before the signature was checked")
	return 0, io.EOF
}

// TestVerifySignatureBeforeBody checks that with X-Amz-Content-Sha256 the signature is checked
// before the body is read: a caller without the secret cannot make the server buffer a body.
func TestVerifySignatureBeforeBody(t *testing.T) {
	t.Parallel()
	body := `{"resourceType":"Patient"}`
	r := signSDK(t, sdkRequest{method: "POST", target: "/datastore/abc/r4/Patient", body: body, secret: "not-the-secret",
		header: map[string]string{"X-Amz-Content-Sha256": hexSHA256([]byte(body))}})
	r.Body = io.NopCloser(panicReader{t})
	b := newTestBudget(1 << 20)
	v := testVerifier()
	v.Budget = b
	if _, err := v.Verify(r); KindOf(err) != BadSignature {
		t.Fatalf("Verify = %v, want a bad signature", err)
	}
	if _, hi := b.state(); hi != 0 {
		t.Errorf("%d bytes were reserved for a request with a bad signature", hi)
	}
}
