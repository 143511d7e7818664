package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/secrets"
	"github.com/signpost-fhir/signpost/subscriptions"
)

// Practice tenancy.
//
// Every patient-linked resource (auth.IsPatientLinked) belongs to one
// practice, recorded by the gateway as a server-owned security label in
// meta.security: system <canonical base>/CodeSystem/practice, code the
// practice's ODS code. On every write the gateway works the practice out
// and stamps the label, replacing whatever labels of that system the
// client sent:
//
//  1. the practice the resource names: Task.owner's identifier in the ODS
//     system (https://fhir.nhs.uk/Id/ods-organization-code), or a label of
//     the practice system the client sent (the only way other types can
//     say it). Naming two practices is a 422; naming one the caller does
//     not act for is a 403.
//  2. else, on an update, the practice of the stored version;
//  3. else the caller's practice when its token names exactly one;
//  4. else (a token acting for several practices) a 422 asking the client
//     to say which. The developer (development mode) may write resources
//     that belong to no practice; they are then visible to the developer
//     only.
//
// An update may move a resource to another practice only when the caller
// acts for both. Reads (read, vread, history) of a resource of another
// practice answer 404, never 403, so existence does not leak; updates,
// patches and deletes of one answer 404 too. Searches get the restriction
// as a _security parameter on the parsed query, so totals and paging are
// right; resources brought in by _include and _revinclude are dropped
// when invisible, and chained parameters and _has look only at visible
// resources (search.Query.Tenancy). Type and system history leave out
// other practices' versions (store.HistoryQuery.Security).
//
// All of this lives in tenantTx, a store.Tx that every interaction runs
// on, so REST requests, conditional interactions, PATCH and each entry of
// a batch or transaction get the same rules from one place.
//
// Subscription follows the same rules (practiceOwned), though not patient
// data: it belongs to the practice of its creator, whose resources alone
// it may match, and its channel may hold secrets. tenantTx is also where
// writes reach the Subscriptions (afterWrite, subscription.go), inside
// the write's transaction.

// odsSystem is the identifier system of ODS organisation codes.
const odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// practiceSystem is the system of the practice security label.
func (s *Server) practiceSystem() string { return s.opts.CanonicalBase + "/CodeSystem/practice" }

// restricted reports whether p's view of typ is bounded by tenancy.
func restricted(p *auth.Principal, typ string) bool {
	return practiceOwned(typ) && !p.Dev && !p.AllPractices
}

