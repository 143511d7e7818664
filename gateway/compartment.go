package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Patient compartment search: GET [base]/Patient/[id]/[type]?params (and
// POST .../[type]/_search), the resources of [type] in the patient's
// compartment (search.PatientCompartment: R4's, plus Task).
//
// It is the search on [type] with the compartment as one more condition,
// so tenancy, scopes and audit are exactly those of that search
// (GET [type]?subject=Patient/[id]): search on [type] is needed, the
// caller's practices bound the answer, and it is audited as a search of
// [type] whose parameters include the compartment's. As with that search,
// a patient of another practice (or none) is not looked up: the answer is
// an empty searchset.

// patientCompartment is search.PatientCompartment.
var patientCompartment = search.PatientCompartment

// patientCompartmentOf is search.PatientCompartmentOf.
var patientCompartmentOf = search.PatientCompartmentOf

// compartmentRoute routes Patient/[id]/[type] and Patient/[id]/[type]/_search;
// ok is false for any other path.
func (s *Server) compartmentRoute(req *request, segs []string) (h handlerFunc, ok bool, err error) {
	if segs[0] != "Patient" || segs[2] == "" || segs[2][0] == '$' || segs[2] == "_history" {
		return nil, false, nil
	}
	if len(segs) == 4 && segs[3] != "_search" {
		return nil, false, nil
	}
	if !fhir.ValidID(req.id) {
		return nil, true, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
	}
	typ := segs[2]
	if !s.registry.Serves(typ) {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "resource type %q is not served here", typ).WithStatus(http.StatusNotFound)
	}
	if _, in := patientCompartment[typ]; !in {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "%s is not in the Patient compartment", typ).WithStatus(http.StatusBadRequest)
	}
	if !s.registry.Supports(typ, SearchType) {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "search is not supported for %s", typ).WithStatus(http.StatusMethodNotAllowed)
	}
	path := "Patient/" + req.id + "/" + typ
	switch {
	case len(segs) == 3 && (req.method == http.MethodGet || req.method == http.MethodHead):
	case len(segs) == 4 && req.method == http.MethodPost:
		req.bodyKind = bodyForm
	default:
		return nil, true, methodNotAllowed(req.method, "Patient/[id]/"+typ)
	}
	c, _ := patientCompartmentOf(typ, req.id)
	req.compartment = &compartmentSearch{c: c, path: path}
	req.typ, req.id = typ, ""
	return s.search, true, nil
}

// compartmentSearch is the compartment a search is limited to, and the
// path its links use.
type compartmentSearch struct {
	c    *search.Compartment
	path string
}

// applyCompartment adds the compartment to a parsed search
// (search.LimitTo).
func applyCompartment(sr *searchRequest, cs *compartmentSearch) error {
	if sr.custom != nil {
		return fhir.Errorf(fhir.CodeNotSupported, "%s's custom search parameters cannot be used in a compartment search", sr.typ).WithStatus(http.StatusBadRequest)
	}
	sr.path = cs.path
	return search.LimitTo(sr.q, sr.typ, cs.c)
}

// compartmentAuditParams are the parameter names a compartment search is
// audited with besides those sent: the compartment's.
func compartmentAuditParams(cs *compartmentSearch) []string {
	if cs == nil {
		return nil
	}
	return cs.c.Params
}

// InPatientCompartment reports whether typ is in the Patient compartment
// as the gateway serves it (R4's, plus Task).
func InPatientCompartment(typ string) bool { return search.InPatientCompartment(typ) }
