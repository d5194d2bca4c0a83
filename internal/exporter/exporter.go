// Package exporter is the worker of FHIR export jobs: it writes the current version of every
// non-deleted resource of a data store (optionally narrowed by type, by last update, or to the
// Patient compartment of all patients or of one Group's members) as NDJSON objects, one resource
// type per object, split at a fixed number of resources, under the job's output folder.
//
// Memory stays flat: resources are read in id order one page at a time and at most one object's
// worth is held before it is written. The checkpoint (type, last id, object number) is recorded
// after each object, so a resumed run rewrites at most the object in flight, with the same name.
package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Objects is the S3 access the exporter needs.
type Objects interface {
	List(ctx context.Context, bucket, prefix string, fn func(s3io.Object) error) error
	Put(ctx context.Context, bucket, key string, body io.Reader) error
}

// Store is the part of the store contract the exporter needs.
type Store interface {
	ResourceCount(ctx context.Context, datastoreID string) (map[string]int64, error)
	ResourceScan(ctx context.Context, datastoreID, typ, afterID string, fn func(store.Resource) error) error
	ResourceGet(ctx context.Context, datastoreID, typ, id string) (store.Resource, error)
	JobGet(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string) (store.Job, error)
	JobProgress(ctx context.Context, p store.JobProgressParams) error
	JobSetStatus(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string, from []store.JobStatus, to store.JobStatus) (store.Job, error)
}

// Config configures an Exporter.
type Config struct {
	Objects Objects
	Store   Store
	// PerFile is the number of resources per output object. Default 5000.
	PerFile int
	// ProgressLog is how often a running job logs its progress; 0 means never. Default 0.
	ProgressLog time.Duration
	// Hook, when set, is called at the export's phase boundaries (jobs.PointExport...). Default nil.
	Hook   jobs.Hook
	Logger *slog.Logger
}

// Exporter runs export jobs; it implements jobs.Worker.
type Exporter struct {
	cfg Config
}

// New returns an Exporter.
func New(cfg Config) *Exporter {
	if cfg.PerFile <= 0 {
		cfg.PerFile = 5000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Exporter{cfg: cfg}
}

// checkpoint is the resume position of an export.
type checkpoint struct {
	Types  []string `json:"types"`  // fixed at the first run
	Type   int      `json:"type"`   // index into Types
	After  string   `json:"after"`  // last id written of Types[Type]
	File   int      `json:"file"`   // number of the next object of Types[Type], from 1
	Output []Output `json:"output"` // objects written so far
}

// Output is one written object.
type Output struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count"`
}

// Progress is the export's progress record (store.Job.Progress).
type Progress struct {
	Exported int64    `json:"exported"`
	Output   []Output `json:"output"`
}

// run is one run of one export job.
type run struct {
	ex       *Exporter
	job      store.Job
	lease    jobs.Lease
	params   jobs.ExportParams
	cp       checkpoint
	exported int64
	bucket   string
	folder   string // key prefix with trailing slash
	patients map[string]bool
	lastLog  time.Time // when progress was last logged
}

