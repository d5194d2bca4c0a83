// Package eraser is the worker of delete jobs, the FHIR $erase and $purge operations: it removes
// resources for good (every version, the index entries, the idempotency keys), a batch at a time,
// each batch in one store transaction with the job's progress and resume position, so that a
// stopped or crashed run resumes without losing count.
//
// $erase removes one resource (or one earlier version of it) and, when asked, the AuditEvents
// whose entity is that resource. $purge removes the resources of a patient's compartment (the R4
// Patient CompartmentDefinition) last updated within the job's window, the patient itself last;
// AuditEvents only when asked, and not the other patients that link to it.
//
// It does not decide what may be deleted or check requests (package fhirapi does), and it does
// not run jobs (package jobs does).
package eraser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Store is the part of the store contract the eraser needs.
type Store interface {
	ResourceGet(ctx context.Context, datastoreID, typ, id string) (store.Resource, error)
	ResourceVersion(ctx context.Context, datastoreID, typ, id string, version int64) (store.Resource, error)
	ResourceSearch(ctx context.Context, q store.SearchQuery) (store.SearchResult, error)
	ResourceErase(ctx context.Context, p store.EraseParams) (int64, error)
}

// Config configures an Eraser.
type Config struct {
	Store Store
	// Batch is the number of resources removed per transaction. Default 200.
	Batch  int
	Logger *slog.Logger
}

// Eraser runs delete jobs; it implements jobs.Worker.
type Eraser struct {
	cfg Config
}

// New returns an Eraser.
func New(cfg Config) *Eraser {
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Eraser{cfg: cfg}
}

// checkpoint is the resume position of a purge: the index of the resource type reached. A batch
// removes what it found, so searching again finds the next.
type checkpoint struct {
	Part int `json:"part"`
}

// Run implements jobs.Worker.
func (e *Eraser) Run(ctx context.Context, job store.Job, lease jobs.Lease) (jobs.Result, error) {
	var p jobs.DeleteParams
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return jobs.Result{Status: store.JobFailed, Message: "The job parameters are unreadable"}, nil
	}
	r := &run{e: e, job: job, lease: lease, params: p}
	if len(job.Progress) > 0 {
		if err := json.Unmarshal(job.Progress, &r.prog); err != nil {
			return jobs.Result{}, fmt.Errorf("read progress: %w", err)
		}
	}
	if len(job.Checkpoint) > 0 {
		if err := json.Unmarshal(job.Checkpoint, &r.cp); err != nil {
			return jobs.Result{}, fmt.Errorf("read checkpoint: %w", err)
		}
	}
	var err error
	switch p.Operation {
	case "erase":
		err = r.erase(ctx)
	case "purge":
		err = r.purge(ctx)
	default:
		return jobs.Result{Status: store.JobFailed, Message: "Unknown delete operation " + p.Operation}, nil
	}
	if err != nil {
		return jobs.Result{}, err
	}
	raw, _ := json.Marshal(r.prog)
	return jobs.Result{Status: store.JobCompleted, Progress: raw}, nil
}

// run is one run of one delete job.
type run struct {
	e      *Eraser
	job    store.Job
	lease  jobs.Lease
	params jobs.DeleteParams
	prog   jobs.DeleteProgress
	cp     checkpoint
}

// remove erases keys, each of which names something, in one transaction with the progress and
// checkpoint that follow from it.
func (r *run) remove(ctx context.Context, keys []store.ResourceKey, next checkpoint) error {
	prog := r.prog
	prog.Resources += int64(len(keys))
	progRaw, _ := json.Marshal(prog)
	cpRaw, _ := json.Marshal(next)
	if _, err := r.e.cfg.Store.ResourceErase(ctx, store.EraseParams{DatastoreID: r.job.DatastoreID, Keys: keys,
		JobID: r.job.ID, LeaseToken: r.lease.Token, Progress: progRaw, Checkpoint: cpRaw, LeaseExpires: r.lease.Until()}); err != nil {
		return err
	}
	r.prog, r.cp = prog, next
	return nil
}

