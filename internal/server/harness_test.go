package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/healthlake"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/server/servertest"
)

// testServer is a running service on a loopback port with its own data directory.
type testServer struct {
	*servertest.Server
	t testing.TB
}

const (
	otherKey     = servertest.OtherKey
	otherSecret  = servertest.OtherSecret
	otherAccount = servertest.OtherAccount
)

// newConfig returns a config for a fresh data directory.
func newConfig(t testing.TB) config.Config { return servertest.NewConfig(t) }

// start runs a server with cfg until the test ends.
func start(t testing.TB, cfg config.Config, opts ...server.Option) *testServer {
	t.Helper()
	return &testServer{Server: servertest.Start(t, cfg, opts...), t: t}
}

// client returns a HealthLake client for the primary credential in region.
func (ts *testServer) client(region string) *healthlake.Client {
	return ts.ClientAs(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, region)
}

// bucket creates a bucket folder in the embedded S3 and returns its path.
func (ts *testServer) bucket(name string) string {
	p := filepath.Join(ts.Cfg.S3Dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

// createActive creates a data store and waits until it is ACTIVE.
func createActive(t testing.TB, c *healthlake.Client, name string) string {
	t.Helper()
	return *servertest.CreateActive(t, c, name).DatastoreId
}
