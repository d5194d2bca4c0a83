package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// effectiveStatus is the SQL expression of a store's status with due transitions applied, so reads are
// exact even between two DatastoreAdvance sweeps. Its single parameter is now in milliseconds.
const effectiveStatus = `CASE WHEN status = 'CREATING' AND ready_at <= ?1 THEN 'ACTIVE'
	WHEN status = 'DELETING' AND ready_at <= ?1 THEN 'DELETED' ELSE status END`

const datastoreCols = `id, account, region, name, ` + effectiveStatus + `, created_at, ready_at, type_version,
	config, error_cause, client_token, request_hash`

func scanDatastore(sc interface{ Scan(...any) error }) (store.Datastore, error) {
	var d store.Datastore
	var created, ready int64
	var status string
	err := sc.Scan(&d.ID, &d.AccountID, &d.Region, &d.Name, &status, &created, &ready, &d.TypeVersion,
		&d.Config, &d.ErrorCause, &d.ClientToken, &d.RequestHash)
	d.Status = store.DatastoreStatus(status)
	d.CreatedAt, d.ReadyAt = fromMS(created), fromMS(ready)
	return d, err
}

// DatastoreCreate implements store.Store.
func (s *Store) DatastoreCreate(ctx context.Context, d store.Datastore, tags []store.Tag, limit int) (store.Datastore, bool, error) {
	var got store.Datastore
	created := false
	now := ms(time.Now())
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if d.ClientToken != "" {
			row := tx.QueryRowContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE account = ?2 AND region = ?3 AND client_token = ?4",
				now, d.AccountID, d.Region, d.ClientToken)
			existing, err := scanDatastore(row)
			if err == nil {
				got = existing
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if limit > 0 {
			// The write transaction holds SQLite's only write lock, so no concurrent create can
			// slip in between this count and the insert.
			var live int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM datastores WHERE account = ?2 AND region = ?3 AND ("+
				effectiveStatus+") <> 'DELETED'", now, d.AccountID, d.Region).Scan(&live); err != nil {
				return fmt.Errorf("count datastores: %w", err)
			}
			if live >= limit {
				return fmt.Errorf("%d live datastores, limit %d: %w", live, limit, store.ErrLimitExceeded)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO datastores (id, account, region, name, status, created_at, ready_at,
			type_version, config, error_cause, client_token, request_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			d.ID, d.AccountID, d.Region, d.Name, string(d.Status), ms(d.CreatedAt), ms(d.ReadyAt), d.TypeVersion,
			d.Config, d.ErrorCause, d.ClientToken, d.RequestHash)
		if err != nil {
			return fmt.Errorf("insert datastore: %w", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO tags (ds, key, value) VALUES (?,?,?)", seq, t.Key, t.Value); err != nil {
				return fmt.Errorf("insert tag: %w", err)
			}
		}
		row := tx.QueryRowContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE seq = ?2", now, seq)
		got, err = scanDatastore(row)
		created = true
		return err
	})
	return got, created, err
}

// DatastoreGet implements store.Store.
func (s *Store) DatastoreGet(ctx context.Context, t store.Tenant, id string) (store.Datastore, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE id = ?2 AND account = ?3 AND region = ?4",
		ms(time.Now()), id, t.AccountID, t.Region)
	d, err := scanDatastore(row)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

// DatastoreList implements store.Store.
func (s *Store) DatastoreList(ctx context.Context, p store.DatastoreListParams) ([]store.Datastore, error) {
	where := []string{"account = ?2", "region = ?3"}
	args := []any{ms(time.Now()), p.AccountID, p.Region}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("?%d", len(args))))
	}
	if p.Name != "" {
		add("name = ?", p.Name)
	}
	if p.Status != "" {
		args = append(args, string(p.Status))
		where = append(where, fmt.Sprintf("(%s) = ?%d", effectiveStatus, len(args)))
	}
	if p.CreatedBefore != nil {
		add("created_at < ?", ms(*p.CreatedBefore))
	}
	if p.CreatedAfter != nil {
		add("created_at > ?", ms(*p.CreatedAfter))
	}
	if p.After != nil {
		args = append(args, ms(p.After.Time), p.After.ID)
		n := len(args)
		where = append(where, fmt.Sprintf("(created_at < ?%d OR (created_at = ?%d AND id > ?%d))", n-1, n-1, n))
	}
	args = append(args, p.Limit)
	q := "SELECT " + datastoreCols + " FROM datastores WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY created_at DESC, id LIMIT ?%d", len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list datastores: %w", err)
	}
	return collect(rows, scanDatastore)
}

