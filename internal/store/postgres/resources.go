package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/store"
)

// paramCache maps (type, code) to the search_params key, and each key to the max_span known to be
// committed (never above the stored value). Keys are created in their own committed statements
// before the write transaction that uses them, so a rolled-back write never leaves the cache
// naming a key that does not exist.
type paramCache struct {
	mu    sync.RWMutex
	ids   map[string]int32
	spans map[int32]int64
}

func paramKey(typ, code string) string { return typ + "\x00" + code }

func (c *paramCache) get(k string) (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.ids[k]
	return v, ok
}

func (c *paramCache) span(p int32) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.spans[p]
}

func (c *paramCache) put(k string, v int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = map[string]int32{}
	}
	c.ids[k] = v
}

func (c *paramCache) putSpan(p int32, span int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spans == nil {
		c.spans = map[int32]int64{}
	}
	if span > c.spans[p] {
		c.spans[p] = span
	}
}

// paramIDs returns the keys of every (type, parameter) the writes index, creating missing ones,
// and raises the stored max_span of date parameters the writes widen. Both are committed at once,
// outside the write transaction: an unused key or a too-wide span is harmless, a missing one not.
func (s *Store) paramIDs(ctx context.Context, writes []store.ResourceWrite) (map[string]int32, error) {
	out := map[string]int32{}
	var missT, missC []string
	spans := map[string]int64{}
	for i := range writes {
		w := &writes[i]
		if w.Delete {
			continue
		}
		for j := range w.Index {
			e := &w.Index[j]
			k := paramKey(w.Type, e.Param)
			if _, ok := out[k]; !ok {
				id, ok := s.params.get(k)
				out[k] = id
				if !ok {
					missT, missC = append(missT, w.Type), append(missC, e.Param)
				}
			}
			if e.Kind == store.IndexDate {
				span := int64(math.MaxInt64)
				if e.Low != math.MinInt64 && e.High != math.MaxInt64 {
					span = e.High - e.Low
				}
				if span > spans[k] {
					spans[k] = span
				}
			}
		}
	}
	if len(missT) > 0 {
		if _, err := s.pool.Exec(ctx, `INSERT INTO search_params (type, code) SELECT * FROM unnest($1::text[], $2::text[])
			ORDER BY 1, 2 ON CONFLICT (type, code) DO NOTHING`, missT, missC); err != nil {
			return nil, fmt.Errorf("search parameters: %w", err)
		}
		rows, err := s.pool.Query(ctx, `SELECT p.seq, p.type, p.code, p.max_span FROM search_params p
			JOIN unnest($1::text[], $2::text[]) AS k(type, code) ON p.type = k.type AND p.code = k.code`, missT, missC)
		if err != nil {
			return nil, fmt.Errorf("search parameters: %w", err)
		}
		var id int32
		var typ, code string
		var span int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &typ, &code, &span}, func() error {
			k := paramKey(typ, code)
			out[k] = id
			s.params.put(k, id)
			s.params.putSpan(id, span)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("search parameters: %w", err)
		}
	}
	var wideIDs []int32
	var wideSpans []int64
	for k, span := range spans {
		id := out[k]
		if id == 0 {
			return nil, fmt.Errorf("search parameter %q has no key", k)
		}
		if span > s.params.span(id) {
			wideIDs, wideSpans = append(wideIDs, id), append(wideSpans, span)
		}
	}
	if len(wideIDs) > 0 {
		if _, err := s.pool.Exec(ctx, `UPDATE search_params p SET max_span = w.span
			FROM unnest($1::integer[], $2::bigint[]) AS w(seq, span) WHERE p.seq = w.seq AND p.max_span < w.span`,
			wideIDs, wideSpans); err != nil {
			return nil, fmt.Errorf("date span: %w", err)
		}
		for i, id := range wideIDs {
			s.params.putSpan(id, wideSpans[i])
		}
	}
	return out, nil
}

