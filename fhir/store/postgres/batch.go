package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// LockAll takes the transaction-scoped advisory locks of keys, in the
// order given, in one statement: what Lock does for each, in one round
// trip instead of one per key (a 500-entry directory sync takes 500).
// Callers pass keys sorted, as they would call Lock, so two transactions
// never wait on each other in opposite orders; should they, PostgreSQL
// reports a deadlock (40P01) and Transaction runs fn again.
func (t *tx) LockAll(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	const q = `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))
FROM (SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n) AS s`
	if _, err := t.db.Exec(ctx, q, keys); err != nil {
		return fmt.Errorf("postgres: lock %d keys: %w", len(keys), err)
	}
	return nil
}

// CreateAll is Create for each of rs inside the transaction, the inserts
// sent as one pipelined batch: one round trip for the lot instead of one
// per resource (what Store.CreateAll does outside a transaction). Each is
// stamped and indexed as Create does; an id in use fails the call with a
// duplicate error naming it, and the caller's transaction then rolls back.
func (t *tx) CreateAll(ctx context.Context, rs []*fhir.Resource) ([]store.WriteResult, error) {
	out, err := t.createAll(ctx, rs)
	if err == nil {
		t.audits += countAudits(rs...)
	}
	return out, err
}

func (t *tx) createAll(ctx context.Context, rs []*fhir.Resource) ([]store.WriteResult, error) {
	b := &pgx.Batch{}
	out := make([]store.WriteResult, len(rs))
	for i, r := range rs {
		if err := store.CheckResource(r); err != nil {
			return nil, err
		}
		if r.Type() == auditType {
			a, err := auditInsert(r)
			if err != nil {
				return nil, internal(err, "create %s/%s", r.Type(), r.ID())
			}
			b.Queue(insertAuditSQL, a.args()...)
			out[i] = store.WriteResult{Created: true, Version: a.version()}
			continue
		}
		now := store.Now()
		body, err := stamp(r, 1, now)
		if err != nil {
			return nil, internal(err, "create %s/%s", r.Type(), r.ID())
		}
		rows := sqlsearch.RowsWith(r, &t.s.sums)
		mask := tableMask(&rows)
		b.Queue(insertSQL(mask), append([]any{r.Type(), r.ID(), now, string(store.MethodCreate), body}, indexArgs(&rows, mask)...)...)
		out[i] = store.WriteResult{Created: true,
			Version: store.Version{Type: r.Type(), ID: r.ID(), VersionID: 1, LastUpdated: now, Method: store.MethodCreate, Body: body}}
	}
	if len(rs) == 0 {
		return out, nil
	}
	br := t.db.SendBatch(ctx, b)
	for i := range rs {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, internal(err, "create %s/%s", out[i].Version.Type, out[i].Version.ID)
		}
		if tag.RowsAffected() == 0 {
			br.Close()
			return nil, fhir.Errorf(fhir.CodeDuplicate, "%s/%s already exists", out[i].Version.Type, out[i].Version.ID)
		}
	}
	if err := br.Close(); err != nil {
		return nil, internal(err, "create %d resources", len(rs))
	}
	return out, nil
}

// UpdateAll is Update without a precondition for each of rs inside the
// transaction, in three round trips whatever their number: the current
// rows of all are read and locked in one statement (in id order, so two
// UpdateAll calls never wait on each other in opposite orders), an update
// equal to the current version writes nothing (store.Unchanged), and the
// new versions and creates are sent as one pipelined batch. An update as
// create that loses a race with a concurrent creator is done again on its
// own, as update does. Rows are locked type by type in name order, ids in
// order within a type. The ids of rs must differ.
func (t *tx) UpdateAll(ctx context.Context, rs []*fhir.Resource) ([]store.WriteResult, error) {
	out := make([]store.WriteResult, len(rs))
	heads := map[[2]string]head{}
	byType := map[string][]string{}
	for _, r := range rs {
		if err := store.CheckResource(r); err != nil {
			return nil, err
		}
		if r.Type() == auditType {
			return nil, errAppendOnly(r.ID())
		}
		byType[r.Type()] = append(byType[r.Type()], r.ID())
	}
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		ids := byType[typ]
		rows, err := t.db.Query(ctx, "SELECT id, version, last_updated, deleted, method, body FROM resources WHERE type = $1 AND id = ANY($2) ORDER BY id FOR UPDATE", typ, ids)
		if err != nil {
			return nil, internal(err, "lock %d %s", len(ids), typ)
		}
		for rows.Next() {
			var id string
			var h head
			if err := rows.Scan(&id, &h.Version, &h.LastUpdated, &h.Deleted, &h.Method, &h.Body); err != nil {
				rows.Close()
				return nil, internal(err, "lock %d %s", len(ids), typ)
			}
			heads[[2]string{typ, id}] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, internal(err, "lock %d %s", len(ids), typ)
		}
	}
	b := &pgx.Batch{}
	var queued []int
	for i, r := range rs {
		typ, id := r.Type(), r.ID()
		h, found := heads[[2]string{typ, id}]
		if !found {
			now := store.Now()
			body, err := stamp(r, 1, now)
			if err != nil {
				return nil, internal(err, "update %s/%s", typ, id)
			}
			rows := sqlsearch.RowsWith(r, &t.s.sums)
			mask := tableMask(&rows)
			b.Queue(insertSQL(mask), append([]any{typ, id, now, string(store.MethodUpdate), body}, indexArgs(&rows, mask)...)...)
			out[i] = store.WriteResult{Created: true,
				Version: store.Version{Type: typ, ID: id, VersionID: 1, LastUpdated: now, Method: store.MethodUpdate, Body: body}}
			queued = append(queued, i)
			continue
		}
		res, err := store.StampNext(r, h.Current(typ, id))
		if err != nil {
			return nil, internal(err, "update %s/%s", typ, id)
		}
		out[i] = res
		if res.Unchanged {
			continue
		}
		v := res.Version
		rows := sqlsearch.RowsWith(r, &t.s.sums)
		mask := tableMask(&rows)
		b.Queue(writeSQL(mask), append([]any{typ, id, v.VersionID, v.LastUpdated, string(store.MethodUpdate), false, v.Body}, indexArgs(&rows, mask)...)...)
		queued = append(queued, i)
	}
	var lost []int
	if len(queued) > 0 {
		br := t.db.SendBatch(ctx, b)
		for _, i := range queued {
			v := out[i].Version
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return nil, internal(err, "update %s/%s", v.Type, v.ID)
			}
			switch {
			case out[i].Created && tag.RowsAffected() == 0:
				lost = append(lost, i)
			case !out[i].Created && tag.RowsAffected() != 1:
				br.Close()
				return nil, fmt.Errorf("postgres: version %d of %s/%s: wrote %d history rows, want 1", v.VersionID, v.Type, v.ID, tag.RowsAffected())
			}
		}
		if err := br.Close(); err != nil {
			return nil, internal(err, "update %d resources", len(queued))
		}
	}
	for _, i := range lost {
		// Created meanwhile by another transaction: an ordinary update
		// now finds and locks its row.
		res, err := update(ctx, t.db, rs[i], store.Precondition{}, &t.s.sums)
		if err != nil {
			return nil, internal(err, "update %s/%s", rs[i].Type(), rs[i].ID())
		}
		out[i] = res
	}
	return out, nil
}

