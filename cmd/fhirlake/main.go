// Command fhirlake is a self-hosted FHIR datastore service, wire-compatible with AWS HealthLake.
//
//	fhirlake serve [flags]   run the service
//	fhirlake version         print the module version, VCS commit and Go version
//	fhirlake help [serve]    print the usage (of serve: every flag and its default)
//
// Every flag of serve has an environment fallback FHIRLAKE_<NAME> (e.g. --data-dir →
// FHIRLAKE_DATA_DIR); a flag given on the command line wins. Help exits 0, an unknown command or
// a bad flag exits 2, and a failure of the service exits 1.
//
// FHIRLAKE_TEST_KILL_AT is for the crash test only: it makes the process kill itself at a named
// phase boundary of a job (see killHook). Leave it unset.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/goruntime"
	"github.com/fhirlake/fhirlake/internal/server"
)

func main() {
	goruntime.Configure()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := cli(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `fhirlake is a self-hosted FHIR R4 datastore service that speaks the AWS HealthLake API.

Usage:

	fhirlake <command> [flags]

Commands:

	serve     run the service: the HealthLake control plane (AWS JSON 1.0, SigV4), each data
	          store's FHIR R4 endpoint, the web console (/console/) and metrics (/metrics)
	version   print the module version, VCS commit and Go version
	help      print this help; "fhirlake help serve" lists the flags of serve

`

const serveUsage = `Usage: fhirlake serve [flags]

Serves the HealthLake control plane (AWS JSON 1.0, SigV4), each data store's FHIR R4 endpoint,
the web console at /console/ and Prometheus metrics at /metrics. Every flag falls back to the
environment variable FHIRLAKE_<NAME> (e.g. --data-dir: FHIRLAKE_DATA_DIR).

Flags:
`

// usageError is a command line the program cannot run (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// cli runs one command line and returns the process exit status.
func cli(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		switch {
		case len(args) == 1:
			fmt.Fprint(stdout, usage)
		case len(args) == 2 && args[1] == "serve":
			_, _, err := parseFlags([]string{"-h"}, getenv, stdout)
			if !errors.Is(err, flag.ErrHelp) {
				return exitStatus(err, stderr)
			}
		default:
			fmt.Fprintf(stderr, "fhirlake: no help for %q\n\n%s", strings.Join(args[1:], " "), usage)
			return 2
		}
		return 0
	case "version", "-version", "--version":
		fmt.Fprint(stdout, versionText())
		return 0
	case "serve":
		return exitStatus(serve(ctx, args[1:], getenv, stdout, stderr), stderr)
	}
	fmt.Fprintf(stderr, "fhirlake: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// exitStatus reports err on stderr and maps it to an exit status: 0 for none or a help request, 2
// for a usage error, 1 for anything else.
func exitStatus(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "fhirlake serve:", err)
		fmt.Fprintln(stderr, `run "fhirlake serve -h" for the flags`)
		return 2
	}
	fmt.Fprintln(stderr, "fhirlake:", err)
	return 1
}

// versionText describes the binary from its build information.
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "fhirlake: no build information in this binary\n"
	}
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	commit := "unknown (built without VCS information)"
	if rev := set["vcs.revision"]; rev != "" {
		commit = rev
		if set["vcs.modified"] == "true" {
			commit += " (modified)"
		}
		if t := set["vcs.time"]; t != "" {
			commit += " " + t
		}
	}
	platform := set["GOOS"] + "/" + set["GOARCH"]
	if platform == "/" {
		platform = ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fhirlake %s\n", bi.Main.Version)
	fmt.Fprintf(&b, "module   %s\n", bi.Main.Path)
	fmt.Fprintf(&b, "commit   %s\n", commit)
	fmt.Fprintf(&b, "go       %s %s\n", bi.GoVersion, platform)
	return b.String()
}

