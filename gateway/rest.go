package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
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
	v := strings.TrimSpace(h.Get("If-Match"))
	if v == "" {
		return store.Precondition{}, nil
	}
	tag := strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, ok := parseVersion(tag)
	if !ok {
		return store.Precondition{}, fhir.Errorf(fhir.CodeInvalid, "If-Match %q is not a version of this server (W/\"<n>\")", v).WithStatus(http.StatusBadRequest)
	}
	return store.Precondition{IfMatch: n}, nil
}

func (s *Server) create(req *request) (*response, error) {
	var crit *criteria
	if v := req.header.Get("If-None-Exist"); v != "" {
		c, err := parseCriteriaString(req.typ, v)
		if err != nil {
			return nil, err
		}
		crit = &c
	}
	r, err := s.readResource(req)
	if err != nil {
		return nil, err
	}
	var out result
	if crit == nil {
		// The server owns ids on create; a client id in the body is
		// ignored (FHIR R4 3.1.0.8.1).
		r.SetID(uuid.NewString())
		out, err = createIn(req.ctx, s.store, r)
	} else {
		err = s.store.Transaction(req.ctx, func(tx store.Tx) error {
			var err error
			out, err = conditionalCreateIn(req.ctx, tx, r.Clone(), *crit)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	req.id = out.version.ID
	return s.written(req, out), nil
}

func (s *Server) update(req *request) (*response, error) {
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
	out, err := updateIn(req.ctx, s.store, r, pre)
	if err != nil {
		return nil, err
	}
	return s.written(req, out), nil
}

// written answers a create, update or patch as Prefer: return asks
// (the representation by default).
func (s *Server) written(req *request, out result) *response {
	v := out.version
	h := versionHeaders(v)
	h.Set("Location", fmt.Sprintf("%s/%s/%s/_history/%d", req.base, v.Type, v.ID, v.VersionID))
	switch preference(req.header, "return") {
	case "minimal":
		return &response{status: out.status, header: h}
	case "OperationOutcome":
		return &response{status: out.status, header: h, body: information(out.info)}
	}
	return &response{status: out.status, header: h, body: v.Body}
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
	v, err := s.store.Read(req.ctx, req.typ, req.id)
	if err != nil {
		return nil, err
	}
	return s.found(req, v)
}

func (s *Server) vread(req *request) (*response, error) {
	n, ok := parseVersion(req.vid)
	if !ok {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %q", req.typ, req.id, req.vid).WithStatus(http.StatusNotFound)
	}
	v, err := s.store.VRead(req.ctx, req.typ, req.id, n)
	if err != nil {
		return nil, err
	}
	return s.found(req, v)
}

// found answers a read or vread, honouring If-None-Match and
// If-Modified-Since.
func (s *Server) found(req *request, v store.Version) (*response, error) {
	h := versionHeaders(v)
	if notModified(v, req.header.Get("If-None-Match"), req.header.Get("If-Modified-Since")) {
		return &response{status: http.StatusNotModified, header: h}, nil
	}
	return &response{status: http.StatusOK, header: h, body: v.Body}, nil
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
			if n, ok := parseVersion(strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)); ok && n == v.VersionID {
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
	pre, err := ifMatch(req.header)
	if err != nil {
		return nil, err
	}
	out, err := deleteIn(req.ctx, s.store, req.typ, req.id, pre)
	if err != nil {
		return nil, err
	}
	return s.deleted(req, out), nil
}

// deleted answers a delete: 204, or 200 with an OperationOutcome when
// Prefer: return=OperationOutcome asks for one.
func (s *Server) deleted(req *request, out result) *response {
	h := http.Header{}
	if out.version.VersionID != 0 {
		h.Set("ETag", fmt.Sprintf(`W/"%d"`, out.version.VersionID))
	}
	if preference(req.header, "return") == "OperationOutcome" {
		return &response{status: http.StatusOK, header: h, body: information(out.info)}
	}
	return &response{status: http.StatusNoContent, header: h}
}

// Paging limits for _history.
const (
	defaultCount = 50
	maxCount     = 1000
)

func (s *Server) history(req *request) (*response, error) {
	q := store.HistoryQuery{Type: req.typ, ID: req.id, Count: defaultCount}
	var err error
	if v := first(req.query, "_count"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_count must be a non-negative integer").At("_count").WithStatus(http.StatusBadRequest)
		}
		q.Count = min(n, maxCount)
	}
	if v := first(req.query, "_offset"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_offset must be a non-negative integer").At("_offset").WithStatus(http.StatusBadRequest)
		}
		q.Offset = n
	}
	if q.Since, err = instantParam(req.query, "_since"); err != nil {
		return nil, err
	}
	if q.At, err = instantParam(req.query, "_at"); err != nil {
		return nil, err
	}
	// Pin later pages to what existed when the first page was read, so
	// writes in between do not shift them.
	if q.At.IsZero() {
		q.At = time.Now().UTC()
	}
	page, err := s.store.History(req.ctx, q)
	if err != nil {
		return nil, err
	}
	body, err := historyBundle(req, q, page)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// instantParam parses a history parameter given as an instant, or as a
// dateTime of any precision (taken at its start, UTC when no zone).
func instantParam(q map[string][]string, k string) (time.Time, error) {
	// An unescaped "+01:00" arrives as " 01:00" after query decoding.
	v := strings.ReplaceAll(first(q, k), " ", "+")
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fhir.Errorf(fhir.CodeInvalid, "%s must be an instant such as 2026-01-31T09:00:00Z", k).At(k).WithStatus(http.StatusBadRequest)
}
