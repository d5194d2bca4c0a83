package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlcond"
)

// maxIncluded caps the resources that _include and _revinclude add to one page.
const maxIncluded = 1000

// Desc sort keys of missing values use this sentinel, below every number and text in SQLite's
// ordering; asc keys use x” (a blob, above every number and text), so resources without a value
// come last either way and keyset comparisons never meet a NULL.
const descMissing = -1e300

// sqlBuilder accumulates SQL text and its arguments.
type sqlBuilder struct {
	b    strings.Builder
	args []any
}

func (q *sqlBuilder) w(s string, args ...any) {
	q.b.WriteString(s)
	q.args = append(q.args, args...)
}

// paramExpr is the scalar subquery of a parameter key.
const paramExpr = "(SELECT seq FROM search_params WHERE type = ? AND code = ?)"

// ResourceSearch implements store.Store.
func (s *Store) ResourceSearch(ctx context.Context, q store.SearchQuery) (store.SearchResult, error) {
	var res store.SearchResult
	ds, err := dsSeq(ctx, s.r, q.DatastoreID)
	if err != nil {
		return res, err
	}
	var b sqlBuilder
	if q.CountOnly {
		b.w("SELECT count(*) FROM resources r WHERE ")
		if err := where(&b, ds, q.Type, "r", q.Where, nil); err != nil {
			return res, err
		}
		err := s.r.QueryRowContext(ctx, b.b.String(), b.args...).Scan(&res.Total)
		return res, err
	}
	if q.Count <= 0 {
		return res, fmt.Errorf("search page size %d: %w", q.Count, store.ErrBadQuery)
	}
	keys := make([]string, len(q.Sort))
	for i, so := range q.Sort {
		if keys[i], err = sortKey(&b, so, q.Type); err != nil {
			return res, err
		}
	}
	var c *cursor
	if q.Cursor != nil {
		c = &cursor{}
		if err := json.Unmarshal(q.Cursor, c); err != nil || len(c.Keys) != len(keys) {
			return res, fmt.Errorf("search cursor: %w", store.ErrBadQuery)
		}
	}
	// In resource key order (no _sort), a page driven by a posting list needs only the first keys
	// of that list: the query reads a window of chunks from the cursor on, and a wider one only
	// when the window holds less than a page, instead of every key of a common code.
	build := func(win *chunkWindow) (sqlBuilder, error) {
		// Sort expressions carry arguments; they are written once in the select list and referred
		// to by alias (k0, k1, ...) in the keyset condition and ORDER BY.
		var sel sqlBuilder
		sel.w("SELECT r.pk, r.type, r.id, r.version, r.updated, r.deleted, r.body")
		sel.args = append(sel.args, b.args...)
		for i, k := range keys {
			fmt.Fprintf(&sel.b, ", %s AS k%d", k, i)
		}
		sel.w(" FROM resources r WHERE ")
		if err := where(&sel, ds, q.Type, "r", q.Where, win); err != nil {
			return sel, err
		}
		if c != nil {
			sel.w(" AND ")
			keyset(&sel, q.Sort, *c)
		}
		sel.w(" ORDER BY ")
		for i, so := range q.Sort {
			fmt.Fprintf(&sel.b, "k%d", i)
			if so.Desc {
				sel.w(" DESC")
			}
			sel.w(", ")
		}
		sel.w("r.pk LIMIT ?", q.Count+1)
		return sel, nil
	}
	// In resource key order (no _sort), a page driven by a posting list that spans many chunks
	// needs only its first keys: the query reads a window of chunks from the cursor on, and a
	// wider one only when the window holds less than a page, instead of every key of a common
	// code.
	var win *chunkWindow
	lastChunk := int64(0)
	if len(q.Sort) == 0 {
		probe := &chunkWindow{}
		if c != nil {
			probe.lo = c.PK >> chunkShift
		}
		if _, err := build(probe); err != nil {
			return res, err
		}
		if probe.used {
			var first, last sql.NullInt64
			if err := s.r.QueryRowContext(ctx, probe.rangeSQL, probe.rangeArgs...).Scan(&first, &last); err != nil {
				return res, fmt.Errorf("search: %w", err)
			}
			if first.Valid && last.Int64-first.Int64 >= firstWindow {
				win = &chunkWindow{lo: first.Int64, hi: first.Int64 + firstWindow - 1, bounded: true}
				lastChunk = last.Int64
			}
		}
	}
	var page []pageRow
	for {
		sel, err := build(win)
		if err != nil {
			return res, err
		}
		if page, err = s.page(ctx, sel, len(keys)); err != nil {
			return res, err
		}
		if win == nil || len(page) > q.Count || win.hi >= lastChunk {
			break
		}
		win.hi = win.lo + (win.hi-win.lo+1)*4 - 1
	}
	var pks []int64
	for i, row := range page {
		if i == q.Count {
			next, err := json.Marshal(page[i-1].cursor)
			if err != nil {
				return res, err
			}
			res.Next = next
			break
		}
		res.Matches = append(res.Matches, row.r)
		pks = append(pks, row.cursor.PK)
	}
	if len(pks) > 0 && (len(q.Include) > 0 || len(q.RevInclude) > 0) {
		if res.Included, err = s.includes(ctx, ds, q, pks, res.Matches); err != nil {
			return res, err
		}
	}
	return res, nil
}

