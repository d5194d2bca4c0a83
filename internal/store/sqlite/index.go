package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/fhirlake/fhirlake/internal/store"
)

// rowTables lists the tables of the kinds indexed one row per entry, in store.IndexKind order
// from IndexString; token and reference entries are posting lists (postings.go).
var rowTables = [...]string{"idx_string", "", "", "idx_date", "idx_number", "idx_number", "idx_uri"}

// tableOf returns the row table of a kind indexed one row per entry.
func tableOf(k store.IndexKind) (string, bool) {
	if k < store.IndexString || int(k) > len(rowTables) || rowTables[k-1] == "" {
		return "", false
	}
	return rowTables[k-1], true
}

// paramCache maps (type, code) to the search_params key. It only ever holds keys that were read
// back committed, so a rolled-back transaction cannot leave a key behind that no row has.
type paramCache struct {
	mu    sync.RWMutex
	m     map[string]int64
	spans map[int64]int64 // param key -> max_span known to be stored (never above the stored value)
}

// span returns the max_span of a parameter as far as this process has seen it.
func (c *paramCache) span(param int64) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.spans[param]
}

func (c *paramCache) putSpan(param, span int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spans == nil {
		c.spans = map[int64]int64{}
	}
	if span > c.spans[param] {
		c.spans[param] = span
	}
}

func paramKey(typ, code string) string { return typ + "\x00" + code }

func (c *paramCache) get(k string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *paramCache) put(k string, v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[k] = v
}

// batchRows is the number of rows of one multi-row index INSERT.
const batchRows = 32

// rowBuffer collects the rows of one index table and inserts them batchRows at a time.
type rowBuffer struct {
	cols      int
	args      []any
	one, many *sql.Stmt // single-row and batchRows-row INSERTs
}

func (rb *rowBuffer) add(ctx context.Context, vals ...any) error {
	rb.args = append(rb.args, vals...)
	if len(rb.args) >= rb.cols*batchRows {
		return rb.flush(ctx, false)
	}
	return nil
}

// flush inserts the full batches, and with all also the rest row by row.
func (rb *rowBuffer) flush(ctx context.Context, all bool) error {
	n := rb.cols * batchRows
	done := 0
	for len(rb.args)-done >= n {
		if _, err := rb.many.ExecContext(ctx, rb.args[done:done+n]...); err != nil {
			return err
		}
		done += n
	}
	if all {
		for ; done < len(rb.args); done += rb.cols {
			if _, err := rb.one.ExecContext(ctx, rb.args[done:done+rb.cols]...); err != nil {
				return err
			}
		}
	}
	rb.args = append(rb.args[:0], rb.args[done:]...)
	return nil
}

// indexStmts writes the index of one write transaction. Rows are buffered per table and
// inserted with multi-row statements; clear and the end of the transaction's writes flush them.
// Token and reference entries go to the posting lists, written at the end of the transaction.
type indexStmts struct {
	stmts                 stmtSet
	params                *paramCache
	local                 map[string]int64 // keys created by this transaction, not yet committed
	getParam, insertParam *sql.Stmt
	widenSpan             *sql.Stmt
	spans                 map[int64]int64 // spans raised by this transaction, cached once committed
	str, dt, num, uri     rowBuffer
	del                   [4]*sql.Stmt // one per distinct row table
	keyGet, keyPut        *sql.Stmt
	post                  postStmts
	postings              postings
	// keys holds the parameter keys of the entries last passed to encode, and ixs the token and
	// reference entries among them.
	keys []int64
	ixs  []ixEntry
	// seen caches param for this transaction without building a key string.
	seen map[string]map[string]int64
}

// insertSQL returns an INSERT of rows rows into table.
func insertSQL(table string, cols []string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT OR IGNORE INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}

func prepareIndexStmts(ctx context.Context, s *Store, tx *sql.Tx) (*indexStmts, error) {
	st := &indexStmts{params: &s.params, stmts: stmtSet{ctx: ctx, s: s, tx: tx}}
	prepareIndexSQL(&st.stmts, st)
	if st.stmts.err != nil {
		st.close()
	}
	return st, st.stmts.err
}

