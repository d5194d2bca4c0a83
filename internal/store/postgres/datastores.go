package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/store"
)

// effectiveStatus is the SQL expression of a store's status with due transitions applied on the
// database's clock, so reads are exact even between two DatastoreAdvance sweeps and every node
// sees a store turn ACTIVE at the same moment.
const effectiveStatus = `CASE WHEN status = 'CREATING' AND ready_at <= ` + dbNow + ` THEN 'ACTIVE'
	WHEN status = 'DELETING' AND ready_at <= ` + dbNow + ` THEN 'DELETED' ELSE status END`

const datastoreCols = `id, account, region, name, ` + effectiveStatus + `, created_at, ready_at, type_version,
	config, error_cause, client_token, request_hash`

func scanDatastore(row pgx.Row) (store.Datastore, error) {
	var d store.Datastore
	var created, ready int64
	var status string
	err := row.Scan(&d.ID, &d.AccountID, &d.Region, &d.Name, &status, &created, &ready, &d.TypeVersion,
		&d.Config, &d.ErrorCause, &d.ClientToken, &d.RequestHash)
	d.Status = store.DatastoreStatus(status)
	d.CreatedAt, d.ReadyAt = fromMS(created), fromMS(ready)
	return d, err
}

func collectDatastores(rows pgx.Rows, err error) ([]store.Datastore, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Datastore, error) { return scanDatastore(r) })
}

// DatastoreCreate implements store.Store. With a limit, creates of one tenant serialise on the
// tenant's advisory lock, so the count they check cannot change before they insert; concurrent
// creates with one ClientToken meet at the datastores_token unique index (or the lock), and one
// inserts while the others return its store.
func (s *Store) DatastoreCreate(ctx context.Context, d store.Datastore, tags []store.Tag, limit int) (store.Datastore, bool, error) {
	var got store.Datastore
	created := false
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		created = false
		if limit > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.tenantKey(d.Tenant)); err != nil {
				return fmt.Errorf("lock tenant: %w", err)
			}
		}
		replay := func() (bool, error) {
			if d.ClientToken == "" {
				return false, nil
			}
			var err error
			got, err = scanDatastore(tx.QueryRow(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE account = $1 AND region = $2 AND client_token = $3",
				d.AccountID, d.Region, d.ClientToken))
			if errors.Is(err, pgx.ErrNoRows) {
				return false, nil
			}
			return err == nil, err
		}
		if ok, err := replay(); ok || err != nil {
			return err
		}
		if limit > 0 {
			var live int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM datastores WHERE account = $1 AND region = $2 AND ("+effectiveStatus+") <> 'DELETED'",
				d.AccountID, d.Region).Scan(&live); err != nil {
				return fmt.Errorf("count datastores: %w", err)
			}
			if live >= limit {
				return fmt.Errorf("%d live datastores, limit %d: %w", live, limit, store.ErrLimitExceeded)
			}
		}
		var seq int64
		err := tx.QueryRow(ctx, `INSERT INTO datastores (id, account, region, name, status, created_at, ready_at,
			type_version, config, error_cause, client_token, request_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
			ON CONFLICT (account, region, client_token) WHERE client_token <> '' DO NOTHING RETURNING seq`,
			d.ID, d.AccountID, d.Region, d.Name, string(d.Status), ms(d.CreatedAt), ms(d.ReadyAt), d.TypeVersion,
			d.Config, d.ErrorCause, d.ClientToken, d.RequestHash).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			// A create with the same token committed since the lookup.
			if ok, err := replay(); ok || err != nil {
				return err
			}
			return fmt.Errorf("datastore token %s: %w", d.ClientToken, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert datastore: %w", err)
		}
		for _, t := range tags {
			if _, err := tx.Exec(ctx, "INSERT INTO tags (ds, key, value) VALUES ($1, $2, $3) ON CONFLICT (ds, key) DO UPDATE SET value = excluded.value",
				seq, t.Key, t.Value); err != nil {
				return fmt.Errorf("insert tag: %w", err)
			}
		}
		got, err = scanDatastore(tx.QueryRow(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE seq = $1", seq))
		created = true
		return err
	})
	return got, created, err
}