// erase removes the job's resource (or version) and, when asked, the AuditEvents about it.
func (r *run) erase(ctx context.Context) error {
	p := r.params
	if r.cp.Part > 0 {
		return nil // done before a restart that lost only the terminal write
	}
	var keys []store.ResourceKey
	var err error
	if p.Version > 0 {
		_, err = r.e.cfg.Store.ResourceVersion(ctx, r.job.DatastoreID, p.Type, p.ID, p.Version)
	} else {
		_, err = r.e.cfg.Store.ResourceGet(ctx, r.job.DatastoreID, p.Type, p.ID)
	}
	switch {
	case err == nil:
		keys = append(keys, store.ResourceKey{Type: p.Type, ID: p.ID, Version: p.Version})
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if p.DeleteAuditEvent && p.Version == 0 {
		q := store.SearchQuery{DatastoreID: r.job.DatastoreID, Type: "AuditEvent", Count: 100,
			Where: [][]store.SearchPredicate{{{Param: "entity", Kind: store.IndexReference, RefType: p.Type, RefID: p.ID}}}}
		for {
			res, err := r.e.cfg.Store.ResourceSearch(ctx, q)
			if err != nil {
				return err
			}
			for _, m := range res.Matches {
				keys = append(keys, store.ResourceKey{Type: m.Type, ID: m.ID})
			}
			if res.Next == nil {
				break
			}
			q.Cursor = res.Next
		}
	}
	return r.remove(ctx, keys, checkpoint{Part: 1})
}

// purgeTypes are the types a purge goes through, the Patient last.
func (r *run) purgeTypes() []string {
	var out []string
	for _, t := range search.CompartmentTypes("Patient") {
		if t == "Patient" || t == "AuditEvent" && !r.params.DeleteAuditEvent {
			continue
		}
		out = append(out, t)
	}
	return append(out, "Patient")
}

// purge removes the patient's compartment, a type at a time.
func (r *run) purge(ctx context.Context) error {
	p := r.params
	types := r.purgeTypes()
	var window []store.SearchPredicate
	if p.Since > 0 {
		window = append(window, store.SearchPredicate{Param: "_lastUpdated", Kind: store.IndexDate, Op: store.OpGe, Low: p.Since, High: p.Since})
	}
	if p.Until > 0 {
		window = append(window, store.SearchPredicate{Param: "_lastUpdated", Kind: store.IndexDate, Op: store.OpLe, Low: p.Until, High: p.Until})
	}
	for r.cp.Part < len(types) {
		typ := types[r.cp.Part]
		var members []store.SearchPredicate
		if typ == "Patient" {
			members = []store.SearchPredicate{{Param: "_id", Kind: store.IndexToken, AnySystem: true, Code: p.ID}}
		} else {
			for _, code := range search.Compartment("Patient", typ) {
				members = append(members, store.SearchPredicate{Param: code, Kind: store.IndexReference, RefType: "Patient", RefID: p.ID})
			}
		}
		where := [][]store.SearchPredicate{members}
		for _, w := range window {
			where = append(where, []store.SearchPredicate{w})
		}
		res, err := r.e.cfg.Store.ResourceSearch(ctx, store.SearchQuery{DatastoreID: r.job.DatastoreID, Type: typ, Where: where, Count: r.e.cfg.Batch})
		if err != nil {
			return err
		}
		next := r.cp
		if len(res.Matches) < r.e.cfg.Batch {
			next.Part++
		}
		var keys []store.ResourceKey
		for _, m := range res.Matches {
			keys = append(keys, store.ResourceKey{Type: m.Type, ID: m.ID})
		}
		if err := r.remove(ctx, keys, next); err != nil {
			return err
		}
	}
	return nil
}
