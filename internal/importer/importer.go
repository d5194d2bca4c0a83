// Package importer is the worker of FHIR import jobs: it lists the job's S3 input, streams every
// NDJSON object line by line, validates lines in parallel, writes valid resources through one
// ordered writer, stages SUCCESS/FAILURE report lines, and writes the reports and manifest to the
// job's output folder.
//
// Crash safety comes from one rule: every store commit step carries the resources, the report
// lines that describe them, the progress counters and the resume checkpoint (file, byte offset,
// line) of the same input range, atomically. A run that dies resumes at the checkpoint and neither
// loses nor repeats a line. Report objects are written out from the staged lines, idempotently.
// Each chunk of at most 16 lines is one step, and a commit call carries up to BatchResources
// resources of steps, which the store may commit apart to let REST writes in between them.
//
// Interactive requests go first (Config.Foreground): while one is in flight the validating
// goroutines pause and no step is sent to the store, and while REST resource writes keep coming
// steps go one per call; commits run on an OS thread of low priority (background.LowPriority).
// What is still staged at the end (the input listing) is dropped by the terminal write itself, so
// a run that dies at any point before it ends exactly as an uninterrupted one.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/background"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/fhirpath"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Objects is the S3 access the importer needs.
type Objects interface {
	List(ctx context.Context, bucket, prefix string, fn func(s3io.Object) error) error
	Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error)
	Put(ctx context.Context, bucket, key string, body io.Reader) error
}

// Store is the part of the store contract the importer needs.
type Store interface {
	ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error)
	ReportRead(ctx context.Context, jobID, name string, fn func([]byte) error) error
}

// Validator checks one resource at a level.
type Validator interface {
	Validate(resource []byte, level fhir.Level) fhir.Result
}

// docValidator is a Validator that can hand the resource it read to the index extraction
// (fhir.Validator.ValidateThen).
type docValidator interface {
	ValidateThen(resource []byte, level fhir.Level, use func(*fhirpath.Doc)) fhir.Result
}

// Config configures an Importer.
type Config struct {
	Objects   Objects
	Store     Store
	Validator Validator
	// Parallelism is the number of validating goroutines. Default runtime.NumCPU().
	Parallelism int
	// MaxFiles fails a job whose input holds more objects. Default 10000.
	MaxFiles int
	// BatchResources is the most resources per commit. Default 4000.
	BatchResources int
	// CommitInterval bounds the time between commits, which is how fresh progress is. Default 400ms.
	CommitInterval time.Duration
	// MaxLine is the longest accepted line in bytes. Default 64 MiB.
	MaxLine int
	// ProgressLog is how often a running job logs its progress (counters and rate); 0 means
	// never. Default 0.
	ProgressLog time.Duration
	// Foreground, when set, counts the interactive requests in flight and notes REST resource
	// writes: validating goroutines and the committer pause while a request is in flight (see
	// background.Foreground.Wait), and steps are committed one per call while writes come.
	// Default nil: they never pause.
	Foreground *background.Foreground
	// Hook, when set, is called at the import's phase boundaries (jobs.PointImport...). Default nil.
	Hook   jobs.Hook
	Logger *slog.Logger
}

// Importer runs import jobs; it implements jobs.Worker.
type Importer struct {
	cfg Config
}

// New returns an Importer.
func New(cfg Config) *Importer {
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = runtime.NumCPU()
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 10000
	}
	if cfg.BatchResources <= 0 {
		cfg.BatchResources = 4000
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 400 * time.Millisecond
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Importer{cfg: cfg}
}

// inputFile is one object of the job's input, fixed by the first run's listing.
type inputFile struct {
	Key  string `json:"k"`
	Size int64  `json:"s"`
	Name string `json:"n"` // report name: the key relative to the input prefix, without ".gz"
}

// checkpoint is the resume position, committed with the work it covers.
type checkpoint struct {
	Listed bool  `json:"listed"`
	File   int   `json:"file"`   // index of the file being read
	Offset int64 `json:"offset"` // bytes of the (decompressed) file consumed
	Line   int64 `json:"line"`   // lines of the file consumed
	// FileImported and FileErrors count the current file's results so far.
	FileImported int64 `json:"fileImported"`
	FileErrors   int64 `json:"fileErrors"`
	// FileFailed marks a file-level failure already staged; the file is only finished.
	FileFailed bool `json:"fileFailed,omitempty"`
	// DoneBytes is the size of the files finished before File.
	DoneBytes int64 `json:"doneBytes"`
}

