package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/store"
)

const activeStatuses = `('SUBMITTED','QUEUED','IN_PROGRESS','CANCEL_SUBMITTED','CANCEL_IN_PROGRESS')`

const jobCols = `j.id, j.kind, d.id, d.account, d.region, j.name, j.status, j.submit_time, j.end_time, j.client_token,
	j.request_hash, j.params, j.message, j.progress, j.checkpoint, j.lease_owner, j.lease_token, j.lease_expires, j.attempts`

const jobFrom = ` FROM jobs j JOIN datastores d ON d.seq = j.ds `

func scanJob(row pgx.Row) (store.Job, error) {
	var j store.Job
	var kind, status string
	var submit, end, lease int64
	err := row.Scan(&j.ID, &kind, &j.DatastoreID, &j.AccountID, &j.Region, &j.Name, &status, &submit, &end,
		&j.ClientToken, &j.RequestHash, &j.Params, &j.Message, &j.Progress, &j.Checkpoint, &j.LeaseOwner, &j.LeaseToken, &lease, &j.Attempts)
	j.Kind, j.Status = store.JobKind(kind), store.JobStatus(status)
	j.SubmitTime, j.EndTime, j.LeaseExpires = fromMS(submit), fromMS(end), fromMS(lease)
	return j, err
}

// jobBySeq reads one job by its integer key.
func jobBySeq(ctx context.Context, q querier, seq int64) (store.Job, error) {
	return scanJob(q.QueryRow(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.seq = $1", seq))
}

// JobCreate implements store.Store. It locks the store's row, which serialises the job creates of
// one store (so a job behind another is QUEUED exactly) and orders them with DatastoreDelete (so no
// job is created on a store being deleted).
func (s *Store) JobCreate(ctx context.Context, j store.Job) (store.Job, bool, error) {
	var got store.Job
	created := false
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		created = false
		ds, status, err := dsState(ctx, tx, &j.Tenant, j.DatastoreID, "FOR NO KEY UPDATE")
		if err != nil {
			return err
		}
		if j.ClientToken != "" {
			got, err = scanJob(tx.QueryRow(ctx, "SELECT "+jobCols+jobFrom+"WHERE j.ds = $1 AND j.kind = $2 AND j.client_token = $3",
				ds, string(j.Kind), j.ClientToken))
			if err == nil || !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if status != store.DatastoreActive {
			return &store.NotActiveError{ID: j.DatastoreID, Status: status}
		}
		var seq int64
		err = tx.QueryRow(ctx, `INSERT INTO jobs (id, kind, ds, name, status, submit_time, client_token, request_hash, params)
			SELECT $1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE ds = $3 AND kind = $2 AND status IN `+activeStatuses+`)
				THEN 'QUEUED' ELSE 'SUBMITTED' END, $5, $6, $7, $8 RETURNING seq`,
			j.ID, string(j.Kind), ds, j.Name, ms(j.SubmitTime), j.ClientToken, j.RequestHash, j.Params).Scan(&seq)
		if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		if got, err = jobBySeq(ctx, tx, seq); err != nil {
			return err
		}
		created = true
		_, err = tx.Exec(ctx, s.notifySQL())
		return err
	})
	return got, created, err
}

// JobGet implements store.Store.
func (s *Store) JobGet(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string) (store.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, "SELECT "+jobCols+jobFrom+
		"WHERE j.id = $1 AND j.kind = $2 AND d.id = $3 AND d.account = $4 AND d.region = $5",
		id, string(kind), datastoreID, t.AccountID, t.Region))
	if errors.Is(err, pgx.ErrNoRows) {
		return j, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return j, err
}

// JobList implements store.Store. Every filter combination is served by one of the jobs_list*
// indexes: (ds, kind[, status | name], submit_time DESC, id).
func (s *Store) JobList(ctx context.Context, p store.JobListParams) ([]store.Job, error) {
	ds, err := tenantSeq(ctx, s.pool, p.Tenant, p.DatastoreID)
	if err != nil {
		return nil, err
	}
	var b sqlBuilder
	b.w("SELECT "+jobCols+jobFrom+"WHERE j.ds = ? AND j.kind = ?", ds, string(p.Kind))
	if p.Name != "" {
		b.w(" AND j.name = ?", p.Name)
	}
	if p.Status != "" {
		b.w(" AND j.status = ?", string(p.Status))
	}
	if p.SubmittedBefore != nil {
		b.w(" AND j.submit_time < ?", ms(*p.SubmittedBefore))
	}
	if p.SubmittedAfter != nil {
		b.w(" AND j.submit_time > ?", ms(*p.SubmittedAfter))
	}
	if p.After != nil {
		k := ms(p.After.Time)
		b.w(" AND (j.submit_time < ? OR (j.submit_time = ? AND j.id > ?))", k, k, p.After.ID)
	}
	b.w(" ORDER BY j.submit_time DESC, j.id LIMIT ?", p.Limit)
	rows, err := s.pool.Query(ctx, b.sql(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r) })
}

