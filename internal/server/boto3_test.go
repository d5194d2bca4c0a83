package server_test

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBoto3 drives the service with boto3 (botocore's parsers, waiters and validation), when
// python3 with boto3 is on the machine; it skips cleanly otherwise.
func TestBoto3(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts python")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 not available")
	}
	ts := start(t, newConfig(t))
	out, err := exec.Command("python3", filepath.Join("testdata", "boto3", "smoke.py"), ts.URL, ts.Cfg.S3Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3 smoke test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestBoto3S3 drives the S3 API with boto3's S3 client (and s3transfer's multipart upload), when
// python3 with boto3 is on the machine; it skips cleanly otherwise.
func TestBoto3S3(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts python")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 not available")
	}
	ts := start(t, newConfig(t))
	out, err := exec.Command("python3", filepath.Join("testdata", "boto3", "s3.py"), ts.URL, otherKey, otherSecret).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3 S3 test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
