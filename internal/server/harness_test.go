package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server"
)

// testServer is a running service on a loopback port with its own data directory.
type testServer struct {
	t      testing.TB
	cfg    config.Config
	srv    *server.Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

const (
	otherKey     = "OTHERKEY"
	otherSecret  = "other-secret"
	otherAccount = "222222222222"
)

// newConfig returns a config for a fresh data directory.
func newConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MaxDatastores = 0
	cfg.ExtraCredentials = []config.Credential{{AccessKeyID: otherKey, SecretAccessKey: otherSecret, AccountID: otherAccount}}
	return cfg
}

// start runs a server with cfg until the test ends.
func start(t testing.TB, cfg config.Config, opts ...server.Option) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	ts := &testServer{t: t, cfg: cfg, srv: srv, url: "http://" + cfg.Listen, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down (idempotent).
func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	<-ts.done
	if err := ts.srv.Close(); err != nil {
		ts.t.Errorf("close server: %v", err)
	}
	ts.cancel = nil
}

// client returns a HealthLake client for the primary credential in region.
func (ts *testServer) client(region string) *healthlake.Client {
	return ts.clientAs(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, region)
}

func (ts *testServer) clientAs(key, secret, region string) *healthlake.Client {
	return healthlake.New(healthlake.Options{
		Region:       region,
		BaseEndpoint: aws.String(ts.url),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// bucket creates a bucket folder in the embedded S3 and returns its path.
func (ts *testServer) bucket(name string) string {
	p := filepath.Join(ts.cfg.S3Dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

// createActive creates a data store and waits until it is ACTIVE.
func createActive(t testing.TB, c *healthlake.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{
		DatastoreName: aws.String(name), DatastoreTypeVersion: types.FHIRVersionR4,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := healthlake.NewFHIRDatastoreActiveWaiter(c, func(o *healthlake.FHIRDatastoreActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: out.DatastoreId}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return *out.DatastoreId
}
