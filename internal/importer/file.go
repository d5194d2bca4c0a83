package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fhirlake/fhirlake/internal/background"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// chunk is a run of consecutive lines of one file, read together and validated by one goroutine.
type chunk struct {
	seq       int
	lines     [][]byte
	lineNos   []int64
	tooLong   []int64 // line numbers of lines over MaxLine (dropped)
	endOffset int64   // file offset just after the chunk
	endLine   int64   // lines consumed up to the end of the chunk
	rawPos    int64   // bytes of the stored object consumed (compressed size for .gz)
}

// result is a validated chunk.
type result struct {
	seq       int
	writes    []store.ResourceWrite
	okLines   []int64
	okBytes   int64
	failures  []byte // FAILURE report lines
	nFailed   int64
	scanned   int64
	endOffset int64
	endLine   int64
	rawPos    int64
}

// fileError is a problem of the input file itself (customer error), not of one line.
type fileError struct{ msg string }

func (e *fileError) Error() string { return e.msg }

func supported(key string) bool {
	k := strings.TrimSuffix(strings.ToLower(key), ".gz")
	return strings.HasSuffix(k, ".ndjson") || strings.HasSuffix(k, ".json")
}

// importFile imports the current file from the checkpoint to its end and writes its reports.
func (r *run) importFile(ctx context.Context) error {
	f := r.files[r.cp.File]
	r.progress.ScannedFiles = int64(r.cp.File + 1)
	if r.cp.Offset == 0 && r.cp.Line == 0 && r.cp.FileErrors == 0 && r.cp.FileImported == 0 && !r.cp.FileFailed {
		r.log.Debug("import file", "key", f.Key, "size", f.Size)
	}
	if !r.cp.FileFailed {
		var ferr *fileError
		err := r.stream(ctx, f)
		switch {
		case errors.As(err, &ferr):
			if err := r.stageFileFailure(ctx, f, ferr.msg); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return r.finishFile(ctx, f)
}

// stageFileFailure records a file-level failure (report line 0) and marks the file failed.
func (r *run) stageFileFailure(ctx context.Context, f inputFile, msg string) error {
	rec := failureRecord(nil, 0, []fhir.Issue{{Severity: "error", Code: "processing", Diagnostics: msg}})
	r.cp.FileFailed = true
	r.cp.FileErrors++
	return r.commit(ctx, nil, func([]store.ResourceWriteResult) []store.ReportChunk {
		return []store.ReportChunk{{Name: "FAILURE/" + f.Name, Data: rec}}
	}, nil)
}

// finishFile writes the file's staged reports to the output folder and moves the checkpoint to the
// next file, dropping the staged lines in the same commit. Writing the objects again after a crash
// gives the same bytes.
func (r *run) finishFile(ctx context.Context, f inputFile) error {
	r.im.cfg.Hook.At(jobs.PointImportFileCommitted)
	var drop []string
	for _, rep := range []struct {
		name string
		has  bool
	}{{"SUCCESS/" + f.Name, r.cp.FileImported > 0}, {"FAILURE/" + f.Name, r.cp.FileErrors > 0}} {
		if !rep.has {
			continue
		}
		if err := r.writeReport(ctx, rep.name); err != nil {
			return err
		}
		drop = append(drop, rep.name)
	}
	if len(drop) > 0 {
		r.im.cfg.Hook.At(jobs.PointImportReportsWritten)
	}
	r.cp.DoneBytes += f.Size
	r.progress.ScannedBytes = r.cp.DoneBytes
	if r.cp.FileFailed {
		r.progress.FilesWithCustomerError++
	} else {
		r.progress.ImportedFiles++
	}
	r.cp = checkpoint{Listed: true, File: r.cp.File + 1, DoneBytes: r.cp.DoneBytes}
	if err := r.commit(ctx, nil, nil, drop); err != nil {
		return err
	}
	r.im.cfg.Hook.At(jobs.PointImportFileDone)
	return nil
}

func (r *run) writeReport(ctx context.Context, name string) error {
	pr, pw := io.Pipe()
	go func() {
		err := r.im.cfg.Store.ReportRead(ctx, r.job.ID, name, func(b []byte) error {
			_, err := pw.Write(b)
			return err
		})
		pw.CloseWithError(err)
	}()
	err := r.im.cfg.Objects.Put(ctx, r.outBkt, r.outDir+name, pr)
	pr.CloseWithError(errors.New("report upload ended"))
	if err != nil {
		return jobs.OutputFault(fmt.Errorf("write report %s: %w", name, err), r.params.OutputS3URI)
	}
	return nil
}

// open opens the file at the checkpoint offset; .gz files are decompressed from the start and the
// consumed prefix is skipped.
func (r *run) open(ctx context.Context, f inputFile) (io.Reader, *countingReader, func(), error) {
	bkt, _, _ := s3io.ParseURI(r.params.InputS3URI)
	gz := strings.HasSuffix(strings.ToLower(f.Key), ".gz")
	offset := r.cp.Offset
	if gz {
		offset = 0
	}
	rc, err := r.im.cfg.Objects.Open(ctx, bkt, f.Key, offset)
	if errors.Is(err, s3io.ErrNotFound) {
		return nil, nil, nil, &fileError{"the object " + f.Key + " no longer exists"}
	}
	if errors.Is(err, s3io.ErrAccessDenied) || errors.Is(err, s3io.ErrNoSuchBucket) {
		return nil, nil, nil, &fileError{"the object " + f.Key + " is no longer readable"}
	}
	if err != nil {
		return nil, nil, nil, jobs.InputFault(fmt.Errorf("open %s: %w", f.Key, err), r.params.InputS3URI)
	}
	cr := &countingReader{r: rc, n: offset}
	if !gz {
		return cr, cr, func() { rc.Close() }, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(cr, 256<<10))
	if err != nil {
		rc.Close()
		return nil, nil, nil, &fileError{"the object " + f.Key + " is not a valid gzip stream"}
	}
	if _, err := io.CopyN(io.Discard, zr, r.cp.Offset); err != nil {
		rc.Close()
		return nil, nil, nil, &fileError{"the object " + f.Key + " is shorter than when it was read before"}
	}
	return zr, cr, func() { zr.Close(); rc.Close() }, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// stream runs the read → validate → ordered write pipeline over the rest of the file.
func (r *run) stream(ctx context.Context, f inputFile) error {
	if !supported(f.Key) {
		return &fileError{"the object " + f.Key + " is not NDJSON: supported names end in .ndjson or .json optionally followed by .gz"}
	}
	src, counter, closeFn, err := r.open(ctx, f)
	if err != nil {
		return err
	}
	defer closeFn()

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	par := r.im.cfg.Parallelism
	// Deep enough buffers let reading and validation run on while a commit is in progress.
	chunks := make(chan chunk, 4*par)
	results := make(chan result, 4*par)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		readErr = r.read(pctx, src, counter, chunks)
	}()
	var workers sync.WaitGroup
	for i := 0; i < par; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c := range chunks {
				select {
				case results <- r.validate(pctx, c):
				case <-pctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		workers.Wait()
		close(results)
	}()

	werr := r.write(pctx, cancel, results)
	cancel()
	for range results {
		// Drain so the workers can exit.
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return readErr
}

// read splits the stream into chunks of lines.
func (r *run) read(ctx context.Context, src io.Reader, counter *countingReader, out chan<- chunk) error {
	// Chunks are small because each becomes one step of a commit, and the store may end a commit
	// after any step to let a REST write in.
	const slabSize = 128 << 10
	const maxLines = 16
	br := bufio.NewReaderSize(src, 1<<20)
	offset, lineNo := r.cp.Offset, r.cp.Line
	seq := 0
	cur := chunk{seq: seq}
	// Lines are copied into slabs, which consecutive chunks share: a chunk of short lines takes
	// only the bytes it holds.
	slab := make([]byte, 0, slabSize)
	curBytes := 0 // bytes of the lines of cur
	// flush sends the current chunk, which ends at file offset end after line endLine.
	flush := func(end, endLine int64) error {
		cur.endOffset, cur.endLine, cur.rawPos = end, endLine, counter.n
		select {
		case out <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		seq++
		cur, curBytes = chunk{seq: seq}, 0
		return nil
	}
	var big []byte
	for {
		lineStart, prevLine := offset, lineNo
		line, err := br.ReadSlice('\n')
		tooLong := false
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it, or skip the rest of it once it is over
			// MaxLine (the newline does not count).
			big = append(big[:0], line...)
			skipped := int64(0)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if !tooLong && len(big)+len(bytes.TrimSuffix(line, []byte("\n"))) <= r.im.cfg.MaxLine {
					big = append(big, line...)
				} else {
					tooLong = true
					skipped += int64(len(line))
				}
			}
			if tooLong {
				offset += int64(len(big)) + skipped
				line = nil
			} else {
				line = big
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var gzErr bool = errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF)
			if gzErr {
				if ferr := flush(lineStart, prevLine); ferr != nil {
					return ferr
				}
				return &fileError{fmt.Sprintf("the object is corrupt after line %d: %v", lineNo, err)}
			}
			return jobs.InputFault(fmt.Errorf("read input: %w", err), r.params.InputS3URI)
		}
		if len(line) > 0 || tooLong {
			lineNo++
			if !tooLong {
				offset += int64(len(line))
			}
			content := trimLine(line, lineNo == 1)
			switch {
			case tooLong:
				cur.tooLong = append(cur.tooLong, lineNo)
			case len(content) > 0:
				if curBytes+len(content) > slabSize && len(cur.lines) > 0 {
					// The chunk ends before this line, which starts the next one.
					if ferr := flush(lineStart, prevLine); ferr != nil {
						return ferr
					}
				}
				if len(content) > cap(slab)-len(slab) {
					slab = make([]byte, 0, max(slabSize, len(content)))
				}
				start := len(slab)
				slab = append(slab, content...)
				curBytes += len(content)
				cur.lines = append(cur.lines, slab[start:len(slab):len(slab)])
				cur.lineNos = append(cur.lineNos, lineNo)
			}
			if len(cur.lines) >= maxLines {
				if ferr := flush(offset, lineNo); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return flush(offset, lineNo)
		}
	}
}

// trimLine drops the line end, surrounding white space, and a UTF-8 byte order mark on line 1.
func trimLine(b []byte, first bool) []byte {
	if first {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	return bytes.TrimSpace(b)
}

// validate checks every line of a chunk.
func (r *run) validate(ctx context.Context, c chunk) result {
	res := result{seq: c.seq, endOffset: c.endOffset, endLine: c.endLine, rawPos: c.rawPos}
	v := r.im.cfg.Validator
	// A validator that reads the resource for its constraints (strict) hands it to the index
	// extraction, which then does not read the line again.
	dv, shares := v.(docValidator)
	var index []store.IndexEntry
	var indexed bool
	useDoc := func(d *fhirpath.Doc) { index, indexed = search.ExtractDoc(d), true }
	for i, line := range c.lines {
		// Validation keeps every core busy. It pauses while interactive requests are in flight,
		// and yields after each line so that the goroutine of one that starts runs at once
		// instead of at the next preemption (up to 10ms later).
		r.im.cfg.Foreground.Wait(ctx)
		runtime.Gosched()
		var vr fhir.Result
		index, indexed = nil, false
		if shares {
			vr = dv.ValidateThen(line, r.level, useDoc)
		} else {
			vr = v.Validate(line, r.level)
		}
		res.scanned++
		if vr.Valid() {
			if !indexed {
				index = search.Extract(vr.ResourceType, line)
			}
			res.writes = append(res.writes, store.ResourceWrite{Type: vr.ResourceType, ID: vr.ID, Body: line,
				Index: index})
			res.okLines = append(res.okLines, c.lineNos[i])
			res.okBytes += int64(len(line))
			continue
		}
		res.failures = failureRecord(res.failures, c.lineNos[i], vr.Issues)
		res.nFailed++
	}
	for _, n := range c.tooLong {
		res.scanned++
		res.nFailed++
		res.failures = failureRecord(res.failures, n, []fhir.Issue{{Severity: "error", Code: "too-long",
			Diagnostics: fmt.Sprintf("line %d is longer than %d bytes", n, r.im.cfg.MaxLine)}})
	}
	return res
}

// failureRecord appends one FAILURE report line.
func failureRecord(dst []byte, lineID int64, issues []fhir.Issue) []byte {
	var errs []fhir.Issue
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			errs = append(errs, is)
		}
	}
	if len(errs) == 0 {
		errs = issues
	}
	dst = append(dst, `{"lineId":`...)
	dst = strconv.AppendInt(dst, lineID, 10)
	dst = append(dst, `,"UpdateResourceResponse":{"jsonBlob":`...)
	dst = append(dst, fhir.MarshalOperationOutcome(errs)...)
	dst = append(dst, `,"statusCode":400}}`+"\n"...)
	return dst
}

// successRecord appends one SUCCESS report line.
func successRecord(dst []byte, lineID int64, w store.ResourceWrite, res store.ResourceWriteResult) []byte {
	dst = append(dst, `{"lineId":`...)
	dst = strconv.AppendInt(dst, lineID, 10)
	dst = append(dst, `,"UpdateResourceResponse":{"jsonBlob":{"resourceType":"`...)
	dst = append(dst, w.Type...)
	dst = append(dst, `","id":"`...)
	dst = append(dst, w.ID...)
	dst = append(dst, `","meta":{"versionId":"`...)
	dst = strconv.AppendInt(dst, res.Version, 10)
	dst = append(dst, `","lastUpdated":"`...)
	dst = res.LastUpdated.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `"}},"statusCode":`...)
	if res.Created {
		dst = append(dst, "201}}\n"...)
	} else {
		dst = append(dst, "200}}\n"...)
	}
	return dst
}

// write is the single ordered writer: it puts results back in file order and commits them in
// batches with their reports, counters and checkpoint.
func (r *run) write(ctx context.Context, cancel context.CancelFunc, results <-chan result) error {
	f := r.files[r.cp.File]
	// One committer goroutine applies steps in order while the writer gathers the next batch.
	steps := make(chan store.ImportCommitParams, 1)
	committed := make(chan error, 1)
	go func() {
		// The commits are SQLite work, mostly in cgo: a thread of low priority leaves the CPU to
		// the threads that serve requests.
		background.LowPriority()
		var err error
		for p := range steps {
			if err == nil {
				if err = r.commitSteps(ctx, p); err != nil {
					cancel()
				} else {
					r.im.cfg.Hook.At(jobs.PointImportCommitted)
				}
			}
		}
		committed <- err
	}()
	werr := r.gather(ctx, f, results, steps)
	close(steps)
	if err := <-committed; err != nil {
		return err
	}
	return werr
}

// interactiveWindow is how long after a REST resource write began the committer keeps sending
// steps one at a time.
const interactiveWindow = time.Second

// commitSteps commits the steps of p. While REST resource writes come (one began within
// interactiveWindow, Foreground.NoteWrite), it sends them to the store one at a time and starts
// none while a request is in flight, so that a REST write finds the writer free or waits for one
// small step at most; otherwise in one call, which the store may apply in one transaction (other
// requests, such as the job status polls of the client, do not make the import commit step by
// step: that costs it CPU and WAL).
func (r *run) commitSteps(ctx context.Context, p store.ImportCommitParams) error {
	fg := r.im.cfg.Foreground
	if !fg.RecentWrite(interactiveWindow) || len(p.Steps) == 0 {
		_, err := r.im.cfg.Store.ImportCommit(ctx, p)
		return err
	}
	steps := append([]store.ImportStep{{Writes: p.Writes, Reports: p.Reports, DeleteReports: p.DeleteReports,
		Progress: p.Progress, Checkpoint: p.Checkpoint}}, p.Steps...)
	for _, st := range steps {
		fg.Wait(ctx)
		one := p
		one.Writes, one.Reports, one.DeleteReports, one.Progress, one.Checkpoint, one.Steps = st.Writes, st.Reports, st.DeleteReports, st.Progress, st.Checkpoint, nil
		if _, err := r.im.cfg.Store.ImportCommit(ctx, one); err != nil {
			return err
		}
	}
	return nil
}

// gather reorders results and turns them into commit steps.
func (r *run) gather(ctx context.Context, f inputFile, results <-chan result, commits chan<- store.ImportCommitParams) error {
	pending := map[int]result{}
	next := 0
	var batch []result
	nWrites := 0
	last := time.Now()
	// flush commits the batch, one step per chunk, each with the progress and checkpoint at its
	// end, so that the store may commit any prefix of them on its own.
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var steps []store.ImportStep
		for _, b := range batch {
			r.progress.ResourcesScanned += b.scanned
			r.progress.ResourcesImported += int64(len(b.writes))
			r.progress.ImportedBytes += b.okBytes
			r.progress.ResourcesCustomerError += b.nFailed
			r.cp.FileImported += int64(len(b.writes))
			r.cp.FileErrors += b.nFailed
			r.cp.Offset, r.cp.Line = b.endOffset, b.endLine
			r.progress.ScannedBytes = r.cp.DoneBytes + min(b.rawPos, f.Size)
			writes, lines, failures := b.writes, b.okLines, b.failures
			reports := func(res []store.ResourceWriteResult) []store.ReportChunk {
				var out []store.ReportChunk
				if len(res) > 0 {
					buf := make([]byte, 0, len(res)*160)
					for i := range res {
						buf = successRecord(buf, lines[i], writes[i], res[i])
					}
					out = append(out, store.ReportChunk{Name: "SUCCESS/" + f.Name, Data: buf})
				}
				if len(failures) > 0 {
					out = append(out, store.ReportChunk{Name: "FAILURE/" + f.Name, Data: failures})
				}
				return out
			}
			steps = append(steps, r.snapshot(writes, reports, nil))
		}
		select {
		case commits <- r.commitParams(steps):
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, nWrites, last = nil, 0, time.Now()
		return nil
	}
	for res := range results {
		pending[res.seq] = res
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			batch = append(batch, b)
			nWrites += len(b.writes)
			if nWrites >= r.im.cfg.BatchResources || time.Since(last) >= r.im.cfg.CommitInterval {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(pending) > 0 {
		return fmt.Errorf("import pipeline lost chunk %d", next)
	}
	return flush()
}