// serve parses the flags of serve and runs the service until ctx ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, lf, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	log, err := newLogger(stderr, lf.format, lf.level)
	if err != nil {
		return &usageError{err.Error()}
	}
	var opts []server.Option
	hook, err := killHook(getenv(killEnv), stderr)
	if err != nil {
		return &usageError{err.Error()}
	}
	if hook != nil {
		opts = append(opts, server.WithJobHook(hook))
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
	}
	start := time.Now()
	srv, err := server.New(ctx, cfg, log, opts...)
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	backend := "sqlite"
	if cfg.Postgres() {
		backend = "postgres" // the URL may hold a password: never logged
	}
	attrs := []any{"addr", ln.Addr().String(), "data_dir", cfg.DataDir, "store", backend, "node", srv.Node(), "public_url", cfg.PublicURL,
		"console", cfg.PublicURL + "/console/", "startup", time.Since(start)}
	if mln != nil {
		attrs = append(attrs, "metrics_addr", mln.Addr().String())
	}
	log.Info("fhirlake listening", attrs...)
	errc := make(chan error, 1)
	if mln != nil {
		go func() { errc <- srv.ServeMetrics(ctx, mln) }()
	} else {
		errc <- nil
	}
	serveErr := srv.Serve(ctx, ln)
	metricsErr := <-errc
	closeErr := srv.Close()
	log.Info("fhirlake stopped")
	return errors.Join(serveErr, metricsErr, closeErr)
}

// logFlags are the flags that shape the log rather than the service.
type logFlags struct {
	level  string
	format string
}

