// Package server assembles the service from its parts: it opens the store and the S3 access of a
// Config, starts the job engine with its workers, and serves the control plane and the FHIR data
// plane behind SigV4, the S3 API of the embedded object folder (requests signed for "s3"), the web
// console at /console/ (its own sessions), /metrics and /healthz, all behind request logging and
// request metrics. It owns process-level concerns (the data directory lock of a SQLite store, the
// pagination-token key, the wiring of several nodes on a PostgreSQL store, who may read /metrics, shutdown order, the memory budget of request bodies in flight,
// and the timeouts and minimum rates that keep slow clients from holding connections) and no
// protocol logic.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fhirlake/fhirlake/internal/awsjson"
	"github.com/fhirlake/fhirlake/internal/background"
	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/console"
	"github.com/fhirlake/fhirlake/internal/controlplane"
	"github.com/fhirlake/fhirlake/internal/eraser"
	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirapi"
	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/metrics"
	"github.com/fhirlake/fhirlake/internal/preload"
	"github.com/fhirlake/fhirlake/internal/s3api"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/postgres"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
)

// Option adjusts a Server before it starts; tests use them to observe or slow down the parts.
type Option func(*options)

type options struct {
	wrapObjects func(importer.Objects) importer.Objects
	noWorkers   bool
	hook        jobs.Hook
}

// WithObjects wraps the S3 access the workers use.
func WithObjects(wrap func(importer.Objects) importer.Objects) Option {
	return func(o *options) { o.wrapObjects = wrap }
}

// WithoutWorkers starts no job runners: jobs stay as submitted.
func WithoutWorkers() Option {
	return func(o *options) { o.noWorkers = true }
}

// WithJobHook calls hook at every phase boundary of every job run (see jobs.Hook); for tests.
func WithJobHook(hook jobs.Hook) Option {
	return func(o *options) { o.hook = hook }
}

// Server is a running fhirlake service.
type Server struct {
	opts    options
	cfg     config.Config
	log     *slog.Logger
	store   store.Store
	objects importer.Objects // S3 access of the workers (a superset of what the exporter needs)
	dir     *s3io.Dir        // the embedded object folder; nil with an S3 endpoint
	engine  *jobs.Engine
	control *controlplane.Service
	metrics *metrics.Metrics
	handler http.Handler
	// fg counts the requests in flight on the service port, for the import workers to step aside.
	fg      *background.Foreground
	budget  *bodyBudget
	lock    *os.File
	closers []func() error
	node    string // this node's name in job leases
}

// New opens everything cfg names and starts the job engine. cfg must have passed Validate.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: log, node: "node-" + awsjson.NewRequestID()}
	for _, o := range opts {
		o(&s.opts)
	}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// secretStore is a store that keeps the server secrets every node of a deployment shares.
type secretStore interface {
	Secret(ctx context.Context, name string, size int) ([]byte, error)
}

// sharedStore is a store that several nodes share: it wakes every node's engine when jobs change
// and elects the one node that runs lifecycle work.
type sharedStore interface {
	WatchJobs(ctx context.Context, notify func(), onErr func(error))
	Lead(ctx context.Context) bool
}

// pinger is a store whose reachability can be checked (a database server).
type pinger interface {
	Ping(ctx context.Context) error
}

// openStore opens the backend cfg names. A SQLite file belongs to this process alone (it holds
// the data directory lock), so every job lease left in it is stale and dropped at once; a
// PostgreSQL database is shared, and its leases belong to whichever node holds them.
func (s *Server) openStore(ctx context.Context) (store.Store, error) {
	cfg := s.cfg
	if cfg.Postgres() {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.Store, MaxConns: cfg.StorePoolSize})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, st.Close)
		return st, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	st, err := sqlite.Open(ctx, cfg.StorePath())
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, st.Close)
	if err := st.JobReleaseAll(ctx); err != nil {
		return nil, fmt.Errorf("release job leases: %w", err)
	}
	return st, nil
}

