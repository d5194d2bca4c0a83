package fhir

import (
	"path/filepath"
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

// BenchmarkValidate validates the synthea corpus at each level. One op is
// one resource; run with -cpu 1 for per-core figures. It reports
// resources/s, MB/s (from SetBytes: the mean resource size) and allocations
// per resource.
func BenchmarkValidate(b *testing.B) {
	lines, size := loadSynthea(b)
	v := NewValidator()
	for _, level := range []Level{LevelMinimal, LevelStructureOnly, LevelStrict} {
		b.Run(string(level), func(b *testing.B) {
			b.SetBytes(size / int64(len(lines)))
			b.ReportAllocs()
			rejected := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !v.Validate(lines[i%len(lines)], level).Valid() {
					rejected++
				}
			}
			b.StopTimer()
			if rejected > 0 {
				b.Fatalf("%d rejections", rejected)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
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
