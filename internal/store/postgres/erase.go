package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fhirlake/fhirlake/internal/store"
)

// ResourceErase implements store.Store. It takes the data store's write lock, so it is ordered
// with every write and with a delete of the store.
func (s *Store) ResourceErase(ctx context.Context, p store.EraseParams) (int64, error) {
	var erased int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		erased = 0
		if p.JobID != "" {
			if err := checkLease(ctx, tx, p.JobID, p.LeaseToken); err != nil {
				return err
			}
		}
		ds, err := dsSeq(ctx, tx, p.DatastoreID)
		if err != nil {
			return err
		}
		if err := s.lockDatastore(ctx, tx, ds); err != nil {
			return err
		}
		if _, status, err := dsState(ctx, tx, nil, p.DatastoreID, ""); err != nil {
			return err
		} else if status != store.DatastoreActive && status != store.DatastoreCreating {
			return &store.NotActiveError{ID: p.DatastoreID, Status: status}
		}
		for _, k := range p.Keys {
			n, err := eraseOne(ctx, tx, ds, k)
			if err != nil {
				return err
			}
			erased += n
		}
		if p.JobID != "" {
			_, err := tx.Exec(ctx, `UPDATE jobs SET progress = COALESCE($1, progress), checkpoint = COALESCE($2, checkpoint),
				lease_expires = `+dbTime("$3")+` WHERE id = $4`, nilIfEmpty(p.Progress), nilIfEmpty(p.Checkpoint), offset(p.LeaseExpires), p.JobID)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return erased, nil
}

// eraseOne erases what one key names and returns the number of versions removed.
func eraseOne(ctx context.Context, tx pgx.Tx, ds int64, k store.ResourceKey) (int64, error) {
	var pk, version int64
	err := tx.QueryRow(ctx, "SELECT pk, version FROM resources WHERE ds = $1 AND type = $2 AND id = $3", ds, k.Type, k.ID).Scan(&pk, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("erase %s/%s: %w", k.Type, k.ID, err)
	}
	if k.Version > 0 {
		if k.Version == version {
			return 0, fmt.Errorf("erase %s/%s/_history/%d: the current version: %w", k.Type, k.ID, k.Version, store.ErrConflict)
		}
		tag, err := tx.Exec(ctx, "DELETE FROM resource_history WHERE ds = $1 AND type = $2 AND id = $3 AND version = $4", ds, k.Type, k.ID, k.Version)
		if err != nil {
			return 0, fmt.Errorf("erase %s/%s/_history/%d: %w", k.Type, k.ID, k.Version, err)
		}
		return tag.RowsAffected(), nil
	}
	// The token and reference entries go with the resource row.
	var b pgx.Batch
	for _, t := range indexTables {
		b.Queue("DELETE FROM "+t+" WHERE rpk = $1", pk)
	}
	b.Queue("DELETE FROM idempotency_keys WHERE ds = $1 AND type = $2 AND id = $3", ds, k.Type, k.ID)
	b.Queue("DELETE FROM resources WHERE pk = $1", pk)
	history := b.Queue("DELETE FROM resource_history WHERE ds = $1 AND type = $2 AND id = $3", ds, k.Type, k.ID)
	var n int64
	history.Exec(func(tag pgconn.CommandTag) error {
		n = tag.RowsAffected()
		return nil
	})
	if err := sendBatch(ctx, tx, &b); err != nil {
		return 0, fmt.Errorf("erase %s/%s: %w", k.Type, k.ID, err)
	}
	return n + 1, nil
}