func (s *Server) open(ctx context.Context) error {
	cfg := s.cfg
	st, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	s.store = st
	s.metrics = metrics.New()
	// Everything but start-up and shutdown goes through the metered store.
	mst := s.metrics.Store(st)
	if cfg.S3Endpoint != "" {
		remote, err := s3io.NewRemote(ctx, s3io.RemoteConfig{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey})
		if err != nil {
			return err
		}
		s.objects = remote
	} else {
		if err := os.MkdirAll(cfg.S3Dir, 0o755); err != nil {
			return fmt.Errorf("create s3 dir: %w", err)
		}
		// Folders made by hand belong to the primary account; jobs reach only their own
		// account's buckets.
		dir, err := s3io.NewDir(cfg.S3Dir, cfg.AccountID)
		if err != nil {
			return err
		}
		s.dir = dir
		s.objects = dir.Guard()
		s.closers = append(s.closers, dir.Close)
	}
	var tokenKey []byte
	if ss, ok := st.(secretStore); ok {
		tokenKey, err = ss.Secret(ctx, "pagination-token-key", 32)
	} else {
		tokenKey, err = loadKey(filepath.Join(cfg.DataDir, "token.key"))
	}
	if err != nil {
		return fmt.Errorf("pagination token key: %w", err)
	}
	var objs importer.Objects = s.objects
	if s.opts.wrapObjects != nil {
		objs = s.opts.wrapObjects(objs)
	}
	validator := fhir.NewValidator()
	// Import workers step aside while requests are in flight on the service port (see serve).
	s.fg = &background.Foreground{}
	imp := importer.New(importer.Config{Objects: objs, Store: mst, Validator: validator,
		Parallelism: cfg.ImportParallelism, MaxFiles: cfg.MaxImportFiles, ProgressLog: cfg.ProgressLogInterval,
		Foreground: s.fg, Hook: s.opts.hook, Logger: s.log})
	ecfg := jobs.Config{
		Store: mst,
		Workers: map[store.JobKind]jobs.Worker{
			store.JobImport: imp,
			store.JobExport: exporter.New(exporter.Config{Objects: objs, Store: mst, PerFile: cfg.ExportPerFile,
				ProgressLog: cfg.ProgressLogInterval, Hook: s.opts.hook, Logger: s.log}),
			store.JobDelete: eraser.New(eraser.Config{Store: mst, Logger: s.log}),
		},
		Owner:        s.node,
		Lease:        cfg.JobLease,
		Concurrency:  cfg.JobConcurrency,
		FaultTimeout: cfg.JobFaultTimeout,
		Logger:       s.log,
		Observer:     s.metrics,
		Hook:         s.opts.hook,
		Tick: func(ctx context.Context) {
			if _, err := st.DatastoreAdvance(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Error("advance data store lifecycle", "err", err)
			}
			s.preload(ctx)
		},
	}
	if ns, ok := st.(sharedStore); ok {
		// Several nodes: the database wakes idle runners, so polling only has to find the jobs of
		// nodes that died (their leases expired); lifecycle work and preloads run on one node.
		ecfg.Wake = func(ctx context.Context, notify func()) {
			ns.WatchJobs(ctx, notify, func(err error) { s.log.Warn("watch jobs", "err", err) })
		}
		ecfg.Poll = min(5*time.Second, cfg.JobLease/3)
		ecfg.TickEvery = 500 * time.Millisecond
		tick := ecfg.Tick
		ecfg.Tick = func(ctx context.Context) {
			if ns.Lead(ctx) {
				tick(ctx)
			}
		}
	}
	s.engine = jobs.New(ecfg)
	copt := controlplane.Options{
		PublicURL: cfg.PublicURL, CreateDelay: cfg.DatastoreCreateDelay, MaxDatastores: cfg.MaxDatastores,
		Jobs: s.engine, Logger: s.log, TokenKey: tokenKey,
	}
	if s.dir != nil {
		copt.Buckets = s.dir
	}
	s.control = controlplane.New(mst, copt)
	creds := sigv4.StaticCredentials{}
	for _, c := range cfg.Credentials() {
		creds[c.AccessKeyID] = sigv4.Credential{SecretAccessKey: c.SecretAccessKey, AccountID: c.AccountID}
	}
	s.budget = &bodyBudget{limit: cfg.BodyBudgetBytes}
	verifier := sigv4.NewVerifier(creds, "healthlake")
	verifier.MaxBody, verifier.Budget = cfg.MaxBodyBytes, s.budget
	// The S3 API shares the port: requests signed for the service "s3", or addressed to
	// <bucket>.localhost, go to it.
	s3cfg := s3api.Config{Logger: s.log}
	if s.dir != nil {
		dir := s.dir
		s3cfg.Storage = func(account string) s3api.Storage { return dir.As(account) }
	}
	objects := s3api.New(s3cfg)
	s3 := sigv4.NewVerifier(creds, "s3").MiddlewareS3(objects, objects.WriteError)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	// The control plane's verifier reads no more than its router takes.
	control := *verifier
	control.MaxBody = min(cfg.MaxBodyBytes, awsjson.MaxBody)
	mux.Handle("/", control.Middleware(s.control.Handler(), s.control.WriteError))
	dopt := fhirapi.Options{PublicURL: cfg.PublicURL, Logger: s.log,
		Exports: mst, Notify: s.engine.Notify, ExportS3URI: cfg.ExportS3URI, MaxBody: cfg.MaxBodyBytes, Budget: s.budget,
		Deletes: mst, ConditionalDeleteMax: cfg.ConditionalDeleteMax}
	if s.dir != nil {
		dopt.Buckets = s.dir
	}
	data := fhirapi.New(mst, validator, dopt)
	mux.Handle("/datastore/", verifier.Middleware(noteWrites(s.fg, data), data.WriteError))
	con := console.New(console.Options{
		Credentials: creds, ControlPlane: s.control.Handler(), FHIR: data, Objects: s.consoleStorage(),
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"), Logger: s.log,
	})
	mux.Handle("/console", con)
	mux.Handle("/console/", con)
	mux.Handle("GET /metrics", s.metricsOnServicePort())
	s.handler = s.slowClients(s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isS3(r) {
			s3.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})))
	if !s.opts.noWorkers {
		s.engine.Start(context.WithoutCancel(ctx))
	}
	return nil
}

