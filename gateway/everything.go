package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/audit"
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
	req.audit = audit.Operation("everything", "R", req.typ, req.id)
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
	req.audit.Params = audit.SearchParams(values)
	e, err := interaction.ParseEverything(values, defaultSearchCount, maxSearchCount)
	if err != nil {
		return nil, err
	}
	types, left, err := interaction.EverythingTypes(e, s.registry.PatientCompartmentTypes(), func(t string) error {
		return s.authorize(req.principal, t, auth.Read)
	})
	if err != nil {
		return nil, err
	}
	tx := s.tenancy.Wrap(req.principal, s.store)
	if _, err := tx.Read(req.ctx, "Patient", req.id); err != nil {
		return nil, err
	}
	m, err := interaction.EverythingSearch(req.base, req.id, e, types, len(values["_type"]) > 0)
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		m.Notes = append(m.Notes, interaction.LeftOutNote(left))
	}
	body, err := m.Page(req.ctx, tx, req.base, values.Get(cursorParam))
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}
