// Package metrics is fhirlake's Prometheus instrumentation. Each Metrics owns its own registry
// (two servers in one process never share counters) holding the Go runtime and process
// collectors and the service's own metrics:
//
//	fhirlake_http_requests_total{api,operation,status}        requests answered
//	fhirlake_http_request_duration_seconds{api,operation}     their latency (histogram)
//	fhirlake_jobs_submitted_total{kind}                       jobs created (import, export)
//	fhirlake_jobs_ended_total{kind,status}                    jobs that reached a terminal status
//	fhirlake_jobs_running{kind}                               runs in progress
//	fhirlake_job_run_duration_seconds{kind}                   length of job runs (histogram)
//	fhirlake_import_resources_total{outcome}                  imported, customer_error, server_error
//	fhirlake_import_files_total{outcome}                      imported, customer_error
//	fhirlake_import_scanned_bytes_total                       input bytes read by imports
//	fhirlake_import_throughput_resources_per_second           summed over running imports
//	fhirlake_store_commit_duration_seconds{operation}         store transactions (histogram)
//
// It is fed three ways, none of which the instrumented packages know about: the server reports
// every request (ObserveRequest); Metrics is the job engine's jobs.Observer; and Store wraps the
// store contract to time commits and to count import outcomes from the progress that each import
// commit carries, so the counters move exactly when the job's own report does.
package metrics

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Metrics holds one server's collectors.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	submitted   *prometheus.CounterVec
	ended       *prometheus.CounterVec
	running     *prometheus.GaugeVec
	runDuration *prometheus.HistogramVec
	resources   *prometheus.CounterVec
	files       *prometheus.CounterVec
	bytes       prometheus.Counter
	throughput  prometheus.Gauge
	commits     *prometheus.HistogramVec

	mu      sync.Mutex
	imports map[string]jobs.ImportProgress // last committed progress of running imports, by job id
}

// New returns a Metrics with a fresh registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), imports: map[string]jobs.ImportProgress{}}
	f := factory{m.reg}
	m.requests = f.counterVec("fhirlake_http_requests_total",
		"HTTP requests answered, by API (healthlake, fhir, console, metrics, healthz), operation and status code.",
		"api", "operation", "status")
	m.latency = f.histogramVec("fhirlake_http_request_duration_seconds",
		"Time to answer an HTTP request, by API and operation.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "api", "operation")
	m.submitted = f.counterVec("fhirlake_jobs_submitted_total", "Jobs created, by kind (import, export).", "kind")
	m.ended = f.counterVec("fhirlake_jobs_ended_total", "Jobs that reached a terminal status, by kind and status.", "kind", "status")
	m.running = f.gaugeVec("fhirlake_jobs_running", "Job runs in progress, by kind.", "kind")
	m.runDuration = f.histogramVec("fhirlake_job_run_duration_seconds",
		"Length of job runs (a job interrupted and resumed has several), by kind.",
		[]float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}, "kind")
	m.resources = f.counterVec("fhirlake_import_resources_total",
		"Resources read by import jobs, by outcome: imported, customer_error (invalid line) or server_error.", "outcome")
	m.files = f.counterVec("fhirlake_import_files_total",
		"Input objects finished by import jobs, by outcome: imported or customer_error (unreadable object).", "outcome")
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "fhirlake_import_scanned_bytes_total",
		Help: "Input bytes (as stored, so compressed for .gz) read by import jobs."})
	m.throughput = prometheus.NewGauge(prometheus.GaugeOpts{Name: "fhirlake_import_throughput_resources_per_second",
		Help: "Import throughput (resources imported per second of processing) summed over the running import jobs."})
	m.reg.MustRegister(m.bytes, m.throughput)
	m.commits = f.histogramVec("fhirlake_store_commit_duration_seconds",
		"Time of store write transactions, by operation: import (one import step), resource_write (FHIR REST writes), job_progress (job checkpoints and lease renewals).",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "operation")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Handler serves the registry in the Prometheus exposition formats. When token is not "", every
