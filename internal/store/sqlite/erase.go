package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fhirlake/fhirlake/internal/store"
)

// ResourceErase implements store.Store.
func (s *Store) ResourceErase(ctx context.Context, p store.EraseParams) (int64, error) {
	var erased int64
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if p.JobID != "" {
			if err := checkLease(ctx, tx, p.JobID, p.LeaseToken); err != nil {
				return err
			}
		}
		ds, status, err := dsState(ctx, tx, nil, p.DatastoreID)
		if err != nil {
			return err
		}
		if status != store.DatastoreActive && status != store.DatastoreCreating {
			return &store.NotActiveError{ID: p.DatastoreID, Status: status}
		}
		idx, err := prepareIndexStmts(ctx, s, tx)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer idx.close()
		idx.postings.ds = ds
		for _, k := range p.Keys {
			n, err := eraseOne(ctx, tx, idx, ds, k)
			if err != nil {
				return err
			}
			erased += n
		}
		if err := idx.flush(ctx); err != nil {
			return fmt.Errorf("erase: index: %w", err)
		}
		if p.JobID != "" {
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET progress = COALESCE(?, progress), checkpoint = COALESCE(?, checkpoint),
				lease_expires = ? WHERE id = ?`, nilIfEmpty(p.Progress), nilIfEmpty(p.Checkpoint), ms(p.LeaseExpires), p.JobID)
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
func eraseOne(ctx context.Context, tx *sql.Tx, idx *indexStmts, ds int64, k store.ResourceKey) (int64, error) {
	var pk, version int64
	var ix []byte
	err := tx.QueryRowContext(ctx, "SELECT pk, version, ix FROM resources WHERE ds = ? AND type = ? AND id = ?", ds, k.Type, k.ID).Scan(&pk, &version, &ix)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("erase %s/%s: %w", k.Type, k.ID, err)
	}
	if k.Version > 0 {
		if k.Version == version {
			return 0, fmt.Errorf("erase %s/%s/_history/%d: the current version: %w", k.Type, k.ID, k.Version, store.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM resource_history WHERE ds = ? AND type = ? AND id = ? AND version = ?", ds, k.Type, k.ID, k.Version)
		if err != nil {
			return 0, fmt.Errorf("erase %s/%s/_history/%d: %w", k.Type, k.ID, k.Version, err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	// The row-kind entries go now; the token and reference entries (ix) leave their posting
	// rows when the postings are flushed.
	if err := idx.clear(ctx, pk); err != nil {
		return 0, fmt.Errorf("erase %s/%s: index: %w", k.Type, k.ID, err)
	}
	if err := idx.postings.change(pk, ix, nil); err != nil {
		return 0, fmt.Errorf("erase %s/%s: index: %w", k.Type, k.ID, err)
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM resource_history WHERE ds = ? AND type = ? AND id = ?", ds, k.Type, k.ID)
	if err != nil {
		return 0, fmt.Errorf("erase %s/%s: history: %w", k.Type, k.ID, err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, "DELETE FROM resources WHERE pk = ?", pk); err != nil {
		return 0, fmt.Errorf("erase %s/%s: %w", k.Type, k.ID, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE ds = ? AND type = ? AND id = ?", ds, k.Type, k.ID); err != nil {
		return 0, fmt.Errorf("erase %s/%s: idempotency keys: %w", k.Type, k.ID, err)
	}
	return n + 1, nil
}
