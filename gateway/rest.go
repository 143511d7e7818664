package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/tenancy"
)

// readResource reads and checks a request body: well-formed JSON, the type
// the URL names, valid against the R4 definitions.
func (s *Server) readResource(req *request) (*fhir.Resource, error) {
	if req.body == nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "a resource body is required").WithStatus(http.StatusBadRequest)
	}
	data, err := io.ReadAll(req.body)
	if err != nil {
		return nil, err // MaxBytesError becomes 413 in writeError
	}
	if len(data) == 0 {
		return nil, fhir.Errorf(fhir.CodeStructure, "a resource body is required").WithStatus(http.StatusBadRequest)
	}
	r, err := fhir.ParseResource(data)
	if err != nil {
		return nil, err
	}
	if r.Type() != req.typ {
		return nil, fhir.Errorf(fhir.CodeInvalid, "resourceType %q does not match the URL's %q", r.Type(), req.typ).At("resourceType").WithStatus(http.StatusBadRequest)
	}
	if err := s.validate(req.ctx, r, strictHandling(req.header)); err != nil {
		return nil, err
	}
	return r, nil
}

// strictHandling reports Prefer: handling=strict.
func strictHandling(h http.Header) bool {
	return preference(h, "handling") == "strict"
}

// preference reads one token of the Prefer header (RFC 7240).
func preference(h http.Header, name string) string {
	for _, v := range h.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			k, val, _ := strings.Cut(part, "=")
			if strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

// ifMatch parses If-Match: W/"3", "3" or 3.
func ifMatch(h http.Header) (store.Precondition, error) {
	return interaction.ParseIfMatch(h.Get("If-Match"))
}

func (s *Server) create(req *request) (*response, error) {
	req.audit = auditIf(req, "create", "C")
	perms := []Permission{{req.typ, auth.Create}}
	var crit *criteria
	if v := req.header.Get("If-None-Exist"); v != "" {
		c, err := interaction.ParseCriteriaString(req.typ, v)
		if err != nil {
			return nil, err
		}
		crit = &c
		perms = append(perms, Permission{req.typ, auth.Search})
	}
	if err := s.authorizeAll(req.principal, perms); err != nil {
		return nil, err
	}
	r, err := s.readResource(req)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, crit != nil, func(tx store.Tx, retry bool) (result, error) {
		w := r
		if retry {
			w = r.Clone() // a retried attempt starts from the body as sent
		}
		if crit != nil {
			return interaction.ConditionalCreate(req.ctx, tx, w, *crit)
		}
		// The server owns ids on create; a client id in the body is
		// ignored (FHIR R4 3.1.0.8.1).
		w.SetID(uuid.NewString())
		return interaction.Create(req.ctx, tx, w)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.Version.ID
	return s.written(req, out), nil
}

func (s *Server) update(req *request) (*response, error) {
	req.audit = auditIf(req, "update", "U")
	if err := s.authorize(req.principal, req.typ, auth.Update); err != nil {
		return nil, err
	}
	pre, err := ifMatch(req.header)
	if err != nil {
		return nil, err
	}
	r, err := s.readResource(req)
	if err != nil {
		return nil, err
	}
	if r.ID() == "" {
		return nil, fhir.Errorf(fhir.CodeRequired, "the body must carry the id of the URL (%s)", req.id).At(req.typ + ".id").WithStatus(http.StatusBadRequest)
	}
	if r.ID() != req.id {
		return nil, fhir.Errorf(fhir.CodeInvalid, "body id %q does not match the URL's %q", r.ID(), req.id).At(req.typ + ".id").WithStatus(http.StatusBadRequest)
	}
	noneMatch := strings.TrimSpace(req.header.Get("If-None-Match"))
	out, err := s.write(req, noneMatch != "", func(tx store.Tx, retry bool) (result, error) {
		w := r
		if retry {
			w = r.Clone()
		}
		if noneMatch != "" {
			if err := ifNoneMatchWrite(req.ctx, tx, req.typ, req.id, noneMatch); err != nil {
				return result{}, err
			}
		}
		return interaction.Update(req.ctx, tx, w, pre)
	})
	if err != nil {
		return nil, err
	}
	return s.written(req, out), nil
}

// ifNoneMatchWrite evaluates If-None-Match on a PUT (RFC 9110 13.1.2):
// "*" fails when the resource exists, a list of versions when the current
// one is listed; a failure is a 412 and nothing is written. It runs in
// the write's transaction, under a lock on the resource, so two PUTs with
// If-None-Match: * cannot both create it.
func ifNoneMatchWrite(ctx context.Context, tx store.Tx, typ, id, header string) error {
	if err := tx.Lock(ctx, typ+"/"+id+" if-none-match"); err != nil {
		return err
	}
	cur, err := tx.Read(ctx, typ, id)
	switch {
	case errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted):
		return nil
	case err != nil:
		return err
	}
	if notModified(cur, header, "") {
		return fhir.Errorf(fhir.CodeConflict, "If-None-Match %s: %s/%s exists as version %d, so nothing was written", header, typ, id, cur.VersionID).WithStatus(http.StatusPreconditionFailed)
	}
	return nil
}

// auditIf starts the AuditEvent of an interaction on req.typ when that
// type is patient-linked, or when it changes configuration every decision
// reads (audit.ConfigAudited); nil otherwise.
func auditIf(req *request, subtype, action string) *auditEntry {
	if auth.IsPatientLinked(req.typ) {
		return auditFor(subtype, action, req)
	}
	if action != "R" && action != "E" && audit.ConfigAudited(req.typ) {
		e := auditFor(subtype, action, req)
		e.practices = audit.ConfigPractices(req.typ, req.id)
		return e
	}
	return nil
}

// write runs one write interaction on the caller's tenantTx. An
// interaction on patient data runs in a Store.Transaction together with
// its AuditEvent ("no audit, no access"), and so does one that must be
// atomic anyway (conditional interactions); any other write is a single
// store call, its own transaction, with no extra round trip. fn may run
// more than once (a retried transaction): retry tells it to start from a
// copy of what it was given. A Subscription write is atomic: its
// handshake is enqueued with it (subscription.go).
func (s *Server) write(req *request, atomic bool, fn func(tx store.Tx, retry bool) (result, error)) (result, error) {
	// An Organization's ODS claim is checked under a lock that holds only
	// in a transaction (tenancy/directoryclaims.go).
	if req.audit == nil && !atomic && req.typ != "Subscription" && req.typ != "Organization" {
		return fn(s.tenancy.Wrap(req.principal, s.store), false)
	}
	var out result
	attempt := 0
	err := s.store.Transaction(req.ctx, func(tx store.Tx) error {
		g := s.tenancy.Wrap(req.principal, tx)
		var err error
		out, err = fn(g, attempt > 0 || atomic)
		attempt++
		if err != nil || req.audit == nil {
			return err
		}
		e := *req.audit
		e.status = statusOf(out)
		if out.Version.ID != "" {
			e.id, e.version = out.Version.ID, out.Version.VersionID
		}
		if len(g.Practices()) > 0 {
			e.practices = g.Practices()
		}
		return s.recordAudit(req.ctx, tx, req, &e)
	})
	if err != nil {
		return result{}, err
	}
	if req.audit != nil {
		req.audited = true
	}
	return out, nil
}

// written answers a create, update or patch as Prefer: return asks
// (the representation by default).
func (s *Server) written(req *request, out result) *response {
	v := out.Version
	h := versionHeaders(v)
	h.Set("Location", fmt.Sprintf("%s/%s/%s/_history/%d", req.base, v.Type, v.ID, v.VersionID))
	switch preference(req.header, "return") {
	case "minimal":
		return &response{status: statusOf(out), header: h}
	case "OperationOutcome":
		return &response{status: statusOf(out), header: h, body: information(out.Info)}
	}
	return &response{status: statusOf(out), header: h, body: v.Body}
}

// information is an OperationOutcome saying what happened.
func information(msg string) []byte {
	return fhir.Outcome(fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational, Diagnostics: msg})
}

