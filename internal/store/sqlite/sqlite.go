// Package sqlite is the embedded, default backend of the store contract: one SQLite file in WAL mode,
// opened through mattn/go-sqlite3, with its schema migrations embedded in the binary.
//
// SQLite allows one writer at a time, so the package keeps one write connection (every write runs
// there, serialised) and a small pool of read connections that WAL lets run beside the writer.
// A write gate hands the writer to REST and control-plane writes before a waiting import commit,
// and an import commit of several steps ends after the step in progress when one waits.
// It is meant for one process: the caller holds the data directory lock (see Open) and may therefore
// drop every job lease at start-up. Several nodes sharing one database need a server backend.
//
// The WAL is bounded, by a checkpointer goroutine and off the writers' path. Every 250 ms it
// copies the WAL back into the database file without blocking anyone, but that never empties it
// while readers keep older snapshots open, which with readers running back to back is always. So
// a commit that leaves the -wal file larger than the limit (64 MiB by default, WithWALLimit) wakes
// the checkpointer, which holds back import commits (REST and control-plane writes go on), copies
// the WAL, then takes the writer for a RESTART checkpoint: it waits up to a second for readers of
// older snapshots to finish and makes the next commit write from the start of the file again, which
// then shrinks it to the limit. The file thus stays under the limit plus one import transaction and
// the interactive writes of one checkpoint; a reader that holds one snapshot for longer than a
// second postpones the restart to a later commit. The file is reused, not emptied, so commits
// write into blocks the file already has instead of growing it again.
//
// The search index is written in the transaction of the resources it describes. String, date,
// number and uri entries are one row each; token and reference entries are posting lists (one
// row per parameter, value and chunk of 4,096 resource keys, postings.go), and each resource row
// keeps its own token and reference entries (ix) for updates and for testing search candidates
// through Go functions registered on every connection. docs/STORAGE.md describes the design.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver

	"github.com/fhirlake/fhirlake/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	w        *sql.DB // the single writer connection
	r        *sql.DB // readers
	ckpt     *sql.DB // the checkpointer's connection
	walPath  string
	walLimit int64
	// walFull wakes the checkpointer when a commit left the WAL over the limit.
	walFull chan struct{}
	// commits counts write commits (see boundWAL).
	commits atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	// params caches search parameter keys for the writer (see index.go).
	params paramCache
	gate   writeGate
	// stmts holds the statements prepared on the write connection at Open, by text; read-only
	// afterwards.
	stmts map[string]*sql.Stmt
}

var _ store.Store = (*Store)(nil)

// DefaultWALLimit is the size of the -wal file past which a commit truncates it.
const DefaultWALLimit = 64 << 20

// Option changes how Open sets up the store.
type Option func(*Store)

// WithWALLimit sets the size in bytes of the -wal file past which it is truncated (default
// DefaultWALLimit).
func WithWALLimit(bytes int64) Option {
	return func(s *Store) { s.walLimit = bytes }
}

// Open opens (creating if needed) the database file at path and applies pending migrations.
// path ":memory:" is not supported (readers and writer must share the file); use a temp file.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	s := &Store{walPath: path + "-wal", walLimit: DefaultWALLimit, walFull: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), stmts: map[string]*sql.Stmt{}}
	for _, o := range opts {
		o(s)
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&cache=private"
	w := openDB(dsn)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// journal_size_limit shrinks the -wal file back to the limit whenever the writer restarts it
	// after a complete checkpoint.
	if _, err := w.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=%d", s.walLimit)); err != nil {
		w.Close()
		return nil, fmt.Errorf("configure sqlite: %w", err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r := openDB("file:" + path + "?_busy_timeout=10000&_foreign_keys=on&mode=ro&_query_only=1")
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	ckpt := openDB("file:" + path + "?_busy_timeout=10000")
	ckpt.SetMaxOpenConns(1)
	s.w, s.r, s.ckpt = w, r, ckpt
	if err := s.warmStatements(ctx); err != nil {
		w.Close()
		r.Close()
		ckpt.Close()
		return nil, err
	}
	go s.checkpointer()
	return s, nil
}

// driverWithFuncs is the SQLite driver with the functions that the posting lists and the
// encoded index entries of resources need (postings.go) registered on every connection.
var driverWithFuncs = &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
	for name, fn := range map[string]any{
		"pl_union":   unionChunks,
		"pl_keys":    chunkKeys,
		"ix_token":   ixToken,
		"ix_ref":     ixRef,
		"ix_any":     ixAny,
		"ix_code":    ixCode,
		"ix_ref_ids": ixRefIDs,
	} {
		if err := c.RegisterFunc(name, fn, true); err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
	}
	return nil
}}

// connector opens connections of driverWithFuncs without registering a driver name globally.
type connector struct{ dsn string }

func (c connector) Connect(context.Context) (driver.Conn, error) { return driverWithFuncs.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return driverWithFuncs }

func openDB(dsn string) *sql.DB { return sql.OpenDB(connector{dsn}) }

