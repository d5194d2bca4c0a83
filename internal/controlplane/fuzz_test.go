package controlplane_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/controlplane"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// FuzzRequest sends arbitrary bodies to every operation of an authenticated caller: the service
// must never panic and never answer 5xx, whatever the bytes.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		`{}`, `[]`, `null`, `""`, `{"DatastoreId":"abc"}`, `{"DatastoreId":null}`, `{"MaxResults":1e400}`,
		`{"DatastoreTypeVersion":"R4","Tags":[{"Key":"a","Value":"b"}]}`,
		`{"DatastoreTypeVersion":"R4","IdentityProviderConfiguration":{"AuthorizationStrategy":"SMART_ON_FHIR","Metadata":"{","IdpLambdaArn":"arn:aws:lambda:us-east-1:123456789012:function:f"}}`,
		`{"InputDataConfig":{"S3Uri":"s3://abc/x"},"JobOutputDataConfig":{"S3Configuration":{"S3Uri":"s3://abc/y","KmsKeyId":"k"}},"DatastoreId":"x","DataAccessRoleArn":"arn:aws:iam::123456789012:role/r"}`,
		`{"Filter":{"CreatedBefore":"2020-01-01T00:00:00Z","CreatedAfter":-1e20}}`,
		`{"DatastoreId":"x","NextToken":"eyJ9.abc","SubmittedAfter":1.5}`,
		`{"ResourceARN":"arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/0123456789abcdef0123456789abcdef","TagKeys":["a"]}`,
		"{\"DatastoreId\":\"\\u0000\"}", `{"a":{"b":{"c":[[[[]]]]}}}`, `{"DatastoreId":"a","datastoreId":"b"}`,
	}
	for _, s := range seeds {
		for _, op := range awsmodel.Operations() {
			f.Add(op, s)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	svc := controlplane.New(st, controlplane.Options{PublicURL: "http://127.0.0.1:4599", MaxDatastores: 3})
	h := svc.Handler()
	id := sigv4.Identity{AccessKeyID: "test", AccountID: "000000000000", Region: "us-east-1"}
	f.Fuzz(func(t *testing.T, op, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "HealthLake."+op)
		req = req.WithContext(sigv4.WithIdentity(req.Context(), id))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", op, body, rec.Code, rec.Body)
		}
		if rec.Code != 200 && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s %q: error without type", op, body)
		}
	})
}
