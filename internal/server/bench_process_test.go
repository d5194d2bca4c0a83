package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// processRSS returns the peak resident set size (VmHWM) of a process in MiB.
func processRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkServiceProcess runs the real binary, one fresh process per measurement, so that peak RSS
// belongs to the service alone: import at minimal of synthea (8k resources), synthea-full (180k)
// and synthea-full twice (361k, the second copy updating every resource), then an export of the
// 361k store in a new process. Flat RSS across input sizes is the goal.
func BenchmarkServiceProcess(b *testing.B) {
	shared := testenv.SharedDir(b)
	tmp := b.TempDir()
	bin := buildBinary(b)
	type input struct {
		name    string
		folders []string // source folders copied as full/0, full/1, ...
	}
	inputs := []input{
		{"synthea-8k", []string{filepath.Join(shared, "data", "synthea")}},
		{"synthea-full-180k", []string{filepath.Join(shared, "data", "synthea-full")}},
		{"synthea-full-x2-361k", []string{filepath.Join(shared, "data", "synthea-full"), filepath.Join(shared, "data", "synthea-full")}},
	}
	var lastDir, lastDS string
	for _, in := range inputs {
		b.Run("import/"+in.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dataDir := filepath.Join(tmp, fmt.Sprintf("%s-%d", in.name, i))
				for k, f := range in.folders {
					copyDir(b, f, filepath.Join(dataDir, "s3", "bench-in", "full", strconv.Itoa(k)))
				}
				os.MkdirAll(filepath.Join(dataDir, "s3", "bench-out"), 0o755)
				p := startProc(b, bin, dataDir)
				c := p.client()
				ds := createActive(b, c, "bench")
				req := importInput(ds, "s3://bench-in/full/", "s3://bench-out/")
				req.ValidationLevel = types.ValidationLevelMinimal
				t0 := time.Now()
				out, err := c.StartFHIRImportJob(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				job := waitImport(b, c, ds, *out.JobId)
				el := time.Since(t0)
				n := aws.ToInt64(job.JobProgressReport.TotalNumberOfResourcesImported)
				b.ReportMetric(float64(n)/el.Seconds(), "resources/s")
				b.ReportMetric(processRSS(p.cmd.Process.Pid), "peakRSS-MiB")
				p.stop(b)
				lastDir, lastDS = dataDir, ds
			}
		})
	}
	b.Run("export/synthea-full-x2", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p := startProc(b, bin, lastDir)
			c := p.client()
			t0 := time.Now()
			out, err := c.StartFHIRExportJob(context.Background(), exportInput(lastDS, fmt.Sprintf("s3://bench-out/export-%d/", i)))
			if err != nil {
				b.Fatal(err)
			}
			job := waitExport(b, c, lastDS, *out.JobId)
			el := time.Since(t0)
			if job.JobStatus != types.JobStatusCompleted {
				b.Fatalf("export %s", job.JobStatus)
			}
			counts := 0
			filepath.Walk(filepath.Join(lastDir, "s3", "bench-out", fmt.Sprintf("export-%d", i)), func(path string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					data, _ := os.ReadFile(path)
					counts += strings.Count(string(data), "\n")
				}
				return nil
			})
			b.ReportMetric(float64(counts)/el.Seconds(), "resources/s")
			b.ReportMetric(processRSS(p.cmd.Process.Pid), "peakRSS-MiB")
			p.stop(b)
		}
	})
}