func versionHeaders(v store.Version) http.Header {
	h := http.Header{}
	h.Set("ETag", fmt.Sprintf(`W/"%d"`, v.VersionID))
	h.Set("Last-Modified", v.LastUpdated.UTC().Format(http.TimeFormat))
	return h
}

func (s *Server) read(req *request) (*response, error) {
	req.audit = auditIf(req, "read", "R")
	if err := s.authorize(req.principal, req.typ, auth.Read); err != nil {
		return nil, err
	}
	v, err := s.tenancy.Wrap(req.principal, s.store).Read(req.ctx, req.typ, req.id)
	if body, ok := s.opDefs[req.id]; ok && req.typ == "OperationDefinition" && errors.Is(err, fhir.ErrNotFound) {
		// A generated definition of a registered operation (operation.go).
		v, err = store.Version{Type: req.typ, ID: req.id, VersionID: 1, LastUpdated: s.started, Body: body}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.foundAudited(req, v)
}

func (s *Server) vread(req *request) (*response, error) {
	req.audit = auditIf(req, "vread", "R")
	if err := s.authorize(req.principal, req.typ, auth.Read); err != nil {
		return nil, err
	}
	n, ok := interaction.ParseVersion(req.vid)
	if !ok {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %q", req.typ, req.id, req.vid).WithStatus(http.StatusNotFound)
	}
	v, err := s.versionRead(req.ctx, req.principal, req.typ, req.id, n)
	if err != nil {
		return nil, err
	}
	return s.foundAudited(req, v)
}

// versionRead is the store's VRead under tenancy: a version of another
// practice's resource, deleted or not, is a 404.
func (s *Server) versionRead(ctx context.Context, p *auth.Principal, typ, id string, n int64) (store.Version, error) {
	v, err := s.store.VRead(ctx, typ, id, n)
	if !tenancy.Restricted(p, typ) {
		return v, err
	}
	switch {
	case err == nil:
		if !s.labels().Visible(p, typ, v.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrDeleted):
		// A deletion has no body; it belongs where the version it
		// deleted did.
		prev, perr := s.store.VRead(ctx, typ, id, n-1)
		if perr != nil || !s.labels().Visible(p, typ, prev.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrNotFound):
		// "No version n" would tell another practice's resource from
		// one that never existed, and how many versions it has: only a
		// caller that may see some version of it hears it.
		page, herr := s.store.History(ctx, store.HistoryQuery{Type: typ, ID: id, Count: 0, Security: s.historySecurity(p)})
		switch {
		case errors.Is(herr, fhir.ErrNotFound) || (herr == nil && page.Total == 0):
			return store.Version{}, fhir.NotFound(typ, id)
		case herr != nil:
			return store.Version{}, herr
		}
	}
	return v, err
}

// foundAudited answers a read or vread of v (see found), its AuditEvent
// recorded first.
func (s *Server) foundAudited(req *request, v store.Version) (*response, error) {
	resp, err := s.found(req, v)
	if err != nil || req.audit == nil {
		return resp, err
	}
	req.audit.version, req.audit.status = v.VersionID, resp.status
	req.audit.practices = s.labels().PracticesOf(v.Body)
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return resp, nil
}

// found answers a read or vread, honouring If-None-Match and
// If-Modified-Since.
func (s *Server) found(req *request, v store.Version) (*response, error) {
	h := versionHeaders(v)
	if notModified(v, req.header.Get("If-None-Match"), req.header.Get("If-Modified-Since")) {
		return &response{status: http.StatusNotModified, header: h}, nil
	}
	sub, err := readSubset(req)
	if err != nil {
		return nil, err
	}
	body, err := sub.apply(v.Type, v.Body, true)
	if err != nil {
		return nil, fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
	}
	return &response{status: http.StatusOK, header: h, body: body}, nil
}

// readSubset reads _summary and _elements on a read or vread (R4
// 3.1.1.5.8-9 apply to reads as well as searches): the subsetter of
// search, nil when the whole resource is asked for. _summary=count has
// no meaning for one resource and is refused, as a combination of the
// two is.
func readSubset(req *request) (*subsetter, error) {
	summary := first(req.query, "_summary")
	var elements []string
	for _, raw := range req.query["_elements"] {
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				elements = append(elements, e)
			}
		}
	}
	switch summary {
	case "", "false":
	case "true", "text", "data":
		if len(elements) > 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_summary=%s and _elements cannot be combined: each chooses the elements", summary).At("_elements").WithStatus(http.StatusBadRequest)
		}
	default:
		return nil, fhir.Errorf(fhir.CodeInvalid, "_summary %q is not true, text, data or false on a read", summary).At("_summary").WithStatus(http.StatusBadRequest)
	}
	return newSubsetter(req.typ, summary, elements)
}