// practicesOf lists the practice labels of a stored body. Only
// meta.security is decoded (meta comes third in a stored body).
func (s *Server) practicesOf(body []byte) []string {
	if len(body) == 0 {
		return nil
	}
	meta, ok := fhir.Member(body, "meta")
	if !ok {
		return nil
	}
	raw, ok := fhir.Member(meta, "security")
	if !ok {
		return nil
	}
	v, err := fhir.DecodeJSON(raw)
	if err != nil {
		return nil
	}
	labels, _ := v.([]any)
	sys := s.practiceSystem()
	var out []string
	for _, l := range labels {
		c, _ := l.(map[string]any)
		system, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if system == sys && code != "" && !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out
}

// visible reports whether p may see a stored version of typ.
func (s *Server) visible(p *auth.Principal, typ string, body []byte) bool {
	if !restricted(p, typ) {
		return true
	}
	for _, ods := range s.practicesOf(body) {
		if p.CanSeePractice(ods) {
			return true
		}
	}
	return false
}

// securityParam is the _security restriction of a search on typ by p;
// ok is false when p's view of typ is not restricted.
func (s *Server) securityParam(p *auth.Principal, typ string) (param search.Param, ok bool, err error) {
	if !restricted(p, typ) {
		return search.Param{}, false, nil
	}
	values := s.securityTokens(p)
	if len(values) == 0 {
		// Authorize refuses patient data to a caller with no practice;
		// this is the belt to its braces.
		return search.Param{}, false, fhir.Errorf(fhir.CodeForbidden, "the token names no practice, so it cannot access %s (patient data)", typ)
	}
	q, err := search.ParseQuery(typ, url.Values{"_security": {strings.Join(values, ",")}}, true)
	if err != nil {
		return search.Param{}, false, err
	}
	if len(q.Params) != 1 {
		return search.Param{}, false, errors.New("gateway: _security did not parse to one parameter")
	}
	return q.Params[0], true, nil
}

// securityTokens are p's practices as system|code tokens.
func (s *Server) securityTokens(p *auth.Principal) []string {
	var out []string
	for _, ods := range p.Practices() {
		out = append(out, s.practiceSystem()+"|"+ods)
	}
	return out
}

// namedPractices are the practices a resource names itself: Task.owner's
// ODS identifier and practice labels in meta.security, upper case,
// without duplicates.
func (s *Server) namedPractices(r *fhir.Resource) []string {
	obj := r.Object()
	var out []string
	add := func(code string) {
		code = strings.ToUpper(strings.TrimSpace(code))
		if code != "" && !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	if r.Type() == "Task" {
		if owner, ok := obj["owner"].(map[string]any); ok {
			if id, ok := owner["identifier"].(map[string]any); ok && id["system"] == odsSystem {
				v, _ := id["value"].(string)
				add(v)
			}
		}
	}
	sys := s.practiceSystem()
	if meta, ok := obj["meta"].(map[string]any); ok {
		list, _ := meta["security"].([]any)
		for _, item := range list {
			if c, ok := item.(map[string]any); ok && c["system"] == sys {
				v, _ := c["code"].(string)
				add(v)
			}
		}
	}
	return out
}

// stampPractice decides the practice of a patient-linked resource p is
// writing (stored holds the practices of the version it replaces) and
// writes the label; see the rules at the top of this file.
func (s *Server) stampPractice(p *auth.Principal, r *fhir.Resource, stored []string) (string, error) {
	named := s.namedPractices(r)
	var code string
	switch {
	case len(named) > 1:
		return "", fhir.Errorf(fhir.CodeBusinessRule, "%s names several practices (%s); a resource belongs to one practice", r.Type(), strings.Join(named, ", ")).WithStatus(http.StatusUnprocessableEntity)
	case len(named) == 1:
		code = named[0]
		if !p.CanSeePractice(code) {
			return "", fhir.Errorf(fhir.CodeForbidden, "%s belongs to practice %s, which the token does not act for", r.Type(), code)
		}
	case len(stored) > 0:
		code = stored[0]
	case p.Dev || p.AllPractices:
	case len(p.ODS) == 1:
		code = p.ODS[0]
	case len(p.ODS) == 0:
		return "", fhir.Errorf(fhir.CodeForbidden, "the token names no practice, so it cannot write %s (patient data)", r.Type())
	default:
		return "", fhir.Errorf(fhir.CodeBusinessRule,
			"the token acts for several practices (%s): say which one this %s belongs to with a meta.security label %s|<ODS code>%s",
			strings.Join(p.ODS, ", "), r.Type(), s.practiceSystem(), ownerHint(r.Type())).WithStatus(http.StatusUnprocessableEntity)
	}
	s.setPracticeLabel(r, code)
	return code, nil
}

// checkLookalikeLabels refuses, on any type, a meta.security or meta.tag
// coding whose system only looks like the practice label's: another
// case, a trailing slash, another scheme or surrounding spaces. Such a
// label would read as a practice to a person or a receiver while the
// gateway ignores it, so it is refused (422) rather than stored.
func (s *Server) checkLookalikeLabels(r *fhir.Resource) error {
	meta, _ := r.Object()["meta"].(map[string]any)
	if meta == nil {
		return nil
	}
	sys := s.practiceSystem()
	want := looseSystem(sys)
	for _, field := range []string{"security", "tag"} {
		list, _ := meta[field].([]any)
		for i, item := range list {
			c, _ := item.(map[string]any)
			got, _ := c["system"].(string)
			if got == "" || (got == sys && field == "security") {
				continue
			}
			if looseSystem(got) == want {
				what := "looks like the practice label's system but is not it"
				if got == sys {
					what = "is the practice label's system, which belongs in meta.security"
				}
				return fhir.Errorf(fhir.CodeValue, "%s %q %s; a practice label is exactly {\"system\": %q, \"code\": \"<ODS code>\"} in meta.security",
					"the system", got, what, sys).
					At(fmt.Sprintf("%s.meta.%s[%d].system", r.Type(), field, i)).WithStatus(http.StatusUnprocessableEntity)
			}
		}
	}
	return nil
}

// looseSystem is a system URI as a reader would take it: lower case,
// without surrounding spaces, scheme, "www." or trailing slashes.
func looseSystem(uri string) string {
	u := strings.ToLower(strings.TrimSpace(uri))
	for _, p := range []string{"https://", "http://"} {
		u = strings.TrimPrefix(u, p)
	}
	u = strings.TrimPrefix(u, "www.")
	return strings.TrimRight(u, "/ ")
}

func ownerHint(typ string) string {
	if typ == "Task" {
		return " or Task.owner.identifier (" + odsSystem + ")"
	}
	return ""
}

// setPracticeLabel replaces the practice labels of r by code's ("" for
// none).
func (s *Server) setPracticeLabel(r *fhir.Resource, code string) {
	obj := r.Object()
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil && code == "" {
		return
	}
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	sys := s.practiceSystem()
	list, _ := meta["security"].([]any)
	kept := make([]any, 0, len(list)+1)
	for _, item := range list {
		if c, ok := item.(map[string]any); ok && c["system"] == sys {
			continue
		}
		kept = append(kept, item)
	}
	if code != "" {
		kept = append(kept, map[string]any{"system": sys, "code": code})
	}
	if len(kept) == 0 {
		delete(meta, "security")
		if len(meta) == 0 {
			delete(obj, "meta")
		}
		return
	}
	meta["security"] = kept
}

// tenantTx is the store.Tx every interaction runs on: tenancy and the
// publisher's scope, per resource (see the top of this file). Scopes are
// checked before, per interaction.
type tenantTx struct {
	s  *Server
	tx store.Tx
	p  *auth.Principal
	// practices are those of the last resource written or deleted, for
	// its AuditEvent.
	practices []string
	// subs are the active Subscriptions of each practice this transaction
	// read (matchingSubscriptions).
	subs map[string][]subscriptions.Channel
	// wroteSubscription: this transaction wrote a Subscription, so its
	// view of them is its own (activeSubscriptions).
	wroteSubscription bool
}

var _ store.Tx = (*tenantTx)(nil)

// guard wraps tx for p.
func (s *Server) guard(p *auth.Principal, tx store.Tx) *tenantTx {
	return &tenantTx{s: s, tx: tx, p: p}
}

func (t *tenantTx) Lock(ctx context.Context, key string) error { return t.tx.Lock(ctx, key) }

// Enqueue forwards: the outbox is the gateway's own, not a resource, and
// holds no practice's data visible through the API except by the
// delivery operations, which check the Task's practice themselves.
func (t *tenantTx) Enqueue(ctx context.Context, d store.Delivery) error { return t.tx.Enqueue(ctx, d) }

// Read answers 404 for a resource of another practice, deleted or not.
func (t *tenantTx) Read(ctx context.Context, typ, id string) (store.Version, error) {
	v, err := t.tx.Read(ctx, typ, id)
	if !restricted(t.p, typ) {
		return v, err
	}
	switch {
	case err == nil:
		if !t.s.visible(t.p, typ, v.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrDeleted):
		if _, ok, herr := t.s.deletedPractices(ctx, t.p, typ, id); herr != nil {
			return store.Version{}, herr
		} else if !ok {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	}
	return v, err
}

// deletedPractices reads the practices of the last live version of a
// deleted resource, and whether p may see it. It reads the store's
// history, outside any transaction: versions never change once written.
func (s *Server) deletedPractices(ctx context.Context, p *auth.Principal, typ, id string) ([]string, bool, error) {
	page, err := s.store.History(ctx, store.HistoryQuery{Type: typ, ID: id, Count: 2})
	if err != nil {
		if errors.Is(err, fhir.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	for _, v := range page.Versions {
		if !v.Deleted {
			return s.practicesOf(v.Body), s.visible(p, typ, v.Body), nil
		}
	}
	return nil, !restricted(p, typ), nil
}

// Search restricts patient-linked searches to p's practices and drops
// invisible included resources.
func (t *tenantTx) Search(ctx context.Context, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	q, err := t.s.expandValueSets(ctx, t, q) // tokensets.go
	if err != nil {
		return store.SearchPage{}, err
	}
	q, err = t.s.restrictQuery(t.p, q)
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
			if t.s.authorize(t.p, v.Type, auth.Read) == nil && t.s.visible(t.p, v.Type, v.Body) {
				kept = append(kept, v)
			}
		}
		res.Included = kept
	}
	return res, nil
}

// restrictQuery is q with p's tenancy: a _security parameter when q's
// type is patient-linked, and Tenancy for chains and _has. q itself is
// not changed (it may be run again, by a retried transaction).
func (s *Server) restrictQuery(p *auth.Principal, q *search.Query) (*search.Query, error) {
	if p.Dev || p.AllPractices {
		return q, nil
	}
	c := *q
	c.Params = slices.Clone(q.Params)
	param, ok, err := s.securityParam(p, q.Type)
	if err != nil {
		return nil, err
	}
	if ok {
		c.Params = append(c.Params, param)
	}
	c.Tenancy = &search.Tenancy{
		Types:  practiceOwnedTypes(),
		System: s.practiceSystem(),
		Codes:  p.Practices(),
	}
	return &c, nil
}

func (t *tenantTx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if err := t.checkWrite(ctx, r, nil, nil); err != nil {
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
	return t.afterWrite(ctx, res)
}

// unguarded reports that writes of typ need no check against the stored
// version: neither practice data nor, for a token, directory data.
func (t *tenantTx) unguarded(typ string) bool {
	return !practiceOwned(typ) && !(auth.IsDirectoryType(typ) && !t.p.Dev) && !secrets.Holds(typ)
}

func (t *tenantTx) Update(ctx context.Context, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error) {
	typ := r.Type()
	if t.unguarded(typ) {
		if err := t.s.checkLookalikeLabels(r); err != nil {
			return store.WriteResult{}, err
		}
		if err := t.claimODS(ctx, r); err != nil {
			return store.WriteResult{}, err
		}
		return t.tx.Update(ctx, r, pre)
	}
	stored, storedBody, err := t.current(ctx, typ, r.ID())
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
func (t *tenantTx) UpdateRead(ctx context.Context, r *fhir.Resource, read store.Version) (store.WriteResult, error) {
	pre := store.Precondition{IfMatch: read.VersionID}
	typ := r.Type()
	if read.Type != typ || read.ID != r.ID() || read.Deleted || read.VersionID <= 0 || t.unguarded(typ) {
		return t.Update(ctx, r, pre)
	}
	if !t.s.visible(t.p, typ, read.Body) {
		return store.WriteResult{}, notKnownForUpdate(typ, r.ID())
	}
	return t.updateChecked(ctx, r, pre, t.s.practicesOf(read.Body), read.Body)
}

// updateChecked is Update once the stored version's practices and body
// are known.
func (t *tenantTx) updateChecked(ctx context.Context, r *fhir.Resource, pre store.Precondition, stored []string, storedBody []byte) (store.WriteResult, error) {
	if err := t.checkWrite(ctx, r, stored, storedBody); err != nil {
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
	return t.afterWrite(ctx, res)
}

// Delete checks the caller against the stored version: tenancy, the
// publisher's scope and the type's delete checks (deletecheck.go).
func (t *tenantTx) Delete(ctx context.Context, typ, id string, pre store.Precondition) (store.WriteResult, error) {
	if t.unguarded(typ) && len(t.s.deleteChecks[typ]) == 0 {
		return t.tx.Delete(ctx, typ, id, pre)
	}
	var matches []subscriptions.Match
	v, err := t.tx.Read(ctx, typ, id)
	switch {
	case err == nil:
		if !t.s.visible(t.p, typ, v.Body) {
			return store.WriteResult{}, fhir.NotFound(typ, id)
		}
		// The checks ask the context for the caller: the guard's.
		if err := t.s.checkDelete(auth.NewContext(ctx, t.p), v); err != nil {
			return store.WriteResult{}, err
		}
		t.practices = t.s.practicesOf(v.Body)
		if len(t.practices) > 0 {
			// A deletion notifies whom the version it deletes matches.
			if matches, err = t.matchingSubscriptions(ctx, t.practices[0], typ, id); err != nil {
				return store.WriteResult{}, err
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
		if restricted(t.p, typ) {
			if errors.Is(err, fhir.ErrNotFound) {
				return store.WriteResult{}, fhir.NotFound(typ, id)
			}
			if _, ok, herr := t.s.deletedPractices(ctx, t.p, typ, id); herr != nil {
				return store.WriteResult{}, herr
			} else if !ok {
				return store.WriteResult{}, fhir.NotFound(typ, id)
			}
		}
	default:
		return store.WriteResult{}, err
	}
	res, err := t.tx.Delete(ctx, typ, id, pre)
	if err != nil || len(matches) == 0 || res.Version.VersionID == 0 {
		return res, err
	}
	return res, subscriptions.Notify(ctx, t.tx, t.practices[0], res, matches)
}

// current reads what an update replaces: the practices of the stored
// version (of the last live one when it was deleted) and its body; a
// resource p may not see is a 404.
//
// A caller bounded by tenancy gets the same 404 for an id that does not
// exist: it cannot create patient data under an id of its choosing
// (update as create), since an id another practice holds would have to
// answer differently, and could otherwise be taken before that practice
// used it. Such resources are created with POST; an id of the caller's
// own deleted resource may still be updated.
func (t *tenantTx) current(ctx context.Context, typ, id string) ([]string, []byte, error) {
	v, err := t.tx.Read(ctx, typ, id)
	switch {
	case err == nil:
		if !t.s.visible(t.p, typ, v.Body) {
			return nil, nil, notKnownForUpdate(typ, id)
		}
		return t.s.practicesOf(v.Body), v.Body, nil
	case errors.Is(err, fhir.ErrNotFound):
		if restricted(t.p, typ) {
			return nil, nil, notKnownForUpdate(typ, id)
		}
		return nil, nil, nil
	case errors.Is(err, fhir.ErrDeleted):
		practices, ok, err := t.s.deletedPractices(ctx, t.p, typ, id)
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

// notKnownForUpdate is the 404 of an update, by a caller bounded by
// tenancy, of an id it cannot see: another practice's, or none at all.
func notKnownForUpdate(typ, id string) error {
	return fhir.Errorf(fhir.CodeNotFound, "%s/%s is not known; a new %s is created with POST, which assigns its id", typ, id, typ).WithStatus(http.StatusNotFound)
}

// checkWrite applies the per-resource rules to r: its practice label for
// patient-linked types, the publisher's scope for directory types.
func (t *tenantTx) checkWrite(ctx context.Context, r *fhir.Resource, stored []string, storedBody []byte) error {
	typ := r.Type()
	if err := t.s.checkLookalikeLabels(r); err != nil {
		return err
	}
	if typ == "Subscription" {
		if err := subscriptions.Check(r); err != nil {
			return err
		}
	}
	if practiceOwned(typ) {
		code, err := t.s.stampPractice(t.p, r, stored)
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
func (t *tenantTx) checkPublisher(ctx context.Context, typ string, body []byte, verb string) error {
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
func (t *tenantTx) directoryOwner(ctx context.Context, typ string, body []byte) (string, []string, error) {
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
		return odsOf(ids), systems, nil
	}
	field := map[string]string{"HealthcareService": "providedBy", "Location": "managingOrganization", "Endpoint": "managingOrganization"}[typ]
	ref, _ := obj[field].(map[string]any)
	if ref == nil {
		return "", systems, nil
	}
	if id, ok := ref["identifier"].(map[string]any); ok {
		if org := odsOf([]any{id}); org != "" {
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
				return odsOf(ids), systems, nil
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return "", nil, err
		}
	}
	return "", systems, nil
}

// odsOf is the first ODS code among identifiers.
func odsOf(ids []any) string {
	for _, item := range ids {
		if id, ok := item.(map[string]any); ok && id["system"] == odsSystem {
			if v, _ := id["value"].(string); v != "" {
				return strings.ToUpper(strings.TrimSpace(v))
			}
		}
	}
	return ""
}
