package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
)

// Patient/[id]/$everything (R4 Patient-everything): the patient and every
// resource of its compartment (compartment.go) Signpost serves, as a
// searchset Bundle paged like a search (multitype.go): the Patient
// first, then type by type in alphabetical order.
//
// Parameters (query, or a Parameters body with POST): _since (an instant:
// only resources last updated at or after it), _type (the types wanted,
// comma-separated or repeated; each must be a served type of the
// compartment), _count (page size, default 20, at most 1000). R4's start
// and end (care dates) are not served: a 400 says so, as does any other
// parameter. AuditEvent is not part of the answer: audit records say who
// looked at the record, and are searched by auditors
// (Patient/[id]/AuditEvent).
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
	values, err := everythingParams(req)
	if err != nil {
		return nil, err
	}
	for k := range values {
		switch k {
		case "_since", "_type", "_count", cursorParam, "_format", "_pretty":
		case "start", "end":
			return nil, fhir.Errorf(fhir.CodeNotSupported, "$everything parameter %s (care dates) is not supported; use _since or a search of the compartment", k).At(k).WithStatus(http.StatusBadRequest)
		default:
			return nil, fhir.Errorf(fhir.CodeNotSupported, "$everything has no parameter %q (_since, _type, _count)", k).At(k).WithStatus(http.StatusBadRequest)
		}
	}
	req.audit.params = paramNames(values)
	m := &multiSearch{count: defaultSearchCount}
	if v := values.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_count must be a positive whole number, not %q", v).At("_count").WithStatus(http.StatusBadRequest)
		}
		m.count = min(n, maxSearchCount)
	}
	var since string
	if v := values.Get("_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_since must be an instant (e.g. 2026-01-31T09:00:00Z), not %q", v).At("_since").WithStatus(http.StatusBadRequest)
		}
		since = t.UTC().Format(time.RFC3339Nano)
	}
	// AuditEvents are records of who looked at the record, not part of
	// it: an auditor searches them (Patient/[id]/AuditEvent). Left in,
	// every page would add to what it pages through.
	served := slices.DeleteFunc(s.patientCompartmentTypes(), func(t string) bool { return t == "AuditEvent" })
	var left []string
	if asked := typeList(values["_type"]); len(asked) > 0 {
		for _, t := range asked {
			if !slices.Contains(served, t) {
				return nil, fhir.Errorf(fhir.CodeNotSupported, "_type %s is not a served type of the Patient compartment", t).At("_type").WithStatus(http.StatusBadRequest)
			}
			if err := s.authorize(req.principal, t, auth.Read); err != nil {
				return nil, err
			}
		}
		// The served order, Patient first.
		for _, t := range served {
			if slices.Contains(asked, t) {
				m.types = append(m.types, t)
			}
		}
	} else {
		for _, t := range served {
			if s.authorize(req.principal, t, auth.Read) != nil {
				left = append(left, t)
				continue
			}
			m.types = append(m.types, t)
		}
	}
	if len(left) > 0 {
		m.notes = append(m.notes, fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational,
			Diagnostics: "left out because the token may not read them: " + strings.Join(left, ", ")})
	}
	tx := s.guard(req.principal, s.store)
	if _, err := tx.Read(req.ctx, "Patient", req.id); err != nil {
		return nil, err
	}
	m.srs = map[string]*searchRequest{}
	for _, t := range m.types {
		q := url.Values{}
		if since != "" {
			q.Set("_lastUpdated", "ge"+since)
		}
		sr, err := parseSearch(t, q, true)
		if err != nil {
			return nil, err
		}
		c, _ := patientCompartmentOf(t, req.id)
		if err := applyCompartment(sr, &compartmentSearch{c: c, path: "Patient/" + req.id + "/" + t}); err != nil {
			return nil, err
		}
		m.srs[t] = sr
	}
	self := url.Values{}
	self.Set("_count", strconv.Itoa(m.count))
	if since != "" {
		self.Set("_since", since)
	}
	if len(values["_type"]) > 0 {
		self.Set("_type", strings.Join(m.types, ","))
	}
	m.self = req.base + "/Patient/" + req.id + "/$everything?" + encodeSorted(self)
	body, err := m.page(req.ctx, tx, req.base, values.Get(cursorParam))
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// everythingParams are the query parameters plus those of a Parameters
// body, as strings.
func everythingParams(req *request) (url.Values, error) {
	p, err := operationParams(req)
	if err != nil {
		return nil, err
	}
	data, err := p.JSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Parameter []map[string]any `json:"parameter"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := url.Values{}
	for i, e := range doc.Parameter {
		name, _ := e["name"].(string)
		var val string
		found := false
		for k, v := range e {
			if !strings.HasPrefix(k, "value") {
				continue
			}
			switch x := v.(type) {
			case string:
				val, found = x, true
			case float64:
				val, found = strconv.FormatFloat(x, 'f', -1, 64), true
			case json.Number:
				val, found = x.String(), true
			}
		}
		if !found {
			return nil, fhir.Errorf(fhir.CodeStructure, "parameter %s must have a primitive value", name).At("Parameters.parameter[" + strconv.Itoa(i) + "]").WithStatus(http.StatusBadRequest)
		}
		out.Add(name, val)
	}
	return out, nil
}