// inFlight returns an http.Server.ConnState hook that counts in fg every request from the end of
// its headers to the end of its response's write (a connection is active from the one to the
// other, idle between requests), so that the import steps aside for the signature check and for
// the sending of the response as well as for the handler.
func inFlight(fg *background.Foreground) func(net.Conn, http.ConnState) {
	if fg == nil {
		return nil
	}
	var mu sync.Mutex
	active := map[net.Conn]func(){}
	return func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		end, ok := active[c]
		if st == http.StateActive {
			if !ok {
				active[c] = fg.Begin()
			}
			return
		}
		if ok {
			end()
			delete(active, c)
		}
	}
}

// noteWrites tells fg of the requests of the FHIR API that may write resources (any method but GET
// and HEAD), for the import to commit step by step while they come (see importer.Config.Foreground).
func noteWrites(fg *background.Foreground, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			fg.NoteWrite()
		}
		h.ServeHTTP(w, r)
	})
}

// ObjectsOf returns account's view of the embedded object folder (only the buckets it owns), for
// in-process callers such as a web console; false when an S3 endpoint is configured instead.
func (s *Server) ObjectsOf(account string) (*s3io.Tenant, bool) {
	if s.dir == nil {
		return nil, false
	}
	return s.dir.As(account), true
}

// consoleStorage gives the console each account's view of the embedded object folder; nil (no S3
// browser) with an S3 endpoint.
func (s *Server) consoleStorage() func(account string) console.Storage {
	if s.dir == nil {
		return nil
	}
	return func(account string) console.Storage {
		t, _ := s.ObjectsOf(account)
		return t
	}
}

// Node returns this node's name, as job leases record it.
func (s *Server) Node() string { return s.node }

// health answers /healthz: 200 when the service can serve, 503 while its database is unreachable.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if p, ok := s.store.(pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			s.log.Warn("health check: store unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "store unreachable\n")
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// Store returns the storage the server runs on.
func (s *Server) Store() store.Store { return s.store }

