// Package servertest runs the whole service on a loopback port for tests in other packages: a
// fresh data directory (and, on PostgreSQL, a fresh schema), a second tenant's credentials, SDK
// clients and a helper that creates an ACTIVE data store. It is imported only by tests.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// The credentials of a second account, accepted by every Config that NewConfig returns.
const (
	OtherKey     = "OTHERKEY"
	OtherSecret  = "other-secret"
	OtherAccount = "222222222222"
)

// NewConfig returns the default configuration over a fresh data directory, with no data store
// quota and the second account's credentials added. With FHIRLAKE_TEST_STORE=postgres the store
// is a fresh PostgreSQL schema (testenv.Postgres), with the S3 folder in the data directory.
func NewConfig(tb testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.MaxDatastores = 0
	cfg.ExtraCredentials = []config.Credential{{AccessKeyID: OtherKey, SecretAccessKey: OtherSecret, AccountID: OtherAccount}}
	if Postgres() {
		cfg.Store = testenv.Postgres(tb)
		cfg.S3DirShared = true
	}
	return cfg
}

// Postgres reports whether the suites run on PostgreSQL (FHIRLAKE_TEST_STORE=postgres).
func Postgres() bool { return os.Getenv(testenv.StoreEnv) == "postgres" }

// Server is a service running on a loopback port.
type Server struct {
	tb     testing.TB
	Cfg    config.Config // as validated, Listen set to the port in use
	Srv    *server.Server
	URL    string
	cancel context.CancelFunc
	done   chan error
}

// Start runs a service with cfg (its Listen and PublicURL are replaced) until Stop or the end of
// the test. FHIRLAKE_TEST_LOG=1 sends its log to standard error.
func Start(tb testing.TB, cfg config.Config, opts ...server.Option) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = ""
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("FHIRLAKE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log, opts...)
	if err != nil {
		cancel()
		ln.Close()
		tb.Fatal(err)
	}
	s := &Server{tb: tb, Cfg: cfg, Srv: srv, URL: "http://" + cfg.Listen, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(s.Stop)
	return s
}

// Stop shuts the service down; later calls do nothing.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	if err := s.Srv.Close(); err != nil {
		s.tb.Errorf("close server: %v", err)
	}
	s.cancel = nil
}

// ClientAs returns a HealthLake client of the service signing with key and secret in region.
func (s *Server) ClientAs(key, secret, region string) *healthlake.Client {
	return healthlake.New(healthlake.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// CreateActive creates an R4 data store through c and waits until it is ACTIVE.
func CreateActive(tb testing.TB, c *healthlake.Client, name string) *healthlake.CreateFHIRDatastoreOutput {
	tb.Helper()
	ctx := context.Background()
	out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{
		DatastoreName: aws.String(name), DatastoreTypeVersion: types.FHIRVersionR4,
	})
	if err != nil {
		tb.Fatal(err)
	}
	w := healthlake.NewFHIRDatastoreActiveWaiter(c, func(o *healthlake.FHIRDatastoreActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: out.DatastoreId}, 10*time.Second); err != nil {
		tb.Fatal(err)
	}
	return out
}
