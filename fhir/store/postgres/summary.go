package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// summaryLock is the advisory lock class of summary rebuilds ("smry"); the
// second key is the kind's hash.
const summaryLock = 0x736d7279

// RegisterSummarizer keeps sm's rows from now on and rebuilds them when
// the database's rows were made by another derivation
// (sqlsearch.RebuildSummaries). The rebuild runs in one transaction under
// an advisory lock, so processes starting together rebuild once.
func (s *Store) RegisterSummarizer(ctx context.Context, sm store.Summarizer) error {
	if err := s.sums.Register(sm); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", summaryLock, sm.Kind); err != nil {
			return err
		}
		return sqlsearch.RebuildSummaries(ctx, querier{tx}, sm)
	})
	if err != nil {
		return fmt.Errorf("postgres: summary %s: %w", sm.Kind, err)
	}
	return nil
}

// ScanSummaries reads the rows q selects, in at order.
func (s *Store) ScanSummaries(ctx context.Context, q store.SummaryQuery, fn func(key string, at time.Time, data string) error) error {
	return sqlsearch.ScanSummaries(ctx, "postgres", querier{s.pool}, q, fn)
}
