package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/sealed"
	"github.com/signpost-fhir/signpost/secrets"
	"github.com/signpost-fhir/signpost/subscriptions"
)

// Options build a Guard: what tenancy needs of the gateway, as values and
// hooks.
type Options struct {
	// CanonicalBase names the practice label's system (NewLabels).
	CanonicalBase string
	// Store is read, outside any transaction, for the history of deleted
	// resources (versions never change once written).
	Store store.Store
	// Authorize is the type-level permission check of resources a search
	// includes; nil: auth.Principal.Authorize.
	Authorize func(p *auth.Principal, typ string, a auth.Action) error
	// Expand, when set, rewrites every search before tenancy restricts it
	// (the value sets of :in and :not-in), reading through tx, the
	// guarded transaction.
	Expand func(ctx context.Context, tx store.Tx, q *search.Query) (*search.Query, error)
	// ClaimODS, when set and true, makes an ODS code name one
	// Organization (directoryclaims.go).
	ClaimODS func() bool
	// Secrets seals header secrets at rest; nil keeps them as sent.
	Secrets *sealed.Source
	// Follow, when set, makes the Follower of one guarded transaction,
	// given the transaction it guards.
	Follow func(tx store.Tx) Follower
}

// Follower is told of the writes of one guarded transaction, inside it:
// the gateway's Subscriptions (handshakes and notifications). One is made
// per guarded transaction, so it may keep what it read.
type Follower interface {
	// Written follows a create or update that stored a new version;
	// practice is the resource's ("" for none).
	Written(ctx context.Context, practice string, res store.WriteResult) error
	// Deleting is told, before it runs, of the delete of a live version
	// of practice's (never ""); done, when not nil, is run once the
	// delete has written a version.
	Deleting(ctx context.Context, practice, typ, id string) (done func(ctx context.Context, res store.WriteResult) error, err error)
}

// Guard holds tenancy's rules for one gateway. Register delete checks
// before serving; then it is safe for concurrent use.
type Guard struct {
	Labels
	opts         Options
	deleteChecks map[string][]DeleteCheck
}

// New builds a Guard.
func New(opts Options) *Guard {
	return &Guard{Labels: NewLabels(opts.CanonicalBase), opts: opts}
}

// Tx is the store.Tx every interaction runs on: tenancy and the
// publisher's scope, per resource (see the package documentation).
// Scopes are checked before, per interaction.
type Tx struct {
	g  *Guard
	tx store.Tx
	p  *auth.Principal
	// practices are those of the last resource written or deleted, for
	// its AuditEvent.
	practices []string
	// follower is made at the first write that needs it.
	follower Follower
}

var _ store.Tx = (*Tx)(nil)

// Wrap guards tx for p.
func (g *Guard) Wrap(p *auth.Principal, tx store.Tx) *Tx {
	return &Tx{g: g, tx: tx, p: p}
}

// Principal is the caller t guards for.
func (t *Tx) Principal() *auth.Principal { return t.p }

// Practices are those of the last resource written or deleted through t
// (for its AuditEvent).
func (t *Tx) Practices() []string { return t.practices }

func (t *Tx) follow() Follower {
	if t.follower == nil && t.g.opts.Follow != nil {
		t.follower = t.g.opts.Follow(t.tx)
	}
	return t.follower
}

func (t *Tx) Lock(ctx context.Context, key string) error { return t.tx.Lock(ctx, key) }

// Enqueue forwards: the outbox is the gateway's own, not a resource, and
// holds no practice's data visible through the API except by the
// delivery operations, which check the Task's practice themselves.
func (t *Tx) Enqueue(ctx context.Context, d store.Delivery) error { return t.tx.Enqueue(ctx, d) }

