package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/store"
)

// Token and reference entries, about 80% of all index entries, are kept as posting lists: one
// row per (parameter, value, chunk of resource keys) whose blob lists the resource keys (rpk) of
// that chunk that have the value. A chunk covers chunkSize consecutive keys, so that an import,
// which writes ascending keys, appends to the last chunk of each value only, and no blob grows
// beyond bitmapBytes. The entries of each resource are also kept with the resource row (column
// ix, see encodeIx), which is what updates and deletes take the old keys from and what the
// correlated search tests (ix_token, ix_ref) read.

// chunkShift sets the chunk size: rpk >> chunkShift is the chunk, rpk & (chunkSize-1) the offset.
const (
	chunkShift  = 12
	chunkSize   = 1 << chunkShift
	bitmapBytes = chunkSize / 8
	// listMax is the most offsets a chunk stores as a sorted list (2 bytes each); more are a bitmap.
	listMax = bitmapBytes/2 - 1
)

// decodeChunk returns the sorted offsets of a chunk blob.
func decodeChunk(b []byte) []uint16 {
	if len(b) == bitmapBytes {
		var out []uint16
		for i, c := range b {
			for c != 0 {
				j := c & -c
				out = append(out, uint16(i*8+bitIndex(j)))
				c &^= j
			}
		}
		return out
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

func bitIndex(b byte) int {
	n := 0
	for b > 1 {
		b >>= 1
		n++
	}
	return n
}

// encodeChunk encodes sorted, distinct offsets; nil for none.
func encodeChunk(offs []uint16) []byte {
	if len(offs) == 0 {
		return nil
	}
	if len(offs) > listMax {
		b := make([]byte, bitmapBytes)
		for _, o := range offs {
			b[o>>3] |= 1 << (o & 7)
		}
		return b
	}
	b := make([]byte, 2*len(offs))
	for i, o := range offs {
		binary.LittleEndian.PutUint16(b[2*i:], o)
	}
	return b
}

// unionChunks merges two chunk blobs (the upsert of a posting row).
func unionChunks(a, b []byte) []byte {
	x, y := decodeChunk(a), decodeChunk(b)
	out := make([]uint16, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case j == len(y) || (i < len(x) && x[i] < y[j]):
			out = append(out, x[i])
			i++
		case i == len(x) || y[j] < x[i]:
			out = append(out, y[j])
			j++
		default:
			out = append(out, x[i])
			i++
			j++
		}
	}
	return encodeChunk(out)
}

// chunkKeys renders the resource keys of a chunk blob as a JSON array, which json_each turns
// into rows inside a query.
func chunkKeys(chunk int64, b []byte) string {
	offs := decodeChunk(b)
	buf := make([]byte, 0, 2+len(offs)*8)
	buf = append(buf, '[')
	base := chunk << chunkShift
	for i, o := range offs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, base+int64(o), 10)
	}
	return string(append(buf, ']'))
}

// ixEntry is one token or reference entry of a resource, with its parameter key. For a token a,
// b, c are code, system and text; for a reference ref_id, ref_type and "".
type ixEntry struct {
	ref     bool
	param   int64
	a, b, c string
}

// ixView is an entry of an encoded ix blob, its strings pointing into the blob.
type ixView struct {
	ref     bool
	param   int64
	a, b, c []byte
	raw     []byte // the whole encoded entry
}

// encodeIx encodes the token and reference entries of a resource version (column resources.ix):
// per entry a kind byte ('t' or 'r'), the parameter key as a uvarint, and its three strings, each
// uvarint-length-prefixed. nil when there are none.
func encodeIx(es []ixEntry) []byte {
	if len(es) == 0 {
		return nil
	}
	var b []byte
	for _, e := range es {
		if e.ref {
			b = append(b, 'r')
		} else {
			b = append(b, 't')
		}
		b = binary.AppendUvarint(b, uint64(e.param))
		for _, s := range [3]string{e.a, e.b, e.c} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

var errBadIx = errors.New("corrupt index entries")

// walkIx calls fn for every entry of an encoded ix blob until fn returns false.
func walkIx(b []byte, fn func(e *ixView) bool) error {
	var e ixView
	for len(b) > 0 {
		entry := b
		switch b[0] {
		case 'r':
			e.ref = true
		case 't':
			e.ref = false
		default:
			return errBadIx
		}
		b = b[1:]
		p, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadIx
		}
		e.param, b = int64(p), b[n:]
		for _, s := range [3]*[]byte{&e.a, &e.b, &e.c} {
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errBadIx
			}
			*s, b = b[n:n+int(l)], b[n+int(l):]
		}
		e.raw = entry[:len(entry)-len(b)]
		if !fn(&e) {
			return nil
		}
	}
	return nil
}

