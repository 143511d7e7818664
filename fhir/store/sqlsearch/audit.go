package sqlsearch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// The audit log. AuditEvents are the gateway's most written
// resource — one for every access to patient data, two for a navigation —
// and are never changed, never deleted and rarely searched. In the
// general tables each cost a resources row, a history row and about 22
// search index rows in some 50 B-tree entries, which was half of the
// index work of a navigation and two thirds of a create's. Both stores
// keep them in an audit table of their own instead, audit_events: a row
// per event with its body, its times as columns and its search index as
// terms. PostgreSQL holds the terms as one array under a GIN index (whose
// pending list takes an insert as one append), and a search is a
// containment test on that array; SQLite (Dialect.AuditTermRows) holds
// the indexed terms as rows of audit_terms (term, seq) and the others as
// a JSON array, and a search is a lookup of those rows. That is the only
// difference: the terms, the SQL around them and so what is answered and
// what refused are the same on both, which storetest.RunAuditEvents
// checks on each.
//
// The terms come from the same rows (RowsOf) as the general index, so the
// same parameters are searchable, with these forms (a term is its kind,
// the parameter code and its values, joined by termSep, which no FHIR
// string can hold):
//
//	token      t param system code   system|code, |code (system "")
//	           c param code          code (any system)
//	           s param system        system| (any code)
//	string     v param prefix        every prefix of the normalised value,
//	                                 up to auditPrefixBytes
//	           x param exact         :exact
//	reference  r param base type id [version]   a literal Type/id
//	           i param base id                  a bare id, any type
//	           n param system value, m param value   :identifier
//	           u param url                      anything else, as written
//	uri        u param value
//	any        p param               the parameter has a value (:missing)
//
// Only some of the terms are in the GIN-indexed column, terms: every
// kind but three, which are in tags, where no index covers them. A token
// value has its code term (c) indexed, and its system|code term (t) and
// system term (s) in tags: a search for system|code finds the rows
// holding the code through the index and keeps those holding the system
// too, which is exact, since a t term is only written beside its c term;
// a search for system| alone (rare) filters rows read in date order.
// Presence terms (p) are in tags too: a :missing search matches most or
// almost no rows, and the index helps with neither. A read's AuditEvent
// so has about 30 index entries instead of 60; an insert's cost in the
// database is mostly its index entries. Rows written before tags existed
// hold every term in terms and NULL tags; conditions on tags read
// COALESCE(tags, terms), so those rows are found all the same.
//
// The date parameter (AuditEvent.recorded) and _lastUpdated are columns,
// with B-tree indexes; _id is the key. What the terms cannot answer is
// refused, on both stores, with a 400 (not-supported, with
// fhir.DetailUnsupportedSearch) naming it, not answered wrongly:
//
//	refused                              answered instead
//	:contains, :text on strings          a prefix (no modifier), :exact
//	strings longer than auditPrefixBytes the first auditPrefixBytes
//	token modifiers but :not             code, system|code, system|, |code
//	:below on uris                       exact, :above
//	reference modifiers but :not,        Type/id, id, absolute URLs,
//	  :identifier and a target type        :identifier
//	chains from AuditEvent or into it,
//	  _has on AuditEvent
//	_sort by anything else               date, _lastUpdated, _id
//	number and quantity parameters       (AuditEvent has none)
//	a compartment search with several
//	  parameters

// AuditType is the type the audit log holds.
const AuditType = "AuditEvent"

// termSep separates a term's parts: a control character FHIR strings
// cannot contain (R4 2.24.0.1: no code points below 32 but tab, CR, LF).
const termSep = "\x1f"

// auditPrefixBytes bounds the string prefixes kept as terms.
const auditPrefixBytes = 64

// auditDateParam is the AuditEvent date parameter held as columns.
const auditDateParam = "date"

func term(parts ...string) string { return strings.Join(parts, termSep) }

// AuditRow is what the audit table holds of an AuditEvent besides its id,
// body and lastUpdated.
type AuditRow struct {
	// RecordedLow and RecordedHigh are the date parameter's range, Unix
	// microseconds (Micros); Recorded says there is one.
	RecordedLow, RecordedHigh int64
	Recorded                  bool
	// Terms are the GIN-indexed terms, Tags the others (auditTag).
	Terms, Tags []string
}

// auditTag says whether terms of kind go to tags.
func auditTag(kind string) bool { return kind == "t" || kind == "s" || kind == "p" }

