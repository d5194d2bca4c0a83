// Package config holds the service configuration: one Config struct whose every field documents its
// default, and its validation. Binding flags and environment variables to it is cmd's job.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

// Default credentials, accepted only while the service listens on a loopback address.
const (
	DefaultAccessKeyID     = "test"
	DefaultSecretAccessKey = "test"
	DefaultAccountID       = "000000000000"
)

// DefaultMaxBodyBytes is the default bound of a request body and of a resource after a FHIR
// PATCH: 50 MiB. HealthLake publishes no size quota for its FHIR REST API; the one size quota
// of its developer guide's quota tables is 50 MB per import file ("Quotas for import jobs":
// maximum import file size 50 MB, awsdocs/amazon-healthlake-dev-guide doc_source/devguide/
// limits.md), so any resource HealthLake takes in can also be written here in one request.
const DefaultMaxBodyBytes = 50 << 20

// Credential maps an access key to its secret and account (the tenant's account).
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string
}

// Config is the whole service configuration.
type Config struct {
	// Listen is the TCP address to serve on. Default "127.0.0.1:4599".
	Listen string
	// DataDir holds the SQLite database and, by default, the S3 folder. Default "./fhirlake-data".
	DataDir string
	// Store selects the backend: "" or "sqlite" means the file <DataDir>/fhirlake.db; a path ending in
	// ".db" is used as the SQLite file; a postgres:// or postgresql:// URL opens a PostgreSQL
	// database that several nodes may share (its search_path names the schema). Default "".
	Store string
	// StorePoolSize caps the connections to a PostgreSQL store. Default 10.
	StorePoolSize int
	// S3Dir is the folder that plays S3 when S3Endpoint is empty: s3://bucket/key is <S3Dir>/bucket/key.
	// The S3 API on Listen serves it. Each bucket belongs to an account: the creator, for buckets made
	// through the S3 API; AccountID, for folders made by hand. Default "<DataDir>/s3".
	S3Dir string
	// S3Dir is node-local, so a PostgreSQL store (whose nodes may be several) refuses it unless
	// S3DirShared says that every node sees the same folder (a network file system). Default false.
	S3DirShared bool
	// S3Endpoint is a real S3-compatible endpoint (path-style); credentials come from the standard AWS
	// chain. Every tenant's jobs use those credentials, so isolation between tenants is the endpoint's,
	// and the S3 API on Listen is off. Default "" (use S3Dir).
	S3Endpoint string
	// S3Region is the signing region for S3Endpoint. Default "us-east-1".
	S3Region string
	// S3AccessKeyID and S3SecretAccessKey sign requests to S3Endpoint; empty means the standard
	// AWS credential chain (environment, shared profile). Default "".
	S3AccessKeyID     string
	S3SecretAccessKey string
	// AccessKeyID and SecretAccessKey are the primary credential, of account AccountID. Defaults
	// DefaultAccessKeyID / DefaultSecretAccessKey, refused on a non-loopback Listen.
	AccessKeyID     string
	SecretAccessKey string
	// AccountID is the 12-digit account of the primary credential. Default "000000000000".
	AccountID string
	// ExtraCredentials are more tenants, as "AKID:SECRET:ACCOUNT" entries. Default none.
	ExtraCredentials []Credential
	// PublicURL is the base URL clients reach the service at, used in DatastoreEndpoint.
	// Default "http://<Listen>".
	PublicURL string
	// DatastoreCreateDelay is how long a new data store stays CREATING (and a deleted one DELETING).
	// Default 0.
	DatastoreCreateDelay time.Duration
	// MaxDatastores caps the data stores (not DELETED) of one account and region; 0 means no cap.
	// Default 10, the HealthLake quota.
	MaxDatastores int
	// JobLease is how long a job claim lasts without a heartbeat before another worker (of this
	// node or, on PostgreSQL, of another) may take the job over. Default 30s.
	JobLease time.Duration
	// JobFaultTimeout is how long a job that meets an environment fault that can clear (the data
	// store's disk is full; an S3 location is unwritable, unreadable or unreachable) pauses and
	// retries with back-off, logging why, before it fails with a message naming the cause.
	// Default 10m.
	JobFaultTimeout time.Duration
	// JobConcurrency is how many jobs this node runs at once (jobs of one data store and kind run
	// one at a time whatever it is). Default 4.
	JobConcurrency int
	// ImportParallelism is the number of goroutines that parse and validate import lines.
	// Default 0 (one per CPU).
	ImportParallelism int
	// MaxImportFiles is the number of input objects above which an import job fails. Default 10000.
	MaxImportFiles int
	// ExportPerFile is the number of resources per exported NDJSON object. Default 5000.
	ExportPerFile int
	// ExportS3URI is the output location, as s3://bucket/prefix, of FHIR REST $export kick-offs
	// that name none. Default "": every kick-off must name one.
	ExportS3URI string
	// ProgressLogInterval is how often a running job logs its progress (counters and rate).
	// Default 5s; 0 turns the progress lines off.
	ProgressLogInterval time.Duration
	// MetricsListen is a separate TCP address that serves only /metrics, without authentication
	// unless MetricsToken is set. Default "": /metrics is served on Listen.
	MetricsListen string
	// MetricsToken, when set, is the bearer token every /metrics request must carry. Default "":
	// /metrics on Listen is open while Listen is a loopback address and refused otherwise (use
	// MetricsToken or MetricsListen), and open on MetricsListen.
	MetricsToken string
	// MaxBodyBytes bounds a request body, and a resource after a FHIR PATCH, in bytes; a larger
	// one is refused (413, or 422 too-costly for a PATCH). Default DefaultMaxBodyBytes (50 MiB,
	// from HealthLake's import file quota).
	MaxBodyBytes int64
	// BodyBudgetBytes is the memory, in bytes, of the request bodies (and PATCH results) all
	// requests hold at once; a request that does not fit is answered 429 with Retry-After
	// (ThrottlingException on the control plane) instead of growing the process. It must be at
	// least twice MaxBodyBytes (a body's buffer doubles as it arrives). Default 256 MiB.
	BodyBudgetBytes int64
	// ReadHeaderTimeout is how long a client may take to send a request's headers.
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next request.
	// Default 60s.
	IdleTimeout time.Duration
	// BodyTimeout is the time a request body (and each response write) is given before
	// MinBodyRate applies: a body must have arrived within BodyTimeout plus its length divided by
	// MinBodyRate, else the request is answered 408 and the connection closed. Default 20s.
	BodyTimeout time.Duration
	// MinBodyRate is the slowest rate, in bytes per second, a client may send a body at (and
	// read a response at) once BodyTimeout has passed. Default 16 KiB/s.
	MinBodyRate int64
	// ConditionalDeleteMax is how many resources one FHIR conditional delete (DELETE
	// [type]?criteria) may delete; criteria matching more are refused with 412. Default 1: a
	// conditional delete deletes at most one resource.
	ConditionalDeleteMax int
}

