package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/aws/smithy-go"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/store"
)

var amzTime = regexp.MustCompile(`\d{8}T\d{6}Z`)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDatastoreLifecycleWithWaiters(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.DatastoreCreateDelay = time.Second
	ts := start(t, cfg)
	c := ts.client("us-east-1")
	ctx := context.Background()

	out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{
		DatastoreName:        aws.String("lifecycle"),
		DatastoreTypeVersion: types.FHIRVersionR4,
		SseConfiguration: &types.SseConfiguration{KmsEncryptionConfig: &types.KmsEncryptionConfig{
			CmkType: types.CmkTypeCmCmk, KmsKeyId: aws.String("arn:aws:kms:us-east-1:000000000000:key/k1")}},
		PreloadDataConfig: &types.PreloadDataConfig{PreloadDataType: types.PreloadDataTypeSynthea},
		Tags:              []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.DatastoreId)
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("DatastoreId = %q, want 32 lowercase hex chars", id)
	}
	if out.DatastoreStatus != types.DatastoreStatusCreating {
		t.Errorf("status = %s, want CREATING", out.DatastoreStatus)
	}
	wantArn := "arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/" + id
	if aws.ToString(out.DatastoreArn) != wantArn {
		t.Errorf("arn = %s, want %s", aws.ToString(out.DatastoreArn), wantArn)
	}
	if want := ts.URL + "/datastore/" + id + "/r4/"; aws.ToString(out.DatastoreEndpoint) != want {
		t.Errorf("endpoint = %s, want %s", aws.ToString(out.DatastoreEndpoint), want)
	}
	// Deleting while CREATING conflicts.
	_, err = c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: &id})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("delete CREATING: err = %v, want ConflictException", err)
	}
	waitOpt := func(o *healthlake.FHIRDatastoreActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	}
	if err := healthlake.NewFHIRDatastoreActiveWaiter(c, waitOpt).Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeFHIRDatastore(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id})
	if err != nil {
		t.Fatal(err)
	}
	p := d.DatastoreProperties
	if p.DatastoreStatus != types.DatastoreStatusActive || aws.ToString(p.DatastoreName) != "lifecycle" || p.DatastoreTypeVersion != types.FHIRVersionR4 ||
		p.CreatedAt == nil || time.Since(*p.CreatedAt) > time.Minute ||
		aws.ToString(p.SseConfiguration.KmsEncryptionConfig.KmsKeyId) != "arn:aws:kms:us-east-1:000000000000:key/k1" ||
		p.PreloadDataConfig.PreloadDataType != types.PreloadDataTypeSynthea ||
		p.IdentityProviderConfiguration.AuthorizationStrategy != types.AuthorizationStrategyAwsAuth {
		t.Errorf("describe = %+v", p)
	}
	tags, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: &wantArn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	del, err := c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: &id})
	if err != nil || del.DatastoreStatus != types.DatastoreStatusDeleting {
		t.Fatalf("delete = %v, %v", del, err)
	}
	delOpt := func(o *healthlake.FHIRDatastoreDeletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	}
	if err := healthlake.NewFHIRDatastoreDeletedWaiter(c, delOpt).Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{Filter: &types.DatastoreFilter{DatastoreStatus: types.DatastoreStatusDeleted}})
	if err != nil || len(list.DatastorePropertiesList) != 1 {
		t.Fatalf("list DELETED = %v, %v", list, err)
	}
	_, err = c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: &id})
	if !errors.As(err, &conflict) {
		t.Errorf("delete DELETED: err = %v, want ConflictException", err)
	}
}

func TestCreateDatastoreIdempotency(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	in := &healthlake.CreateFHIRDatastoreInput{DatastoreName: aws.String("idem"), DatastoreTypeVersion: types.FHIRVersionR4, ClientToken: aws.String("token-1")}
	a, err := c.CreateFHIRDatastore(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateFHIRDatastore(ctx, in)
	if err != nil || aws.ToString(b.DatastoreId) != aws.ToString(a.DatastoreId) {
		t.Fatalf("replay = %v, %v; want the same store", b, err)
	}
	in.DatastoreName = aws.String("other")
	_, err = c.CreateFHIRDatastore(ctx, in)
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("same token, other input: err = %v, want ValidationException", err)
	}
	list, _ := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{})
	if len(list.DatastorePropertiesList) != 1 {
		t.Fatalf("stores = %d, want 1", len(list.DatastorePropertiesList))
	}
}