const (
	// checkpointInterval is how often the WAL is copied back into the database file.
	checkpointInterval = 250 * time.Millisecond
	// restartWait is how long a RESTART checkpoint waits for readers of older snapshots (and so
	// holds writes) before it gives up until a later commit.
	restartWait = time.Second
	// restartRetry is the pause between attempts of a RESTART checkpoint that readers block.
	restartRetry = 100 * time.Microsecond
	// restartCopies is how many times boundWAL copies interactive writes made during its last
	// copy outside the writer before it lets the RESTART copy them.
	restartCopies = 1
)

// checkpointer copies the WAL into the database file on its own connection, so writes pay for
// checkpoints (and their fsyncs) only while it restarts the WAL (boundWAL); it exits when Close is
// called.
func (s *Store) checkpointer() {
	defer close(s.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.walFull:
		}
		if s.walOver() {
			s.boundWAL()
			continue
		}
		s.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// walOver reports whether the -wal file is larger than the limit.
func (s *Store) walOver() bool {
	fi, err := os.Stat(s.walPath)
	return err == nil && fi.Size() > s.walLimit
}

// committed is called after every write commit: it wakes the checkpointer when the WAL passed
// the limit, and holds back interactive writers as well when they outpace the checkpointer.
func (s *Store) committed() {
	s.commits.Add(1)
	fi, err := os.Stat(s.walPath)
	if err != nil || fi.Size() <= s.walLimit {
		return
	}
	select {
	case s.walFull <- struct{}{}:
	default:
	}
	if fi.Size() > s.walLimit+s.walLimit/2 {
		s.gate.raiseHold(maintenance)
	}
}

// boundWAL brings the WAL back under the limit. Import commits wait meanwhile, so that the file
// does not grow by more than one of them, and interactive writers do not, unless they take the
// file half the limit beyond it: PASSIVE checkpoints copy the WAL without holding the writer, and
// the writer is taken, before any waiting writer, only for the RESTART checkpoint once one of
// those copied everything. With nothing left to copy, the RESTART syncs nothing and only waits for
// readers of older snapshots; the fsyncs of the copy stay outside the writer. A failed restart (a
// reader held its snapshot too long) is retried at the next commit or tick.
func (s *Store) boundWAL() {
	s.gate.holdBelow(interactive)
	defer s.gate.holdBelow(bulk)
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		before := s.commits.Load()
		s.ckpt.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		if err := s.gate.enter(ctx, maintenance); err != nil {
			return
		}
		// Interactive writes that committed during the copy are copied by another PASSIVE
		// checkpoint, outside the writer, once; then by the RESTART itself.
		if s.commits.Load() != before && attempt < restartCopies {
			s.gate.leave()
			continue
		}
		s.restartWAL(ctx)
		s.gate.leave()
		return
	}
}

// restartWAL runs a RESTART checkpoint on the writer's connection, which the caller holds.
func (s *Store) restartWAL(ctx context.Context) {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	// SQLite's busy handler sleeps 1, 2, 5, 10 ms... between attempts; readers are shorter than
	// that, so retry at a finer grain instead.
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout=0"); err != nil {
		return
	}
	defer c.ExecContext(ctx, "PRAGMA busy_timeout=10000") // as in Open's DSN
	for deadline := time.Now().Add(restartWait); ; {
		var busy, frames, copied int
		if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied); err != nil {
			return
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(restartRetry)
	}
	// The next commit writes from the start of the file and shrinks it to the limit
	// (journal_size_limit). Make that commit now, one page, so that the file is back under the
	// limit at once rather than at the next write.
	if s.walOver() {
		var v int
		if c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v) == nil {
			c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", v))
		}
	}
}

// Close stops the checkpointer and closes the connection pools; the last connection to close
// checkpoints the WAL fully.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.r.Close(), s.ckpt.Close(), s.w.Close())
}

func migrate(ctx context.Context, db *sql.DB) error { return migrateTo(ctx, db, math.MaxInt) }

// migrateTo applies the pending migrations numbered up to last.
func migrateTo(ctx context.Context, db *sql.DB, last int) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		n, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(f, "migrations/"), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", f)
		}
		if n <= version || n > last {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", f, err)
		}
		if step := migrationSteps[n]; step != nil {
			if err := step(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", f, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", n)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", f, err)
		}
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// priority orders the writers at the write gate, lowest first.
type priority int

const (
	bulk        priority = iota // import commits
	interactive                 // REST writes, the control plane
	maintenance                 // the checkpointer's WAL restart
)

// writeGate hands the one write connection to one writer at a time, a waiting writer of a higher
// priority before one of a lower (each in arrival order), so that a REST write waits for at most
// the one import commit in progress. Writers below the hold level wait even when the connection
// is free (see Store.boundWAL).
type writeGate struct {
	mu       sync.Mutex
	busy     bool
	hold     priority // writers below it wait
	bounding bool     // boundWAL holds writers back; raiseHold may hold more
	waiting  [maintenance + 1][]chan struct{}
	lastREST time.Time // when a REST resource write last asked for the connection
}

// holdBelow holds back the writers below p (bulk: none), for boundWAL: the holds it and raiseHold
// set last until it calls holdBelow(bulk).
func (g *writeGate) holdBelow(p priority) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.bounding = p, p > bulk
	if !g.busy {
		g.handOver()
	}
}

