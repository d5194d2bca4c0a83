package server_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// scrape fetches /metrics from base (with an optional bearer token) and parses it with
// Prometheus's own text parser.
func scrape(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// scrapeAfter scrapes until a request counter shows up for each of the label sets (or 10 s pass): a
// request is counted after its handler returns, which can be after the client has read the whole
// response and sent its next request on another connection.
func scrapeAfter(t *testing.T, url string, labels ...map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := scrape(t, url, "")
		all := true
		for _, l := range labels {
			all = all && value(fams, "fhirlake_http_requests_total", l) >= 1
		}
		if all || time.Now().After(deadline) {
			return fams
		}
	}
}

// metric returns the sample of family name whose labels include want, and whether there is one.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is a counter's or gauge's value (0 when the series does not exist yet).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m, ok := metric(fams, name, labels)
	if !ok {
		return 0
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func histCount(fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	m, ok := metric(fams, name, labels)
	if !ok || m.Histogram == nil {
		return 0
	}
	return m.Histogram.GetSampleCount()
}

// TestMetricsAfterImport scrapes /metrics after an import of Synthea (when ../shared is present)
// and a file of mixed valid and broken lines, and checks that the import counters equal the job's
// own progress report, and that requests, jobs, store commits and the Go runtime are there.
func TestMetricsAfterImport(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	ds := createActive(t, c, "metrics")
	in := ts.bucket("fhir-in")
	ts.bucket("fhir-out")
	os.MkdirAll(filepath.Join(in, "m"), 0o755)
	if shared := testenv.Shared(); shared != "" {
		copyDir(t, filepath.Join(shared, "data", "synthea"), filepath.Join(in, "m", "synthea"))
	}
	mixed := `{"resourceType":"Patient","id":"p1","gender":"female"}` + "\n" +
		`{"resourceType":"Patient","id":"p2","gender":` + "\n" +
		`{"resourceType":"Nope","id":"x1"}` + "\n" +
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}` + "\n"
	os.WriteFile(filepath.Join(in, "m", "mixed.ndjson"), []byte(mixed), 0o644)
	os.WriteFile(filepath.Join(in, "m", "notes.txt"), []byte("not fhir\n"), 0o644)
	started, err := c.StartFHIRImportJob(ctx, importInput(ds, "s3://fhir-in/m/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	job := waitImport(t, c, ds, *started.JobId)
	r := job.JobProgressReport
	// One FHIR read and one request with an unknown key, to see both in the request counters.
	if _, err := ts.ClientAs("NOSUCHKEY", "x", "us-east-1").ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{}); err == nil {
		t.Fatal("unknown key accepted")
	}
	fams := scrape(t, ts.URL+"/metrics", "")

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fhirlake_import_resources_total", map[string]string{"outcome": "imported"}, float64(aws.ToInt64(r.TotalNumberOfResourcesImported))},
		{"fhirlake_import_resources_total", map[string]string{"outcome": "customer_error"}, float64(aws.ToInt64(r.TotalNumberOfResourcesWithCustomerError))},
		{"fhirlake_import_resources_total", map[string]string{"outcome": "server_error"}, 0},
		{"fhirlake_import_files_total", map[string]string{"outcome": "imported"}, float64(aws.ToInt64(r.TotalNumberOfImportedFiles))},
		{"fhirlake_import_files_total", map[string]string{"outcome": "customer_error"}, float64(aws.ToInt64(r.TotalNumberOfFilesReadWithCustomerError))},
		{"fhirlake_import_scanned_bytes_total", nil, math.Round(aws.ToFloat64(r.TotalSizeOfScannedFilesInMB) * 1e6)},
		{"fhirlake_jobs_submitted_total", map[string]string{"kind": "import"}, 1},
		{"fhirlake_jobs_ended_total", map[string]string{"kind": "import", "status": string(job.JobStatus)}, 1},
		{"fhirlake_jobs_running", map[string]string{"kind": "import"}, 0},
		{"fhirlake_import_throughput_resources_per_second", nil, 0},
		{"fhirlake_http_requests_total", map[string]string{"api": "healthlake", "operation": "StartFHIRImportJob", "status": "200"}, 1},
		{"fhirlake_http_requests_total", map[string]string{"api": "healthlake", "operation": "CreateFHIRDatastore", "status": "200"}, 1},
		{"fhirlake_http_requests_total", map[string]string{"api": "healthlake", "operation": "ListFHIRDatastores", "status": "403"}, 1},
	} {
		if got := value(fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if imported := aws.ToInt64(r.TotalNumberOfResourcesImported); imported < 2 {
		t.Errorf("the job imported %d resources; the test needs some", imported)
	}
	if n := histCount(fams, "fhirlake_http_request_duration_seconds", map[string]string{"api": "healthlake", "operation": "StartFHIRImportJob"}); n != 1 {
		t.Errorf("StartFHIRImportJob latency samples = %d, want 1", n)
	}
	if n := histCount(fams, "fhirlake_store_commit_duration_seconds", map[string]string{"operation": "import"}); n < 3 {
		t.Errorf("import commit latency samples = %d, want at least 3 (listing, files, end)", n)
	}
	if n := histCount(fams, "fhirlake_job_run_duration_seconds", map[string]string{"kind": "import"}); n != 1 {
		t.Errorf("import job runs = %d, want 1", n)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// An S3 API request is counted under its S3 operation.
	if _, err := ts.s3Client("test", "test").ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
	// A FHIR read is counted under its interaction, never its path.
	resp, err := http.Get(ts.URL + "/datastore/" + ds + "/r4/Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fams = scrapeAfter(t, ts.URL+"/metrics", map[string]string{"api": "fhir", "operation": "read"},
		map[string]string{"api": "s3", "operation": "S3.ListBuckets"})
	if got := value(fams, "fhirlake_http_requests_total", map[string]string{"api": "fhir", "operation": "read", "status": "403"}); got != 1 {
		t.Errorf("unsigned FHIR read = %v, want 1", got)
	}
	if got := value(fams, "fhirlake_http_requests_total", map[string]string{"api": "s3", "operation": "S3.ListBuckets", "status": "200"}); got != 1 {
		t.Errorf("S3 ListBuckets = %v, want 1", got)
	}
	if got := value(fams, "fhirlake_http_requests_total", map[string]string{"api": "metrics", "operation": "metrics", "status": "200"}); got != 1 {
		t.Errorf("earlier scrapes counted = %v, want 1", got)
	}

	// The console's pass-throughs are counted under what they pass through.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err = browser.PostForm(ts.URL+"/console/login", url.Values{"access_key_id": {"test"}, "secret_access_key": {"test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range []string{"/console/api/fhir/" + ds + "/r4/Patient?gender=female", "/console/api/fhir/" + ds + "/r4/Patient/p1"} {
		if resp, err = browser.Get(ts.URL + path); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	ops := []string{"login", "fhir.search", "fhir.read"}
	var want []map[string]string
	for _, op := range ops {
		want = append(want, map[string]string{"api": "console", "operation": op})
	}
	fams = scrapeAfter(t, ts.URL+"/metrics", want...)
	for _, op := range ops {
		if got := value(fams, "fhirlake_http_requests_total", map[string]string{"api": "console", "operation": op}); got != 1 {
			t.Errorf("console %s = %v, want 1", op, got)
		}
	}
}

// TestMetricsAccess checks who may read /metrics: a bearer token when one is set, and nobody on a
// non-loopback address without one.
func TestMetricsAccess(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.MetricsToken = "s3cret-token"
	ts := start(t, cfg)
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic czNjcmV0LXRva2Vu", 401}, {"Bearer s3cret-token", 200}} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
	scrape(t, ts.URL+"/metrics", "s3cret-token")

	// A service configured for a non-loopback address (never bound here: its handler is served on
	// loopback) refuses /metrics without a token.
	pub := newConfig(t)
	pub.Listen = "192.0.2.10:4599"
	pub.AccessKeyID, pub.SecretAccessKey = "PUBLICKEY", "a-long-secret"
	if err := pub.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), pub, slog.New(slog.NewTextHandler(io.Discard, nil)), server.WithoutWorkers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--metrics-token") {
		t.Errorf("non-loopback /metrics = %d %s, want 403 naming --metrics-token", resp.StatusCode, body)
	}
}
