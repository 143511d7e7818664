package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// rebuildBatch is how many resources a rebuild reads at a time.
const rebuildBatch = 1000

// RegisterSummarizer keeps sm's rows from now on and rebuilds them, in one
// write transaction, when the file's rows were made by another
// derivation.
func (s *Store) RegisterSummarizer(ctx context.Context, sm store.Summarizer) error {
	if err := s.sums.Register(sm); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	fp := store.SummaryFingerprint(sm)
	err := inTx(ctx, s.w, nil, func(tx *sql.Tx) error {
		var have string
		err := tx.QueryRowContext(ctx, "SELECT fingerprint FROM summary_kinds WHERE kind = ?", sm.Kind).Scan(&have)
		if err == nil && have == fp {
			return nil
		}
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM idx_summary WHERE kind = ?", sm.Kind); err != nil {
			return err
		}
		after := ""
		for {
			rows, err := tx.QueryContext(ctx, "SELECT id, body FROM resources WHERE type = ? AND NOT deleted AND id > ? ORDER BY id LIMIT ?", sm.Type, after, rebuildBatch)
			if err != nil {
				return err
			}
			var b insertBuilder
			b.reset("idx_summary (res_type, res_id, kind, key, at, data)", 6)
			type pending struct {
				id  string
				row sqlsearch.SummaryRow
			}
			var out []pending
			n := 0
			for rows.Next() {
				var id, body string
				if err := rows.Scan(&id, &body); err != nil {
					rows.Close()
					return err
				}
				n++
				after = id
				r, err := fhir.ParseResource([]byte(body))
				if err != nil {
					rows.Close()
					return fmt.Errorf("%s/%s: %w", sm.Type, id, err)
				}
				for _, x := range sqlsearch.SummaryRowsOf(sm, r) {
					out = append(out, pending{id, x})
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			// A few hundred rows a statement keeps under SQLite's limit
			// on bound variables.
			for i := 0; i < len(out); i += 500 {
				b.reset("idx_summary (res_type, res_id, kind, key, at, data)", 6)
				for _, p := range out[i:min(i+500, len(out))] {
					b.row(sm.Type, p.id, p.row.Kind, p.row.Key, p.row.At, p.row.Data)
				}
				if err := b.exec(ctx, tx); err != nil {
					return err
				}
			}
			if n < rebuildBatch {
				break
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO summary_kinds (kind, fingerprint) VALUES (?, ?)
			ON CONFLICT (kind) DO UPDATE SET fingerprint = excluded.fingerprint, built_at = CURRENT_TIMESTAMP`, sm.Kind, fp)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: summary %s: %w", sm.Kind, err)
	}
	return nil
}

// ScanSummaries reads the rows q selects, in at order.
func (s *Store) ScanSummaries(ctx context.Context, q store.SummaryQuery, fn func(key string, at time.Time, data string) error) error {
	if len(q.Keys) == 0 {
		return nil
	}
	to := int64(1<<63 - 1)
	if !q.To.IsZero() {
		to = q.To.UnixMicro()
	}
	args := []any{q.Kind, q.From.UnixMicro(), to}
	for _, k := range q.Keys {
		args = append(args, k)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT key, at, data FROM idx_summary WHERE kind = ? AND at >= ? AND at < ? AND key IN (?"+strings.Repeat(",?", len(q.Keys)-1)+") ORDER BY at", args...)
	if err != nil {
		return internal(err, "read summary %s", q.Kind)
	}
	defer rows.Close()
	for rows.Next() {
		var key, data string
		var at int64
		if err := rows.Scan(&key, &at, &data); err != nil {
			return internal(err, "read summary %s", q.Kind)
		}
		if err := fn(key, time.UnixMicro(at).UTC(), data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return internal(err, "read summary %s", q.Kind)
	}
	return nil
}