// raiseHold holds back the writers below p while boundWAL runs (it does nothing otherwise).
func (g *writeGate) raiseHold(p priority) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bounding && p > g.hold {
		g.hold = p
	}
}

// interactiveWindow is how long after a REST resource write bulk writers keep their transactions
// short (see ImportCommit).
const interactiveWindow = time.Second

// noteREST records that a REST resource write asks for the connection. Control-plane writes
// (job heartbeats, lifecycle ticks) go first as well but do not count: they come all the time and
// wait for one step at most.
func (g *writeGate) noteREST() {
	g.mu.Lock()
	g.lastREST = time.Now()
	g.mu.Unlock()
}

// enter waits for the connection; a nil error means the caller holds it until leave.
func (g *writeGate) enter(ctx context.Context, p priority) error {
	g.mu.Lock()
	if !g.busy && p >= g.hold {
		g.busy = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	q := &g.waiting[p]
	*q = append(*q, ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		i := slices.Index(*q, ch)
		if i >= 0 {
			*q = slices.Delete(*q, i, i+1)
		}
		g.mu.Unlock()
		if i < 0 { // handed over meanwhile
			g.leave()
		}
		return ctx.Err()
	}
}

// urgentWaiting reports whether a writer above bulk waits for the connection, and whether a REST
// resource write asked for it within interactiveWindow.
func (g *writeGate) urgentWaiting() (waiting, recent bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting[interactive])+len(g.waiting[maintenance]) > 0, time.Since(g.lastREST) < interactiveWindow
}

// interactiveWaiting reports whether a writer above bulk waits for the connection.
func (g *writeGate) interactiveWaiting() bool {
	waiting, _ := g.urgentWaiting()
	return waiting
}

// leave hands the connection to the next waiter.
func (g *writeGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handOver()
}

// handOver gives the connection to the next waiter that may have it, or marks it free; g.mu is
// held.
func (g *writeGate) handOver() {
	g.busy = true
	for p := maintenance; p >= g.hold; p-- {
		if q := &g.waiting[p]; len(*q) > 0 {
			next := (*q)[0]
			*q = (*q)[1:]
			close(next)
			return
		}
	}
	g.busy = false
}

// stmt returns the statement of q bound to tx: the one prepared on the write connection at Open
// (see warmStatements) when there is one, else one prepared for tx alone.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

// warmStatements prepares the statements of resource writes once on the write connection, so
// that a write transaction does not prepare them again. It runs in Open, before any writer.
func (s *Store) warmStatements(ctx context.Context) error {
	var names []string
	collectSQL := &stmtSet{ctx: ctx, collect: &names}
	prepareResourceSQL(collectSQL)
	prepareIndexSQL(collectSQL, &indexStmts{})
	for _, q := range names {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		s.stmts[q] = st
	}
	return nil
}

// withTx runs fn in a write transaction of an interactive writer.
func (s *Store) withTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.writeTx(ctx, interactive, fn)
}

// writeTx runs fn in a write transaction once the write gate lets it in. ctx bounds the wait at
// the gate; once in, the transaction runs to its end whatever becomes of ctx (fn gets ctx without
// its cancellation), because a write transaction is short and because the driver runs every
// statement of a cancellable context in a goroutine of its own, which costs the writer a goroutine
// switch per statement.
func (s *Store) writeTx(ctx context.Context, p priority, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := s.gate.enter(ctx, p); err != nil {
		return err
	}
	defer s.gate.leave()
	ctx = context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	s.committed()
	return nil
}

// classify marks the errors by which SQLite says the disk is full (SQLITE_FULL, or an I/O error
// whose cause is ENOSPC or EDQUOT) with store.ErrDiskFull. It is the one place where the backend's
// write errors are mapped onto the contract's sentinels.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrDiskFull, err)
	}
	return err
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dsSeq resolves a store id to its integer key (any tenant).
func dsSeq(ctx context.Context, q querier, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, "SELECT seq FROM datastores WHERE id = ?", id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, err
}

// dsState resolves a store id to its integer key and its status now (due transitions applied);
// with t not nil, only a store of that tenant is found. Write transactions call it to check a
// store's state atomically with their write.
func dsState(ctx context.Context, q querier, t *store.Tenant, id string) (int64, store.DatastoreStatus, error) {
	var seq int64
	var status string
	query, args := "SELECT seq, "+effectiveStatus+" FROM datastores WHERE id = ?2", []any{ms(time.Now()), id}
	if t != nil {
		query, args = query+" AND account = ?3 AND region = ?4", append(args, t.AccountID, t.Region)
	}
	err := q.QueryRowContext(ctx, query, args...).Scan(&seq, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, store.DatastoreStatus(status), err
}

// tenantSeq resolves a store id of a tenant to its integer key.
func tenantSeq(ctx context.Context, q querier, t store.Tenant, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, "SELECT seq FROM datastores WHERE id = ? AND account = ? AND region = ?",
		id, t.AccountID, t.Region).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, err
}
