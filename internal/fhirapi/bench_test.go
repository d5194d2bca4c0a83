package fhirapi_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

// latencies runs fn n times and reports p50 and p99 in milliseconds under the given name.
func latencies(b *testing.B, name string, n int, fn func(i int)) {
	b.Helper()
	d := make([]time.Duration, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		fn(i)
		d[i] = time.Since(start)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	b.ReportMetric(ms(d[n/2]), name+"-p50-ms")
	b.ReportMetric(ms(d[n*99/100]), name+"-p99-ms")
}

// everySeventh calls fn with every 7th line of a gzip NDJSON file, n times at most.
func everySeventh(b *testing.B, path string, n int, fn func(line []byte)) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	for k, calls := 0, 0; calls < n && sc.Scan(); k++ {
		if k%7 == 0 {
			fn(sc.Bytes())
			calls++
		}
	}
}

// sampleIDs reads up to n ids and subject references of a gzip NDJSON file.
func sampleIDs(b *testing.B, path string, n int) (ids, subjects []string) {
	everySeventh(b, path, n, func(line []byte) {
		var m struct {
			ID      string
			Subject struct{ Reference string }
		}
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, m.ID)
		subjects = append(subjects, m.Subject.Reference)
	})
	return ids, subjects
}

type benchPatient struct{ id, family string }

// samplePatients reads the ids and family names of every 7th patient of a gzip NDJSON file, up
// to n.
func samplePatients(b *testing.B, path string, n int) []benchPatient {
	var out []benchPatient
	everySeventh(b, path, n, func(line []byte) {
		var m struct {
			ID   string
			Name []struct{ Family string }
		}
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
		out = append(out, benchPatient{m.ID, m.Name[0].Family})
	})
	return out
}

