package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

const activeStatuses = `('SUBMITTED','QUEUED','IN_PROGRESS','CANCEL_SUBMITTED','CANCEL_IN_PROGRESS')`

const jobCols = `j.id, j.kind, d.id, d.account, d.region, j.name, j.status, j.submit_time, j.end_time, j.client_token,
	j.request_hash, j.params, j.message, j.progress, j.checkpoint, j.lease_owner, j.lease_token, j.lease_expires, j.attempts`

const jobFrom = ` FROM jobs j JOIN datastores d ON d.seq = j.ds `

func scanJob(sc interface{ Scan(...any) error }) (store.Job, error) {
	var j store.Job
	var kind, status string
	var submit, end, lease int64
	err := sc.Scan(&j.ID, &kind, &j.DatastoreID, &j.AccountID, &j.Region, &j.Name, &status, &submit, &end,
		&j.ClientToken, &j.RequestHash, &j.Params, &j.Message, &j.Progress, &j.Checkpoint, &j.LeaseOwner, &j.LeaseToken, &lease, &j.Attempts)
	j.Kind, j.Status = store.JobKind(kind), store.JobStatus(status)
	j.SubmitTime, j.EndTime, j.LeaseExpires = fromMS(submit), fromMS(end), fromMS(lease)
	return j, err
}

// JobCreate implements store.Store.
func (s *Store) JobCreate(ctx context.Context, j store.Job) (store.Job, bool, error) {
	var got store.Job
	created := false
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		seq, dsStatus, err := dsState(ctx, tx, &j.Tenant, j.DatastoreID)
		if err != nil {
			return err
		}
		if j.ClientToken != "" {
			row := tx.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.ds = ? AND j.kind = ? AND j.client_token = ?",
				seq, string(j.Kind), j.ClientToken)
			existing, err := scanJob(row)
			if err == nil {
				got = existing
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// DatastoreDelete refuses a store with unfinished jobs in its own transaction, so checking
		// the state here, in the write lock, means no job is ever created on a store being deleted.
		if dsStatus != store.DatastoreActive {
			return &store.NotActiveError{ID: j.DatastoreID, Status: dsStatus}
		}
		// A job behind an unfinished one of its store and kind waits in the queue from the start.
		status := store.JobSubmitted
		var waiting bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM jobs WHERE ds = ? AND kind = ? AND status IN "+activeStatuses+")",
			seq, string(j.Kind)).Scan(&waiting); err != nil {
			return fmt.Errorf("find unfinished jobs: %w", err)
		}
		if waiting {
			status = store.JobQueued
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, ds, name, status, submit_time, client_token,
			request_hash, params) VALUES (?,?,?,?,?,?,?,?,?)`,
			j.ID, string(j.Kind), seq, j.Name, string(status), ms(j.SubmitTime), j.ClientToken,
			j.RequestHash, j.Params); err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		got, err = scanJob(tx.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.id = ?", j.ID))
		created = true
		return err
	})
	return got, created, err
}

// JobGet implements store.Store.
func (s *Store) JobGet(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string) (store.Job, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+
		"WHERE j.id = ? AND j.kind = ? AND d.id = ? AND d.account = ? AND d.region = ?",
		id, string(kind), datastoreID, t.AccountID, t.Region)
	j, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return j, err
}

// JobList implements store.Store. Every filter combination is served by one of the jobs_list*
// indexes: (ds, kind[, status | name], submit_time DESC, id).
func (s *Store) JobList(ctx context.Context, p store.JobListParams) ([]store.Job, error) {
	seq, err := tenantSeq(ctx, s.r, p.Tenant, p.DatastoreID)
	if err != nil {
		return nil, err
	}
	where := []string{"j.ds = ?", "j.kind = ?"}
	args := []any{seq, string(p.Kind)}
	if p.Name != "" {
		where, args = append(where, "j.name = ?"), append(args, p.Name)
	}
	if p.Status != "" {
		where, args = append(where, "j.status = ?"), append(args, string(p.Status))
	}
	if p.SubmittedBefore != nil {
		where, args = append(where, "j.submit_time < ?"), append(args, ms(*p.SubmittedBefore))
	}
	if p.SubmittedAfter != nil {
		where, args = append(where, "j.submit_time > ?"), append(args, ms(*p.SubmittedAfter))
	}
	if p.After != nil {
		k := ms(p.After.Time)
		where = append(where, "(j.submit_time < ? OR (j.submit_time = ? AND j.id > ?))")
		args = append(args, k, k, p.After.ID)
	}
	args = append(args, p.Limit)
	q := "SELECT " + jobCols + jobFrom + "WHERE " + strings.Join(where, " AND ") + " ORDER BY j.submit_time DESC, j.id LIMIT ?"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return collect(rows, scanJob)
}

// JobClaim implements store.Store.
func (s *Store) JobClaim(ctx context.Context, p store.JobClaimParams) (store.Job, error) {
	var got store.Job
	if len(p.Kinds) == 0 {
		return got, fmt.Errorf("no job kinds: %w", store.ErrNotFound)
	}
	kinds := make([]string, len(p.Kinds))
	args := []any{}
	for i, k := range p.Kinds {
		kinds[i] = "?"
		args = append(args, string(k))
	}
	inKinds := "(" + strings.Join(kinds, ",") + ")"
	now := ms(p.Now)
	token, err := newLeaseToken()
	if err != nil {
		return got, err
	}
	err = s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		q := `SELECT j.seq FROM jobs j WHERE j.kind IN ` + inKinds + ` AND j.status IN ` + activeStatuses + `
			AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.ds = j.ds AND e.kind = j.kind AND e.seq < j.seq AND e.status IN ` + activeStatuses + `)
			AND (j.status IN ('SUBMITTED','QUEUED') OR j.lease_expires < ?)
			ORDER BY j.seq LIMIT 1`
		var seq int64
		err := tx.QueryRowContext(ctx, q, append(args, now)...).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no runnable job: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("find runnable job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET
			status = CASE WHEN status IN ('SUBMITTED','QUEUED') THEN 'IN_PROGRESS' ELSE status END,
			lease_owner = ?, lease_token = ?, lease_expires = ?, attempts = attempts + 1 WHERE seq = ?`,
			p.Owner, token, ms(p.Now.Add(p.Lease)), seq); err != nil {
			return fmt.Errorf("claim job: %w", err)
		}
		got, err = scanJob(tx.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.seq = ?", seq))
		return err
	})
	return got, err
}

