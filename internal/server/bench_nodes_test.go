package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/server"
)

// dbActivity is what the database did: WAL for the whole server, transactions for the database,
// row changes in the nodes' schema.
type dbActivity struct {
	wal     int64 // WAL bytes written
	xacts   int64 // transactions committed or rolled back
	changes int64 // rows inserted, updated or deleted
}

func readActivity(b *testing.B, conn *pgx.Conn) dbActivity {
	var a dbActivity
	if err := conn.QueryRow(context.Background(), `SELECT pg_current_wal_lsn() - '0/0',
		(SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()),
		(SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = current_schema())`).
		Scan(&a.wal, &a.xacts, &a.changes); err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkIdleNodes runs three nodes on one PostgreSQL schema with nothing to do and measures,
// over 30 s, what they cost the database: WAL bytes (the whole server's, autovacuum and
// checkpoints included), transactions (the database's) and row changes in their schema, per second.
// Idle nodes wait for notifications; they poll only for the leases of dead nodes (every
// JobLease/3, at most 5 s), and the leader checks lifecycle deadlines twice a second, with
// reads only. The figures include whatever else uses the server.
func BenchmarkIdleNodes(b *testing.B) {
	const window = 30 * time.Second
	for range b.N {
		b.StopTimer()
		nodes := startNodes(b, 3, nil, nil)
		conn, err := pgx.Connect(context.Background(), nodes[0].Cfg.Store)
		if err != nil {
			b.Fatal(err)
		}
		// Start-up is done, and its statistics flushed: an idle backend reports its counters
		// within 10 s.
		time.Sleep(12 * time.Second)
		b.StartTimer()
		a0 := readActivity(b, conn)
		time.Sleep(window)
		a1 := readActivity(b, conn)
		b.StopTimer()
		conn.Close(context.Background())
		s := window.Seconds()
		b.ReportMetric(float64(a1.wal-a0.wal)/s, "WAL-bytes/s")
		b.ReportMetric(float64(a1.xacts-a0.xacts)/s, "transactions/s")
		b.ReportMetric(float64(a1.changes-a0.changes)/s, "row-changes/s")
		for _, n := range nodes {
			n.Stop()
		}
	}
}

// BenchmarkClaimToStart measures, with three nodes on one PostgreSQL schema, the time from
// StartFHIRImportJob's answer to the job's first step on a node (its input listed): the
// submitting node runs no jobs, so each start is another node's claim, woken by the database's
// notification. One small import at a time, one data store; p50 and p99 over the runs.
func BenchmarkClaimToStart(b *testing.B) {
	listed := make(chan time.Time, 16)
	hook := func(point string) {
		if point == jobs.PointImportListed {
			listed <- time.Now()
		}
	}
	nodes := startNodes(b, 3, nil, func(i int) []server.Option {
		if i == 0 {
			return []server.Option{server.WithoutWorkers()}
		}
		return []server.Option{server.WithJobHook(hook)}
	})
	c := nodes[0].client("us-east-1")
	ds := createActive(b, c, "claims")
	in := nodes[0].bucket("fhir-in")
	nodes[0].bucket("fhir-out")
	if err := os.WriteFile(filepath.Join(in, "p.ndjson"), []byte(`{"resourceType":"Patient","id":"a"}`+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := importInput(ds, "s3://fhir-in/p.ndjson", "s3://fhir-out/")
		req.ClientToken = aws.String(fmt.Sprint("claim-", i))
		out, err := c.StartFHIRImportJob(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		select {
		case t1 := <-listed:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(time.Minute):
			b.Fatal("no node started the job")
		}
		if j := waitImport(b, c, ds, *out.JobId); j.JobStatus != types.JobStatusCompleted {
			b.Fatalf("job %s", j.JobStatus)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