func TestListDatastoresFiltersAndPages(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	var ids []string
	for i := 0; i < 7; i++ {
		out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreName: aws.String(fmt.Sprintf("s%d", i%3)), DatastoreTypeVersion: types.FHIRVersionR4})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.DatastoreId)
	}
	seen := map[string]bool{}
	pages := 0
	pg := healthlake.NewListFHIRDatastoresPaginator(c, &healthlake.ListFHIRDatastoresInput{MaxResults: aws.Int32(3)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range out.DatastorePropertiesList {
			if seen[*d.DatastoreId] {
				t.Errorf("duplicate %s", *d.DatastoreId)
			}
			seen[*d.DatastoreId] = true
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Errorf("saw %d stores in %d pages, want 7 in 3", len(seen), pages)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("store %s not listed", id)
		}
	}
	out, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{Filter: &types.DatastoreFilter{DatastoreName: aws.String("s1")}})
	if err != nil || len(out.DatastorePropertiesList) != 2 {
		t.Errorf("name filter: %d, %v; want 2", len(out.DatastorePropertiesList), err)
	}
	future := time.Now().Add(time.Hour)
	out, err = c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{Filter: &types.DatastoreFilter{CreatedAfter: &future}})
	if err != nil || len(out.DatastorePropertiesList) != 0 || out.NextToken != nil {
		t.Errorf("created after future: %v, %v", out, err)
	}
	out, err = c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{Filter: &types.DatastoreFilter{CreatedBefore: &future, DatastoreStatus: types.DatastoreStatusActive}})
	if err != nil || len(out.DatastorePropertiesList) != 7 {
		t.Errorf("created before future: %d, %v", len(out.DatastorePropertiesList), err)
	}
	// A token is bound to its filters.
	first, _ := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{MaxResults: aws.Int32(2)})
	_, err = c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{NextToken: first.NextToken, Filter: &types.DatastoreFilter{DatastoreName: aws.String("s1")}})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("token with other filter: %v, want ValidationException", err)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	id := createActive(t, c, "tags")
	arn := "arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/" + id
	if _, err := c.TagResource(ctx, &healthlake.TagResourceInput{ResourceARN: &arn, Tags: []types.Tag{
		{Key: aws.String("b"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &healthlake.TagResourceInput{ResourceARN: &arn, Tags: []types.Tag{{Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &healthlake.UntagResourceInput{ResourceARN: &arn, TagKeys: []string{"a", "absent"}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: &arn})
	if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "2" {
		t.Fatalf("tags = %+v, %v", out, err)
	}
	var nf *types.ResourceNotFoundException
	missing := "arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/" + strings.Repeat("0", 32)
	if _, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: &missing}); !errors.As(err, &nf) {
		t.Errorf("unknown store: %v, want ResourceNotFoundException", err)
	}
	otherAcct := "arn:aws:healthlake:us-east-1:999999999999:datastore/fhir/" + id
	if _, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: &otherAcct}); !errors.As(err, &nf) {
		t.Errorf("other account ARN: %v, want ResourceNotFoundException", err)
	}
	var ve *types.ValidationException
	short := "arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/abc"
	if _, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: &short}); !errors.As(err, &ve) {
		t.Errorf("malformed ARN: %v, want ValidationException", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	mine := ts.client("us-east-1")
	id := createActive(t, mine, "mine")
	for name, c := range map[string]*healthlake.Client{
		"other account": ts.ClientAs(otherKey, otherSecret, "us-east-1"),
		"other region":  ts.client("eu-west-1"),
	} {
		_, err := c.DescribeFHIRDatastore(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("%s describe: %v, want ResourceNotFoundException", name, err)
		}
		list, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{})
		if err != nil || len(list.DatastorePropertiesList) != 0 {
			t.Errorf("%s list: %v, %v", name, list, err)
		}
		_, err = c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &id})
		if !errors.As(err, &nf) {
			t.Errorf("%s list jobs: %v, want ResourceNotFoundException", name, err)
		}
		_, err = c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: &id})
		if !errors.As(err, &nf) {
			t.Errorf("%s delete: %v, want ResourceNotFoundException", name, err)
		}
	}
}

func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	ts := start(t, cfg)
	id := createActive(t, ts.client("us-east-1"), "durable")
	ts.Stop()
	ts2 := start(t, cfg)
	d, err := ts2.client("us-east-1").DescribeFHIRDatastore(context.Background(), &healthlake.DescribeFHIRDatastoreInput{DatastoreId: &id})
	if err != nil || aws.ToString(d.DatastoreProperties.DatastoreName) != "durable" {
		t.Fatalf("after restart: %v, %v", d, err)
	}
}

