package sqlsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Paging while others write.
//
// A cursor carries the instant its search's first page was read (At). A
// later page matches and orders the resources as they were then: the
// resources of the searched type written since (the "changed") are
// evaluated as their version current at that instant (from
// resource_history), with index rows computed from that version, and the
// ones created since are left out. Every other resource is as it was, so
// its current rows answer. The page query and the total run over views
// of resources and the index tables that put the changed resources' past
// rows in place of their current ones (snapshotView); keyset paging over
// those views returns every resource that matched at the first page
// exactly once, in the order it had then, whatever is updated, renamed or
// created between pages.
//
// What a page serves is the current version of each resource it names
// (as a read would), so a resource renamed since the first page is on the
// page its old name put it on, with its new name. A resource deleted
// since, or moved out of the caller's practices, is left out.
//
// Cost: nothing when no resource of the type was written since the first
// page (one index range on resources (type, last_updated) says so);
// otherwise each later page reads and indexes the changed resources' past
// versions once, at most MaxSnapshotChanges of them, and passes their
// rows as one JSON argument per table. Beyond that the search is too old
// to continue exactly and is refused with 410: the client searches again.
//
// Chained and _has conditions, and _include, look at the other resources
// as they are now.

// MaxSnapshotChanges bounds the resources of a searched type written
// since a search's first page that a later page evaluates as they were.
const MaxSnapshotChanges = 5000

// snapshot is the state of the changed resources at a search's first
// page.
type snapshot struct {
	at  int64 // Unix microseconds
	typ string
	// rows are the index rows of the changed resources' versions at at,
	// for those that existed then, exist now and the caller may still
	// reach; past are those versions.
	rows map[string]*Rows
	past []store.Version
}

