package fhir

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// loadSynthea returns every line of the synthea/ corpus (8,315 resources).
func loadSynthea(b *testing.B) ([][]byte, int64) {
	b.Helper()
	var lines [][]byte
	var size int64
	for _, f := range ndjsonFiles(b, filepath.Join(testenv.SharedDir(b), "data", "synthea")) {
		forEachLine(b, f, func(line []byte, _ int) {
			lines = append(lines, append([]byte(nil), line...))
			size += int64(len(line))
		})
	}
	if len(lines) == 0 {
		b.Skip("no synthea data")
	}
	return lines, size
}

// cpuTime is the CPU time the process has used (user and system): on a
// shared machine it measures the work of a benchmark run with -cpu 1 better
// than the wall clock, which counts the time other processes hold the core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkValidate validates the synthea corpus at each level. One op is
// one resource; run with -cpu 1 for per-core figures. It reports
// resources/s (wall clock), resources/cpu-s (per second of CPU time, the
// per-core figure on a busy machine), MB/s (from SetBytes: the mean
// resource size) and allocations per resource. strict-without-invariants is
// strict with the constraint evaluation switched off, for comparison.
func BenchmarkValidate(b *testing.B) {
	lines, size := loadSynthea(b)
	v := NewValidator()
	noInv := NewValidator()
	noInv.skipInvariants = true
	for _, c := range []struct {
		name  string
		v     *Validator
		level Level
	}{
		{"minimal", v, LevelMinimal},
		{"structure-only", v, LevelStructureOnly},
		{"strict-without-invariants", noInv, LevelStrict},
		{"strict", v, LevelStrict},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size / int64(len(lines)))
			b.ReportAllocs()
			rejected := 0
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if !c.v.Validate(lines[i%len(lines)], c.level).Valid() {
					rejected++
				}
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			if rejected > 0 {
				b.Fatalf("%d rejections", rejected)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "resources/cpu-s")
			}
		})
	}
}

// BenchmarkSetMeta rewrites meta on synthea resources.
func BenchmarkSetMeta(b *testing.B) {
	lines, size := loadSynthea(b)
	now := testTime()
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := SetMeta(lines[i%len(lines)], "2", now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

func testTime() time.Time {
	return time.Date(2020, 11, 23, 6, 24, 13, 202_000_000, time.UTC)
}
