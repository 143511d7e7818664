package postgres

import (
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// The index rows of a version travel as one array per column and are
// unnested in the statement that writes the resource row: one statement
// and one round trip per write, whatever the number of rows. A statement
// only inserts into the tables the version has rows for (a Task has
// token, reference, date and uri rows, and nothing else), so there are a
// few dozen statement texts in practice, each prepared once per
// connection. The inserts select FROM cur, the resource row the statement
// wrote, so when that write does nothing (a create whose id is taken) no
// index row is written either.

// indexTable is one index table's insert: its columns' array types and
// how the SELECT turns the unnested arrays u(...) into the row.
type indexTable struct {
	name   string
	cols   string   // the table's columns after res_type, res_id
	types  []string // one array type per column
	sel    string   // the select list after cur.type, cur.id
	has    func(*sqlsearch.Rows) bool
	arrays func(*sqlsearch.Rows) []any
	// conflict ends the insert (idx_summary: a concurrent rebuild may
	// have written the row first).
	conflict string
	// summary marks idx_summary, whose rows only summarised types have
	// (their deletes are left out of other types' writes).
	summary bool
}

var indexTables = []indexTable{
	{
		name: "idx_token", cols: "param, system, code, text, type_system, type_code",
		types: []string{"text", "text", "text", "text", "text", "text"},
		sel:   "u.*",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Tokens) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Tokens)
			p, s, c, t, ts, tc := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, x := range r.Tokens {
				p[i], s[i], c[i], t[i], ts[i], tc[i] = x.Param, x.System, x.Code, x.Text, x.TypeSystem, x.TypeCode
			}
			return []any{p, s, c, t, ts, tc}
		},
	},
	{
		name: "idx_string", cols: "param, value, exact",
		types: []string{"text", "text", "text"},
		sel:   "u.*",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Strings) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Strings)
			p, v, e := make([]string, n), make([]string, n), make([]string, n)
			for i, x := range r.Strings {
				p[i], v[i], e[i] = x.Param, x.Value, x.Exact
			}
			return []any{p, v, e}
		},
	},
	{
		name: "idx_reference", cols: "param, base, target_type, target_id, version, url, id_system, id_value, res_status, res_date_low, res_date_high",
		types: []string{"text", "text", "text", "text", "text", "text", "text", "text", "text", "bigint", "bigint"},
		sel:   "u.c1, u.c2, NULLIF(u.c3, ''), NULLIF(u.c4, ''), u.c5, u.c6, u.c7, NULLIF(u.c8, ''), NULLIF(u.c9, ''), u.c10, u.c11",
		has:   func(r *sqlsearch.Rows) bool { return len(r.References) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.References)
			p, b, tt, ti, v, u, s, iv, st := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, x := range r.References {
				p[i], b[i], tt[i], ti[i], v[i], u[i], s[i], iv[i], st[i] = x.Param, x.Base, x.Type, x.ID, x.Version, x.URL, x.IdentifierSystem, x.IdentifierValue, r.Status
			}
			dl, dh := make([]pgtype.Int8, n), make([]pgtype.Int8, n)
			for i := range dl {
				dl[i] = pgtype.Int8{Int64: r.DateLow, Valid: r.HasDate}
				dh[i] = pgtype.Int8{Int64: r.DateHigh, Valid: r.HasDate}
			}
			return []any{p, b, tt, ti, v, u, s, iv, st, dl, dh}
		},
	},
	{
		name: "idx_date", cols: "param, low, high",
		types: []string{"text", "bigint", "bigint"},
		sel:   "u.*",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Dates) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Dates)
			p, l, h := make([]string, n), make([]int64, n), make([]int64, n)
			for i, x := range r.Dates {
				p[i], l[i], h[i] = x.Param, x.Low, x.High
			}
			return []any{p, l, h}
		},
	},
	{
		name: "idx_number", cols: "param, value, low, high",
		types: []string{"text", "text", "text", "text"},
		sel:   "u.c1, u.c2::numeric, u.c3::numeric, u.c4::numeric",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Numbers) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Numbers)
			p, v, l, h := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, x := range r.Numbers {
				p[i], v[i], l[i], h[i] = x.Param, string(x.Value), string(x.Low), string(x.High)
			}
			return []any{p, v, l, h}
		},
	},
	{
		name: "idx_quantity", cols: "param, value, low, high, system, code, unit",
		types: []string{"text", "text", "text", "text", "text", "text", "text"},
		sel:   "u.c1, NULLIF(u.c2, '')::numeric, NULLIF(u.c3, '')::numeric, NULLIF(u.c4, '')::numeric, u.c5, u.c6, u.c7",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Quantities) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Quantities)
			p, v, l, h, s, c, u := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, x := range r.Quantities {
				p[i], v[i], l[i], h[i], s[i], c[i], u[i] = x.Param, string(x.Value), string(x.Low), string(x.High), x.System, x.Code, x.Unit
			}
			return []any{p, v, l, h, s, c, u}
		},
	},
	{
		name: "idx_uri", cols: "param, value",
		types: []string{"text", "text"},
		sel:   "u.*",
		has:   func(r *sqlsearch.Rows) bool { return len(r.URIs) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.URIs)
			p, v := make([]string, n), make([]string, n)
			for i, x := range r.URIs {
				p[i], v[i] = x.Param, x.Value
			}
			return []any{p, v}
		},
	},
	{
		name: "idx_summary", cols: "kind, key, at, data",
		types: []string{"text", "text", "bigint", "text"},
		sel:   "u.*",
		has:   func(r *sqlsearch.Rows) bool { return len(r.Summaries) > 0 },
		arrays: func(r *sqlsearch.Rows) []any {
			n := len(r.Summaries)
			k, y, a, d := make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
			for i, x := range r.Summaries {
				k[i], y[i], a[i], d[i] = x.Kind, x.Key, x.At, x.Data
			}
			return []any{k, y, a, d}
		},
		conflict: " ON CONFLICT (res_type, res_id, kind, key) DO UPDATE SET at = EXCLUDED.at, data = EXCLUDED.data",
		summary:  true,
	},
}

