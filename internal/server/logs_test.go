package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"

	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestImportLogsProgress: a running import logs its counters and rate at the configured interval.
func TestImportLogsProgress(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	cfg := newConfig(t)
	cfg.ProgressLogInterval = 1 // nanosecond: every commit logs
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	c := healthlake.New(healthlake.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + cfg.Listen),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	ds := createActive(t, c, "logs")
	copyDir(t, filepath.Join(shared, "data", "synthea"), filepath.Join(cfg.S3Dir, "fhir-in", "synthea"))
	if err := os.MkdirAll(filepath.Join(cfg.S3Dir, "fhir-out"), 0o755); err != nil {
		t.Fatal(err)
	}
	started, err := c.StartFHIRImportJob(context.Background(), importInput(ds, "s3://fhir-in/synthea/", "s3://fhir-out/"))
	if err != nil {
		t.Fatal(err)
	}
	job := waitImport(t, c, ds, *started.JobId)
	var progress []map[string]any
	var ended map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		switch rec["msg"] {
		case "import progress":
			if rec["job"] == *started.JobId {
				progress = append(progress, rec)
			}
		case "job ended":
			ended = rec
		}
	}
	if len(progress) < 2 {
		t.Fatalf("%d import progress lines, want several:\n%s", len(progress), logs.String())
	}
	last := progress[len(progress)-1]
	if last["resources_imported"] != float64(aws.ToInt64(job.JobProgressReport.TotalNumberOfResourcesImported)) ||
		last["files"] != 16.0 || last["resources_per_second"] == nil || last["datastore"] != ds {
		t.Errorf("last progress line = %v", last)
	}
	if ended == nil || ended["status"] != "COMPLETED" {
		t.Errorf("job ended line = %v", ended)
	}
}
