package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// System search with _type: GET [base]?_type=Patient,Observation&... is
// the search of each listed type with the same parameters, paged as one
// (interaction.CheckSystemSearch says what it serves,
// interaction.MultiSearch pages it).
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
	types, err := interaction.SystemSearchTypes(req.query["_type"], func(t string) bool {
		return s.registry.Serves(t) && s.registry.Supports(t, SearchType)
	})
	if err != nil {
		return nil, err
	}
	req.audit = audit.SystemSearch(types, req.query)
	values := url.Values{}
	for k, vs := range req.query {
		if k != "_type" {
			values[k] = slices.Clone(vs)
		}
	}
	for _, t := range types {
		if err := s.authorize(req.principal, t, auth.Search); err != nil {
			return nil, err
		}
	}
	if err := interaction.CheckSystemSearch(types, values); err != nil {
		return nil, err
	}
	m := &interaction.MultiSearch{Types: types, Searches: map[string]interaction.TypeSearch{}}
	var understood url.Values
	for _, t := range types {
		sr, err := parseSearch(t, values, true)
		if err != nil {
			return nil, err
		}
		if len(sr.q.Ignored) > 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "search parameters %s have no value", strings.Join(sr.q.Ignored, ", ")).Because(fhir.DetailMalformed)
		}
		if err := s.authorizeAll(req.principal, searchPermissions(sr.q)); err != nil {
			return nil, err
		}
		m.Searches[t] = typeSearch(sr)
		m.Count = sr.page.Count
		understood = sr.understood
	}
	self := url.Values{}
	for k, vs := range understood {
		self[k] = vs
	}
	self.Set("_type", strings.Join(types, ","))
	m.Self = req.base + "?" + interaction.EncodeSorted(self)
	if m.Count == 0 {
		m.Count = defaultSearchCount
	}
	body, err := m.Page(req.ctx, s.tenancy.Wrap(req.principal, s.store), req.base, url.Values(req.query).Get(cursorParam))
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// typeSearch is a parsed search as one type of a multi-type search.
func typeSearch(sr *searchRequest) interaction.TypeSearch {
	return interaction.TypeSearch{Query: sr.q, Page: sr.page, Subset: sr.subset.apply}
}