// JobClaim implements store.Store. p.Now and the lease are taken on the database's clock (see
// dbTime), which every node shares. The runnable job is found and leased in one statement; FOR
// UPDATE SKIP LOCKED lets nodes claiming at the same time take different jobs instead of
// queueing behind each other, and the jobs_one_running index refuses a second leased job of one
// store and kind whatever happens.
func (s *Store) JobClaim(ctx context.Context, p store.JobClaimParams) (store.Job, error) {
	var got store.Job
	if len(p.Kinds) == 0 {
		return got, fmt.Errorf("no job kinds: %w", store.ErrNotFound)
	}
	kinds := make([]string, len(p.Kinds))
	for i, k := range p.Kinds {
		kinds[i] = string(k)
	}
	token, err := newLeaseToken()
	if err != nil {
		return got, err
	}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `WITH next AS (
				SELECT j.seq FROM jobs j WHERE j.kind = ANY($1) AND j.status IN `+activeStatuses+`
				AND (j.status IN ('SUBMITTED','QUEUED') OR j.lease_expires < `+dbTime("$2")+`)
				AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.ds = j.ds AND e.kind = j.kind AND e.seq < j.seq AND e.status IN `+activeStatuses+`)
				ORDER BY j.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
			UPDATE jobs SET status = CASE WHEN status IN ('SUBMITTED','QUEUED') THEN 'IN_PROGRESS' ELSE status END,
				lease_owner = $3, lease_token = $4, lease_expires = `+dbTime("$5")+`, attempts = attempts + 1
			FROM next WHERE jobs.seq = next.seq RETURNING jobs.seq`,
			kinds, offset(p.Now), p.Owner, token, offset(p.Now.Add(p.Lease))).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no runnable job: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("claim job: %w", err)
		}
		got, err = jobBySeq(ctx, tx, seq)
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
// terminal, and locks the job row until the end of tx so that no claim or cancel changes it
// meanwhile.
func checkLease(ctx context.Context, tx pgx.Tx, id, token string) error {
	var cur, status string
	err := tx.QueryRow(ctx, "SELECT lease_token, status FROM jobs WHERE id = $1 FOR UPDATE", id).Scan(&cur, &status)
	if errors.Is(err, pgx.ErrNoRows) {
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

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// JobProgress implements store.Store. An expiry that has passed hands the job back: every node
// is woken to claim it.
func (s *Store) JobProgress(ctx context.Context, p store.JobProgressParams) error {
	off := offset(p.LeaseExpires)
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, p.ID, p.LeaseToken); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET progress = COALESCE($1, progress), checkpoint = COALESCE($2, checkpoint),
			lease_expires = `+dbTime("$3")+` WHERE id = $4`, nilIfEmpty(p.Progress), nilIfEmpty(p.Checkpoint), off, p.ID)
		if err == nil && off <= 0 {
			_, err = tx.Exec(ctx, s.notifySQL())
		}
		return err
	})
}

// JobFinish implements store.Store. Before an import ends, the planner statistics of the tables
// it grew are refreshed (see analyzeGrown), so that searches run on good plans as soon as the job
// is COMPLETED rather than when autovacuum next looks.
func (s *Store) JobFinish(ctx context.Context, p store.JobFinishParams) error {
	if err := classify(s.analyzeGrown(ctx)); errors.Is(err, store.ErrUnavailable) {
		return err
	} // Other failures leave the statistics to autovacuum: they are an optimisation.
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, p.ID, p.LeaseToken); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET status = $1, message = $2, progress = COALESCE($3, progress),
			end_time = $4, lease_owner = '', lease_token = '', lease_expires = 0 WHERE id = $5`,
			string(p.Status), p.Message, nilIfEmpty(p.Progress), ms(p.EndTime), p.ID)
		if err == nil {
			// What the worker staged until its last step goes with the terminal write.
			_, err = tx.Exec(ctx, "DELETE FROM report_chunks WHERE job_id = $1", p.ID)
		}
		if err == nil {
			// The next job of the store may run now.
			_, err = tx.Exec(ctx, s.notifySQL())
		}
		return err
	})
}

// JobReleaseAll implements store.Store. With several nodes it also takes the jobs of live nodes
// from them (their next writes fail); the service calls it only on a store of its own (SQLite).
func (s *Store) JobReleaseAll(ctx context.Context) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE jobs SET lease_owner = '', lease_token = '', lease_expires = 0 WHERE status IN "+activeStatuses+" AND lease_token <> ''"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.notifySQL())
		return err
	})
}

// JobSetStatus implements store.Store. A terminal status also drops the lease.
func (s *Store) JobSetStatus(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string,
	from []store.JobStatus, to store.JobStatus) (store.Job, error) {
	var got store.Job
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		var status string
		err := tx.QueryRow(ctx, `SELECT j.seq, j.status`+jobFrom+
			"WHERE j.id = $1 AND j.kind = $2 AND d.id = $3 AND d.account = $4 AND d.region = $5 FOR UPDATE OF j",
			id, string(kind), datastoreID, t.AccountID, t.Region).Scan(&seq, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("job %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || store.JobStatus(status) == f
		}
		if !ok {
			return fmt.Errorf("job %s is %s: %w", id, status, store.ErrConflict)
		}
		if to.Terminal() {
			_, err = tx.Exec(ctx, "UPDATE jobs SET status = $1, end_time = $2, lease_owner = '', lease_token = '', lease_expires = 0 WHERE seq = $3",
				string(to), ms(time.Now()), seq)
		} else {
			_, err = tx.Exec(ctx, "UPDATE jobs SET status = $1, end_time = 0 WHERE seq = $2", string(to), seq)
		}
		if err != nil {
			return err
		}
		if got, err = jobBySeq(ctx, tx, seq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.notifySQL())
		return err
	})
	return got, err
}
