package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store/postgres"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// node is one fhirlake process of a multi-node deployment.
type node struct {
	cmd  *exec.Cmd
	addr string
	name string // the node's name in job leases, read from its log
	done chan struct{}
	mu   sync.Mutex
	tail []string // the last lines of its log, for failure messages
}

// startNode runs bin serve with args on a free loopback port and waits until it answers /healthz.
func startNode(t testing.TB, bin string, env []string, args ...string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{addr: ln.Addr().String(), done: make(chan struct{})}
	ln.Close()
	n.cmd = exec.Command(bin, append([]string{"serve", "--listen", n.addr}, args...)...)
	n.cmd.Env = append(os.Environ(), env...)
	logs, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	named := make(chan string, 1)
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(logs)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Node string `json:"node"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "fhirlake listening" {
				named <- line.Node
			}
			n.mu.Lock()
			n.tail = append(n.tail, sc.Text())
			if len(n.tail) > 20 {
				n.tail = n.tail[1:]
			}
			n.mu.Unlock()
		}
		n.cmd.Wait()
	}()
	t.Cleanup(func() { n.stop(syscall.SIGKILL) })
	select {
	case n.name = <-named:
	case <-n.done:
		t.Fatalf("node exited at start: %s", n.logTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not start: %s", n.logTail())
	}
	return n
}

func (n *node) logTail() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.tail, "\n")
}

// stop sends sig and waits for the process to end.
func (n *node) stop(sig syscall.Signal) {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(sig)
	<-n.done
}

func (n *node) client() *healthlake.Client {
	return healthlake.New(healthlake.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + n.addr),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// fhirGet sends a SigV4-signed GET to the FHIR API of a data store on n.
func (n *node) fhirGet(t testing.TB, ds, path string) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+n.addr+"/datastore/"+ds+"/r4/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req,
		hex.EncodeToString(sum[:]), "healthlake", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s on %s = %d %v: %s", path, n.addr, res.StatusCode, err, b)
	}
	return b
}

func terminal(s types.JobStatus) bool {
	return s == types.JobStatusCompleted || s == types.JobStatusCompletedWithErrors || s == types.JobStatusFailed ||
		s == types.JobStatusCancelCompleted || s == types.JobStatusCancelFailed
}

// TestMultiNodeImport runs three fhirlake processes on one PostgreSQL schema and one S3 endpoint
// (gofakes3, in this process) and imports synthea-full (180k resources, 16 gzip files) while the
// node running the job is killed with SIGKILL three times and stopped with SIGTERM once, each at
// a different point; a fresh node joins after each. Another node must take the job over every
// time (after a SIGTERM at once, without waiting for the lease), and the job must end once, with
// exactly the counters, resource versions and SUCCESS lines of an uninterrupted run; every node
// then reads the same data.
func TestMultiNodeImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and imports 180k resources on three processes")
	}
	shared := testenv.SharedDir(t)
	dbURL := testenv.Postgres(t)
	ctx := context.Background()

	backend := s3mem.New()
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(fake.Close)
	for _, b := range []string{"mn-in", "mn-out"} {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(shared, "data", "synthea-full")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	// What an uninterrupted run must give: lines, and the number of times each resource appears.
	occurrences := map[string]int64{}
	var lines int64
	v := fhir.NewValidator()
	for _, e := range entries {
		gz, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := backend.PutObject("mn-in", "full/"+e.Name(), nil, bytes.NewReader(gz), int64(len(gz)), nil); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
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
	}

	bin := buildBinary(t)
	const lease = 4 * time.Second
	env := []string{"AWS_ACCESS_KEY_ID=fake", "AWS_SECRET_ACCESS_KEY=fake"}
	launch := func() *node {
		return startNode(t, bin, env, "--store", dbURL, "--s3-endpoint", fake.URL, "--job-lease", lease.String(),
			"--data-dir", t.TempDir(), "--log-level", "info")
	}
	nodes := []*node{launch(), launch(), launch()}

	ds := createActive(t, nodes[0].client(), "multi")
	in := importInput(ds, "s3://mn-in/full/", "s3://mn-out/jobs/")
	in.ValidationLevel = types.ValidationLevelMinimal
	started, err := nodes[1].client().StartFHIRImportJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	job := *started.JobId

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	// holder returns the node name and fencing token of the job's current claim.
	holder := func() (string, string) {
		var owner, token string
		if err := db.QueryRow(ctx, "SELECT lease_owner, lease_token FROM jobs WHERE id = $1", job).Scan(&owner, &token); err != nil {
			t.Fatal(err)
		}
		return owner, token
	}
	live := func() *node { return nodes[len(nodes)-1] }
	describe := func() *types.ImportJobProperties {
		out, err := live().client().DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds, JobId: &job})
		if err != nil {
			t.Fatal(err)
		}
		return out.ImportJobProperties
	}

	stops := []struct {
		at  int64
		sig syscall.Signal
	}{{lines / 6, syscall.SIGKILL}, {lines / 3, syscall.SIGTERM}, {lines / 2, syscall.SIGKILL}, {lines * 5 / 6, syscall.SIGKILL}}
	stopped := 0
	for _, st := range stops {
		deadline := time.Now().Add(5 * time.Minute)
		for {
			j := describe()
			if terminal(j.JobStatus) {
				break
			}
			if j.JobProgressReport != nil && aws.ToInt64(j.JobProgressReport.TotalNumberOfResourcesImported) >= st.at {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress to %d", st.at)
			}
			time.Sleep(20 * time.Millisecond)
		}
		owner, token := holder()
		if owner == "" {
			t.Logf("job not held (status %s) before stop at %d", describe().JobStatus, st.at)
			break
		}
		i := -1
		for k, n := range nodes {
			if n.name == owner {
				i = k
			}
		}
		if i < 0 {
			t.Fatalf("job held by %s, not one of the live nodes", owner)
		}
		victim := nodes[i]
		nodes = append(append([]*node{}, nodes[:i]...), nodes[i+1:]...)
		stoppedAt := time.Now()
		victim.stop(st.sig)
		stopped++
		nodes = append(nodes, launch())
		// Another node takes the job over: after a SIGTERM at once, after a SIGKILL once the lease
		// has expired.
		for {
			o, tok := holder()
			if tok != token && o != "" {
				took := time.Since(stoppedAt)
				t.Logf("%s of the holder at %d resources: %s took the job over after %s", st.sig, st.at, o, took.Round(time.Millisecond))
				if st.sig == syscall.SIGTERM && took >= lease {
					t.Errorf("after SIGTERM the job waited %s for its lease to expire", took)
				}
				break
			}
			if terminal(describe().JobStatus) {
				break
			}
			if time.Since(stoppedAt) > 2*time.Minute {
				t.Fatalf("no node took the job over")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	final := waitImport(t, live().client(), ds, job)
	if stopped < 3 {
		t.Errorf("only %d stops happened mid-import", stopped)
	}
	r := final.JobProgressReport
	if final.JobStatus != types.JobStatusCompleted || aws.ToInt64(r.TotalNumberOfResourcesScanned) != lines ||
		aws.ToInt64(r.TotalNumberOfResourcesImported) != lines || aws.ToInt64(r.TotalNumberOfImportedFiles) != int64(len(entries)) ||
		aws.ToInt64(r.TotalNumberOfScannedFiles) != int64(len(entries)) {
		t.Fatalf("final = %s %+v, want %d resources", final.JobStatus, *r, lines)
	}

	// SUCCESS reports: one line per input line, each (file, lineId) once.
	folder := "jobs/" + ds + "-FHIR_IMPORT-" + job + "/"
	list, err := backend.ListBucket("mn-out", &gofakes3.Prefix{Prefix: folder + "SUCCESS/", HasPrefix: true}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var reportLines int64
	for _, o := range list.Contents {
		obj, err := backend.GetObject("mn-out", o.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			id := strings.SplitN(l, ",", 2)[0]
			if seen[id] {
				t.Fatalf("%s: %s reported twice", o.Key, id)
			}
			seen[id] = true
			reportLines++
		}
	}
	if reportLines != lines || len(list.Contents) != len(entries) {
		t.Errorf("SUCCESS lines = %d in %d objects, want %d in %d", reportLines, len(list.Contents), lines, len(entries))
	}

	// Versions: each resource has exactly as many versions as it appears in the input.
	st, err := postgres.Open(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkVersions(t, st, ds, occurrences)

	// Every node reads the same: a search count and a sample of resources.
	var sample []string
	for k := range occurrences {
		if len(sample) == 40 {
			break
		}
		sample = append(sample, k)
	}
	var want []string
	for i, n := range nodes {
		var reads []string
		var count struct{ Total int64 }
		if err := json.Unmarshal(n.fhirGet(t, ds, "Observation?code=8302-2&_summary=count"), &count); err != nil || count.Total == 0 {
			t.Fatalf("count on node %d = %d, %v", i, count.Total, err)
		}
		reads = append(reads, fmt.Sprint("total ", count.Total))
		for _, k := range sample {
			var res map[string]any
			if err := json.Unmarshal(n.fhirGet(t, ds, k), &res); err != nil {
				t.Fatal(err)
			}
			reads = append(reads, fmt.Sprint(res["id"], res["meta"]))
		}
		if i == 0 {
			want = reads
			continue
		}
		for j := range reads {
			if reads[j] != want[j] {
				t.Fatalf("node %d reads %q, node 0 %q", i, reads[j], want[j])
			}
		}
	}
}