// tagsColumn is where a condition on tags looks: see the rows written
// before tags existed above.
const tagsColumn = "COALESCE(r.tags, r.terms)"

// auditAny is the condition that audit row r holds one of terms, which
// are all of one column. In SQLite (Dialect.AuditTermRows) the indexed
// terms are rows of audit_terms, keyed by term and the event's seq, and
// the tags a JSON array.
func (b *builder) auditAny(terms []string) expr {
	kind, _, _ := strings.Cut(terms[0], termSep)
	if b.o.Dialect.AuditTermRows {
		if auditTag(kind) {
			return cat(ex("EXISTS (SELECT 1 FROM json_each(r.tags) WHERE "), inList("json_each.value", terms), ex(")"))
		}
		return cat(ex("r.seq IN (SELECT seq FROM audit_terms WHERE "), inList("term", terms), ex(")"))
	}
	if auditTag(kind) {
		return ex(tagsColumn+" && ?::text[]", terms)
	}
	return ex("r.terms && ?::text[]", terms)
}

// AuditRowOf is the audit table's row for rows, an AuditEvent's index.
func AuditRowOf(rows *Rows) AuditRow {
	out := AuditRow{Terms: make([]string, 0, 48), Tags: make([]string, 0, 32)}
	seen := make(map[string]bool, 80)
	var buf []byte
	add := func(parts ...string) {
		// term(parts...), built in buf: a term seen already costs no
		// allocation (the map lookup does not copy buf).
		buf = buf[:0]
		for i, p := range parts {
			if i > 0 {
				buf = append(buf, termSep...)
			}
			buf = append(buf, p...)
		}
		if seen[string(buf)] {
			return
		}
		t := string(buf)
		seen[t] = true
		if auditTag(parts[0]) {
			out.Tags = append(out.Tags, t)
		} else {
			out.Terms = append(out.Terms, t)
		}
	}
	present := func(param string) { add("p", param) }
	for _, t := range rows.Tokens {
		present(t.Param)
		add("t", t.Param, t.System, t.Code)
		if t.Code != "" {
			add("c", t.Param, t.Code)
		}
		if t.System != "" {
			add("s", t.Param, t.System)
		}
	}
	for _, s := range rows.Strings {
		present(s.Param)
		add("x", s.Param, s.Exact)
		v := s.Value
		for i := range v {
			if i > auditPrefixBytes {
				break
			}
			if i > 0 && utf8.RuneStart(v[i]) {
				add("v", s.Param, v[:i])
			}
		}
		if len(v) <= auditPrefixBytes {
			add("v", s.Param, v)
		}
	}
	for _, r := range rows.References {
		present(r.Param)
		switch {
		case r.IdentifierValue != "":
			add("n", r.Param, r.IdentifierSystem, r.IdentifierValue)
			add("m", r.Param, r.IdentifierValue)
		case r.ID != "":
			add("i", r.Param, r.Base, r.ID)
			if r.Type != "" {
				add("r", r.Param, r.Base, r.Type, r.ID)
				if r.Version != "" {
					add("r", r.Param, r.Base, r.Type, r.ID, r.Version)
				}
			}
		}
		if r.URL != "" {
			add("u", r.Param, r.URL)
		}
	}
	for _, u := range rows.URIs {
		present(u.Param)
		add("u", u.Param, u.Value)
	}
	for _, d := range rows.Dates {
		present(d.Param)
		if d.Param != auditDateParam {
			continue
		}
		if !out.Recorded || d.Low < out.RecordedLow {
			out.RecordedLow = d.Low
		}
		if !out.Recorded || d.High > out.RecordedHigh {
			out.RecordedHigh = d.High
		}
		out.Recorded = true
	}
	for _, n := range rows.Numbers {
		present(n.Param)
	}
	for _, q := range rows.Quantities {
		present(q.Param)
	}
	if !out.Recorded {
		out.RecordedLow, out.RecordedHigh = Micros(search.MaxTime), Micros(search.MinTime)
	}
	return out
}

func auditUnsupported(format string, args ...any) *fhir.Error {
	return fhir.Errorf(fhir.CodeNotSupported, "AuditEvent search: "+format, args...).Because(fhir.DetailUnsupportedSearch)
}

// auditBases are the bases a local reference may be written with.
func (b *builder) auditBases() []string {
	if b.o.BaseURL == "" {
		return []string{""}
	}
	return []string{"", b.o.BaseURL}
}

