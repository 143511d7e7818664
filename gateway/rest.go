package gateway

import (
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
	if err := s.writeChecks.Validate(req.ctx, r, strictHandling(req.header)); err != nil {
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
	req.audit = audit.For("create", "C", req.typ, req.id)
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
	req.audit = audit.For("update", "U", req.typ, req.id)
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
			if err := interaction.IfNoneMatchWrite(req.ctx, tx, req.typ, req.id, noneMatch); err != nil {
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

// write runs one write interaction on the caller's tenancy.Tx. An
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
		if out.Version.ID != "" {
			e.ID, e.Version = out.Version.ID, out.Version.VersionID
		}
		if len(g.Practices()) > 0 {
			e.Practices = g.Practices()
		}
		return s.recordAudit(req.ctx, tx, req, e, statusOf(out))
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
	req.audit = audit.For("read", "R", req.typ, req.id)
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
	req.audit = audit.For("vread", "R", req.typ, req.id)
	if err := s.authorize(req.principal, req.typ, auth.Read); err != nil {
		return nil, err
	}
	n, ok := interaction.ParseVersion(req.vid)
	if !ok {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %q", req.typ, req.id, req.vid).WithStatus(http.StatusNotFound)
	}
	v, err := s.tenancy.VersionRead(req.ctx, req.principal, req.typ, req.id, n)
	if err != nil {
		return nil, err
	}
	return s.foundAudited(req, v)
}

// foundAudited answers a read or vread of v (see found), its AuditEvent
// recorded first.
func (s *Server) foundAudited(req *request, v store.Version) (*response, error) {
	resp, err := s.found(req, v)
	if err != nil || req.audit == nil {
		return resp, err
	}
	req.audit.Version, req.audit.Practices = v.VersionID, s.labels().PracticesOf(v.Body)
	if err := s.auditRead(req, req.audit, resp.status); err != nil {
		return nil, err
	}
	return resp, nil
}

// found answers a read or vread of v (interaction.ReadAnswer: If-None-Match,
// If-Modified-Since, _summary and _elements).
func (s *Server) found(req *request, v store.Version) (*response, error) {
	res, err := interaction.ReadAnswer(v, req.query, req.header.Get("If-None-Match"), req.header.Get("If-Modified-Since"))
	if err != nil {
		return nil, err
	}
	return &response{status: statusOf(res), header: versionHeaders(v), body: res.Body}, nil
}

func (s *Server) delete(req *request) (*response, error) {
	req.audit = audit.For("delete", "D", req.typ, req.id)
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

// history is the history of a resource, a type or the system, as the
// caller may see it: read on the type is needed (system history: only
// the types the caller may read), and tenancy keeps other practices'
// versions out (tenancy.Guard.History).
func (s *Server) history(req *request) (*response, error) {
	subtype := "history-system"
	switch {
	case req.id != "":
		subtype = "history-instance"
	case req.typ != "":
		subtype = "history-type"
	}
	q := store.HistoryQuery{Type: req.typ, ID: req.id}
	if err := s.historyTypes(req, &q, subtype); err != nil {
		return nil, err
	}
	if err := interaction.HistoryParams(req.query, &q, time.Now().UTC()); err != nil {
		return nil, err
	}
	page, err := s.tenancy.History(req.ctx, req.principal, q)
	if err != nil {
		return nil, err
	}
	body, err := interaction.HistoryBundle(req.base, req.typ, req.id, first(req.query, "_at"), q, page)
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// historyTypes authorises a history interaction, bounding a system
// history to the types the caller may read, and starts its AuditEvent
// (audit.History).
func (s *Server) historyTypes(req *request, q *store.HistoryQuery, subtype string) error {
	if req.typ != "" {
		req.audit = audit.History(subtype, req.typ, req.id, nil)
		return s.authorize(req.principal, req.typ, auth.Read)
	}
	types := s.registry.Types()
	var readable []string
	for _, t := range types {
		if s.authorize(req.principal, t, auth.Read) == nil {
			readable = append(readable, t)
		}
	}
	if len(readable) == 0 {
		return fhir.Errorf(fhir.CodeForbidden, "the token's scopes allow reading no resource type")
	}
	if len(readable) < len(types) {
		q.Types = readable
	}
	req.audit = audit.History(subtype, "", "", readable)
	return nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
