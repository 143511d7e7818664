package interaction

import (
	"encoding/json"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Batched criteria. A publisher's sync is a transaction of hundreds of
// conditional updates keyed by identifier (PUT
// HealthcareService?identifier=system|value); searching each criteria on
// its own costs a round trip to the database per entry, which is most of
// the time such a transaction takes. So, once every lock of the
// transaction is held and before anything is written (step 2 of run.do),
// the plain identifier criteria of the POST, PUT and PATCH entries are
// searched together, one search per type and chunk: identifier=a|1,a|2,...
// (R4's OR), and each result is given to the criteria whose system and
// value its identifiers carry, exactly as the store's index matches them.
// The answer is what each criteria's own search would find at that point
// of the transaction; criteria of any other form are searched one by one
// as before.

// prefetchChunk bounds the criteria of one batched search.
const prefetchChunk = 250

// identifierCriteria is a plain identifier=system|value criteria.
type identifierCriteria struct {
	key           string
	system, value string
	param         search.Param
}

// plainIdentifier tells whether crit is a single identifier=system|value
// on a type whose identifier parameter is its top-level identifier
// element (so its matches can be told from their bodies).
func plainIdentifier(crit Criteria) (identifierCriteria, bool) {
	q := crit.Query
	if len(q.Params) != 1 {
		return identifierCriteria{}, false
	}
	p := q.Params[0]
	if p.Name != "identifier" || p.Def == nil || p.Def.Type != search.TypeToken || p.Def.Expression != q.Type+".identifier" ||
		p.Modifier != "" || p.TargetType != "" || p.Chain != nil || p.Has != nil || len(p.Values) != 1 {
		return identifierCriteria{}, false
	}
	v := p.Values[0]
	if !v.SystemGiven || v.System == "" || v.Code == "" || v.Missing || v.TypeSystem != "" || v.TypeCode != "" {
		return identifierCriteria{}, false
	}
	return identifierCriteria{key: crit.Key, system: v.System, value: v.Code, param: p}, true
}

// prefetchIdentifiers searches the plain identifier criteria of step 2
// together and records what each matches (up to two, as matches does).
func (t *run) prefetchIdentifiers() error {
	byType := map[string][]identifierCriteria{}
	var order []string
	seen := map[string]bool{}
	for _, e := range t.entries {
		var c *Criteria
		switch {
		case e.Method == "POST" && e.IfNoneExist != nil:
			c = e.IfNoneExist
		case (e.Method == "PUT" || e.Method == "PATCH") && e.Crit != nil:
			c = e.Crit
		}
		if c == nil || seen[c.Key] {
			continue
		}
		ic, ok := plainIdentifier(*c)
		if !ok {
			continue
		}
		seen[c.Key] = true
		if byType[c.Query.Type] == nil {
			order = append(order, c.Query.Type)
		}
		byType[c.Query.Type] = append(byType[c.Query.Type], ic)
	}
	t.found = map[string][]store.Version{}
	for _, typ := range order {
		list := byType[typ]
		if len(list) < 2 {
			continue // one criteria: its own search is as cheap
		}
		for start := 0; start < len(list); start += prefetchChunk {
			if err := t.prefetchChunk(typ, list[start:min(start+prefetchChunk, len(list))]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *run) prefetchChunk(typ string, list []identifierCriteria) error {
	// Where the caller's tenancy does not restrict the type's searches,
	// the store may look the identifiers up directly.
	if tm, ok := t.raw.(store.TokenMatcher); ok && !t.tx.Restricted(typ) {
		systems, codes := make([]string, len(list)), make([]string, len(list))
		for i, ic := range list {
			systems[i], codes[i] = ic.system, ic.value
		}
		found, err := tm.TokenMatches(t.ctx, typ, "identifier", systems, codes)
		if err != nil {
			return err
		}
		for i, ic := range list {
			t.found[ic.key] = found[i][:min(2, len(found[i]))]
		}
		return nil
	}
	p := list[0].param
	p.Values = nil
	byIdentifier := make(map[[2]string]string, len(list))
	for _, ic := range list {
		p.Values = append(p.Values, ic.param.Values[0])
		byIdentifier[[2]string{ic.system, ic.value}] = ic.key
	}
	q := &search.Query{Type: typ, Params: []search.Param{p}}
	// Each criteria needs at most two matches; more than that in all and
	// the page may not hold every criteria's first two: search one by one.
	page, err := t.tx.Search(t.ctx, q, store.PageRequest{Count: 2 * len(list)})
	if err != nil {
		return err
	}
	if page.Next != "" {
		return nil
	}
	found := map[string][]store.Version{}
	for _, v := range page.Matches {
		var body struct {
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(v.Body, &body); err != nil {
			return fmt.Errorf("criteria of %s/%s: %w", v.Type, v.ID, err)
		}
		hit := map[string]bool{}
		for _, id := range body.Identifier {
			key, ok := byIdentifier[[2]string{id.System, id.Value}]
			if !ok || hit[key] {
				continue
			}
			hit[key] = true
			if len(found[key]) < 2 {
				found[key] = append(found[key], v)
			}
		}
	}
	for _, ic := range list {
		t.found[ic.key] = found[ic.key]
	}
	return nil
}

// matches is what crit matches at step 2: prefetched, or searched now.
func (t *run) matches(crit Criteria) ([]store.Version, error) {
	if found, ok := t.found[crit.Key]; ok {
		return found, nil
	}
	return Matches(t.ctx, t.tx, crit)
}

// Creates together. The entries of a transaction that create a resource
// under a server-assigned id (a POST, a conditional PUT that matched
// nothing) cannot collide with anything, so when the store can
// (store.BatchCreator: the PostgreSQL store pipelines the inserts) they are
// written together at the end of step 4, after the tenancy checks each
// would have had, instead of one round trip each. Nothing else in the
// transaction can tell the difference: GETs run in step 5, after them;
// updates and patches act on other resources (one entry per resource);
// and a Bundle with conditional references, which are resolved by
// searches that must see earlier entries' writes, writes one by one. Types
// whose writes notify subscribers (Task, ServiceRequest, Subscription)
// are written one by one too, so notifications keep the Bundle's order
// (Guarded.Batchable says which).

// createsTogether tells whether step 4 may defer its creates and plain
// updates.
func (t *run) createsTogether() bool {
	if _, ok := t.raw.(store.BatchCreator); !ok {
		return false
	}
	n := 0
	for i, r := range t.work {
		if r == nil {
			continue
		}
		if HasConditionalReference(r.Object()) {
			return false
		}
		if t.entries[i].Method == "POST" || t.entries[i].Method == "PUT" {
			n++
		}
	}
	return n > 1
}

// createPending creates the deferred entries (each already carrying its
// id and resolved references), with the tenancy checks and follow-ups of
// Create for each.
func (t *run) createPending(pending []int) error {
	if len(pending) == 0 {
		return nil
	}
	rs := make([]*fhir.Resource, len(pending))
	practices := make([][]string, len(pending))
	for k, i := range pending {
		rs[k] = t.work[i]
		var err error
		if practices[k], err = t.tx.CheckCreate(t.ctx, rs[k]); err != nil {
			return t.fail(t.entries[i], err)
		}
	}
	written, err := t.raw.(store.BatchCreator).CreateAll(t.ctx, rs)
	if err != nil {
		return err
	}
	return t.afterBatch(pending, written, practices)
}

// afterBatch runs the follow-ups (Guarded.AfterWrite) of each write of
// a batch and records the entries' results.
func (t *run) afterBatch(pending []int, written []store.WriteResult, practices [][]string) error {
	for k, i := range pending {
		res, err := t.tx.AfterWrite(t.ctx, practices[k], written[k])
		if err != nil {
			return t.fail(t.entries[i], err)
		}
		v := res.Version
		out := Result{Outcome: Done, Version: v,
			Info: fmt.Sprintf("%s/%s stored as version %d", v.Type, v.ID, v.VersionID)}
		if res.Created {
			out.Outcome = Created
			out.Info = fmt.Sprintf("%s/%s created as version %d", v.Type, v.ID, v.VersionID)
		}
		t.results[i], t.practices[i] = out, practices[k]
	}
	return nil
}

// Updates together: the PUT entries without ifMatch that update a
// resource (by id, or the one their criteria matched) are written at the
// end of step 4 too, through UpdateAll, under the same conditions as
// creates (Guarded.Batchable: a type whose owner is a practice is
// updated one by one, its practice label decided against the stored
// version).

// updatePending updates the deferred entries, with the tenancy checks and
// follow-ups of Update for each.
func (t *run) updatePending(pending []int) error {
	if len(pending) == 0 {
		return nil
	}
	rs := make([]*fhir.Resource, len(pending))
	practices := make([][]string, len(pending))
	for k, i := range pending {
		rs[k] = t.work[i]
		var err error
		if practices[k], err = t.tx.CheckUpdate(t.ctx, rs[k]); err != nil {
			return t.fail(t.entries[i], err)
		}
	}
	written, err := t.raw.(store.BatchCreator).UpdateAll(t.ctx, rs)
	if err != nil {
		return err
	}
	return t.afterBatch(pending, written, practices)
}
