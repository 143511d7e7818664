package sqlite

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// indexTables are the search index tables, for deleting a resource's rows.
var indexTables = []string{"idx_token", "idx_string", "idx_reference", "idx_date", "idx_number", "idx_quantity", "idx_uri"}

// deleteIndexSQL deletes a resource's rows of table t.
func deleteIndexSQL(t string) string {
	return "DELETE FROM " + t + " WHERE res_type = ? AND res_id = ?"
}

// deleteIndex removes every index row of a resource, and its summary rows
// when its type is summarised.
func deleteIndex(ctx context.Context, tx dbtx, typ, id string, summarized bool) error {
	tables := indexTables
	if summarized {
		tables = append(tables[:len(tables):len(tables)], "idx_summary")
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, deleteIndexSQL(t), typ, id); err != nil {
			return err
		}
	}
	return nil
}

// The index tables' single-row inserts. The writer prepares them once
// (wtx), so a row costs binding and stepping a prepared statement, not
// parsing SQL.
const (
	insToken = iota
	insString
	insReference
	insDate
	insNumber
	insQuantity
	insURI
	insSummary
	insCount
)

var indexInsertSQL = [insCount]string{
	insToken:     "INSERT INTO idx_token (res_type, res_id, param, system, code, text, type_system, type_code) VALUES (?,?,?,?,?,?,?,?)",
	insString:    "INSERT INTO idx_string (res_type, res_id, param, value, exact) VALUES (?,?,?,?,?)",
	insReference: "INSERT INTO idx_reference (res_type, res_id, param, base, target_type, target_id, version, url, id_system, id_value, res_status, res_date_low, res_date_high) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
	insDate:      "INSERT INTO idx_date (res_type, res_id, param, low, high) VALUES (?,?,?,?,?)",
	insNumber:    "INSERT INTO idx_number (res_type, res_id, param, value, low, high) VALUES (?,?,?,?,?,?)",
	insQuantity:  "INSERT INTO idx_quantity (res_type, res_id, param, value, low, high, system, code, unit) VALUES (?,?,?,?,?,?,?,?,?)",
	insURI:       "INSERT INTO idx_uri (res_type, res_id, param, value) VALUES (?,?,?,?)",
	insSummary:   "INSERT INTO idx_summary (res_type, res_id, kind, key, at, data) VALUES (?,?,?,?,?,?)",
}

// insertIndex writes a version's index rows, one prepared single-row
// INSERT each.
func insertIndex(ctx context.Context, tx dbtx, typ, id string, rows *sqlsearch.Rows) error {
	exec := func(k int, args ...any) error {
		_, err := tx.ExecContext(ctx, indexInsertSQL[k], args...)
		return err
	}
	for _, t := range rows.Tokens {
		if err := exec(insToken, typ, id, t.Param, t.System, t.Code, t.Text, t.TypeSystem, t.TypeCode); err != nil {
			return err
		}
	}
	for _, s := range rows.Strings {
		if err := exec(insString, typ, id, s.Param, s.Value, s.Exact); err != nil {
			return err
		}
	}
	var low, high any
	if rows.HasDate {
		low, high = rows.DateLow, rows.DateHigh
	}
	for _, r := range rows.References {
		if err := exec(insReference, typ, id, r.Param, r.Base, null(r.Type), null(r.ID), r.Version, r.URL, r.IdentifierSystem, null(r.IdentifierValue), null(rows.Status), low, high); err != nil {
			return err
		}
	}
	for _, d := range rows.Dates {
		if err := exec(insDate, typ, id, d.Param, d.Low, d.High); err != nil {
			return err
		}
	}
	for _, n := range rows.Numbers {
		if err := exec(insNumber, typ, id, n.Param, realOf(n.Value), realOf(n.Low), realOf(n.High)); err != nil {
			return err
		}
	}
	for _, q := range rows.Quantities {
		if err := exec(insQuantity, typ, id, q.Param, realOf(q.Value), realOf(q.Low), realOf(q.High), q.System, q.Code, q.Unit); err != nil {
			return err
		}
	}
	for _, u := range rows.URIs {
		if err := exec(insURI, typ, id, u.Param, u.Value); err != nil {
			return err
		}
	}
	// The writer is serialised, so a rebuild never races a write here,
	// and Summarizers.Rows makes keys distinct.
	for _, x := range rows.Summaries {
		if err := exec(insSummary, typ, id, x.Kind, x.Key, x.At, x.Data); err != nil {
			return err
		}
	}
	return nil
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