// Flags of ix_token.
const (
	tokCode      = 1 // compare the code
	tokAnySystem = 2 // do not compare the system
	tokText      = 4 // :text: the code argument is a prefix of the normalised text
)

// ixToken is the SQL function ix_token(ix, param, code, system, flags): whether the resource has a
// token entry of param that matches, with the semantics of valueCond on a token row.
func ixToken(ix []byte, param int64, code, system string, flags int64) (bool, error) {
	found := false
	end := code + "\U0010FFFF"
	err := walkIx(ix, func(e *ixView) bool {
		if e.ref || e.param != param {
			return true
		}
		if flags&tokText != 0 {
			found = string(e.c) >= code && string(e.c) < end
		} else {
			found = (flags&tokCode == 0 || string(e.a) == code) && (flags&tokAnySystem != 0 || string(e.b) == system)
		}
		return !found
	})
	return found, err
}

// ixRef is the SQL function ix_ref(ix, param, ref_id, ref_type): whether the resource references
// ref_id (of ref_type unless it is "") through param.
func ixRef(ix []byte, param int64, id, typ string) (bool, error) {
	found := false
	err := walkIx(ix, func(e *ixView) bool {
		found = e.ref && e.param == param && string(e.a) == id && (typ == "" || string(e.b) == typ)
		return !found
	})
	return found, err
}

// ixAny is the SQL function ix_any(ix, param): whether the resource has any entry of param.
func ixAny(ix []byte, param int64) (bool, error) {
	found := false
	err := walkIx(ix, func(e *ixView) bool {
		found = e.param == param
		return !found
	})
	return found, err
}

// ixCode is the SQL function ix_code(ix, param, desc): the least (greatest when desc) token code
// of param, the sort key of a token parameter; NULL when the resource has none.
func ixCode(ix []byte, param int64, desc bool) (any, error) {
	var best []byte
	found := false
	err := walkIx(ix, func(e *ixView) bool {
		if !e.ref && e.param == param {
			if c := bytes.Compare(e.a, best); !found || (desc && c > 0) || (!desc && c < 0) {
				best, found = e.a, true
			}
		}
		return true
	})
	if !found || err != nil {
		return nil, err
	}
	return string(best), nil
}

// ixRefs returns the reference entries of param in an ix blob as (type, id) pairs.
func ixRefs(ix []byte, param int64) ([][2]string, error) {
	var out [][2]string
	err := walkIx(ix, func(e *ixView) bool {
		if e.ref && e.param == param {
			out = append(out, [2]string{string(e.b), string(e.a)})
		}
		return true
	})
	return out, err
}

// ixRefIDs renders, as a JSON array, the ids of the resources of type typ that the reference
// entries of param in ix point at (the SQL function ix_ref_ids, for reverse chains).
func ixRefIDs(ix []byte, param int64, typ string) (string, error) {
	var b []byte
	b = append(b, '[')
	err := walkIx(ix, func(e *ixView) bool {
		if e.ref && e.param == param && string(e.b) == typ {
			if len(b) > 1 {
				b = append(b, ',')
			}
			q, _ := json.Marshal(string(e.a))
			b = append(b, q...)
		}
		return true
	})
	return string(append(b, ']')), err
}

// postKey addresses one posting row of the data store being written.
type postKey struct {
	ref     bool
	param   int64
	a, b, c string
	chunk   int64
}