// snapshotAt reads what changed in b.typ after at; nil when nothing did.
func (b *builder) snapshotAt(ctx context.Context, db Querier, at int64) (*snapshot, error) {
	changed := `SELECT id FROM resources WHERE type = ? AND last_updated > ?`
	live := map[string]bool{}
	n := 0
	err := db.Query(ctx, "SELECT id, deleted FROM resources WHERE type = ? AND last_updated > ? LIMIT ?",
		[]any{b.typ, Timestamp(at), int64(MaxSnapshotChanges + 1)}, func(scan func(...any) error) error {
			var id string
			var deleted bool
			if err := scan(&id, &deleted); err != nil {
				return err
			}
			n++
			if !deleted {
				live[id] = true
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	switch {
	case n == 0:
		return nil, nil
	case n > MaxSnapshotChanges:
		return nil, fhir.Errorf(fhir.CodeNotFound, "more than %d %s resources have changed since this search's first page, so its later pages can no longer be exact: search again", MaxSnapshotChanges, b.typ).WithStatus(410)
	}
	s := &snapshot{at: at, typ: b.typ, rows: map[string]*Rows{}}
	if b.tenancy != nil && b.tenancy.Applies(b.typ) {
		// Only those the caller may still reach.
		reach := map[string]bool{}
		q := cat(ex("SELECT DISTINCT res_id FROM idx_token sec WHERE res_type = ? AND param = '_security' AND system = ? AND ", b.typ, b.tenancy.System),
			inList("code", nonEmpty(b.tenancy.Codes)), ex(" AND res_id IN ("+changed+")", b.typ, Timestamp(at)))
		err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			reach[id] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		for id := range live {
			live[id] = reach[id]
		}
	}
	// The version of each current at the instant: the last one made by
	// then.
	q := "SELECT h.type, h.id, h.version, h.last_updated, h.method, h.deleted, h.body FROM resource_history h WHERE h.type = ? AND h.last_updated <= ?" +
		" AND h.id IN (" + changed + ")" +
		" AND NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.type = h.type AND n.id = h.id AND n.version > h.version AND n.last_updated <= ?)"
	err = db.Query(ctx, q, []any{b.typ, Timestamp(at), b.typ, Timestamp(at), Timestamp(at)}, func(scan func(...any) error) error {
		v, err := scanVersion(scan)
		if err != nil {
			return err
		}
		if v.Deleted || !live[v.ID] {
			return nil
		}
		r, err := fhir.ParseResource(v.Body)
		if err != nil {
			return fmt.Errorf("version %d of %s/%s: %w", v.VersionID, v.Type, v.ID, err)
		}
		rows := RowsOf(r)
		s.rows[v.ID] = &rows
		s.past = append(s.past, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}

func nonEmpty(codes []string) []string {
	if len(codes) == 0 {
		return []string{""}
	}
	return codes
}

// snapshotTables are the tables a page query reads, with their columns
// in order and each column's PostgreSQL type (collations as the tables
// declare them).
var snapshotTables = []struct {
	name string
	cols []string
	pg   []string
}{
	{"resources", []string{"type", "id", "version", "last_updated", "method", "deleted"},
		[]string{"text", "text", "bigint", "timestamptz", "text", "boolean"}},
	{"idx_token", []string{"res_type", "res_id", "param", "system", "code", "text", "type_system", "type_code"},
		[]string{"text", "text", "text", c, c, c, c, c}},
	{"idx_string", []string{"res_type", "res_id", "param", "value", "exact"},
		[]string{"text", "text", "text", c, "text"}},
	{"idx_reference", []string{"res_type", "res_id", "param", "base", "target_type", "target_id", "version", "url", "id_system", "id_value", "res_status", "res_date_low", "res_date_high"},
		[]string{"text", "text", "text", c, "text", "text", c, c, c, c, c, "bigint", "bigint"}},
	{"idx_date", []string{"res_type", "res_id", "param", "low", "high"},
		[]string{"text", "text", "text", "bigint", "bigint"}},
	{"idx_number", []string{"res_type", "res_id", "param", "value", "low", "high"},
		[]string{"text", "text", "text", "numeric", "numeric", "numeric"}},
	{"idx_quantity", []string{"res_type", "res_id", "param", "value", "low", "high", "system", "code", "unit"},
		[]string{"text", "text", "text", "numeric", "numeric", "numeric", c, c, c}},
	{"idx_uri", []string{"res_type", "res_id", "param", "value"},
		[]string{"text", "text", "text", c}},
}

const c = `text COLLATE "C"`

var tableRef = regexp.MustCompile(`\b(resources|idx_token|idx_string|idx_reference|idx_date|idx_number|idx_quantity|idx_uri)\b`)

// view rewrites e, a SELECT, to read the tables as they were at s.at:
// each table it names is replaced by a view holding the changed
// resources' past rows and every other resource's current ones. Tables
// e does not name get no view.
func (s *snapshot) view(d Dialect, e expr) expr {
	used := map[string]bool{}
	for _, m := range tableRef.FindAllString(e.sql, -1) {
		used[m] = true
	}
	var ctes []expr
	for _, t := range snapshotTables {
		if !used[t.name] {
			continue
		}
		ctes = append(ctes, s.cte(d, t.name, t.cols, t.pg))
	}
	body := ex(tableRef.ReplaceAllString(e.sql, "snap_$1"), e.args...)
	return cat(ex("WITH "), join(", ", ctes), ex(" "), body)
}

// cte is "snap_<table> AS NOT MATERIALIZED (...)": the past rows (one
// JSON argument) and the current rows of every resource not changed.
func (s *snapshot) cte(d Dialect, table string, cols, pg []string) expr {
	data, _ := json.Marshal(s.data(d, table, cols))
	var past string
	if d.Records {
		defs := make([]string, len(cols))
		for i := range cols {
			defs[i] = cols[i] + " " + pg[i]
		}
		past = "SELECT " + prefixed("x.", cols) + " FROM json_to_recordset(CAST(? AS json)) AS x(" + strings.Join(defs, ", ") + ")"
	} else {
		sel := make([]string, len(cols))
		for i, col := range cols {
			sel[i] = "json_extract(x.value, '$." + col + "') AS " + col
		}
		past = "SELECT " + strings.Join(sel, ", ") + " FROM json_each(?) x"
	}
	changed := "SELECT id FROM resources WHERE type = ? AND last_updated > ?"
	var now expr
	if table == "resources" {
		now = ex("SELECT "+strings.Join(cols, ", ")+" FROM resources WHERE NOT (type = ? AND last_updated > ?)", s.typ, Timestamp(s.at))
	} else {
		now = ex("SELECT "+strings.Join(cols, ", ")+" FROM "+table+" WHERE NOT (res_type = ? AND res_id IN ("+changed+"))", s.typ, s.typ, Timestamp(s.at))
	}
	return cat(ex("snap_"+table+" AS NOT MATERIALIZED ("+past+" UNION ALL ", string(data)), now, ex(")"))
}

func prefixed(p string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = p + c
	}
	return strings.Join(out, ", ")
}

// data is the past rows of table as JSON objects, values as the dialect's
// columns hold them.
func (s *snapshot) data(d Dialect, table string, cols []string) []map[string]any {
	pgStyle := d.Records
	dec := func(x interface {
		IsUnbounded() bool
		Float64() float64
	}, text string) any {
		if x.IsUnbounded() {
			return nil
		}
		if pgStyle {
			return text
		}
		return x.Float64()
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	out := []map[string]any{}
	add := func(vals ...any) {
		m := make(map[string]any, len(cols))
		for i, col := range cols {
			m[col] = vals[i]
		}
		out = append(out, m)
	}
	for _, v := range s.past {
		id, r := v.ID, s.rows[v.ID]
		switch table {
		case "resources":
			var lu any = v.LastUpdated.UnixMicro()
			if pgStyle {
				lu = v.LastUpdated.UTC().Format(time.RFC3339Nano)
			}
			add(v.Type, id, v.VersionID, lu, string(v.Method), false)
		case "idx_token":
			for _, t := range r.Tokens {
				add(s.typ, id, t.Param, t.System, t.Code, t.Text, t.TypeSystem, t.TypeCode)
			}
		case "idx_string":
			for _, x := range r.Strings {
				add(s.typ, id, x.Param, x.Value, x.Exact)
			}
		case "idx_reference":
			var low, high any
			if r.HasDate {
				low, high = r.DateLow, r.DateHigh
			}
			for _, x := range r.References {
				add(s.typ, id, x.Param, x.Base, null(x.Type), null(x.ID), x.Version, x.URL, x.IdentifierSystem, null(x.IdentifierValue), null(r.Status), low, high)
			}
		case "idx_date":
			for _, x := range r.Dates {
				add(s.typ, id, x.Param, x.Low, x.High)
			}
		case "idx_number":
			for _, x := range r.Numbers {
				add(s.typ, id, x.Param, dec(x.Value, string(x.Value)), dec(x.Low, string(x.Low)), dec(x.High, string(x.High)))
			}
		case "idx_quantity":
			for _, x := range r.Quantities {
				add(s.typ, id, x.Param, dec(x.Value, string(x.Value)), dec(x.Low, string(x.Low)), dec(x.High, string(x.High)), x.System, x.Code, x.Unit)
			}
		case "idx_uri":
			for _, x := range r.URIs {
				add(s.typ, id, x.Param, x.Value)
			}
		}
	}
	return out
}
