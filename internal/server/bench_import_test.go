package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// peakRSS returns the process's peak resident set size in MiB (VmHWM), 0 where unknown.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime returns the user and system CPU time the process has used. On a shared machine it is a
// steadier measure of work than elapsed time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImportSyntheaFull imports synthea-full (180,520 resources, 16 gzip files) end to end
// through StartFHIRImportJob at each validation level: S3 folder → gunzip → validate on all cores →
// SQLite, with reports and manifest. Reported: resources/s, MB/s of uncompressed NDJSON, CPU time
// of the process per resource (core-µs, both cores together), peak RSS, database size on disk
// after the server stopped.
func BenchmarkImportSyntheaFull(b *testing.B) {
	shared := testenv.SharedDir(b)
	src := filepath.Join(shared, "data", "synthea-full")
	for _, level := range []types.ValidationLevel{types.ValidationLevelMinimal, types.ValidationLevelStructureOnly, types.ValidationLevelStrict} {
		b.Run(string(level), func(b *testing.B) {
			var resources, rawBytes, dbBytes int64
			var elapsed, cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg := newConfig(b)
				ts := start(b, cfg)
				c := ts.client("us-east-1")
				ds := createActive(b, c, "bench")
				copyDir(b, src, filepath.Join(ts.bucket("bench-in"), "full"))
				ts.bucket("bench-out")
				in := importInput(ds, "s3://bench-in/full/", "s3://bench-out/")
				in.ValidationLevel = level
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime()
				out, err := c.StartFHIRImportJob(context.Background(), in)
				if err != nil {
					b.Fatal(err)
				}
				job := waitImport(b, c, ds, *out.JobId)
				elapsed += time.Since(t0)
				cpu += cpuTime() - c0
				b.StopTimer()
				if job.JobStatus != types.JobStatusCompleted {
					b.Fatalf("status %s", job.JobStatus)
				}
				resources += aws.ToInt64(job.JobProgressReport.TotalNumberOfResourcesImported)
				var m struct {
					Imported json.Number `json:"sizeOfDataImportedSuccessfullyInMB"`
				}
				mb, _ := os.ReadFile(filepath.Join(ts.Cfg.S3Dir, "bench-out", ds+"-FHIR_IMPORT-"+*out.JobId, "manifest.json"))
				json.Unmarshal(mb, &m)
				f, _ := m.Imported.Float64()
				rawBytes += int64(f * 1e6)
				ts.Stop()
				dbBytes = 0
				files, _ := filepath.Glob(filepath.Join(ts.Cfg.DataDir, "fhirlake.db*"))
				for _, name := range files {
					if fi, err := os.Stat(name); err == nil {
						dbBytes += fi.Size()
					}
				}
			}
			b.ReportMetric(float64(resources)/elapsed.Seconds(), "resources/s")
			b.ReportMetric(float64(rawBytes)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(resources), "core-µs/resource")
			b.ReportMetric(peakRSS(), "peakRSS-MiB")
			b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
		})
	}
}

// BenchmarkRawBaseline is the floor the importer is compared with: gunzip + split lines +
// json.Valid over synthea-full, one file per goroutine on all cores, nothing stored.
func BenchmarkRawBaseline(b *testing.B) {
	shared := testenv.SharedDir(b)
	src := filepath.Join(shared, "data", "synthea-full")
	entries, _ := os.ReadDir(src)
	var files [][]byte
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
	}
	b.ResetTimer()
	var lines, raw int64
	var mu sync.Mutex
	start, c0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		work := make(chan []byte, len(files))
		for _, f := range files {
			work <- f
		}
		close(work)
		var wg sync.WaitGroup
		for w := 0; w < runtime.NumCPU(); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n, size int64
				for f := range work {
					zr, err := gzip.NewReader(bytes.NewReader(f))
					if err != nil {
						b.Error(err)
						return
					}
					sc := bufio.NewScanner(zr)
					sc.Buffer(make([]byte, 1<<20), 64<<20)
					for sc.Scan() {
						if !json.Valid(sc.Bytes()) {
							b.Error("invalid line")
						}
						n++
						size += int64(len(sc.Bytes()))
					}
				}
				mu.Lock()
				lines += n
				raw += size
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(lines)/el, "resources/s")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(lines), "core-µs/resource")
	b.ReportMetric(float64(raw)/1e6/el, "MB/s")
}

// BenchmarkImportBackends imports synthea-full at minimal validation once on each backend, in one
// run: SQLite (a file in the data directory) and PostgreSQL (a fresh schema of the server of
// TEST_DATABASE_URL, or one started for the test), both beside the service on the same cores.
// Compare with BenchmarkRawBaseline run in the same command.
func BenchmarkImportBackends(b *testing.B) {
	shared := testenv.SharedDir(b)
	src := filepath.Join(shared, "data", "synthea-full")
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var resources int64
			var elapsed, goCPU, pgCPU time.Duration
			pgMeasured := false
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg := newConfig(b)
				var serverCPU func() time.Duration
				if backend == "postgres" {
					cfg.Store, cfg.S3DirShared = testenv.Postgres(b), true
					serverCPU = testenv.PostgresCPU(b, cfg.Store)
				} else {
					cfg.Store = ""
				}
				ts := start(b, cfg)
				c := ts.client("us-east-1")
				ds := createActive(b, c, "bench")
				copyDir(b, src, filepath.Join(ts.bucket("bench-in"), "full"))
				ts.bucket("bench-out")
				in := importInput(ds, "s3://bench-in/full/", "s3://bench-out/")
				in.ValidationLevel = types.ValidationLevelMinimal
				var pg0 time.Duration
				if serverCPU != nil {
					pg0 = serverCPU()
				}
				go0 := cpuTime()
				b.StartTimer()
				t0 := time.Now()
				out, err := c.StartFHIRImportJob(context.Background(), in)
				if err != nil {
					b.Fatal(err)
				}
				job := waitImport(b, c, ds, *out.JobId)
				elapsed += time.Since(t0)
				b.StopTimer()
				goCPU += cpuTime() - go0
				if serverCPU != nil {
					pgCPU += serverCPU() - pg0
					pgMeasured = true
				}
				if job.JobStatus != types.JobStatusCompleted {
					b.Fatalf("status %s", job.JobStatus)
				}
				resources += aws.ToInt64(job.JobProgressReport.TotalNumberOfResourcesImported)
				ts.Stop()
			}
			b.ReportMetric(float64(resources)/elapsed.Seconds(), "resources/s")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/import")
			// CPU time per resource, both cores together: this process (the service), and the
			// PostgreSQL server when it runs on this machine. A loaded machine disturbs it far less
			// than elapsed time.
			b.ReportMetric(float64(goCPU.Microseconds())/float64(resources), "service-core-µs/resource")
			if pgMeasured {
				b.ReportMetric(float64(pgCPU.Microseconds())/float64(resources), "postgres-core-µs/resource")
			}
		})
	}
}
