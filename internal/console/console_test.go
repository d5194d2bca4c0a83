package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/healthlake"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server/servertest"
)

// browser is an HTTP client with a cookie jar that never follows redirects, signed in or not.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// signIn posts the sign-in form and returns the response.
func (b *browser) signIn(key, secret, region string) *http.Response {
	b.t.Helper()
	form := url.Values{"access_key_id": {key}, "secret_access_key": {secret}, "region": {region}}
	resp, _ := b.do(http.MethodPost, "/console/login", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	return resp
}

// mustSignIn signs in and reads the CSRF token.
func (b *browser) mustSignIn(key, secret string) {
	b.t.Helper()
	resp := b.signIn(key, secret, "us-east-1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		b.t.Fatalf("sign-in = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := b.do(http.MethodGet, "/console/api/session", nil, nil)
	var s struct{ CSRFToken string }
	json.Unmarshal([]byte(body), &s)
	if s.CSRFToken == "" {
		b.t.Fatalf("session = %s", body)
	}
	b.csrf = s.CSRFToken
}

// hl calls a HealthLake operation through the console.
func (b *browser) hl(op, body string, extra map[string]string) (int, string) {
	b.t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "HealthLake." + op, "X-CSRF-Token": b.csrf}
	for k, v := range extra {
		hdr[k] = v
	}
	resp, out := b.do(http.MethodPost, "/console/api/healthlake", strings.NewReader(body), hdr)
	return resp.StatusCode, out
}

func TestRefusedWithoutSession(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, servertest.NewConfig(t))
	b := newBrowser(t, ts.URL)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/console/", http.StatusSeeOther},
		{"GET", "/console/assets/app.js", http.StatusUnauthorized},
		{"GET", "/console/api/session", http.StatusUnauthorized},
		{"POST", "/console/api/healthlake", http.StatusUnauthorized},
		{"GET", "/console/api/fhir/0123456789abcdef0123456789abcdef/r4/Patient", http.StatusUnauthorized},
		{"GET", "/console/api/s3/buckets", http.StatusUnauthorized},
		{"PUT", "/console/api/s3/object?bucket=b&key=k", http.StatusUnauthorized},
		{"POST", "/console/logout", http.StatusUnauthorized},
		// What the sign-in page needs is public.
		{"GET", "/console/login", http.StatusOK},
		{"GET", "/console/assets/login.js", http.StatusOK},
		{"GET", "/console/assets/style.css", http.StatusOK},
		{"GET", "/console", http.StatusMovedPermanently},
	} {
		resp, body := b.do(tc.method, tc.path, strings.NewReader("{}"), nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.want, body)
		}
		if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(body, `"NotSignedIn"`) {
			t.Errorf("%s %s body = %s", tc.method, tc.path, body)
		}
	}
	resp, body := b.do("GET", "/console/login", nil, nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if !strings.Contains(body, `action="/console/login"`) {
		t.Errorf("login page = %.200s", body)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, servertest.NewConfig(t))
	for _, tc := range []struct{ key, secret, region, failed string }{
		{config.DefaultAccessKeyID, "wrong", "us-east-1", "credentials"},
		{"NOSUCHKEY", config.DefaultSecretAccessKey, "us-east-1", "credentials"},
		{config.DefaultAccessKeyID, "", "us-east-1", "credentials"},
		{config.DefaultAccessKeyID, config.DefaultSecretAccessKey, "moon-base", "region"},
	} {
		b := newBrowser(t, ts.URL)
		resp := b.signIn(tc.key, tc.secret, tc.region)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login?failed="+tc.failed || len(resp.Cookies()) != 0 {
			t.Errorf("%+v: %d to %q, cookies %v", tc, resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
		}
	}
	b := newBrowser(t, ts.URL)
	resp := b.signIn(servertest.OtherKey, servertest.OtherSecret, "eu-west-1")
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies = %v", cs)
	}
	if c := cs[0]; !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console/" || len(c.Value) < 40 {
		t.Errorf("session cookie = %+v", c)
	}
	_, body := b.do(http.MethodGet, "/console/api/session", nil, nil)
	var s map[string]any
	json.Unmarshal([]byte(body), &s)
	if s["accountId"] != servertest.OtherAccount || s["region"] != "eu-west-1" || s["accessKeyId"] != servertest.OtherKey || s["csrfToken"] == "" {
		t.Errorf("session = %s", body)
	}
	if resp, body := b.do(http.MethodGet, "/console/", nil, nil); resp.StatusCode != 200 || !strings.Contains(body, "/console/assets/app.js") {
		t.Errorf("console page = %d %.100s", resp.StatusCode, body)
	}
	// Sign-in is a form post: a cross-origin one is refused before credentials are looked at.
	form := url.Values{"access_key_id": {config.DefaultAccessKeyID}, "secret_access_key": {config.DefaultSecretAccessKey}}
	resp, _ = newBrowser(t, ts.URL).do(http.MethodPost, "/console/login", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site sign-in = %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

// TestCSRFRefused: a state-changing request needs the session's token and the console's origin.
func TestCSRFRefused(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, servertest.NewConfig(t))
	b := newBrowser(t, ts.URL)
	b.mustSignIn(config.DefaultAccessKeyID, config.DefaultSecretAccessKey)
	create := `{"DatastoreTypeVersion":"R4","DatastoreName":"csrf"}`
	token := b.csrf
	for _, tc := range []struct {
		name  string
		csrf  string
		extra map[string]string
		want  string
	}{
		{"no token", "", nil, "InvalidCSRFToken"},
		{"wrong token", token + "x", nil, "InvalidCSRFToken"},
		{"cross-site", token, map[string]string{"Sec-Fetch-Site": "cross-site"}, "CrossOriginRequest"},
		{"other origin", token, map[string]string{"Origin": "http://evil.example"}, "CrossOriginRequest"},
	} {
		b.csrf = tc.csrf
		code, body := b.hl("CreateFHIRDatastore", create, tc.extra)
		if code != http.StatusForbidden || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 403 %s", tc.name, code, body, tc.want)
		}
	}
	b.csrf = token
	list, err := ts.ClientAs(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, "us-east-1").ListFHIRDatastores(context.Background(), &healthlake.ListFHIRDatastoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.DatastorePropertiesList) != 0 {
		t.Fatalf("a refused request created %d data stores", len(list.DatastorePropertiesList))
	}
	// With the token, from the same origin, it works; and it is the control plane's own answer.
	if code, body := b.hl("CreateFHIRDatastore", create, map[string]string{"Sec-Fetch-Site": "same-origin"}); code != 200 || !strings.Contains(body, `"DatastoreStatus":"CREATING"`) {
		t.Errorf("create = %d %s", code, body)
	}
	if code, body := b.hl("CreateFHIRDatastore", `{"DatastoreTypeVersion":"R5"}`, nil); code != 400 || !strings.Contains(body, `"__type":"ValidationException"`) || !strings.Contains(body, "datastoreTypeVersion") {
		t.Errorf("invalid create = %d %s", code, body)
	}
	if code, body := b.hl("NoSuchOperation", `{}`, nil); code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Errorf("unknown operation = %d %s", code, body)
	}
	// Signing out ends the session.
	if resp, _ := b.do(http.MethodPost, "/console/logout", nil, map[string]string{"X-CSRF-Token": token}); resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout = %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout = %d", resp.StatusCode)
	}
}

