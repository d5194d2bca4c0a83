// Package jobs is the persistent job engine shared by import and export jobs: it claims runnable
// jobs from the store with a lease, keeps the lease alive while a Worker runs, records the terminal
// state, and hands jobs whose lease expired (a crashed or stopped worker) to another run. Each
// claim carries its own lease token, which every write of the run presents, so a run whose job
// was claimed again writes nothing more. It also defines the payloads (params, progress) that job
// records carry.
//
// Idle runners wait to be woken (Notify, or Config.Wake for work appearing on other nodes) and
// look for work once per poll between; stopping the engine hands the leases of interrupted runs
// back, so that another node resumes them at once.
//
// A run that ends in an error is retried. A Fault (a full disk or an unreachable database, an
// unwritable, unreadable or unreachable S3 location) pauses the job with back-off, logging why at each retry, until the
// fault timeout has passed, and then fails it with a message that names the cause; any other
// error is an internal one, retried a few times after short pauses before the job fails.
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
	// MaxAttempts fails a job after this many of its runs in a row ended in an internal error (not
	// a Fault), as counted by this engine. Default 5.
	MaxAttempts int
	// FaultTimeout is how long a job whose runs end in a Fault is paused and retried, counted by
	// this engine from the first fault of an unbroken series; then it fails with the fault's
	// message. Default 10m.
	FaultTimeout time.Duration
	// Tick, when set, runs every TickEvery (e.g. data store lifecycle transitions).
	Tick func(ctx context.Context)
	// TickEvery is the period of Tick. Default Poll.
	TickEvery time.Duration
	// Wake, when set, runs for the engine's life and calls notify whenever work may have appeared
	// that Notify was not told about (a job submitted or handed back on another node); it returns
	// when ctx ends.
	Wake func(ctx context.Context, notify func())
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

	mu sync.Mutex
	// trouble holds the unfinished jobs whose last run ended in an error, by id.
	trouble map[string]*trouble
	// claimErrLogged is when a failed claim was last logged (they repeat at every poll).
	claimErrLogged time.Time
}

// trouble is what the engine remembers of a job's failed runs.
type trouble struct {
	faultSince time.Time // first fault of the current series; zero after an internal error
	faults     int       // faults in the current series
	errors     int       // internal errors in a row
}

// New returns an Engine; call Start to run it.
func New(cfg Config) *Engine {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = cfg.Poll
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.FaultTimeout <= 0 {
		cfg.FaultTimeout = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, wake: make(chan struct{}, 1), trouble: map[string]*trouble{}}
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
		e.goRun(func() { e.runner(ctx) })
	}
	// One poll for all runners: it wakes one, which wakes the next when it found work.
	e.goRun(func() { every(ctx, e.cfg.Poll, e.Notify) })
	if e.cfg.Tick != nil {
		e.goRun(func() { every(ctx, e.cfg.TickEvery, func() { e.cfg.Tick(ctx) }) })
	}
	if e.cfg.Wake != nil {
		e.goRun(func() { e.cfg.Wake(ctx, e.Notify) })
	}
}

// goRun runs fn on a goroutine that Stop waits for.
func (e *Engine) goRun(fn func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
}

// every calls fn at once and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop cancels running jobs and waits for every goroutine to exit. Each interrupted job's lease
// is handed back (it expires now), so that another node resumes it from its checkpoint at once
// rather than when the lease would have run out.
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
	for {
		for ctx.Err() == nil && e.runOne(ctx) {
			// Keep going while there is work.
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
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
			e.logClaimError(err)
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
		if errors.Is(err, store.ErrLeaseLost) {
			log.Info("job lease lost; the job resumes from its checkpoint elsewhere", "reason", err)
			return true
		}
		if ctx.Err() != nil {
			// Shutting down: hand the lease back so that the job resumes at once elsewhere.
			if err := e.cfg.Store.JobProgress(context.WithoutCancel(ctx), store.JobProgressParams{ID: job.ID, LeaseToken: lease.Token,
				LeaseExpires: time.Now().Add(-time.Millisecond)}); err != nil && !errors.Is(err, store.ErrLeaseLost) {
				log.Error("hand back job lease", "err", err)
			}
			log.Info("job interrupted; it resumes from its checkpoint", "reason", err)
			return true
		}
		var retry bool
		if res, retry = e.afterError(ctx, job, err, log); retry {
			return true
		}
	}
	if err := e.finish(ctx, job, res); err != nil {
		log.Error("record job end", "err", err)
		if errors.Is(err, store.ErrLeaseLost) {
			return true
		}
		// The next run resumes from the checkpoint, which is at the end, and ends the same way.
		if failed, retry := e.afterError(ctx, job, err, log); !retry {
			if err := e.finish(ctx, job, failed); err != nil {
				log.Error("record job end", "err", err)
			} else {
				ended = failed.Status
			}
		}
		return true
	}
	ended = res.Status
	e.mu.Lock()
	delete(e.trouble, job.ID)
	e.mu.Unlock()
	log.Info("job ended", "status", res.Status, "duration", time.Since(start))
	return true
}

