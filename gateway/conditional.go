package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// The interactions below run against a store.Tx, so the same code serves
// a REST request (on the Store, or inside Store.Transaction when it must
// be atomic) and an entry of a batch or transaction Bundle. Parsing and
// validation happen before: these only touch the store.
//
// Conditional interactions are race-free by locking: each takes
// tx.Lock("<type>?<criteria>") before it searches, inside one
// Store.Transaction, so two conditional creates with the same criteria
// run one after the other and the second finds what the first created.
// The lock is on the criteria as written (canonicalised: keys and
// repeated values sorted), so it serialises clients that send the same
// criteria, which is what retries and concurrent copies of one client do.
// Two different criteria that match the same resource
// (identifier=a|1 and identifier=a|1&active=true), or a plain create of a
// matching resource, are not serialised against each other.

// result is what one interaction did.
type result struct {
	// status is the HTTP status of the interaction: 200, 201, 204 or 304.
	status int
	// version is the version written or read; zero when nothing was
	// (a delete of nothing, a conditional delete that matched nothing).
	version store.Version
	// body is what a read answers with (the resource, a searchset
	// Bundle); writes answer with version.Body.
	body []byte
	// info says what happened, for Prefer: return=OperationOutcome.
	info string
}

// criteria is the search of a conditional interaction or reference.
type criteria struct {
	q *search.Query
	// key is the lock key: "<type>?<canonical query>".
	key string
	// text is the criteria as sent, for messages.
	text string
}

// hasCriteria reports whether a [type] URL carries search parameters,
// which makes PUT, DELETE and PATCH on it conditional.
func hasCriteria(q url.Values) bool {
	for k := range q {
		if k != "_format" && k != "_pretty" {
			return true
		}
	}
	return false
}

// parseCriteria parses the criteria of a conditional interaction.
// Criteria are parsed strictly whatever Prefer says: a parameter the
// server ignored would widen the match, and a conditional delete or
// update of "everything that matches" must never hit more than the
// client meant. Result parameters (_sort, _count, _include ...) mean
// nothing here and are refused too.
func parseCriteria(typ string, values url.Values) (criteria, error) {
	crit := url.Values{}
	for k, vs := range values {
		if k == "_format" || k == "_pretty" {
			continue
		}
		crit[k] = append([]string(nil), vs...)
	}
	text := crit.Encode()
	q, err := search.ParseQuery(typ, crit, true)
	if err != nil {
		return criteria{}, err
	}
	if len(q.Ignored) > 0 {
		return criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s: %s has no value", typ, text, strings.Join(q.Ignored, ", ")).WithStatus(http.StatusBadRequest)
	}
	if len(q.Params) == 0 {
		return criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s have no search parameter", typ, text).WithStatus(http.StatusBadRequest)
	}
	if len(q.Sort) > 0 || q.Count != nil || q.Total != "" || q.Summary != "" || len(q.Elements) > 0 || len(q.Include) > 0 || len(q.RevInclude) > 0 {
		return criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s may hold only search parameters, not _sort, _count, _include and the like", typ, text).WithStatus(http.StatusBadRequest)
	}
	return criteria{q: q, key: lockKey(typ, crit), text: typ + "?" + text}, nil
}

// parseCriteriaString parses criteria given as a string: an
// If-None-Exist header or ifNoneExist element ("identifier=a|1", with or
// without a leading "?" or "Type?").
func parseCriteriaString(typ, s string) (criteria, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, typ)
	s = strings.TrimPrefix(s, "?")
	values, err := url.ParseQuery(s)
	if err != nil {
		return criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %q are not a query string: %v", s, err).WithStatus(http.StatusBadRequest)
	}
	return parseCriteria(typ, values)
}

// lockKey is the canonical form of criteria: keys sorted (Encode does),
// and the values of a repeated key sorted, since repetitions are ANDed.
func lockKey(typ string, crit url.Values) string {
	c := url.Values{}
	for k, vs := range crit {
		vs = slices.Clone(vs)
		sort.Strings(vs)
		c[k] = vs
	}
	return typ + "?" + c.Encode()
}

