package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyMin is the number of rows from which a table's rows go in through COPY; fewer rows take a
// multi-row INSERT queued in the transaction's batch (one round trip for all small tables).
const copyMin = 64

// rowSet collects rows for one table, row-major, ncols values per row.
type rowSet struct {
	table string
	cols  []string
	vals  []any
}

func newRowSet(table string, cols ...string) *rowSet { return &rowSet{table: table, cols: cols} }

func (r *rowSet) add(vals ...any) { r.vals = append(r.vals, vals...) }

func (r *rowSet) rows() int { return len(r.vals) / len(r.cols) }

// flush writes the rows: through COPY when there are many, else as an INSERT queued on b (sent
// by the caller).
func (r *rowSet) flush(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	n, nc := r.rows(), len(r.cols)
	switch {
	case n == 0:
		return nil
	case n >= copyMin:
		_, err := tx.CopyFrom(ctx, pgx.Identifier{r.table}, r.cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return r.vals[i*nc : (i+1)*nc], nil
		}))
		if err != nil {
			return fmt.Errorf("copy into %s: %w", r.table, err)
		}
	default:
		var q strings.Builder
		q.WriteString("INSERT INTO " + r.table + " (" + strings.Join(r.cols, ", ") + ") VALUES ")
		for i := 0; i < n; i++ {
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

// sendBatch sends the queued statements and checks each result.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}