// summarizedBit in a mask says the resource's type is summarised: a write
// replaces its idx_summary rows even when the new version has none.
var summarizedBit = 1 << len(indexTables)

// tableMask says which index tables a version has rows for.
func tableMask(rows *sqlsearch.Rows) int {
	m := 0
	for i, t := range indexTables {
		if t.has(rows) {
			m |= 1 << i
		}
	}
	if rows.Summarized {
		m |= summarizedBit
	}
	return m
}

// indexArgs are the arrays of the tables in mask, in table order.
func indexArgs(rows *sqlsearch.Rows, mask int) []any {
	var out []any
	for i, t := range indexTables {
		if mask&(1<<i) != 0 {
			out = append(out, t.arrays(rows)...)
		}
	}
	return out
}

// indexInserts are the CTEs inserting the tables of mask, their arrays
// numbered from $first; it returns the next free number.
func indexInserts(mask, first int) (string, int) {
	var b strings.Builder
	n := first
	for i, t := range indexTables {
		if mask&(1<<i) == 0 {
			continue
		}
		params := make([]string, len(t.types))
		names := make([]string, len(t.types))
		for j, typ := range t.types {
			params[j] = fmt.Sprintf("$%d::%s[]", n, typ)
			names[j] = fmt.Sprintf("c%d", j+1)
			n++
		}
		fmt.Fprintf(&b, ",\nix_%s AS (INSERT INTO %s (res_type, res_id, %s) SELECT cur.type, cur.id, %s FROM cur, unnest(%s) u(%s)%s)",
			t.name, t.name, t.cols, t.sel, strings.Join(params, ", "), strings.Join(names, ", "), t.conflict)
	}
	return b.String(), n
}

// indexDeletes are the CTEs deleting a resource's index rows ($1 type,
// $2 id) from every table (idx_summary only when mask says the type is
// summarised). They see the tables as they were when the statement
// started, so they never delete the rows the same statement's inserts
// add.
func indexDeletes(mask int) string {
	var b strings.Builder
	for _, t := range indexTables {
		if t.summary && mask&summarizedBit == 0 {
			continue
		}
		fmt.Fprintf(&b, ",\ndx_%s AS (DELETE FROM %s WHERE res_type = $1 AND res_id = $2)", t.name, t.name)
	}
	return b.String()
}

var (
	insertSQLs  sync.Map // mask -> string
	writeSQLs   sync.Map
	strictSQLs  sync.Map // insert statement -> the same without ON CONFLICT DO NOTHING
	reindexSQLs sync.Map
)

// strictInsert is an insert statement (insertSQL, insertAuditSQL) without
// its ON CONFLICT DO NOTHING: an id in use is then a unique violation
// (23505) instead of no row.
func strictInsert(sql string) string {
	if s, ok := strictSQLs.Load(sql); ok {
		return s.(string)
	}
	s := strings.Replace(sql, " ON CONFLICT (id) DO NOTHING", "", 1)
	s = strings.Replace(s, "\n\tON CONFLICT DO NOTHING", "", 1)
	strictSQLs.Store(sql, s)
	return s
}

// insertSQL writes version 1 of a resource, current row, history row and
// index rows of the tables in mask, in one statement ($1 type, $2 id, $3
// last updated, $4 method, $5 body, then the index arrays). ON CONFLICT
// DO NOTHING makes an id in use (live or deleted) insert nothing at all,
// which the caller reads as "exists".
func insertSQL(mask int) string {
	if s, ok := insertSQLs.Load(mask); ok {
		return s.(string)
	}
	ix, _ := indexInserts(mask, 6)
	s := `WITH cur AS (
	INSERT INTO resources (type, id, version, last_updated, method, deleted, body)
	VALUES ($1, $2, 1, $3, $4, false, $5)
	ON CONFLICT DO NOTHING
	RETURNING type, id, version, last_updated, method, deleted, body)` + ix + `
INSERT INTO resource_history (type, id, version, last_updated, method, deleted, body)
SELECT type, id, version, last_updated, method, deleted, body FROM cur`
	insertSQLs.Store(mask, s)
	return s
}

// writeSQL replaces the current row with a new version ($1 type, $2 id,
// $3 version, $4 last updated, $5 method, $6 deleted, $7 body, then the
// index arrays of mask), records it in history and replaces the index
// rows, in one statement. The caller holds the row lock.
func writeSQL(mask int) string {
	if s, ok := writeSQLs.Load(mask); ok {
		return s.(string)
	}
	ix, _ := indexInserts(mask, 8)
	s := `WITH cur AS (
	UPDATE resources SET version = $3, last_updated = $4, method = $5, deleted = $6, body = $7
	WHERE type = $1 AND id = $2
	RETURNING type, id, version, last_updated, method, deleted, body)` + indexDeletes(mask) + ix + `
INSERT INTO resource_history (type, id, version, last_updated, method, deleted, body)
SELECT type, id, version, last_updated, method, deleted, body FROM cur`
	writeSQLs.Store(mask, s)
	return s
}