// auditValue is the condition that audit row r matches one value of p.
func (b *builder) auditValue(p *search.Param, v *search.Value) (expr, error) {
	if p.Def.Type == search.TypeToken {
		switch p.Modifier {
		case "", search.ModNot:
		default:
			return expr{}, auditUnsupported("the :%s modifier is not supported", p.Modifier)
		}
		code := p.Def.Code
		switch {
		case !v.SystemGiven:
			return b.auditAny([]string{term("c", code, v.Code)}), nil
		case v.Code == "" && v.System != "":
			return b.auditAny([]string{term("s", code, v.System)}), nil
		case v.Code == "":
			// "|": a token with neither (text only) has no code term.
			return b.auditAny([]string{term("t", code, "", "")}), nil
		}
		// The indexed code term finds the candidates, the tag makes the
		// system exact.
		return paren(cat(b.auditAny([]string{term("c", code, v.Code)}), ex(" AND "), b.auditAny([]string{term("t", code, v.System, v.Code)}))), nil
	}
	terms, err := b.auditTerms(p, v)
	if err != nil {
		return expr{}, err
	}
	return b.auditAny(terms), nil
}

// auditTerms are the terms one value of p, of a type other than token,
// matches (any of them).
func (b *builder) auditTerms(p *search.Param, v *search.Value) ([]string, error) {
	d := p.Def
	code := d.Code
	switch d.Type {
	case search.TypeString:
		switch p.Modifier {
		case search.ModExact:
			return []string{term("x", code, v.Exact)}, nil
		case "":
		default:
			return nil, auditUnsupported("the :%s modifier is not supported", p.Modifier)
		}
		if len(v.Text) > auditPrefixBytes {
			return nil, auditUnsupported("%s values are searched by their first %d bytes at most", p.Name, auditPrefixBytes)
		}
		if v.Text == "" {
			return []string{term("p", code)}, nil
		}
		return []string{term("v", code, v.Text)}, nil
	case search.TypeURI:
		switch p.Modifier {
		case "":
			return []string{term("u", code, v.URL)}, nil
		case search.ModAbove:
			var out []string
			for _, u := range uriPrefixes(v.URL) {
				out = append(out, term("u", code, u))
			}
			return out, nil
		}
		return nil, auditUnsupported("the :%s modifier is not supported", p.Modifier)
	case search.TypeReference:
		if p.Modifier == search.ModIdentifier {
			if v.SystemGiven {
				return []string{term("n", code, v.System, v.Code)}, nil
			}
			return []string{term("m", code, v.Code)}, nil
		}
		if p.Modifier != "" && p.Modifier != search.ModNot && p.TargetType == "" {
			return nil, auditUnsupported("the :%s modifier is not supported", p.Modifier)
		}
		if d.Canonical || v.ID == "" {
			u := v.URL
			if d.Canonical && v.Version != "" {
				u += "|" + v.Version
			}
			return []string{term("u", code, u)}, nil
		}
		bases := b.auditBases()
		if v.Base != "" && strings.TrimSuffix(v.Base, "/") != b.o.BaseURL {
			bases = []string{v.Base}
		}
		var out []string
		for _, base := range bases {
			switch {
			case v.Type == "":
				out = append(out, term("i", code, base, v.ID))
			case v.Version != "":
				out = append(out, term("r", code, base, v.Type, v.ID, v.Version))
			default:
				out = append(out, term("r", code, base, v.Type, v.ID))
			}
		}
		return out, nil
	}
	return nil, auditUnsupported("%s parameters are not supported", d.Type)
}

// auditCond is what one parameter asks of an audit row r.
func (b *builder) auditCond(p *search.Param) (expr, error) {
	if p.Chain != nil || p.Has != nil {
		return expr{}, auditUnsupported("chained parameters are not supported")
	}
	d := p.Def
	if d == nil {
		return expr{}, fmt.Errorf("sqlsearch: parameter %s has no definition", p.Name)
	}
	switch d.Code {
	case "_id":
		c := b.idCond(p)
		return c.onResource("r"), nil
	case "_lastUpdated":
		c := b.lastUpdatedCond(p)
		return c.onResource("r"), nil
	}
	if p.Modifier == search.ModMissing {
		has := b.auditAny([]string{term("p", d.Code)})
		if len(p.Values) > 0 && p.Values[0].Missing {
			return cat(ex("NOT "), has), nil
		}
		return has, nil
	}
	if len(p.Values) == 0 {
		return expr{}, fmt.Errorf("sqlsearch: parameter %s has no value", p.Name)
	}
	if d.Type == search.TypeDate {
		if d.Code != auditDateParam {
			return expr{}, auditUnsupported("date parameter %s is not supported", p.Name)
		}
		vals := make([]expr, 0, len(p.Values))
		for i := range p.Values {
			vals = append(vals, b.dateValue(&p.Values[i], "r.recorded_low", "r.recorded_high", func(t time.Time, _ bool) any { return Micros(t) }))
		}
		return or(vals...), nil
	}
	vals := make([]expr, 0, len(p.Values))
	for i := range p.Values {
		v, err := b.auditValue(p, &p.Values[i])
		if err != nil {
			return expr{}, err
		}
		vals = append(vals, v)
	}
	e := or(vals...)
	if p.Modifier == search.ModNot {
		return cat(ex("NOT "), e), nil
	}
	return e, nil
}

