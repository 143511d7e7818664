package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// Patient/[id]/$everything (R4 Patient-everything; interaction.Everything
// and interaction.MultiSearch): the patient and every resource of its
// compartment Signpost serves, as a searchset Bundle paged like a search.
// _count defaults to 20, at most 1000.
//
// Tenancy: the patient is read first, as a read: a patient of another
// practice answers the same 404 as one that never existed (410 when
// deleted). Every type is then searched with the caller's practices, as
// any search. Scopes: read on Patient is needed; the types named in
// _type each need read (403 otherwise); without _type the types the
// token may not read are left out, and an outcome entry on every page
// names them, so a thinner record never passes for a whole one. The call
// is audited once, as an operation reading the patient's data (action R).

const everythingDefinition = "http://hl7.org/fhir/OperationDefinition/Patient-everything"

func (s *Server) everythingRoute(req *request) (handlerFunc, error) {
	switch req.method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		return nil, methodNotAllowed(req.method, "$everything")
	}
	return s.everything, nil
}

func (s *Server) everything(req *request) (*response, error) {
	req.audit = auditFor("operation", "R", req)
	req.audit.operation = "everything"
	if err := s.authorize(req.principal, "Patient", auth.Read); err != nil {
		return nil, err
	}
	p, err := operationParams(req)
	if err != nil {
		return nil, err
	}
	values, err := interaction.ParamValues(p)
	if err != nil {
		return nil, err
	}
	if err := interaction.CheckEverythingParams(values); err != nil {
		return nil, err
	}
	req.audit.params = paramNames(values)
	e, err := interaction.ParseEverything(values, defaultSearchCount, maxSearchCount)
	if err != nil {
		return nil, err
	}
	m := &interaction.MultiSearch{Count: e.Count}
	var left []string
	m.Types, left, err = interaction.EverythingTypes(e, s.patientCompartmentTypes(), func(t string) error {
		return s.authorize(req.principal, t, auth.Read)
	})
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		m.Notes = append(m.Notes, interaction.LeftOutNote(left))
	}
	tx := s.tenancy.Wrap(req.principal, s.store)
	if _, err := tx.Read(req.ctx, "Patient", req.id); err != nil {
		return nil, err
	}
	m.Searches = map[string]interaction.TypeSearch{}
	for _, t := range m.Types {
		q := url.Values{}
		if e.Since != "" {
			q.Set("_lastUpdated", "ge"+e.Since)
		}
		sr, err := parseSearch(t, q, true)
		if err != nil {
			return nil, err
		}
		c, _ := patientCompartmentOf(t, req.id)
		if err := applyCompartment(sr, &compartmentSearch{c: c, path: "Patient/" + req.id + "/" + t}); err != nil {
			return nil, err
		}
		m.Searches[t] = typeSearch(sr)
	}
	self := url.Values{}
	self.Set("_count", strconv.Itoa(m.Count))
	if e.Since != "" {
		self.Set("_since", e.Since)
	}
	if len(values["_type"]) > 0 {
		self.Set("_type", strings.Join(m.Types, ","))
	}
	m.Self = req.base + "/Patient/" + req.id + "/$everything?" + interaction.EncodeSorted(self)
	body, err := m.Page(req.ctx, tx, req.base, values.Get(cursorParam))
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// typeSearch is a parsed search as one type of a multi-type search.
func typeSearch(sr *searchRequest) interaction.TypeSearch {
	return interaction.TypeSearch{Query: sr.q, Page: sr.page, Subset: sr.subset.apply}
}
