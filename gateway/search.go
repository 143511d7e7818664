package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Search paging (interaction.DefaultSearchCount, MaxSearchCount).
const (
	defaultSearchCount = interaction.DefaultSearchCount
	maxSearchCount     = interaction.MaxSearchCount
)

// cursorParam carries the store's page cursor in links
// (interaction.CursorParam).
const cursorParam = interaction.CursorParam

// searchRequest is a parsed search: the query, the page asked for, and
// the parameters as understood, which the Bundle's links carry.
type searchRequest struct {
	typ        string
	q          *search.Query
	page       store.PageRequest
	understood url.Values
	subset     *subsetter
	// custom is the custom search that answers this request, when it
	// names one of its parameters; q then holds the ordinary part, and
	// own the custom parameters and controls as sent.
	custom *customSearch
	own    url.Values
	// path is where the links point, relative to the base: the type, or
	// a compartment search's Patient/[id]/[type].
	path string
}

// customSearch serves search parameters the R4 registry (fhir/search)
// does not hold and the store does not index: parameters evaluated by
// code over a type's resources, such as the directory's matching search
// (HealthcareService?eligible-age=...). A search naming any of params
// is handed to run, with the ordinary parameters parsed as usual (and
// strictly: one ignored would widen the answer) in sr.q. The
// CapabilityStatement lists params beside the R4 ones, each with the
// canonical URL of its SearchParameter.
type customSearch struct {
	typ    string
	params []customSearchParam
	// controls are result parameters of its own (_explain), taken only
	// together with one of params.
	controls []string
	run      func(ctx context.Context, tx store.Tx, base string, sr *searchRequest) ([]byte, error)
}

// customSearchParam is one parameter of a customSearch.
type customSearchParam struct {
	code, definition, documentation string
	typ                             search.ParamType
}

// registerCustomSearch adds cs; call before Handler. Its parameter codes
// must not be R4 codes of the type.
func (s *Server) registerCustomSearch(cs *customSearch) error {
	for _, p := range cs.params {
		if _, ok := search.Lookup(cs.typ, p.code); ok {
			return fmt.Errorf("custom search parameter %s of %s is an R4 parameter", p.code, cs.typ)
		}
	}
	if s.customSearches == nil {
		s.customSearches = map[string]*customSearch{}
	}
	s.customSearches[cs.typ] = cs
	return nil
}

// owns tells whether the parameter name (without modifier) is one of cs's
// parameters; control also counts its controls.
func (cs *customSearch) owns(name string, control bool) bool {
	for _, p := range cs.params {
		if p.code == name {
			return true
		}
	}
	return control && slices.Contains(cs.controls, name)
}

// searchRequestFor parses a search on typ: a custom search when values
// name one of typ's custom parameters, else an ordinary one
// (parseSearch).
func (s *Server) searchRequestFor(typ string, values url.Values, strict bool) (*searchRequest, error) {
	cs := s.customSearches[typ]
	if cs == nil {
		return parseSearch(typ, values, strict)
	}
	ordinary, own, asked := interaction.SplitCustom(values, cs.owns)
	if !asked {
		return parseSearch(typ, values, strict)
	}
	sr, err := parseSearch(typ, ordinary, true)
	if err != nil {
		return nil, err
	}
	if err := interaction.CheckCustom(typ, sr.q); err != nil {
		return nil, err
	}
	sr.custom, sr.own = cs, own
	for k, vs := range own {
		sr.understood[k] = vs
	}
	return sr, nil
}

// parseSearch parses the parameters of a search on typ
// (interaction.ParseSearch) and the subset of each entry it asks for.
func parseSearch(typ string, values url.Values, strict bool) (*searchRequest, error) {
	sq, err := interaction.ParseSearch(typ, values, strict)
	if err != nil {
		return nil, err
	}
	sr := &searchRequest{typ: typ, q: sq.Query, page: sq.Page, understood: sq.Understood}
	if sr.subset, err = newSubsetter(typ, sq.Query.Summary, sq.Query.Elements); err != nil {
		return nil, err
	}
	return sr, nil
}

// search is GET [type]?... and POST [type]/_search.
func (s *Server) search(req *request) (*response, error) {
	req.audit = audit.For("search-type", "E", req.typ, req.id)
	if err := s.authorize(req.principal, req.typ, auth.Search); err != nil {
		return nil, err
	}
	values, err := searchValues(req)
	if err != nil {
		return nil, err
	}
	sr, err := s.searchRequestFor(req.typ, values, strictHandling(req.header))
	if err != nil {
		return nil, err
	}
	if req.compartment != nil {
		if err := applyCompartment(sr, req.compartment); err != nil {
			return nil, err
		}
	}
	perms := searchPermissions(sr.q)
	if req.audit == nil && touchesPatientData(perms) {
		req.audit = audit.Of("search-type", "E", req.typ, req.id)
	}
	if req.audit != nil {
		req.audit.Params = append(audit.SearchParams(values), compartmentAuditParams(req.compartment)...)
	}
	if err := s.authorizeAll(req.principal, perms); err != nil {
		return nil, err
	}
	body, err := searchIn(req.ctx, s.tenancy.Wrap(req.principal, s.store), req.base, sr)
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// searchValues are the query string's parameters plus, for POST
// _search, those of the form body: the same search either way.
func searchValues(req *request) (url.Values, error) {
	values := url.Values{}
	for k, vs := range req.query {
		values[k] = slices.Clone(vs)
	}
	if req.body == nil {
		return values, nil
	}
	data, err := io.ReadAll(req.body)
	if err != nil {
		return nil, err // MaxBytesError becomes 413 in writeError
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "the _search body is not application/x-www-form-urlencoded: %v", err).WithStatus(http.StatusBadRequest)
	}
	for k, vs := range form {
		values[k] = append(values[k], vs...)
	}
	return values, nil
}

// searchIn runs a parsed search on tx and renders the searchset Bundle.
func searchIn(ctx context.Context, tx store.Tx, base string, sr *searchRequest) ([]byte, error) {
	if sr.custom != nil {
		return sr.custom.run(ctx, tx, base, sr)
	}
	page, err := tx.Search(ctx, sr.q, sr.page)
	if err != nil {
		return nil, err
	}
	return searchsetBundle(base, sr, page)
}

// searchsetBundle renders a page of a search (interaction.SearchsetBundle).
// Entries hold the stored bytes as they are unless _summary or _elements
// asks for a subset.
func searchsetBundle(base string, sr *searchRequest, page store.SearchPage) ([]byte, error) {
	path := sr.typ
	if sr.path != "" {
		path = sr.path
	}
	return interaction.SearchsetBundle(interaction.Searchset{Base: base, Path: path, Understood: sr.understood,
		Cursor: sr.page.Cursor, Query: sr.q, Subset: sr.subset.apply}, page)
}
