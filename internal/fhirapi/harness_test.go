package fhirapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/server/servertest"
)

const (
	region       = "us-east-1"
	otherKey     = servertest.OtherKey
	otherSecret  = servertest.OtherSecret
	otherAccount = servertest.OtherAccount
)

// env is a running service with one ACTIVE data store.
type env struct {
	t   testing.TB
	cfg config.Config
	srv *server.Server
	url string
	hl  *healthlake.Client
	ds  string
	// key and secret sign data-plane requests.
	key, secret string
}

// newEnv starts a service on a loopback port with its own data directory and creates a store.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the configuration adjusted by tweak (when not nil) and server options.
func newEnvWith(t testing.TB, tweak func(*config.Config), opts ...server.Option) *env {
	t.Helper()
	cfg := servertest.NewConfig(t)
	if tweak != nil {
		tweak(&cfg)
	}
	s := servertest.Start(t, cfg, opts...)
	e := &env{t: t, cfg: s.Cfg, srv: s.Srv, url: s.URL, key: config.DefaultAccessKeyID, secret: config.DefaultSecretAccessKey}
	e.hl = s.ClientAs(e.key, e.secret, region)
	e.ds = e.createStore("main")
	return e
}

// createStore creates a data store and waits until it is ACTIVE.
func (e *env) createStore(name string) string {
	e.t.Helper()
	out := servertest.CreateActive(e.t, e.hl, name)
	if want := e.url + "/datastore/" + *out.DatastoreId + "/r4/"; aws.ToString(out.DatastoreEndpoint) != want {
		e.t.Fatalf("DatastoreEndpoint = %s, want %s", aws.ToString(out.DatastoreEndpoint), want)
	}
	return *out.DatastoreId
}

// importDir imports the NDJSON files of dir into the store through a real import job.
func (e *env) importDir(dir string) {
	e.t.Helper()
	e.waitImport(e.startImport(dir))
}

// startImport copies the NDJSON files of dir into the embedded S3 folder and starts an import
// job of them; it returns the job id.
func (e *env) startImport(dir string) string {
	e.t.Helper()
	in := filepath.Join(e.cfg.S3Dir, "input", "data")
	if err := os.MkdirAll(in, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.cfg.S3Dir, "output"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range entries {
		// The embedded S3 is confined to its folder (no symbolic links out), so copy.
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, f.Name()), b, 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.startImportURI("s3://input/data/")
}

// startImportURI starts an import job of the objects under an S3 URI of the embedded folder into
// the store; it returns the job id.
func (e *env) startImportURI(uri string) string {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Join(e.cfg.S3Dir, "output"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	out, err := e.hl.StartFHIRImportJob(context.Background(), &healthlake.StartFHIRImportJobInput{
		DatastoreId:     &e.ds,
		InputDataConfig: &types.InputDataConfigMemberS3Uri{Value: uri},
		JobOutputDataConfig: &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{
			S3Uri: aws.String("s3://output/"), KmsKeyId: aws.String("arn:aws:kms:us-east-1:000000000000:key/test")}},
		DataAccessRoleArn: aws.String("arn:aws:iam::000000000000:role/HealthLakeImport"),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return *out.JobId
}

// waitImport waits for an import job to end and fails unless it COMPLETED.
func (e *env) waitImport(jobID string) {
	e.t.Helper()
	w := healthlake.NewFHIRImportJobCompletedWaiter(e.hl, func(o *healthlake.FHIRImportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	})
	job, err := w.WaitForOutput(context.Background(), &healthlake.DescribeFHIRImportJobInput{DatastoreId: &e.ds, JobId: &jobID}, 30*time.Minute)
	if err != nil {
		e.t.Fatalf("import: %v", err)
	}
	if job.ImportJobProperties.JobStatus != types.JobStatusCompleted {
		e.t.Fatalf("import job %s: %s", job.ImportJobProperties.JobStatus, aws.ToString(job.ImportJobProperties.Message))
	}
}

// resp is a data-plane response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return m
}

// do sends a SigV4-signed request to [base]/path of the env's store (or of the absolute URL path).
func (e *env) do(method, path string, body []byte, hdr ...string) resp {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.url + "/datastore/" + e.ds + "/r4/" + strings.TrimPrefix(path, "/")
	}
	return e.send(method, u, body, e.key, e.secret, hdr...)
}

func (e *env) send(method, u string, body []byte, key, secret string, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	sum := sha256.Sum256(body)
	if key != "" {
		signer := v4.NewSigner()
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "healthlake", region, time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// bundleIDs returns "Type/id" of the entries of a Bundle with the given search mode ("" = any).
func bundleIDs(t testing.TB, b map[string]any, mode string) []string {
	t.Helper()
	var out []string
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		em := e.(map[string]any)
		if mode != "" {
			s, _ := em["search"].(map[string]any)
			if s == nil || s["mode"] != mode {
				continue
			}
		}
		r := em["resource"].(map[string]any)
		out = append(out, r["resourceType"].(string)+"/"+r["id"].(string))
	}
	return out
}

// nextLink returns the next link of a Bundle, "" when none.
func nextLink(b map[string]any) string {
	links, _ := b["link"].([]any)
	for _, l := range links {
		lm := l.(map[string]any)
		if lm["relation"] == "next" {
			return lm["url"].(string)
		}
	}
	return ""
}