// auditLabelled is the tenancy condition on audit row r: one of the
// tenancy's labels among its _security terms.
func (b *builder) auditLabelled() expr {
	t := b.tenancy
	if len(t.Codes) == 0 {
		return never
	}
	codes, terms := make([]string, len(t.Codes)), make([]string, len(t.Codes))
	for i, c := range t.Codes {
		codes[i], terms[i] = term("c", "_security", c), term("t", "_security", t.System, c)
	}
	return paren(cat(b.auditAny(codes), ex(" AND "), b.auditAny(terms)))
}

// auditSortKeys are q's sort keys on the audit table.
func (b *builder) auditSortKeys(q *search.Query) ([]sortKey, error) {
	sorts := q.Sort
	if len(sorts) == 0 {
		sorts = []search.SortKey{{Name: "_lastUpdated", Descending: true}}
	}
	keys := make([]sortKey, 0, len(sorts))
	for _, s := range sorts {
		k := sortKey{name: s.Name, desc: s.Descending, nonNull: true}
		switch s.Name {
		case "_lastUpdated":
			k.kind, k.expr = kindTimestamp, ex("r.last_updated")
		case "_id":
			k.kind, k.expr = kindText, ex("r.id")
		case auditDateParam:
			k.kind, k.expr = kindInt, ex("r.recorded_low")
			if s.Descending {
				k.expr = ex("r.recorded_high")
			}
		default:
			return nil, auditUnsupported("_sort by %s is not supported (date, _lastUpdated and _id are)", s.Name).At("_sort")
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// auditColumns are an audit row as a version's columns (versionColumns).
func (b *builder) auditColumns() string { return b.auditVersion("r.id", "r.last_updated", "r.body") }

// auditVersion are the columns of a version for an audit row's id, time
// and body.
func (b *builder) auditVersion(id, lu, body string) string {
	one := "1::bigint"
	if b.o.Dialect.AuditTermRows {
		one = "1"
	}
	return "'" + AuditType + "', " + id + ", " + one + ", " + lu + ", 'POST', false, " + body
}

// searchAudit is Search on the audit table.
func (b *builder) searchAudit(ctx context.Context, db Querier, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	if q.Compartment != nil {
		return store.SearchPage{}, auditUnsupported("compartment search of AuditEvent with several parameters is not supported")
	}
	keys, err := b.auditSortKeys(q)
	if err != nil {
		return store.SearchPage{}, err
	}
	var conds []expr
	for i := range q.Params {
		c, err := b.auditCond(&q.Params[i])
		if err != nil {
			return store.SearchPage{}, err
		}
		conds = append(conds, c)
	}
	if b.tenancy.Applies(AuditType) {
		conds = append(conds, b.auditLabelled())
	}
	where := ex("audit_events r")
	if len(conds) > 0 {
		where = cat(where, ex(" WHERE "), join(" AND ", conds))
	}
	counts := func() []expr { return []expr{cat(ex("SELECT count(*) FROM "), where)} }
	return b.paged(ctx, db, q, page, keys, counts, func(cur *cursor, out *store.SearchPage) error {
		return b.auditPage(ctx, db, where, keys, cur, page.Count, out)
	})
}

// auditPage reads one page of audit rows matching where (what follows
// FROM) in the order of keys, as page does resources.
func (b *builder) auditPage(ctx context.Context, db Querier, where expr, keys []sortKey, cur *cursor, count int, out *store.SearchPage) error {
	backward := cur != nil && cur.Dir == dirBefore
	sel := []expr{ex("r.id AS id, r.last_updated AS lu, r.body AS body")}
	outer := []string{b.auditVersion("m.id", "m.lu", "m.body")}
	for i, k := range keys {
		sel = append(sel, cat(k.expr, ex(fmt.Sprintf(" AS s%d", i))))
		outer = append(outer, fmt.Sprintf("m.s%d", i))
	}
	stmt := cat(ex("SELECT "+strings.Join(outer, ", ")+" FROM (SELECT "), join(", ", sel), ex(" FROM "), where, ex(") m"))
	if cur != nil {
		ks, err := b.keyset(keys, cur)
		if err != nil {
			return err
		}
		stmt = cat(stmt, ex(" WHERE "), ks)
	}
	parts := make([]string, 0, len(keys)+1)
	for i, k := range keys {
		o := fmt.Sprintf("m.s%d", i)
		if k.desc != backward {
			o += " DESC"
		}
		parts = append(parts, o)
	}
	id := "m.id"
	if backward {
		id += " DESC"
	}
	stmt = cat(stmt, ex(" ORDER BY "+strings.Join(append(parts, id), ", ")+" LIMIT ?", count+1))
	return b.collect(ctx, db, []expr{stmt}, keys, cur, count, out)
}

// followAudit is follow from audit rows: the references their terms hold.
func (b *builder) followAudit(ctx context.Context, db Querier, inc search.Include, ids []string, found map[resourceKey]bool) error {
	col := "r.terms"
	if b.o.Dialect.AuditTermRows {
		// No terms column: they are derived again from the body.
		col = "r.body"
	}
	for chunk := range slices.Chunk(ids, maxIDs) {
		q := cat(ex("SELECT "+col+" FROM audit_events r WHERE "), inList("r.id", chunk))
		err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			var terms []string
			if b.o.Dialect.AuditTermRows {
				var body []byte
				if err := scan(&body); err != nil {
					return err
				}
				r, err := fhir.ParseResource(body)
				if err != nil {
					return err
				}
				rows := RowsOf(r)
				terms = AuditRowOf(&rows).Terms
			} else if err := scan(&terms); err != nil {
				return err
			}
			// Only references to this server: relative or under BaseURL.
			for _, k := range auditReferences(terms, inc.Param, inc.Target, b.auditBases()) {
				found[k] = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("include: %w", err)
		}
	}
	return nil
}

// auditReferences are the literal references (Type/id, written with one
// of bases) of param ("*": any) to target ("": any type) that an
// AuditEvent's terms hold: what _include follows.
func auditReferences(terms []string, param, target string, bases []string) []resourceKey {
	var out []resourceKey
	for _, t := range terms {
		parts := strings.Split(t, termSep)
		if len(parts) != 5 || parts[0] != "r" || !slices.Contains(bases, parts[2]) {
			continue
		}
		if (param == "*" || parts[1] == param) && (target == "" || parts[3] == target) {
			out = append(out, resourceKey{parts[3], parts[4]})
		}
	}
	return out
}

// followIntoAudit is a _revinclude of AuditEvents: the audit rows whose
// reference parameter (every one for "*") names one of typ's ids.
func (b *builder) followIntoAudit(ctx context.Context, db Querier, inc search.Include, typ string, ids []string, found map[resourceKey]bool) error {
	params := []string{inc.Param}
	if inc.Param == "*" {
		params = nil
		for _, d := range search.Definitions(AuditType) {
			if d.Type == search.TypeReference && d.Supported {
				params = append(params, d.Code)
			}
		}
	}
	for chunk := range slices.Chunk(ids, maxIDs) {
		var terms []string
		for _, param := range params {
			for _, base := range b.auditBases() {
				for _, id := range chunk {
					terms = append(terms, term("r", param, base, typ, id))
				}
			}
		}
		q := cat(ex("SELECT r.id FROM audit_events r WHERE "), b.auditAny(terms))
		err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			found[resourceKey{AuditType, id}] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("include: %w", err)
		}
	}
	return nil
}

// fetchAudit reads audit rows by id, as fetch does resources.
func (b *builder) fetchAudit(ctx context.Context, db Querier, ids []string, out *[]store.Version) error {
	for chunk := range slices.Chunk(ids, maxIDs) {
		q := cat(ex("SELECT "+b.auditColumns()+" FROM audit_events r WHERE "), inList("r.id", chunk))
		if b.tenancy.Applies(AuditType) {
			q = cat(q, ex(" AND "), b.auditLabelled())
		}
		err := db.Query(ctx, q.sql, q.args, func(scan func(...any) error) error {
			v, err := scanVersion(scan)
			if err == nil {
				*out = append(*out, v)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("include: %w", err)
		}
	}
	return nil
}