// matches returns up to two current resources matching crit: enough to
// tell none, one and several apart.
func matches(ctx context.Context, tx store.Tx, crit criteria) ([]store.Version, error) {
	page, err := tx.Search(ctx, crit.q, store.PageRequest{Count: 2})
	if err != nil {
		return nil, err
	}
	return page.Matches, nil
}

func severalMatch(crit criteria, what string) error {
	return fhir.Errorf(fhir.CodeMultiple, "%s: more than one resource matches %s", what, crit.text).WithStatus(http.StatusPreconditionFailed)
}

// createIn stores r as a new resource under the id it carries.
func createIn(ctx context.Context, tx store.Tx, r *fhir.Resource) (result, error) {
	res, err := tx.Create(ctx, r)
	if err != nil {
		return result{}, err
	}
	return result{status: http.StatusCreated, version: res.Version,
		info: fmt.Sprintf("%s/%s created as version %d", res.Version.Type, res.Version.ID, res.Version.VersionID)}, nil
}

// conditionalCreateIn creates r (under a new server id) unless crit
// matches: one match is answered with that resource and nothing is
// written; several are a 412.
func conditionalCreateIn(ctx context.Context, tx store.Tx, r *fhir.Resource, crit criteria) (result, error) {
	if err := tx.Lock(ctx, crit.key); err != nil {
		return result{}, err
	}
	found, err := matches(ctx, tx, crit)
	if err != nil {
		return result{}, err
	}
	switch len(found) {
	case 0:
		r.SetID(uuid.NewString())
		return createIn(ctx, tx, r)
	case 1:
		return existing(found[0]), nil
	}
	return result{}, severalMatch(crit, "conditional create")
}

// existing is the answer of a conditional create that found its match.
func existing(v store.Version) result {
	return result{status: http.StatusOK, version: v,
		info: fmt.Sprintf("%s/%s already matches; nothing was created", v.Type, v.ID)}
}

// updateIn stores r as the next version of r's id (or creates it).
func updateIn(ctx context.Context, tx store.Tx, r *fhir.Resource, pre store.Precondition) (result, error) {
	res, err := tx.Update(ctx, r, pre)
	if err != nil {
		return result{}, err
	}
	out := result{status: http.StatusOK, version: res.Version,
		info: fmt.Sprintf("%s/%s stored as version %d", res.Version.Type, res.Version.ID, res.Version.VersionID)}
	if res.Created {
		out.status = http.StatusCreated
	}
	return out, nil
}

// conditionalTarget decides which resource a conditional update writes
// (R4 3.1.0.5, with R5's clarification of the no-match case):
//
//   - no match, no id in the body: a new resource with a server id;
//   - no match, an id that does not exist (or was deleted): update as
//     create under that id;
//   - no match, an id of a live resource: 409, since that resource does
//     not match the criteria;
//   - one match: that resource; a body id, if any, must be its id (400);
//   - several: 412.
//
// create reports that the target is new (a server id was assigned).
func conditionalTarget(ctx context.Context, tx store.Tx, typ, bodyID string, crit criteria) (id string, create bool, err error) {
	found, err := matches(ctx, tx, crit)
	if err != nil {
		return "", false, err
	}
	return targetOf(ctx, tx, typ, bodyID, crit, found)
}

// targetOf is conditionalTarget once crit's matches (up to two) are found.
func targetOf(ctx context.Context, tx store.Tx, typ, bodyID string, crit criteria, found []store.Version) (id string, create bool, err error) {
	switch len(found) {
	case 0:
		if bodyID == "" {
			return uuid.NewString(), true, nil
		}
		_, err := tx.Read(ctx, typ, bodyID)
		switch {
		case err == nil:
			return "", false, fhir.Errorf(fhir.CodeConflict, "conditional update: %s/%s exists but does not match %s", typ, bodyID, crit.text).WithStatus(http.StatusConflict)
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
			return bodyID, false, nil
		}
		return "", false, err
	case 1:
		if bodyID != "" && bodyID != found[0].ID {
			return "", false, fhir.Errorf(fhir.CodeInvalid, "conditional update: the body's id %q is not the id of the resource matching %s (%s)", bodyID, crit.text, found[0].ID).At(typ + ".id").WithStatus(http.StatusBadRequest)
		}
		return found[0].ID, false, nil
	}
	return "", false, severalMatch(crit, "conditional update")
}

