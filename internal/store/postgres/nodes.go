package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The pieces that let several nodes share one database: job wake-ups (LISTEN/NOTIFY) and a
// leader lock. Each holds a connection of its own, outside the pool.

// channel is the notification channel of the deployment's job changes.
func (s *Store) channel() string { return fmt.Sprintf("fhirlake_jobs_%08x", uint32(s.ns)) }

// notifySQL is the statement that wakes every node's engine when the transaction it runs in
// commits (PostgreSQL delivers notifications at commit, once per distinct payload).
func (s *Store) notifySQL() string { return "SELECT pg_notify('" + s.channel() + "', '')" }

// WatchJobs calls notify whenever another node (or this one) submits a job, finishes one or hands
// one back, until ctx ends. It listens on a connection of its own and reconnects after losing it
// (calling notify then, as a notification may have been missed); onErr is told why, once per
// failure.
func (s *Store) WatchJobs(ctx context.Context, notify func(), onErr func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, notify, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		onErr(fmt.Errorf("job notifications: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen runs one LISTEN session until its connection fails or ctx ends.
func (s *Store) listen(ctx context.Context, notify, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+s.channel()); err != nil {
		return err
	}
	connected()
	// Whatever was sent before LISTEN took effect is found by looking once now.
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		notify()
	}
}

// leader holds the deployment's leader lock: a session advisory lock on a connection of its own,
// which PostgreSQL releases when that connection ends (the node stopped, died or lost the
// database). A node that is not the leader keeps its connection and tries again at each call.
type leader struct {
	mu   sync.Mutex
	conn *pgx.Conn
	held bool
}

// Lead reports whether this node is the deployment's leader, the one node that runs data store
// lifecycle work, taking the lock when no node holds it. A leader that lost its connection stops
// being one at its next call.
func (s *Store) Lead(ctx context.Context) bool {
	l := &s.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig.Copy())
		if err != nil {
			return false
		}
		l.conn, l.held = conn, false
	}
	var err error
	if l.held {
		_, err = l.conn.Exec(ctx, "SELECT 1")
	} else {
		err = l.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", s.ns, lockLeader).Scan(&l.held)
	}
	if err != nil {
		l.conn.Close(context.WithoutCancel(ctx))
		l.conn, l.held = nil, false
	}
	return l.held
}

// close gives up the leader lock.
func (l *leader) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn, l.held = nil, false
	}
}