// resState is the state of one resource (type, id) as the writes of a transaction move it.
type resState struct {
	typ, id string
	pk      int64 // 0 until known (a new resource gets its pk when the writes are applied)
	inDB    bool  // a row existed before the transaction
	dbLive  bool  // ... and it was not deleted (so it has index rows)
	exists  bool
	version int64
	deleted bool
	body    []byte
	changed bool
	// write is the index in the batch of the write that made the current state.
	write int
	// index is the token and reference index of the final state (nil when deleted).
	index *rowIndex
}

// writeAll applies writes inside tx at time now, after checking there that the store takes writes
// (ACTIVE, or CREATING while preloaded), and returns their results in order. It reads the
// current state of every resource it touches in one statement, decides the outcome of each write
// in memory (versions, conditions, idempotency replays), and then applies everything set-wise:
// one archive statement for replaced rows, COPY (or one multi-row INSERT) for new rows, history
// rows and index rows, and one UPDATE for changed rows. The caller holds no data store lock;
// writeAll takes it.
func (s *Store) writeAll(ctx context.Context, tx pgx.Tx, datastoreID string, writes []store.ResourceWrite, now time.Time,
	params map[string]int32) ([]store.ResourceWriteResult, error) {
	if len(writes) == 0 {
		return nil, nil
	}
	ds, err := dsSeq(ctx, tx, datastoreID)
	if err != nil {
		return nil, err
	}
	if err := s.lockDatastore(ctx, tx, ds); err != nil {
		return nil, err
	}
	// Read after the lock: DatastoreDelete takes it too, so a store being deleted is seen here.
	if _, status, err := dsState(ctx, tx, nil, datastoreID, ""); err != nil {
		return nil, err
	} else if status != store.DatastoreActive && status != store.DatastoreCreating {
		return nil, &store.NotActiveError{ID: datastoreID, Status: status}
	}
	nowMS := ms(now)
	res := make([]store.ResourceWriteResult, len(writes))

	// Idempotency keys already used.
	type keyed struct {
		typ, id string
		version int64
	}
	var keys map[string]keyed
	var keyList []string
	for i := range writes {
		if k := writes[i].IdempotencyKey; k != "" {
			keyList = append(keyList, k)
		}
	}
	if len(keyList) > 0 {
		keys = map[string]keyed{}
		rows, err := tx.Query(ctx, "SELECT key, type, id, version FROM idempotency_keys WHERE ds = $1 AND key = ANY($2)", ds, keyList)
		if err != nil {
			return nil, fmt.Errorf("idempotency keys: %w", err)
		}
		var k string
		var kv keyed
		if _, err := pgx.ForEachRow(rows, []any{&k, &kv.typ, &kv.id, &kv.version}, func() error {
			keys[k] = kv
			return nil
		}); err != nil {
			return nil, fmt.Errorf("idempotency keys: %w", err)
		}
	}

	// Current state of every resource the writes touch.
	states := make(map[string]*resState, len(writes))
	var order []*resState
	var qTypes, qIDs []string
	for i := range writes {
		k := writes[i].Type + "/" + writes[i].ID
		if _, ok := states[k]; !ok {
			st := &resState{typ: writes[i].Type, id: writes[i].ID}
			states[k] = st
			order = append(order, st)
			qTypes, qIDs = append(qTypes, st.typ), append(qIDs, st.id)
		}
	}
	rows, err := tx.Query(ctx, `SELECT r.pk, r.type, r.id, r.version, r.deleted FROM resources r
		JOIN unnest($2::text[], $3::text[]) AS k(type, id) ON r.type = k.type AND r.id = k.id WHERE r.ds = $1`,
		ds, qTypes, qIDs)
	if err != nil {
		return nil, fmt.Errorf("look up resources: %w", err)
	}
	var pk, version int64
	var typ, id string
	var deleted bool
	if _, err := pgx.ForEachRow(rows, []any{&pk, &typ, &id, &version, &deleted}, func() error {
		st := states[typ+"/"+id]
		st.pk, st.inDB, st.dbLive, st.exists, st.version, st.deleted = pk, true, !deleted, true, version, deleted
		st.write = -1
		return nil
	}); err != nil {
		return nil, fmt.Errorf("look up resources: %w", err)
	}

	// Decide every write in order.
	history := newRowSet("resource_history", "ds", "type", "id", "version", "updated", "deleted", "body")
	newKeys := newRowSet("idempotency_keys", "ds", "key", "type", "id", "version")
	for i := range writes {
		w := &writes[i]
		r := &res[i]
		r.LastUpdated = fromMS(nowMS)
		if w.IdempotencyKey != "" {
			if prev, ok := keys[w.IdempotencyKey]; ok {
				*r = store.ResourceWriteResult{Replayed: true, ID: prev.id, Version: prev.version}
				continue
			}
		}
		st := states[w.Type+"/"+w.ID]
		if w.IfVersion > 0 && (!st.exists || st.deleted || st.version != w.IfVersion) {
			return nil, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrVersionMismatch)
		}
		if w.IfNoneExist && st.exists && !st.deleted {
			return nil, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrConflict)
		}
		switch {
		case !st.exists && w.Delete:
			return nil, fmt.Errorf("%s/%s: %w", w.Type, w.ID, store.ErrNotFound)
		case !st.exists:
			st.exists, st.version, st.deleted, st.body = true, 1, false, w.Body
			r.Version, r.Created = 1, true
		case w.Delete && st.deleted:
			// Deleting a deleted resource changes nothing.
			r.Version = st.version
			continue
		default:
			if st.changed {
				// The version this transaction wrote before becomes history at once.
				history.row().i8(ds).text(st.typ).text(st.id).i8(st.version).i8(nowMS).boolean(st.deleted).bytea(st.body)
			}
			r.Created = st.deleted
			st.version++
			st.deleted = w.Delete
			st.body = nil
			if !w.Delete {
				st.body = w.Body
			}
			r.Version = st.version
		}
		st.changed, st.write = true, i
		if w.IdempotencyKey != "" {
			if keys == nil {
				keys = map[string]keyed{}
			}
			keys[w.IdempotencyKey] = keyed{w.Type, w.ID, st.version}
			newKeys.row().i8(ds).text(w.IdempotencyKey).text(w.Type).text(w.ID).i8(st.version)
		}
	}

	// Apply.
	var archive, unindex []int64
	var fresh, changed []*resState
	for _, st := range order {
		switch {
		case !st.changed:
		case !st.inDB:
			fresh = append(fresh, st)
		default:
			changed = append(changed, st)
			archive = append(archive, st.pk)
			if st.dbLive {
				unindex = append(unindex, st.pk)
			}
		}
	}
	if len(fresh) > 0 {
		rows, err := tx.Query(ctx, "SELECT nextval(pg_get_serial_sequence('resources', 'pk')) FROM generate_series(1, $1)", len(fresh))
		if err != nil {
			return nil, fmt.Errorf("allocate keys: %w", err)
		}
		pks, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(pks) != len(fresh) {
			return nil, fmt.Errorf("allocate keys: %d of %d, %v", len(pks), len(fresh), err)
		}
		for i, st := range fresh {
			st.pk = pks[i]
		}
	}
	entries := 0
	for i := range writes {
		entries += len(writes[i].Index)
	}
	idx := newIndexRows(entries)
	for _, st := range order {
		if st.changed && !st.deleted {
			var err error
			if st.index, err = idx.add(ds, st.pk, st.typ, writes[st.write].Index, params); err != nil {
				return nil, err
			}
		}
	}
	// Archive and unindex the replaced versions first: what follows may go in through COPY at once.
	var batch pgx.Batch
	if len(archive) > 0 {
		batch.Queue(`INSERT INTO resource_history (ds, type, id, version, updated, deleted, body)
			SELECT ds, type, id, version, updated, deleted, body FROM resources WHERE pk = ANY($1)`, archive)
	}
	if len(unindex) > 0 {
		for _, t := range indexTables {
			batch.Queue("DELETE FROM "+t+" WHERE rpk = ANY($1)", unindex)
		}
	}
	if err := sendBatch(ctx, tx, &batch); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	batch = pgx.Batch{}
	if len(changed) >= copyMin {
		// Many updates: COPY the new versions into the connection's staging table (ON COMMIT
		// DELETE ROWS) and apply them with one UPDATE.
		stage := newRowSet(stageTable, append([]string{"pk", "version", "deleted", "body"}, indexColumns...)...)
		for _, st := range changed {
			stage.row().i8(st.pk).i8(st.version).boolean(st.deleted).bytea(st.body)
			st.index.put(stage)
		}
		if err := stage.copy(ctx, tx); err != nil {
			return nil, fmt.Errorf("stage updates: %w", err)
		}
		set := "version = u.version, updated = $1, deleted = u.deleted, body = u.body"
		for _, c := range indexColumns {
			set += ", " + c + " = u." + c
		}
		// The pk list lets the planner find the rows through the pk index: the staging table has no
		// statistics, and a hash join would read all of resources.
		pks := make([]int64, len(changed))
		for i, st := range changed {
			pks[i] = st.pk
		}
		if _, err := tx.Exec(ctx, "UPDATE resources r SET "+set+" FROM "+stageTable+" u WHERE r.pk = u.pk AND r.pk = ANY($2)", nowMS, pks); err != nil {
			return nil, fmt.Errorf("update resources: %w", err)
		}
	} else {
		set := "version = $1, updated = $2, deleted = $3, body = $4"
		for i, c := range indexColumns {
			set += fmt.Sprintf(", %s = $%d", c, i+5)
		}
		q := "UPDATE resources SET " + set + fmt.Sprintf(" WHERE pk = $%d", len(indexColumns)+5)
		for _, st := range changed {
			batch.Queue(q, append(append([]any{st.version, nowMS, st.deleted, st.body}, st.index.values()...), st.pk)...)
		}
	}
	inserts := newRowSet("resources", append([]string{"pk", "ds", "type", "id", "version", "updated", "deleted", "body"}, indexColumns...)...)
	size := 0
	for _, st := range fresh {
		size += 160 + len(st.typ) + len(st.id) + len(st.body)
		if st.index != nil {
			for _, a := range [][]string{st.index.tok, st.index.tokT, st.index.ref} {
				for _, k := range a {
					size += 4 + len(k)
				}
			}
		}
	}
	inserts.grow(size)
	for _, st := range fresh {
		inserts.row().i8(st.pk).i8(ds).text(st.typ).text(st.id).i8(st.version).i8(nowMS).boolean(st.deleted).bytea(st.body)
		st.index.put(inserts)
	}
	for _, rs := range append([]*rowSet{inserts, history, newKeys}, idx.sets()...) {
		s.grown.add(rs.table, rs.rows())
		if err := rs.flush(ctx, tx, &batch); err != nil {
			return nil, err
		}
	}
	if err := sendBatch(ctx, tx, &batch); err != nil {
		return nil, fmt.Errorf("write resources: %w", err)
	}
	return res, nil
}