// Default returns the configuration with every default applied.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:4599",
		DataDir:         "./fhirlake-data",
		S3Region:        "us-east-1",
		AccessKeyID:     DefaultAccessKeyID,
		SecretAccessKey: DefaultSecretAccessKey,
		AccountID:       DefaultAccountID,
		MaxDatastores:   10,
		StorePoolSize:   10,
		JobLease:        30 * time.Second,
		JobFaultTimeout: 10 * time.Minute,
		JobConcurrency:  4,
		MaxImportFiles:  10000,
		ExportPerFile:   5000,

		ProgressLogInterval: 5 * time.Second,

		MaxBodyBytes:      DefaultMaxBodyBytes,
		BodyBudgetBytes:   256 << 20,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		BodyTimeout:       20 * time.Second,
		MinBodyRate:       16 << 10,

		ConditionalDeleteMax: 1,
	}
}

// ParseCredentials parses "AKID:SECRET:ACCOUNT[,AKID:SECRET:ACCOUNT...]".
func ParseCredentials(s string) ([]Credential, error) {
	var out []Credential
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("credential %q: want AKID:SECRET:ACCOUNT", parts[0])
		}
		out = append(out, Credential{AccessKeyID: parts[0], SecretAccessKey: parts[1], AccountID: parts[2]})
	}
	return out, nil
}

// Credentials returns every configured credential, the primary first.
func (c *Config) Credentials() []Credential {
	return append([]Credential{{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, AccountID: c.AccountID}},
		c.ExtraCredentials...)
}

// Postgres reports whether Store names a PostgreSQL database.
func (c *Config) Postgres() bool {
	return strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://")
}

