package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/google/go-cmp/cmp"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlite"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// proc is the service running as a child process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited; state is then set
	state  *os.ProcessState
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and a reading test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkVersions fails t unless data store ds holds exactly the resources of occurrences ("Type/id"
// to the number of times it appears in the input), each at that version.
func checkVersions(t *testing.T, st interface {
	ResourceScan(ctx context.Context, datastoreID, typ, afterID string, fn func(store.Resource) error) error
}, ds string, occurrences map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	typeSet := map[string]bool{}
	for k := range occurrences {
		typeSet[strings.SplitN(k, "/", 2)[0]] = true
	}
	for typ := range typeSet {
		if err := st.ResourceScan(context.Background(), ds, typ, "", func(r store.Resource) error {
			got[r.Type+"/"+r.ID] = r.Version
			return nil
		}); err != nil {
			t.Fatal(err)
		}
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
	if len(got) != len(occurrences) || bad > 0 {
		t.Fatalf("stored %d resources (%d with wrong versions), want %d", len(got), bad, len(occurrences))
	}
}

// buildBinary builds cmd/fhirlake and returns the path of the executable.
func buildBinary(t testing.TB) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fhirlake")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fhirlake")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startProc runs the service binary on dataDir and waits until it accepts connections. Its
// standard error goes to the test's.
func startProc(t testing.TB, bin, dataDir string) *proc {
	t.Helper()
	return startProcWith(t, bin, dataDir, nil, os.Stderr)
}

// startProcWith is startProc with extra environment entries ("K=V") and serve flags; the
// process's standard error is kept (see proc.stderr) and copied to echo when not nil.
func startProcWith(t testing.TB, bin, dataDir string, env []string, echo io.Writer, args ...string) *proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, addr: addr, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if echo != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, echo)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited at start: %s\n%s", p.state, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	if !p.state.Success() {
		t.Errorf("SIGTERM exit: %s\n%s", p.state, p.stderr)
	}
}

// client returns a HealthLake client of the process with the default credentials.
func (p *proc) client() *healthlake.Client {
	return healthlake.New(healthlake.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + p.addr),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
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
	tmp := t.TempDir()
	bin := buildBinary(t)
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

	client := func(p *proc) *healthlake.Client { return p.client() }
	p := startProc(t, bin, dataDir)
	defer func() { p.kill() }()
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
		p.kill()
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
	p.kill()
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
	// The same input imported without interruption into another data store, to compare indexes.
	clean := createActive(t, client(p), "clean")
	cin := importInput(clean, "s3://crash-in/full/", "s3://crash-out/")
	cin.ValidationLevel = types.ValidationLevelMinimal
	cjob, err := client(p).StartFHIRImportJob(ctx, cin)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, client(p), clean, *cjob.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("uninterrupted import = %s", j.JobStatus)
	}
	p.stop(t)
	// Versions: each resource has exactly as many versions as it appears in the input.
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkVersions(t, st, ds, occurrences)
	compareIndexes(t, st, ds, clean)
}

// compareIndexes checks that two data stores of st hold the same index entries for every
// resource and every search parameter (IndexEntries also checks each store's posting lists
// against its resource rows and finds entries of keys that are not current resources).
func compareIndexes(t *testing.T, st *sqlite.Store, got, want string) {
	t.Helper()
	ctx := context.Background()
	digest := func(es []string) [32]byte { return sha256.Sum256([]byte(strings.Join(es, "\n"))) }
	perParam := func(counts map[string]int, typ string, es []string) {
		for _, e := range es {
			counts[typ+"."+strings.SplitN(e, " ", 2)[0]]++
		}
	}
	wantDigest := map[string][32]byte{}
	wantCounts, gotCounts := map[string]int{}, map[string]int{}
	if err := st.IndexEntries(ctx, want, func(typ, id string, es []string) error {
		wantDigest[typ+"/"+id] = digest(es)
		perParam(wantCounts, typ, es)
		return nil
	}); err != nil {
		t.Fatalf("index of the uninterrupted import: %v", err)
	}
	var differ []string
	n := 0
	if err := st.IndexEntries(ctx, got, func(typ, id string, es []string) error {
		n++
		if d, ok := wantDigest[typ+"/"+id]; !ok || d != digest(es) {
			differ = append(differ, typ+"/"+id)
		}
		perParam(gotCounts, typ, es)
		return nil
	}); err != nil {
		t.Fatalf("index of the resumed import: %v", err)
	}
	if n != len(wantDigest) {
		t.Errorf("index covers %d resources after the resumed import, %d after the uninterrupted one", n, len(wantDigest))
	}
	if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
		t.Errorf("entries per search parameter differ (-uninterrupted +resumed):\n%s", diff)
	}
	if len(differ) > 0 {
		t.Errorf("%d resources have other index entries after the resumed import, e.g. %v", len(differ), differ[:min(5, len(differ))])
	}
	t.Logf("index: %d resources, %d search parameters compared", n, len(wantCounts))
}