// DatastoreGet implements store.Store.
func (s *Store) DatastoreGet(ctx context.Context, t store.Tenant, id string) (store.Datastore, error) {
	d, err := scanDatastore(s.pool.QueryRow(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE id = $1 AND account = $2 AND region = $3",
		id, t.AccountID, t.Region))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

// DatastoreList implements store.Store.
func (s *Store) DatastoreList(ctx context.Context, p store.DatastoreListParams) ([]store.Datastore, error) {
	var b sqlBuilder
	b.w("SELECT "+datastoreCols+" FROM datastores WHERE account = ? AND region = ?", p.AccountID, p.Region)
	if p.Name != "" {
		b.w(" AND name = ?", p.Name)
	}
	if p.Status != "" {
		b.w(" AND ("+effectiveStatus+") = ?", string(p.Status))
	}
	if p.CreatedBefore != nil {
		b.w(" AND created_at < ?", ms(*p.CreatedBefore))
	}
	if p.CreatedAfter != nil {
		b.w(" AND created_at > ?", ms(*p.CreatedAfter))
	}
	if p.After != nil {
		k := ms(p.After.Time)
		b.w(" AND (created_at < ? OR (created_at = ? AND id > ?))", k, k, p.After.ID)
	}
	b.w(" ORDER BY created_at DESC, id LIMIT ?", p.Limit)
	rows, err := s.pool.Query(ctx, b.sql(), b.args...)
	return collectDatastores(rows, err)
}

// DatastoreDelete implements store.Store.
func (s *Store) DatastoreDelete(ctx context.Context, t store.Tenant, id string, readyAt time.Time) (store.Datastore, error) {
	var got store.Datastore
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		d, err := scanDatastore(tx.QueryRow(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE id = $1 AND account = $2 AND region = $3 FOR UPDATE",
			id, t.AccountID, t.Region))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("datastore %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if d.Status != store.DatastoreActive && d.Status != store.DatastoreCreateFailed {
			return fmt.Errorf("datastore %s is %s: %w", id, d.Status, store.ErrConflict)
		}
		// Resource writes in flight finish first; later ones see DELETING and write nothing.
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM datastores WHERE id = $1", id).Scan(&seq); err != nil {
			return err
		}
		if err := s.lockDatastore(ctx, tx, seq); err != nil {
			return err
		}
		var running int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE ds = (SELECT seq FROM datastores WHERE id = $1)
			AND status IN `+activeStatuses, id).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return fmt.Errorf("datastore %s has %d unfinished jobs: %w", id, running, store.ErrConflict)
		}
		got, err = scanDatastore(tx.QueryRow(ctx, "UPDATE datastores SET status = 'DELETING', ready_at = $1 WHERE id = $2 RETURNING "+datastoreCols,
			ms(readyAt), id))
		return err
	})
	return got, err
}

// DatastoreCreating implements store.Store.
func (s *Store) DatastoreCreating(ctx context.Context) ([]store.Datastore, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+datastoreCols+" FROM datastores WHERE status = 'CREATING' AND ready_at > "+dbNow+" ORDER BY seq")
	return collectDatastores(rows, err)
}

// DatastoreSetReady implements store.Store.
func (s *Store) DatastoreSetReady(ctx context.Context, id string, readyAt time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE datastores SET ready_at = $1 WHERE id = $2 AND status = 'CREATING' AND ready_at > "+dbNow,
		ms(readyAt), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("datastore %s is not CREATING: %w", id, store.ErrConflict)
	}
	return nil
}

// DatastoreAdvance implements store.Store. now is taken on the database's clock (see dbTime).
// Each transition is one conditional UPDATE, so nodes advancing at the same time apply it once;
// the purge of a deleted store happens in the transaction of its status change, under the store's
// write lock.
func (s *Store) DatastoreAdvance(ctx context.Context, now time.Time) ([]store.Datastore, error) {
	n := offset(now)
	var activated []store.Datastore
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		activated, err = collectDatastores(tx.Query(ctx, "UPDATE datastores SET status = 'ACTIVE' WHERE status = 'CREATING' AND ready_at <= "+dbTime("$1")+" RETURNING "+datastoreCols, n))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT seq FROM datastores WHERE status = 'DELETING' AND ready_at <= "+dbTime("$1")+" ORDER BY seq FOR UPDATE SKIP LOCKED", n)
		if err != nil {
			return err
		}
		dead, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, seq := range dead {
			if err := s.lockDatastore(ctx, tx, seq); err != nil {
				return err
			}
			for _, q := range []string{
				"DELETE FROM resources WHERE ds = $1",
				"DELETE FROM resource_history WHERE ds = $1",
				"DELETE FROM idx_string WHERE ds = $1",
				"DELETE FROM idx_date WHERE ds = $1",
				"DELETE FROM idx_number WHERE ds = $1",
				"DELETE FROM idx_uri WHERE ds = $1",
				"DELETE FROM idempotency_keys WHERE ds = $1",
				"UPDATE datastores SET status = 'DELETED' WHERE seq = $1",
			} {
				if _, err := tx.Exec(ctx, q, seq); err != nil {
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
	return s.withTx(ctx, func(tx pgx.Tx) error {
		seq, err := tenantSeq(ctx, tx, t, datastoreID)
		if err != nil {
			return err
		}
		for _, tag := range tags {
			if _, err := tx.Exec(ctx, "INSERT INTO tags (ds, key, value) VALUES ($1, $2, $3) ON CONFLICT (ds, key) DO UPDATE SET value = excluded.value",
				seq, tag.Key, tag.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// TagsDelete implements store.Store.
func (s *Store) TagsDelete(ctx context.Context, t store.Tenant, datastoreID string, keys []string) error {
	seq, err := tenantSeq(ctx, s.pool, t, datastoreID)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "DELETE FROM tags WHERE ds = $1 AND key = ANY($2)", seq, keys)
	return err
}

// TagsList implements store.Store.
func (s *Store) TagsList(ctx context.Context, t store.Tenant, datastoreID string) ([]store.Tag, error) {
	seq, err := tenantSeq(ctx, s.pool, t, datastoreID)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT key, value FROM tags WHERE ds = $1 ORDER BY key", seq)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Tag, error) {
		var tag store.Tag
		return tag, r.Scan(&tag.Key, &tag.Value)
	})
	if out == nil && err == nil {
		out = []store.Tag{}
	}
	return out, err
}