// request must carry "Authorization: Bearer <token>" (else 401).
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fhirlake metrics"`)
			http.Error(w, "metrics need a bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ObserveRequest counts one answered request. api and operation must come from a bounded set
// (operation names, never paths or ids).
func (m *Metrics) ObserveRequest(api, operation string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(api, operation, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(api, operation).Observe(elapsed.Seconds())
}

// RunStarted implements jobs.Observer.
func (m *Metrics) RunStarted(job store.Job) {
	m.running.WithLabelValues(string(job.Kind)).Inc()
	if job.Kind != store.JobImport {
		return
	}
	var base jobs.ImportProgress
	if len(job.Progress) > 0 {
		json.Unmarshal(job.Progress, &base) // unreadable progress counts from zero
	}
	m.mu.Lock()
	m.imports[job.ID] = base
	m.mu.Unlock()
}

// RunEnded implements jobs.Observer.
func (m *Metrics) RunEnded(job store.Job, status store.JobStatus, elapsed time.Duration) {
	kind := string(job.Kind)
	m.running.WithLabelValues(kind).Dec()
	m.runDuration.WithLabelValues(kind).Observe(elapsed.Seconds())
	if status != "" {
		m.ended.WithLabelValues(kind, string(status)).Inc()
	}
	if job.Kind == store.JobImport {
		m.mu.Lock()
		delete(m.imports, job.ID)
		m.setThroughputLocked()
		m.mu.Unlock()
	}
}

// importCommitted adds what one committed import step changed to the counters.
func (m *Metrics) importCommitted(jobID string, progress []byte) {
	if len(progress) == 0 {
		return
	}
	var now jobs.ImportProgress
	if err := json.Unmarshal(progress, &now); err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.imports[jobID]
	m.imports[jobID] = now
	add := func(c prometheus.Counter, delta int64) {
		if delta > 0 {
			c.Add(float64(delta))
		}
	}
	add(m.resources.WithLabelValues("imported"), now.ResourcesImported-was.ResourcesImported)
	add(m.resources.WithLabelValues("customer_error"), now.ResourcesCustomerError-was.ResourcesCustomerError)
	add(m.resources.WithLabelValues("server_error"), now.ResourcesServerError-was.ResourcesServerError)
	add(m.files.WithLabelValues("imported"), now.ImportedFiles-was.ImportedFiles)
	add(m.files.WithLabelValues("customer_error"), now.FilesWithCustomerError-was.FilesWithCustomerError)
	add(m.bytes, now.ScannedBytes-was.ScannedBytes)
	m.setThroughputLocked()
}

func (m *Metrics) setThroughputLocked() {
	sum := 0.0
	for _, p := range m.imports {
		sum += p.Throughput()
	}
	m.throughput.Set(sum)
}

// Store wraps st so that its write transactions are timed, created jobs counted, and committed
// import steps counted. Everything else passes through.
func (m *Metrics) Store(st store.Store) store.Store { return &meteredStore{Store: st, m: m} }

type meteredStore struct {
	store.Store
	m *Metrics
}

func (s *meteredStore) observe(op string, start time.Time) {
	s.m.commits.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *meteredStore) ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	start := time.Now()
	res, err := s.Store.ImportCommit(ctx, p)
	s.observe("import", start)
	if err == nil {
		s.m.importCommitted(p.JobID, p.Progress)
	}
	return res, err
}

func (s *meteredStore) ResourceWrite(ctx context.Context, datastoreID string, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error) {
	start := time.Now()
	res, err := s.Store.ResourceWrite(ctx, datastoreID, writes, now)
	s.observe("resource_write", start)
	return res, err
}

func (s *meteredStore) JobProgress(ctx context.Context, p store.JobProgressParams) error {
	start := time.Now()
	err := s.Store.JobProgress(ctx, p)
	s.observe("job_progress", start)
	return err
}

func (s *meteredStore) JobCreate(ctx context.Context, j store.Job) (store.Job, bool, error) {
	got, created, err := s.Store.JobCreate(ctx, j)
	if err == nil && created {
		s.m.submitted.WithLabelValues(string(got.Kind)).Inc()
	}
	return got, created, err
}

var (
	_ jobs.Observer = (*Metrics)(nil)
	_ store.Store   = (*meteredStore)(nil)
)