// conditionalUpdateIn is PUT [type]?criteria (see conditionalTarget).
func conditionalUpdateIn(ctx context.Context, tx store.Tx, r *fhir.Resource, crit criteria, pre store.Precondition) (result, error) {
	if err := tx.Lock(ctx, crit.key); err != nil {
		return result{}, err
	}
	id, create, err := conditionalTarget(ctx, tx, r.Type(), r.ID(), crit)
	if err != nil {
		return result{}, err
	}
	r.SetID(id)
	if create {
		if pre.IfMatch != 0 {
			return result{}, fhir.Errorf(fhir.CodeConflict, "nothing matches %s, so If-Match cannot match", crit.text).WithStatus(http.StatusPreconditionFailed)
		}
		return createIn(ctx, tx, r)
	}
	return updateIn(ctx, tx, r, pre)
}

// deleteIn deletes typ/id; deleting what does not exist changes nothing.
func deleteIn(ctx context.Context, tx store.Tx, typ, id string, pre store.Precondition) (result, error) {
	res, err := tx.Delete(ctx, typ, id, pre)
	if err != nil {
		return result{}, err
	}
	out := result{status: http.StatusNoContent, version: res.Version, info: fmt.Sprintf("%s/%s deleted", typ, id)}
	if res.Version.VersionID == 0 {
		out.info = fmt.Sprintf("%s/%s did not exist or was already deleted; nothing changed", typ, id)
	}
	return out, nil
}

// conditionalDeleteIn is DELETE [type]?criteria. Signpost deletes a
// single match only (conditionalDelete "single"): no match changes
// nothing (204), several are a 412, so a loose criterion never deletes a
// whole directory.
func conditionalDeleteIn(ctx context.Context, tx store.Tx, typ string, crit criteria, pre store.Precondition) (result, error) {
	if err := tx.Lock(ctx, crit.key); err != nil {
		return result{}, err
	}
	found, err := matches(ctx, tx, crit)
	if err != nil {
		return result{}, err
	}
	switch len(found) {
	case 0:
		return result{status: http.StatusNoContent, info: "nothing matches " + crit.text + "; nothing changed"}, nil
	case 1:
		return deleteIn(ctx, tx, typ, found[0].ID, pre)
	}
	return result{}, severalMatch(crit, "conditional delete")
}

// conditionalID resolves the one resource crit matches, for a
// conditional patch: none is a 404, several a 412.
func conditionalID(ctx context.Context, tx store.Tx, crit criteria, what string) (string, error) {
	if err := tx.Lock(ctx, crit.key); err != nil {
		return "", err
	}
	found, err := matches(ctx, tx, crit)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fhir.Errorf(fhir.CodeNotFound, "%s: nothing matches %s", what, crit.text).WithStatus(http.StatusNotFound)
	case 1:
		return found[0].ID, nil
	}
	return "", severalMatch(crit, what)
}

// The REST handlers of the conditional interactions.

// conditionalRequest checks that the caller may search the type and do
// action on it, and reads the request's criteria and If-Match.
func (s *Server) conditionalRequest(req *request, action auth.Action) (criteria, store.Precondition, error) {
	if err := s.authorizeAll(req.principal, []Permission{{req.typ, action}, {req.typ, auth.Search}}); err != nil {
		return criteria{}, store.Precondition{}, err
	}
	crit, err := parseCriteria(req.typ, req.query)
	if err != nil {
		return criteria{}, store.Precondition{}, err
	}
	pre, err := ifMatch(req.header)
	return crit, pre, err
}

func (s *Server) conditionalUpdate(req *request) (*response, error) {
	req.audit = auditIf(req, "update", "U")
	crit, pre, err := s.conditionalRequest(req, auth.Update)
	if err != nil {
		return nil, err
	}
	r, err := s.readResource(req)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) {
		// a retried attempt starts from the body as sent
		return conditionalUpdateIn(req.ctx, tx, r.Clone(), crit, pre)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.version.ID
	return s.written(req, out), nil
}

func (s *Server) conditionalDelete(req *request) (*response, error) {
	req.audit = auditIf(req, "delete", "D")
	crit, pre, err := s.conditionalRequest(req, auth.Delete)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) {
		return conditionalDeleteIn(req.ctx, tx, req.typ, crit, pre)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.version.ID
	return s.deleted(req, out), nil
}
