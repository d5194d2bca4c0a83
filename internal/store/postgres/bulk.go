package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyMin is the number of rows from which a table's rows go in through COPY; fewer rows take a
// multi-row INSERT queued in the transaction's batch (one round trip for all small tables).
const copyMin = 64

// rowSet collects rows for one table. Values are appended column by column with the typed
// methods, straight into the binary COPY format (so an import's millions of index values are
// never boxed), and, while the set is smaller than copyMin, also as arguments of a multi-row
// INSERT. The column types must be those of the table: bigint (i8), integer (i4), double
// precision (f8), boolean, text, bytea and text[].
type rowSet struct {
	table string
	cols  []string
	n     int    // rows
	buf   []byte // the tuples in COPY's binary format
	vals  []any  // the same values while n < copyMin
}

func newRowSet(table string, cols ...string) *rowSet { return &rowSet{table: table, cols: cols} }

func (r *rowSet) rows() int { return r.n }

// grow makes room for n more bytes of tuples, so that a large set is not copied as it grows.
func (r *rowSet) grow(n int) { r.buf = slices.Grow(r.buf, n) }

// row starts a row; the next len(cols) values fill it.
func (r *rowSet) row() *rowSet {
	r.n++
	r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(len(r.cols)))
	return r
}

func (r *rowSet) keep(v any) {
	if r.n <= copyMin {
		r.vals = append(r.vals, v)
	}
}

func (r *rowSet) field(n int) { r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(int32(n))) }

func (r *rowSet) i8(v int64) *rowSet {
	r.keep(v)
	r.field(8)
	r.buf = binary.BigEndian.AppendUint64(r.buf, uint64(v))
	return r
}

func (r *rowSet) i4(v int32) *rowSet {
	r.keep(v)
	r.field(4)
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(v))
	return r
}

func (r *rowSet) f8(v float64) *rowSet {
	r.keep(v)
	r.field(8)
	r.buf = binary.BigEndian.AppendUint64(r.buf, math.Float64bits(v))
	return r
}

func (r *rowSet) boolean(v bool) *rowSet {
	r.keep(v)
	r.field(1)
	if v {
		r.buf = append(r.buf, 1)
	} else {
		r.buf = append(r.buf, 0)
	}
	return r
}

func (r *rowSet) text(s string) *rowSet {
	r.keep(s)
	r.field(len(s))
	r.buf = append(r.buf, s...)
	return r
}

// bytea appends b, NULL when b is nil.
func (r *rowSet) bytea(b []byte) *rowSet {
	if b == nil {
		r.keep(nil)
		r.field(-1)
		return r
	}
	r.keep(b)
	r.field(len(b))
	r.buf = append(r.buf, b...)
	return r
}

// textOID is the type of text[] elements in the binary array format.
const textOID = 25

// texts appends a one-dimensional text[], NULL when a is nil.
func (r *rowSet) texts(a []string) *rowSet {
	if a == nil {
		r.keep(nil)
		r.field(-1)
		return r
	}
	r.keep(a)
	size := 12
	if len(a) > 0 {
		size += 8
	}
	for _, s := range a {
		size += 4 + len(s)
	}
	r.field(size)
	dims := uint32(0)
	if len(a) > 0 {
		dims = 1
	}
	r.buf = binary.BigEndian.AppendUint32(r.buf, dims)
	r.buf = binary.BigEndian.AppendUint32(r.buf, 0) // no NULL elements
	r.buf = binary.BigEndian.AppendUint32(r.buf, textOID)
	if len(a) > 0 {
		r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(len(a)))
		r.buf = binary.BigEndian.AppendUint32(r.buf, 1) // lower bound
	}
	for _, s := range a {
		r.field(len(s))
		r.buf = append(r.buf, s...)
	}
	return r
}

// copyHeader and copyTrailer frame the tuples of a binary COPY.
var (
	copyHeader  = []byte("PGCOPY\n\377\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

// flush writes the rows: through COPY when there are many, else as an INSERT queued on b (sent
// by the caller).
func (r *rowSet) flush(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	switch {
	case r.n == 0:
		return nil
	case r.n >= copyMin:
		return r.copy(ctx, tx)
	default:
		nc := len(r.cols)
		var q strings.Builder
		q.WriteString("INSERT INTO " + r.table + " (" + strings.Join(r.cols, ", ") + ") VALUES ")
		for i := 0; i < r.n; i++ {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for c := 0; c < nc; c++ {
				if c > 0 {
					q.WriteByte(',')
				}
				q.WriteString("$" + strconv.Itoa(i*nc+c+1))
			}
			q.WriteByte(')')
		}
		b.Queue(q.String(), r.vals...)
	}
	return nil
}

// copy sends the rows with one binary COPY.
func (r *rowSet) copy(ctx context.Context, tx pgx.Tx) error {
	data := io.MultiReader(bytes.NewReader(copyHeader), bytes.NewReader(r.buf), bytes.NewReader(copyTrailer))
	cols := make([]string, len(r.cols))
	for i, c := range r.cols {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := "COPY " + pgx.Identifier{r.table}.Sanitize() + " (" + strings.Join(cols, ", ") + ") FROM STDIN (FORMAT binary)"
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, data, sql)
	if err != nil {
		return fmt.Errorf("copy into %s: %w", r.table, err)
	}
	if tag.RowsAffected() != int64(r.n) {
		return fmt.Errorf("copy into %s: %d rows of %d", r.table, tag.RowsAffected(), r.n)
	}
	return nil
}

// sendBatch sends the queued statements and checks each result.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}
