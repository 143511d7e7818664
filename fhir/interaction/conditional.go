package interaction

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

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

// Outcome is what an interaction did, which decides the answer's status
// at the edge.
type Outcome uint8

const (
	// Done: read, updated, or a conditional create that found its match.
	Done Outcome = iota
	// Created: a new resource (a create, an update as create).
	Created
	// Deleted: a delete, including one of nothing (which changes
	// nothing).
	Deleted
	// NotModified: a conditional read whose version the client holds.
	NotModified
)

// Result is what one interaction did.
type Result struct {
	Outcome Outcome
	// Version is the version written or read; zero when nothing was
	// (a delete of nothing, a conditional delete that matched nothing).
	Version store.Version
	// Body is what a read answers with (the resource, a searchset
	// Bundle); writes answer with Version.Body.
	Body []byte
	// Info says what happened, for Prefer: return=OperationOutcome.
	Info string
}

// Criteria is the search of a conditional interaction or reference.
type Criteria struct {
	Query *search.Query
	// Key is the lock key: "<type>?<canonical query>".
	Key string
	// Text is the criteria as sent, for messages.
	Text string
}

// HasCriteria reports whether a [type] URL carries search parameters,
// which makes PUT, DELETE and PATCH on it conditional.
func HasCriteria(q url.Values) bool {
	for k := range q {
		if k != "_format" && k != "_pretty" {
			return true
		}
	}
	return false
}

// ParseCriteria parses the criteria of a conditional interaction.
// Criteria are parsed strictly whatever Prefer says: a parameter the
// server ignored would widen the match, and a conditional delete or
// update of "everything that matches" must never hit more than the
// client meant. Result parameters (_sort, _count, _include ...) mean
// nothing here and are refused too.
func ParseCriteria(typ string, values url.Values) (Criteria, error) {
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
		return Criteria{}, err
	}
	if len(q.Ignored) > 0 {
		return Criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s: %s has no value", typ, text, strings.Join(q.Ignored, ", "))
	}
	if len(q.Params) == 0 {
		return Criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s have no search parameter", typ, text)
	}
	if len(q.Sort) > 0 || q.Count != nil || q.Total != "" || q.Summary != "" || len(q.Elements) > 0 || len(q.Include) > 0 || len(q.RevInclude) > 0 {
		return Criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %s?%s may hold only search parameters, not _sort, _count, _include and the like", typ, text)
	}
	return Criteria{Query: q, Key: lockKey(typ, crit), Text: typ + "?" + text}, nil
}