// writeChecked applies writes as writeAll does, checking the Condition of each write that has one
// in the transaction just before it: the writes before it are applied first, so that its search
// sees them.
func (s *Store) writeChecked(ctx context.Context, tx pgx.Tx, datastoreID string, writes []store.ResourceWrite, now time.Time,
	params map[string]int32) ([]store.ResourceWriteResult, error) {
	var out []store.ResourceWriteResult
	start := 0
	for i := range writes {
		c := writes[i].Condition
		if c == nil {
			continue
		}
		if i > start {
			res, err := s.writeAll(ctx, tx, datastoreID, writes[start:i], now, params)
			if err != nil {
				return nil, err
			}
			out = append(out, res...)
		}
		if err := s.checkCondition(ctx, tx, datastoreID, c); err != nil {
			return nil, err
		}
		start = i
	}
	res, err := s.writeAll(ctx, tx, datastoreID, writes[start:], now, params)
	if err != nil {
		return nil, err
	}
	return append(out, res...), nil
}

// checkCondition runs a write condition's search inside tx, after the data store's write lock
// (which concurrent conditional writes therefore wait for), and fails with
// store.ErrConditionChanged unless it matches exactly the resources the condition names.
func (s *Store) checkCondition(ctx context.Context, tx pgx.Tx, datastoreID string, c *store.WriteCondition) error {
	ds, err := dsSeq(ctx, tx, datastoreID)
	if err != nil {
		return err
	}
	if err := s.lockDatastore(ctx, tx, ds); err != nil {
		return err
	}
	plan := &searchPlan{s: s, ctx: ctx, ds: ds, params: map[string]int32{}}
	var b sqlBuilder
	b.w("SELECT r.id FROM resources r WHERE ")
	if err := plan.where(&b, c.Type, "r", c.Where); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, b.sql(), b.args...)
	if err != nil {
		return fmt.Errorf("write condition: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("write condition: %w", err)
	}
	want := map[string]bool{}
	for _, id := range c.Matches {
		want[id] = true
	}
	match := len(got) == len(want)
	for _, id := range got {
		match = match && want[id]
	}
	if !match {
		return fmt.Errorf("%s search matches %d resources, not the %d decided on: %w", c.Type, len(got), len(c.Matches), store.ErrConditionChanged)
	}
	return nil
}