// crashInput is the import input of TestCrashPoints: a file long enough for several commits with
// a customer error in it, a file that updates one of its resources and holds a broken line, and
// a file that is not NDJSON (a file-level customer error).
func crashInput() map[string]string {
	var a, b strings.Builder
	for i := 0; i < 4500; i++ {
		if i == 10 {
			a.WriteString(`{"resourceType":"Patient","gender":"male"}` + "\n")
		}
		fmt.Fprintf(&a, `{"resourceType":"Patient","id":"p%d","gender":"female"}`+"\n", i)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, `{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"x"}}`+"\n", i)
	}
	b.WriteString(`{"resourceType":"Patient","id":"p1","gender":"male"}` + "\n")
	b.WriteString(`{"resourceType":"Patient","id":"p2"` + "\n")
	return map[string]string{"a/Patient.ndjson": a.String(), "b.ndjson": b.String(), "c.txt": "not fhir\n"}
}

// importOutcome is everything an import job leaves behind, with what differs between two runs of
// the same input (ids, times, throughput) taken out.
type importOutcome struct {
	Status, Message string
	Progress        [7]int64          // the counters of JobProgressReport
	Manifest        string            // manifest.json with data store and job ids replaced
	Reports         map[string]string // SUCCESS/FAILURE objects by name, lastUpdated blanked
	Versions        map[string]int64  // current version of every resource
	Staged          []string          // report chunks the store still holds for the job
}

// exportOutcome is what an export job leaves behind.
type exportOutcome struct {
	Status, Message string
	Objects         map[string]string // output objects by name relative to the job folder
}

var lastUpdated = regexp.MustCompile(`"lastUpdated":"[^"]*"`)

// readTree returns the files under dir by slash-separated relative name.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyTree copies the folder src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	for name, body := range readTree(t, src) {
		path := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// describeImport returns the import outcome seen through the API and the output folder.
func describeImport(t testing.TB, p *proc, dataDir, ds, job string) importOutcome {
	t.Helper()
	j := waitImport(t, p.client(), ds, job)
	r := j.JobProgressReport
	o := importOutcome{Status: string(j.JobStatus), Message: aws.ToString(j.Message)}
	if r != nil {
		o.Progress = [7]int64{aws.ToInt64(r.TotalNumberOfScannedFiles), aws.ToInt64(r.TotalNumberOfImportedFiles),
			aws.ToInt64(r.TotalNumberOfFilesReadWithCustomerError), aws.ToInt64(r.TotalNumberOfResourcesScanned),
			aws.ToInt64(r.TotalNumberOfResourcesImported), aws.ToInt64(r.TotalNumberOfResourcesWithCustomerError),
			int64(aws.ToFloat64(r.TotalSizeOfScannedFilesInMB) * 1e6)}
	}
	folder := filepath.Join(dataDir, "s3", "crash-out", ds+"-FHIR_IMPORT-"+job)
	files := readTree(t, folder)
	o.Manifest = strings.NewReplacer(ds, "DS", job, "JOB").Replace(files["manifest.json"])
	delete(files, "manifest.json")
	o.Reports = map[string]string{}
	for name, body := range files {
		o.Reports[name] = lastUpdated.ReplaceAllString(body, `"lastUpdated":""`)
	}
	return o
}

