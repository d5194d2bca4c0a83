package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// stmtSet binds the statements of one transaction (prepared once per store, see Store.stmt) and
// closes them together. After the first failure prep returns nil and err keeps that failure.
type stmtSet struct {
	ctx context.Context
	s   *Store
	tx  *sql.Tx
	err error
	all []*sql.Stmt
	// collect, when set, only records the statement texts (Store.warmStatements).
	collect *[]string
}

func (p *stmtSet) prep(q string) *sql.Stmt {
	if p.collect != nil {
		*p.collect = append(*p.collect, q)
		return nil
	}
	if p.err != nil {
		return nil
	}
	s, err := p.s.stmt(p.ctx, p.tx, q)
	if err != nil {
		p.err = err
		return nil
	}
	p.all = append(p.all, s)
	return s
}

func (p *stmtSet) close() {
	for _, s := range p.all {
		s.Close()
	}
}

// resourceStmts are the per-resource statements of a write transaction, prepared once per transaction.
type resourceStmts struct {
	stmts                        stmtSet
	get, insert, archive, update *sql.Stmt
	idx                          *indexStmts
}

func prepareResourceStmts(ctx context.Context, s *Store, tx *sql.Tx) (*resourceStmts, error) {
	st := resourceStmts{stmts: stmtSet{ctx: ctx, s: s, tx: tx}}
	st.get, st.insert, st.archive, st.update = prepareResourceSQL(&st.stmts)
	if st.stmts.err != nil {
		st.stmts.close()
	}
	return &st, st.stmts.err
}

// prepareResourceSQL prepares the resource statements in p.
func prepareResourceSQL(p *stmtSet) (get, insert, archive, update *sql.Stmt) {
	prep := p.prep
	get = prep("SELECT pk, version, deleted, ix FROM resources WHERE ds = ? AND type = ? AND id = ?")
	insert = prep("INSERT INTO resources (ds, type, id, version, updated, deleted, body, ix) VALUES (?,?,?,1,?,?,?,?) ON CONFLICT (ds, type, id) DO NOTHING")
	archive = prep(`INSERT INTO resource_history (ds, type, id, version, updated, deleted, body)
		SELECT ds, type, id, version, updated, deleted, body FROM resources WHERE pk = ?`)
	update = prep("UPDATE resources SET version = version + 1, updated = ?, deleted = ?, body = ?, ix = ? WHERE pk = ?")
	return
}

func (st *resourceStmts) close() {
	st.stmts.close()
	if st.idx != nil {
		st.idx.close()
	}
}

// write applies one resource write inside the transaction of st.
func (st *resourceStmts) write(ctx context.Context, ds int64, w store.ResourceWrite, now int64) (store.ResourceWriteResult, error) {
	res := store.ResourceWriteResult{LastUpdated: fromMS(now)}
	if w.IdempotencyKey != "" {
		if prev, ok, err := st.idx.replay(ctx, ds, w); ok || err != nil {
			return prev, err
		}
	}
	if w.Condition != nil {
		// The index changes of the call's earlier writes are still buffered: the search must
		// see them.
		if err := st.idx.flush(ctx); err != nil {
			return res, err
		}
		if err := checkCondition(ctx, st.stmts.tx, ds, w.Condition); err != nil {
			return res, err
		}
	}
	var ix []byte
	if !w.Delete {
		var err error
		if ix, err = st.idx.encode(ctx, w.Type, w.Index); err != nil {
			return res, err
		}
	}
	if !w.Delete && w.IfVersion == 0 && !w.IfNoneExist {
		// Most imported resources are new: try the insert first and look up only on conflict.
		ins, err := st.insert.ExecContext(ctx, ds, w.Type, w.ID, now, false, w.Body, ix)
		if err != nil {
			return res, fmt.Errorf("insert %s/%s: %w", w.Type, w.ID, err)
		}
		if n, _ := ins.RowsAffected(); n == 1 {
			pk, err := ins.LastInsertId()
			if err != nil {
				return res, err
			}
			res.Version, res.Created = 1, true
			return res, st.indexed(ctx, ds, pk, w, res.Version, false, nil, ix)
		}
	}
	var pk, version int64
	var deleted bool
	var oldIx []byte
	err := st.get.QueryRowContext(ctx, ds, w.Type, w.ID).Scan(&pk, &version, &deleted, &oldIx)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("look up %s/%s: %w", w.Type, w.ID, err)
	}
	if w.IfVersion > 0 && (!exists || deleted || version != w.IfVersion) {
		return res, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrVersionMismatch)
	}
	if w.IfNoneExist && exists && !deleted {
		return res, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrConflict)
	}
	var body []byte
	if !w.Delete {
		body = w.Body
	}
	if !exists {
		if w.Delete {
			return res, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrNotFound)
		}
		ins, err := st.insert.ExecContext(ctx, ds, w.Type, w.ID, now, false, body, ix)
		if err != nil {
			return res, fmt.Errorf("insert %s/%s: %w", w.Type, w.ID, err)
		}
		if pk, err = ins.LastInsertId(); err != nil {
			return res, err
		}
		res.Version, res.Created = 1, true
		return res, st.indexed(ctx, ds, pk, w, res.Version, false, nil, ix)
	}
	if w.Delete && deleted {
		// Deleting a deleted resource changes nothing.
		res.Version = version
		return res, nil
	}
	if _, err := st.archive.ExecContext(ctx, pk); err != nil {
		return res, fmt.Errorf("archive %s/%s: %w", w.Type, w.ID, err)
	}
	if _, err := st.update.ExecContext(ctx, now, w.Delete, body, ix, pk); err != nil {
		return res, fmt.Errorf("update %s/%s: %w", w.Type, w.ID, err)
	}
	res.Version, res.Created = version+1, deleted
	if deleted {
		oldIx = nil
	}
	return res, st.indexed(ctx, ds, pk, w, res.Version, !deleted, oldIx, ix)
}

