package server_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// proc is the service running as a child process.
type proc struct {
	cmd  *exec.Cmd
	addr string
}

func startProc(t testing.TB, bin, dataDir string) *proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return &proc{cmd: cmd, addr: addr}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashResume kills the server with SIGKILL three times in the middle of an import of
// synthea-full (180k resources) and checks that the job ends with exactly the counters, resource
// versions and report lines of an uninterrupted run: nothing lost, nothing repeated. It then kills
// an export of the store midway and checks that every resource is exported exactly once.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and imports 180k resources")
	}
	shared := testenv.SharedDir(t)
	src := filepath.Join(shared, "data", "synthea-full")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "fhirlake")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fhirlake")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := filepath.Join(tmp, "data")
	copyDir(t, src, filepath.Join(dataDir, "s3", "crash-in", "full"))
	os.MkdirAll(filepath.Join(dataDir, "s3", "crash-out"), 0o755)

	// What an uninterrupted run must give: lines, and the number of times each resource appears.
	occurrences := map[string]int64{}
	var lines int64
	v := fhir.NewValidator()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			r := v.Validate(sc.Bytes(), fhir.LevelMinimal)
			occurrences[r.ResourceType+"/"+r.ID]++
			lines++
		}
		f.Close()
	}

	client := func(p *proc) *healthlake.Client {
		return healthlake.New(healthlake.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + p.addr),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	}
	p := startProc(t, bin, dataDir)
	defer func() { p.cmd.Process.Kill(); p.cmd.Wait() }()
	ctx := context.Background()
	ds := createActive(t, client(p), "crash")
	in := importInput(ds, "s3://crash-in/full/", "s3://crash-out/")
	in.ValidationLevel = types.ValidationLevelMinimal
	started, err := client(p).StartFHIRImportJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	job := started.JobId
	describe := func(p *proc) *types.ImportJobProperties {
		out, err := client(p).DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: job})
		if err != nil {
			t.Fatal(err)
		}
		return out.ImportJobProperties
	}
	kills := 0
	for _, at := range []int64{lines / 6, lines / 2, lines * 5 / 6} {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			j := describe(p)
			if j.JobStatus != types.JobStatusInProgress && j.JobStatus != types.JobStatusSubmitted {
				t.Logf("job ended (%s) before kill at %d", j.JobStatus, at)
				break
			}
			if j.JobProgressReport != nil && aws.ToInt64(j.JobProgressReport.TotalNumberOfResourcesImported) >= at {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no progress")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if j := describe(p); j.JobStatus == types.JobStatusCompleted {
			break
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		kills++
		p = startProc(t, bin, dataDir)
	}
	final := waitImport(t, client(p), ds, *job)
	t.Logf("killed %d times; final status %s", kills, final.JobStatus)
	if kills < 2 {
		t.Errorf("only %d kills happened mid-import", kills)
	}
	r := final.JobProgressReport
	if final.JobStatus != types.JobStatusCompleted || aws.ToInt64(r.TotalNumberOfResourcesScanned) != lines ||
		aws.ToInt64(r.TotalNumberOfResourcesImported) != lines || aws.ToInt64(r.TotalNumberOfImportedFiles) != int64(len(entries)) ||
		aws.ToInt64(r.TotalNumberOfScannedFiles) != int64(len(entries)) {
		t.Fatalf("final = %s %+v, want %d resources", final.JobStatus, *r, lines)
	}
	// SUCCESS reports: one line per input line, each (file, lineId) once.
	folder := filepath.Join(dataDir, "s3", "crash-out", ds+"-FHIR_IMPORT-"+*job, "SUCCESS")
	var reportLines int64
	for _, name := range mustReadDir(t, folder) {
		seen := map[string]bool{}
		for _, l := range readLines(t, filepath.Join(folder, name)) {
			id := strings.SplitN(l, ",", 2)[0]
			if seen[id] {
				t.Fatalf("%s: %s reported twice", name, id)
			}
			seen[id] = true
			reportLines++
		}
	}
	if reportLines != lines {
		t.Errorf("SUCCESS lines = %d, want %d", reportLines, lines)
	}
	// Export, killed once after some objects are written: every current resource ends up in the
	// output exactly once.
	exp, err := client(p).StartFHIRExportJob(ctx, exportInput(ds, "s3://crash-out/export/"))
	if err != nil {
		t.Fatal(err)
	}
	expDir := filepath.Join(dataDir, "s3", "crash-out", "export", ds+"-FHIR_EXPORT-"+*exp.JobId)
	objects := func() int {
		n := 0
		filepath.Walk(expDir, func(_ string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	for deadline := time.Now().Add(2 * time.Minute); objects() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("export wrote nothing")
		}
	}
	d, err := client(p).DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: &ds, JobId: exp.JobId})
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	t.Logf("export killed after %d objects in status %s", objects(), d.ExportJobProperties.JobStatus)
	p = startProc(t, bin, dataDir)
	if j := waitExport(t, client(p), ds, *exp.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("export after restart = %s", j.JobStatus)
	}
	exported := map[string]int{}
	filepath.Walk(expDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		for _, l := range readLines(t, path) {
			var r struct{ ResourceType, ID string }
			json.Unmarshal([]byte(l), &r)
			exported[r.ResourceType+"/"+r.ID]++
		}
		return nil
	})
	if len(exported) != len(occurrences) {
		t.Errorf("exported %d resources, want %d", len(exported), len(occurrences))
	}
	for k, n := range exported {
		if n != 1 || occurrences[k] == 0 {
			t.Fatalf("%s exported %d times (in input: %v)", k, n, occurrences[k] > 0)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
	// Versions: each resource has exactly as many versions as it appears in the input.
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := map[string]int64{}
	typeSet := map[string]bool{}
	for k := range occurrences {
		typeSet[strings.SplitN(k, "/", 2)[0]] = true
	}
	for typ := range typeSet {
		if err := st.ResourceScan(ctx, ds, typ, "", func(r store.Resource) error {
			got[r.Type+"/"+r.ID] = r.Version
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(occurrences) {
		t.Errorf("stored %d resources, want %d", len(got), len(occurrences))
	}
	bad := 0
	for k, n := range occurrences {
		if got[k] != n {
			bad++
			if bad < 5 {
				t.Errorf("%s: version %d, want %d", k, got[k], n)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d resources with wrong version counts", bad)
	}
}
