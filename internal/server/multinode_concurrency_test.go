package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/importer"
	"github.com/fhirlake/fhirlake/internal/server"
	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// startNodes runs n services in this process on one PostgreSQL schema and one shared S3 folder,
// as n nodes of one deployment; tweak adjusts their common configuration, opts (may be nil) gives
// each node its options.
func startNodes(t testing.TB, n int, tweak func(*config.Config), opts func(i int) []server.Option) []*testServer {
	t.Helper()
	cfg := newConfig(t)
	cfg.Store = testenv.Postgres(t)
	cfg.S3DirShared = true
	cfg.S3Dir = filepath.Join(cfg.DataDir, "s3")
	if tweak != nil {
		tweak(&cfg)
	}
	var out []*testServer
	for i := 0; i < n; i++ {
		c := cfg
		c.DataDir = t.TempDir()
		var o []server.Option
		if opts != nil {
			o = opts(i)
		}
		out = append(out, start(t, c, o...))
	}
	return out
}

// burstClient returns a client of ts whose transport keeps enough connections for a burst; its
// spare connections are closed at the end so that the server's graceful shutdown does not wait
// for them.
func burstClient(t *testing.T, ts *testServer, conns int) *healthlake.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: conns}
	t.Cleanup(tr.CloseIdleConnections)
	return healthlake.New(ts.client("us-east-1").Options(), func(o *healthlake.Options) { o.HTTPClient = &http.Client{Transport: tr} })
}

// TestNodesOneClientToken: 64 concurrent StartFHIRImportJob calls with one ClientToken, spread
// over two nodes, make one job, and every call returns it.
func TestNodesOneClientToken(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2, nil, func(int) []server.Option { return []server.Option{server.WithoutWorkers()} })
	ds := createActive(t, nodes[0].client("us-east-1"), "token")
	nodes[0].bucket("fhir-in")
	nodes[0].bucket("fhir-out")
	clients := []*healthlake.Client{burstClient(t, nodes[0], 32), burstClient(t, nodes[1], 32)}
	const parallel = 64
	ids := make([]string, parallel)
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := importInput(ds, "s3://fhir-in/", "s3://fhir-out/")
			in.ClientToken = aws.String("one-token")
			out, err := clients[i%2].StartFHIRImportJob(context.Background(), in)
			if err != nil {
				t.Errorf("start %d: %v", i, err)
				return
			}
			ids[i] = aws.ToString(out.JobId)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("start %d returned job %s, start 0 job %s", i, id, ids[0])
		}
	}
	list, err := clients[1].ListFHIRImportJobs(context.Background(), &healthlake.ListFHIRImportJobsInput{DatastoreId: &ds})
	if err != nil || len(list.ImportJobPropertiesList) != 1 {
		t.Fatalf("jobs = %d, %v; want 1", len(list.ImportJobPropertiesList), err)
	}
}

// TestNodesDatastoreQuota: 64 concurrent creates with distinct tokens over two nodes never make
// more live stores than the quota.
func TestNodesDatastoreQuota(t *testing.T) {
	t.Parallel()
	const quota, parallel = 10, 64
	nodes := startNodes(t, 2, func(c *config.Config) { c.MaxDatastores = quota },
		func(int) []server.Option { return []server.Option{server.WithoutWorkers()} })
	clients := []*healthlake.Client{burstClient(t, nodes[0], 32), burstClient(t, nodes[1], 32)}
	var mu sync.Mutex
	made, refused := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := clients[i%2].CreateFHIRDatastore(context.Background(), &healthlake.CreateFHIRDatastoreInput{
				DatastoreTypeVersion: types.FHIRVersionR4, DatastoreName: aws.String(fmt.Sprint("q", i)),
				ClientToken: aws.String(fmt.Sprint("token-", i))})
			var ve *types.ValidationException
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made++
			case errors.As(err, &ve) && strings.Contains(aws.ToString(ve.Message), "quota"):
				refused++
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if made != quota || refused != parallel-quota {
		t.Fatalf("%d created, %d refused; want %d, %d", made, refused, quota, parallel-quota)
	}
	for _, n := range nodes {
		if live := liveStores(t, n.client("us-east-1")); live != quota {
			t.Errorf("node lists %d live stores, want %d", live, quota)
		}
	}
}

