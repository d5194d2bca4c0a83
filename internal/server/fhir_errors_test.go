package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/fhirlake/fhirlake/internal/config"
)

// TestFHIRWireErrors checks the FHIR API's exact answers (status and OperationOutcome) to
// refused signatures against golden files: the same statuses as the control plane, 403 for a
// missing or bad signature and 400 for an incomplete one.
func TestFHIRWireErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	const body = `{"resourceType":"Patient"}`
	sign := func(secret, token string) func(*http.Request) error {
		return func(r *http.Request) error {
			sum := sha256.Sum256([]byte(body))
			return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: config.DefaultAccessKeyID,
				SecretAccessKey: secret, SessionToken: token}, r, hex.EncodeToString(sum[:]), "healthlake", "us-east-1", time.Now())
		}
	}
	good := sign(config.DefaultSecretAccessKey, "")
	cases := []struct {
		name   string
		sign   func(*http.Request) error
		status int
	}{
		{name: "fhir_missing_auth", status: 403},
		{name: "fhir_incomplete_no_signature", sign: editAuth(good, dropComponent("Signature")), status: 400},
		{name: "fhir_wrong_secret", sign: sign("wrong", ""), status: 403},
		{name: "fhir_session_token", sign: sign(config.DefaultSecretAccessKey, "IQoJb3JpZ2luX2VjEXAMPLE=="), status: 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/datastore/0123456789abcdef0123456789abcdef/r4/Patient", bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/fhir+json")
			if tc.sign != nil {
				if err := tc.sign(req); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tc.status, got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			golden(t, filepath.Join("testdata", "errors", tc.name+".golden"), fmt.Sprintf("%d\n%s\n", resp.StatusCode, stableMessage(got)))
		})
	}
}