func (k postKey) less(o postKey) int {
	if k.ref != o.ref {
		if k.ref {
			return 1
		}
		return -1
	}
	if k.param != o.param {
		return cmpInt(k.param, o.param)
	}
	if c := strings.Compare(k.a, o.a); c != 0 {
		return c
	}
	if c := strings.Compare(k.b, o.b); c != 0 {
		return c
	}
	if c := strings.Compare(k.c, o.c); c != 0 {
		return c
	}
	return cmpInt(k.chunk, o.chunk)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// postings collects the posting changes of one write transaction: per row, the offsets to add
// or remove in the order of the writes, the last change of an offset winning, so that a resource
// written twice in one transaction keeps only the entries of its last version. Rows are keyed by
// the encoded entry and the chunk, which costs no allocation for a row seen before.
type postings struct {
	ds      int64
	slot    map[string]int32
	keys    []postKey
	changes [][]uint32 // per slot: offset<<1 | 1 for an addition
	scratch []byte
}

func (p *postings) set(rpk int64, e *ixView, add bool) {
	chunk := rpk >> chunkShift
	p.scratch = binary.AppendUvarint(append(p.scratch[:0], e.raw...), uint64(chunk))
	i, ok := p.slot[string(p.scratch)]
	if !ok {
		if p.slot == nil {
			p.slot = map[string]int32{}
		}
		i = int32(len(p.keys))
		p.slot[string(p.scratch)] = i
		p.keys = append(p.keys, postKey{ref: e.ref, param: e.param, a: string(e.a), b: string(e.b), c: string(e.c), chunk: chunk})
		p.changes = append(p.changes, nil)
	}
	c := uint32(rpk&(chunkSize-1)) << 1
	if add {
		c |= 1
	}
	p.changes[i] = append(p.changes[i], c)
}

// change records the replacement of the entries old (encoded ix) by new for the resource rpk.
func (p *postings) change(rpk int64, old, new []byte) error {
	if bytes.Equal(old, new) {
		return nil
	}
	if err := walkIx(old, func(e *ixView) bool { p.set(rpk, e, false); return true }); err != nil {
		return err
	}
	return walkIx(new, func(e *ixView) bool { p.set(rpk, e, true); return true })
}

func onlyAdds(changes []uint32) bool {
	for _, c := range changes {
		if c&1 == 0 {
			return false
		}
	}
	return true
}

// postStmts are the statements that write posting rows in one transaction.
type postStmts struct {
	upsert, upsertMany [2]*sql.Stmt // token, reference
	get, put, del      [2]*sql.Stmt
}

// postBatch is the number of rows of one multi-row posting upsert.
const postBatch = 32

func preparePostStmts(prep func(string) *sql.Stmt) postStmts {
	var ps postStmts
	for i, t := range [2]struct {
		table string
		cols  []string
	}{
		{"post_token", []string{"code", "system", "text"}},
		{"post_ref", []string{"ref_id", "ref_type"}},
	} {
		cols := "ds, param, " + strings.Join(t.cols, ", ") + ", chunk"
		key := "ds = ? AND param = ? AND " + strings.Join(t.cols, " = ? AND ") + " = ? AND chunk = ?"
		tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.cols)+4), ",") + ")"
		ins := func(rows int) string {
			return "INSERT INTO " + t.table + " (" + cols + ", bits) VALUES " +
				strings.TrimSuffix(strings.Repeat(tuple+",", rows), ",") +
				" ON CONFLICT DO UPDATE SET bits = pl_union(bits, excluded.bits)"
		}
		ps.upsert[i] = prep(ins(1))
		ps.upsertMany[i] = prep(ins(postBatch))
		ps.get[i] = prep("SELECT bits FROM " + t.table + " WHERE " + key)
		ps.put[i] = prep("INSERT OR REPLACE INTO " + t.table + " (" + cols + ", bits) VALUES " + tuple)
		ps.del[i] = prep("DELETE FROM " + t.table + " WHERE " + key)
	}
	return ps
}

// flush writes the collected changes: additions with batched upserts, rows that lose offsets
// with a read, merge and write.
func (p *postings) flush(ctx context.Context, ps *postStmts) error {
	if len(p.keys) == 0 {
		return nil
	}
	order := make([]int, len(p.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return p.keys[x].less(p.keys[y]) })
	var batch [2][]any
	last := map[uint16]bool{}
	for _, slot := range order {
		k := p.keys[slot]
		var add, rm []uint16
		if onlyAdds(p.changes[slot]) { // the common case: new resources
			for _, c := range p.changes[slot] {
				add = append(add, uint16(c>>1))
			}
			slices.Sort(add)
			add = slices.Compact(add)
		} else {
			clear(last)
			for _, c := range p.changes[slot] {
				last[uint16(c>>1)] = c&1 == 1
			}
			for o, a := range last {
				if a {
					add = append(add, o)
				} else {
					rm = append(rm, o)
				}
			}
			slices.Sort(add)
		}
		kind := 0
		if k.ref {
			kind = 1
		}
		args := []any{p.ds, k.param, k.a, k.b}
		if !k.ref {
			args = append(args, k.c)
		}
		args = append(args, k.chunk)
		if len(rm) == 0 {
			batch[kind] = append(append(batch[kind], args...), encodeChunk(add))
			if len(batch[kind]) == postBatch*(len(args)+1) {
				if _, err := ps.upsertMany[kind].ExecContext(ctx, batch[kind]...); err != nil {
					return fmt.Errorf("postings: %w", err)
				}
				batch[kind] = batch[kind][:0]
			}
			continue
		}
		var old []byte
		if err := ps.get[kind].QueryRowContext(ctx, args...).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("postings: %w", err)
		}
		cur := decodeChunk(unionChunks(old, encodeChunk(add)))
		cur = slices.DeleteFunc(cur, func(o uint16) bool { a, ok := last[o]; return ok && !a })
		var err error
		if len(cur) == 0 {
			_, err = ps.del[kind].ExecContext(ctx, args...)
		} else {
			_, err = ps.put[kind].ExecContext(ctx, append(args, encodeChunk(cur))...)
		}
		if err != nil {
			return fmt.Errorf("postings: %w", err)
		}
	}
	for kind, args := range batch {
		n := 7 // ds, param, code, system, text, chunk, bits
		if kind == 1 {
			n = 6 // ds, param, ref_id, ref_type, chunk, bits
		}
		for i := 0; i < len(args); i += n {
			if _, err := ps.upsert[kind].ExecContext(ctx, args[i:i+n]...); err != nil {
				return fmt.Errorf("postings: %w", err)
			}
		}
	}
	p.slot, p.keys, p.changes = nil, nil, nil
	return nil
}