// ResourceWrite implements store.Store.
func (s *Store) ResourceWrite(ctx context.Context, datastoreID string, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error) {
	params, err := s.paramIDs(ctx, writes)
	if err != nil {
		return nil, classify(err)
	}
	var out []store.ResourceWriteResult
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.writeChecked(ctx, tx, datastoreID, writes, now, params)
		return err
	})
	return out, err
}

// ImportCommit implements store.Store. All steps of a call commit together: the writes of every
// step go through one writeAll (applied in order, as if one after the other), then each step's
// report deletions and report chunks in step order, and the last step's progress and checkpoint.
func (s *Store) ImportCommit(ctx context.Context, p store.ImportCommitParams) ([]store.ResourceWriteResult, error) {
	steps := append([]store.ImportStep{{Writes: p.Writes, Reports: p.Reports, DeleteReports: p.DeleteReports,
		Progress: p.Progress, Checkpoint: p.Checkpoint}}, p.Steps...)
	writes := p.Writes
	if len(p.Steps) > 0 {
		writes = nil
		for _, st := range steps {
			writes = append(writes, st.Writes...)
		}
	}
	params, err := s.paramIDs(ctx, writes)
	if err != nil {
		return nil, classify(err)
	}
	var out []store.ResourceWriteResult
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, p.JobID, p.LeaseToken); err != nil {
			return err
		}
		var err error
		if out, err = s.writeChecked(ctx, tx, p.DatastoreID, writes, p.Now, params); err != nil {
			return err
		}
		var b pgx.Batch
		var progress, checkpoint []byte
		done := 0
		for _, st := range steps {
			res := out[done : done+len(st.Writes)]
			done += len(st.Writes)
			if len(st.DeleteReports) > 0 {
				b.Queue("DELETE FROM report_chunks WHERE job_id = $1 AND name = ANY($2)", p.JobID, st.DeleteReports)
			}
			var names []string
			var datas [][]byte
			if st.Reports != nil {
				for _, r := range st.Reports(res) {
					if len(r.Data) > 0 {
						names, datas = append(names, r.Name), append(datas, r.Data)
					}
				}
			}
			if len(names) > 0 {
				// One INSERT keeps the chunks in order (seq follows the ordinality).
				b.Queue(`INSERT INTO report_chunks (job_id, name, data)
					SELECT $1, n, d FROM unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS c(n, d, o) ORDER BY o`, p.JobID, names, datas)
			}
			if len(st.Progress) > 0 {
				progress = st.Progress
			}
			if len(st.Checkpoint) > 0 {
				checkpoint = st.Checkpoint
			}
		}
		b.Queue(`UPDATE jobs SET progress = COALESCE($1, progress), checkpoint = COALESCE($2, checkpoint),
			lease_expires = `+dbTime("$3")+` WHERE id = $4`, progress, checkpoint, offset(p.LeaseExpires), p.JobID)
		return sendBatch(ctx, tx, &b)
	})
	return out, err
}