// rawCall sends a signed AWS JSON request and returns the response; sign mutates the signing.
func rawCall(t *testing.T, url, target, body string, prep func(r *http.Request), sign func(r *http.Request) error) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if prep != nil {
		prep(req)
	}
	if sign != nil {
		if err := sign(req); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func signer(key, secret string, at time.Time, body string) func(r *http.Request) error {
	return func(r *http.Request) error {
		sum := sha256.Sum256([]byte(body))
		return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			r, hex.EncodeToString(sum[:]), "healthlake", "us-east-1", at)
	}
}

// TestWireErrors checks exact error responses (status, x-amzn-ErrorType, body) against golden files.
func TestWireErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	good := func(body string) func(*http.Request) error {
		return signer(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, time.Now(), body)
	}
	cases := []struct {
		name, target, body string
		prep               func(*http.Request)
		sign               func(string) func(*http.Request) error
		status             int
	}{
		{name: "unknown_operation", target: "HealthLake.DoSomething", body: `{}`, sign: good, status: 400},
		{name: "wrong_prefix", target: "S3.ListBuckets", body: `{}`, sign: good, status: 400},
		{name: "not_an_object", target: "HealthLake.ListFHIRDatastores", body: `[1,2]`, sign: good, status: 400},
		{name: "bad_json", target: "HealthLake.ListFHIRDatastores", body: `{"Filter":`, sign: good, status: 400},
		{name: "wrong_kind", target: "HealthLake.ListFHIRDatastores", body: `{"MaxResults":"ten"}`, sign: good, status: 400},
		{name: "case_duplicate", target: "HealthLake.DescribeFHIRDatastore", body: `{"DatastoreId":"abc","datastoreid":"x!"}`, sign: good, status: 400},
		{name: "validation_max_results", target: "HealthLake.ListFHIRDatastores", body: `{"MaxResults":0}`, sign: good, status: 400},
		{name: "validation_required", target: "HealthLake.DescribeFHIRDatastore", body: `{}`, sign: good, status: 400},
		{name: "not_found", target: "HealthLake.DescribeFHIRDatastore", body: `{"DatastoreId":"00000000000000000000000000000000"}`, sign: good, status: 404},
		{name: "missing_auth", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 403},
		{name: "unknown_key", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 403,
			sign: func(b string) func(*http.Request) error { return signer("NOSUCHKEY", "x", time.Now(), b) }},
		{name: "wrong_secret", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 403,
			sign: func(b string) func(*http.Request) error {
				return signer(config.DefaultAccessKeyID, "wrong", time.Now(), b)
			}},
		{name: "stale_date", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 403,
			sign: func(b string) func(*http.Request) error {
				return signer(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, time.Now().Add(-20*time.Minute), b)
			}},
		{name: "tampered_body", target: "HealthLake.ListFHIRDatastores", body: `{"MaxResults":5}`, status: 403,
			sign: func(string) func(*http.Request) error { return good(`{"MaxResults":6}`) }},
		{name: "missing_date_header", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 400,
			sign: func(b string) func(*http.Request) error {
				return func(r *http.Request) error {
					if err := good(b)(r); err != nil {
						return err
					}
					r.Header.Del("X-Amz-Date")
					return nil
				}
			}},
		{name: "incomplete_no_signature", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 400,
			sign: func(b string) func(*http.Request) error { return editAuth(good(b), dropComponent("Signature")) }},
		{name: "incomplete_no_credential", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 400,
			sign: func(b string) func(*http.Request) error { return editAuth(good(b), dropComponent("Credential")) }},
		{name: "incomplete_other_scheme", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 400,
			prep: func(r *http.Request) { r.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9") }},
		{name: "incomplete_not_key_value", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 400,
			sign: func(b string) func(*http.Request) error {
				return editAuth(good(b), func(a string) string { return strings.Replace(a, "SignedHeaders=", "SignedHeaders ", 1) })
			}},
		{name: "session_token", target: "HealthLake.ListFHIRDatastores", body: `{}`, status: 403,
			sign: func(b string) func(*http.Request) error {
				return func(r *http.Request) error {
					sum := sha256.Sum256([]byte(b))
					return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: config.DefaultAccessKeyID,
						SecretAccessKey: config.DefaultSecretAccessKey, SessionToken: "IQoJb3JpZ2luX2VjEXAMPLE=="},
						r, hex.EncodeToString(sum[:]), "healthlake", "us-east-1", time.Now())
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sign func(*http.Request) error
			if tc.sign != nil {
				sign = tc.sign(tc.body)
			}
			resp := rawCall(t, ts.URL, tc.target, tc.body, tc.prep, sign)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			var typ struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(body, &typ); err != nil || typ.Type == "" || resp.Header.Get("X-Amzn-ErrorType") != typ.Type {
				t.Errorf("__type %q vs header %q (%v)", typ.Type, resp.Header.Get("X-Amzn-ErrorType"), err)
			}
			if resp.Header.Get("X-Amzn-RequestId") == "" || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
				t.Errorf("headers = %v", resp.Header)
			}
			stable := stableMessage(body)
			golden(t, filepath.Join("testdata", "errors", tc.name+".golden"), fmt.Sprintf("%d %s\n%s\n", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), stable))
		})
	}
}

