package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// RegisterSummarizer keeps sm's rows from now on and rebuilds them, in one
// write transaction, when the file's rows were made by another
// derivation (sqlsearch.RebuildSummaries).
func (s *Store) RegisterSummarizer(ctx context.Context, sm store.Summarizer) error {
	if err := s.sums.Register(sm); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	err := inTx(ctx, s.w, nil, func(tx *sql.Tx) error { return sqlsearch.RebuildSummaries(ctx, querier{tx}, sm) })
	if err != nil {
		return fmt.Errorf("sqlite: summary %s: %w", sm.Kind, err)
	}
	return nil
}

// ScanSummaries reads the rows q selects, in at order.
func (s *Store) ScanSummaries(ctx context.Context, q store.SummaryQuery, fn func(key string, at time.Time, data string) error) error {
	return sqlsearch.ScanSummaries(ctx, "sqlite", querier{s.r}, q, fn)
}
