package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// Search finds resources; see store.Tx. A search that reads more than one
// statement (a total, includes, a later page's snapshot) reads them in one
// REPEATABLE READ snapshot, so the total agrees with the page, includes
// with the matches and a later page with what changed since the first; a
// plain first page is one statement and needs no transaction.
func (s *Store) Search(ctx context.Context, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	if !page.Total && page.Cursor == "" && (q == nil || len(q.Include)+len(q.RevInclude) == 0) {
		return s.search(ctx, s.pool, q, page)
	}
	var out store.SearchPage
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = s.search(ctx, tx, q, page)
		return err
	})
	if err != nil {
		return store.SearchPage{}, internal(err, "search")
	}
	return out, nil
}

func (s *Store) search(ctx context.Context, db dbtx, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	out, err := sqlsearch.Search(ctx, querier{db}, sqlsearch.Options{Dialect: sqlsearch.Postgres, BaseURL: s.baseURL}, q, page)
	if err != nil {
		return store.SearchPage{}, internal(err, "search")
	}
	return out, nil
}

// querier runs sqlsearch's queries on pgx.
type querier struct{ db dbtx }

// Query binds sqlsearch's argument types as the columns want them and
// runs the query as a prepared statement (pgx's statement cache, one per
// connection and search shape). Planning a search costs about as much as
// running it, so the saving is worth having; sqlsearch writes the SQL so
// that the plan's shape (which condition drives, which index each join
// uses) does not depend on the values, which is what makes PostgreSQL's
// switch to a generic plan after five executions safe.
func (q querier) Query(ctx context.Context, sql string, args []any, row func(scan func(dest ...any) error) error) error {
	a := make([]any, 0, len(args)+1)
	a = append(a, pgx.QueryExecModeCacheStatement)
	for _, x := range args {
		switch v := x.(type) {
		case sqlsearch.Timestamp:
			a = append(a, time.UnixMicro(int64(v)).UTC())
		case search.Decimal:
			a = append(a, string(v))
		default:
			a = append(a, x)
		}
	}
	rows, err := q.db.Query(ctx, sqlsearch.Rebind(sql), a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Exec runs a statement of sqlsearch's (? placeholders) on pgx: with
// Query, a sqlsearch.SummaryTx.
func (q querier) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := q.db.Exec(ctx, sqlsearch.Rebind(sql), args...)
	return err
}