// DatastoreDelete implements store.Store.
func (s *Store) DatastoreDelete(ctx context.Context, t store.Tenant, id string, readyAt time.Time) (store.Datastore, error) {
	var got store.Datastore
	now := ms(time.Now())
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE id = ?2 AND account = ?3 AND region = ?4",
			now, id, t.AccountID, t.Region)
		d, err := scanDatastore(row)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if d.Status != store.DatastoreActive && d.Status != store.DatastoreCreateFailed {
			return fmt.Errorf("datastore %s is %s: %w", id, d.Status, store.ErrConflict)
		}
		var running int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE ds = (SELECT seq FROM datastores WHERE id = ?)
			AND status IN ('SUBMITTED','QUEUED','IN_PROGRESS','CANCEL_SUBMITTED','CANCEL_IN_PROGRESS')`, id).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return fmt.Errorf("datastore %s has %d unfinished jobs: %w", id, running, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE datastores SET status = 'DELETING', ready_at = ? WHERE id = ?", ms(readyAt), id); err != nil {
			return err
		}
		row = tx.QueryRowContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE id = ?2", now, id)
		got, err = scanDatastore(row)
		return err
	})
	return got, err
}

// DatastoreCreating implements store.Store.
func (s *Store) DatastoreCreating(ctx context.Context) ([]store.Datastore, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE status = 'CREATING' AND ready_at > ?1 ORDER BY seq", ms(time.Now()))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanDatastore)
}

// DatastoreSetReady implements store.Store.
func (s *Store) DatastoreSetReady(ctx context.Context, id string, readyAt time.Time) error {
	res, err := s.w.ExecContext(ctx, "UPDATE datastores SET ready_at = ? WHERE id = ? AND status = 'CREATING' AND ready_at > ?", ms(readyAt), id, ms(time.Now()))
	if err != nil {
		return classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("datastore %s is not CREATING: %w", id, store.ErrConflict)
	}
	return nil
}

// DatastoreAdvance implements store.Store. Purging the resources of a deleted store happens in the
// same transaction as its status change, so a restart never leaves a DELETED store with data.
func (s *Store) DatastoreAdvance(ctx context.Context, now time.Time) ([]store.Datastore, error) {
	n := ms(now)
	var activated []store.Datastore
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE status = 'CREATING' AND ready_at <= ?1", n)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDatastore(rows)
			if err != nil {
				rows.Close()
				return err
			}
			activated = append(activated, d)
		}
		rows.Close()
		if _, err := tx.ExecContext(ctx, "UPDATE datastores SET status = 'ACTIVE' WHERE status = 'CREATING' AND ready_at <= ?", n); err != nil {
			return err
		}
		var dead []int64
		drows, err := tx.QueryContext(ctx, "SELECT seq FROM datastores WHERE status = 'DELETING' AND ready_at <= ?", n)
		if err != nil {
			return err
		}
		for drows.Next() {
			var seq int64
			if err := drows.Scan(&seq); err != nil {
				drows.Close()
				return err
			}
			dead = append(dead, seq)
		}
		drows.Close()
		for _, seq := range dead {
			for _, q := range []string{
				"DELETE FROM resources WHERE ds = ?",
				"DELETE FROM resource_history WHERE ds = ?",
				"DELETE FROM idx_string WHERE ds = ?",
				"DELETE FROM post_token WHERE ds = ?",
				"DELETE FROM post_ref WHERE ds = ?",
				"DELETE FROM idx_date WHERE ds = ?",
				"DELETE FROM idx_number WHERE ds = ?",
				"DELETE FROM idx_uri WHERE ds = ?",
				"DELETE FROM idempotency_keys WHERE ds = ?",
				"UPDATE datastores SET status = 'DELETED' WHERE seq = ?",
			} {
				if _, err := tx.ExecContext(ctx, q, seq); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return activated, err
}

// TagsPut implements store.Store.
func (s *Store) TagsPut(ctx context.Context, t store.Tenant, datastoreID string, tags []store.Tag) error {
	return s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		seq, err := tenantSeq(ctx, tx, t, datastoreID)
		if err != nil {
			return err
		}
		for _, tag := range tags {
			if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO tags (ds, key, value) VALUES (?,?,?)", seq, tag.Key, tag.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// TagsDelete implements store.Store.
func (s *Store) TagsDelete(ctx context.Context, t store.Tenant, datastoreID string, keys []string) error {
	return s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		seq, err := tenantSeq(ctx, tx, t, datastoreID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE ds = ? AND key = ?", seq, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// TagsList implements store.Store.
func (s *Store) TagsList(ctx context.Context, t store.Tenant, datastoreID string) ([]store.Tag, error) {
	seq, err := tenantSeq(ctx, s.r, t, datastoreID)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT key, value FROM tags WHERE ds = ? ORDER BY key", seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Tag{}
	for rows.Next() {
		var tag store.Tag
		if err := rows.Scan(&tag.Key, &tag.Value); err != nil {
			return nil, err
		}
		out = append(out, tag)
	}
	return out, rows.Err()
}
