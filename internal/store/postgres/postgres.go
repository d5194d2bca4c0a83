// Package postgres is the PostgreSQL backend of the store contract, for several fhirlake nodes
// sharing one database: a pgx connection pool, versioned schema migrations embedded in the binary
// and applied once under an advisory lock, bulk resource writes (COPY and set-based statements),
// and the cross-node pieces of the job engine (claims with FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY
// wake-ups, a leader lock, shared server secrets).
//
// The schema is the connection's current schema (the first of its search_path), so one database
// can hold several independent deployments, one per schema. Locks and notification channels are
// named after it. The package owns no protocol and no job logic.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/fhirlake/fhirlake/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures Open.
type Config struct {
	// URL is a PostgreSQL connection URL or DSN (postgres://user:pass@host:port/db?search_path=...).
	URL string
	// MaxConns caps the connection pool. Default 0: pgxpool's default (4, or the CPU count if higher).
	MaxConns int
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
	cfg  *pgxpool.Config
	// schema is the deployment's schema; ns is its 32-bit hash, the first half of every advisory
	// lock key of this deployment.
	schema string
	ns     int32
	params paramCache
	grown  growth
	leader leader
}

var _ store.Store = (*Store)(nil)

// stageTable is each pool connection's staging table for bulk updates of resource rows: COPY
// fills it, one UPDATE ... FROM applies it, and the commit empties it. PostgreSQL truncates an ON
// COMMIT DELETE ROWS table only in transactions that used a temporary table.
const stageTable = "stage_resources"

const stageSQL = `CREATE TEMPORARY TABLE IF NOT EXISTS ` + stageTable + ` (
	pk bigint, version bigint, deleted boolean, body bytea, tok text[], tok_t text[], ref text[]) ON COMMIT DELETE ROWS`

// Advisory lock purposes (the second key of the two-key form; data store write locks use the
// one-key form, a separate key space).
const (
	lockMigrate = 1
	lockLeader  = 2
)

// Open connects to the database of cfg.URL and applies pending migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres store URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = int32(cfg.MaxConns)
	}
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, stageSQL)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	s := &Store{pool: pool, cfg: pc}
	if err := pool.QueryRow(ctx, "SELECT current_schema(), hashtext(current_schema())").Scan(&s.schema, &s.ns); err != nil {
		pool.Close()
		if err == nil || errors.Is(err, pgx.ErrNoRows) {
			err = errors.New("no current schema")
		}
		return nil, fmt.Errorf("postgres: current schema (does the search_path name an existing schema?): %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close gives up the leader lock and closes the pool.
func (s *Store) Close() error {
	s.leader.close()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// migrate applies the embedded migrations that the schema_migrations table does not list, all in
// one transaction under an advisory lock, so nodes starting together apply each exactly once.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", s.ns, lockMigrate); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		for _, v := range versions {
			applied[v] = true
		}
		for _, f := range files {
			name := strings.TrimPrefix(f, "migrations/")
			n, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("migration %s: bad name", f)
			}
			if applied[n] {
				continue
			}
			body, err := migrations.ReadFile(f)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", n, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// dbNow is the database's clock in unix milliseconds, as SQL: leases and data store lifecycle
// deadlines are measured on it, so that nodes whose clocks disagree still agree on them.
const dbNow = "(extract(epoch from statement_timestamp()) * 1000)::bigint"

// dbTime returns the SQL of a moment on the database's clock given its offset from now in
// milliseconds (the placeholder arg, bound to offset(t)).
func dbTime(arg string) string { return "(" + dbNow + " + " + arg + "::bigint)" }

// offset returns how far t lies from this process's clock, in milliseconds. The contract's "now"
// and "now + lease" moments (JobClaimParams.Now, lease expiries, DatastoreAdvance's now) are
// passed as offsets and applied to the database's clock (dbTime), so a node whose clock is
// wrong still measures leases and lifecycle like every other node.
func offset(t time.Time) int64 { return time.Until(t).Milliseconds() }

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

// withTx runs fn in a read-committed transaction and commits it.
func (s *Store) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// classify marks the errors by which PostgreSQL says its disk is full (SQLSTATE 53100) with
// store.ErrDiskFull, and those of a server that cannot be reached (no connection, a connection
// lost, a server shutting down or starting: SQLSTATE classes 08 and 57P) with
// store.ErrUnavailable. It is the one place where the backend's errors are mapped onto the
// contract's sentinels.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return fmt.Errorf("%w: %w", store.ErrDiskFull, err)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"):
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, puddle.ErrClosedPool) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lockDatastore takes the write lock of one data store for the rest of tx: resource writes,
// imports and the purge of a deleted store serialise per store (other stores write in parallel).
func (s *Store) lockDatastore(ctx context.Context, tx pgx.Tx, ds int64) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(s.ns)<<32|ds); err != nil {
		return fmt.Errorf("lock data store: %w", err)
	}
	return nil
}

