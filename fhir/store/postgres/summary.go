package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// summaryLock is the advisory lock class of summary rebuilds ("smry"); the
// second key is the kind's hash.
const summaryLock = 0x736d7279

// rebuildBatch is how many resources a rebuild reads at a time.
const rebuildBatch = 1000

// RegisterSummarizer keeps sm's rows from now on and rebuilds them when
// the database's rows were made by another derivation. The rebuild runs
// in one transaction under an advisory lock, so processes starting
// together rebuild once; writes meanwhile keep their own rows (a write's
// insert overwrites a rebuilt row, a rebuilt row never overwrites a
// write's).
func (s *Store) RegisterSummarizer(ctx context.Context, sm store.Summarizer) error {
	if err := s.sums.Register(sm); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	fp := store.SummaryFingerprint(sm)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", summaryLock, sm.Kind); err != nil {
			return err
		}
		var have string
		err := tx.QueryRow(ctx, "SELECT fingerprint FROM summary_kinds WHERE kind = $1", sm.Kind).Scan(&have)
		if err == nil && have == fp {
			return nil
		}
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM idx_summary WHERE kind = $1", sm.Kind); err != nil {
			return err
		}
		after := ""
		for {
			rows, err := tx.Query(ctx, "SELECT id, body FROM resources WHERE type = $1 AND NOT deleted AND id > $2 ORDER BY id LIMIT $3", sm.Type, after, rebuildBatch)
			if err != nil {
				return err
			}
			var ids, kinds, keys, data []string
			var ats []int64
			n := 0
			for rows.Next() {
				var id string
				var body []byte
				if err := rows.Scan(&id, &body); err != nil {
					rows.Close()
					return err
				}
				n++
				after = id
				r, err := fhir.ParseResource(body)
				if err != nil {
					rows.Close()
					return fmt.Errorf("%s/%s: %w", sm.Type, id, err)
				}
				for _, x := range sqlsearch.SummaryRowsOf(sm, r) {
					ids, kinds, keys, ats, data = append(ids, id), append(kinds, x.Kind), append(keys, x.Key), append(ats, x.At), append(data, x.Data)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(ids) > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO idx_summary (res_type, res_id, kind, key, at, data)
					SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[]) u
					ON CONFLICT DO NOTHING`, sm.Type, ids, kinds, keys, ats, data); err != nil {
					return err
				}
			}
			if n < rebuildBatch {
				break
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO summary_kinds (kind, fingerprint) VALUES ($1, $2)
			ON CONFLICT (kind) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, built_at = now()`, sm.Kind, fp)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: summary %s: %w", sm.Kind, err)
	}
	return nil
}

// ScanSummaries reads the rows q selects, in at order.
func (s *Store) ScanSummaries(ctx context.Context, q store.SummaryQuery, fn func(key string, at time.Time, data string) error) error {
	to := int64(1<<63 - 1)
	if !q.To.IsZero() {
		to = q.To.UnixMicro()
	}
	keys := q.Keys
	if keys == nil {
		keys = []string{}
	}
	rows, err := s.pool.Query(ctx, "SELECT key, at, data FROM idx_summary WHERE kind = $1 AND key = ANY($2) AND at >= $3 AND at < $4 ORDER BY at",
		q.Kind, keys, q.From.UnixMicro(), to)
	if err != nil {
		return internal(err, "read summary %s", q.Kind)
	}
	defer rows.Close()
	var key, data string
	var at int64
	var fnErr error
	_, err = pgx.ForEachRow(rows, []any{&key, &at, &data}, func() error {
		fnErr = fn(key, time.UnixMicro(at).UTC(), data)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return internal(err, "read summary %s", q.Kind)
	}
	return nil
}
