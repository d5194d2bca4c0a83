// Package jobs is the persistent job engine shared by import and export jobs: it claims runnable
// jobs from the store with a lease, keeps the lease alive while a Worker runs, records the terminal
// state, and hands jobs whose lease expired (a crashed or stopped worker) to another run. Each
// claim carries its own lease token, which every write of the run presents, so a run whose job
// was claimed again writes nothing more. It also defines the payloads (params, progress) that job
// records carry.
//
// It does not know what a job does: workers (importer, exporter) implement Worker, and they make
// their own progress crash-safe by committing it with their checkpoints.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// Store is the part of the store contract the engine uses.
type Store interface {
	JobClaim(ctx context.Context, p store.JobClaimParams) (store.Job, error)
	JobProgress(ctx context.Context, p store.JobProgressParams) error
	JobFinish(ctx context.Context, p store.JobFinishParams) error
}

// Result is the end of one run of a job.
type Result struct {
	Status   store.JobStatus // a terminal status
	Message  string          // why, for FAILED (must fit the model's Message pattern)
	Progress []byte          // final progress; nil keeps the last committed one
}

// Worker runs jobs of one kind. Run returns a Result when the job reached a terminal state, or an
// error when the run stopped early (shutdown, lost lease, server trouble): the job then stays
// unfinished and resumes from its last checkpoint in a later run.
type Worker interface {
	Run(ctx context.Context, job store.Job, lease Lease) (Result, error)
}

// Observer is told when runs of jobs start and end (the service's metrics implement it). Its
// methods are called from the runner goroutines and must return quickly.
type Observer interface {
	// RunStarted is called when a run of job begins (job as claimed, with its stored progress).
	RunStarted(job store.Job)
	// RunEnded is called when that run is over: status is the terminal status recorded, or ""
	// when the run stopped before the job ended (it resumes in a later run).
	RunEnded(job store.Job, status store.JobStatus, elapsed time.Duration)
}

// Lease is what a worker needs to write under the job's lease.
type Lease struct {
	// Token is the claim's fencing token (store.Job.LeaseToken): every write under the lease
	// presents it, and the store refuses it with store.ErrLeaseLost once another claim took over.
	Token string
	// Until returns the expiry to record with each commit (now + the lease duration).
	Until func() time.Time
}

// Config configures an Engine.
type Config struct {
	Store   Store
	Workers map[store.JobKind]Worker
	// Owner names this engine (node) in the leases it takes, for logs and for releasing a node's
	// leases; unique per process. Writes are fenced by each claim's token, not by Owner.
	Owner string
	// Lease is the claim duration; heartbeats renew it every Lease/3. Default 30s.
	Lease time.Duration
	// Poll is how often idle runners look for work when not notified. Default 500ms.
	Poll time.Duration
	// Concurrency is how many jobs run at once (jobs of one store and kind never overlap). Default 4.
	Concurrency int
	// MaxAttempts fails a job after this many runs ended in an error. Default 5.
	MaxAttempts int
	// Tick, when set, runs on every poll (e.g. data store lifecycle transitions).
	Tick func(ctx context.Context)
	// Observer, when set, is told about every run. Default nil.
	Observer Observer
	// Hook, when set, is called at the engine's points (see Hook). Default nil.
	Hook   Hook
	Logger *slog.Logger
}