// indexed replaces the index of the resource at pk with that of the version just written (none
// for a delete) and remembers its idempotency key. hadRows says whether the previous version was
// current and so may have rows; oldIx and ix are the encoded token and reference entries of the
// previous and the new version.
func (st *resourceStmts) indexed(ctx context.Context, ds, pk int64, w store.ResourceWrite, version int64, hadRows bool, oldIx, ix []byte) error {
	if hadRows {
		if err := st.idx.clear(ctx, pk); err != nil {
			return fmt.Errorf("unindex %s/%s: %w", w.Type, w.ID, err)
		}
	}
	if err := st.idx.postings.change(pk, oldIx, ix); err != nil {
		return fmt.Errorf("index %s/%s: %w", w.Type, w.ID, err)
	}
	if !w.Delete {
		if err := st.idx.insert(ctx, ds, pk, w.Type, w.Index); err != nil {
			return err
		}
	}
	if w.IdempotencyKey != "" {
		return st.idx.remember(ctx, ds, w, version)
	}
	return nil
}

// txWriter applies resource writes inside one write transaction, with the statements prepared
// once for it; finish flushes what the writes left buffered (index rows, postings).
type txWriter struct {
	st *resourceStmts
	ds int64
}

// newTxWriter checks in tx that the store takes writes (ACTIVE, or CREATING while preloaded) and
// prepares a writer for it.
func (s *Store) newTxWriter(ctx context.Context, tx *sql.Tx, datastoreID string) (*txWriter, error) {
	ds, status, err := dsState(ctx, tx, nil, datastoreID)
	if err != nil {
		return nil, err
	}
	if status != store.DatastoreActive && status != store.DatastoreCreating {
		return nil, &store.NotActiveError{ID: datastoreID, Status: status}
	}
	st, err := prepareResourceStmts(ctx, s, tx)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if st.idx, err = prepareIndexStmts(ctx, s, tx); err != nil {
		st.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	st.idx.postings.ds = ds
	return &txWriter{st: st, ds: ds}, nil
}

func (w *txWriter) write(ctx context.Context, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error) {
	return w.writeUnless(ctx, writes, now, nil)
}

// writeUnless is write that gives up with errYield before any resource for which yield (when
// not nil) returns true.
func (w *txWriter) writeUnless(ctx context.Context, writes []store.ResourceWrite, now time.Time, yield func() bool) ([]store.ResourceWriteResult, error) {
	out := make([]store.ResourceWriteResult, len(writes))
	n := ms(now)
	for i, wr := range writes {
		if yield != nil && yield() {
			return nil, errYield
		}
		var err error
		if out[i], err = w.st.write(ctx, w.ds, wr, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// finish writes what is buffered. The returned function must be called once the transaction has
// committed: it publishes what the transaction taught the shared caches.
func (w *txWriter) finish(ctx context.Context) (func(), error) {
	return w.st.idx.committed, w.st.idx.flush(ctx)
}

func (w *txWriter) close() { w.st.close() }

// ResourceWrite implements store.Store.
func (s *Store) ResourceWrite(ctx context.Context, datastoreID string, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error) {
	var out []store.ResourceWriteResult
	published := func() {}
	if len(writes) == 0 {
		return nil, nil
	}
	s.gate.noteREST()
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		w, err := s.newTxWriter(ctx, tx, datastoreID)
		if err != nil {
			return err
		}
		defer w.close()
		if out, err = w.write(ctx, writes, now); err != nil {
			return err
		}
		published, err = w.finish(ctx)
		return err
	})
	if err == nil {
		published()
	}
	return out, err
}

// errYield ends an import transaction that gives the writer up to an interactive writer.
var errYield = errors.New("import transaction yields to an interactive writer")

// ImportCommit implements store.Store. Steps are applied in one transaction until a REST write
// waits for the writer; then the transaction commits the steps applied so far and the rest follow
// in a new one. While REST writes keep coming (one asked for the writer within the last second)
// every step is its own transaction, so that a REST write waits for at most one small step, not
// for the index flush and commit of many: the import is slower while it shares the writer, and
// batches its posting-list work again once the REST writes stop. A transaction whose first step
// is still writing its resources when an interactive writer arrives rolls back and lets it in
// (the writer's work on that step is lost, a fraction of a millisecond); the step is then
// applied again, and that second time runs to its end, so that the import always progresses.
func (s *Store) ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	steps := append([]store.ImportStep{{Writes: p.Writes, Reports: p.Reports, DeleteReports: p.DeleteReports,
		Progress: p.Progress, Checkpoint: p.Checkpoint}}, p.Steps...)
	var out []store.ResourceWriteResult
	yielded := false // the transaction of steps[0] yielded once
	for len(steps) > 0 {
		var results []store.ResourceWriteResult
		applied := 0
		published := func() {}
		err := s.writeTx(ctx, bulk, func(ctx context.Context, tx *sql.Tx) error {
			results, applied = nil, 0
			if err := checkLease(ctx, tx, p.JobID, p.LeaseToken); err != nil {
				return err
			}
			var w *txWriter
			defer func() {
				if w != nil {
					w.close()
				}
			}()
			// Report chunks of the applied steps, by name in order of first appearance.
			var names []string
			chunks := map[string][]byte{}
			var progress, checkpoint []byte
			for _, st := range steps {
				var res []store.ResourceWriteResult
				if len(st.Writes) > 0 {
					var err error
					if w == nil {
						if w, err = s.newTxWriter(ctx, tx, p.DatastoreID); err != nil {
							return err
						}
					}
					var yield func() bool
					if applied == 0 && !yielded {
						yield = s.gate.interactiveWaiting
					}
					if res, err = w.writeUnless(ctx, st.Writes, p.Now, yield); err != nil {
						return err
					}
				}
				for _, name := range st.DeleteReports {
					delete(chunks, name)
					if _, err := tx.ExecContext(ctx, "DELETE FROM report_chunks WHERE job_id = ? AND name = ?", p.JobID, name); err != nil {
						return fmt.Errorf("drop report: %w", err)
					}
				}
				if st.Reports != nil {
					for _, r := range st.Reports(res) {
						if len(r.Data) == 0 {
							continue
						}
						if _, ok := chunks[r.Name]; !ok {
							names = append(names, r.Name)
						}
						chunks[r.Name] = append(chunks[r.Name], r.Data...)
					}
				}
				if len(st.Progress) > 0 {
					progress = st.Progress
				}
				if len(st.Checkpoint) > 0 {
					checkpoint = st.Checkpoint
				}
				results = append(results, res...)
				applied++
				if waiting, recent := s.gate.urgentWaiting(); waiting || recent {
					break
				}
			}
			if w != nil {
				var err error
				if published, err = w.finish(ctx); err != nil {
					return err
				}
			}
			for _, name := range names {
				if data := chunks[name]; len(data) > 0 {
					if _, err := tx.ExecContext(ctx, "INSERT INTO report_chunks (job_id, name, data) VALUES (?,?,?)", p.JobID, name, data); err != nil {
						return fmt.Errorf("stage report: %w", err)
					}
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET progress = COALESCE(?, progress), checkpoint = COALESCE(?, checkpoint),
				lease_expires = ? WHERE id = ?`, nilIfEmpty(progress), nilIfEmpty(checkpoint), ms(p.LeaseExpires), p.JobID)
			return err
		})
		if errors.Is(err, errYield) {
			yielded = true
			continue
		}
		if err != nil {
			return out, err
		}
		published()
		out = append(out, results...)
		steps = steps[applied:]
		yielded = false
	}
	return out, nil
}

// ReportRead implements store.Store.
func (s *Store) ReportRead(ctx context.Context, jobID, name string, fn func([]byte) error) error {
	last := int64(-1)
	for {
		// Read in pages so a huge report never holds a read transaction for long.
		rows, err := s.r.QueryContext(ctx, "SELECT seq, data FROM report_chunks WHERE job_id = ? AND name = ? AND seq > ? ORDER BY seq LIMIT 64",
			jobID, name, last)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var data []byte
			if err := rows.Scan(&last, &data); err != nil {
				rows.Close()
				return err
			}
			n++
			if err := fn(data); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// ReportNames implements store.Store.
func (s *Store) ReportNames(ctx context.Context, jobID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT DISTINCT name FROM report_chunks WHERE job_id = ? ORDER BY name", jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func scanResource(sc interface{ Scan(...any) error }) (store.Resource, error) {
	var r store.Resource
	var updated int64
	err := sc.Scan(&r.Type, &r.ID, &r.Version, &updated, &r.Deleted, &r.Body)
	r.LastUpdated = fromMS(updated)
	return r, err
}

// ResourceGet implements store.Store.
func (s *Store) ResourceGet(ctx context.Context, datastoreID, typ, id string) (store.Resource, error) {
	row := s.r.QueryRowContext(ctx, `SELECT type, id, version, updated, deleted, body FROM resources
		WHERE ds = (SELECT seq FROM datastores WHERE id = ?) AND type = ? AND id = ?`, datastoreID, typ, id)
	r, err := scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%s/%s: %w", typ, id, store.ErrNotFound)
	}
	return r, err
}

// ResourceVersion implements store.Store.
func (s *Store) ResourceVersion(ctx context.Context, datastoreID, typ, id string, version int64) (store.Resource, error) {
	r, err := s.ResourceGet(ctx, datastoreID, typ, id)
	if err != nil || r.Version == version {
		return r, err
	}
	row := s.r.QueryRowContext(ctx, `SELECT type, id, version, updated, deleted, body FROM resource_history
		WHERE ds = (SELECT seq FROM datastores WHERE id = ?) AND type = ? AND id = ? AND version = ?`, datastoreID, typ, id, version)
	r, err = scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%s/%s/_history/%d: %w", typ, id, version, store.ErrNotFound)
	}
	return r, err
}

// ResourceHistory implements store.Store.
func (s *Store) ResourceHistory(ctx context.Context, datastoreID, typ, id string) ([]store.Resource, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT type, id, version, updated, deleted, body FROM (
		SELECT type, id, version, updated, deleted, body FROM resources
			WHERE ds = (SELECT seq FROM datastores WHERE id = ?1) AND type = ?2 AND id = ?3
		UNION ALL
		SELECT type, id, version, updated, deleted, body FROM resource_history
			WHERE ds = (SELECT seq FROM datastores WHERE id = ?1) AND type = ?2 AND id = ?3)
		ORDER BY version DESC`, datastoreID, typ, id)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, scanResource)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s/%s: %w", typ, id, store.ErrNotFound)
	}
	return out, nil
}

// ResourceCount implements store.Store.
func (s *Store) ResourceCount(ctx context.Context, datastoreID string) (map[string]int64, error) {
	ds, err := dsSeq(ctx, s.r, datastoreID)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT type, count(*) FROM resources WHERE ds = ? AND deleted = 0 GROUP BY type", ds)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// ResourceScan implements store.Store. It pages by id so no read transaction stays open for long.
func (s *Store) ResourceScan(ctx context.Context, datastoreID, typ, afterID string, fn func(store.Resource) error) error {
	ds, err := dsSeq(ctx, s.r, datastoreID)
	if err != nil {
		return err
	}
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT type, id, version, updated, deleted, body FROM resources
			WHERE ds = ? AND type = ? AND id > ? AND deleted = 0 ORDER BY id LIMIT 500`, ds, typ, afterID)
		if err != nil {
			return err
		}
		var page []store.Resource
		for rows.Next() {
			r, err := scanResource(rows)
			if err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		afterID = page[len(page)-1].ID
	}
}
