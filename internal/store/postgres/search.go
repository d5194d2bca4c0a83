package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/store"
	"github.com/fhirlake/fhirlake/internal/store/sqlcond"
)

// maxIncluded caps the resources that _include and _revinclude add to one page.
const maxIncluded = 1000

// noParam is the parameter key of a parameter no resource was ever indexed with: no index row
// has it, so its tests match nothing (and their negations everything).
const noParam = int32(-1)

// searchPlan resolves the parameter keys a query needs once, from the cache or the database, and
// names the aliases of its nested subqueries.
type searchPlan struct {
	s      *Store
	ctx    context.Context
	ds     int64
	params map[string]int32
	// types is the resource type of each alias in use; aliases counts the aliases made.
	types   map[string]string
	aliases int
}

// alias returns a new alias for a nested subquery.
func (p *searchPlan) alias(prefix string) string {
	p.aliases++
	return prefix + strconv.Itoa(p.aliases)
}

// typOf returns the resource type an alias ranges over.
func (p *searchPlan) typOf(alias string) string { return p.types[alias] }

// param returns the key of (typ, code), noParam when it does not exist.
func (p *searchPlan) param(typ, code string) (int32, error) {
	k := paramKey(typ, code)
	if v, ok := p.params[k]; ok {
		return v, nil
	}
	v, ok := p.s.params.get(k)
	if !ok {
		err := p.s.pool.QueryRow(p.ctx, "SELECT seq FROM search_params WHERE type = $1 AND code = $2", typ, code).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			v = noParam
		case err != nil:
			return 0, fmt.Errorf("search parameter %s: %w", code, err)
		default:
			p.s.params.put(k, v)
		}
	}
	p.params[k] = v
	return v, nil
}

// searchSQL builds the statement of a search: a count for CountOnly, else one page in sort order
// with one row more than the page (which tells there is a next page).
func (s *Store) searchSQL(ctx context.Context, q store.SearchQuery) (*searchPlan, *sqlBuilder, error) {
	ds, err := dsSeq(ctx, s.pool, q.DatastoreID)
	if err != nil {
		return nil, nil, err
	}
	plan := &searchPlan{s: s, ctx: ctx, ds: ds, params: map[string]int32{}}
	b := &sqlBuilder{}
	if q.CountOnly {
		b.w("SELECT count(*) FROM resources r WHERE ")
		return plan, b, plan.where(b, q.Type, "r", q.Where)
	}
	if q.Count <= 0 {
		return nil, nil, fmt.Errorf("search page size %d: %w", q.Count, store.ErrBadQuery)
	}
	var c *cursor
	if q.Cursor != nil {
		c = &cursor{}
		if err := json.Unmarshal(q.Cursor, c); err != nil || len(c.Keys) != len(q.Sort) {
			return nil, nil, fmt.Errorf("search cursor: %w", store.ErrBadQuery)
		}
	}
	b.w("SELECT * FROM (SELECT r.pk, r.type, r.id, r.version, r.updated, r.deleted, r.body")
	types := make([]string, len(q.Sort))
	for i, so := range q.Sort {
		b.w(", ")
		if types[i], err = plan.sortKey(b, so, q.Type); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(&b.b, " AS k%d", i)
	}
	b.w(" FROM resources r WHERE ")
	if err := plan.where(b, q.Type, "r", q.Where); err != nil {
		return nil, nil, err
	}
	b.w(") m")
	if c != nil {
		b.w(" WHERE ")
		if err := keyset(b, q.Sort, types, c); err != nil {
			return nil, nil, err
		}
	}
	b.w(" ORDER BY ")
	for i, so := range q.Sort {
		fmt.Fprintf(&b.b, "k%d", i)
		if so.Desc {
			b.w(" DESC")
		}
		b.w(" NULLS LAST, ")
	}
	b.w("pk LIMIT ?", q.Count+1)
	return plan, b, nil
}