// prepareIndexSQL prepares the statements of st in p.
func prepareIndexSQL(p *stmtSet, st *indexStmts) {
	prep := p.prep
	st.getParam = prep("SELECT seq FROM search_params WHERE type = ? AND code = ?")
	st.insertParam = prep("INSERT INTO search_params (type, code) VALUES (?, ?)")
	st.widenSpan = prep("UPDATE search_params SET max_span = ?1 WHERE seq = ?2 AND max_span < ?1")
	buf := func(rb *rowBuffer, table string, cols ...string) {
		rb.cols = len(cols)
		rb.one = prep(insertSQL(table, cols, 1))
		rb.many = prep(insertSQL(table, cols, batchRows))
	}
	buf(&st.str, "idx_string", "ds", "param", "value", "exact", "rpk")
	buf(&st.dt, "idx_date", "ds", "param", "lo", "hi", "rpk")
	buf(&st.num, "idx_number", "ds", "param", "lo", "hi", "system", "code", "rpk")
	buf(&st.uri, "idx_uri", "ds", "param", "value", "rpk")
	for i, t := range []string{"idx_string", "idx_date", "idx_number", "idx_uri"} {
		st.del[i] = prep("DELETE FROM " + t + " WHERE rpk = ?")
	}
	st.post = preparePostStmts(prep)
	st.keyGet = prep("SELECT type, id, version FROM idempotency_keys WHERE ds = ? AND key = ?")
	st.keyPut = prep("INSERT INTO idempotency_keys (ds, key, type, id, version) VALUES (?,?,?,?,?)")
}

func (st *indexStmts) close() { st.stmts.close() }

// param returns the key of (typ, code), creating it when new.
func (st *indexStmts) param(ctx context.Context, typ, code string) (int64, error) {
	if v, ok := st.seen[typ][code]; ok {
		return v, nil
	}
	v, err := st.lookupParam(ctx, typ, code)
	if err == nil {
		if st.seen == nil {
			st.seen = map[string]map[string]int64{}
		}
		if st.seen[typ] == nil {
			st.seen[typ] = map[string]int64{}
		}
		st.seen[typ][code] = v
	}
	return v, err
}