// notModified decides a conditional read (RFC 9110 13.1.2, 13.1.3): an
// If-None-Match listing v's version (weak comparison: W/"3", "3" and * all
// match) or, when there is none, an If-Modified-Since not before v's
// last update (HTTP dates have whole seconds).
func notModified(v store.Version, ifNoneMatch, ifModifiedSince string) bool {
	if ifNoneMatch = strings.TrimSpace(ifNoneMatch); ifNoneMatch != "" {
		for _, tag := range strings.Split(ifNoneMatch, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if n, ok := interaction.ParseVersion(strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)); ok && n == v.VersionID {
				return true
			}
		}
		return false
	}
	if ifModifiedSince != "" {
		if t, err := http.ParseTime(ifModifiedSince); err == nil && !v.LastUpdated.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

func (s *Server) delete(req *request) (*response, error) {
	req.audit = auditIf(req, "delete", "D")
	if err := s.authorize(req.principal, req.typ, auth.Delete); err != nil {
		return nil, err
	}
	pre, err := ifMatch(req.header)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, false, func(tx store.Tx, _ bool) (result, error) {
		return interaction.Delete(req.ctx, tx, req.typ, req.id, pre)
	})
	if err != nil {
		return nil, err
	}
	return s.deleted(req, out), nil
}