// ParseCriteriaString parses criteria given as a string: an
// If-None-Exist header or ifNoneExist element ("identifier=a|1", with or
// without a leading "?" or "Type?").
func ParseCriteriaString(typ, s string) (Criteria, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, typ)
	s = strings.TrimPrefix(s, "?")
	values, err := url.ParseQuery(s)
	if err != nil {
		return Criteria{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria %q are not a query string: %v", s, err)
	}
	return ParseCriteria(typ, values)
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

// Matches returns up to two current resources matching crit: enough to
// tell none, one and several apart.
func Matches(ctx context.Context, tx store.Tx, crit Criteria) ([]store.Version, error) {
	page, err := tx.Search(ctx, crit.Query, store.PageRequest{Count: 2})
	if err != nil {
		return nil, err
	}
	return page.Matches, nil
}

func SeveralMatch(crit Criteria, what string) error {
	return fhir.Errorf(fhir.CodeMultiple, "%s: more than one resource matches %s", what, crit.Text)
}

// Create stores r as a new resource under the id it carries.
func Create(ctx context.Context, tx store.Tx, r *fhir.Resource) (Result, error) {
	res, err := tx.Create(ctx, r)
	if err != nil {
		return Result{}, err
	}
	return Result{Outcome: Created, Version: res.Version,
		Info: fmt.Sprintf("%s/%s created as version %d", res.Version.Type, res.Version.ID, res.Version.VersionID)}, nil
}

// ConditionalCreate creates r (under a new server id) unless crit
// matches: one match is answered with that resource and nothing is
// written; several are a 412.
func ConditionalCreate(ctx context.Context, tx store.Tx, r *fhir.Resource, crit Criteria) (Result, error) {
	if err := tx.Lock(ctx, crit.Key); err != nil {
		return Result{}, err
	}
	found, err := Matches(ctx, tx, crit)
	if err != nil {
		return Result{}, err
	}
	switch len(found) {
	case 0:
		r.SetID(uuid.NewString())
		return Create(ctx, tx, r)
	case 1:
		return Existing(found[0]), nil
	}
	return Result{}, SeveralMatch(crit, "conditional create")
}

// Existing is the answer of a conditional create that found its match.
func Existing(v store.Version) Result {
	return Result{Outcome: Done, Version: v,
		Info: fmt.Sprintf("%s/%s already matches; nothing was created", v.Type, v.ID)}
}

// Update stores r as the next version of r's id (or creates it).
func Update(ctx context.Context, tx store.Tx, r *fhir.Resource, pre store.Precondition) (Result, error) {
	res, err := tx.Update(ctx, r, pre)
	if err != nil {
		return Result{}, err
	}
	out := Result{Outcome: Done, Version: res.Version,
		Info: fmt.Sprintf("%s/%s stored as version %d", res.Version.Type, res.Version.ID, res.Version.VersionID)}
	if res.Created {
		out.Outcome = Created
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
func conditionalTarget(ctx context.Context, tx store.Tx, typ, bodyID string, crit Criteria) (id string, create bool, err error) {
	found, err := Matches(ctx, tx, crit)
	if err != nil {
		return "", false, err
	}
	return TargetOf(ctx, tx, typ, bodyID, crit, found)
}

// TargetOf is conditionalTarget once crit's matches (up to two) are found.
func TargetOf(ctx context.Context, tx store.Tx, typ, bodyID string, crit Criteria, found []store.Version) (id string, create bool, err error) {
	switch len(found) {
	case 0:
		if bodyID == "" {
			return uuid.NewString(), true, nil
		}
		_, err := tx.Read(ctx, typ, bodyID)
		switch {
		case err == nil:
			return "", false, fhir.Errorf(fhir.CodeConflict, "conditional update: %s/%s exists but does not match %s", typ, bodyID, crit.Text)
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
			return bodyID, false, nil
		}
		return "", false, err
	case 1:
		if bodyID != "" && bodyID != found[0].ID {
			return "", false, fhir.Errorf(fhir.CodeInvalid, "conditional update: the body's id %q is not the id of the resource matching %s (%s)", bodyID, crit.Text, found[0].ID).At(typ + ".id")
		}
		return found[0].ID, false, nil
	}
	return "", false, SeveralMatch(crit, "conditional update")
}

// ConditionalUpdate is PUT [type]?criteria (see conditionalTarget).
func ConditionalUpdate(ctx context.Context, tx store.Tx, r *fhir.Resource, crit Criteria, pre store.Precondition) (Result, error) {
	if err := tx.Lock(ctx, crit.Key); err != nil {
		return Result{}, err
	}
	id, create, err := conditionalTarget(ctx, tx, r.Type(), r.ID(), crit)
	if err != nil {
		return Result{}, err
	}
	r.SetID(id)
	if create {
		if pre.IfMatch != 0 {
			return Result{}, fhir.Errorf(fhir.CodeConflict, "nothing matches %s, so If-Match cannot match", crit.Text).Because(fhir.DetailPreconditionFailed)
		}
		return Create(ctx, tx, r)
	}
	return Update(ctx, tx, r, pre)
}

// Delete deletes typ/id; deleting what does not exist changes nothing.
func Delete(ctx context.Context, tx store.Tx, typ, id string, pre store.Precondition) (Result, error) {
	res, err := tx.Delete(ctx, typ, id, pre)
	if err != nil {
		return Result{}, err
	}
	out := Result{Outcome: Deleted, Version: res.Version, Info: fmt.Sprintf("%s/%s deleted", typ, id)}
	if res.Version.VersionID == 0 {
		out.Info = fmt.Sprintf("%s/%s did not exist or was already deleted; nothing changed", typ, id)
	}
	return out, nil
}

// ConditionalDelete is DELETE [type]?criteria. Signpost deletes a
// single match only (conditionalDelete "single"): no match changes
// nothing (204), several are a 412, so a loose criterion never deletes a
// whole directory.
func ConditionalDelete(ctx context.Context, tx store.Tx, typ string, crit Criteria, pre store.Precondition) (Result, error) {
	if err := tx.Lock(ctx, crit.Key); err != nil {
		return Result{}, err
	}
	found, err := Matches(ctx, tx, crit)
	if err != nil {
		return Result{}, err
	}
	switch len(found) {
	case 0:
		return Result{Outcome: Deleted, Info: "nothing matches " + crit.Text + "; nothing changed"}, nil
	case 1:
		return Delete(ctx, tx, typ, found[0].ID, pre)
	}
	return Result{}, SeveralMatch(crit, "conditional delete")
}

// ConditionalID resolves the one resource crit matches, for a
// conditional patch: none is a 404, several a 412.
func ConditionalID(ctx context.Context, tx store.Tx, crit Criteria, what string) (string, error) {
	if err := tx.Lock(ctx, crit.Key); err != nil {
		return "", err
	}
	found, err := Matches(ctx, tx, crit)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fhir.Errorf(fhir.CodeNotFound, "%s: nothing matches %s", what, crit.Text)
	case 1:
		return found[0].ID, nil
	}
	return "", SeveralMatch(crit, what)
}
