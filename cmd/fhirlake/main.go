// Command fhirlake is a self-hosted FHIR datastore service, wire-compatible with AWS HealthLake.
//
//	fhirlake serve [flags]
//
// Every flag has an environment fallback FHIRLAKE_<NAME> (e.g. --data-dir → FHIRLAKE_DATA_DIR);
// a flag given on the command line wins. Run "fhirlake serve -h" for the list and defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fhirlake:", err)
		os.Exit(1)
	}
}

const usage = `usage: fhirlake serve [flags]

Serves the HealthLake control plane (AWS JSON 1.0, SigV4) and each data store's FHIR R4 endpoint.
Flags fall back to FHIRLAKE_<NAME> environment variables.
`

// run parses args and runs the service until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprint(stderr, usage)
		return errors.New(`unknown command: want "serve"`)
	}
	cfg, logLevel, err := parseFlags(args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	log.Info("fhirlake listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "public_url", cfg.PublicURL)
	serveErr := srv.Serve(ctx, ln)
	closeErr := srv.Close()
	log.Info("fhirlake stopped")
	return errors.Join(serveErr, closeErr)
}

// parseFlags binds the flags, with environment fallbacks, to a Config.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config.Config, slog.Level, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var creds, level string
	level = "info"
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on (non-loopback needs non-default credentials)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder for the database and the embedded S3 folder")
	fs.StringVar(&cfg.Store, "store", cfg.Store, `storage backend: "sqlite" (default: <data-dir>/fhirlake.db) or a path ending in .db`)
	fs.StringVar(&cfg.S3Dir, "s3-dir", cfg.S3Dir, "folder that plays S3, also served by the S3 API on the listen port: s3://bucket/key is <s3-dir>/bucket/key; folders made by hand belong to the primary account (default <data-dir>/s3)")
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
	fs.IntVar(&cfg.ImportParallelism, "import-parallelism", cfg.ImportParallelism, "goroutines validating import lines (0: one per CPU)")
	fs.IntVar(&cfg.MaxImportFiles, "max-import-files", cfg.MaxImportFiles, "input objects allowed per import job")
	fs.IntVar(&cfg.ExportPerFile, "export-per-file", cfg.ExportPerFile, "resources per exported NDJSON object")
	fs.StringVar(&cfg.ExportS3URI, "export-s3-uri", cfg.ExportS3URI, "default output location (s3://bucket/prefix) of FHIR $export requests that name none (default: required in the request)")
	fs.StringVar(&level, "log-level", level, "debug, info, warn or error")

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
		return cfg, 0, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if creds != "" {
		extra, err := config.ParseCredentials(creds)
		if err != nil {
			return cfg, 0, err
		}
		cfg.ExtraCredentials = extra
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return cfg, 0, fmt.Errorf("log level %q: %w", level, err)
	}
	return cfg, lv, nil
}
