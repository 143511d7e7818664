package sqlite

import (
	"context"
	"database/sql"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// Search finds resources; see store.Tx. A search that reads more than one
// statement (a total, includes, a later page's snapshot) reads them in one
// read transaction, one WAL snapshot, so the total agrees with the page and
// a later page with what changed since the first.
func (s *Store) Search(ctx context.Context, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	if !page.Total && page.Cursor == "" && (q == nil || len(q.Include)+len(q.RevInclude) == 0) {
		return s.search(ctx, s.r, q, page)
	}
	var out store.SearchPage
	err := inTx(ctx, s.r, &sql.TxOptions{ReadOnly: true}, func(tx *sql.Tx) error {
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
	out, err := sqlsearch.Search(ctx, querier{db}, sqlsearch.Options{Dialect: sqlsearch.SQLite, BaseURL: s.baseURL}, q, page)
	if err != nil {
		return store.SearchPage{}, internal(err, "search")
	}
	return out, nil
}

// querier runs sqlsearch's queries on database/sql, binding times as the
// integer microseconds and decimals as the REALs the tables hold.
type querier struct{ db dbtx }

func (q querier) Query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	a := make([]any, len(args))
	for i, x := range args {
		switch v := x.(type) {
		case sqlsearch.Timestamp:
			a[i] = int64(v)
		case search.Decimal:
			a[i] = v.Float64()
		default:
			a[i] = x
		}
	}
	rows, err := q.db.QueryContext(ctx, query, a...)
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

// Exec runs a statement of sqlsearch's on database/sql: with Query, a
// sqlsearch.SummaryTx.
func (q querier) Exec(ctx context.Context, query string, args ...any) error {
	_, err := q.db.ExecContext(ctx, query, args...)
	return err
}
