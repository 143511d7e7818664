package sqlsearch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Paging while others write.
//
// A cursor carries the instant its search's first page was read (At). A
// later page matches and orders the resources as they were then. The
// resources of the searched type written since (the changed ones) are
// found by one index range on resources (type, last_updated); every
// other resource is as it was, so its current rows answer. A later page
// is then two queries whose rows are merged in page order (compareRows):
//
//   - the usual page query, restricted to resources not written since
//     (r.last_updated <= At, or for a search driven by index rows, r.id not
//     among the changed), so its plan is the first page's;
//   - the same query over views (snapshot.view) holding the changed
//     resources' versions current at At (from resource_history) and
//     index rows computed from them (RowsOf), passed as one JSON argument
//     per table; resources created since are in neither. When the query
//     reaches other resources (chains, _has) the views add their current
//     rows; when it can reach its own type that way, the unchanged
//     resources of the type too, and the changed ones are then named.
//
// The total is the sum of the same two counts. So keyset paging returns
// every resource that matched at the first page exactly once, in the order
// it had then, whatever is updated, renamed or created between pages.
//
// What a page serves is the current version of each resource it names
// (as a read would), so a resource renamed since the first page is on the
// page its old name put it on, with its new name. A resource deleted
// since, or since moved out of the caller's practices (tenancy), is left
// out.
//
// Cost: nothing beyond the index range when no resource of the type was
// written since the first page; otherwise each later page reads, parses
// and indexes the changed resources' past versions (about 0.15 ms each),
// at most MaxSnapshotChanges of them. Beyond that the search is refused
// with 410: the client searches again.
//
// Chained and _has conditions on other resources, and _include, look at
// those resources as they are now.

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
	// others: the query reaches other resources (chains, _has), so the
	// views hold the current rows of other types too; own: it reaches
	// resources of its own type that way, so they hold those of the
	// unchanged resources of its type as well.
	others, own bool
}

// reaches reports whether q reaches resources through references (chains,
// _has), and whether any of them can be of type typ.
func reaches(q *search.Query, typ string) (others, own bool) {
	for i := range q.Params {
		q.Params[i].Reached(func(t string) {
			others = true
			own = own || t == typ
		})
	}
	return others, own
}

// unchanged is the condition that the resource r (a resources row, or
// with driven an id from index rows) was not written since the first
// page.
func (b *builder) unchanged(driven bool) expr {
	if driven {
		return ex("r.id NOT IN (SELECT id FROM resources WHERE type = ? AND last_updated > ?)", b.typ, Timestamp(b.at))
	}
	return ex("r.last_updated <= ?", Timestamp(b.at))
}

// changedOnly is the condition, over the snapshot's views, that r is one
// of the changed resources: implied unless the views hold other
// resources of the type too.
func (b *builder) changedOnly(bool) expr {
	if !b.snap.own {
		return expr{}
	}
	return ex("r.id IN (SELECT id FROM "+realTable+"resources WHERE type = ? AND last_updated > ?)", b.typ, Timestamp(b.at))
}

// realTable prefixes a table name the views must not replace.
const realTable = "REAL_"

// compareRows orders two page rows as the page queries do (see page):
// by each key, missing values last (first scanning backward), then the
// id in byte order, all reversed when scanning backward.
func compareRows(keys []sortKey, backward bool, x, y row) int {
	for i, k := range keys {
		a, c := x.keys[i], y.keys[i]
		switch {
		case a == nil && c == nil:
			continue
		case a == nil || c == nil:
			n := 1 // a missing value after
			if a != nil {
				n = -1
			}
			if backward {
				n = -n
			}
			return n
		}
		n := compareKey(k.kind, a, c)
		if k.desc != backward {
			n = -n
		}
		if n != 0 {
			return n
		}
	}
	n := strings.Compare(x.v.ID, y.v.ID)
	if backward {
		n = -n
	}
	return n
}