// listingReport is the internal report name that keeps the input listing with the job.
const listingReport = ".listing"

// run is the state of one run of one job.
type run struct {
	im       *Importer
	job      store.Job
	lease    jobs.Lease
	params   jobs.ImportParams
	level    fhir.Level
	files    []inputFile
	cp       checkpoint
	progress jobs.ImportProgress
	outBkt   string
	outDir   string // key prefix of the job folder, with trailing slash
	lastTick time.Time
	lastLog  time.Time // when progress was last logged
	log      *slog.Logger
}

// Run implements jobs.Worker.
func (im *Importer) Run(ctx context.Context, job store.Job, lease jobs.Lease) (jobs.Result, error) {
	r := &run{im: im, job: job, lease: lease, lastTick: time.Now(), lastLog: time.Now(),
		log: im.cfg.Logger.With("job", job.ID, "datastore", job.DatastoreID)}
	// Storage is used on behalf of the job's account: another account's buckets are refused.
	ctx = s3io.WithAccount(ctx, job.Tenant.AccountID)
	if err := json.Unmarshal(job.Params, &r.params); err != nil {
		return failed("The job parameters are unreadable"), nil
	}
	level, ok := fhir.ParseLevel(r.params.ValidationLevel)
	if !ok {
		level = fhir.LevelStrict
	}
	r.level = level
	if len(job.Checkpoint) > 0 {
		if err := json.Unmarshal(job.Checkpoint, &r.cp); err != nil {
			return jobs.Result{}, fmt.Errorf("read checkpoint: %w", err)
		}
	}
	if len(job.Progress) > 0 {
		if err := json.Unmarshal(job.Progress, &r.progress); err != nil {
			return jobs.Result{}, fmt.Errorf("read progress: %w", err)
		}
	}
	folder := jobs.JobFolder(r.params.OutputS3URI, job.DatastoreID, "IMPORT", job.ID)
	bkt, key, err := s3io.ParseURI(folder)
	if err != nil {
		return failed("The output location " + r.params.OutputS3URI + " is not a valid S3 URI"), nil
	}
	r.outBkt, r.outDir = bkt, key
	if !r.cp.Listed {
		res, err := r.list(ctx)
		if err != nil || res != nil {
			if res != nil {
				return *res, nil
			}
			return jobs.Result{}, err
		}
	} else if err := r.loadListing(ctx); err != nil {
		return jobs.Result{}, err
	}
	for r.cp.File < len(r.files) {
		if err := r.importFile(ctx); err != nil {
			return jobs.Result{}, err
		}
	}
	return r.finish(ctx)
}

func failed(msg string) jobs.Result {
	return jobs.Result{Status: store.JobFailed, Message: msg}
}

