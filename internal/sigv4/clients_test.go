package sigv4

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// TestVerifyBotocore signs requests with botocore's SigV4Auth in a python3
// subprocess (one for all cases) and verifies them. It skips when python3 or
// botocore is not available.
func TestVerifyBotocore(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts python3; skipped with -short")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	type spec struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Params  [][2]string       `json:"params,omitempty"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers,omitempty"`
		Key     string            `json:"key"`
		Secret  string            `json:"secret"`
		Token   string            `json:"token,omitempty"`
		Service string            `json:"service"`
		Region  string            `json:"region"`
	}
	base := "http://" + testHost
	tests := []struct {
		name string
		spec spec
		// wantKind and wantMsg, when set, are how the request is refused.
		wantKind Kind
		wantMsg  string
	}{
		{
			name: "control plane POST",
			spec: spec{Method: "POST", URL: base + "/", Body: `{"DatastoreTypeVersion":"R4"}`, Headers: map[string]string{
				"Content-Type": "application/x-amz-json-1.0",
				"X-Amz-Target": "HealthLake.CreateFHIRDatastore",
				"User-Agent":   "Boto3/1.43.11 md/Botocore#1.43.11",
			}},
		},
		{
			name: "region",
			spec: spec{Method: "POST", URL: base + "/", Body: `{}`, Region: "ap-southeast-2",
				Headers: map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "HealthLake.ListFHIRDatastores"}},
		},
		{
			// Static credentials only: a session token is refused as AWS refuses an unknown one.
			name: "session token",
			spec: spec{Method: "POST", URL: base + "/", Body: `{}`, Token: "IQoJb3JpZ2luX2VjEXAMPLE==",
				Headers: map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "HealthLake.ListFHIRDatastores"}},
			wantKind: InvalidToken, wantMsg: "The security token included in the request is invalid.",
		},
		{
			// botocore signs a query typed into the URL as it is; the canonical query encodes
			// '|', ':' and '/', and the refusal shows the canonical request that was expected.
			name:     "raw reserved characters in the URL's query",
			spec:     spec{Method: "GET", URL: base + "/datastore/abc/r4/Observation?code=http://loinc.org|1234-5"},
			wantKind: BadSignature,
			wantMsg: "The Canonical String for this request should have been\n'GET\n/datastore/abc/r4/Observation\n" +
				"code=http%3A%2F%2Floinc.org%7C1234-5\n",
		},
		{
			name: "search with params",
			spec: spec{Method: "GET", URL: base + "/datastore/abc/r4/Observation", Params: [][2]string{
				{"code", "http://loinc.org|1234-5"}, {"date", "ge2020-01-01"}, {"date", "le2021-01-01"}, {"_count", "10"}, {"name", "a b"},
			}},
		},
		{
			name: "unsorted encoded query in the URL",
			spec: spec{Method: "GET", URL: base + "/datastore/abc/r4/Observation?date=ge2020-01-01&code=http%3A%2F%2Floinc.org%7C1234-5&_count=10"},
		},
		{
			name: "export operation",
			spec: spec{Method: "POST", URL: base + "/datastore/abc/r4/Patient/$export", Body: `{}`,
				Headers: map[string]string{"Content-Type": "application/fhir+json", "Prefer": "respond-async"}},
		},
	}
	specs := make([]spec, len(tests))
	for i, tt := range tests {
		s := tt.spec
		s.Key, s.Secret, s.Service = testKeyID, testSecret, testService
		if s.Region == "" {
			s.Region = testRegion
		}
		specs[i] = s
	}
	in, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/botocore_sign.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && exit.ExitCode() == 3 {
		t.Skipf("botocore: %s", strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		t.Fatalf("botocore_sign.py: %v\n%s", err, stderr.String())
	}
	var signed []struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(out, &signed); err != nil || len(signed) != len(tests) {
		t.Fatalf("botocore_sign.py output %q: %v", out, err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := strings.TrimPrefix(signed[i].URL, base)
			r := httptest.NewRequest(tt.spec.Method, target, strings.NewReader(tt.spec.Body))
			r.Host = testHost
			for k, v := range signed[i].Headers {
				r.Header.Set(k, v)
			}
			v := testVerifier()
			v.Now = nil // botocore signed with the real clock
			got, err := v.Verify(r)
			if tt.wantKind != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Kind != tt.wantKind || !strings.Contains(e.Msg, tt.wantMsg) {
					t.Fatalf("Verify %s %s = %v, want kind %v with %q", tt.spec.Method, target, err, tt.wantKind, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify %s %s (Authorization %s): %v", tt.spec.Method, target, r.Header.Get("Authorization"), err)
			}
			want := Identity{AccessKeyID: testKeyID, AccountID: testAccount, Region: specs[i].Region}
			if got != want {
				t.Errorf("Identity = %+v, want %+v", got, want)
			}
		})
	}
}

// TestVerifyCurl sends requests with curl --aws-sigv4 to a server behind the
// middleware. It skips when curl is missing or too old for --aws-sigv4.
//
// Paths stay within the unreserved set and queries are already sorted:
// curl before 8.x signs the raw path and query (no second encoding of "$" in
// "$export", no sorting), which AWS and this package reject alike.
func TestVerifyCurl(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts curl; skipped with -short")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not on PATH")
	}
	if help, _ := exec.Command(curl, "--help", "all").Output(); !bytes.Contains(help, []byte("--aws-sigv4")) {
		t.Skip("curl has no --aws-sigv4")
	}
	v := testVerifier()
	v.Now = nil
	srv := httptest.NewServer(v.Middleware(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := IdentityFrom(r.Context())
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, id.AccountID+" "+id.Region+" "+string(b))
		}),
		func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, err.Error())
		}))
	t.Cleanup(srv.Close) // after the parallel subtests

	tests := []struct {
		name string
		args []string
		path string
		want string
	}{
		{
			name: "POST with signed user-agent",
			args: []string{"-H", "Content-Type: application/fhir+json", "-H", "User-Agent: fhir-script/1.0", "--data-binary", `{"resourceType":"Patient"}`},
			path: "/datastore/abc/r4/Patient",
			want: testAccount + " " + testRegion + ` {"resourceType":"Patient"}`,
		},
		{
			name: "GET with query",
			path: "/datastore/abc/r4/Patient?_count=10&a=b",
			want: testAccount + " " + testRegion + " ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-sS", "--aws-sigv4", "aws:amz:" + testRegion + ":" + testService,
				"--user", testKeyID + ":" + testSecret}, tt.args...)
			out, err := exec.Command(curl, append(args, srv.URL+tt.path)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			if string(out) != tt.want {
				t.Errorf("response = %q, want %q", out, tt.want)
			}
		})
	}
}