func (st *indexStmts) lookupParam(ctx context.Context, typ, code string) (int64, error) {
	k := paramKey(typ, code)
	if v, ok := st.local[k]; ok {
		return v, nil
	}
	if v, ok := st.params.get(k); ok {
		return v, nil
	}
	var seq int64
	err := st.getParam.QueryRowContext(ctx, typ, code).Scan(&seq)
	if err == nil {
		st.params.put(k, seq)
		return seq, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := st.insertParam.ExecContext(ctx, typ, code)
	if err != nil {
		return 0, err
	}
	if seq, err = res.LastInsertId(); err != nil {
		return 0, err
	}
	if st.local == nil {
		st.local = map[string]int64{}
	}
	st.local[k] = seq
	return seq, nil
}

func (st *indexStmts) buffers() []*rowBuffer {
	return []*rowBuffer{&st.str, &st.dt, &st.num, &st.uri}
}

// flushRows inserts every buffered row.
func (st *indexStmts) flushRows(ctx context.Context) error {
	for _, rb := range st.buffers() {
		if err := rb.flush(ctx, true); err != nil {
			return fmt.Errorf("index: %w", err)
		}
	}
	return nil
}

// flush writes everything the transaction's writes left buffered: rows and postings.
func (st *indexStmts) flush(ctx context.Context) error {
	if err := st.flushRows(ctx); err != nil {
		return err
	}
	return st.postings.flush(ctx, &st.post)
}

// clear drops every index row of a resource (buffered rows are written first, so that a
// resource written twice in one transaction keeps only the rows of its last version). Its
// postings are changed by the caller, from the resource's ix.
func (st *indexStmts) clear(ctx context.Context, rpk int64) error {
	if err := st.flushRows(ctx); err != nil {
		return err
	}
	for _, s := range st.del {
		if _, err := s.ExecContext(ctx, rpk); err != nil {
			return err
		}
	}
	return nil
}

// encode resolves the parameter keys of a version's entries (kept in st.keys for insert) and
// returns the encoded ix of its token and reference entries (nil when it has none).
func (st *indexStmts) encode(ctx context.Context, typ string, entries []store.IndexEntry) ([]byte, error) {
	st.keys, st.ixs = st.keys[:0], st.ixs[:0]
	lastCode, lastParam := "", int64(0)
	for i := range entries {
		e := &entries[i]
		p := lastParam
		if e.Param != lastCode || p == 0 {
			var err error
			if p, err = st.param(ctx, typ, e.Param); err != nil {
				return nil, fmt.Errorf("search parameter %s: %w", e.Param, err)
			}
			lastCode, lastParam = e.Param, p
		}
		st.keys = append(st.keys, p)
		switch e.Kind {
		case store.IndexToken:
			st.ixs = append(st.ixs, ixEntry{param: p, a: e.Code, b: e.System, c: e.Value})
		case store.IndexReference:
			st.ixs = append(st.ixs, ixEntry{ref: true, param: p, a: e.RefID, b: e.RefType})
		}
	}
	return encodeIx(st.ixs), nil
}

// insert writes the index rows of a resource version whose entries encode resolved last; its
// token and reference entries are posted by the caller from the encoded ix.
func (st *indexStmts) insert(ctx context.Context, ds, rpk int64, typ string, entries []store.IndexEntry) error {
	for i := range entries {
		e := &entries[i]
		p := st.keys[i]
		var err error
		switch e.Kind {
		case store.IndexString:
			err = st.str.add(ctx, ds, p, e.Value, e.Exact, rpk)
		case store.IndexToken, store.IndexReference:
		case store.IndexDate:
			if err = st.widen(ctx, p, e.Low, e.High); err == nil {
				err = st.dt.add(ctx, ds, p, e.Low, e.High, rpk)
			}
		case store.IndexNumber:
			err = st.num.add(ctx, ds, p, e.NumLow, e.NumHigh, "", "", rpk)
		case store.IndexQuantity:
			err = st.num.add(ctx, ds, p, e.NumLow, e.NumHigh, e.System, e.Code, rpk)
		case store.IndexURI:
			err = st.uri.add(ctx, ds, p, e.Value, rpk)
		default:
			err = fmt.Errorf("unknown index kind %d", e.Kind)
		}
		if err != nil {
			return fmt.Errorf("index %s/%s: %w", typ, e.Param, err)
		}
	}
	return nil
}

// widen raises the stored max_span of a date parameter when [lo, hi] is wider than any before.
func (st *indexStmts) widen(ctx context.Context, param, lo, hi int64) error {
	span := int64(math.MaxInt64)
	if lo != math.MinInt64 && hi != math.MaxInt64 {
		span = hi - lo
	}
	if span <= st.params.span(param) || span <= st.spans[param] {
		return nil
	}
	if _, err := st.widenSpan.ExecContext(ctx, span, param); err != nil {
		return fmt.Errorf("date span: %w", err)
	}
	if st.spans == nil {
		st.spans = map[int64]int64{}
	}
	st.spans[param] = span
	return nil
}

// committed moves what the transaction learnt into the shared cache; call it after commit.
func (st *indexStmts) committed() {
	for p, v := range st.spans {
		st.params.putSpan(p, v)
	}
}

// replay returns the write result of a known idempotency key, or ok=false.
func (st *indexStmts) replay(ctx context.Context, ds int64, w store.ResourceWrite) (store.ResourceWriteResult, bool, error) {
	var typ, id string
	var version int64
	err := st.keyGet.QueryRowContext(ctx, ds, w.IdempotencyKey).Scan(&typ, &id, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ResourceWriteResult{}, false, nil
	}
	if err != nil {
		return store.ResourceWriteResult{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	return store.ResourceWriteResult{Replayed: true, ID: id, Version: version}, true, nil
}

func (st *indexStmts) remember(ctx context.Context, ds int64, w store.ResourceWrite, version int64) error {
	if _, err := st.keyPut.ExecContext(ctx, ds, w.IdempotencyKey, w.Type, w.ID, version); err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}