// list discovers the input objects and commits the listing with the first checkpoint. It returns a
// FAILED result for job-level input or output problems.
func (r *run) list(ctx context.Context) (*jobs.Result, error) {
	in := r.params.InputS3URI
	bkt, prefix, err := s3io.ParseURI(in)
	if err != nil {
		res := failed("The input location " + in + " is not a valid S3 URI")
		return &res, nil
	}
	// The output bucket must exist before any work is done.
	err = r.im.cfg.Objects.List(ctx, r.outBkt, r.outDir, func(s3io.Object) error { return errStop })
	if errors.Is(err, s3io.ErrNoSuchBucket) {
		res := failed("The output location " + r.params.OutputS3URI + " is not writable: the bucket does not exist")
		return &res, nil
	}
	if errors.Is(err, s3io.ErrAccessDenied) {
		res := failed("The output location " + r.params.OutputS3URI + " is not writable: access denied")
		return &res, nil
	}
	if err != nil && !errors.Is(err, errStop) {
		return nil, jobs.OutputFault(fmt.Errorf("check output location: %w", err), r.params.OutputS3URI)
	}
	var files []inputFile
	tooMany := false
	err = r.im.cfg.Objects.List(ctx, bkt, prefix, func(o s3io.Object) error {
		if strings.HasSuffix(o.Key, "/") {
			return nil // folder marker
		}
		// A prefix that names one object exactly imports that object; otherwise only keys under
		// the prefix as a folder count, so "in/a" does not pick up "in/ab.ndjson".
		if prefix != "" && !strings.HasSuffix(prefix, "/") && o.Key != prefix && !strings.HasPrefix(o.Key, prefix+"/") {
			return nil
		}
		if len(files) >= r.im.cfg.MaxFiles {
			tooMany = true
			return errStop
		}
		files = append(files, inputFile{Key: o.Key, Size: o.Size, Name: reportName(prefix, o.Key)})
		return nil
	})
	switch {
	case errors.Is(err, s3io.ErrNoSuchBucket):
		res := failed("The input location " + in + " is not readable: the bucket does not exist")
		return &res, nil
	case errors.Is(err, s3io.ErrAccessDenied):
		res := failed("The input location " + in + " is not readable: access denied")
		return &res, nil
	case err != nil && !errors.Is(err, errStop):
		return nil, jobs.InputFault(fmt.Errorf("list input: %w", err), in)
	case tooMany:
		res := failed(fmt.Sprintf("The input location %s holds more than %d objects: the import quota is %d files per job", in, r.im.cfg.MaxFiles, r.im.cfg.MaxFiles))
		return &res, nil
	case len(files) == 0:
		res := failed("The input location " + in + " holds no objects to import")
		return &res, nil
	}
	r.files = files
	listing, err := json.Marshal(files)
	if err != nil {
		return nil, err
	}
	r.cp = checkpoint{Listed: true}
	r.progress.ScannedFiles = 0
	if err := r.commit(ctx, nil, func([]store.ResourceWriteResult) []store.ReportChunk {
		return []store.ReportChunk{{Name: listingReport, Data: listing}}
	}, nil); err != nil {
		return nil, err
	}
	r.im.cfg.Hook.At(jobs.PointImportListed)
	return nil, nil
}

var errStop = errors.New("stop listing")

func (r *run) loadListing(ctx context.Context) error {
	var buf []byte
	if err := r.im.cfg.Store.ReportRead(ctx, r.job.ID, listingReport, func(b []byte) error {
		buf = append(buf, b...)
		return nil
	}); err != nil {
		return fmt.Errorf("read listing: %w", err)
	}
	if err := json.Unmarshal(buf, &r.files); err != nil {
		return fmt.Errorf("decode listing: %w", err)
	}
	return nil
}

// reportName names a file's SUCCESS/FAILURE reports: its key relative to the input prefix (the
// base name when the prefix names the object itself), without a ".gz" suffix.
func reportName(prefix, key string) string {
	name := key
	switch {
	case key == prefix:
		name = path.Base(key)
	case strings.HasSuffix(prefix, "/"):
		name = strings.TrimPrefix(key, prefix)
	case prefix != "":
		name = strings.TrimPrefix(key, prefix+"/")
	}
	return strings.TrimSuffix(name, ".gz")
}

// snapshot captures one atomic step with the progress and checkpoint as they stand now.
func (r *run) snapshot(writes []store.ResourceWrite, reports func([]store.ResourceWriteResult) []store.ReportChunk, drop []string) store.ImportStep {
	now := time.Now()
	r.progress.ActiveSeconds += now.Sub(r.lastTick).Seconds()
	r.lastTick = now
	if every := r.im.cfg.ProgressLog; every > 0 && now.Sub(r.lastLog) >= every {
		r.lastLog = now
		p := r.progress
		r.log.Info("import progress", "file", r.cp.File+1, "files", len(r.files),
			"resources_scanned", p.ResourcesScanned, "resources_imported", p.ResourcesImported,
			"resources_customer_error", p.ResourcesCustomerError, "scanned_mb", round6(float64(p.ScannedBytes)/1e6),
			"resources_per_second", math.Round(p.Throughput()))
	}
	prog, _ := json.Marshal(r.progress)
	cp, _ := json.Marshal(r.cp)
	return store.ImportStep{Writes: writes, Reports: reports, DeleteReports: drop, Progress: prog, Checkpoint: cp}
}

// commitParams makes one store commit of steps (at least one), applied in order.
func (r *run) commitParams(steps []store.ImportStep) store.ImportCommitParams {
	first := steps[0]
	return store.ImportCommitParams{
		JobID: r.job.ID, LeaseToken: r.lease.Token, DatastoreID: r.job.DatastoreID, Writes: first.Writes, Reports: first.Reports,
		DeleteReports: first.DeleteReports, Progress: first.Progress, Checkpoint: first.Checkpoint, Steps: steps[1:],
		LeaseExpires: r.lease.Until(), Now: time.Now(),
	}
}