// StorePath returns the SQLite file path ("" for a PostgreSQL store).
func (c *Config) StorePath() string {
	if c.Postgres() {
		return ""
	}
	if c.Store != "" && c.Store != "sqlite" {
		return c.Store
	}
	return filepath.Join(c.DataDir, "fhirlake.db")
}

// Validate fills derived defaults and rejects unusable settings.
func (c *Config) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.S3Dir == "" {
		c.S3Dir = filepath.Join(c.DataDir, "s3")
	}
	if c.S3Region == "" {
		c.S3Region = "us-east-1"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public URL %q must be an http(s) URL", c.PublicURL))
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch {
	case c.Postgres():
		if _, err := url.Parse(c.Store); err != nil {
			errs = append(errs, errors.New("store: the PostgreSQL URL does not parse"))
		}
		if c.StorePoolSize < 2 {
			errs = append(errs, fmt.Errorf("store pool size %d must be at least 2", c.StorePoolSize))
		}
		if c.S3Endpoint == "" && !c.S3DirShared {
			errs = append(errs, errors.New("a PostgreSQL store may be shared by several nodes, and the S3 folder is local to one: "+
				"set --s3-endpoint, or --s3-dir-shared if every node sees the same --s3-dir"))
		}
	case c.Store != "" && c.Store != "sqlite" && !strings.HasSuffix(c.Store, ".db"):
		errs = append(errs, fmt.Errorf("store %q: want \"sqlite\", a path ending in .db or a postgres:// URL", c.Store))
	}
	for _, cr := range c.Credentials() {
		if !validAccount(cr.AccountID) {
			errs = append(errs, fmt.Errorf("account id %q must be 12 digits", cr.AccountID))
		}
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			errs = append(errs, errors.New("access key id and secret must not be empty"))
		}
	}
	if err == nil && !isLoopback(host) {
		for _, cr := range c.Credentials() {
			if cr.AccessKeyID == DefaultAccessKeyID || cr.SecretAccessKey == DefaultSecretAccessKey {
				errs = append(errs, fmt.Errorf("refusing to listen on non-loopback %q with the default credentials: set --access-key-id and --secret-access-key", c.Listen))
				break
			}
		}
	}
	if c.JobLease < time.Second {
		errs = append(errs, fmt.Errorf("job lease %s must be at least 1s", c.JobLease))
	}
	if c.JobFaultTimeout <= 0 {
		errs = append(errs, errors.New("job fault timeout must be positive"))
	}
	if c.JobConcurrency < 1 {
		errs = append(errs, fmt.Errorf("job concurrency %d must be at least 1", c.JobConcurrency))
	}
	if c.DatastoreCreateDelay < 0 {
		errs = append(errs, errors.New("datastore create delay must not be negative"))
	}
	if c.ExportPerFile <= 0 {
		errs = append(errs, errors.New("export per file must be positive"))
	}
	if c.ExportS3URI != "" {
		if _, _, err := s3io.ParseURI(c.ExportS3URI); err != nil {
			errs = append(errs, fmt.Errorf("export S3 URI %q must be s3://bucket/prefix: %w", c.ExportS3URI, err))
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.ProgressLogInterval < 0 {
		errs = append(errs, errors.New("progress log interval must not be negative"))
	}
	if c.ConditionalDeleteMax < 1 {
		errs = append(errs, errors.New("conditional delete max must be at least 1"))
	}
	if c.MaxImportFiles <= 0 {
		errs = append(errs, errors.New("max import files must be positive"))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max body must be positive"))
	}
	if c.BodyBudgetBytes < 2*c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("body budget %d must be at least twice the max body %d", c.BodyBudgetBytes, c.MaxBodyBytes))
	}
	if c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.BodyTimeout <= 0 {
		errs = append(errs, errors.New("read header, idle and body timeouts must be positive"))
	}
	if c.MinBodyRate <= 0 {
		errs = append(errs, errors.New("min body rate must be positive"))
	}
	return errors.Join(errs...)
}

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ListensOnLoopback reports whether Listen is a loopback address (localhost, 127.0.0.0/8, ::1),
// where the default credentials and unauthenticated metrics are allowed.
func (c *Config) ListensOnLoopback() bool {
	host, _, err := net.SplitHostPort(c.Listen)
	return err == nil && isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