// Run implements jobs.Worker.
func (ex *Exporter) Run(ctx context.Context, job store.Job, lease jobs.Lease) (jobs.Result, error) {
	r := &run{ex: ex, job: job, lease: lease, lastLog: time.Now()}
	// Storage is used on behalf of the job's account: another account's buckets are refused.
	ctx = s3io.WithAccount(ctx, job.Tenant.AccountID)
	if job.Status == store.JobCancelSubmitted || job.Status == store.JobCancelInProgress {
		return r.cancel(ctx)
	}
	if err := json.Unmarshal(job.Params, &r.params); err != nil {
		return failed("The job parameters are unreadable"), nil
	}
	var prog Progress
	if len(job.Progress) > 0 {
		json.Unmarshal(job.Progress, &prog)
		r.exported = prog.Exported
	}
	folder := jobs.JobFolder(r.params.OutputS3URI, job.DatastoreID, "EXPORT", job.ID)
	bkt, key, err := s3io.ParseURI(folder)
	if err != nil {
		return failed("The output location " + r.params.OutputS3URI + " is not a valid S3 URI"), nil
	}
	r.bucket, r.folder = bkt, key
	if len(job.Checkpoint) > 0 {
		if err := json.Unmarshal(job.Checkpoint, &r.cp); err != nil {
			return jobs.Result{}, fmt.Errorf("read checkpoint: %w", err)
		}
	} else {
		err := ex.cfg.Objects.List(ctx, bkt, key, func(s3io.Object) error { return errStop })
		if errors.Is(err, s3io.ErrNoSuchBucket) {
			return failed("The output location " + r.params.OutputS3URI + " is not writable: the bucket does not exist"), nil
		}
		if errors.Is(err, s3io.ErrAccessDenied) {
			return failed("The output location " + r.params.OutputS3URI + " is not writable: access denied"), nil
		}
		if err != nil && !errors.Is(err, errStop) {
			return jobs.Result{}, jobs.OutputFault(fmt.Errorf("check output location: %w", err), r.params.OutputS3URI)
		}
		if r.cp.Types, err = r.types(ctx); err != nil {
			return jobs.Result{}, err
		}
		r.cp.File = 1
	}
	if r.params.Level == "patient" || r.params.Level == "group" {
		if err := r.loadPatients(ctx); err != nil {
			var fe *failure
			if errors.As(err, &fe) {
				return failed(fe.msg), nil
			}
			return jobs.Result{}, err
		}
	}
	for r.cp.Type < len(r.cp.Types) {
		done, err := r.exportType(ctx)
		if errors.Is(err, s3io.ErrAccessDenied) || errors.Is(err, s3io.ErrNoSuchBucket) {
			return failed("The output location " + r.params.OutputS3URI + " is not writable: access denied or no such bucket"), nil
		}
		if err != nil {
			return jobs.Result{}, err
		}
		if !done {
			return r.cancel(ctx)
		}
	}
	prog = Progress{Exported: r.exported, Output: r.cp.Output}
	raw, _ := json.Marshal(prog)
	return jobs.Result{Status: store.JobCompleted, Progress: raw}, nil
}

var errStop = errors.New("stop")

type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

func failed(msg string) jobs.Result {
	return jobs.Result{Status: store.JobFailed, Message: msg}
}

// cancel ends a job whose cancellation was requested.
func (r *run) cancel(ctx context.Context) (jobs.Result, error) {
	j := r.job
	if _, err := r.ex.cfg.Store.JobSetStatus(ctx, j.Tenant, j.DatastoreID, store.JobExport, j.ID,
		[]store.JobStatus{store.JobCancelSubmitted}, store.JobCancelInProgress); err != nil && !errors.Is(err, store.ErrConflict) {
		return jobs.Result{}, err
	}
	return jobs.Result{Status: store.JobCancelCompleted}, nil
}

// cancelled reports whether a cancel was requested since the run started.
func (r *run) cancelled(ctx context.Context) (bool, error) {
	j, err := r.ex.cfg.Store.JobGet(ctx, r.job.Tenant, r.job.DatastoreID, store.JobExport, r.job.ID)
	if err != nil {
		return false, err
	}
	return j.Status == store.JobCancelSubmitted || j.Status == store.JobCancelInProgress, nil
}