// BenchmarkSyntheaFull imports synthea-full (180k resources) through an import job, then
// measures read, token search, date-range search, a reverse chain (_has), a chain of three
// links, Patient $everything and create over HTTP with SigV4. Run with
// go test -run XXX -bench SyntheaFull -benchtime 1x ./internal/fhirapi/
func BenchmarkSyntheaFull(b *testing.B) {
	dir := filepath.Join(testenv.SharedDir(b), "data", "synthea-full")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("synthea-full not present")
	}
	e := newEnv(b)
	start := time.Now()
	e.importDir(dir)
	imported := time.Since(start)

	obsIDs, subjects := sampleIDs(b, filepath.Join(dir, "Observation.ndjson.gz"), 1000)
	pats := samplePatients(b, filepath.Join(dir, "Patient.ndjson.gz"), 50)
	const n = 1000
	b.ResetTimer()
	for range b.N {
		b.ReportMetric(180520/imported.Seconds(), "import-resources/s")
		latencies(b, "read", n, func(i int) {
			if r := e.do("GET", "Observation/"+obsIDs[i%len(obsIDs)], nil); r.status != 200 {
				b.Fatalf("read: %d", r.status)
			}
		})
		codes := []string{"8302-2", "29463-7", "39156-5", "72514-3", "8867-4", "2093-3"}
		latencies(b, "search-token", 300, func(i int) {
			q := fmt.Sprintf("Observation?code=http://loinc.org|%s&subject=%s", codes[i%len(codes)], subjects[i%len(subjects)])
			if r := e.do("GET", q, nil); r.status != 200 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		latencies(b, "search-token-page100", 100, func(i int) {
			q := fmt.Sprintf("Observation?code=http://loinc.org|%s&_count=100", codes[i%len(codes)])
			if r := e.do("GET", q, nil); r.status != 200 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		latencies(b, "search-date", 300, func(i int) {
			y := 1990 + i%30
			q := fmt.Sprintf("Observation?subject=%s&date=ge%d-01-01&date=lt%d-07-01", subjects[i%len(subjects)], y, y+3)
			if r := e.do("GET", q, nil); r.status != 200 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		latencies(b, "search-date-only", 100, func(i int) {
			y := 1990 + i%30
			q := fmt.Sprintf("Observation?date=ge%d-03-01&date=lt%d-03-15", y, y)
			if r := e.do("GET", q, nil); r.status != 200 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		// Reverse chain: the patients with an observation of a code.
		labs := []string{"4548-4", "2093-3", "718-7", "33914-3", "6690-2", "2571-8"}
		latencies(b, "search-has", 100, func(i int) {
			q := "Patient?_has:Observation:subject:code=http://loinc.org|" + labs[i%len(labs)]
			if r := e.do("GET", q, nil); r.status != 200 || len(r.body) < 1000 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		// A chain of three links: diagnostic reports whose results were observed in encounters
		// of patients of a family name.
		latencies(b, "search-chain3", 100, func(i int) {
			q := "DiagnosticReport?result:Observation.encounter:Encounter.subject:Patient.family=" + url.QueryEscape(pats[i%len(pats)].family)
			if r := e.do("GET", q, nil); r.status != 200 {
				b.Fatalf("search: %d %s", r.status, r.body)
			}
		})
		// $everything of a patient: the first page, and every page.
		latencies(b, "everything-page", 100, func(i int) {
			if r := e.do("GET", "Patient/"+pats[i%len(pats)].id+"/$everything", nil); r.status != 200 {
				b.Fatalf("$everything: %d %s", r.status, r.body)
			}
		})
		var everything int
		latencies(b, "everything-all-pages", 100, func(i int) {
			next := "Patient/" + pats[i%len(pats)].id + "/$everything"
			for next != "" {
				r := e.do("GET", next, nil)
				if r.status != 200 {
					b.Fatalf("$everything: %d %s", r.status, r.body)
				}
				// The client's share is kept small: the entries are counted and the next link found
				// without decoding the page.
				everything += bytes.Count(r.body, []byte(`"search":{"mode":"match"}`))
				next = ""
				if i := bytes.Index(r.body, []byte(`{"relation":"next","url":"`)); i >= 0 {
					rest := r.body[i+len(`{"relation":"next","url":"`):]
					next = strings.ReplaceAll(string(rest[:bytes.IndexByte(rest, '"')]), `\u0026`, "&")
				}
			}
		})
		b.ReportMetric(float64(everything)/100, "everything-resources/patient")
		created := time.Now()
		const creates = 500
		for i := 0; i < creates; i++ {
			if r := e.do("POST", "Patient", []byte(patientJSON)); r.status != 201 {
				b.Fatalf("create: %d %s", r.status, r.body)
			}
		}
		b.ReportMetric(creates/time.Since(created).Seconds(), "creates/s")
	}
}

// largePatient returns a valid Patient of about n bytes: extensions holding strings of size
// bytes each (60 KB: few, large values; 20 bytes: about n/70 small elements).
func largePatient(id string, n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Patient","id":"` + id + `","extension":[`)
	val := strings.Repeat("x", size)
	for i := 0; b.Len() < n-size-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"url":"http://example.org/p","valueString":"` + val + `"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkLargePut measures one PUT of a 48 MB resource over HTTP with SigV4, in two shapes:
// large string values, and small elements. B/op, divided by the body size (bytes/body-byte),
// is what a request allocates per byte it carries. Profile with
// go test ./internal/fhirapi -run XXX -bench LargePut -benchtime 3x -memprofile mem.out
func BenchmarkLargePut(b *testing.B) {
	for _, shape := range []struct {
		name string
		size int
	}{{"strings", 60000}, {"elements", 20}} {
		b.Run(shape.name, func(b *testing.B) {
			e := newEnv(b)
			body := largePatient("big", 48<<20, shape.size)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if r := e.do("PUT", "Patient/big", body); r.status != 200 && r.status != 201 {
					b.Fatalf("PUT: %d %.300s", r.status, r.body)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "bytes/body-byte")
		})
	}
}

// readLines returns every line of the gzip NDJSON files of dir with its type and id.
func readLines(b *testing.B, dir string) (lines [][]byte, refs []string) {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson.gz"))
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var m struct{ ResourceType, ID string }
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				b.Fatal(err)
			}
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
			refs = append(refs, m.ResourceType+"/"+m.ID)
		}
		f.Close()
	}
	return lines, refs
}

// quantiles returns p50 and p90 of d in milliseconds (d is sorted in place).
func quantiles(d []time.Duration) (p50, p90 float64) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return ms(d[len(d)/2]), ms(d[len(d)*9/10])
}

// BenchmarkPutDuringImport measures a REST update (PUT of a Patient, SigV4-signed HTTP) on an
// idle server and while synthea-full is imported into the same data store, in one run: p50 and
// p90 of each and the ratio of the p90s (the goal is at most 3). Only PUTs that started and ended
// while the job was IN_PROGRESS count as "during".
func BenchmarkPutDuringImport(b *testing.B) {
	dir := filepath.Join(testenv.SharedDir(b), "data", "synthea-full")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("synthea-full not present")
	}
	e := newEnv(b)
	put := func(i int) time.Duration {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":"put-%d","gender":"female","birthDate":"1970-05-06","name":[{"family":"Put%d"}]}`, i%50, i)
		start := time.Now()
		if r := e.do("PUT", fmt.Sprintf("Patient/put-%d", i%50), []byte(body)); r.status != 200 && r.status != 201 {
			b.Fatalf("put: %d %s", r.status, r.body)
		}
		return time.Since(start)
	}
	status := func(job string) types.JobStatus {
		out, err := e.hl.DescribeFHIRImportJob(context.Background(), &healthlake.DescribeFHIRImportJobInput{DatastoreId: &e.ds, JobId: &job})
		if err != nil {
			b.Fatal(err)
		}
		return out.ImportJobProperties.JobStatus
	}
	for range b.N {
		var idle, during []time.Duration
		for i := 0; i < 300; i++ {
			idle = append(idle, put(i))
			time.Sleep(5 * time.Millisecond)
		}
		job := e.startImport(dir)
		for status(job) != types.JobStatusInProgress {
			time.Sleep(5 * time.Millisecond)
		}
		for i := 0; ; i++ {
			var batch []time.Duration
			for k := 0; k < 10; k++ {
				batch = append(batch, put(i*10+k))
				time.Sleep(5 * time.Millisecond)
			}
			if status(job) != types.JobStatusInProgress {
				break
			}
			during = append(during, batch...)
		}
		e.waitImport(job)
		if len(during) < 50 {
			b.Fatalf("only %d PUTs ran during the import", len(during))
		}
		i50, i90 := quantiles(idle)
		d50, d90 := quantiles(during)
		b.ReportMetric(i50, "idle-p50-ms")
		b.ReportMetric(i90, "idle-p90-ms")
		b.ReportMetric(d50, "import-p50-ms")
		b.ReportMetric(d90, "import-p90-ms")
		b.ReportMetric(d90/i90, "p90-ratio")
		b.ReportMetric(float64(len(during)), "puts-during")
	}
}

// BenchmarkBundleLoad loads synthea-full through the REST API as batch Bundles (and then as
// transaction Bundles) of 500 PUT entries sent by 4 clients, each into a new data store, and
// imports it with an import job into a third, in one run: resources/s of each and the ratio of
// each Bundle rate to the import rate (the goal is at least 1/3).
func BenchmarkBundleLoad(b *testing.B) {
	dir := filepath.Join(testenv.SharedDir(b), "data", "synthea-full")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("synthea-full not present")
	}
	lines, refs := readLines(b, dir)
	e := newEnv(b)
	load := func(kind string) float64 {
		e.ds = e.createStore(kind)
		const per, clients = 500, 4
		work := make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for lo := range work {
					var buf bytes.Buffer
					buf.WriteString(`{"resourceType":"Bundle","type":"` + kind + `","entry":[`)
					for i := lo; i < min(lo+per, len(lines)); i++ {
						if i > lo {
							buf.WriteByte(',')
						}
						buf.WriteString(`{"resource":`)
						buf.Write(lines[i])
						buf.WriteString(`,"request":{"method":"PUT","url":"` + refs[i] + `"}}`)
					}
					buf.WriteString("]}")
					if r := e.do("POST", "", buf.Bytes()); r.status != 200 {
						b.Errorf("%s bundle at %d: %d %.300s", kind, lo, r.status, r.body)
					}
				}
			}()
		}
		for lo := 0; lo < len(lines); lo += per {
			work <- lo
		}
		close(work)
		wg.Wait()
		return float64(len(lines)) / time.Since(start).Seconds()
	}
	for range b.N {
		batch := load("batch")
		transaction := load("transaction")
		e.ds = e.createStore("import")
		start := time.Now()
		e.importDir(dir)
		imported := float64(len(lines)) / time.Since(start).Seconds()
		b.ReportMetric(batch, "batch-resources/s")
		b.ReportMetric(transaction, "transaction-resources/s")
		b.ReportMetric(imported, "import-resources/s")
		b.ReportMetric(batch/imported, "batch/import")
		b.ReportMetric(transaction/imported, "transaction/import")
	}
}

// rewriteIDs returns line with the first character of every lowercase UUID in it (ids, reference
// targets, identifiers) replaced by c, which makes a copy of synthea-full whose resources and
// references are all new and consistent.
func rewriteIDs(dst, line []byte, c byte) []byte {
	isHex := func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }
	start := len(dst)
	dst = append(dst, line...)
	out := dst[start:]
	for i := 0; i+36 <= len(out); i++ {
		if out[i+8] != '-' || out[i+13] != '-' || out[i+18] != '-' || out[i+23] != '-' || (i > 0 && isHex(out[i-1])) {
			continue
		}
		ok := true
		for k := 0; k < 36 && ok; k++ {
			ok = k == 8 || k == 13 || k == 18 || k == 23 || isHex(out[i+k])
		}
		if ok {
			out[i] = c
			i += 35
		}
	}
	return dst
}

// writeCopies writes copies [from, to) of synthea-full, ids rewritten per copy, as plain NDJSON
// files under dir (one folder per copy).
func writeCopies(b *testing.B, lines [][]byte, types []string, dir string, from, to int) {
	b.Helper()
	for k := from; k < to; k++ {
		files := map[string]*bufio.Writer{}
		var closers []*os.File
		folder := filepath.Join(dir, fmt.Sprintf("copy%02d", k))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			b.Fatal(err)
		}
		var buf []byte
		for i, l := range lines {
			w := files[types[i]]
			if w == nil {
				f, err := os.Create(filepath.Join(folder, types[i]+".ndjson"))
				if err != nil {
					b.Fatal(err)
				}
				closers = append(closers, f)
				w = bufio.NewWriterSize(f, 1<<20)
				files[types[i]] = w
			}
			buf = append(rewriteIDs(buf[:0], l, byte('g'+k)), '\n')
			w.Write(buf)
		}
		for _, w := range files {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range closers {
			f.Close()
		}
	}
}

// BenchmarkImportGrowth measures import throughput as the store grows: copy 0 of synthea-full
// (ids rewritten per copy, plain NDJSON) into an empty store, copies 1-9 to reach 1.8M resources,
// then copies 10-19 (1.8M) into the store that holds 1.8M; reported are the rates of the first
// 180k and of the 1.8M-into-1.8M import and their ratio (the goal is at least 0.8), the same in
// CPU time per resource (cpu-first/grown: the first phase's CPU per resource over the grown
// one's, so that 0.8 means the same), the database size, and read and search latencies at 3.6M
// resources. It needs about 15 GB of temporary disk and several minutes:
//
//	go test ./internal/fhirapi -run XXX -bench ImportGrowth -benchtime 1x -timeout 60m
func BenchmarkImportGrowth(b *testing.B) {
	dir := filepath.Join(testenv.SharedDir(b), "data", "synthea-full")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("synthea-full not present")
	}
	lines, refs := readLines(b, dir)
	types := make([]string, len(refs))
	for i, r := range refs {
		types[i] = r[:strings.IndexByte(r, '/')]
	}
	for range b.N {
		e := newEnv(b)
		in := filepath.Join(e.cfg.S3Dir, "input")
		// phase imports copies from..to-1 and returns the rate and the CPU time of the process
		// per resource (core-µs), which moves far less than the rate on a shared machine.
		phase := func(name string, from, to int) (rate, cpu float64) {
			writeCopies(b, lines, types, filepath.Join(in, name), from, to)
			start, cpu0 := time.Now(), cpuTime(b)
			e.waitImport(e.startImportURI("s3://input/" + name + "/"))
			n := float64((to - from) * len(lines))
			rate = n / time.Since(start).Seconds()
			cpu = float64((cpuTime(b) - cpu0).Microseconds()) / n
			os.RemoveAll(filepath.Join(in, name))
			return rate, cpu
		}
		first, firstCPU := phase("first", 0, 1)
		phase("fill", 1, 10)
		dbSize := func() float64 {
			var n int64
			matches, _ := filepath.Glob(filepath.Join(e.cfg.DataDir, "fhirlake.db*"))
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil {
					n += fi.Size()
				}
			}
			return float64(n) / (1 << 20)
		}
		at1800k := dbSize()
		grown, grownCPU := phase("grow", 10, 20)
		b.ReportMetric(first, "first-180k-resources/s")
		b.ReportMetric(grown, "1.8M-into-1.8M-resources/s")
		b.ReportMetric(grown/first, "grown/first")
		b.ReportMetric(firstCPU, "first-180k-core-µs/resource")
		b.ReportMetric(grownCPU, "1.8M-into-1.8M-core-µs/resource")
		b.ReportMetric(firstCPU/grownCPU, "cpu-first/grown")
		b.ReportMetric(at1800k, "db-MiB-at-1.8M")
		b.ReportMetric(dbSize(), "db-MiB-at-3.6M")

		// Latencies at 3.6M, on copy 0's resources.
		obsIDs, subjects := sampleIDs(b, filepath.Join(dir, "Observation.ndjson.gz"), 1000)
		for i := range obsIDs {
			obsIDs[i] = string(rewriteIDs(nil, []byte(obsIDs[i]), 'g'))
			subjects[i] = string(rewriteIDs(nil, []byte(subjects[i]), 'g'))
		}
		latencies(b, "read", 1000, func(i int) {
			if r := e.do("GET", "Observation/"+obsIDs[i%len(obsIDs)], nil); r.status != 200 {
				b.Fatalf("read: %d", r.status)
			}
		})
		codes := []string{"8302-2", "29463-7", "39156-5", "72514-3", "8867-4", "2093-3"}
		for _, s := range []struct {
			name string
			q    func(i int) string
		}{
			{"search-token-subject", func(i int) string {
				return fmt.Sprintf("Observation?code=http://loinc.org|%s&subject=%s", codes[i%len(codes)], subjects[i%len(subjects)])
			}},
			{"search-token-page100", func(i int) string {
				return fmt.Sprintf("Observation?code=http://loinc.org|%s&_count=100", codes[i%len(codes)])
			}},
			{"search-date-subject", func(i int) string {
				y := 1990 + i%30
				return fmt.Sprintf("Observation?subject=%s&date=ge%d-01-01&date=lt%d-07-01", subjects[i%len(subjects)], y, y+3)
			}},
			{"search-date-only", func(i int) string {
				y := 1990 + i%30
				return fmt.Sprintf("Observation?date=ge%d-03-01&date=lt%d-03-15", y, y)
			}},
			{"search-patient-by-name", func(i int) string { return "Patient?family=Gra&_count=20" }},
			{"search-encounters-of-patient", func(i int) string {
				return "Encounter?patient=" + strings.TrimPrefix(subjects[i%len(subjects)], "Patient/")
			}},
		} {
			latencies(b, s.name, 100, func(i int) {
				if r := e.do("GET", s.q(i), nil); r.status != 200 {
					b.Fatalf("%s: %d %s", s.name, r.status, r.body)
				}
			})
		}
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
