package sqlsearch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Querier runs one query for Search. The SQL has ? placeholders (the
// store rewrites them when its driver wants others, see Rebind) and never
// a ? inside a literal. Args are strings, int64, bool, and two types the
// store binds as its columns want: Timestamp and search.Decimal. row is
// called for every result row with a function that scans it; an error
// from row stops the query and is returned.
type Querier interface {
	Query(ctx context.Context, sql string, args []any, row func(scan func(dest ...any) error) error) error
}

// Timestamp is an argument compared with resources.last_updated, as Unix
// microseconds: PostgreSQL binds it as a timestamptz, SQLite as the
// integer it keeps.
type Timestamp int64

// Dialect holds the few SQL fragments the stores write differently.
type Dialect struct {
	// ByteOrder follows resources.id where it is compared or sorted, to
	// make it byte order (PostgreSQL's columns have the database's
	// collation; SQLite's BINARY already is).
	ByteOrder string
	// AuditTable says AuditEvents live in the audit table (audit.go), not
	// in resources and the index tables.
	AuditTable bool
	// AuditTermRows says the audit table's indexed terms are rows of
	// audit_terms (term, seq) and its tags a JSON array, as SQLite keeps
	// them, rather than text[] columns.
	AuditTermRows bool
	// Records says rows passed as JSON are read with PostgreSQL's
	// json_to_recordset, with times and decimals as text; otherwise with
	// SQLite's json_each, with times as integer microseconds and decimals
	// as REALs (snapshot.go).
	Records bool
	// ProbeFilters says a condition that matches many rows (a date range,
	// a bare code) is tested candidate by candidate when a more selective
	// condition drives the search (where.driven): a correlated EXISTS
	// probing the candidate's own index rows, rather than "r.id IN
	// (SELECT ...)". SQLite runs such an IN by first collecting every row
	// the subquery matches (all the Tasks of the last three months, for a
	// navigation's earlier contacts of one patient), where PostgreSQL
	// plans both forms as the same semi-join.
	ProbeFilters bool
}

var (
	Postgres = Dialect{ByteOrder: ` COLLATE "C"`, AuditTable: true, Records: true}
	SQLite   = Dialect{AuditTable: true, AuditTermRows: true, ProbeFilters: true}
)

// Options are what a store passes to Search.
type Options struct {
	Dialect Dialect
	// BaseURL is this server's FHIR base (https://host/fhir): absolute
	// references under it are the same as relative ones, in searches and
	// includes. Index rows keep references as written, so the base can
	// change without reindexing. "" treats only relative references as
	// local.
	BaseURL string
	// Now is the clock the ap prefix measures from; nil is time.Now.
	Now func() time.Time
}

// MaxIncludeDepth bounds _include:iterate and _revinclude:iterate: the
// rounds of following references from what the previous round included.
const MaxIncludeDepth = 8

// maxIDs is how many ids one include query lists.
const maxIDs = 500

// Search runs q on db: one page of matches in q's order (see sortKeys),
// the total when asked, and the resources q's includes bring in.
func Search(ctx context.Context, db Querier, o Options, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	if q == nil || q.Type == "" {
		return store.SearchPage{}, fhir.Errorf(fhir.CodeInvalid, "a search needs a resource type")
	}
	if page.Count < 0 {
		return store.SearchPage{}, fhir.Errorf(fhir.CodeInvalid, "_count must not be negative").At("_count").Because(fhir.DetailMalformed)
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	b := &builder{o: o, now: time.Now(), typ: q.Type, tenancy: q.Tenancy}
	if o.Now != nil {
		b.now = o.Now()
	}
	if b.audit(q.Type) {
		return b.searchAudit(ctx, db, q, page)
	}
	keys, err := b.sortKeys(q)
	if err != nil {
		return store.SearchPage{}, err
	}
	where, err := b.filters(q)
	if err != nil {
		return store.SearchPage{}, err
	}
	counts := func() []expr {
		item, cond, _, ok := where.driven()
		if !ok {
			item, cond = where.from()
		}
		if b.snap == nil {
			return []expr{cat(ex("SELECT count(*) FROM "), source(item, nil, cond))}
		}
		// As of the first page: the resources not written since, and the
		// changed ones as they were.
		return []expr{
			cat(ex("SELECT count(*) FROM "), source(item, nil, andAlso(cond, b.unchanged(ok)))),
			b.snap.view(b.o.Dialect, cat(ex("SELECT count(*) FROM "), source(item, nil, andAlso(cond, b.changedOnly(ok))))),
		}
	}
	return b.paged(ctx, db, q, page, keys, counts, func(cur *cursor, out *store.SearchPage) error {
		return b.page(ctx, db, where, keys, cur, page.Count, out)
	})
}

// andAlso is cond AND e, cond possibly empty.
func andAlso(cond, e expr) expr {
	switch {
	case e.sql == "":
		return cond
	case cond.sql == "":
		return e
	}
	return and(cond, e)
}

// paged is what every search does around its page: the total when asked
// (the sum of what the counts queries count), the page itself (read,
// given the cursor) and the resources the includes bring in.
func (b *builder) paged(ctx context.Context, db Querier, q *search.Query, page store.PageRequest, keys []sortKey, counts func() []expr,
	read func(cur *cursor, out *store.SearchPage) error) (store.SearchPage, error) {
	out := store.SearchPage{Matches: []store.Version{}, Total: -1}
	cur, err := decodeCursor(page.Cursor, signature(keys))
	if err != nil {
		return store.SearchPage{}, err
	}
	// The first page pins the instant later pages are read as of.
	b.at = time.Now().UnixMicro()
	if cur != nil && cur.At > 0 {
		b.at = cur.At
	}
	if cur != nil && cur.At > 0 && !b.audit(b.typ) {
		// AuditEvents are never changed, only added.
		if b.snap, err = b.snapshotAt(ctx, db, b.at, q); err != nil {
			return store.SearchPage{}, err
		}
	}
	if page.Total {
		out.Total = 0
		for _, count := range counts() {
			var n int
			err := db.Query(ctx, count.sql, count.args, func(scan func(...any) error) error { return scan(&n) })
			if err != nil {
				return store.SearchPage{}, fmt.Errorf("count: %w", err)
			}
			out.Total += n
		}
	}
	if page.Count == 0 {
		return out, nil
	}
	if err := read(cur, &out); err != nil {
		return store.SearchPage{}, err
	}
	if len(q.Include)+len(q.RevInclude) > 0 && len(out.Matches) > 0 {
		if out.Included, err = b.includes(ctx, db, q, out.Matches); err != nil {
			return store.SearchPage{}, err
		}
	}
	return out, nil
}

// keyKind is what a sort key's values are.
type keyKind int

const (
	kindTimestamp keyKind = iota // resources.last_updated
	kindInt                      // index dates
	kindText
	kindDecimal
)

// sortKey is one ORDER BY key over resources r.
type sortKey struct {
	name string
	desc bool
	kind keyKind
	// expr is a column of r (_id, _lastUpdated): never NULL, and an
	// index may give its order. Otherwise the key is agg(col) over the
	// parameter's rows in table, LEFT JOINed.
	expr       expr
	nonNull    bool
	table, col string
	agg        string
}

// sortKeys are q's _sort keys, or _lastUpdated descending (newest first)
// when it has none. The id, byte order ascending, always follows as the
// tiebreak and is not in the list.
//
// A parameter with several values per resource sorts by its smallest for
// an ascending key and its largest for a descending one (for dates: the
// earliest start ascending, the latest end descending), as the common
// servers do; resources without a value sort last either way.
func (b *builder) sortKeys(q *search.Query) ([]sortKey, error) {
	sorts := q.Sort
	if len(sorts) == 0 {
		sorts = []search.SortKey{{Name: "_lastUpdated", Descending: true}}
	}
	keys := make([]sortKey, 0, len(sorts))
	for _, s := range sorts {
		k := sortKey{name: s.Name, desc: s.Descending}
		agg := "min"
		if s.Descending {
			agg = "max"
		}
		sub := func(table, col string) expr {
			k.table, k.col, k.agg = table, col, agg
			return expr{}
		}
		switch {
		case s.Name == "_lastUpdated":
			k.kind, k.expr, k.nonNull = kindTimestamp, ex("r.last_updated"), true
		case s.Name == "_id":
			k.kind, k.expr, k.nonNull = kindText, ex("r.id"+b.o.Dialect.ByteOrder), true
		case s.Def == nil:
			return nil, fhir.Errorf(fhir.CodeInvalid, "_sort: %s is not a parameter of %s", s.Name, q.Type).At("_sort").Because(fhir.DetailMalformed)
		default:
			switch s.Def.Type {
			case search.TypeDate:
				col := "c.low"
				if s.Descending {
					col = "c.high"
				}
				k.kind, k.expr = kindInt, sub("idx_date", col)
			case search.TypeString:
				k.kind, k.expr = kindText, sub("idx_string", "c.value")
			case search.TypeToken:
				k.kind, k.expr = kindText, sub("idx_token", "c.code")
			case search.TypeReference:
				k.kind, k.expr = kindText, sub("idx_reference", "c.url")
			case search.TypeURI:
				k.kind, k.expr = kindText, sub("idx_uri", "c.value")
			case search.TypeNumber, search.TypeQuantity:
				col := "c.low"
				if s.Descending {
					col = "c.high"
				}
				k.kind, k.expr = kindDecimal, sub(tables[s.Def.Type], col)
			default:
				return nil, fhir.Errorf(fhir.CodeNotSupported, "_sort: %s parameters cannot sort", s.Def.Type).At("_sort").Because(fhir.DetailUnsupportedSearch)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// signature names a sort, so a cursor is only used with the sort it was
// made for.
func signature(keys []sortKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.name
		if k.desc {
			parts[i] = "-" + k.name
		}
	}
	return strings.Join(parts, ",")
}

const versionColumns = "type, id, version, last_updated, method, deleted, body"

// page reads one page of matches into out and sets its cursors. It reads
// one row more than asked to learn whether another page follows, and
// pages by keyset (the sort values and id of the row the cursor names),
// as of the first page's instant (snapshot.go), so a page never repeats
// or skips a resource that matched when the first page was read, whatever
// is written meanwhile.
func (b *builder) page(ctx context.Context, db Querier, where *where, keys []sortKey, cur *cursor, count int, out *store.SearchPage) error {
	q, err := b.pageQuery(where, keys, cur, count, false)
	if err != nil {
		return err
	}
	queries := []expr{q}
	if b.snap != nil {
		// A later page: the resources not written since the first page
		// (q) merged with the changed ones as they were then.
		changed, err := b.pageQuery(where, keys, cur, count, true)
		if err != nil {
			return err
		}
		queries = append(queries, changed)
	}
	return b.collect(ctx, db, queries, keys, cur, count, out)
}

// pageQuery is the query of one page (see page): on a later page with a
// snapshot, of the resources not written since the first page, or
// (changed) of the changed ones as they were.
func (b *builder) pageQuery(where *where, keys []sortKey, cur *cursor, count int, changed bool) (expr, error) {
	backward := cur != nil && cur.Dir == dirBefore
	// The page's ids and sort keys are found first, from indexes as far
	// as the planner can; resource rows (and their bodies) are read for
	// the page alone.
	sel := []expr{ex("r.id AS id")}
	outer := []string{"r.type, r.id, r.version, r.last_updated, r.method, r.deleted, r.body"}
	keyCols := []string{"m.id"}
	// Parameter keys are aggregates of LEFT JOINed index rows, grouped
	// by resource: a join PostgreSQL runs about twice as fast as a
	// correlated subquery per candidate.
	var joins []expr
	group := []string{"r.id"}
	item, cond, dates, driven := where.driven()
	for _, k := range keys {
		driven = driven && k.kind != kindTimestamp // last_updated is a resources column
	}
	if !driven {
		item, cond = where.from()
	}
	if b.snap != nil {
		if changed {
			cond = andAlso(cond, b.changedOnly(driven))
		} else {
			cond = andAlso(cond, b.unchanged(driven))
		}
	}
	worklist := WorklistDate(b.typ)
	for i, k := range keys {
		switch {
		case driven && dates && k.table == "idx_date" && k.name == worklist:
			// The driving reference rows carry the sort value.
			col := "r.dl"
			if k.desc {
				col = "r.dh"
			}
			sel = append(sel, ex(fmt.Sprintf("%s(%s) AS s%d", k.agg, col, i)))
		case k.table != "":
			j := fmt.Sprintf("j%d", i)
			joins = append(joins, ex(fmt.Sprintf(" LEFT JOIN %s %s ON %s.res_type = r.type AND %s.res_id = r.id AND %s.param = ?", k.table, j, j, j, j), k.name))
			col := j + "." + strings.TrimPrefix(k.col, "c.")
			if k.kind == kindText {
				// A CodeableConcept's text row has no code, a logical
				// reference no url: no value to sort by.
				col = "NULLIF(" + col + ", '')"
			}
			if k.table == "idx_string" {
				// The parts of a family name are rows without exact text,
				// for searching only: a name sorts by its whole value.
				col = fmt.Sprintf("CASE WHEN %s.exact <> '' THEN %s END", j, col)
			}
			sel = append(sel, ex(fmt.Sprintf("%s(%s) AS s%d", k.agg, col, i)))
		default:
			sel = append(sel, cat(k.expr, ex(fmt.Sprintf(" AS s%d", i))))
			if k.kind == kindTimestamp {
				group = append(group, "r.last_updated")
			}
		}
		col := fmt.Sprintf("p.s%d", i)
		if k.kind == kindDecimal {
			col = "CAST(" + col + " AS TEXT)"
		}
		outer = append(outer, col)
		keyCols = append(keyCols, fmt.Sprintf("m.s%d", i))
	}
	grouped := len(joins) > 0
	for _, k := range keys {
		grouped = grouped || k.table != ""
	}
	inner := cat(ex("SELECT "), join(", ", sel), ex(" FROM "), source(item, joins, cond))
	if grouped {
		inner = cat(inner, ex(" GROUP BY "+strings.Join(group, ", ")))
	}
	ids := cat(ex("SELECT "+strings.Join(keyCols, ", ")+" FROM ("), inner, ex(") m"))
	if cur != nil {
		ks, err := b.keyset(keys, cur)
		if err != nil {
			return expr{}, err
		}
		ids = cat(ids, ex(" WHERE "), ks)
	}
	order := func(alias string) string {
		parts := make([]string, 0, len(keys)+1)
		for i, k := range keys {
			o := fmt.Sprintf("%s.s%d", alias, i)
			if k.desc != backward {
				o += " DESC"
			}
			if !k.nonNull {
				// Missing values last, whatever the direction.
				if backward {
					o += " NULLS FIRST"
				} else {
					o += " NULLS LAST"
				}
			}
			parts = append(parts, o)
		}
		id := alias + ".id" + b.o.Dialect.ByteOrder
		if backward {
			id += " DESC"
		}
		return strings.Join(append(parts, id), ", ")
	}
	ids = cat(ids, ex(" ORDER BY "+order("m")+" LIMIT ?", count+1))
	if changed {
		// Matched and ordered as they were at the first page; the
		// versions served are the current ones, read below.
		ids = b.snap.view(b.o.Dialect, ids)
	}
	return cat(ex("SELECT "+strings.Join(outer, ", ")+" FROM ("), ids,
		ex(") p JOIN resources r ON r.type = ? AND r.id = p.id WHERE NOT r.deleted ORDER BY "+order("p"), b.typ)), nil
}

// row is a match and its sort values.
type row struct {
	v    store.Version
	keys []any
}

// collect runs queries, page queries selecting the version columns then
// the sort keys, each in page order with one row more than count, merges
// their rows in page order, and fills out with the page and its cursors.
func (b *builder) collect(ctx context.Context, db Querier, queries []expr, keys []sortKey, cur *cursor, count int, out *store.SearchPage) error {
	backward := cur != nil && cur.Dir == dirBefore
	var rows []row
	for _, q := range queries {
		if err := b.collectRows(ctx, db, q, keys, &rows); err != nil {
			return err
		}
	}
	if len(queries) > 1 {
		slices.SortStableFunc(rows, func(x, y row) int { return compareRows(keys, backward, x, y) })
	}
	more := len(rows) > count
	if more {
		rows = rows[:count]
	}
	if backward {
		slices.Reverse(rows)
	}
	for _, r := range rows {
		out.Matches = append(out.Matches, r.v)
	}
	sig := signature(keys)
	after := func(r row) string {
		return (&cursor{Dir: dirAfter, Keys: r.keys, ID: r.v.ID, Sig: sig, At: b.at}).encode()
	}
	before := func(r row) string {
		return (&cursor{Dir: dirBefore, Keys: r.keys, ID: r.v.ID, Sig: sig, At: b.at}).encode()
	}
	switch {
	case !backward:
		if more {
			out.Next = after(rows[len(rows)-1])
		}
		if cur != nil {
			if len(rows) > 0 {
				out.Previous = before(rows[0])
			} else {
				out.Previous = (&cursor{Dir: dirBefore, Keys: cur.Keys, ID: cur.ID, Inclusive: true, Sig: sig, At: b.at}).encode()
			}
		}
	default:
		if more {
			out.Previous = before(rows[0])
		}
		if len(rows) > 0 {
			out.Next = after(rows[len(rows)-1])
		} else {
			out.Next = (&cursor{Dir: dirAfter, Keys: cur.Keys, ID: cur.ID, Inclusive: true, Sig: sig, At: b.at}).encode()
		}
	}
	return nil
}

// collectRows runs q (see collect) and appends its rows.
func (b *builder) collectRows(ctx context.Context, db Querier, q expr, keys []sortKey, rows *[]row) error {
	err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
		raw := make([]any, len(keys))
		extra := make([]any, len(keys))
		for i := range raw {
			extra[i] = &raw[i]
		}
		v, err := scanVersion(scan, extra...)
		if err != nil {
			return err
		}
		vals := make([]any, len(keys))
		for i, k := range keys {
			if vals[i], err = keyValue(k.kind, raw[i]); err != nil {
				return err
			}
		}
		*rows = append(*rows, row{v, vals})
		return nil
	})
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	return nil
}

// keyset is the condition that a row m comes after (or, for a backward
// cursor, before) the cursor's row in the sort order: lexicographic over
// the keys, NULLs last, then the id.
func (b *builder) keyset(keys []sortKey, cur *cursor) (expr, error) {
	if len(cur.Keys) != len(keys) {
		return expr{}, badCursor()
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		a, err := keyArg(k.kind, cur.Keys[i])
		if err != nil {
			return expr{}, err
		}
		args[i] = a
	}
	backward := cur.Dir == dirBefore
	idCol := "m.id" + b.o.Dialect.ByteOrder
	var build func(i int) expr
	build = func(i int) expr {
		if i == len(keys) {
			op := map[[2]bool]string{{false, false}: ">", {false, true}: ">=", {true, false}: "<", {true, true}: "<="}[[2]bool{backward, cur.Inclusive}]
			return ex(idCol+" "+op+" ?", cur.ID)
		}
		k := keys[i]
		col := fmt.Sprintf("m.s%d", i)
		rest := build(i + 1)
		if args[i] == nil {
			if backward {
				return or(ex(col+" IS NOT NULL"), and(ex(col+" IS NULL"), rest))
			}
			return and(ex(col+" IS NULL"), rest)
		}
		// Strictly beyond the cursor's value in the scan direction.
		op := ">"
		if k.desc != backward {
			op = "<"
		}
		beyond := ex(col+" "+op+" ?", args[i])
		if !backward && !k.nonNull {
			beyond = or(beyond, ex(col+" IS NULL"))
		}
		return or(beyond, and(ex(col+" = ?", args[i]), rest))
	}
	e := build(0)
	if k := keys[0]; k.nonNull && args[0] != nil {
		// Redundant, but an index on the first key can use it.
		op := ">="
		if k.desc != backward {
			op = "<="
		}
		e = and(ex(fmt.Sprintf("m.s0 %s ?", op), args[0]), e)
	}
	return e, nil
}

// keyValue turns a scanned sort value into what a cursor holds: int64
// for times and dates, a string for text and decimals, nil for none.
func keyValue(kind keyKind, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UnixMicro(), nil
	case int64:
		if kind == kindDecimal {
			return fmt.Sprint(x), nil
		}
		return x, nil
	case int32:
		return int64(x), nil
	case float64:
		if kind == kindDecimal {
			return fmt.Sprint(x), nil
		}
		return int64(x), nil
	case []byte:
		return string(x), nil
	case string:
		return x, nil
	}
	return nil, fmt.Errorf("sort value of type %T", v)
}

// keyArg turns a cursor's value back into a query argument.
func keyArg(kind keyKind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case kindTimestamp, kindInt:
		n, ok := v.(int64)
		if !ok {
			return nil, badCursor()
		}
		if kind == kindTimestamp {
			return Timestamp(n), nil
		}
		return n, nil
	case kindDecimal:
		s, ok := v.(string)
		if !ok {
			return nil, badCursor()
		}
		return search.Decimal(s), nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, badCursor()
	}
	return s, nil
}

// scanVersion scans the version columns, then extra.
func scanVersion(scan func(...any) error, extra ...any) (store.Version, error) {
	var v store.Version
	var lu any
	var method string
	dest := append([]any{&v.Type, &v.ID, &v.VersionID, &lu, &method, &v.Deleted, &v.Body}, extra...)
	if err := scan(dest...); err != nil {
		return store.Version{}, err
	}
	switch t := lu.(type) {
	case time.Time:
		v.LastUpdated = t.UTC()
	case int64:
		v.LastUpdated = time.UnixMicro(t).UTC()
	default:
		return store.Version{}, fmt.Errorf("last_updated of type %T", lu)
	}
	v.Method = store.Method(method)
	return v, nil
}

// resourceKey names a resource.
type resourceKey struct{ typ, id string }

// includes follows q's _include and _revinclude from the matches: first
// every one of them from the matches, then, round after round, the
// :iterate ones from what the previous round brought in, until a round
// brings nothing new or MaxIncludeDepth rounds have run. Each resource
// comes once, and never a match. Only references to this server (relative,
// or under BaseURL) are followed; canonical references are not.
func (b *builder) includes(ctx context.Context, db Querier, q *search.Query, matches []store.Version) ([]store.Version, error) {
	seen := map[resourceKey]bool{}
	for _, m := range matches {
		seen[resourceKey{m.Type, m.ID}] = true
	}
	var out []store.Version
	frontier := matches
	for depth := 0; len(frontier) > 0 && depth < MaxIncludeDepth; depth++ {
		byType := map[string][]string{}
		for _, v := range frontier {
			byType[v.Type] = append(byType[v.Type], v.ID)
		}
		found := map[resourceKey]bool{}
		for _, inc := range q.Include {
			if depth > 0 && !inc.Iterate {
				continue
			}
			for typ, ids := range byType {
				if inc.Source != "*" && inc.Source != typ {
					continue
				}
				if err := b.follow(ctx, db, inc, typ, ids, false, found); err != nil {
					return nil, err
				}
			}
		}
		for _, inc := range q.RevInclude {
			if depth > 0 && !inc.Iterate {
				continue
			}
			for typ, ids := range byType {
				if inc.Target != "" && inc.Target != typ {
					continue
				}
				if err := b.follow(ctx, db, inc, typ, ids, true, found); err != nil {
					return nil, err
				}
			}
		}
		var fresh []resourceKey
		for k := range found {
			if !seen[k] {
				seen[k] = true
				fresh = append(fresh, k)
			}
		}
		level, err := b.fetch(ctx, db, fresh)
		if err != nil {
			return nil, err
		}
		out = append(out, level...)
		frontier = level
	}
	return out, nil
}

// follow adds to found the resources one include reaches from resources
// of typ: those they reference, or (reverse) those referencing them.
func (b *builder) follow(ctx context.Context, db Querier, inc search.Include, typ string, ids []string, reverse bool, found map[resourceKey]bool) error {
	switch {
	case !reverse && b.audit(typ):
		return b.followAudit(ctx, db, inc, ids, found)
	case reverse && b.audit(inc.Source):
		return b.followIntoAudit(ctx, db, inc, typ, ids, found)
	case reverse && inc.Source == "*" && b.o.Dialect.AuditTable:
		if err := b.followIntoAudit(ctx, db, inc, typ, ids, found); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(ids, maxIDs) {
		var q expr
		if reverse {
			q = cat(ex("SELECT DISTINCT c.res_type, c.res_id FROM idx_reference c WHERE c.target_type = ? AND ", typ), inList("c.target_id", chunk), ex(" AND "), b.local("c"))
			if inc.Source != "*" {
				q = cat(q, ex(" AND c.res_type = ?", inc.Source))
			}
		} else {
			q = cat(ex("SELECT DISTINCT c.target_type, c.target_id FROM idx_reference c WHERE c.res_type = ? AND ", typ), inList("c.res_id", chunk),
				ex(" AND c.target_id IS NOT NULL AND c.target_type IS NOT NULL AND "), b.local("c"))
			if inc.Target != "" {
				q = cat(q, ex(" AND c.target_type = ?", inc.Target))
			}
		}
		if inc.Param != "*" {
			q = cat(q, ex(" AND c.param = ?", inc.Param))
		}
		err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			var k resourceKey
			if err := scan(&k.typ, &k.id); err != nil {
				return err
			}
			found[k] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("include: %w", err)
		}
	}
	return nil
}

// fetch reads the live current versions of keys, ordered by type and id.
func (b *builder) fetch(ctx context.Context, db Querier, keys []resourceKey) ([]store.Version, error) {
	byType := map[string][]string{}
	for _, k := range keys {
		byType[k.typ] = append(byType[k.typ], k.id)
	}
	var out []store.Version
	for typ, ids := range byType {
		if b.audit(typ) {
			if err := b.fetchAudit(ctx, db, ids, &out); err != nil {
				return nil, err
			}
			continue
		}
		for chunk := range slices.Chunk(ids, maxIDs) {
			q := cat(ex("SELECT "+versionColumns+" FROM resources WHERE type = ? AND NOT deleted AND ", typ), inList("id", chunk))
			if b.tenancy.Applies(typ) {
				q = cat(q, ex(" AND "), b.labelled("resources.type", "resources.id"))
			}
			err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
				v, err := scanVersion(scan)
				if err == nil {
					out = append(out, v)
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("include: %w", err)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.Version) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Rebind rewrites ? placeholders as $1, $2 ... for PostgreSQL. The SQL
// Search builds never has a ? inside a literal.
func Rebind(sql string) string {
	n := strings.Count(sql, "?")
	if n == 0 {
		return sql
	}
	var b strings.Builder
	b.Grow(len(sql) + n*3)
	i := 0
	for _, c := range []byte(sql) {
		if c == '?' {
			i++
			fmt.Fprintf(&b, "$%d", i)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