// TokenMatches finds the current, live resources of typ having a token
// index row of param with each system|code pair (exactly, as a search
// system|code does), in one statement that probes the token index once
// per pair; the answer maps each pair's index in systems and codes to
// the resources found (at most two: enough to tell none, one and
// several apart), in id order. It is what a search param=system|code
// finds for each pair, without the search's general SQL (an OR of
// hundreds of pairs costs more to plan than to run).
func (t *tx) TokenMatches(ctx context.Context, typ, param string, systems, codes []string) (map[int][]store.Version, error) {
	// The plan must not depend on statistics: a type loaded in one sync
	// (a new directory) is one the last ANALYZE did not see, its estimates
	// are a few rows, and the planner may then read idx_token_resource
	// (res_id first: a scan of the whole type per pair) or join every
	// resource of the type. So each pair is a LATERAL probe with a LIMIT
	// (never flattened into a join) asking for the order of
	// idx_token_code — (code, system, res_id), code as a one-value range
	// so that the order is not dropped as implied by equalities — with
	// sorts disabled for this statement, which leaves that index the only
	// way to it; and a probe of the primary key per resource found. Two
	// resources are all a caller needs to tell one match from several.
	const q = `SELECT k.n, r.type, r.id, r.version, r.last_updated, r.method, r.deleted, r.body
FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS k(system, code, n)
CROSS JOIN LATERAL (SELECT DISTINCT c.code, c.system, c.res_id FROM idx_token c
	WHERE c.res_type = $1 AND c.param = $2 AND c.code >= k.code COLLATE "C" AND c.code <= k.code COLLATE "C" AND c.system = k.system COLLATE "C"
	ORDER BY c.code, c.system, c.res_id LIMIT 2) c
CROSS JOIN LATERAL (SELECT r.type, r.id, r.version, r.last_updated, r.method, r.deleted, r.body FROM resources r
	WHERE r.type = $1 AND r.id = c.res_id AND NOT r.deleted LIMIT 1) r`
	var was string
	if err := t.db.QueryRow(ctx, "SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)").Scan(&was, new(string)); err != nil {
		return nil, internal(err, "token matches of %s", typ)
	}
	rows, err := t.db.Query(ctx, q, typ, param, systems, codes)
	if err != nil {
		return nil, internal(err, "token matches of %s", typ)
	}
	defer rows.Close()
	out := map[int][]store.Version{}
	for rows.Next() {
		var n int64
		var v store.Version
		var method string
		if err := rows.Scan(&n, &v.Type, &v.ID, &v.VersionID, &v.LastUpdated, &method, &v.Deleted, &v.Body); err != nil {
			return nil, internal(err, "token matches of %s", typ)
		}
		v.Method, v.LastUpdated = store.Method(method), v.LastUpdated.UTC()
		i := int(n) - 1
		out[i] = append(out[i], v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, internal(err, "token matches of %s", typ)
	}
	if _, err := t.db.Exec(ctx, "SELECT set_config('enable_sort', $1, true)", was); err != nil {
		return nil, internal(err, "token matches of %s", typ)
	}
	for i, vs := range out {
		slices.SortFunc(vs, func(a, b store.Version) int { return strings.Compare(a.ID, b.ID) })
		out[i] = vs
	}
	return out, nil
}