// TestTenantsApart: the console shows a signed-in account its own data stores only, and its
// FHIR pass-through refuses another account's store.
func TestTenantsApart(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, servertest.NewConfig(t))
	mine := servertest.CreateActive(t, ts.ClientAs(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, "us-east-1"), "mine")
	other := newBrowser(t, ts.URL)
	other.mustSignIn(servertest.OtherKey, servertest.OtherSecret)
	code, body := other.hl("ListFHIRDatastores", `{}`, nil)
	if code != 200 || strings.Contains(body, *mine.DatastoreId) {
		t.Errorf("other account's list = %d %s", code, body)
	}
	if code, body := other.hl("DescribeFHIRDatastore", `{"DatastoreId":"`+*mine.DatastoreId+`"}`, nil); code != 404 || !strings.Contains(body, "ResourceNotFoundException") {
		t.Errorf("other account's describe = %d %s", code, body)
	}
	resp, body := other.do(http.MethodGet, "/console/api/fhir/"+*mine.DatastoreId+"/r4/Patient", nil, nil)
	if resp.StatusCode != 404 || !strings.Contains(body, "OperationOutcome") {
		t.Errorf("other account's search = %d %s", resp.StatusCode, body)
	}
	owner := newBrowser(t, ts.URL)
	owner.mustSignIn(config.DefaultAccessKeyID, config.DefaultSecretAccessKey)
	put, _ := owner.do(http.MethodPut, "/console/api/fhir/"+*mine.DatastoreId+"/r4/Patient/p1",
		strings.NewReader(`{"resourceType":"Patient","id":"p1","gender":"female"}`),
		map[string]string{"Content-Type": "application/fhir+json", "X-CSRF-Token": owner.csrf})
	if put.StatusCode != 201 {
		t.Errorf("owner's create = %d", put.StatusCode)
	}
	resp, body = owner.do(http.MethodGet, "/console/api/fhir/"+*mine.DatastoreId+"/r4/Patient?gender=female", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"id":"p1"`) || !strings.Contains(body, `"searchset"`) {
		t.Errorf("owner's search = %d %s", resp.StatusCode, body)
	}
}

func TestObjects(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, servertest.NewConfig(t))
	b := newBrowser(t, ts.URL)
	b.mustSignIn(config.DefaultAccessKeyID, config.DefaultSecretAccessKey)
	csrf := map[string]string{"X-CSRF-Token": b.csrf}
	if resp, body := b.do(http.MethodPost, "/console/api/s3/buckets", strings.NewReader(`{"name":"in-bucket"}`), csrf); resp.StatusCode != 201 {
		t.Fatalf("create bucket = %d %s", resp.StatusCode, body)
	}
	if resp, body := b.do(http.MethodPost, "/console/api/s3/buckets", strings.NewReader(`{"name":"Bad_Name"}`), csrf); resp.StatusCode != 400 || !strings.Contains(body, "InvalidBucketName") {
		t.Errorf("bad bucket = %d %s", resp.StatusCode, body)
	}
	for key, data := range map[string]string{
		"a/one.ndjson": "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", "a/two.ndjson": "x\n", "a/sub/three.ndjson": "y\n", "top.txt": "z",
	} {
		if resp, body := b.do(http.MethodPut, "/console/api/s3/object?"+url.Values{"bucket": {"in-bucket"}, "key": {key}}.Encode(), strings.NewReader(data), csrf); resp.StatusCode != 201 {
			t.Fatalf("put %s = %d %s", key, resp.StatusCode, body)
		}
	}
	if resp, body := b.do(http.MethodPut, "/console/api/s3/object?bucket=in-bucket&key=a/../x", strings.NewReader("x"), csrf); resp.StatusCode != 400 || !strings.Contains(body, "InvalidKey") {
		t.Errorf("bad key = %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do(http.MethodPut, "/console/api/s3/object?bucket=in-bucket&key=k", strings.NewReader("x"), nil); resp.StatusCode != 403 {
		t.Errorf("upload without CSRF token = %d", resp.StatusCode)
	}
	_, body := b.do(http.MethodGet, "/console/api/s3/buckets", nil, nil)
	if body != `{"buckets":["in-bucket"]}` {
		t.Errorf("buckets = %s", body)
	}
	type page struct {
		Objects []struct {
			Key  string
			Size int64
		}
		Prefixes []string
		Next     string
	}
	list := func(q string) page {
		_, body := b.do(http.MethodGet, "/console/api/s3/objects?"+q, nil, nil)
		var p page
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("list %s: %s", q, body)
		}
		return p
	}
	p := list("bucket=in-bucket&prefix=a/&delimiter=/")
	if len(p.Prefixes) != 1 || p.Prefixes[0] != "a/sub/" || len(p.Objects) != 2 || p.Objects[0].Key != "a/one.ndjson" || p.Objects[0].Size != 24 || p.Next != "" {
		t.Errorf("delimited listing = %+v", p)
	}
	// Pages of one entry walk the same listing, a common prefix counting as one entry.
	var seen []string
	after := ""
	for i := 0; i < 10; i++ {
		p := list("bucket=in-bucket&delimiter=/&max=1&after=" + url.QueryEscape(after))
		for _, o := range p.Objects {
			seen = append(seen, o.Key)
		}
		seen = append(seen, p.Prefixes...)
		if after = p.Next; after == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "a/,top.txt" {
		t.Errorf("paged listing = %v", seen)
	}
	var lines struct {
		Lines []struct {
			Offset int64
			Text   string
		}
		Next *int64
	}
	_, body = b.do(http.MethodGet, "/console/api/s3/lines?bucket=in-bucket&key=a/one.ndjson&max=2", nil, nil)
	json.Unmarshal([]byte(body), &lines)
	if len(lines.Lines) != 2 || lines.Lines[1].Text != `{"n":2}` || lines.Lines[1].Offset != 8 || lines.Next == nil || *lines.Next != 16 {
		t.Errorf("lines = %s", body)
	}
	_, body = b.do(http.MethodGet, "/console/api/s3/lines?bucket=in-bucket&key=a/one.ndjson&offset=16", nil, nil)
	if body != `{"lines":[{"offset":16,"text":"{\"n\":3}"}]}` {
		t.Errorf("last lines = %s", body)
	}
	_, body = b.do(http.MethodGet, "/console/api/s3/usage?uri=s3://in-bucket/a", nil, nil)
	if body != `{"bytes":28,"complete":true,"objects":3}` {
		t.Errorf("usage = %s", body)
	}
	resp, body := b.do(http.MethodGet, "/console/api/s3/object?bucket=in-bucket&key=top.txt", nil, nil)
	if resp.StatusCode != 200 || body != "z" || resp.Header.Get("Content-Security-Policy") != "sandbox" || resp.Header.Get("Content-Disposition") != "attachment" {
		t.Errorf("object = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := b.do(http.MethodGet, "/console/api/s3/object?bucket=in-bucket&key=nope", nil, nil); resp.StatusCode != 404 || !strings.Contains(body, "NoSuchKey") {
		t.Errorf("missing object = %d %s", resp.StatusCode, body)
	}
	if resp, body := b.do(http.MethodGet, "/console/api/s3/objects?bucket=no-bucket", nil, nil); resp.StatusCode != 404 || !strings.Contains(body, "NoSuchBucket") {
		t.Errorf("missing bucket = %d %s", resp.StatusCode, body)
	}

	// Another account sees none of it and reaches none of it.
	other := newBrowser(t, ts.URL)
	other.mustSignIn(servertest.OtherKey, servertest.OtherSecret)
	ocsrf := map[string]string{"X-CSRF-Token": other.csrf}
	if _, body := other.do(http.MethodGet, "/console/api/s3/buckets", nil, nil); body != `{"buckets":[]}` {
		t.Errorf("other account's buckets = %s", body)
	}
	for _, tc := range []struct {
		method, path string
		want         int
		code         string
	}{
		{"GET", "/console/api/s3/objects?bucket=in-bucket", 403, "AccessDenied"},
		{"GET", "/console/api/s3/object?bucket=in-bucket&key=top.txt", 403, "AccessDenied"},
		{"GET", "/console/api/s3/lines?bucket=in-bucket&key=a/one.ndjson", 403, "AccessDenied"},
		{"GET", "/console/api/s3/usage?uri=s3://in-bucket/a", 403, "AccessDenied"},
		{"PUT", "/console/api/s3/object?bucket=in-bucket&key=planted", 403, "AccessDenied"},
		{"POST", "/console/api/s3/buckets", 409, "BucketAlreadyExists"},
	} {
		resp, body := other.do(tc.method, tc.path, strings.NewReader(`{"name":"in-bucket"}`), ocsrf)
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.code) {
			t.Errorf("other account %s %s = %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.want, tc.code)
		}
	}
	if resp, body := b.do(http.MethodPost, "/console/api/s3/buckets", strings.NewReader(`{"name":"in-bucket"}`), csrf); resp.StatusCode != 409 || !strings.Contains(body, "BucketAlreadyOwnedByYou") {
		t.Errorf("re-create own bucket = %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do(http.MethodGet, "/console/api/s3/object?bucket=in-bucket&key=planted", nil, nil); resp.StatusCode != 404 {
		t.Errorf("the other account's refused upload left an object: %d", resp.StatusCode)
	}
}