// compareKey compares two sort values of a kind (keyValue's).
func compareKey(kind keyKind, a, c any) int {
	switch kind {
	case kindTimestamp, kindInt:
		x, _ := a.(int64)
		y, _ := c.(int64)
		return cmp.Compare(x, y)
	case kindDecimal:
		x, okx := new(big.Rat).SetString(fmt.Sprint(a))
		y, oky := new(big.Rat).SetString(fmt.Sprint(c))
		if okx && oky {
			return x.Cmp(y)
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(c))
}

// snapshotAt reads what changed in b.typ after at; nil when nothing did.
func (b *builder) snapshotAt(ctx context.Context, db Querier, at int64, query *search.Query) (*snapshot, error) {
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
		return nil, fhir.Errorf(fhir.CodeNotFound, "more than %d %s resources have changed since this search's first page, so its later pages can no longer be exact: search again", MaxSnapshotChanges, b.typ).Because(fhir.DetailExpired)
	}
	s := &snapshot{at: at, typ: b.typ, rows: map[string]*Rows{}}
	s.others, s.own = reaches(query, b.typ)
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
	// then. The ids are listed so the history is read by its key.
	ids := make([]string, 0, len(live))
	for id, ok := range live {
		if ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	latest := map[string]store.Version{}
	for chunk := range slices.Chunk(ids, maxIDs) {
		// By the key alone (the instant is tested here), so no plan
		// reads the type's history by time instead.
		q := cat(ex("SELECT "+versionColumns+" FROM resource_history WHERE type = ? AND ", b.typ), inList("id", chunk))
		err = db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			v, err := scanVersion(scan)
			if err != nil {
				return err
			}
			if v.LastUpdated.UnixMicro() > at {
				return nil
			}
			if old, ok := latest[v.ID]; !ok || v.VersionID > old.VersionID {
				latest[v.ID] = v
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	for _, id := range ids {
		v, ok := latest[id]
		if !ok || v.Deleted {
			continue // created since, or deleted then
		}
		r, err := fhir.ParseResource(v.Body)
		if err != nil {
			return nil, fmt.Errorf("snapshot: version %d of %s/%s: %w", v.VersionID, v.Type, v.ID, err)
		}
		rows := RowsOf(r)
		s.rows[v.ID] = &rows
		s.past = append(s.past, v)
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
		[]string{"text", "text", "text", textC, textC, textC, textC, textC}},
	{"idx_string", []string{"res_type", "res_id", "param", "value", "exact"},
		[]string{"text", "text", "text", textC, "text"}},
	{"idx_reference", []string{"res_type", "res_id", "param", "base", "target_type", "target_id", "version", "url", "id_system", "id_value", "res_status", "res_date_low", "res_date_high"},
		[]string{"text", "text", "text", textC, "text", "text", textC, textC, textC, textC, textC, "bigint", "bigint"}},
	{"idx_date", []string{"res_type", "res_id", "param", "low", "high"},
		[]string{"text", "text", "text", "bigint", "bigint"}},
	{"idx_number", []string{"res_type", "res_id", "param", "value", "low", "high"},
		[]string{"text", "text", "text", "numeric", "numeric", "numeric"}},
	{"idx_quantity", []string{"res_type", "res_id", "param", "value", "low", "high", "system", "code", "unit"},
		[]string{"text", "text", "text", "numeric", "numeric", "numeric", textC, textC, textC}},
	{"idx_uri", []string{"res_type", "res_id", "param", "value"},
		[]string{"text", "text", "text", textC}},
}

// textC is a text column compared in byte order.
const textC = `text COLLATE "C"`

var tableRef = regexp.MustCompile(`\b(resources|idx_token|idx_string|idx_reference|idx_date|idx_number|idx_quantity|idx_uri)\b`)

// view (the snapshot view) rewrites e, a SELECT, to read each table it
// names through a view holding the changed resources' past rows, and the
// current rows of other resources when the query reaches them (see
// snapshot.others, snapshot.own). Tables e does not name get no view.
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
	body := ex(strings.ReplaceAll(tableRef.ReplaceAllString(e.sql, "snap_$1"), realTable, ""), e.args...)
	return cat(ex("WITH "), join(", ", ctes), ex(" "), body)
}

// cte is "snap_<table> AS NOT MATERIALIZED (...)": the past rows (one
// JSON argument), and the current rows view describes.
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
	head := ex("snap_"+table+" AS NOT MATERIALIZED ("+past, string(data))
	typeCol := "res_type"
	if table == "resources" {
		typeCol = "type"
	}
	var now expr
	switch {
	case !s.others:
		// Only the searched type's rows are read.
		return cat(head, ex(")"))
	case !s.own:
		now = ex("SELECT "+strings.Join(cols, ", ")+" FROM "+table+" WHERE "+typeCol+" <> ?", s.typ)
	case table == "resources":
		now = ex("SELECT "+strings.Join(cols, ", ")+" FROM resources WHERE NOT (type = ? AND last_updated > ?)", s.typ, Timestamp(s.at))
	default:
		now = ex("SELECT "+strings.Join(cols, ", ")+" FROM "+table+" WHERE NOT (res_type = ? AND res_id IN (SELECT id FROM resources WHERE type = ? AND last_updated > ?))",
			s.typ, s.typ, Timestamp(s.at))
	}
	return cat(head, ex(" UNION ALL "), now, ex(")"))
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
