package sqlite

import (
	"context"
	"strings"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// indexTables are the search index tables, for deleting a resource's rows.
var indexTables = []string{"idx_token", "idx_string", "idx_reference", "idx_date", "idx_number", "idx_quantity", "idx_uri"}

// deleteIndex removes every index row of a resource, and its summary rows
// when its type is summarised.
func deleteIndex(ctx context.Context, tx dbtx, typ, id string, summarized bool) error {
	tables := indexTables
	if summarized {
		tables = append(tables[:len(tables):len(tables)], "idx_summary")
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE res_type = ? AND res_id = ?", typ, id); err != nil {
			return err
		}
	}
	return nil
}

// insertIndex writes a version's index rows, one multi-row INSERT per
// table that has any. SQLite runs in-process, so statements cost no round
// trip; fewer, larger statements still save the per-statement preparing.
func insertIndex(ctx context.Context, tx dbtx, typ, id string, rows *sqlsearch.Rows) error {
	var b insertBuilder
	b.reset("idx_token (res_type, res_id, param, system, code, text, type_system, type_code)", 8)
	for _, t := range rows.Tokens {
		b.row(typ, id, t.Param, t.System, t.Code, t.Text, t.TypeSystem, t.TypeCode)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_string (res_type, res_id, param, value, exact)", 5)
	for _, s := range rows.Strings {
		b.row(typ, id, s.Param, s.Value, s.Exact)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_reference (res_type, res_id, param, base, target_type, target_id, version, url, id_system, id_value, res_status, res_date_low, res_date_high)", 13)
	var low, high any
	if rows.HasDate {
		low, high = rows.DateLow, rows.DateHigh
	}
	for _, r := range rows.References {
		b.row(typ, id, r.Param, r.Base, null(r.Type), null(r.ID), r.Version, r.URL, r.IdentifierSystem, null(r.IdentifierValue), null(rows.Status), low, high)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_date (res_type, res_id, param, low, high)", 5)
	for _, d := range rows.Dates {
		b.row(typ, id, d.Param, d.Low, d.High)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_number (res_type, res_id, param, value, low, high)", 6)
	for _, n := range rows.Numbers {
		b.row(typ, id, n.Param, realOf(n.Value), realOf(n.Low), realOf(n.High))
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_quantity (res_type, res_id, param, value, low, high, system, code, unit)", 9)
	for _, q := range rows.Quantities {
		b.row(typ, id, q.Param, realOf(q.Value), realOf(q.Low), realOf(q.High), q.System, q.Code, q.Unit)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	b.reset("idx_uri (res_type, res_id, param, value)", 4)
	for _, u := range rows.URIs {
		b.row(typ, id, u.Param, u.Value)
	}
	if err := b.exec(ctx, tx); err != nil {
		return err
	}
	// The writer is serialised, so a rebuild never races a write here,
	// and Summarizers.Rows makes keys distinct.
	b.reset("idx_summary (res_type, res_id, kind, key, at, data)", 6)
	for _, x := range rows.Summaries {
		b.row(typ, id, x.Kind, x.Key, x.At, x.Data)
	}
	return b.exec(ctx, tx)
}

// null is NULL for an empty string.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// realOf is a decimal as a REAL, NULL for an unbounded end.
func realOf(d search.Decimal) any {
	if d.IsUnbounded() {
		return nil
	}
	return d.Float64()
}

// insertBuilder accumulates one multi-row INSERT.
type insertBuilder struct {
	sql  strings.Builder
	args []any
	cols int
	n    int
	head string
}

func (b *insertBuilder) reset(head string, cols int) {
	b.sql.Reset()
	b.args = b.args[:0]
	b.cols, b.n, b.head = cols, 0, head
}

func (b *insertBuilder) row(vals ...any) {
	if b.n == 0 {
		b.sql.WriteString("INSERT INTO " + b.head + " VALUES ")
	} else {
		b.sql.WriteByte(',')
	}
	b.sql.WriteByte('(')
	for i := range b.cols {
		if i > 0 {
			b.sql.WriteByte(',')
		}
		b.sql.WriteByte('?')
	}
	b.sql.WriteByte(')')
	b.args = append(b.args, vals...)
	b.n++
}

func (b *insertBuilder) exec(ctx context.Context, tx dbtx) error {
	if b.n == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, b.sql.String(), b.args...)
	return err
}
