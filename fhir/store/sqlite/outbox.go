package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

var _ store.Outbox = (*Store)(nil)

const outboxColumns = "id, endpoint_key, task_id, seq, payload, status, attempts, next_attempt_at, last_error, created_at, delivered_at, request_id"

// Enqueue adds d after the Task's last delivery; the writer's lock makes
// the seq safe.
func (t *tx) Enqueue(ctx context.Context, d store.Delivery) error { return enqueue(ctx, t.db, d) }

func enqueue(ctx context.Context, db dbtx, d store.Delivery) error {
	if d.TaskID == "" || d.Endpoint == "" || len(d.Payload) == 0 {
		return fmt.Errorf("sqlite: enqueue: a delivery needs a Task, an endpoint and a payload")
	}
	now := time.Now().UnixMicro()
	_, err := db.ExecContext(ctx, `INSERT INTO outbox (endpoint_key, task_id, seq, payload, next_attempt_at, created_at, request_id)
		SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4, ?4, ?5 FROM outbox WHERE task_id = ?2`,
		d.Endpoint, d.TaskID, string(d.Payload), now, d.RequestID)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue for Task/%s: %w", d.TaskID, err)
	}
	return nil
}

// Claim takes due heads of Task queues (see store.Outbox) in one writing
// transaction: the writer's lock serialises claimers of every process on
// the file, which is what SKIP LOCKED does for PostgreSQL.
func (s *Store) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := inTx(ctx, s.w, nil, func(stx *sql.Tx) error {
		rows, err := stx.QueryContext(ctx, `UPDATE outbox SET status = 'in-flight', attempts = attempts + 1, next_attempt_at = ?3
			WHERE id IN (
				SELECT o.id FROM outbox o
				WHERE o.status IN ('pending', 'in-flight') AND o.next_attempt_at <= ?1
				  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id AND e.seq < o.seq AND e.status <> 'delivered')
				ORDER BY o.next_attempt_at, o.task_id, o.seq
				LIMIT ?2)
			RETURNING `+outboxColumns, now.UnixMicro(), limit, now.Add(lease).UnixMicro())
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	return out, nil
}

// Renew extends a claim's lease if the claim still holds (same attempt,
// still in flight); the writer's lock orders it against claimers.
func (s *Store) Renew(ctx context.Context, d store.Delivery, until time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?3
		WHERE id = ?1 AND attempts = ?2 AND status = 'in-flight'`, d.ID, d.Attempts, until.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("sqlite: renew the claim of delivery %d: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) MarkDelivered(ctx context.Context, d store.Delivery, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET status = 'delivered', delivered_at = ?3, last_error = ''
		WHERE id = ?1 AND attempts = ?2 AND status = 'in-flight'`, d.ID, d.Attempts, at.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("sqlite: mark delivery %d delivered: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) MarkFailed(ctx context.Context, d store.Delivery, cause string, retryAt time.Time, dead bool) (bool, error) {
	status := store.DeliveryPending
	if dead {
		status = store.DeliveryDead
	}
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET status = ?3, last_error = ?4, next_attempt_at = ?5
		WHERE id = ?1 AND attempts = ?2 AND status = 'in-flight'`, d.ID, d.Attempts, string(status), cause, retryAt.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("sqlite: mark delivery %d failed: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE status = 'dead' ORDER BY created_at, id LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: dead letters: %w", err)
	}
	return scanDeliveries(rows)
}

func (s *Store) Deliveries(ctx context.Context, taskID string) ([]store.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE task_id = ? ORDER BY seq", taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries of Task/%s: %w", taskID, err)
	}
	return scanDeliveries(rows)
}

func (s *Store) Requeue(ctx context.Context, id int64, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2
		WHERE id = ?1 AND status = 'dead'`, id, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: requeue delivery %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: requeue delivery %d: %w", id, err)
	} else if n == 0 {
		return fhir.Errorf(fhir.CodeNotFound, "no dead delivery %d", id)
	}
	return nil
}

// OutboxStats counts undelivered deliveries by status and finds the
// oldest still to be sent (the partial index on undelivered rows serves it).
func (s *Store) OutboxStats(ctx context.Context) (store.OutboxStats, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*), min(created_at) FROM outbox WHERE status <> 'delivered' GROUP BY status`)
	if err != nil {
		return store.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	defer rows.Close()
	out := store.OutboxStats{Depth: map[store.DeliveryStatus]int64{}}
	for rows.Next() {
		var status string
		var n, oldest int64
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return store.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
		}
		st := store.DeliveryStatus(status)
		out.Depth[st] = n
		t := time.UnixMicro(oldest).UTC()
		if (st == store.DeliveryPending || st == store.DeliveryInFlight) && (out.OldestPending.IsZero() || t.Before(out.OldestPending)) {
			out.OldestPending = t
		}
	}
	if err := rows.Err(); err != nil {
		return store.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	return out, nil
}

func scanDeliveries(rows *sql.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var payload, status string
		var next, created, delivered int64
		if err := rows.Scan(&d.ID, &d.Endpoint, &d.TaskID, &d.Seq, &payload, &status, &d.Attempts, &next, &d.LastError, &created, &delivered, &d.RequestID); err != nil {
			return nil, err
		}
		d.Payload, d.Status = []byte(payload), store.DeliveryStatus(status)
		d.NextAttemptAt, d.CreatedAt = time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC()
		if delivered != 0 {
			d.DeliveredAt = time.UnixMicro(delivered).UTC()
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