// heldOpen blocks every Open of the workers' S3 access on one node, after telling started which
// node it is, until release is closed.
type heldOpen struct {
	importer.Objects
	node    int
	started chan<- int
	once    sync.Once
	release <-chan struct{}
}

func (h *heldOpen) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	h.once.Do(func() { h.started <- h.node })
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.Objects.Open(ctx, bucket, key, offset)
}

// TestNodesImportInParallel: two imports into two data stores run at once on two nodes that run
// one job each: both are reading their input before either may go on.
func TestNodesImportInParallel(t *testing.T) {
	t.Parallel()
	started := make(chan int, 2)
	release := make(chan struct{})
	nodes := startNodes(t, 2, func(c *config.Config) { c.JobConcurrency = 1 }, func(i int) []server.Option {
		return []server.Option{server.WithObjects(func(o importer.Objects) importer.Objects {
			return &heldOpen{Objects: o, node: i, started: started, release: release}
		})}
	})
	c := nodes[0].client("us-east-1")
	in := nodes[0].bucket("fhir-in")
	nodes[0].bucket("fhir-out")
	if err := os.WriteFile(filepath.Join(in, "p.ndjson"), []byte(`{"resourceType":"Patient","id":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var jobs [2][2]string
	for i := range jobs {
		ds := createActive(t, c, fmt.Sprint("parallel-", i))
		out, err := nodes[i].client("us-east-1").StartFHIRImportJob(context.Background(), importInput(ds, "s3://fhir-in/p.ndjson", "s3://fhir-out/"))
		if err != nil {
			t.Fatal(err)
		}
		jobs[i] = [2]string{ds, aws.ToString(out.JobId)}
	}
	// Each node runs one job at a time, so both jobs are held at once only if both nodes run one.
	var on []int
	for len(on) < 2 {
		select {
		case n := <-started:
			on = append(on, n)
		case <-time.After(30 * time.Second):
			t.Fatalf("jobs running on nodes %v only", on)
		}
	}
	if on[0] == on[1] {
		t.Fatalf("both jobs started on node %d", on[0])
	}
	close(release)
	for _, j := range jobs {
		if got := waitImport(t, c, j[0], j[1]); got.JobStatus != types.JobStatusCompleted {
			t.Fatalf("job %s = %s", j[1], got.JobStatus)
		}
	}
}

// TestNodesShareNextToken: a NextToken from one node continues the listing on another.
func TestNodesShareNextToken(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2, nil, func(int) []server.Option { return []server.Option{server.WithoutWorkers()} })
	ctx := context.Background()
	a, b := nodes[0].client("us-east-1"), nodes[1].client("us-east-1")
	want := map[string]bool{}
	for i := 0; i < 3; i++ {
		want[createActive(t, a, fmt.Sprint("page-", i))] = true
	}
	got := map[string]bool{}
	var token *string
	for i := 0; ; i++ {
		c := []*healthlake.Client{a, b}[i%2]
		out, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{MaxResults: aws.Int32(1), NextToken: token})
		if err != nil {
			t.Fatalf("page %d on node %d: %v", i, i%2, err)
		}
		for _, d := range out.DatastorePropertiesList {
			got[aws.ToString(d.DatastoreId)] = true
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

// TestNodesPreloadOnce: with three nodes running, a SYNTHEA-preloaded store is loaded once: 820
// resources, each at version 1.
func TestNodesPreloadOnce(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 3, nil, nil)
	c := nodes[1].client("us-east-1")
	ctx := context.Background()
	out, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
		PreloadDataConfig: &types.PreloadDataConfig{PreloadDataType: types.PreloadDataTypeSynthea}})
	if err != nil {
		t.Fatal(err)
	}
	w := healthlake.NewFHIRDatastoreActiveWaiter(nodes[2].client("us-east-1"), func(o *healthlake.FHIRDatastoreActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: out.DatastoreId}, time.Minute); err != nil {
		t.Fatal(err)
	}
	st := nodes[0].Srv.Store()
	versions := map[int64]int{}
	for _, typ := range []string{"Patient", "Observation", "Encounter", "Organization", "Practitioner", "Condition"} {
		if err := st.ResourceScan(ctx, *out.DatastoreId, typ, "", func(r store.Resource) error {
			versions[r.Version]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := st.ResourceCount(ctx, *out.DatastoreId)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	if total != 820 || len(versions) != 1 || versions[1] == 0 {
		t.Fatalf("preloaded %d resources, versions %v; want 820 at version 1", total, versions)
	}
}
