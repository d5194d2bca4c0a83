package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// IndexEntries calls fn, in no particular order, for every current resource of a data store
// with the index entries the store holds for it, each rendered as "param kind values...", sorted.
// The entries are read from the index structures themselves (row tables and posting lists), not
// from the resource bodies, and the token and reference entries kept with each resource row
// (ix) must agree with the posting lists: an entry of a key that is not a current resource, or a
// disagreement, is an error. It exists to compare the indexes of two stores or data stores
// (e.g. after a crashed and resumed import with an uninterrupted one).
func (s *Store) IndexEntries(ctx context.Context, datastoreID string, fn func(typ, id string, entries []string) error) error {
	ds, err := dsSeq(ctx, s.r, datastoreID)
	if err != nil {
		return err
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// One read transaction, so that every query sees the same state.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	type res struct {
		typ, id    string
		rows, post []string
		ix         []byte
	}
	byPK := map[int64]*res{}
	rows, err := conn.QueryContext(ctx, "SELECT pk, type, id, ix FROM resources WHERE ds = ? AND deleted = 0", ds)
	if err != nil {
		return err
	}
	for rows.Next() {
		r := &res{}
		var pk int64
		if err := rows.Scan(&pk, &r.typ, &r.id, &r.ix); err != nil {
			rows.Close()
			return err
		}
		byPK[pk] = r
	}
	if err := rows.Close(); err != nil {
		return err
	}
	codes := map[int64]string{}
	rows, err = conn.QueryContext(ctx, "SELECT seq, code FROM search_params")
	if err != nil {
		return err
	}
	for rows.Next() {
		var seq int64
		var code string
		if err := rows.Scan(&seq, &code); err != nil {
			rows.Close()
			return err
		}
		codes[seq] = code
	}
	if err := rows.Close(); err != nil {
		return err
	}
	entry := func(param int64, kind string, vals ...string) string {
		out := codes[param] + " " + kind
		for _, v := range vals {
			out += " " + strconv.Quote(v)
		}
		return out
	}
	// Row tables.
	for _, t := range []struct{ kind, query string }{
		{"string", "SELECT rpk, param, value, exact FROM idx_string WHERE ds = ?"},
		{"date", "SELECT rpk, param, CAST(lo AS TEXT), CAST(hi AS TEXT) FROM idx_date WHERE ds = ?"},
		{"number", "SELECT rpk, param, CAST(lo AS TEXT), CAST(hi AS TEXT) || ' ' || system || ' ' || code FROM idx_number WHERE ds = ?"},
		{"uri", "SELECT rpk, param, value, '' FROM idx_uri WHERE ds = ?"},
	} {
		rows, err := conn.QueryContext(ctx, t.query, ds)
		if err != nil {
			return err
		}
		for rows.Next() {
			var rpk, param int64
			var a, b string
			if err := rows.Scan(&rpk, &param, &a, &b); err != nil {
				rows.Close()
				return err
			}
			r := byPK[rpk]
			if r == nil {
				rows.Close()
				return fmt.Errorf("%s entry of %s for key %d, which is not a current resource", t.kind, codes[param], rpk)
			}
			r.rows = append(r.rows, entry(param, t.kind, a, b))
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	// Posting lists.
	for _, t := range []struct{ kind, query string }{
		{"token", "SELECT param, code, system, text, chunk, bits FROM post_token WHERE ds = ?"},
		{"reference", "SELECT param, ref_id, ref_type, '', chunk, bits FROM post_ref WHERE ds = ?"},
	} {
		rows, err := conn.QueryContext(ctx, t.query, ds)
		if err != nil {
			return err
		}
		for rows.Next() {
			var param, chunk int64
			var a, b, c string
			var bits []byte
			if err := rows.Scan(&param, &a, &b, &c, &chunk, &bits); err != nil {
				rows.Close()
				return err
			}
			e := entry(param, t.kind, a, b, c)
			for _, o := range decodeChunk(bits) {
				rpk := chunk<<chunkShift | int64(o)
				r := byPK[rpk]
				if r == nil {
					rows.Close()
					return fmt.Errorf("posting %s for key %d, which is not a current resource", e, rpk)
				}
				r.post = append(r.post, e)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	for _, r := range byPK {
		var fromIx []string
		if err := walkIx(r.ix, func(e *ixView) bool {
			kind := "token"
			if e.ref {
				kind = "reference"
			}
			fromIx = append(fromIx, entry(e.param, kind, string(e.a), string(e.b), string(e.c)))
			return true
		}); err != nil {
			return fmt.Errorf("%s/%s: %w", r.typ, r.id, err)
		}
		slices.Sort(fromIx)
		fromIx = slices.Compact(fromIx)
		slices.Sort(r.post)
		if !slices.Equal(fromIx, r.post) {
			return fmt.Errorf("%s/%s: the posting lists hold %q, the resource row %q", r.typ, r.id, r.post, fromIx)
		}
		all := append(r.rows, r.post...)
		slices.Sort(all)
		if err := fn(r.typ, r.id, all); err != nil {
			return err
		}
	}
	return nil
}