// postTable returns the posting table of a token or reference kind.
func postTable(k store.IndexKind) (string, bool) {
	switch k {
	case store.IndexToken:
		return "post_token", true
	case store.IndexReference:
		return "post_ref", true
	}
	return "", false
}

// migrationSteps are Go steps run after the SQL migration of the same number, in its transaction.
var migrationSteps = map[int]func(ctx context.Context, tx *sql.Tx) error{6: convertPostings}

// convertPostings moves the rows of idx_token and idx_ref (migration 5 and before) into posting
// rows and resources.ix, then drops the two tables.
func convertPostings(ctx context.Context, tx *sql.Tx) error {
	// Posting rows, built in key order so that each chunk is complete when the key moves on.
	for _, q := range []struct{ sel, ins string }{
		{"SELECT ds, param, code, system, text, rpk FROM idx_token ORDER BY ds, param, code, system, text, rpk",
			"INSERT INTO post_token (ds, param, code, system, text, chunk, bits) VALUES (?,?,?,?,?,?,?)"},
		{"SELECT ds, param, ref_id, ref_type, '', rpk FROM idx_ref ORDER BY ds, param, ref_id, ref_type, rpk",
			"INSERT INTO post_ref (ds, param, ref_id, ref_type, chunk, bits) VALUES (?,?,?,?,?,?)"},
	} {
		ins, err := tx.PrepareContext(ctx, q.ins)
		if err != nil {
			return err
		}
		defer ins.Close()
		ref := strings.HasPrefix(q.ins, "INSERT INTO post_ref")
		rows, err := tx.QueryContext(ctx, q.sel)
		if err != nil {
			return err
		}
		type key struct {
			ds    int64
			k     postKey
			valid bool
		}
		var cur key
		var offs []uint16
		write := func() error {
			if !cur.valid || len(offs) == 0 {
				return nil
			}
			args := []any{cur.ds, cur.k.param, cur.k.a, cur.k.b}
			if !ref {
				args = append(args, cur.k.c)
			}
			_, err := ins.ExecContext(ctx, append(args, cur.k.chunk, encodeChunk(offs))...)
			offs = offs[:0]
			return err
		}
		for rows.Next() {
			var next key
			var rpk int64
			if err := rows.Scan(&next.ds, &next.k.param, &next.k.a, &next.k.b, &next.k.c, &rpk); err != nil {
				rows.Close()
				return err
			}
			next.k.chunk, next.valid = rpk>>chunkShift, true
			if next != cur {
				if err := write(); err != nil {
					rows.Close()
					return err
				}
				cur = next
			}
			offs = append(offs, uint16(rpk&(chunkSize-1)))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := write(); err != nil {
			return err
		}
	}
	// The entries of each resource.
	rows, err := tx.QueryContext(ctx, `SELECT rpk, 0, param, code, system, text FROM idx_token
		UNION ALL SELECT rpk, 1, param, ref_id, ref_type, '' FROM idx_ref ORDER BY 1`)
	if err != nil {
		return err
	}
	upd, err := tx.PrepareContext(ctx, "UPDATE resources SET ix = ? WHERE pk = ?")
	if err != nil {
		rows.Close()
		return err
	}
	defer upd.Close()
	var es []ixEntry
	last := int64(-1)
	flush := func() error {
		if len(es) == 0 {
			return nil
		}
		_, err := upd.ExecContext(ctx, encodeIx(es), last)
		es = es[:0]
		return err
	}
	for rows.Next() {
		var rpk int64
		var e ixEntry
		if err := rows.Scan(&rpk, &e.ref, &e.param, &e.a, &e.b, &e.c); err != nil {
			rows.Close()
			return err
		}
		if rpk != last {
			if err := flush(); err != nil {
				rows.Close()
				return err
			}
			last = rpk
		}
		es = append(es, e)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "DROP TABLE idx_token; DROP TABLE idx_ref")
	return err
}
