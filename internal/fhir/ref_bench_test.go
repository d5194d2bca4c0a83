package fhir

import (
	"encoding/json"
	"testing"
)

// BenchmarkReferenceJSONValid is encoding/json.Valid on the same data, as a
// yardstick for BenchmarkValidate/minimal.
func BenchmarkReferenceJSONValid(b *testing.B) {
	lines, size := loadSynthea(b)
	b.SetBytes(size / int64(len(lines)))
	for i := 0; i < b.N; i++ {
		if !json.Valid(lines[i%len(lines)]) {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}