// storedState adds the resource versions and the job's staged report chunks, read from the
// database of a stopped process.
func storedState(t testing.TB, dataDir, ds, job string, o *importOutcome) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "fhirlake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o.Versions = map[string]int64{}
	for _, typ := range []string{"Patient", "Observation"} {
		if err := st.ResourceScan(ctx, ds, typ, "", func(r store.Resource) error {
			o.Versions[r.Type+"/"+r.ID] = r.Version
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if o.Staged, err = st.ReportNames(ctx, job); err != nil {
		t.Fatal(err)
	}
}

// describeExport returns the export outcome.
func describeExport(t testing.TB, p *proc, dataDir, ds, job string) exportOutcome {
	t.Helper()
	j := waitExport(t, p.client(), ds, job)
	return exportOutcome{Status: string(j.JobStatus), Message: aws.ToString(j.Message),
		Objects: readTree(t, filepath.Join(dataDir, "s3", "crash-out", "export", ds+"-FHIR_EXPORT-"+job))}
}

// waitKilled waits for the process to kill itself at the kill point spec.
func (p *proc) waitKilled(t testing.TB, spec string) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.kill()
		t.Fatalf("the process did not kill itself at %s\n%s", spec, p.stderr)
	}
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL || !strings.Contains(p.stderr.String(), "killing the process at "+spec+"\n") {
		t.Fatalf("process ended with %s, not at kill point %s\n%s", p.state, spec, p.stderr)
	}
}