// ResourceSearch implements store.Store. Token and reference clauses are containments of search
// keys (GIN), the other kinds semi-joins (EXISTS) on their index tables, with the parameter keys
// resolved beforehand so that the planner sees constants; the query runs unprepared so that it
// is planned for its actual values.
func (s *Store) ResourceSearch(ctx context.Context, q store.SearchQuery) (store.SearchResult, error) {
	var res store.SearchResult
	plan, b, err := s.searchSQL(ctx, q)
	if err != nil {
		return res, err
	}
	if q.CountOnly {
		err := s.pool.QueryRow(ctx, b.sql(), append([]any{pgx.QueryExecModeExec}, b.args...)...).Scan(&res.Total)
		return res, err
	}
	rows, err := s.pool.Query(ctx, b.sql(), append([]any{pgx.QueryExecModeExec}, b.args...)...)
	if err != nil {
		return res, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var pks []int64
	var last cursor
	for rows.Next() {
		var pk, updated int64
		var r store.Resource
		vals := make([]any, len(q.Sort))
		dest := []any{&pk, &r.Type, &r.ID, &r.Version, &updated, &r.Deleted, &r.Body}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return res, err
		}
		r.LastUpdated = fromMS(updated)
		if len(res.Matches) == q.Count {
			next, err := json.Marshal(last)
			if err != nil {
				return res, err
			}
			res.Next = next
			break
		}
		res.Matches = append(res.Matches, r)
		pks = append(pks, pk)
		last = cursor{PK: pk, Keys: make([]cursorKey, len(vals))}
		for i, v := range vals {
			if last.Keys[i], err = newCursorKey(v); err != nil {
				return res, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	rows.Close()
	if len(pks) > 0 && (len(q.Include) > 0 || len(q.RevInclude) > 0) {
		if res.Included, err = plan.includes(q, pks, res.Matches); err != nil {
			return res, err
		}
	}
	return res, nil
}

// cursor is the keyset position after a page: the sort values and pk of its last match.
type cursor struct {
	Keys []cursorKey `json:"k,omitempty"`
	PK   int64       `json:"p"`
}

// cursorKey is one sort value; all fields nil means the value was missing (NULL).
type cursorKey struct {
	Int   *int64   `json:"i,omitempty"`
	Float *float64 `json:"f,omitempty"`
	Text  *string  `json:"s,omitempty"`
}

func newCursorKey(v any) (cursorKey, error) {
	switch x := v.(type) {
	case nil:
		return cursorKey{}, nil
	case int64:
		return cursorKey{Int: &x}, nil
	case float64:
		return cursorKey{Float: &x}, nil
	case string:
		return cursorKey{Text: &x}, nil
	}
	return cursorKey{}, fmt.Errorf("sort value of type %T", v)
}

// value returns the key as an argument of SQL type typ, nil for a missing value.
func (k cursorKey) value(typ string) (any, bool, error) {
	switch {
	case k.Int != nil && typ == "bigint":
		return *k.Int, true, nil
	case k.Float != nil && typ == "double precision":
		return *k.Float, true, nil
	case k.Text != nil && typ == "text":
		return *k.Text, true, nil
	case k.Int == nil && k.Float == nil && k.Text == nil:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("search cursor: %w", store.ErrBadQuery)
}

// keyset writes the condition "row sorts after c" for the order (k0, k1, ..., pk), where every
// key sorts NULLS LAST in its direction.
func keyset(b *sqlBuilder, sorts []store.SearchSort, types []string, c *cursor) error {
	var terms []string
	for i := 0; i <= len(sorts); i++ {
		var conj []string
		for j := 0; j < i; j++ {
			v, present, err := c.Keys[j].value(types[j])
			if err != nil {
				return err
			}
			if present {
				conj = append(conj, fmt.Sprintf("k%d = %s::%s", j, b.arg(v), types[j]))
			} else {
				conj = append(conj, fmt.Sprintf("k%d IS NULL", j))
			}
		}
		if i == len(sorts) {
			conj = append(conj, "pk > "+b.arg(c.PK))
		} else {
			v, present, err := c.Keys[i].value(types[i])
			if err != nil {
				return err
			}
			if !present {
				// Only other missing values follow a missing value, and they tie with it.
				continue
			}
			op := ">"
			if sorts[i].Desc {
				op = "<"
			}
			conj = append(conj, fmt.Sprintf("(k%d %s %s::%s OR k%d IS NULL)", i, op, b.arg(v), types[i], i))
		}
		terms = append(terms, "("+strings.Join(conj, " AND ")+")")
	}
	b.w("(" + strings.Join(terms, " OR ") + ")")
	return nil
}

// sortKey writes the SQL expression of one sort key over alias r and returns its SQL type.
func (p *searchPlan) sortKey(b *sqlBuilder, so store.SearchSort, typ string) (string, error) {
	switch so.Param {
	case "_id":
		b.w("r.id")
		return "text", nil
	case "_lastUpdated":
		b.w("r.updated")
		return "bigint", nil
	}
	agg := "min"
	if so.Desc {
		agg = "max"
	}
	col, sqlType := "", ""
	switch so.Kind {
	case store.IndexToken:
	case store.IndexString:
		col, sqlType = "value", "text"
	case store.IndexDate:
		col, sqlType = "lo", "bigint"
		if so.Desc {
			col = "hi"
		}
	case store.IndexNumber, store.IndexQuantity:
		col, sqlType = "lo", "double precision"
	case store.IndexURI:
		col, sqlType = "value", "text"
	default:
		return "", fmt.Errorf("sort by %s: %w", so.Param, store.ErrBadQuery)
	}
	param, err := p.param(typ, so.Param)
	if err != nil {
		return "", err
	}
	if so.Kind == store.IndexToken {
		// The codes are the ends of the any-system keys.
		prefix := keyPrefix(p.ds, param) + "*"
		b.w(fmt.Sprintf("(SELECT %s(substr(k, ?)) FROM unnest(r.tok) k WHERE starts_with(k, ?))", agg), len(prefix)+1, prefix)
		return "text", nil
	}
	table, _ := tableOf(so.Kind)
	b.w(fmt.Sprintf("(SELECT %s(%s) FROM %s x WHERE x.rpk = r.pk AND x.param = ?)", agg, col, table), param)
	return sqlType, nil
}

// where writes the conditions selecting current resources of typ (alias a) that satisfy every
// clause.
func (p *searchPlan) where(b *sqlBuilder, typ, a string, clauses [][]store.SearchPredicate) error {
	if p.types == nil {
		p.types = map[string]string{}
	}
	p.types[a] = typ
	b.w(a+".ds = ? AND "+a+".type = ? AND NOT "+a+".deleted", p.ds, typ)
	if err := p.dateWindow(b, typ, a, clauses); err != nil {
		return err
	}
	for _, any := range clauses {
		if len(any) == 0 {
			continue
		}
		b.w(" AND (")
		for j, pr := range any {
			if j > 0 {
				b.w(" OR ")
			}
			if err := p.predicate(b, typ, a, pr); err != nil {
				return err
			}
		}
		b.w(")")
	}
	return nil
}

// dateWindow writes, when some date parameter is bounded from both sides by the clauses (e.g.
// date=ge2020-01-01&date=lt2020-02-01), " AND EXISTS (a row of it whose lo lies in the window)".
// The window is a necessary condition, not the exact test: hi >= L implies lo >= L - max_span,
// where max_span is the widest range ever indexed under the parameter, so one range of the
// (ds, param, lo) index serves both bounds.
func (p *searchPlan) dateWindow(b *sqlBuilder, typ, a string, clauses [][]store.SearchPredicate) error {
	type bound struct {
		expr string
		args []any
	}
	lower, upper := map[string][]bound{}, map[string][]bound{}
	// lowest is the smallest lo a row matching "hi >= ?" can have; an open-ended range ever
	// indexed under the parameter (max_span = MaxInt64) leaves no lower bound.
	lowest := "(SELECT CASE WHEN max_span = 9223372036854775807 THEN (-9223372036854775807 - 1) ELSE ?::bigint - max_span END FROM search_params WHERE seq = ?)"
	for _, clause := range clauses {
		if len(clause) != 1 {
			continue
		}
		pr := clause[0]
		if pr.Kind != store.IndexDate || pr.Not || pr.Param == "_lastUpdated" || pr.Op == store.OpMissing {
			continue
		}
		param, err := p.param(typ, pr.Param)
		if err != nil {
			return err
		}
		switch pr.Op {
		case store.OpEq:
			lower[pr.Param] = append(lower[pr.Param], bound{"?::bigint", []any{pr.Low}})
			upper[pr.Param] = append(upper[pr.Param], bound{"?::bigint", []any{pr.High}})
		case store.OpGe:
			lower[pr.Param] = append(lower[pr.Param], bound{lowest, []any{pr.Low, param}})
		case store.OpGt:
			lower[pr.Param] = append(lower[pr.Param], bound{lowest, []any{pr.High, param}})
		case store.OpSa:
			lower[pr.Param] = append(lower[pr.Param], bound{"?::bigint", []any{pr.High}})
		case store.OpLt, store.OpEb:
			upper[pr.Param] = append(upper[pr.Param], bound{"?::bigint", []any{pr.Low}})
		case store.OpLe:
			upper[pr.Param] = append(upper[pr.Param], bound{"?::bigint", []any{pr.High}})
		}
	}
	for _, c := range clauses {
		if len(c) != 1 {
			continue
		}
		name := c[0].Param
		if len(lower[name]) == 0 || len(upper[name]) == 0 {
			continue
		}
		param, err := p.param(typ, name)
		if err != nil {
			return err
		}
		b.w(" AND EXISTS (SELECT 1 FROM idx_date x WHERE x.rpk = "+a+".pk AND x.ds = ? AND x.param = ?", p.ds, param)
		for _, l := range lower[name] {
			b.w(" AND x.lo >= "+l.expr, l.args...)
		}
		for _, u := range upper[name] {
			b.w(" AND x.lo <= "+u.expr, u.args...)
		}
		b.w(")")
		return nil
	}
	return nil
}

// predicate writes one predicate over alias a.
func (p *searchPlan) predicate(b *sqlBuilder, typ, a string, pr store.SearchPredicate) error {
	switch pr.Param {
	case "_id":
		if pr.Op == store.OpMissing {
			b.w(boolSQL(!pr.Missing))
			return nil
		}
		not := ""
		if pr.Not || pr.Op == store.OpNe {
			not = "NOT "
		}
		b.w(not+a+".id = ?", pr.Code)
		return nil
	case "_lastUpdated":
		if pr.Op == store.OpMissing {
			b.w(boolSQL(!pr.Missing))
			return nil
		}
		return sqlcond.Date(b.w, pr, a+".updated", a+".updated", "?::bigint")
	}
	param, err := p.param(typ, pr.Param)
	if err != nil {
		return err
	}
	if pr.Kind == store.IndexToken || pr.Kind == store.IndexReference {
		return p.rowPredicate(b, a, param, pr)
	}
	table, ok := tableOf(pr.Kind)
	if !ok {
		return fmt.Errorf("search parameter %s: unknown kind: %w", pr.Param, store.ErrBadQuery)
	}
	if pr.Op == store.OpMissing {
		if pr.Missing {
			b.w("NOT ")
		}
		b.w("EXISTS (SELECT 1 FROM "+table+" x WHERE x.rpk = "+a+".pk AND x.param = ?)", param)
		return nil
	}
	// ne on ranges is "has a value outside the range", which is a positive row test; :not on a
	// token is "has no matching value", a negated set test.
	if pr.Not {
		b.w("NOT ")
	}
	b.w("EXISTS (SELECT 1 FROM "+table+" x WHERE x.rpk = "+a+".pk AND x.ds = ? AND x.param = ? AND ", p.ds, param)
	if err := p.valueCond(b, pr); err != nil {
		return err
	}
	b.w(")")
	return nil
}

// rowPredicate writes a token or reference predicate over the index columns of alias a: a
// containment of search keys (served by the GIN indexes of tok and ref) for a value, a test of
// the candidate's keys or texts for :missing, :text and a system without a code. A negation is
// the plain NOT of the test, which is never NULL on a current version (its arrays are empty, not
// NULL).
func (p *searchPlan) rowPredicate(b *sqlBuilder, a string, param int32, pr store.SearchPredicate) error {
	if pr.Not {
		b.w("NOT ")
	}
	b.w("(")
	defer b.w(")")
	col := a + ".ref"
	if pr.Kind == store.IndexToken {
		col = a + ".tok"
	}
	has := func(key string) { b.w(col+" @> ARRAY[?::text]", key) }
	// present tests that the resource has a value of the parameter.
	present := func() {
		prefix := keyPrefix(p.ds, param)
		b.w("(EXISTS (SELECT 1 FROM unnest("+col+") k WHERE starts_with(k, ?))", prefix)
		if pr.Kind == store.IndexToken {
			b.w(" OR EXISTS (SELECT 1 FROM unnest("+a+".tok_t) t WHERE starts_with(t, ?))", textKey(param, ""))
		}
		b.w(")")
	}
	switch {
	case pr.Op == store.OpMissing:
		if pr.Missing {
			b.w("NOT ")
		}
		present()
	case pr.Kind == store.IndexToken && pr.Op == store.OpText:
		lo := textKey(param, pr.Value)
		b.w("EXISTS (SELECT 1 FROM unnest("+a+".tok_t) t WHERE t >= ? AND t < ?)", lo, lo+prefixEnd)
	case pr.Kind == store.IndexToken && pr.Code != "" && pr.AnySystem:
		has(anyKey(p.ds, param, pr.Code))
	case pr.Kind == store.IndexToken && pr.Code != "":
		has(qualifiedKey(p.ds, param, pr.System, pr.Code))
	case pr.Kind == store.IndexToken && pr.AnySystem:
		present()
	case pr.Kind == store.IndexToken:
		// A system and any code: the qualified keys of that system are those with its prefix.
		b.w("EXISTS (SELECT 1 FROM unnest("+col+") k WHERE starts_with(k, ?))", qualifiedKey(p.ds, param, pr.System, ""))
	case pr.Has != nil:
		// The ids the sources' typed reference keys of the parameter point at.
		h := pr.Has
		hp, err := p.param(h.Type, h.Param)
		if err != nil {
			return err
		}
		prefix := qualifiedKey(p.ds, hp, p.typOf(a), "")
		alias := p.alias("h")
		b.w(a+".id IN (SELECT substr(k, ?) FROM resources "+alias+", unnest("+alias+".ref) k WHERE starts_with(k, ?) AND ",
			len(prefix)+1, prefix)
		if err := p.where(b, h.Type, alias, [][]store.SearchPredicate{h.Where}); err != nil {
			return err
		}
		b.w(")")
	case pr.Chain != nil:
		// The keys of every target the chain's own search finds, built in SQL.
		alias := p.alias("c")
		b.w(col+" && ARRAY(SELECT ? || "+alias+".id FROM resources "+alias+" WHERE ", qualifiedKey(p.ds, param, pr.Chain.Type, ""))
		if err := p.where(b, pr.Chain.Type, alias, [][]store.SearchPredicate{pr.Chain.Where}); err != nil {
			return err
		}
		b.w(")")
	case pr.RefType != "":
		has(qualifiedKey(p.ds, param, pr.RefType, pr.RefID))
	default:
		has(anyKey(p.ds, param, pr.RefID))
	}
	return nil
}

func boolSQL(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// prefixEnd is appended to a prefix to bound its range from above: every string that starts with
// the prefix sorts below prefix+prefixEnd in the bytewise ("C") order of UTF-8.
const prefixEnd = "\U0010FFFF"

// valueCond writes the test of one index row (alias x) against the predicate's value.
func (p *searchPlan) valueCond(b *sqlBuilder, pr store.SearchPredicate) error {
	switch pr.Kind {
	case store.IndexString:
		switch pr.Op {
		case store.OpExact:
			b.w("x.exact = ?", pr.Value)
		case store.OpContains:
			b.w(`x.value LIKE ? ESCAPE '\'`, "%"+sqlcond.LikeEscape(pr.Value)+"%")
		case store.OpText:
			// Every word starts a word of the value.
			for i, word := range strings.Fields(pr.Value) {
				if i > 0 {
					b.w(" AND ")
				}
				w := sqlcond.LikeEscape(word)
				b.w(`(x.value LIKE ? ESCAPE '\' OR x.value LIKE ? ESCAPE '\')`, w+"%", "% "+w+"%")
			}
		default:
			b.w("x.value >= ? AND x.value < ?", pr.Value, pr.Value+prefixEnd)
		}
	case store.IndexDate:
		return sqlcond.Date(b.w, pr, "x.lo", "x.hi", "?::bigint")
	case store.IndexNumber, store.IndexQuantity:
		if err := sqlcond.Number(b.w, pr, "x.lo", "x.hi", "?::float8"); err != nil {
			return err
		}
		if pr.Kind == store.IndexQuantity {
			if pr.Code != "" {
				b.w(" AND x.code = ?", pr.Code)
			}
			if !pr.AnySystem {
				b.w(" AND x.system = ?", pr.System)
			}
		}
	case store.IndexURI:
		switch pr.Op {
		case store.OpBelow:
			b.w("x.value >= ? AND x.value < ?", pr.Value, pr.Value+prefixEnd)
		case store.OpAbove:
			// The indexed value is one of the search value's prefixes.
			prefixes := make([]string, 0, len(pr.Value))
			for n := 1; n <= len(pr.Value); n++ {
				prefixes = append(prefixes, pr.Value[:n])
			}
			b.w("x.value = ANY(?::text[])", prefixes)
		default:
			b.w("x.value = ?", pr.Value)
		}
	default:
		return fmt.Errorf("search parameter %s: unknown kind: %w", pr.Param, store.ErrBadQuery)
	}
	return nil
}

// includes loads the resources that _include and _revinclude add to a page, without duplicates
// and without the matches themselves: first from the matches, then, for the includes marked
// Iterate, from what the previous round added, until a round adds nothing or the cap is reached.
func (p *searchPlan) includes(q store.SearchQuery, pks []int64, matches []store.Resource) ([]store.Resource, error) {
	type node struct {
		pk int64
		r  store.Resource
	}
	seen := map[string]bool{}
	frontier := make([]node, len(matches))
	for i, m := range matches {
		seen[m.Type+"/"+m.ID] = true
		frontier[i] = node{pks[i], m}
	}
	var out []store.Resource
	for round := 0; len(frontier) > 0 && len(out) < maxIncluded; round++ {
		var added []node
		load := func(b *sqlBuilder) error {
			rows, err := p.s.pool.Query(p.ctx, b.sql(), b.args...)
			if err != nil {
				return fmt.Errorf("include: %w", err)
			}
			var n node
			var updated int64
			_, err = pgx.ForEachRow(rows, []any{&n.pk, &n.r.Type, &n.r.ID, &n.r.Version, &updated, &n.r.Deleted, &n.r.Body}, func() error {
				n.r.LastUpdated = fromMS(updated)
				if k := n.r.Type + "/" + n.r.ID; !seen[k] && len(out) < maxIncluded {
					seen[k] = true
					out = append(out, n.r)
					added = append(added, n)
				}
				n = node{}
				return nil
			})
			if err != nil {
				return fmt.Errorf("include: %w", err)
			}
			return nil
		}
		for _, inc := range q.Include {
			if round > 0 && !inc.Iterate {
				continue
			}
			param, err := p.param(inc.Type, inc.Param)
			if err != nil {
				return nil, err
			}
			var from []int64
			for _, f := range frontier {
				if f.r.Type == inc.Type {
					from = append(from, f.pk)
				}
			}
			if len(from) == 0 || param == noParam {
				continue
			}
			// The sources' typed reference keys of the parameter name the targets.
			prefix := keyPrefix(p.ds, param)
			rows, err := p.s.pool.Query(p.ctx, "SELECT DISTINCT k FROM resources m, unnest(m.ref) k WHERE m.pk = ANY($1) AND starts_with(k, $2)",
				from, prefix)
			if err != nil {
				return nil, fmt.Errorf("include: %w", err)
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, fmt.Errorf("include: %w", err)
			}
			var types, ids []string
			for _, k := range keys {
				typ, id, ok := parseQualified(strings.TrimPrefix(k, prefix))
				if ok && (inc.TargetType == "" || typ == inc.TargetType) {
					types, ids = append(types, typ), append(ids, id)
				}
			}
			if len(ids) == 0 {
				continue
			}
			var b sqlBuilder
			b.w(`SELECT t.pk, t.type, t.id, t.version, t.updated, t.deleted, t.body FROM resources t
				JOIN unnest(?::text[], ?::text[]) AS x(type, id) ON t.type = x.type AND t.id = x.id
				WHERE t.ds = ? AND NOT t.deleted ORDER BY t.pk LIMIT ?`, types, ids, p.ds, maxIncluded+1)
			if err := load(&b); err != nil {
				return nil, err
			}
		}
		for _, inc := range q.RevInclude {
			if round > 0 && !inc.Iterate {
				continue
			}
			param, err := p.param(inc.Type, inc.Param)
			if err != nil {
				return nil, err
			}
			if param == noParam {
				continue
			}
			// The keys by which a resource of inc.Type would reference each source.
			var keys []string
			for _, f := range frontier {
				if round == 0 && f.r.Type != q.Type {
					continue
				}
				keys = append(keys, qualifiedKey(p.ds, param, f.r.Type, f.r.ID))
			}
			if len(keys) == 0 {
				continue
			}
			var b sqlBuilder
			b.w(`SELECT t.pk, t.type, t.id, t.version, t.updated, t.deleted, t.body FROM resources t
				WHERE t.ref && ?::text[] AND t.ds = ? AND t.type = ? AND NOT t.deleted ORDER BY t.pk LIMIT ?`,
				keys, p.ds, inc.Type, maxIncluded+1)
			if err := load(&b); err != nil {
				return nil, err
			}
		}
		frontier = added
	}
	return out, nil
}

// parseQualified splits the tail of a qualified key, "<len(qual)>:<qual><value>"; ok is false
// for any other tail (an any-type key).
func parseQualified(tail string) (qual, value string, ok bool) {
	n, rest, found := strings.Cut(tail, ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(rest) {
		return "", "", false
	}
	return rest[:l], rest[l:], true
}

// ResourceTypeHistory implements store.Store.
func (s *Store) ResourceTypeHistory(ctx context.Context, p store.TypeHistoryParams) ([]store.Resource, error) {
	ds, err := dsSeq(ctx, s.pool, p.DatastoreID)
	if err != nil {
		return nil, err
	}
	var b sqlBuilder
	dsArg, since := b.arg(ds), b.arg(ms(p.Since))
	cond := "ds = " + dsArg + " AND updated >= " + since
	if p.Type != "" {
		cond += " AND type = " + b.arg(p.Type)
	}
	b.w(`SELECT ` + resourceCols + ` FROM (
		SELECT ` + resourceCols + ` FROM resources WHERE ` + cond + `
		UNION ALL
		SELECT ` + resourceCols + ` FROM resource_history WHERE ` + cond + `) h`)
	if a := p.After; a != nil {
		u := ms(a.LastUpdated)
		b.w(" WHERE (updated < ? OR (updated = ? AND (type > ? OR (type = ? AND (id > ? OR (id = ? AND version < ?))))))",
			u, u, a.Type, a.Type, a.ID, a.ID, a.Version)
	}
	b.w(" ORDER BY updated DESC, type, id, version DESC LIMIT ?", p.Limit)
	return collectResources(s.pool.Query(ctx, b.sql(), b.args...))
}