// ReportRead implements store.Store.
func (s *Store) ReportRead(ctx context.Context, jobID, name string, fn func([]byte) error) error {
	last := int64(-1)
	for {
		// Pages keep memory bounded for huge reports.
		rows, err := s.pool.Query(ctx, "SELECT seq, data FROM report_chunks WHERE job_id = $1 AND name = $2 AND seq > $3 ORDER BY seq LIMIT 64",
			jobID, name, last)
		if err != nil {
			return err
		}
		type chunk struct {
			seq  int64
			data []byte
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunk, error) {
			var c chunk
			return c, r.Scan(&c.seq, &c.data)
		})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, c := range page {
			if err := fn(c.data); err != nil {
				return err
			}
		}
		last = page[len(page)-1].seq
	}
}

// ReportNames implements store.Store.
func (s *Store) ReportNames(ctx context.Context, jobID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT DISTINCT name FROM report_chunks WHERE job_id = $1 ORDER BY name", jobID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

const resourceCols = "type, id, version, updated, deleted, body"

func scanResource(row pgx.Row) (store.Resource, error) {
	var r store.Resource
	var updated int64
	err := row.Scan(&r.Type, &r.ID, &r.Version, &updated, &r.Deleted, &r.Body)
	r.LastUpdated = fromMS(updated)
	return r, err
}

func collectResources(rows pgx.Rows, err error) ([]store.Resource, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Resource, error) { return scanResource(r) })
}