// Read answers 404 for a resource of another practice, deleted or not.
func (t *Tx) Read(ctx context.Context, typ, id string) (store.Version, error) {
	v, err := t.tx.Read(ctx, typ, id)
	if !Restricted(t.p, typ) {
		return v, err
	}
	switch {
	case err == nil:
		if !t.g.Visible(t.p, typ, v.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrDeleted):
		if _, ok, herr := t.g.DeletedPractices(ctx, t.p, typ, id); herr != nil {
			return store.Version{}, herr
		} else if !ok {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	}
	return v, err
}

// DeletedPractices reads the practices of the last live version of a
// deleted resource, and whether p may see it. It reads the store's
// history, outside any transaction: versions never change once written.
func (g *Guard) DeletedPractices(ctx context.Context, p *auth.Principal, typ, id string) ([]string, bool, error) {
	page, err := g.opts.Store.History(ctx, store.HistoryQuery{Type: typ, ID: id, Count: 2})
	if err != nil {
		if errors.Is(err, fhir.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	for _, v := range page.Versions {
		if !v.Deleted {
			return g.PracticesOf(v.Body), g.Visible(p, typ, v.Body), nil
		}
	}
	return nil, !Restricted(p, typ), nil
}

// Search restricts patient-linked searches to p's practices and drops
// invisible included resources.
func (t *Tx) Search(ctx context.Context, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	if t.g.opts.Expand != nil {
		var err error
		if q, err = t.g.opts.Expand(ctx, t, q); err != nil {
			return store.SearchPage{}, err
		}
	}
	q, err := t.g.RestrictQuery(t.p, q)
	if err != nil {
		return store.SearchPage{}, err
	}
	res, err := t.tx.Search(ctx, q, page)
	if err != nil {
		return res, err
	}
	if len(res.Included) > 0 {
		kept := res.Included[:0:0]
		for _, v := range res.Included {
			if t.g.authorize(t.p, v.Type, auth.Read) == nil && t.g.Visible(t.p, v.Type, v.Body) {
				kept = append(kept, v)
			}
		}
		res.Included = kept
	}
	return res, nil
}

func (g *Guard) authorize(p *auth.Principal, typ string, a auth.Action) error {
	if g.opts.Authorize != nil {
		return g.opts.Authorize(p, typ, a)
	}
	return p.Authorize(typ, a)
}

func (t *Tx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if err := t.CheckWrite(ctx, r, nil, nil); err != nil {
		return store.WriteResult{}, err
	}
	if err := t.checkSecrets(ctx, r, nil); err != nil {
		return store.WriteResult{}, err
	}
	if err := t.claimODS(ctx, r); err != nil {
		return store.WriteResult{}, err
	}
	res, err := t.tx.Create(ctx, r)
	if err != nil {
		return res, err
	}
	return t.AfterWrite(ctx, t.practices, res)
}

// unguarded reports that writes of typ need no check against the stored
// version: neither practice data nor, for a token, directory data.
func (t *Tx) unguarded(typ string) bool {
	return !Owned(typ) && !(auth.IsDirectoryType(typ) && !t.p.Dev) && !secrets.Holds(typ)
}

func (t *Tx) Update(ctx context.Context, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error) {
	typ := r.Type()
	if t.unguarded(typ) {
		if err := t.g.CheckLookalike(r); err != nil {
			return store.WriteResult{}, err
		}
		if err := t.claimODS(ctx, r); err != nil {
			return store.WriteResult{}, err
		}
		return t.tx.Update(ctx, r, pre)
	}
	stored, storedBody, err := t.Current(ctx, typ, r.ID())
	if err != nil {
		return store.WriteResult{}, err
	}
	return t.updateChecked(ctx, r, pre, stored, storedBody)
}

// UpdateRead is Update of r over read, the live version of r the caller
// read and may see, with If-Match read's version: the store writes only
// while read is still the current version, so read's practices are the
// stored ones and the tenancy check needs no second read of them (a round
// trip of every navigation's commit). A version changed meanwhile fails
// the write with 412, as If-Match does.
func (t *Tx) UpdateRead(ctx context.Context, r *fhir.Resource, read store.Version) (store.WriteResult, error) {
	pre := store.Precondition{IfMatch: read.VersionID}
	typ := r.Type()
	if read.Type != typ || read.ID != r.ID() || read.Deleted || read.VersionID <= 0 || t.unguarded(typ) {
		return t.Update(ctx, r, pre)
	}
	if !t.g.Visible(t.p, typ, read.Body) {
		return store.WriteResult{}, notKnownForUpdate(typ, r.ID())
	}
	return t.updateChecked(ctx, r, pre, t.g.PracticesOf(read.Body), read.Body)
}

// updateChecked is Update once the stored version's practices and body
// are known.
func (t *Tx) updateChecked(ctx context.Context, r *fhir.Resource, pre store.Precondition, stored []string, storedBody []byte) (store.WriteResult, error) {
	if err := t.CheckWrite(ctx, r, stored, storedBody); err != nil {
		return store.WriteResult{}, err
	}
	if err := t.checkSecrets(ctx, r, storedBody); err != nil {
		return store.WriteResult{}, err
	}
	if err := t.claimODS(ctx, r); err != nil {
		return store.WriteResult{}, err
	}
	res, err := t.tx.Update(ctx, r, pre)
	if err != nil {
		return res, err
	}
	return t.AfterWrite(ctx, t.practices, res)
}

// AfterWrite is what follows every successful create and update, inside
// its transaction, once practices (those CheckWrite decided) are known:
// the Follower's Subscription handshake or notifications. A batch that
// checks and writes several resources together calls it for each.
func (t *Tx) AfterWrite(ctx context.Context, practices []string, res store.WriteResult) (store.WriteResult, error) {
	t.practices = practices
	if res.Unchanged {
		return res, nil
	}
	f := t.follow()
	if f == nil {
		return res, nil
	}
	practice := ""
	if len(practices) > 0 {
		practice = practices[0]
	}
	return res, f.Written(ctx, practice, res)
}

// Delete checks the caller against the stored version: tenancy, the
// publisher's scope and the type's delete checks (deletecheck.go).
func (t *Tx) Delete(ctx context.Context, typ, id string, pre store.Precondition) (store.WriteResult, error) {
	if t.unguarded(typ) && len(t.g.deleteChecks[typ]) == 0 {
		return t.tx.Delete(ctx, typ, id, pre)
	}
	var done func(context.Context, store.WriteResult) error
	v, err := t.tx.Read(ctx, typ, id)
	switch {
	case err == nil:
		if !t.g.Visible(t.p, typ, v.Body) {
			return store.WriteResult{}, fhir.NotFound(typ, id)
		}
		// The checks ask the context for the caller: the guard's.
		if err := t.g.CheckDelete(auth.NewContext(ctx, t.p), v); err != nil {
			return store.WriteResult{}, err
		}
		t.practices = t.g.PracticesOf(v.Body)
		if len(t.practices) > 0 {
			// A deletion notifies whom the version it deletes matches.
			if f := t.follow(); f != nil {
				if done, err = f.Deleting(ctx, t.practices[0], typ, id); err != nil {
					return store.WriteResult{}, err
				}
			}
		}
		if auth.IsDirectoryType(typ) {
			if err := t.checkPublisher(ctx, typ, v.Body, "delete"); err != nil {
				return store.WriteResult{}, err
			}
		}
	case errors.Is(err, fhir.ErrDeleted), errors.Is(err, fhir.ErrNotFound):
		// Nothing to delete; the store changes nothing (a precondition
		// still applies). For a caller bounded by tenancy, an id it
		// cannot see (another practice's, deleted or not) and an id that
		// never existed are the same 404, precondition or not.
		if Restricted(t.p, typ) {
			if errors.Is(err, fhir.ErrNotFound) {
				return store.WriteResult{}, fhir.NotFound(typ, id)
			}
			if _, ok, herr := t.g.DeletedPractices(ctx, t.p, typ, id); herr != nil {
				return store.WriteResult{}, herr
			} else if !ok {
				return store.WriteResult{}, fhir.NotFound(typ, id)
			}
		}
	default:
		return store.WriteResult{}, err
	}
	res, err := t.tx.Delete(ctx, typ, id, pre)
	if err != nil || done == nil || res.Version.VersionID == 0 {
		return res, err
	}
	return res, done(ctx, res)
}

// Current reads what an update replaces: the practices of the stored
// version (of the last live one when it was deleted) and its body; a
// resource p may not see is a 404.
//
// A caller bounded by tenancy gets the same 404 for an id that does not
// exist: it cannot create patient data under an id of its choosing
// (update as create), since an id another practice holds would have to
// answer differently, and could otherwise be taken before that practice
// used it. Such resources are created with POST; an id of the caller's
// own deleted resource may still be updated.
func (t *Tx) Current(ctx context.Context, typ, id string) ([]string, []byte, error) {
	v, err := t.tx.Read(ctx, typ, id)
	switch {
	case err == nil:
		if !t.g.Visible(t.p, typ, v.Body) {
			return nil, nil, notKnownForUpdate(typ, id)
		}
		return t.g.PracticesOf(v.Body), v.Body, nil
	case errors.Is(err, fhir.ErrNotFound):
		if Restricted(t.p, typ) {
			return nil, nil, notKnownForUpdate(typ, id)
		}
		return nil, nil, nil
	case errors.Is(err, fhir.ErrDeleted):
		practices, ok, err := t.g.DeletedPractices(ctx, t.p, typ, id)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, notKnownForUpdate(typ, id)
		}
		return practices, nil, nil
	}
	return nil, nil, err
}

// notKnownForUpdate is the 404 (not-found) of an update, by a caller
// bounded by tenancy, of an id it cannot see: another practice's, or none
// at all.
func notKnownForUpdate(typ, id string) error {
	return fhir.Errorf(fhir.CodeNotFound, "%s/%s is not known; a new %s is created with POST, which assigns its id", typ, id, typ)
}

// CheckWrite applies the per-resource rules to r: its practice label for
// patient-linked types (the practices it decides are then Practices),
// the publisher's scope for directory types. stored and storedBody are
// the practices and body of the version r replaces (Current), none for a
// create.
func (t *Tx) CheckWrite(ctx context.Context, r *fhir.Resource, stored []string, storedBody []byte) error {
	typ := r.Type()
	if err := t.g.CheckLookalike(r); err != nil {
		return err
	}
	if typ == "Subscription" {
		if err := subscriptions.Check(r); err != nil {
			return err
		}
	}
	if Owned(typ) {
		code, err := t.g.Stamp(t.p, r, stored)
		t.practices = nil
		if code != "" {
			t.practices = []string{code}
		}
		return err
	}
	if auth.IsDirectoryType(typ) && !t.p.Dev {
		if storedBody != nil {
			if err := t.checkPublisher(ctx, typ, storedBody, "change"); err != nil {
				return err
			}
		}
		body, err := r.MarshalJSON()
		if err != nil {
			return err
		}
		return t.checkPublisher(ctx, typ, body, "write")
	}
	return nil
}

// checkPublisher asks CanPublish about one version of a directory entry.
func (t *Tx) checkPublisher(ctx context.Context, typ string, body []byte, verb string) error {
	org, systems, err := t.directoryOwner(ctx, typ, body)
	if err != nil {
		return err
	}
	if err := checkIdentifiers(t.p, typ, body, verb); err != nil {
		return err // directoryclaims.go
	}
	if t.p.CanPublish(org, systems...) {
		return nil
	}
	owner := "no organisation"
	if org != "" {
		owner = "organisation " + org
	}
	return fhir.Errorf(fhir.CodeForbidden, "the publisher scope of the token does not cover this %s (owned by %s, identifier systems %s): it may not %s it",
		typ, owner, strings.Join(systems, ", "), verb)
}

// directoryOwner extracts what CanPublish asks about a directory entry:
// the ODS code of the organisation that owns it (the Organization's own,
// or that of HealthcareService.providedBy, Location and
// Endpoint.managingOrganization, given as an identifier or as a literal
// reference to an Organization on this server) and its identifier
// systems.
func (t *Tx) directoryOwner(ctx context.Context, typ string, body []byte) (string, []string, error) {
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return "", nil, err
	}
	var systems []string
	ids, _ := obj["identifier"].([]any)
	for _, item := range ids {
		if id, ok := item.(map[string]any); ok {
			if sys, _ := id["system"].(string); sys != "" && !slices.Contains(systems, sys) {
				systems = append(systems, sys)
			}
		}
	}
	if typ == "Organization" {
		return ODSOf(ids), systems, nil
	}
	field := map[string]string{"HealthcareService": "providedBy", "Location": "managingOrganization", "Endpoint": "managingOrganization"}[typ]
	ref, _ := obj[field].(map[string]any)
	if ref == nil {
		return "", systems, nil
	}
	if id, ok := ref["identifier"].(map[string]any); ok {
		if org := ODSOf([]any{id}); org != "" {
			return org, systems, nil
		}
	}
	s, _ := ref["reference"].(string)
	if _, rtyp, rid, _ := search.SplitReference(s); rtyp == "Organization" && rid != "" && !strings.Contains(s, "://") {
		v, err := t.tx.Read(ctx, "Organization", rid)
		switch {
		case err == nil:
			var o map[string]any
			if err := json.Unmarshal(v.Body, &o); err == nil {
				ids, _ := o["identifier"].([]any)
				return ODSOf(ids), systems, nil
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return "", nil, err
		}
	}
	return "", systems, nil
}