// Parts of error messages that vary from run to run: times and dates (of expired signatures,
// of the canonical request and credential scope), the loopback port, and hashes and signatures.
var (
	scopeDate = regexp.MustCompile(`\d{8}/`)
	loopback  = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	hash256   = regexp.MustCompile(`[0-9a-f]{64}`)
)

// stableMessage replaces what varies between runs in an error body.
func stableMessage(body []byte) []byte {
	body = amzTime.ReplaceAll(body, []byte("<time>"))
	body = scopeDate.ReplaceAll(body, []byte("<date>/"))
	body = loopback.ReplaceAll(body, []byte("<host>"))
	return hash256.ReplaceAll(body, []byte("<sha256>"))
}

// editAuth signs with sign, then rewrites the Authorization header with edit.
func editAuth(sign func(*http.Request) error, edit func(string) string) func(*http.Request) error {
	return func(r *http.Request) error {
		if err := sign(r); err != nil {
			return err
		}
		r.Header.Set("Authorization", edit(r.Header.Get("Authorization")))
		return nil
	}
}

// dropComponent removes one "Name=value" component from an Authorization header.
func dropComponent(name string) func(string) string {
	return func(a string) string {
		scheme, rest, _ := strings.Cut(a, " ")
		var keep []string
		for _, part := range strings.Split(rest, ", ") {
			if !strings.HasPrefix(part, name+"=") {
				keep = append(keep, part)
			}
		}
		return scheme + " " + strings.Join(keep, ", ")
	}
}

// golden compares got with a golden file, rewriting it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s:\ngot  %s\nwant %s", path, got, want)
	}
}

// TestSDKErrorTypes checks that the Go SDK surfaces each modeled error as its typed exception.
func TestSDKErrorTypes(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	_, err := c.DescribeFHIRDatastore(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("not found: %v", err)
	}
	_, err = c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{MaxResults: aws.Int32(501)})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "maxResults") {
		t.Errorf("validation: %v", err)
	}
	bad := ts.ClientAs(config.DefaultAccessKeyID, "wrong", "us-east-1")
	_, err = bad.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("bad signature: %v", err)
	}
}

// TestPreloadSynthea: a store created with PreloadDataType SYNTHEA stays CREATING until the bundled
// sample is loaded and indexed, then becomes ACTIVE holding it.
func TestPreloadSynthea(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
		PreloadDataConfig: &types.PreloadDataConfig{PreloadDataType: types.PreloadDataTypeSynthea}})
	if err != nil {
		t.Fatal(err)
	}
	w := healthlake.NewFHIRDatastoreActiveWaiter(c, func(o *healthlake.FHIRDatastoreActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: out.DatastoreId}, time.Minute); err != nil {
		t.Fatal(err)
	}
	counts, err := ts.Srv.Store().ResourceCount(ctx, *out.DatastoreId)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	if total != 820 || counts["Patient"] != 3 {
		t.Fatalf("preloaded %d resources (%v), want 820 with 3 patients", total, counts)
	}
	res, err := ts.Srv.Store().ResourceSearch(ctx, store.SearchQuery{DatastoreID: *out.DatastoreId, Type: "Patient", CountOnly: true,
		Where: [][]store.SearchPredicate{{{Param: "gender", Kind: store.IndexToken, AnySystem: true, Code: "male"}, {Param: "gender", Kind: store.IndexToken, AnySystem: true, Code: "female"}}}})
	if err != nil || res.Total != 3 {
		t.Errorf("indexed patients by gender = %d, %v; want 3", res.Total, err)
	}
}