// parseFlags binds the flags, with environment fallbacks, to a Config. Help goes to stdout (and
// gives flag.ErrHelp); flag errors are *usageError.
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (config.Config, logFlags, error) {
	cfg := config.Default()
	lf := logFlags{level: "info", format: "json"}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage = func() {
		fmt.Fprint(&out, serveUsage)
		fs.PrintDefaults()
	}
	var creds string
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on (non-loopback needs non-default credentials)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder for the database and the embedded S3 folder")
	fs.StringVar(&cfg.Store, "store", cfg.Store, `storage backend: "sqlite" (default: <data-dir>/fhirlake.db), a path ending in .db, or a postgres:// URL that several nodes may share`)
	fs.IntVar(&cfg.StorePoolSize, "store-pool-size", cfg.StorePoolSize, "connections to a PostgreSQL store")
	fs.StringVar(&cfg.S3Dir, "s3-dir", cfg.S3Dir, "folder that plays S3, also served by the S3 API on the listen port: s3://bucket/key is <s3-dir>/bucket/key; folders made by hand belong to the primary account (default <data-dir>/s3)")
	fs.BoolVar(&cfg.S3DirShared, "s3-dir-shared", cfg.S3DirShared, "every node sees the same --s3-dir (needed to use the folder with a PostgreSQL store)")
	fs.StringVar(&cfg.S3Endpoint, "s3-endpoint", cfg.S3Endpoint, "real S3-compatible endpoint URL (path-style; credentials from the AWS chain) instead of the folder; every tenant's jobs then use its credentials, and the S3 API on the listen port is off")
	fs.StringVar(&cfg.S3Region, "s3-region", cfg.S3Region, "signing region for --s3-endpoint")
	fs.StringVar(&cfg.AccessKeyID, "access-key-id", cfg.AccessKeyID, "access key id clients sign with")
	fs.StringVar(&cfg.SecretAccessKey, "secret-access-key", cfg.SecretAccessKey, "secret access key clients sign with")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "12-digit account of the primary credential")
	fs.StringVar(&creds, "credentials", "", "more tenants: AKID:SECRET:ACCOUNT[,AKID:SECRET:ACCOUNT...]")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL clients use, for DatastoreEndpoint (default http://<listen>)")
	fs.DurationVar(&cfg.DatastoreCreateDelay, "datastore-create-delay", cfg.DatastoreCreateDelay, "time a data store stays CREATING (and DELETING)")
	fs.IntVar(&cfg.MaxDatastores, "max-datastores", cfg.MaxDatastores, "data stores per account and region (0: no limit)")
	fs.DurationVar(&cfg.JobLease, "job-lease", cfg.JobLease, "job claim lease; an unfinished job is resumed by another worker after it expires")
	fs.DurationVar(&cfg.JobFaultTimeout, "job-fault-timeout", cfg.JobFaultTimeout, "how long a job paused by a fault that can clear (data store disk full, S3 location unwritable or unreachable) retries before it fails")
	fs.IntVar(&cfg.JobConcurrency, "job-concurrency", cfg.JobConcurrency, "jobs this node runs at once")
	fs.IntVar(&cfg.ImportParallelism, "import-parallelism", cfg.ImportParallelism, "goroutines validating import lines (0: one per CPU)")
	fs.IntVar(&cfg.MaxImportFiles, "max-import-files", cfg.MaxImportFiles, "input objects allowed per import job")
	fs.IntVar(&cfg.ExportPerFile, "export-per-file", cfg.ExportPerFile, "resources per exported NDJSON object")
	fs.StringVar(&cfg.ExportS3URI, "export-s3-uri", cfg.ExportS3URI, "default output location (s3://bucket/prefix) of FHIR $export requests that name none (default: required in the request)")
	fs.DurationVar(&cfg.ProgressLogInterval, "progress-log-interval", cfg.ProgressLogInterval, "how often a running job logs its progress (0: never)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "separate address serving only /metrics (default: /metrics on --listen)")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", cfg.MetricsToken, "bearer token /metrics requires (default none: /metrics is open on a loopback --listen or on --metrics-listen, refused otherwise)")
	fs.Var((*byteSize)(&cfg.MaxBodyBytes), "max-body", "largest request body, and FHIR resource after a PATCH (HealthLake's 50 MB import file quota; suffixes KiB, MiB, GiB)")
	fs.Var((*byteSize)(&cfg.BodyBudgetBytes), "body-budget", "memory for the request bodies of all requests at once; beyond it requests get 429 with Retry-After (at least twice --max-body)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time a client may take to send request headers")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "time a keep-alive connection may wait for its next request")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", cfg.BodyTimeout, "time a request body (and each response write) is given before --min-body-rate applies")
	fs.Var((*byteSize)(&cfg.MinBodyRate), "min-body-rate", "slowest rate, in bytes per second, of a request body or response after --body-timeout (suffixes KiB, MiB)")
	fs.IntVar(&cfg.ConditionalDeleteMax, "conditional-delete-max", cfg.ConditionalDeleteMax, "resources one FHIR conditional delete (DELETE [type]?criteria) may delete; more matches are refused with 412")
	fs.StringVar(&lf.level, "log-level", lf.level, "debug, info, warn or error")
	fs.StringVar(&lf.format, "log-format", lf.format, "json, or text for people")

	// Environment fallbacks, applied before the command line so that flags win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "FHIRLAKE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if envErr != nil {
		return cfg, lf, &usageError{envErr.Error()}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			stdout.Write(out.Bytes())
			return cfg, lf, err
		}
		return cfg, lf, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, lf, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if creds != "" {
		extra, err := config.ParseCredentials(creds)
		if err != nil {
			return cfg, lf, &usageError{err.Error()}
		}
		cfg.ExtraCredentials = extra
	}
	if _, err := newLogger(io.Discard, lf.format, lf.level); err != nil {
		return cfg, lf, &usageError{err.Error()}
	}
	return cfg, lf, nil
}

// byteSize is a flag value in bytes, written as a number with an optional binary suffix
// (KiB, MiB, GiB).
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) String() string {
	for _, u := range byteUnits {
		if *b != 0 && int64(*b)%u.n == 0 {
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return "0"
}

func (b *byteSize) Set(s string) error {
	num, unit := s, int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = n, u.n
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/unit {
		return fmt.Errorf("%q is not a size in bytes (e.g. 50MiB)", s)
	}
	*b = byteSize(v * unit)
	return nil
}