// newLeaseToken returns a fencing token for one claim: 128 random bits, so no two claims share one.
func newLeaseToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// checkLease verifies inside tx that token is the job's current lease token and the job is not
// terminal, so a claim that was taken over writes nothing.
func checkLease(ctx context.Context, tx *sql.Tx, id, token string) error {
	var cur string
	var status string
	err := tx.QueryRowContext(ctx, "SELECT lease_token, status FROM jobs WHERE id = ?", id).Scan(&cur, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if token == "" || cur != token || store.JobStatus(status).Terminal() {
		return fmt.Errorf("job %s: %w", id, store.ErrLeaseLost)
	}
	return nil
}

// JobProgress implements store.Store.
func (s *Store) JobProgress(ctx context.Context, p store.JobProgressParams) error {
	return s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := checkLease(ctx, tx, p.ID, p.LeaseToken); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET progress = COALESCE(?, progress), checkpoint = COALESCE(?, checkpoint),
			lease_expires = ? WHERE id = ?`, nilIfEmpty(p.Progress), nilIfEmpty(p.Checkpoint), ms(p.LeaseExpires), p.ID)
		return err
	})
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// JobFinish implements store.Store.
func (s *Store) JobFinish(ctx context.Context, p store.JobFinishParams) error {
	return s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := checkLease(ctx, tx, p.ID, p.LeaseToken); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, message = ?, progress = COALESCE(?, progress),
			end_time = ?, lease_owner = '', lease_token = '', lease_expires = 0 WHERE id = ?`,
			string(p.Status), p.Message, nilIfEmpty(p.Progress), ms(p.EndTime), p.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM report_chunks WHERE job_id = ?", p.ID); err != nil {
			return fmt.Errorf("drop staged reports: %w", err)
		}
		return nil
	})
}

// JobReleaseAll implements store.Store.
func (s *Store) JobReleaseAll(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, "UPDATE jobs SET lease_owner = '', lease_token = '', lease_expires = 0 WHERE status IN "+activeStatuses)
	return classify(err)
}

// JobSetStatus implements store.Store.
func (s *Store) JobSetStatus(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string,
	from []store.JobStatus, to store.JobStatus) (store.Job, error) {
	var got store.Job
	err := s.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+
			"WHERE j.id = ? AND j.kind = ? AND d.id = ? AND d.account = ? AND d.region = ?",
			id, string(kind), datastoreID, t.AccountID, t.Region)
		j, err := scanJob(row)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || j.Status == f
		}
		if !ok {
			return fmt.Errorf("job %s is %s: %w", id, j.Status, store.ErrConflict)
		}
		end := int64(0)
		if to.Terminal() {
			end = ms(time.Now())
		}
		if _, err := tx.ExecContext(ctx, "UPDATE jobs SET status = ?, end_time = ? WHERE id = ?", string(to), end, id); err != nil {
			return err
		}
		got, err = scanJob(tx.QueryRowContext(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.id = ?", id))
		return err
	})
	return got, err
}