// finish records a terminal result, with the hook points around the write.
func (e *Engine) finish(ctx context.Context, job store.Job, res Result) error {
	e.at(job.Kind, PointBeforeTerminal)
	err := e.cfg.Store.JobFinish(context.WithoutCancel(ctx), store.JobFinishParams{
		ID: job.ID, LeaseToken: job.LeaseToken, Status: res.Status, Message: fitMessage(res.Message), Progress: res.Progress, EndTime: time.Now(),
	})
	if err == nil {
		e.at(job.Kind, PointAfterTerminal)
	}
	return err
}

// afterError decides what follows a run of job that ended in err (or whose terminal write
// failed with err): a retry after a pause, for which it shortens the job's lease, or a FAILED
// result to record. A fault pauses the job until the fault timeout has passed since the first
// fault of the series; an internal error gets MaxAttempts runs in a row.
func (e *Engine) afterError(ctx context.Context, job store.Job, err error, log *slog.Logger) (failed Result, retry bool) {
	now := time.Now()
	e.mu.Lock()
	tr := e.trouble[job.ID]
	if tr == nil {
		tr = &trouble{}
		e.trouble[job.ID] = tr
	}
	var pause time.Duration
	f, isFault := asFault(err)
	switch {
	case isFault:
		if tr.faultSince.IsZero() {
			tr.faultSince, tr.faults = now, 0
		}
		deadline := tr.faultSince.Add(e.cfg.FaultTimeout)
		if !now.Before(deadline) {
			failed = Result{Status: store.JobFailed, Message: f.Message}
			break
		}
		pause = min(faultDelay(e.cfg.FaultTimeout, tr.faults), deadline.Sub(now))
		tr.faults++
		log.Warn("job paused by a fault; it will be retried", "cause", f.Message, "err", f.Err,
			"retry_in", pause, "fails_in", deadline.Sub(now).Round(time.Millisecond))
	default:
		tr.faultSince = time.Time{}
		tr.errors++
		if tr.errors >= e.cfg.MaxAttempts {
			failed = Result{Status: store.JobFailed, Message: fmt.Sprintf("The job failed after %d attempts because of an internal error", tr.errors)}
			break
		}
		// Shorten the lease so the job is retried after a short back-off rather than after the
		// whole lease.
		pause = time.Duration(tr.errors) * 200 * time.Millisecond
		log.Error("job run failed; it will be retried", "err", err, "after", pause)
	}
	e.mu.Unlock()
	if pause == 0 {
		if isFault {
			log.Error("job failed: the fault outlasted the fault timeout", "cause", f.Message, "err", f.Err, "timeout", e.cfg.FaultTimeout)
		} else {
			log.Error("job failed after retries", "err", err)
		}
		return failed, false
	}
	if err := e.cfg.Store.JobProgress(context.WithoutCancel(ctx), store.JobProgressParams{ID: job.ID, LeaseToken: job.LeaseToken,
		LeaseExpires: now.Add(pause)}); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		// On a full disk the lease cannot be shortened: the job is retried when it expires.
		log.Warn("shorten job lease", "err", err)
	}
	if isFault {
		e.at(job.Kind, PointPaused)
	}
	return Result{}, true
}

// logClaimError logs a failed claim, at most every few seconds: runners retry at every poll,
// and a full disk fails them all until space returns.
func (e *Engine) logClaimError(err error) {
	e.mu.Lock()
	due := time.Since(e.claimErrLogged) >= 5*time.Second
	if due {
		e.claimErrLogged = time.Now()
	}
	e.mu.Unlock()
	if due {
		e.cfg.Logger.Error("claim job", "err", err)
	}
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
