package sqlsearch

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// expr is a piece of SQL with the arguments of its ? placeholders, in
// order. Pieces compose by concatenation, which keeps the order right.
type expr struct {
	sql  string
	args []any
}

func ex(sql string, args ...any) expr { return expr{sql, args} }

// join joins pieces with sep.
func join(sep string, es []expr) expr {
	var b strings.Builder
	var args []any
	for i, e := range es {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(e.sql)
		args = append(args, e.args...)
	}
	return expr{b.String(), args}
}

func and(es ...expr) expr { return paren(join(" AND ", es)) }

func or(es ...expr) expr {
	if len(es) == 1 {
		return es[0]
	}
	return paren(join(" OR ", es))
}

func paren(e expr) expr { return expr{"(" + e.sql + ")", e.args} }

// cat concatenates pieces.
func cat(es ...expr) expr { return join("", es) }

// inList is col IN (?, ?, ...).
func inList[T any](col string, vals []T) expr {
	if len(vals) == 1 {
		return ex(col+" = ?", vals[0])
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return expr{col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")", args}
}

var (
	never  = ex("1 = 0")
	always = ex("1 = 1")
)

// cond is what one search parameter asks of a resource.
type cond struct {
	// table is the index table whose rows the condition tests, with the
	// row as alias c; "" when it tests the resource's own row (_id,
	// _lastUpdated), as alias res (see onResource).
	table string
	row   expr
	// onResource builds the condition for a resources row alias (used
	// when table is "").
	onResource func(alias string) expr
	// neg: the resource matches when it has NO row matching row (:not,
	// :missing=true).
	neg bool
}

// audit reports whether typ lives in the audit table (audit.go).
func (b *builder) audit(typ string) bool { return typ == AuditType && b.o.Dialect.AuditTable }

// builder turns a search.Query into SQL.
type builder struct {
	o   Options
	now time.Time
	typ string // the searched type
	// tenancy is the query's Tenancy (tenancy.go); nil for none.
	tenancy *search.Tenancy
	// fold are the status codes reference conditions add as res_status
	// (see statusFold); folded says some did.
	fold   []string
	folded bool
	// at is the instant the search's first page was read (Unix
	// microseconds); snap, on a later page, what changed since.
	at   int64
	snap *snapshot
	// links numbers the aliases of the nested links of multi-level chains
	// and _has (deep).
	links int
}

// local is the condition that reference row alias points at this server:
// a relative reference, or an absolute one with this server's base.
func (b *builder) local(alias string) expr {
	if b.o.BaseURL == "" {
		return ex(alias + ".base = ''")
	}
	return ex("("+alias+".base = '' OR "+alias+".base = ?)", b.o.BaseURL)
}

// where is the filter of a search, ready to be written over resources r
// (from) or over the ids one index condition gives (driven).
type where struct {
	typ   string
	parts []part
	// live: some part requires an index row of r itself (a positive
	// top-level condition or a chain), so r is live: index rows exist
	// only for live resources. "NOT r.deleted" is then implied.
	live bool
	// resourceColumns: some part reads a column of resources other than
	// type and id (_lastUpdated).
	resourceColumns bool
	// probe: the dialect tests broad conditions candidate by candidate
	// (Dialect.ProbeFilters).
	probe bool
}

// part is one parameter's condition on r.
type part struct {
	e expr
	// driver, when set, selects (id, type) of the resources matching e
	// from index rows alone; rank says how selective it is likely to be
	// (lower is better).
	driver *expr
	rank   int
	// dates: the driver also selects dl and dh, the worklist date's sort
	// values reference rows carry (Rows.DateLow).
	dates bool
	// probe, when set, is e as a correlated test of r's own index rows
	// (Dialect.ProbeFilters).
	probe *expr
}

// from is the resources table as r, and the condition on it.
func (w *where) from() (item, cond expr) {
	es := []expr{ex("r.type = ?", w.typ)}
	if !w.live {
		es = append(es, ex("NOT r.deleted"))
	}
	for _, p := range w.parts {
		es = append(es, p.e)
	}
	return ex("resources r"), join(" AND ", es)
}

// driven is "(SELECT DISTINCT id, type FROM <index rows>) r" and the
// condition on it: the candidates come from the most selective-looking
// index condition instead of resources, which spares a resources_pkey
// probe per candidate (index rows imply a live resource). ok is false
// when no part can drive or the query needs resource columns. cond is
// empty when nothing else is asked.
func (w *where) driven() (item, cond expr, dates, ok bool) {
	if !w.live || w.resourceColumns {
		return expr{}, expr{}, false, false
	}
	best := -1
	for i, p := range w.parts {
		if p.driver != nil && (best < 0 || p.rank < w.parts[best].rank) {
			best = i
		}
	}
	if best < 0 {
		return expr{}, expr{}, false, false
	}
	es := make([]expr, 0, len(w.parts))
	for i, p := range w.parts {
		switch {
		case i == best:
		case w.probe && p.probe != nil && p.rank > w.parts[best].rank:
			es = append(es, *p.probe)
		default:
			es = append(es, p.e)
		}
	}
	return cat(ex("("), *w.parts[best].driver, ex(") r")), join(" AND ", es), w.parts[best].dates, true
}

// source writes "item [joins] [WHERE cond]".
func source(item expr, joins []expr, cond expr) expr {
	e := cat(append([]expr{item}, joins...)...)
	if cond.sql != "" {
		e = cat(e, ex(" WHERE "), cond)
	}
	return e
}

// filters builds the filter of q.
func (b *builder) filters(q *search.Query) (*where, error) {
	w := &where{typ: q.Type, probe: b.o.Dialect.ProbeFilters}
	status := b.statusFold(q)
	for i := range q.Params {
		if i == status && b.folded {
			continue
		}
		p, err := b.param(q.Type, &q.Params[i])
		if err != nil {
			return nil, err
		}
		w.parts = append(w.parts, p)
		w.live = w.live || p.driver != nil
		w.resourceColumns = w.resourceColumns || q.Params[i].Def != nil && q.Params[i].Def.Code == "_lastUpdated" && q.Params[i].Chain == nil
	}
	if q.Compartment != nil {
		p := b.compartment(q.Type, q.Compartment)
		w.parts = append(w.parts, p)
		w.live = w.live || p.driver != nil
	}
	if status >= 0 && !b.folded {
		// No reference condition took the status: test it as usual.
		b.fold = nil
		p, err := b.param(q.Type, &q.Params[status])
		if err != nil {
			return nil, err
		}
		w.parts = append(w.parts, p)
		w.live = true
	}
	return w, nil
}

// statusFold finds a status search the reference conditions can answer
// through res_status (see Rows.Status): one plain status parameter of a
// type whose status is a single code, with codes and no system. It sets
// b.fold to the codes and returns the parameter's index, or -1. The
// parameter is skipped while the others are built; each positive
// reference condition adds res_status IN (codes) and sets b.folded, and
// when none does, filters builds the status condition after all.
func (b *builder) statusFold(q *search.Query) int {
	if !StatusFolds(q.Type) {
		return -1
	}
	found := -1
	for i := range q.Params {
		p := &q.Params[i]
		if p.Def == nil || p.Def.Code != "status" || p.Chain != nil || p.Has != nil {
			continue
		}
		if found >= 0 || p.Modifier != "" {
			return -1
		}
		for _, v := range p.Values {
			if v.SystemGiven && v.System != "" || v.Code == "" {
				return -1
			}
		}
		found = i
	}
	hasRef := false
	for i := range q.Params {
		p := &q.Params[i]
		hasRef = hasRef || p.Chain != nil || p.Def != nil && p.Def.Type == search.TypeReference && p.Modifier != search.ModMissing
	}
	if found < 0 || !hasRef {
		return -1
	}
	b.fold = make([]string, len(q.Params[found].Values))
	for i, v := range q.Params[found].Values {
		b.fold[i] = v.Code
	}
	// Decided before the others are built: a reference condition will
	// take it (hasRef), so the status parameter is skipped.
	b.folded = true
	return found
}

// driverRank orders the conditions that can drive a search: references
// and chains point at few resources, identifiers and exact values are
// nearly unique, bare codes (a status) and ranges match many.
func driverRank(p *search.Param) int {
	if p.Chain != nil {
		return 1
	}
	switch p.Def.Type {
	case search.TypeReference:
		return 1
	case search.TypeToken:
		if p.Modifier == "" {
			for _, v := range p.Values {
				if !v.SystemGiven || v.System == "" || v.Code == "" {
					return 4
				}
			}
			return 2
		}
		return 4
	case search.TypeComposite:
		return 2 // a code and a value
	case search.TypeString, search.TypeURI:
		if p.Modifier == search.ModExact || p.Def.Type == search.TypeURI && p.Modifier == "" {
			return 2
		}
		return 3
	}
	return 5
}

// param is the condition one parameter puts on resources r of typ.
func (b *builder) param(typ string, p *search.Param) (part, error) {
	switch {
	case p.Has != nil:
		e, err := b.has(typ, p.Has)
		return part{e: e}, err
	case p.Chain != nil:
		from, err := b.chain(typ, p)
		if err != nil {
			return part{}, err
		}
		return part{
			e:      cat(ex("r.id IN (SELECT ref.res_id FROM "), from, ex(")")),
			driver: ptr(cat(ex("SELECT DISTINCT ref.res_id AS id, ref.res_type AS type, ref.res_date_low AS dl, ref.res_date_high AS dh FROM "), from)),
			rank:   driverRank(p),
			dates:  true,
		}, nil
	}
	c, err := b.cond(p)
	if err != nil {
		return part{}, err
	}
	switch {
	case c.table == "":
		return part{e: c.onResource("r")}, nil
	case c.neg:
		return part{e: cat(ex("NOT EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = r.type AND c.res_id = r.id AND "), c.row, ex(")"))}, nil
	}
	if c.table == "idx_reference" && len(b.fold) > 0 {
		c.row = and(c.row, inList("c.res_status", b.fold))
	}
	sel, dates := "SELECT DISTINCT c.res_id AS id, c.res_type AS type", false
	if c.table == "idx_reference" {
		sel, dates = sel+", c.res_date_low AS dl, c.res_date_high AS dh", true
	}
	return part{
		e:      cat(ex("r.id IN (SELECT c.res_id FROM "+c.table+" c WHERE c.res_type = ? AND ", typ), c.row, ex(")")),
		driver: ptr(cat(ex(sel+" FROM "+c.table+" c WHERE c.res_type = ? AND ", typ), c.row)),
		rank:   driverRank(p),
		dates:  dates,
		probe:  ptr(cat(ex("EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = r.type AND c.res_id = r.id AND "), c.row, ex(")"))),
	}, nil
}

func ptr[T any](v T) *T { return &v }

// chain is a one-level chain: resources whose reference p points at a
// resource matching p.Chain.Param. It returns what follows FROM in a
// SELECT of ref.res_id.
func (b *builder) chain(typ string, p *search.Param) (expr, error) {
	if slices.ContainsFunc(p.Chain.Types, b.audit) {
		return expr{}, auditUnsupported("chaining into AuditEvent (%s) is not supported", p.Name)
	}
	ref := and(ex("ref.res_type = ? AND ref.param = ?", typ, p.Def.Code), inList("ref.target_type", p.Chain.Types), b.local("ref"),
		b.reachable(p.Chain.Types, "ref.target_type", "ref.target_id"))
	if len(b.fold) > 0 {
		ref = and(ref, inList("ref.res_status", b.fold))
	}
	const sel = "idx_reference ref "
	if inner := &p.Chain.Param; inner.Chain != nil || inner.Has != nil {
		m, err := b.deep("ref.target_type", "ref.target_id", p.Chain.Types, inner)
		if err != nil {
			return expr{}, err
		}
		return cat(ex(sel+"WHERE "), ref, ex(" AND "), m), nil
	}
	c, err := b.cond(&p.Chain.Param)
	if err != nil {
		return expr{}, err
	}
	var e expr
	switch {
	case c.table == "":
		e = cat(ex(sel+"JOIN resources t ON t.type = ref.target_type AND t.id = ref.target_id WHERE "),
			ref, ex(" AND NOT t.deleted AND "), c.onResource("t"))
	case c.neg:
		e = cat(ex(sel+"JOIN resources t ON t.type = ref.target_type AND t.id = ref.target_id WHERE "),
			ref, ex(" AND NOT t.deleted AND NOT EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = t.type AND c.res_id = t.id AND "), c.row, ex(")"))
	default:
		e = cat(ex(sel+"JOIN "+c.table+" c ON c.res_type = ref.target_type AND c.res_id = ref.target_id WHERE "),
			ref, ex(" AND "), c.row)
	}
	return e, nil
}

// has is _has:Type:ref:param: resources r that a resource of h.Type
// matching h.Param points at through h.Ref.
func (b *builder) has(typ string, h *search.Has) (expr, error) {
	if b.audit(h.Type) {
		return expr{}, auditUnsupported("_has:AuditEvent is not supported")
	}
	ref := and(ex("ref.res_type = ? AND ref.param = ? AND ref.target_type = ?", h.Type, h.Ref.Code, typ), b.local("ref"),
		b.reachable([]string{h.Type}, "ref.res_type", "ref.res_id"))
	if inner := &h.Param; inner.Chain != nil || inner.Has != nil {
		m, err := b.deep("ref.res_type", "ref.res_id", []string{h.Type}, inner)
		if err != nil {
			return expr{}, err
		}
		return cat(ex("r.id IN (SELECT ref.target_id FROM idx_reference ref WHERE "), ref, ex(" AND "), m, ex(")")), nil
	}
	c, err := b.cond(&h.Param)
	if err != nil {
		return expr{}, err
	}
	var e expr
	switch {
	case c.table == "":
		e = cat(ex("r.id IN (SELECT ref.target_id FROM idx_reference ref JOIN resources t ON t.type = ref.res_type AND t.id = ref.res_id WHERE "),
			ref, ex(" AND "), c.onResource("t"), ex(")"))
	case c.neg:
		e = cat(ex("r.id IN (SELECT ref.target_id FROM idx_reference ref WHERE "),
			ref, ex(" AND NOT EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = ref.res_type AND c.res_id = ref.res_id AND "), c.row, ex("))"))
	default:
		e = cat(ex("r.id IN (SELECT ref.target_id FROM idx_reference ref JOIN "+c.table+" c ON c.res_type = ref.res_type AND c.res_id = ref.res_id WHERE "),
			ref, ex(" AND "), c.row, ex(")"))
	}
	return e, nil
}

// deep is the condition that the resource the columns typCol and idCol
// name (of one of types) matches p, a parameter of those types that may
// be chained or a _has itself: the links after the first of a multi-level
// chain or nested _has. Each link is an EXISTS on the reference index
// with its own alias, and applies the tenancy to the resources it
// reaches, as the first link does; the parser bounds the depth
// (search.MaxLinks).
func (b *builder) deep(typCol, idCol string, types []string, p *search.Param) (expr, error) {
	b.links++
	k := fmt.Sprintf("k%d", b.links)
	switch {
	case p.Chain != nil:
		if slices.ContainsFunc(p.Chain.Types, b.audit) {
			return expr{}, auditUnsupported("chaining into AuditEvent (%s) is not supported", p.Name)
		}
		m, err := b.deep(k+".target_type", k+".target_id", p.Chain.Types, &p.Chain.Param)
		if err != nil {
			return expr{}, err
		}
		return cat(ex("EXISTS (SELECT 1 FROM idx_reference "+k+" WHERE "+k+".res_type = "+typCol+" AND "+k+".res_id = "+idCol+" AND "+k+".param = ? AND ", p.Def.Code),
			inList(k+".target_type", p.Chain.Types), ex(" AND "), b.local(k), ex(" AND "),
			b.reachable(p.Chain.Types, k+".target_type", k+".target_id"), ex(" AND "), m, ex(")")), nil
	case p.Has != nil:
		h := p.Has
		if b.audit(h.Type) {
			return expr{}, auditUnsupported("_has:AuditEvent is not supported")
		}
		m, err := b.deep(k+".res_type", k+".res_id", []string{h.Type}, &h.Param)
		if err != nil {
			return expr{}, err
		}
		return cat(ex("EXISTS (SELECT 1 FROM idx_reference "+k+" WHERE "+k+".res_type = ? AND "+k+".param = ? AND "+k+".target_type = "+typCol+" AND "+k+".target_id = "+idCol+" AND ", h.Type, h.Ref.Code),
			b.local(k), ex(" AND "), b.reachable([]string{h.Type}, k+".res_type", k+".res_id"), ex(" AND "), m, ex(")")), nil
	}
	c, err := b.cond(p)
	if err != nil {
		return expr{}, err
	}
	// Index rows exist only for live resources; a condition on the
	// resource row or the absence of rows needs the row, live.
	t := "t" + k
	live := "EXISTS (SELECT 1 FROM resources " + t + " WHERE " + t + ".type = " + typCol + " AND " + t + ".id = " + idCol + " AND NOT " + t + ".deleted"
	switch {
	case c.table == "":
		return cat(ex(live+" AND "), c.onResource(t), ex(")")), nil
	case c.neg:
		return cat(ex(live+" AND NOT EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = "+typCol+" AND c.res_id = "+idCol+" AND "), c.row, ex("))")), nil
	}
	return cat(ex("EXISTS (SELECT 1 FROM "+c.table+" c WHERE c.res_type = "+typCol+" AND c.res_id = "+idCol+" AND "), c.row, ex(")")), nil
}

// tables maps parameter types to index tables.
var tables = map[search.ParamType]string{
	search.TypeToken:     "idx_token",
	search.TypeString:    "idx_string",
	search.TypeReference: "idx_reference",
	search.TypeDate:      "idx_date",
	search.TypeNumber:    "idx_number",
	search.TypeQuantity:  "idx_quantity",
	search.TypeURI:       "idx_uri",
}

// cond builds the condition of a parameter without chain or _has.
func (b *builder) cond(p *search.Param) (cond, error) {
	d := p.Def
	if d == nil {
		return cond{}, fmt.Errorf("sqlsearch: parameter %s has no definition", p.Name)
	}
	switch d.Code {
	case "_id":
		return b.idCond(p), nil
	case "_lastUpdated":
		return b.lastUpdatedCond(p), nil
	}
	if p.Modifier == search.ModIn || p.Modifier == search.ModNotIn {
		return cond{}, fmt.Errorf("sqlsearch: parameter %s:%s must be expanded before the search (search.ExpandValueSets)", p.Name, p.Modifier)
	}
	if d.Type == search.TypeComposite {
		return b.compositeCond(p)
	}
	table, ok := tables[d.Type]
	if !ok {
		return cond{}, fhir.Errorf(fhir.CodeNotSupported, "search parameter %s: %s parameters are not supported", p.Name, d.Type).Because(fhir.DetailUnsupportedSearch)
	}
	c := cond{table: table}
	param := ex("c.param = ?", d.Code)
	if p.Modifier == search.ModMissing {
		// One value, true or false: a resource has a value exactly when
		// it has a row for the parameter.
		c.row, c.neg = param, len(p.Values) > 0 && p.Values[0].Missing
		return c, nil
	}
	if len(p.Values) == 0 {
		return cond{}, fmt.Errorf("sqlsearch: parameter %s has no value", p.Name)
	}
	vals := make([]expr, 0, len(p.Values))
	for i := range p.Values {
		vals = append(vals, b.value(p, &p.Values[i]))
	}
	c.row = and(param, or(vals...))
	c.neg = p.Modifier == search.ModNot
	return c, nil
}

// value is the condition one search value puts on an index row c of
// p's type.
func (b *builder) value(p *search.Param, v *search.Value) expr {
	switch p.Def.Type {
	case search.TypeToken:
		return tokenValue(p, v)
	case search.TypeString:
		return stringValue(p, v)
	case search.TypeReference:
		return b.referenceValue(p, v)
	case search.TypeDate:
		return b.dateValue(v, "c.low", "c.high", func(t time.Time, _ bool) any { return Micros(t) })
	case search.TypeNumber:
		return b.numberValue(v, false)
	case search.TypeQuantity:
		e := b.numberValue(v, true)
		if v.System != "" {
			e = and(e, ex("c.system = ? AND c.code = ?", v.System, v.Code))
		} else if v.Code != "" {
			e = and(e, ex("(c.code = ? OR c.unit = ?)", v.Code, v.Code))
		}
		return e
	case search.TypeURI:
		return uriValue(p, v)
	}
	return never
}

// compositeCond is a composite parameter (search.Extract writes its rows
// under search.InstanceParam: one Param per value of its expression, an
// Observation.component ...). A search value matches when the rows of one
// such Param match every component: the first component's row is c, each
// other one's a row of the same resource and the same Param.
func (b *builder) compositeCond(p *search.Param) (cond, error) {
	d := p.Def
	first, ok := tables[d.Components[0].Def.Type]
	if ok && p.Modifier == search.ModMissing {
		// Every value of the composite has a row for each component.
		return cond{table: first, row: prefixRange("c.param", d.Code+search.CompositeSeparator), neg: len(p.Values) > 0 && p.Values[0].Missing}, nil
	}
	if !ok || p.Modifier != "" || len(p.Values) == 0 {
		return cond{}, fmt.Errorf("sqlsearch: composite parameter %s cannot be searched so", p.Name)
	}
	vals := make([]expr, 0, len(p.Values))
	for i := range p.Values {
		v := &p.Values[i]
		if len(v.Components) != len(d.Components) {
			return cond{}, fmt.Errorf("sqlsearch: composite parameter %s: %d values for %d components", p.Name, len(v.Components), len(d.Components))
		}
		es := []expr{prefixRange("c.param", d.Code+search.CompositeSeparator)}
		for j, comp := range d.Components {
			cp := &search.Param{Name: p.Name, Def: comp.Def}
			e := b.value(cp, &v.Components[j])
			if j == 0 {
				es = append(es, e)
				continue
			}
			table, ok := tables[comp.Def.Type]
			if !ok {
				return cond{}, fmt.Errorf("sqlsearch: composite parameter %s: %s component", p.Name, comp.Def.Type)
			}
			a := fmt.Sprintf("c%d", j)
			es = append(es, cat(ex("EXISTS (SELECT 1 FROM "+table+" "+a+" WHERE "+a+".res_type = c.res_type AND "+a+".res_id = c.res_id AND "+a+".param = c.param AND "),
				realias(e, a), ex(")")))
		}
		vals = append(vals, and(es...))
	}
	return cond{table: first, row: or(vals...)}, nil
}

// onC finds the columns of alias c in a value condition.
var onC = regexp.MustCompile(`\bc\.`)

// realias is e, a value condition written on index row c, written on row
// alias a instead.
func realias(e expr, a string) expr {
	return expr{onC.ReplaceAllLiteralString(e.sql, a+"."), e.args}
}

// idCond is _id, a token on the resources row.
func (b *builder) idCond(p *search.Param) cond {
	c := cond{}
	switch p.Modifier {
	case search.ModMissing:
		// Every resource has an id.
		missing := len(p.Values) > 0 && p.Values[0].Missing
		c.onResource = func(string) expr {
			if missing {
				return never
			}
			return always
		}
		return c
	case search.ModText:
		c.onResource = func(a string) expr {
			var es []expr
			for _, v := range p.Values {
				es = append(es, prefixRange(a+".id", v.Raw))
			}
			return or(es...)
		}
		return c
	}
	ids := make([]string, 0, len(p.Values))
	for _, v := range p.Values {
		id := v.Code
		if v.SystemGiven && v.System != "" {
			continue // _id has no system: system|id matches nothing
		}
		ids = append(ids, id)
	}
	c.onResource = func(a string) expr {
		if len(ids) == 0 {
			if p.Modifier == search.ModNot {
				return always
			}
			return never
		}
		e := inList(a+".id", ids)
		if p.Modifier == search.ModNot {
			return cat(ex("NOT "), paren(e))
		}
		return e
	}
	return c
}

// lastUpdatedCond is _lastUpdated, a date on the resources row: a point,
// so low and high are both last_updated.
func (b *builder) lastUpdatedCond(p *search.Param) cond {
	c := cond{}
	if p.Modifier == search.ModMissing {
		missing := len(p.Values) > 0 && p.Values[0].Missing
		c.onResource = func(string) expr {
			if missing {
				return never
			}
			return always
		}
		return c
	}
	c.onResource = func(a string) expr {
		var es []expr
		for i := range p.Values {
			es = append(es, b.dateValue(&p.Values[i], a+".last_updated", a+".last_updated", func(t time.Time, _ bool) any {
				return Timestamp(t.UnixMicro())
			}))
		}
		return or(es...)
	}
	return c
}

func tokenValue(p *search.Param, v *search.Value) expr {
	switch p.Modifier {
	case search.ModText:
		if v.Text == "" {
			return ex("c.text <> ''")
		}
		return and(ex("c.text <> ''"), prefixRange("c.text", v.Text))
	case search.ModOfType:
		return ex("(c.type_system = ? AND c.type_code = ? AND c.code = ?)", v.TypeSystem, v.TypeCode, v.Code)
	}
	switch {
	case !v.SystemGiven:
		return ex("c.code = ?", v.Code)
	case v.System == "":
		return ex("(c.system = '' AND c.code = ?)", v.Code)
	case v.Code == "":
		return ex("c.system = ?", v.System)
	}
	return ex("(c.system = ? AND c.code = ?)", v.System, v.Code)
}

func stringValue(p *search.Param, v *search.Value) expr {
	switch p.Modifier {
	case search.ModExact:
		return ex("(c.value = ? AND c.exact = ?)", v.Text, v.Exact)
	case search.ModContains:
		return ex(`c.value LIKE ? ESCAPE '\'`, "%"+escapeLike(v.Text)+"%")
	}
	return prefixRange("c.value", v.Text)
}

func uriValue(p *search.Param, v *search.Value) expr {
	switch p.Modifier {
	case search.ModBelow:
		return prefixRange("c.value", v.URL)
	case search.ModAbove:
		return inList("c.value", uriPrefixes(v.URL))
	}
	return ex("c.value = ?", v.URL)
}

// uriPrefixes are the values :above matches: the uri itself and every
// prefix of it that ends just before or just after a '/' after the
// authority, so http://a.org/fhir/ValueSet/x is above by
// http://a.org/fhir, http://a.org/fhir/ and http://a.org/fhir/ValueSet ...
func uriPrefixes(u string) []string {
	out := []string{u}
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	for i := start; i < len(u); i++ {
		if u[i] != '/' {
			continue
		}
		if i > start {
			out = append(out, u[:i])
		}
		if i+1 < len(u) {
			out = append(out, u[:i+1])
		}
	}
	return out
}

func (b *builder) referenceValue(p *search.Param, v *search.Value) expr {
	d := p.Def
	if p.Modifier == search.ModIdentifier {
		if v.SystemGiven {
			return ex("(c.id_value = ? AND c.id_system = ?)", v.Code, v.System)
		}
		return ex("c.id_value = ?", v.Code)
	}
	byURL := func(url string) expr {
		return ex("(c.target_id IS NULL AND c.id_value IS NULL AND c.url = ?)", url)
	}
	if d.Canonical {
		if v.Version != "" {
			return and(byURL(v.URL), ex("c.version = ?", v.Version))
		}
		return byURL(v.URL)
	}
	if v.ID == "" {
		return byURL(v.URL)
	}
	es := []expr{ex("c.target_id = ?", v.ID)}
	if v.Type != "" {
		es = append(es, ex("c.target_type = ?", v.Type))
	}
	if v.Base == "" || strings.TrimSuffix(v.Base, "/") == b.o.BaseURL {
		es = append(es, b.local("c"))
	} else {
		es = append(es, ex("c.base = ?", v.Base))
	}
	if v.Version != "" {
		es = append(es, ex("c.version = ?", v.Version))
	}
	return and(es...)
}

// dateValue compares a search date with the range [lo, hi] of a resource
// value, as R4 3.1.1.4 tabulates: the search value is a range [sl, sh]
// too. arg turns a bound into the argument the columns compare with.
//
//	eq  sl <= lo and hi <= sh       (the search range contains the value)
//	ne  not eq
//	gt  hi > sh                      (the value reaches above the range)
//	lt  lo < sl
//	ge  gt or eq
//	le  lt or eq
//	sa  lo > sh                      (starts after the range)
//	eb  hi < sl                      (ends before the range)
//	ap  the value overlaps the range widened by 10% of the time between
//	    the search value and now, on each side
func (b *builder) dateValue(v *search.Value, lo, hi string, arg func(t time.Time, high bool) any) expr {
	sl, sh := arg(v.Low, false), arg(v.High, true)
	eq := ex("("+lo+" >= ? AND "+hi+" <= ?)", sl, sh)
	switch v.Prefix {
	case search.PrefixNe:
		return ex("("+lo+" < ? OR "+hi+" > ?)", sl, sh)
	case search.PrefixGt:
		return ex(hi+" > ?", sh)
	case search.PrefixLt:
		return ex(lo+" < ?", sl)
	case search.PrefixGe:
		return or(ex(hi+" > ?", sh), eq)
	case search.PrefixLe:
		return or(ex(lo+" < ?", sl), eq)
	case search.PrefixSa:
		return ex(lo+" > ?", sh)
	case search.PrefixEb:
		return ex(hi+" < ?", sl)
	case search.PrefixAp:
		gap := b.now.Sub(v.Low)
		if gap < 0 {
			gap = -gap
		}
		delta := gap / 10
		low, high := v.Low.Add(-delta), v.High.Add(delta)
		if low.Before(search.MinTime) || low.After(v.Low) {
			low = search.MinTime
		}
		if high.After(search.MaxTime) || high.Before(v.High) {
			high = search.MaxTime
		}
		return ex("("+lo+" <= ? AND "+hi+" >= ?)", arg(high, true), arg(low, false))
	}
	return eq
}

// numberValue compares a search number with a row's [low, high] (a point
// for a number or quantity value, a range for a Range with NULL for an
// open end). R4 3.1.1.4.2: the search value's precision gives its range
// [sl, sh), its upper bound excluded; eq and ne test the value is in (or out of) that range, the
// other prefixes compare with the value exactly, as written ("lt100: less
// than exactly 100"); sa and eb use the range; ap accepts 10% of the
// value (or the precision range when wider).
func (b *builder) numberValue(v *search.Value, nullable bool) expr {
	sv, sl, sh := v.Number, v.NumberLow, v.NumberHigh
	// lower bound tests treat a NULL low as -infinity, upper ones a NULL
	// high as +infinity.
	lowLT := func(op string, x search.Decimal) expr {
		if nullable {
			return ex("(c.low IS NULL OR c.low "+op+" ?)", x)
		}
		return ex("c.low "+op+" ?", x)
	}
	highGT := func(op string, x search.Decimal) expr {
		if nullable {
			return ex("(c.high IS NULL OR c.high "+op+" ?)", x)
		}
		return ex("c.high "+op+" ?", x)
	}
	// The precision range [sl, sh) is half-open, as HAPI FHIR takes it:
	// 5.4 means at least 5.35 and less than 5.45, so 5.45 is not 5.4.
	switch v.Prefix {
	case search.PrefixNe:
		return or(lowLT("<", sl), highGT(">=", sh))
	case search.PrefixLt:
		return lowLT("<", sv)
	case search.PrefixLe:
		return lowLT("<=", sv)
	case search.PrefixGt:
		return highGT(">", sv)
	case search.PrefixGe:
		return highGT(">=", sv)
	case search.PrefixSa:
		return ex("c.low >= ?", sh)
	case search.PrefixEb:
		return ex("c.high < ?", sl)
	case search.PrefixAp:
		lo, hi := approximately(sv, sl, sh)
		return and(lowLT("<=", hi), highGT(">=", lo))
	}
	return ex("(c.low >= ? AND c.high < ?)", sl, sh)
}

// approximately widens a number to ±10% of its value, or to its precision
// range when that is wider.
func approximately(v, lo, hi search.Decimal) (search.Decimal, search.Decimal) {
	val, ok1 := new(big.Rat).SetString(string(v))
	l, ok2 := new(big.Rat).SetString(string(lo))
	h, ok3 := new(big.Rat).SetString(string(hi))
	if !ok1 || !ok2 || !ok3 {
		return lo, hi
	}
	tenth := new(big.Rat).Abs(val)
	tenth.Quo(tenth, big.NewRat(10, 1))
	if a := new(big.Rat).Sub(val, tenth); a.Cmp(l) < 0 {
		l = a
	}
	if a := new(big.Rat).Add(val, tenth); a.Cmp(h) > 0 {
		h = a
	}
	return search.Decimal(ratString(l)), search.Decimal(ratString(h))
}

// ratString writes r as plain decimal text; every value here has a finite
// decimal expansion (tenths of decimals), so 30 digits are exact.
func ratString(r *big.Rat) string {
	s := r.FloatString(30)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// prefixRange is "col starts with p" as a range over byte order, which a
// B-tree index serves in both databases: p <= col < succ(p).
func prefixRange(col, p string) expr {
	if p == "" {
		return always
	}
	if s, ok := successor(p); ok {
		return ex("("+col+" >= ? AND "+col+" < ?)", p, s)
	}
	return ex(col+" >= ?", p)
}

// successor is the smallest string greater than every string that starts
// with p, in UTF-8 byte order (which is code point order): p with its last
// code point incremented, dropping trailing U+10FFFF. ok is false when p
// is all U+10FFFF.
func successor(p string) (string, bool) {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		if r == utf8.MaxRune || r == utf8.RuneError && size <= 1 {
			continue
		}
		next := r + 1
		if next >= 0xD800 && next <= 0xDFFF { // surrogates are not encodable
			next = 0xE000
		}
		return p + string(next), true
	}
	return "", false
}

// escapeLike escapes LIKE's wildcards and its escape character.
func escapeLike(s string) string {
	if !strings.ContainsAny(s, `%_\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