// preload loads the Synthea sample into SYNTHEA-preloaded stores whose creation delay has passed,
// then lets them become ACTIVE.
func (s *Server) preload(ctx context.Context) {
	pending, err := s.store.DatastoreCreating(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("list creating data stores", "err", err)
		}
		return
	}
	for _, d := range pending {
		if !controlplane.PreloadPending(d) || time.Since(d.CreatedAt) < s.cfg.DatastoreCreateDelay {
			continue
		}
		n, err := preload.Load(ctx, s.store, d.ID, search.Extract)
		if err == nil {
			err = s.store.DatastoreSetReady(ctx, d.ID, time.Now())
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("preload data store", "datastore", d.ID, "err", err)
			}
			continue
		}
		s.log.Info("data store preloaded", "datastore", d.ID, "resources", n)
	}
}

// Handler returns the service's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx ends, then drains in-flight requests (up to 30s) and returns.
// Headers must arrive within ReadHeaderTimeout and an idle keep-alive connection is closed after
// IdleTimeout; bodies and responses are bounded by the minimum rate of slowClients.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.handler, s.fg)
}

// ServeMetrics serves only /metrics on ln (Config.MetricsListen) until ctx ends: without
// authentication, or with the bearer token of Config.MetricsToken when one is set.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler(s.cfg.MetricsToken))
	return s.serve(ctx, ln, mux, nil)
}

// metricsOnServicePort is /metrics on Listen: absent when MetricsListen is set, behind the token
// when one is set, open on a loopback Listen, and refused otherwise.
func (s *Server) metricsOnServicePort() http.Handler {
	switch {
	case s.cfg.MetricsListen != "":
		return http.NotFoundHandler()
	case s.cfg.MetricsToken != "" || s.cfg.ListensOnLoopback():
		return s.metrics.Handler(s.cfg.MetricsToken)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "metrics on a non-loopback address need --metrics-token or --metrics-listen", http.StatusForbidden)
	})
}

func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler, fg *background.Foreground) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ConnState: inFlight(fg)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := hs.Shutdown(shutCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// Close stops the job engine (running jobs resume from their checkpoints next time) and releases
// the store and the data directory lock.
func (s *Server) Close() error {
	if s.engine != nil {
		s.engine.Stop()
	}
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// lockDir takes an exclusive lock on the data directory so that two processes never share it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another fhirlake process", dir)
	}
	return f, nil
}

// loadKey reads a 32-byte key file, creating it on first use.
func loadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return b, nil
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives every request an id (x-amzn-RequestId), counts it in the metrics and logs one
// line when it ends.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := awsjson.NewRequestID()
		w.Header().Set("X-Amzn-RequestId", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		api, op := s.classify(r)
		s.metrics.ObserveRequest(api, op, sw.status, elapsed)
		attrs := []any{"request_id", id, "api", api, "operation", op, "status", sw.status, "duration", elapsed}
		if api != "healthlake" {
			attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
		}
		s.log.Info("request", attrs...)
	})
}

// isS3 reports whether a request is for the S3 API: signed for the service "s3", or addressed to
// <bucket>.localhost.
func isS3(r *http.Request) bool {
	return sigv4.ServiceOf(r) == "s3" || s3api.IsVirtualHost(r.Host)
}

// classify names the API and operation of a request from a small fixed set, for metrics and logs.
func (s *Server) classify(r *http.Request) (api, operation string) {
	p := r.URL.Path
	switch {
	case isS3(r):
		return "s3", s3api.Operation(r)
	case p == "/healthz":
		return "healthz", "healthz"
	case p == "/metrics":
		return "metrics", "metrics"
	case p == "/console" || strings.HasPrefix(p, "/console/"):
		// The console's pass-throughs are named after what they pass through.
		switch op := console.Operation(r); op {
		case "healthlake":
			if hop := s.control.Operation(r); hop != "" {
				return "console", "healthlake." + hop
			}
			return "console", "healthlake.unknown"
		case "fhir":
			inner := *r
			inner.URL = &url.URL{Path: "/datastore/" + strings.TrimPrefix(p, "/console/api/fhir/")}
			return "console", "fhir." + fhirapi.Interaction(&inner)
		default:
			return "console", op
		}
	case strings.HasPrefix(p, "/datastore/"):
		return "fhir", fhirapi.Interaction(r)
	}
	if op := s.control.Operation(r); op != "" {
		return "healthlake", op
	}
	return "healthlake", "unknown"
}
