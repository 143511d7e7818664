package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

var _ store.Outbox = (*Store)(nil)

const (
	outboxColumns  = "id, endpoint_key, task_id, seq, payload::text, status, attempts, next_attempt_at, last_error, created_at, delivered_at, request_id"
	claimedColumns = "outbox.id, outbox.endpoint_key, outbox.task_id, outbox.seq, outbox.payload::text, outbox.status, outbox.attempts, outbox.next_attempt_at, outbox.last_error, outbox.created_at, outbox.delivered_at, outbox.request_id"
)

// Enqueue adds d after the Task's last delivery. The advisory lock on the
// Task's queue makes concurrent enqueuers for one Task take turns, so they
// cannot pick the same seq.
func (t *tx) Enqueue(ctx context.Context, d store.Delivery) error { return enqueue(ctx, t.db, d) }

func enqueue(ctx context.Context, db dbtx, d store.Delivery) error {
	if d.TaskID == "" || d.Endpoint == "" || len(d.Payload) == 0 {
		return fmt.Errorf("postgres: enqueue: a delivery needs a Task, an endpoint and a payload")
	}
	// Both statements may wait for the next round trip (pipe.go): they
	// run in this order, the lock first, whenever they go.
	if err := execLater(ctx, db, nil, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "outbox/"+d.TaskID); err != nil {
		return fmt.Errorf("postgres: enqueue: %w", err)
	}
	now := time.Now().UTC()
	err := execLater(ctx, db, nil, `INSERT INTO outbox (endpoint_key, task_id, seq, payload, next_attempt_at, created_at, request_id)
		SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3::json, $4, $4, $5 FROM outbox WHERE task_id = $2`,
		d.Endpoint, d.TaskID, string(d.Payload), now, d.RequestID)
	if err != nil {
		return fmt.Errorf("postgres: enqueue for Task/%s: %w", d.TaskID, err)
	}
	return nil
}

// Claim takes due heads of Task queues. SKIP LOCKED lets any number of
// claimers run at once: a row another claimer is taking is passed over,
// and the re-check PostgreSQL makes after locking a row (READ COMMITTED)
// drops one that a claimer committed in flight meanwhile. Heads only (no
// earlier delivery of the Task undelivered) is what keeps a Task's
// deliveries in order; among heads, the longest due goes first.
func (s *Store) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH heads AS (
			SELECT o.id FROM outbox o
			WHERE o.status IN ('pending', 'in-flight') AND o.next_attempt_at <= $1
			  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id AND e.seq < o.seq AND e.status <> 'delivered')
			ORDER BY o.next_attempt_at, o.task_id, o.seq
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE outbox SET status = 'in-flight', attempts = outbox.attempts + 1, next_attempt_at = $3
		FROM heads WHERE outbox.id = heads.id
		RETURNING `+claimedColumns, now.UTC(), limit, now.Add(lease).UTC())
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	out, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	return out, nil
}

// Renew extends a claim's lease if the claim still holds (same attempt,
// still in flight). The row lock orders it against a claimer: one that
// locked the row first makes the attempt count differ here; one that
// comes after re-checks next_attempt_at on the renewed row and passes it
// over.
func (s *Store) Renew(ctx context.Context, d store.Delivery, until time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = $3
		WHERE id = $1 AND attempts = $2 AND status = 'in-flight'`, d.ID, d.Attempts, until.UTC())
	if err != nil {
		return false, fmt.Errorf("postgres: renew the claim of delivery %d: %w", d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) MarkDelivered(ctx context.Context, d store.Delivery, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'delivered', delivered_at = $3, last_error = ''
		WHERE id = $1 AND attempts = $2 AND status = 'in-flight'`, d.ID, d.Attempts, at.UTC())
	if err != nil {
		return false, fmt.Errorf("postgres: mark delivery %d delivered: %w", d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) MarkFailed(ctx context.Context, d store.Delivery, cause string, retryAt time.Time, dead bool) (bool, error) {
	status := store.DeliveryPending
	if dead {
		status = store.DeliveryDead
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = $3, last_error = $4, next_attempt_at = $5
		WHERE id = $1 AND attempts = $2 AND status = 'in-flight'`, d.ID, d.Attempts, string(status), cause, retryAt.UTC())
	if err != nil {
		return false, fmt.Errorf("postgres: mark delivery %d failed: %w", d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE status = 'dead' ORDER BY created_at, id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: dead letters: %w", err)
	}
	return collectDeliveries(rows)
}

func (s *Store) Deliveries(ctx context.Context, taskID string) ([]store.Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE task_id = $1 ORDER BY seq", taskID)
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries of Task/%s: %w", taskID, err)
	}
	return collectDeliveries(rows)
}

func (s *Store) Requeue(ctx context.Context, id int64, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2
		WHERE id = $1 AND status = 'dead'`, id, now.UTC())
	if err != nil {
		return fmt.Errorf("postgres: requeue delivery %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fhir.Errorf(fhir.CodeNotFound, "no dead delivery %d", id)
	}
	return nil
}

// OutboxStats counts undelivered deliveries by status and finds the
// oldest still to be sent; the partial index on undelivered rows keeps it
// from scanning the delivered history.
func (s *Store) OutboxStats(ctx context.Context) (store.OutboxStats, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*), min(created_at) FROM outbox WHERE status <> 'delivered' GROUP BY status`)
	if err != nil {
		return store.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	defer rows.Close()
	out := store.OutboxStats{Depth: map[store.DeliveryStatus]int64{}}
	for rows.Next() {
		var status string
		var n int64
		var oldest time.Time
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return store.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
		}
		st := store.DeliveryStatus(status)
		out.Depth[st] = n
		if (st == store.DeliveryPending || st == store.DeliveryInFlight) && (out.OldestPending.IsZero() || oldest.Before(out.OldestPending)) {
			out.OldestPending = oldest.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return store.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	return out, nil
}

func collectDeliveries(rows pgx.Rows) ([]store.Delivery, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Delivery, error) {
		var d store.Delivery
		var payload, status string
		var delivered *time.Time
		err := row.Scan(&d.ID, &d.Endpoint, &d.TaskID, &d.Seq, &payload, &status, &d.Attempts, &d.NextAttemptAt, &d.LastError, &d.CreatedAt, &delivered, &d.RequestID)
		d.Payload, d.Status = []byte(payload), store.DeliveryStatus(status)
		if delivered != nil {
			d.DeliveredAt = delivered.UTC()
		}
		d.NextAttemptAt, d.CreatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC()
		return d, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return out, err
}