// commit writes one step atomically. The in-memory state is only trusted while commits succeed:
// after an error the run ends and the next one starts from the stored checkpoint.
func (r *run) commit(ctx context.Context, writes []store.ResourceWrite, reports func([]store.ResourceWriteResult) []store.ReportChunk, drop []string) error {
	_, err := r.im.cfg.Store.ImportCommit(ctx, r.commitParams([]store.ImportStep{r.snapshot(writes, reports, drop)}))
	return err
}

// finish writes the manifest and decides the terminal status.
func (r *run) finish(ctx context.Context) (jobs.Result, error) {
	p := r.progress
	folder := "s3://" + r.outBkt + "/" + r.outDir
	m := manifest{
		InputDataConfig:                       map[string]string{"s3Uri": r.params.InputS3URI},
		OutputDataConfig:                      map[string]string{"s3Uri": folder, "encryptionKeyID": r.params.KmsKeyID},
		SuccessOutput:                         map[string]string{"successOutputS3Uri": folder + "SUCCESS/"},
		FailureOutput:                         map[string]string{"failureOutputS3Uri": folder + "FAILURE/"},
		NumberOfScannedFiles:                  p.ScannedFiles,
		NumberOfFilesImported:                 p.ImportedFiles,
		SizeOfScannedFilesInMB:                mb(p.ScannedBytes),
		SizeOfDataImportedSuccessfullyInMB:    mb(p.ImportedBytes),
		NumberOfResourcesScanned:              p.ResourcesScanned,
		NumberOfResourcesImportedSuccessfully: p.ResourcesImported,
		NumberOfResourcesWithCustomerError:    p.ResourcesCustomerError,
		NumberOfResourcesWithServerError:      p.ResourcesServerError,
	}
	body, _ := json.MarshalIndent(m, "", "  ")
	if err := r.im.cfg.Objects.Put(ctx, r.outBkt, r.outDir+"manifest.json", strings.NewReader(string(body))); err != nil {
		if errors.Is(err, s3io.ErrNoSuchBucket) || errors.Is(err, s3io.ErrAccessDenied) {
			return failed("The output location " + r.params.OutputS3URI + " is not writable"), nil
		}
		return jobs.Result{}, jobs.OutputFault(fmt.Errorf("write manifest: %w", err), r.params.OutputS3URI)
	}
	r.im.cfg.Hook.At(jobs.PointImportManifestWritten)
	// The listing stays staged until the terminal write, which drops it in the same transaction
	// (store.JobFinish): a run that dies before that write finds it and ends the same way.
	prog, _ := json.Marshal(r.progress)
	status := store.JobCompleted
	if p.ResourcesCustomerError > 0 || p.ResourcesServerError > 0 || p.FilesWithCustomerError > 0 {
		status = store.JobCompletedErrors
	}
	return jobs.Result{Status: status, Progress: prog}, nil
}

// manifest is manifest.json in the job folder (field names of the HealthLake guide).
type manifest struct {
	InputDataConfig                       map[string]string `json:"inputDataConfig"`
	OutputDataConfig                      map[string]string `json:"outputDataConfig"`
	SuccessOutput                         map[string]string `json:"successOutput"`
	FailureOutput                         map[string]string `json:"failureOutput"`
	NumberOfScannedFiles                  int64             `json:"numberOfScannedFiles"`
	NumberOfFilesImported                 int64             `json:"numberOfFilesImported"`
	SizeOfScannedFilesInMB                json.Number       `json:"sizeOfScannedFilesInMB"`
	SizeOfDataImportedSuccessfullyInMB    json.Number       `json:"sizeOfDataImportedSuccessfullyInMB"`
	NumberOfResourcesScanned              int64             `json:"numberOfResourcesScanned"`
	NumberOfResourcesImportedSuccessfully int64             `json:"numberOfResourcesImportedSuccessfully"`
	NumberOfResourcesWithCustomerError    int64             `json:"numberOfResourcesWithCustomerError"`
	NumberOfResourcesWithServerError      int64             `json:"numberOfResourcesWithServerError"`
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// mb formats bytes as decimal megabytes with six decimals.
func mb(bytes int64) json.Number {
	return json.Number(fmt.Sprintf("%.6f", float64(bytes)/1e6))
}