// types decides which resource types to export: the requested ones, or every type the store holds.
func (r *run) types(ctx context.Context) ([]string, error) {
	counts, err := r.ex.cfg.Store.ResourceCount(ctx, r.job.DatastoreID)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(r.params.Types) > 0 {
		for _, t := range r.params.Types {
			if counts[t] > 0 {
				out = append(out, t)
			}
		}
	} else {
		for t, n := range counts {
			if n > 0 {
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// patientRef finds references to patients in a resource body.
var patientRef = regexp.MustCompile(`"reference"\s*:\s*"(?:[^"]*/)?Patient/([A-Za-z0-9\-.]{1,64})"`)

// loadPatients fixes the set of patients whose compartments are exported: every patient, or the
// members of one Group.
func (r *run) loadPatients(ctx context.Context) error {
	r.patients = map[string]bool{}
	if r.params.Level == "patient" {
		return r.ex.cfg.Store.ResourceScan(ctx, r.job.DatastoreID, "Patient", "", func(res store.Resource) error {
			r.patients[res.ID] = true
			return nil
		})
	}
	g, err := r.ex.cfg.Store.ResourceGet(ctx, r.job.DatastoreID, "Group", r.params.Group)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Deleted) {
		return &failure{"Group " + r.params.Group + " does not exist"}
	}
	if err != nil {
		return err
	}
	for _, m := range patientRef.FindAllSubmatch(g.Body, -1) {
		r.patients[string(m[1])] = true
	}
	return nil
}

// inScope applies the _since and compartment filters.
func (r *run) inScope(res store.Resource) bool {
	if r.params.Since > 0 && res.LastUpdated.UnixMilli() < r.params.Since {
		return false
	}
	if r.patients == nil {
		return true
	}
	if res.Type == "Patient" {
		return r.patients[res.ID]
	}
	for _, m := range patientRef.FindAllSubmatch(res.Body, -1) {
		if r.patients[string(m[1])] {
			return true
		}
	}
	return false
}

// exportType writes the rest of the current type; it reports false when the job was cancelled.
func (r *run) exportType(ctx context.Context) (bool, error) {
	typ := r.cp.Types[r.cp.Type]
	var buf bytes.Buffer
	n := 0
	last := r.cp.After
	flush := func() error {
		if n == 0 {
			return nil
		}
		key := r.folder + typ + "/" + typ + "-" + strconv.Itoa(r.cp.File) + ".ndjson"
		if err := r.ex.cfg.Objects.Put(ctx, r.bucket, key, bytes.NewReader(buf.Bytes())); err != nil {
			return jobs.OutputFault(fmt.Errorf("write %s: %w", key, err), r.params.OutputS3URI)
		}
		r.ex.cfg.Hook.At(jobs.PointExportObjectWritten)
		r.exported += int64(n)
		r.cp.Output = append(r.cp.Output, Output{Type: typ, URL: "s3://" + r.bucket + "/" + key, Count: n})
		r.cp.After, r.cp.File = last, r.cp.File+1
		if err := r.save(ctx); err != nil {
			return err
		}
		buf.Reset()
		n = 0
		return nil
	}
	err := r.ex.cfg.Store.ResourceScan(ctx, r.job.DatastoreID, typ, r.cp.After, func(res store.Resource) error {
		last = res.ID
		if !r.inScope(res) {
			return nil
		}
		body, err := fhir.SetMeta(res.Body, strconv.FormatInt(res.Version, 10), res.LastUpdated)
		if err != nil {
			body = res.Body
		}
		buf.Write(body)
		buf.WriteByte('\n')
		n++
		if n >= r.ex.cfg.PerFile {
			if err := flush(); err != nil {
				return err
			}
			if stop, err := r.cancelled(ctx); err != nil || stop {
				if stop {
					return errCancelled
				}
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errCancelled) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := flush(); err != nil {
		return false, err
	}
	r.cp.Type, r.cp.After, r.cp.File = r.cp.Type+1, "", 1
	if err := r.save(ctx); err != nil {
		return false, err
	}
	stop, err := r.cancelled(ctx)
	return !stop, err
}

var errCancelled = errors.New("export cancelled")

// save records the checkpoint and progress and renews the lease.
func (r *run) save(ctx context.Context) error {
	if every := r.ex.cfg.ProgressLog; every > 0 && time.Since(r.lastLog) >= every {
		r.lastLog = time.Now()
		typ := ""
		if r.cp.Type < len(r.cp.Types) {
			typ = r.cp.Types[r.cp.Type]
		}
		r.ex.cfg.Logger.Info("export progress", "job", r.job.ID, "datastore", r.job.DatastoreID,
			"type", typ, "types_done", r.cp.Type, "types", len(r.cp.Types), "resources_exported", r.exported,
			"objects", len(r.cp.Output))
	}
	cp, _ := json.Marshal(r.cp)
	prog, _ := json.Marshal(Progress{Exported: r.exported, Output: r.cp.Output})
	if err := r.ex.cfg.Store.JobProgress(ctx, store.JobProgressParams{ID: r.job.ID, LeaseToken: r.lease.Token,
		Progress: prog, Checkpoint: cp, LeaseExpires: r.lease.Until()}); err != nil {
		return err
	}
	r.ex.cfg.Hook.At(jobs.PointExportCheckpointed)
	return nil
}