// firstWindow is the number of posting chunks (of 4,096 resource keys) a key-ordered page reads
// first; each retry reads four times as many.
const firstWindow = 16

// chunkWindow bounds the chunks a driving posting subquery reads to [lo, hi] when bounded. A
// query built with a window sets used when it has such a driver, and rangeSQL and rangeArgs to a
// query of the first and last chunk of the driver's keys at or after lo.
type chunkWindow struct {
	lo, hi    int64
	bounded   bool
	used      bool
	rangeSQL  string
	rangeArgs []any
}

// pageRow is one row of a page query with the cursor that continues after it.
type pageRow struct {
	r      store.Resource
	cursor cursor
}

// page runs a page query whose select list is the resource columns and nkeys sort keys.
func (s *Store) page(ctx context.Context, sel sqlBuilder, nkeys int) ([]pageRow, error) {
	rows, err := s.r.QueryContext(ctx, sel.b.String(), sel.args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []pageRow
	for rows.Next() {
		var row pageRow
		var updated int64
		vals := make([]any, nkeys)
		dest := []any{&row.cursor.PK, &row.r.Type, &row.r.ID, &row.r.Version, &updated, &row.r.Deleted, &row.r.Body}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row.r.LastUpdated = fromMS(updated)
		row.cursor.Keys = make([]cursorKey, nkeys)
		for i, v := range vals {
			row.cursor.Keys[i] = newCursorKey(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// cursor is the keyset position after a page: the sort values and pk of its last match.
type cursor struct {
	Keys []cursorKey `json:"k,omitempty"`
	PK   int64       `json:"p"`
}

// cursorKey keeps a sort value with its SQLite type so that the comparison of the next page is
// made in the same domain.
type cursorKey struct {
	Int   *int64   `json:"i,omitempty"`
	Float *float64 `json:"f,omitempty"`
	Text  *string  `json:"s,omitempty"`
	Blob  bool     `json:"b,omitempty"`
}

func newCursorKey(v any) cursorKey {
	switch x := v.(type) {
	case int64:
		return cursorKey{Int: &x}
	case float64:
		return cursorKey{Float: &x}
	case string:
		return cursorKey{Text: &x}
	case []byte:
		s := string(x)
		if len(x) == 0 {
			return cursorKey{Blob: true}
		}
		return cursorKey{Text: &s}
	}
	return cursorKey{Blob: true}
}

func (k cursorKey) value() any {
	switch {
	case k.Int != nil:
		return *k.Int
	case k.Float != nil:
		return *k.Float
	case k.Text != nil:
		return *k.Text
	}
	return []byte{}
}

// keyset writes the condition "row sorts after c" for the lexicographic order (k0, k1, ..., pk).
func keyset(b *sqlBuilder, sorts []store.SearchSort, c cursor) {
	b.w("(")
	for i := 0; i <= len(sorts); i++ {
		if i > 0 {
			b.w(" OR ")
		}
		b.w("(")
		for j := 0; j < i; j++ {
			fmt.Fprintf(&b.b, "k%d = ? AND ", j)
			b.args = append(b.args, c.Keys[j].value())
		}
		if i == len(sorts) {
			b.w("r.pk > ?)", c.PK)
			continue
		}
		op := ">"
		if sorts[i].Desc {
			op = "<"
		}
		fmt.Fprintf(&b.b, "k%d %s ?)", i, op)
		b.args = append(b.args, c.Keys[i].value())
	}
	b.w(")")
}

// sortKey returns the SQL expression of one sort key over alias r.
func sortKey(b *sqlBuilder, so store.SearchSort, typ string) (string, error) {
	missing := "x''"
	agg := "min"
	if so.Desc {
		missing, agg = fmt.Sprint(descMissing), "max"
	}
	switch so.Param {
	case "_id":
		return "r.id", nil
	case "_lastUpdated":
		return "r.updated", nil
	}
	col := ""
	switch so.Kind {
	case store.IndexString:
		col = "value"
	case store.IndexToken:
		b.args = append(b.args, typ, so.Param)
		return fmt.Sprintf("coalesce(ix_code(coalesce(r.ix, x''), coalesce(%s, 0), %s), %s)", paramExpr, boolSQL(so.Desc), missing), nil
	case store.IndexDate:
		col = "lo"
		if so.Desc {
			col = "hi"
		}
	case store.IndexNumber, store.IndexQuantity:
		col = "lo"
	case store.IndexURI:
		col = "value"
	default:
		return "", fmt.Errorf("sort by %s: %w", so.Param, store.ErrBadQuery)
	}
	table, _ := tableOf(so.Kind)
	b.args = append(b.args, typ, so.Param)
	return fmt.Sprintf("coalesce((SELECT %s(%s) FROM %s x WHERE x.rpk = r.pk AND x.param = %s), %s)",
		agg, col, table, paramExpr, missing), nil
}

// where writes the conditions selecting current resources of typ in ds (alias a) that satisfy
// every clause. The most selective clause drives the query: it is written as "pk IN (index
// range)", which SQLite runs first and walks in pk order; every other clause is a correlated
// EXISTS on the (rpk, param) index, checked only for the driver's candidates.
func where(b *sqlBuilder, ds int64, typ, a string, clauses [][]store.SearchPredicate, win *chunkWindow) error {
	b.w(a+".ds = ? AND "+a+".type = ? AND "+a+".deleted = 0", ds, typ)
	driver, best := -1, 0
	for i, any := range clauses {
		if r := drivingRank(any); r > best {
			driver, best = i, r
		}
	}
	if best <= 2 && dateWindow(b, ds, typ, a, clauses) {
		// The date window drives; every clause, the date ones included, is still tested exactly.
		driver = -1
	}
	for i, any := range clauses {
		if len(any) == 0 {
			continue
		}
		b.w(" AND (")
		if i == driver {
			if err := drivingSet(b, ds, typ, a, any, win); err != nil {
				return err
			}
			b.w(")")
			continue
		}
		for j, p := range any {
			if j > 0 {
				b.w(" OR ")
			}
			if err := predicate(b, ds, typ, a, p); err != nil {
				return err
			}
		}
		b.w(")")
	}
	return nil
}

// dateWindow writes, when some date parameter is bounded from both sides by the clauses (e.g.
// date=ge2020-01-01&date=lt2020-02-01), " AND pk IN (rows whose lo lies in the window)". The window
// is a necessary condition, not the exact test: hi >= L implies lo >= L - max_span, where max_span
// is the widest range ever indexed under the parameter, so the (ds, param, lo) index can serve both
// bounds. It reports whether it wrote a window.
func dateWindow(b *sqlBuilder, ds int64, typ, a string, clauses [][]store.SearchPredicate) bool {
	type bound struct {
		expr string
		args []any
	}
	lower, upper := map[string][]bound{}, map[string][]bound{}
	// lowest is the smallest lo a row matching "hi >= ?" can have; an open-ended range ever
	// indexed under the parameter (max_span = MaxInt64) leaves no lower bound.
	lowest := "(SELECT CASE WHEN max_span = 9223372036854775807 THEN -9223372036854775808 ELSE ? - max_span END FROM search_params WHERE type = ? AND code = ?)"
	for _, clause := range clauses {
		if len(clause) != 1 {
			continue
		}
		p := clause[0]
		if p.Kind != store.IndexDate || p.Not || p.Param == "_lastUpdated" || p.Op == store.OpMissing {
			continue
		}
		switch p.Op {
		case store.OpEq:
			lower[p.Param] = append(lower[p.Param], bound{"?", []any{p.Low}})
			upper[p.Param] = append(upper[p.Param], bound{"?", []any{p.High}})
		case store.OpGe:
			lower[p.Param] = append(lower[p.Param], bound{lowest, []any{p.Low, typ, p.Param}})
		case store.OpGt:
			lower[p.Param] = append(lower[p.Param], bound{lowest, []any{p.High, typ, p.Param}})
		case store.OpSa:
			lower[p.Param] = append(lower[p.Param], bound{"?", []any{p.High}})
		case store.OpLt, store.OpEb:
			upper[p.Param] = append(upper[p.Param], bound{"?", []any{p.Low}})
		case store.OpLe:
			upper[p.Param] = append(upper[p.Param], bound{"?", []any{p.High}})
		}
	}
	for _, c := range clauses {
		if len(c) != 1 {
			continue
		}
		param := c[0].Param
		if len(lower[param]) == 0 || len(upper[param]) == 0 {
			continue
		}
		b.w(" AND "+a+".pk IN (SELECT x.rpk FROM idx_date x WHERE x.ds = ? AND x.param = "+paramExpr, ds, typ, param)
		for _, l := range lower[param] {
			b.w(" AND x.lo >= "+l.expr, l.args...)
		}
		for _, u := range upper[param] {
			b.w(" AND x.lo <= "+u.expr, u.args...)
		}
		b.w(")")
		return true
	}
	return false
}

// drivingRank estimates how few rows a clause selects through its index (higher is fewer); 0
// means it cannot drive (negations, :missing, _id and _lastUpdated, mixed kinds, reverse chains
// mixed with other tests). Predicates of several parameters of one kind (a compartment's member
// parameters) drive together.
func drivingRank(any []store.SearchPredicate) int {
	rank := 0
	for i, p := range any {
		if p.Not || p.Op == store.OpMissing || p.Param == "_id" || p.Param == "_lastUpdated" || p.Kind != any[0].Kind ||
			(p.Has != nil) != (any[0].Has != nil) {
			return 0
		}
		r := 1
		switch {
		case p.Has != nil:
			r = 4
		case p.Kind == store.IndexReference, p.Kind == store.IndexURI:
			r = 6
			if p.Op == store.OpBelow || p.Op == store.OpAbove {
				r = 3
			}
		case p.Kind == store.IndexToken:
			switch {
			case p.Op == store.OpText:
				r = 0
			case p.Code != "":
				r = 5
			}
		case p.Kind == store.IndexString:
			switch p.Op {
			case store.OpExact:
				r = 4
			case store.OpPrefix:
				r = 3
			default:
				r = 0
			}
		case p.Kind == store.IndexDate:
			if p.Op == store.OpEq {
				r = 2
			}
		}
		if i == 0 || r < rank {
			rank = r
		}
	}
	return rank
}

// postedKeys is the start of a subquery over a posting table (alias x) that gives, as column
// j.value, the resource keys of the rows it selects; a WHERE on x follows.
const postedKeys = "SELECT j.value FROM %s x, json_each(pl_keys(x.chunk, x.bits)) j WHERE "

// drivingSet writes "pk IN (keys of the index entries matching any predicate of the clause)".
func drivingSet(b *sqlBuilder, ds int64, typ, a string, any []store.SearchPredicate, win *chunkWindow) error {
	if any[0].Has != nil {
		// Reverse chains: the resources of typ that the matching sources reference.
		b.w(a+".pk IN (SELECT t.pk FROM resources t WHERE t.ds = ? AND t.type = ? AND t.id IN (", ds, typ)
		for i, p := range any {
			if i > 0 {
				b.w(" UNION ")
			}
			if err := hasSources(b, ds, typ, p.Has); err != nil {
				return err
			}
		}
		b.w("))")
		return nil
	}
	for _, p := range any {
		if p.Param != any[0].Param {
			return drivingUnion(b, ds, typ, a, any)
		}
	}
	// conds is the disjunction of the clause's value tests on alias x.
	var conds sqlBuilder
	for i, p := range any {
		if i > 0 {
			conds.w(" OR ")
		}
		conds.w("(")
		if err := valueCond(&conds, ds, p); err != nil {
			return err
		}
		conds.w(")")
	}
	if table, ok := postTable(any[0].Kind); ok {
		b.w(a+".pk IN ("+fmt.Sprintf(postedKeys, table)+"x.ds = ? AND x.param = "+paramExpr+" AND ", ds, typ, any[0].Param)
		if win != nil {
			win.used = true
			win.rangeSQL = "SELECT min(x.chunk), max(x.chunk) FROM " + table + " x WHERE x.ds = ? AND x.param = " + paramExpr +
				" AND x.chunk >= ? AND (" + conds.b.String() + ")"
			win.rangeArgs = append([]interface{}{ds, typ, any[0].Param, win.lo}, conds.args...)
			if win.bounded {
				b.w("x.chunk BETWEEN ? AND ? AND ", win.lo, win.hi)
			}
		}
	} else if table, ok := tableOf(any[0].Kind); ok {
		b.w(a+".pk IN (SELECT x.rpk FROM "+table+" x WHERE x.ds = ? AND x.param = "+paramExpr+" AND ", ds, typ, any[0].Param)
	} else {
		return fmt.Errorf("search parameter %s: unknown kind: %w", any[0].Param, store.ErrBadQuery)
	}
	b.w("("+conds.b.String()+"))", conds.args...)
	return nil
}

// drivingUnion writes the driving set of a clause over several parameters of one kind (a
// compartment's member parameters) as a union of one index lookup per predicate, each on its
// (ds, param, value) key.
func drivingUnion(b *sqlBuilder, ds int64, typ, a string, any []store.SearchPredicate) error {
	b.w(a + ".pk IN (")
	for i, p := range any {
		if i > 0 {
			b.w(" UNION ALL ")
		}
		if table, ok := postTable(p.Kind); ok {
			b.w(fmt.Sprintf(postedKeys, table)+"x.ds = ? AND x.param = "+paramExpr+" AND (", ds, typ, p.Param)
		} else if table, ok := tableOf(p.Kind); ok {
			b.w("SELECT x.rpk FROM "+table+" x WHERE x.ds = ? AND x.param = "+paramExpr+" AND (", ds, typ, p.Param)
		} else {
			return fmt.Errorf("search parameter %s: unknown kind: %w", p.Param, store.ErrBadQuery)
		}
		if err := valueCond(b, ds, p); err != nil {
			return err
		}
		b.w(")")
	}
	b.w(")")
	return nil
}

// hasSources writes the ids of the resources of typ that resources of h.Type matching h.Where
// reference through h.Param: the reference entries kept on the sources' rows (ix).
func hasSources(b *sqlBuilder, ds int64, typ string, h *store.SearchHas) error {
	b.w("SELECT j.value FROM resources h, json_each(ix_ref_ids(h.ix, coalesce("+paramExpr+", 0), ?)) j WHERE ", h.Type, h.Param, typ)
	return where(b, ds, h.Type, "h", [][]store.SearchPredicate{h.Where}, nil)
}

// predicate writes one predicate over alias a as a correlated test.
func predicate(b *sqlBuilder, ds int64, typ, a string, p store.SearchPredicate) error {
	switch p.Param {
	case "_id":
		if p.Op == store.OpMissing {
			b.w(boolSQL(!p.Missing))
			return nil
		}
		not := ""
		if p.Not || p.Op == store.OpNe {
			not = "NOT "
		}
		b.w(not+a+".id = ?", p.Code)
		return nil
	case "_lastUpdated":
		if p.Op == store.OpMissing {
			b.w(boolSQL(!p.Missing))
			return nil
		}
		return sqlcond.Date(b.w, p, a+".updated", a+".updated", "?")
	}
	if _, ok := postTable(p.Kind); ok {
		return postedPredicate(b, ds, typ, a, p)
	}
	table, ok := tableOf(p.Kind)
	if !ok {
		return fmt.Errorf("search parameter %s: unknown kind: %w", p.Param, store.ErrBadQuery)
	}
	if p.Op == store.OpMissing {
		if p.Missing {
			b.w("NOT ")
		}
		b.w("EXISTS (SELECT 1 FROM "+table+" x WHERE x.rpk = "+a+".pk AND x.param = "+paramExpr+")", typ, p.Param)
		return nil
	}
	// ne on ranges is "has a value outside the range", which is a positive row test; :not on a
	// token is "has no matching value", a negated set test.
	if p.Not {
		b.w("NOT ")
	}
	b.w("EXISTS (SELECT 1 FROM "+table+" x WHERE x.rpk = "+a+".pk AND x.param = "+paramExpr+" AND ", typ, p.Param)
	if err := valueCond(b, ds, p); err != nil {
		return err
	}
	b.w(")")
	return nil
}

// postedPredicate writes one token or reference predicate over alias a as a test of the entries
// kept with the resource row (ix); a chain, whose target set is a subquery, as a posting subquery.
func postedPredicate(b *sqlBuilder, ds int64, typ, a string, p store.SearchPredicate) error {
	ix := "coalesce(" + a + ".ix, x''), coalesce(" + paramExpr + ", 0)"
	not := ""
	if p.Not || (p.Op == store.OpMissing && p.Missing) {
		not = "NOT "
	}
	if p.Has != nil {
		b.w(not + a + ".id IN (")
		if err := hasSources(b, ds, typ, p.Has); err != nil {
			return err
		}
		b.w(")")
		return nil
	}
	switch {
	case p.Op == store.OpMissing:
		b.w(not+"ix_any("+ix+")", typ, p.Param)
	case p.Kind == store.IndexReference && p.Chain != nil:
		b.w(not+a+".pk IN ("+fmt.Sprintf(postedKeys, "post_ref")+"x.ds = ? AND x.param = "+paramExpr+" AND ", ds, typ, p.Param)
		if err := valueCond(b, ds, p); err != nil {
			return err
		}
		b.w(")")
	case p.Kind == store.IndexReference:
		b.w(not+"ix_ref("+ix+", ?, ?)", typ, p.Param, p.RefID, p.RefType)
	case p.Op == store.OpText:
		b.w(not+"ix_token("+ix+", ?, '', ?)", typ, p.Param, p.Value, tokText)
	default:
		flags := 0
		if p.Code != "" {
			flags |= tokCode
		}
		if p.AnySystem {
			flags |= tokAnySystem
		}
		b.w(not+"ix_token("+ix+", ?, ?, ?)", typ, p.Param, p.Code, p.System, flags)
	}
	return nil
}

func boolSQL(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// valueCond writes the test of one index row (alias x) against the predicate's value.
func valueCond(b *sqlBuilder, ds int64, p store.SearchPredicate) error {
	switch p.Kind {
	case store.IndexString:
		switch p.Op {
		case store.OpExact:
			b.w("x.exact = ?", p.Value)
		case store.OpContains:
			b.w("x.value LIKE ? ESCAPE '\\'", "%"+sqlcond.LikeEscape(p.Value)+"%")
		case store.OpText:
			// Every word starts a word of the value.
			for i, word := range strings.Fields(p.Value) {
				if i > 0 {
					b.w(" AND ")
				}
				w := sqlcond.LikeEscape(word)
				b.w("(x.value LIKE ? ESCAPE '\\' OR x.value LIKE ? ESCAPE '\\')", w+"%", "% "+w+"%")
			}
		default:
			b.w("x.value >= ? AND x.value < ?", p.Value, p.Value+"\U0010FFFF")
		}
	case store.IndexToken:
		if p.Op == store.OpText {
			b.w("x.text >= ? AND x.text < ?", p.Value, p.Value+"\U0010FFFF")
			return nil
		}
		conds := []string{}
		var args []any
		if p.Code != "" {
			conds = append(conds, "x.code = ?")
			args = append(args, p.Code)
		}
		if !p.AnySystem {
			conds = append(conds, "x.system = ?")
			args = append(args, p.System)
		}
		if len(conds) == 0 {
			conds = append(conds, "1")
		}
		b.w(strings.Join(conds, " AND "), args...)
	case store.IndexReference:
		if p.Chain != nil {
			b.w("x.ref_type = ? AND x.ref_id IN (SELECT c.id FROM resources c WHERE ", p.Chain.Type)
			if err := where(b, ds, p.Chain.Type, "c", [][]store.SearchPredicate{p.Chain.Where}, nil); err != nil {
				return err
			}
			b.w(")")
			return nil
		}
		b.w("x.ref_id = ?", p.RefID)
		if p.RefType != "" {
			b.w(" AND x.ref_type = ?", p.RefType)
		}
	case store.IndexDate:
		return sqlcond.Date(b.w, p, "x.lo", "x.hi", "?")
	case store.IndexNumber, store.IndexQuantity:
		if err := sqlcond.Number(b.w, p, "x.lo", "x.hi", "?"); err != nil {
			return err
		}
		if p.Kind == store.IndexQuantity {
			if p.Code != "" {
				b.w(" AND x.code = ?", p.Code)
			}
			if !p.AnySystem {
				b.w(" AND x.system = ?", p.System)
			}
		}
	case store.IndexURI:
		switch p.Op {
		case store.OpBelow:
			b.w("x.value >= ? AND x.value < ?", p.Value, p.Value+"\U0010FFFF")
		case store.OpAbove:
			// The indexed value is one of the search value's prefixes.
			b.w("x.value IN (")
			for n := 1; n <= len(p.Value); n++ {
				if n > 1 {
					b.w(",")
				}
				b.w("?", p.Value[:n])
			}
			b.w(")")
		default:
			b.w("x.value = ?", p.Value)
		}
	default:
		return fmt.Errorf("search parameter %s: unknown kind: %w", p.Param, store.ErrBadQuery)
	}
	return nil
}

// included is a resource a page brings in, with its key and its encoded reference entries.
type included struct {
	pk int64
	ix []byte
	r  store.Resource
}

// includes loads the resources that _include and _revinclude add to a page, without duplicates
// and without the matches themselves: a first round from the matches, then rounds of the
// :iterate includes from what the previous round added, until a round adds nothing or the cap.
// _include follows the reference entries kept on the rows (ix); _revinclude reads the posting
// rows of the ids.
func (s *Store) includes(ctx context.Context, ds int64, q store.SearchQuery, pks []int64, matches []store.Resource) ([]store.Resource, error) {
	seen := map[string]bool{}
	for _, m := range matches {
		seen[m.Type+"/"+m.ID] = true
	}
	// The matches' entries, for the first round of _include.
	frontier := make([]included, len(matches))
	for i, m := range matches {
		frontier[i] = included{pk: pks[i], r: m}
	}
	if len(q.Include) > 0 {
		args := make([]any, len(pks))
		for i, pk := range pks {
			args[i] = pk
		}
		rows, err := s.r.QueryContext(ctx, "SELECT pk, ix FROM resources WHERE pk IN ("+marks(len(pks))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("include: %w", err)
		}
		ixOf := map[int64][]byte{}
		for rows.Next() {
			var pk int64
			var ix []byte
			if err := rows.Scan(&pk, &ix); err != nil {
				rows.Close()
				return nil, fmt.Errorf("include: %w", err)
			}
			ixOf[pk] = ix
		}
		rows.Close()
		for i := range frontier {
			frontier[i].ix = ixOf[frontier[i].pk]
		}
	}
	var out []store.Resource
	for round := 0; len(frontier) > 0 && len(out) < maxIncluded; round++ {
		var added []included
		load := func(query string, args []any) error {
			rows, err := s.r.QueryContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("include: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var in included
				var updated int64
				if err := rows.Scan(&in.pk, &in.ix, &in.r.Type, &in.r.ID, &in.r.Version, &updated, &in.r.Deleted, &in.r.Body); err != nil {
					return err
				}
				in.r.LastUpdated = fromMS(updated)
				if k := in.r.Type + "/" + in.r.ID; !seen[k] && len(out) < maxIncluded {
					seen[k] = true
					out = append(out, in.r)
					added = append(added, in)
				}
			}
			return rows.Err()
		}
		for _, inc := range q.Include {
			if round > 0 && !inc.Iterate {
				continue
			}
			var param int64
			err := s.r.QueryRowContext(ctx, "SELECT seq FROM search_params WHERE type = ? AND code = ?", inc.Type, inc.Param).Scan(&param)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("include: %w", err)
			}
			// The targets, grouped by type in the order they are first referenced.
			var types []string
			ids := map[string][]any{}
			for _, f := range frontier {
				if f.r.Type != inc.Type {
					continue
				}
				refs, err := ixRefs(f.ix, param)
				if err != nil {
					return nil, fmt.Errorf("include: %w", err)
				}
				for _, r := range refs {
					if r[0] == "" || (inc.TargetType != "" && r[0] != inc.TargetType) {
						continue
					}
					if ids[r[0]] == nil {
						types = append(types, r[0])
					}
					ids[r[0]] = append(ids[r[0]], r[1])
				}
			}
			for _, typ := range types {
				query := `SELECT pk, ix, type, id, version, updated, deleted, body FROM resources
					WHERE ds = ? AND type = ? AND deleted = 0 AND id IN (` + marks(len(ids[typ])) + `)`
				if err := load(query, append([]any{ds, typ}, ids[typ]...)); err != nil {
					return nil, err
				}
			}
		}
		byType := map[string][]any{}
		var types []string
		for _, f := range frontier {
			if byType[f.r.Type] == nil {
				types = append(types, f.r.Type)
			}
			byType[f.r.Type] = append(byType[f.r.Type], f.r.ID)
		}
		for _, inc := range q.RevInclude {
			if round > 0 && !inc.Iterate {
				continue
			}
			for _, typ := range types {
				if round == 0 && typ != q.Type {
					continue
				}
				ids := byType[typ]
				query := `SELECT t.pk, t.ix, t.type, t.id, t.version, t.updated, t.deleted, t.body FROM post_ref x, json_each(pl_keys(x.chunk, x.bits)) j
					JOIN resources t ON t.pk = j.value AND t.deleted = 0
					WHERE x.ds = ? AND x.param = ` + paramExpr + ` AND x.ref_type = ? AND x.ref_id IN (` + marks(len(ids)) + `)
					ORDER BY j.value LIMIT ?`
				args := append([]any{ds, inc.Type, inc.Param, typ}, ids...)
				args = append(args, maxIncluded+1)
				if err := load(query, args); err != nil {
					return nil, err
				}
			}
		}
		frontier = added
	}
	return out, nil
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// checkCondition runs a write condition's search inside the write transaction tx and fails with
// store.ErrConditionChanged unless it matches exactly the resources the condition names.
func checkCondition(ctx context.Context, tx *sql.Tx, ds int64, c *store.WriteCondition) error {
	var b sqlBuilder
	b.w("SELECT r.id FROM resources r WHERE ")
	if err := where(&b, ds, c.Type, "r", c.Where, nil); err != nil {
		return err
	}
	b.w(" LIMIT ?", len(c.Matches)+1)
	rows, err := tx.QueryContext(ctx, b.b.String(), b.args...)
	if err != nil {
		return fmt.Errorf("write condition: %w", err)
	}
	ids, err := collect(rows, func(sc interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("write condition: %w", err)
	}
	want := map[string]bool{}
	for _, id := range c.Matches {
		want[id] = true
	}
	if len(ids) != len(want) {
		return fmt.Errorf("%s: %w", c.Type, store.ErrConditionChanged)
	}
	for _, id := range ids {
		if !want[id] {
			return fmt.Errorf("%s: %w", c.Type, store.ErrConditionChanged)
		}
	}
	return nil
}

// ResourceTypeHistory implements store.Store.
func (s *Store) ResourceTypeHistory(ctx context.Context, p store.TypeHistoryParams) ([]store.Resource, error) {
	ds, err := dsSeq(ctx, s.r, p.DatastoreID)
	if err != nil {
		return nil, err
	}
	var b sqlBuilder
	// One type uses the (ds, type, id) keys; every type scans the data store's rows.
	typeCond := "type = ?2"
	if p.Type == "" {
		typeCond = "?2 = ''"
	}
	b.w(`SELECT type, id, version, updated, deleted, body FROM (
		SELECT type, id, version, updated, deleted, body FROM resources WHERE ds = ?1 AND `+typeCond+`
		UNION ALL
		SELECT type, id, version, updated, deleted, body FROM resource_history WHERE ds = ?1 AND `+typeCond+`)
		WHERE updated >= ?3`, ds, p.Type, ms(p.Since))
	if a := p.After; a != nil {
		u := ms(a.LastUpdated)
		b.w(" AND (updated < ?4 OR (updated = ?4 AND (type > ?5 OR (type = ?5 AND (id > ?6 OR (id = ?6 AND version < ?7))))))", u, a.Type, a.ID, a.Version)
	}
	b.w(" ORDER BY updated DESC, type, id, version DESC LIMIT ?")
	b.args = append(b.args, p.Limit)
	// Numbered and anonymous parameters mix: the LIMIT takes the next free number.
	q := strings.Replace(b.b.String(), "LIMIT ?", fmt.Sprintf("LIMIT ?%d", len(b.args)), 1)
	rows, err := s.r.QueryContext(ctx, q, b.args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanResource)
}