// deleted answers a delete: 204, or 200 with an OperationOutcome when
// Prefer: return=OperationOutcome asks for one.
func (s *Server) deleted(req *request, out result) *response {
	h := http.Header{}
	if out.Version.VersionID != 0 {
		h.Set("ETag", fmt.Sprintf(`W/"%d"`, out.Version.VersionID))
	}
	if preference(req.header, "return") == "OperationOutcome" {
		return &response{status: http.StatusOK, header: h, body: information(out.Info)}
	}
	return &response{status: http.StatusNoContent, header: h}
}

func (s *Server) history(req *request) (*response, error) {
	subtype := "history-system"
	switch {
	case req.id != "":
		subtype = "history-instance"
	case req.typ != "":
		subtype = "history-type"
	}
	q := store.HistoryQuery{Type: req.typ, ID: req.id}
	if err := s.historyScope(req, &q, subtype); err != nil {
		return nil, err
	}
	if err := interaction.HistoryParams(req.query, &q, time.Now().UTC()); err != nil {
		return nil, err
	}
	page, err := s.store.History(req.ctx, q)
	if err != nil {
		return nil, err
	}
	if req.id != "" && page.Total == 0 && tenancy.Restricted(req.principal, req.typ) {
		// Every version is another practice's: the resource does not
		// exist for this caller.
		return nil, fhir.NotFound(req.typ, req.id)
	}
	body, err := interaction.HistoryBundle(req.base, req.typ, req.id, first(req.query, "_at"), q, page)
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// historyScope authorises a history interaction and bounds q to what
// the caller may see: read on the type (system history: only the types
// the caller may read), and only its practices' versions of
// patient-linked types.
func (s *Server) historyScope(req *request, q *store.HistoryQuery, subtype string) error {
	p := req.principal
	if req.typ != "" {
		if auth.IsPatientLinked(req.typ) {
			req.audit = auditFor(subtype, "R", req)
		}
		if err := s.authorize(p, req.typ, auth.Read); err != nil {
			return err
		}
	} else {
		all := true
		var readable []string
		for _, t := range s.registry.Types() {
			if s.authorize(p, t, auth.Read) == nil {
				readable = append(readable, t)
			} else {
				all = false
			}
		}
		if len(readable) == 0 {
			return fhir.Errorf(fhir.CodeForbidden, "the token's scopes allow reading no resource type")
		}
		if !all {
			q.Types = readable
		}
		for _, t := range readable {
			if auth.IsPatientLinked(t) {
				req.audit = auditFor(subtype, "R", req)
				break
			}
		}
	}
	q.Security = s.historySecurity(p)
	return nil
}

// historySecurity is the tenancy filter of a history query by p; nil when
// p is not restricted.
func (s *Server) historySecurity(p *auth.Principal) *store.SecurityFilter {
	if p.Dev || p.AllPractices {
		return nil
	}
	return &store.SecurityFilter{
		Types:  tenancy.OwnedTypes(),
		System: s.labels().System,
		Codes:  p.Practices(),
	}
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