// ResourceGet implements store.Store.
func (s *Store) ResourceGet(ctx context.Context, datastoreID, typ, id string) (store.Resource, error) {
	r, err := scanResource(s.pool.QueryRow(ctx, "SELECT "+resourceCols+` FROM resources
		WHERE ds = (SELECT seq FROM datastores WHERE id = $1) AND type = $2 AND id = $3`, datastoreID, typ, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	r, err = scanResource(s.pool.QueryRow(ctx, "SELECT "+resourceCols+` FROM resource_history
		WHERE ds = (SELECT seq FROM datastores WHERE id = $1) AND type = $2 AND id = $3 AND version = $4`, datastoreID, typ, id, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%s/%s/_history/%d: %w", typ, id, version, store.ErrNotFound)
	}
	return r, err
}

// ResourceHistory implements store.Store.
func (s *Store) ResourceHistory(ctx context.Context, datastoreID, typ, id string) ([]store.Resource, error) {
	out, err := collectResources(s.pool.Query(ctx, `WITH d AS (SELECT seq FROM datastores WHERE id = $1)
		SELECT `+resourceCols+` FROM resources WHERE ds = (SELECT seq FROM d) AND type = $2 AND id = $3
		UNION ALL
		SELECT `+resourceCols+` FROM resource_history WHERE ds = (SELECT seq FROM d) AND type = $2 AND id = $3
		ORDER BY version DESC`, datastoreID, typ, id))
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
	ds, err := dsSeq(ctx, s.pool, datastoreID)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT type, count(*) FROM resources WHERE ds = $1 AND NOT deleted GROUP BY type", ds)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var t string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&t, &n}, func() error {
		out[t] = n
		return nil
	})
	return out, err
}

// ResourceScan implements store.Store. It pages by id so that fn never runs while a query holds a
// connection.
func (s *Store) ResourceScan(ctx context.Context, datastoreID, typ, afterID string, fn func(store.Resource) error) error {
	ds, err := dsSeq(ctx, s.pool, datastoreID)
	if err != nil {
		return err
	}
	for {
		page, err := collectResources(s.pool.Query(ctx, "SELECT "+resourceCols+` FROM resources
			WHERE ds = $1 AND type = $2 AND id > $3 AND NOT deleted ORDER BY id LIMIT 500`, ds, typ, afterID))
		if err != nil {
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
