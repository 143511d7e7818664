package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// System search with _type: GET [base]?_type=Patient,Observation&... is
// the search of each listed type with the same parameters, paged as one
// (multitype.go), types in the order listed. Only parameters every listed
// type defines are accepted (the common ones: _id, _lastUpdated, _tag,
// _profile, _security, _source, or a code the types share); any other is
// a 400 naming the type that lacks it, whatever Prefer says, since
// leaving it out for one type would widen that type's answer. _sort,
// _include, _revinclude, _total and _summary=count are refused (400):
// there is no order or total across types. A system search without
// _type is not served (400).
//
// Each type is searched as its own search would be: search on every
// listed type is needed (403 naming the first refused), the caller's
// practices bound each patient-linked type, and the call is audited once
// (search-system) when any listed type is patient data.
//
// POST [base]/_search (R4 3.1.0.8) is the same search, its parameters in
// a form body, as POST [type]/_search is for a type.
func (s *Server) systemSearch(req *request) (*response, error) {
	if req.body != nil {
		// POST [base]/_search: the form body's parameters join the
		// query string's, as on POST [type]/_search.
		values, err := searchValues(req)
		if err != nil {
			return nil, err
		}
		if err := checkQueryText(values); err != nil {
			return nil, err
		}
		req.query, req.body = values, nil
	}
	types := typeList(req.query["_type"])
	if len(types) == 0 {
		return nil, fhir.Errorf(fhir.CodeRequired, "a system search needs _type (the types to search, comma-separated)").At("_type").WithStatus(http.StatusBadRequest)
	}
	for _, t := range types {
		if !s.registry.Serves(t) || !s.registry.Supports(t, SearchType) {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "_type %s is not a searchable type here", t).At("_type").WithStatus(http.StatusBadRequest)
		}
		if auth.IsPatientLinked(t) && req.audit == nil {
			req.audit = auditFor("search-system", "E", req)
		}
	}
	values := url.Values{}
	for k, vs := range req.query {
		if k != "_type" {
			values[k] = slices.Clone(vs)
		}
	}
	if req.audit != nil {
		req.audit.params = paramNames(req.query)
		req.audit.types = types
	}
	for _, t := range types {
		if err := s.authorize(req.principal, t, auth.Search); err != nil {
			return nil, err
		}
	}
	for k, vs := range values {
		name, _, _ := strings.Cut(k, ":")
		switch name {
		case cursorParam, "_count", "_elements", "_format", "_pretty":
			continue
		case "_summary":
			if slices.Contains(vs, "count") {
				return nil, fhir.Errorf(fhir.CodeNotSupported, "_summary=count is not served by a system search: there is no total across types").At(k).WithStatus(http.StatusBadRequest)
			}
			continue
		case "_sort", "_include", "_revinclude", "_total":
			return nil, fhir.Errorf(fhir.CodeNotSupported, "%s is not served by a system search: search each type for it", name).At(k).WithStatus(http.StatusBadRequest)
		}
		if strings.Contains(name, ".") {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "chained parameter %s is not served by a system search", k).At(k).WithStatus(http.StatusBadRequest)
		}
		for _, t := range types {
			if _, ok := search.Lookup(t, name); !ok && name != "_has" {
				return nil, fhir.Errorf(fhir.CodeNotSupported, "search parameter %s is not common to the listed types: %s does not define it", name, t).At(k).WithStatus(http.StatusBadRequest)
			}
		}
	}
	m := &multiSearch{types: types, srs: map[string]*searchRequest{}}
	var understood url.Values
	for _, t := range types {
		sr, err := parseSearch(t, values, true)
		if err != nil {
			return nil, err
		}
		if len(sr.q.Ignored) > 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "search parameters %s have no value", strings.Join(sr.q.Ignored, ", ")).WithStatus(http.StatusBadRequest)
		}
		if err := s.authorizeAll(req.principal, searchPermissions(sr.q)); err != nil {
			return nil, err
		}
		m.srs[t] = sr
		m.count = sr.page.Count
		understood = sr.understood
	}
	self := url.Values{}
	for k, vs := range understood {
		self[k] = vs
	}
	self.Set("_type", strings.Join(types, ","))
	m.self = req.base + "?" + encodeSorted(self)
	if m.count == 0 {
		m.count = defaultSearchCount
	}
	body, err := m.page(req.ctx, s.guard(req.principal, s.store), req.base, url.Values(req.query).Get(cursorParam))
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}