// TestCrashPoints stops the service with SIGKILL at every phase boundary of an import job and of
// an export job, restarts it, and checks that each job ends exactly as an uninterrupted run of
// the same input: status, message, counters, manifest, SUCCESS/FAILURE reports, resource
// versions, staged report chunks and exported objects. The binary kills itself at the point
// named in FHIRLAKE_TEST_KILL_AT ("point:n": the n-th time a job reaches it), so every kill
// lands exactly where it is meant to, whatever the machine's speed.
func TestCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it 34 times")
	}
	bin := buildBinary(t)
	tmp := t.TempDir()
	writeInput := func(dataDir string) {
		for name, body := range crashInput() {
			path := filepath.Join(dataDir, "s3", "crash-in", "in", filepath.FromSlash(name))
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(filepath.Join(dataDir, "s3", "crash-out"), 0o755)
	}
	const perFile = "1000" // exported resources per object: several objects of one type
	// The start functions return the job id, or "" with the error when the call failed: a process
	// that kills itself can die at its first kill point before the client reads the answer (the
	// job is committed by then; jobID finds it after the restart).
	startImport := func(t testing.TB, p *proc) (ds, job string, err error) {
		c := p.client()
		ds = createActive(t, c, "crash")
		in := importInput(ds, "s3://crash-in/in/", "s3://crash-out/")
		in.ValidationLevel = types.ValidationLevelMinimal
		out, err := c.StartFHIRImportJob(context.Background(), in)
		if err != nil {
			return ds, "", err
		}
		return ds, *out.JobId, nil
	}
	startExport := func(p *proc, ds string) (string, error) {
		out, err := p.client().StartFHIRExportJob(context.Background(), exportInput(ds, "s3://crash-out/export/"))
		if err != nil {
			return "", err
		}
		return *out.JobId, nil
	}
	must := func(t testing.TB, id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// jobID returns id, or when it is "" the newest job of the kind in ds other than not.
	jobID := func(t testing.TB, p *proc, kind, ds, id, not string) string {
		t.Helper()
		if id != "" {
			return id
		}
		c := p.client()
		if kind == "export" {
			out, err := c.ListFHIRExportJobs(context.Background(), &healthlake.ListFHIRExportJobsInput{DatastoreId: &ds})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range out.ExportJobPropertiesList {
				if *j.JobId != not {
					return *j.JobId
				}
			}
		} else {
			out, err := c.ListFHIRImportJobs(context.Background(), &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range out.ImportJobPropertiesList {
				if *j.JobId != not {
					return *j.JobId
				}
			}
		}
		t.Fatalf("no %s job in %s after the restart", kind, ds)
		return ""
	}

	// The uninterrupted run.
	refDir := filepath.Join(tmp, "ref")
	writeInput(refDir)
	p := startProcWith(t, bin, refDir, nil, nil, "--export-per-file", perFile)
	refDS, job, err := startImport(t, p)
	job = must(t, job, err)
	wantImport := describeImport(t, p, refDir, refDS, job)
	refExport, err := startExport(p, refDS)
	wantExport := describeExport(t, p, refDir, refDS, must(t, refExport, err))
	p.stop(t)
	storedState(t, refDir, refDS, job, &wantImport)
	if wantImport.Status != string(types.JobStatusCompletedWithErrors) || wantImport.Progress[3] != 4523 ||
		wantImport.Progress[4] != 4521 || wantImport.Versions["Patient/p1"] != 2 || len(wantImport.Staged) != 0 ||
		len(wantImport.Reports) != 5 {
		t.Fatalf("uninterrupted import = %s %v, reports %v, staged %v", wantImport.Status, wantImport.Progress,
			slices.Sorted(maps.Keys(wantImport.Reports)), wantImport.Staged)
	}
	if wantExport.Status != string(types.JobStatusCompleted) || len(wantExport.Objects) != 6 {
		t.Fatalf("uninterrupted export = %s with objects %v", wantExport.Status, slices.Sorted(maps.Keys(wantExport.Objects)))
	}

	points := []struct{ kind, spec string }{
		{"import", "import.listed"},
		{"import", "import.committed:1"},       // in the middle of the first file
		{"import", "import.file-committed:1"},  // the first file's lines are committed
		{"import", "import.reports-written:1"}, // its reports are written
		{"import", "import.file-done:1"},       // it is marked done
		{"import", "import.reports-written:2"}, // the second file's reports are written
		{"import", "import.file-committed:3"},  // the third file's file-level failure is staged
		{"import", "import.manifest-written"},  // after the last file
		{"import", "import.before-terminal"},   // the job has its result
		{"import", "import.after-terminal"},    // the job is COMPLETED_WITH_ERRORS
		{"export", "export.object-written:1"},  // the first object, not yet checkpointed
		{"export", "export.checkpointed:1"},    // the first object is checkpointed
		{"export", "export.checkpointed:2"},    // the first type is done
		{"export", "export.object-written:4"},  // in the middle of the second type
		{"export", "export.before-terminal"},   // every object is written
		{"export", "export.after-terminal"},    // the job is COMPLETED
	}
	for _, pt := range points {
		t.Run(pt.spec, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(tmp, strings.ReplaceAll(pt.spec, ":", "-"))
			kill := []string{"FHIRLAKE_TEST_KILL_AT=" + pt.spec}
			if pt.kind == "export" {
				copyTree(t, refDir, dir)
				p := startProcWith(t, bin, dir, kill, nil, "--export-per-file", perFile)
				job, _ := startExport(p, refDS)
				p.waitKilled(t, pt.spec)
				p = startProcWith(t, bin, dir, nil, nil, "--export-per-file", perFile)
				got := describeExport(t, p, dir, refDS, jobID(t, p, "export", refDS, job, refExport))
				p.stop(t)
				if diff := cmp.Diff(wantExport, got); diff != "" {
					t.Errorf("export killed at %s differs from an uninterrupted one (-want +got):\n%s", pt.spec, diff)
				}
				return
			}
			writeInput(dir)
			p := startProcWith(t, bin, dir, kill, nil)
			ds, job, _ := startImport(t, p)
			p.waitKilled(t, pt.spec)
			p = startProcWith(t, bin, dir, nil, nil)
			job = jobID(t, p, "import", ds, job, "")
			got := describeImport(t, p, dir, ds, job)
			p.stop(t)
			storedState(t, dir, ds, job, &got)
			if diff := cmp.Diff(wantImport, got); diff != "" {
				t.Errorf("import killed at %s differs from an uninterrupted one (-want +got):\n%s", pt.spec, diff)
			}
		})
	}
}
