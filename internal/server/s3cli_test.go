package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
)

// awsCLI runs the AWS CLI against the service as the default account and returns its output.
func awsCLI(t *testing.T, ts *testServer, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", ts.URL}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAWSCLIS3 uses the AWS CLI's s3 commands as a user would: mb, cp of a file over the CLI's
// 8 MB multipart threshold, ls, sync, rm, rb; then imports the copied NDJSON with HealthLake.
// It skips when the AWS CLI is not installed.
func TestAWSCLIS3(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the AWS CLI")
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	ts := start(t, newConfig(t))
	dir := t.TempDir()

	// A 9+ MB NDJSON file of valid patients, so cp goes multipart and the import has work.
	var b bytes.Buffer
	for i := 0; b.Len() < 9<<20; i++ {
		b.WriteString(`{"resourceType":"Patient","id":"cli-` + strings.Repeat("0", 6-len(itoa(i))) + itoa(i) +
			`","gender":"female","birthDate":"1970-01-01","name":[{"family":"` + rand.Text() + `"}]}` + "\n")
	}
	lines := int64(bytes.Count(b.Bytes(), []byte("\n")))
	big := filepath.Join(dir, "Patient.ndjson")
	if err := os.WriteFile(big, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, ts, "s3", "mb", "s3://cli-in")
	awsCLI(t, ts, "s3", "mb", "s3://cli-out")
	awsCLI(t, ts, "s3", "cp", big, "s3://cli-in/patients/Patient.ndjson")
	if ls := awsCLI(t, ts, "s3", "ls", "s3://cli-in/patients/"); !strings.Contains(ls, itoa(b.Len())+" Patient.ndjson") {
		t.Errorf("ls = %q, want the object with its size %d", ls, b.Len())
	}
	if got, err := os.ReadFile(filepath.Join(ts.Cfg.S3Dir, "cli-in", "patients", "Patient.ndjson")); err != nil || !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("stored object differs (%d bytes, %v)", len(got), err)
	}

	hl := ts.client("us-east-1")
	ds := createActive(t, hl, "cli")
	out, err := hl.StartFHIRImportJob(context.Background(), importInput(ds, "s3://cli-in/patients/", "s3://cli-out/imports/"))
	if err != nil {
		t.Fatal(err)
	}
	j := waitImport(t, hl, ds, *out.JobId)
	if j.JobStatus != types.JobStatusCompleted || aws.ToInt64(j.JobProgressReport.TotalNumberOfResourcesImported) != lines {
		t.Fatalf("import = %s, %d of %d imported (%s)", j.JobStatus, aws.ToInt64(j.JobProgressReport.TotalNumberOfResourcesImported), lines, aws.ToString(j.Message))
	}
	if ls := awsCLI(t, ts, "s3", "ls", "--recursive", "s3://cli-out/imports/"); !strings.Contains(ls, "manifest.json") {
		t.Errorf("import output not listed: %q", ls)
	}

	// sync both ways, then rm and rb.
	src := filepath.Join(dir, "tree")
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755)
		os.WriteFile(filepath.Join(src, f), []byte("content of "+f), 0o644)
	}
	awsCLI(t, ts, "s3", "sync", src, "s3://cli-in/tree/")
	back := filepath.Join(dir, "back")
	awsCLI(t, ts, "s3", "sync", "s3://cli-in/tree/", back)
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.txt"} {
		if got, err := os.ReadFile(filepath.Join(back, f)); err != nil || string(got) != "content of "+f {
			t.Errorf("synced back %s: %q %v", f, got, err)
		}
	}
	if again := awsCLI(t, ts, "s3", "sync", src, "s3://cli-in/tree/"); strings.Contains(again, "upload:") {
		t.Errorf("second sync uploaded again: %q", again)
	}
	awsCLI(t, ts, "s3", "rm", "--recursive", "s3://cli-in/")
	if ls := awsCLI(t, ts, "s3", "ls", "--recursive", "s3://cli-in/"); strings.TrimSpace(ls) != "" {
		t.Errorf("after rm: %q", ls)
	}
	awsCLI(t, ts, "s3", "rb", "s3://cli-in")
	if ls := awsCLI(t, ts, "s3", "ls"); strings.Contains(ls, "cli-in") || !strings.Contains(ls, "cli-out") {
		t.Errorf("buckets after rb: %q", ls)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