// Engine runs jobs until stopped.
type Engine struct {
	cfg    Config
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an Engine; call Start to run it.
func New(cfg Config) *Engine {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Notify wakes an idle runner to look for work now.
func (e *Engine) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start launches the runners; they stop when Stop is called or ctx ends.
func (e *Engine) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	for i := 0; i < e.cfg.Concurrency; i++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.runner(ctx)
		}()
	}
	if e.cfg.Tick != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			t := time.NewTicker(e.cfg.Poll)
			defer t.Stop()
			for {
				e.cfg.Tick(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

// Stop cancels running jobs (they resume from their checkpoints on the next start) and waits for
// every goroutine to exit.
func (e *Engine) Stop() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

func (e *Engine) kinds() []store.JobKind {
	var ks []store.JobKind
	for k := range e.cfg.Workers {
		ks = append(ks, k)
	}
	return ks
}

func (e *Engine) runner(ctx context.Context) {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil && e.runOne(ctx) {
			// Keep going while there is work.
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-t.C:
		}
	}
}

// runOne claims and runs one job; it reports whether it found one.
func (e *Engine) runOne(ctx context.Context) bool {
	job, err := e.cfg.Store.JobClaim(ctx, store.JobClaimParams{Kinds: e.kinds(), Owner: e.cfg.Owner, Now: time.Now(), Lease: e.cfg.Lease})
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Error("claim job", "err", err)
		}
		return false
	}
	// Another runner may be idle while this one works: let it look too.
	e.Notify()
	log := e.cfg.Logger.With("job", job.ID, "kind", job.Kind, "datastore", job.DatastoreID, "attempt", job.Attempts)
	log.Info("job started", "status", job.Status)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lease := Lease{Token: job.LeaseToken, Until: func() time.Time { return time.Now().Add(e.cfg.Lease) }}
	var hb sync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		e.heartbeat(runCtx, cancel, job.ID, lease, log)
	}()
	start := time.Now()
	var ended store.JobStatus // the terminal status recorded by this run, if any
	if obs := e.cfg.Observer; obs != nil {
		obs.RunStarted(job)
		defer func() { obs.RunEnded(job, ended, time.Since(start)) }()
	}
	res, err := e.cfg.Workers[job.Kind].Run(runCtx, job, lease)
	cancel()
	hb.Wait()
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, store.ErrLeaseLost) {
			log.Info("job interrupted; it resumes from its checkpoint", "reason", err)
			return true
		}
		if job.Attempts < e.cfg.MaxAttempts {
			// Shorten the lease so the job is retried after a short back-off rather than after
			// the whole lease.
			backoff := time.Duration(job.Attempts) * 200 * time.Millisecond
			log.Error("job run failed; it will be retried", "err", err, "after", backoff)
			if err := e.cfg.Store.JobProgress(context.WithoutCancel(ctx), store.JobProgressParams{ID: job.ID, LeaseToken: lease.Token,
				LeaseExpires: time.Now().Add(backoff)}); err != nil && !errors.Is(err, store.ErrLeaseLost) {
				log.Error("shorten job lease", "err", err)
			}
			return true
		}
		log.Error("job failed after retries", "err", err)
		res = Result{Status: store.JobFailed, Message: fmt.Sprintf("The job failed after %d attempts because of an internal error", job.Attempts)}
	}
	e.at(job.Kind, PointBeforeTerminal)
	err = e.cfg.Store.JobFinish(context.WithoutCancel(ctx), store.JobFinishParams{
		ID: job.ID, LeaseToken: lease.Token, Status: res.Status, Message: res.Message, Progress: res.Progress, EndTime: time.Now(),
	})
	if err != nil {
		log.Error("record job end", "err", err)
		return true
	}
	ended = res.Status
	e.at(job.Kind, PointAfterTerminal)
	log.Info("job ended", "status", res.Status, "duration", time.Since(start))
	return true
}

// at calls the hook at an engine point of a job of kind.
func (e *Engine) at(kind store.JobKind, point string) {
	if e.cfg.Hook != nil {
		e.cfg.Hook(string(kind) + "." + point)
	}
}

// heartbeat renews the lease until ctx ends; a lost lease cancels the run.
func (e *Engine) heartbeat(ctx context.Context, cancel context.CancelFunc, id string, lease Lease, log *slog.Logger) {
	t := time.NewTicker(e.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := e.cfg.Store.JobProgress(ctx, store.JobProgressParams{ID: id, LeaseToken: lease.Token, LeaseExpires: lease.Until()})
		if errors.Is(err, store.ErrLeaseLost) {
			log.Warn("job lease lost; stopping this run")
			cancel()
			return
		}
		if err != nil && ctx.Err() == nil {
			log.Error("renew job lease", "err", err)
		}
	}
}