// tenantKey is the advisory lock key that serialises the data store creates of one tenant (under
// a quota). It shares the one-key space with lockDatastore's keys but never meets them: its low
// half has the top bit set, which no data store seq reaches.
func (s *Store) tenantKey(t store.Tenant) int64 {
	h := fnv.New32a()
	h.Write([]byte(t.AccountID + "/" + t.Region))
	return int64(s.ns)<<32 | int64(h.Sum32()|1<<31)
}

// dsState resolves a store id to its integer key and its status now (due transitions applied);
// with t not nil, only a store of that tenant is found. lock, when not "", is appended to the
// query (FOR UPDATE and the like).
func dsState(ctx context.Context, q querier, t *store.Tenant, id, lock string) (int64, store.DatastoreStatus, error) {
	var seq int64
	var status string
	query, args := "SELECT seq, "+effectiveStatus+" FROM datastores WHERE id = $1", []any{id}
	if t != nil {
		query, args = query+" AND account = $2 AND region = $3", append(args, t.AccountID, t.Region)
	}
	err := q.QueryRow(ctx, query+" "+lock, args...).Scan(&seq, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, store.DatastoreStatus(status), err
}

// dsSeq resolves a store id to its integer key (any tenant).
func dsSeq(ctx context.Context, q querier, id string) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, "SELECT seq FROM datastores WHERE id = $1", id).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, err
}

// tenantSeq resolves a store id of a tenant to its integer key.
func tenantSeq(ctx context.Context, q querier, t store.Tenant, id string) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, "SELECT seq FROM datastores WHERE id = $1 AND account = $2 AND region = $3",
		id, t.AccountID, t.Region).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return seq, err
}

// Secret returns the server secret called name, size random bytes created by the first node
// that asks for it and the same for every node afterwards.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	// Two statements: the SELECT sees the row of a node whose INSERT won at the same moment.
	if _, err := s.pool.Exec(ctx, "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, fresh); err != nil {
		return nil, fmt.Errorf("server secret %s: %w", name, err)
	}
	var v []byte
	if err := s.pool.QueryRow(ctx, "SELECT value FROM server_secrets WHERE name = $1", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("server secret %s: %w", name, err)
	}
	if len(v) != size {
		return nil, fmt.Errorf("server secret %s: %d bytes stored, want %d", name, len(v), size)
	}
	return v, nil
}

// growth counts the rows this node wrote into each table since it last analyzed the table.
type growth struct {
	mu   sync.Mutex
	rows map[string]int64
}

func (g *growth) add(table string, n int) {
	if n == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rows == nil {
		g.rows = map[string]int64{}
	}
	g.rows[table] += int64(n)
}

// analyzeGrown runs ANALYZE on the tables that this node grew by more than autovacuum's default
// analyze threshold (50 rows + 10% of the table) since it last analyzed them, after merging the
// GIN pending lists of resources. A bulk import otherwise leaves the planner with the statistics
// of a much smaller table until autovacuum's next round, and its plans for searches can then be
// slower by orders of magnitude.
func (s *Store) analyzeGrown(ctx context.Context) error {
	s.grown.mu.Lock()
	var names []string
	for t, n := range s.grown.rows {
		if n > 50 {
			names = append(names, t)
		}
	}
	s.grown.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `SELECT relname, reltuples FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND relname = ANY($1)`, names)
	if err != nil {
		return fmt.Errorf("table statistics: %w", err)
	}
	var name string
	var tuples float64
	size := map[string]float64{}
	if _, err := pgx.ForEachRow(rows, []any{&name, &tuples}, func() error {
		size[name] = max(tuples, 0)
		return nil
	}); err != nil {
		return fmt.Errorf("table statistics: %w", err)
	}
	for _, t := range names {
		s.grown.mu.Lock()
		n := s.grown.rows[t]
		s.grown.mu.Unlock()
		if float64(n) <= 50+0.1*size[t] {
			continue
		}
		if t == "resources" {
			// Move the GIN indexes' pending entries into their trees: a search scans the whole
			// pending list, and the planner prices it so.
			if _, err := s.pool.Exec(ctx, "SELECT gin_clean_pending_list('resources_tok'::regclass), gin_clean_pending_list('resources_ref'::regclass)"); err != nil {
				return fmt.Errorf("clean GIN pending lists: %w", err)
			}
		}
		if _, err := s.pool.Exec(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
		s.grown.mu.Lock()
		s.grown.rows[t] -= n
		s.grown.mu.Unlock()
	}
	return nil
}
