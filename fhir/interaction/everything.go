package interaction

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Patient/[id]/$everything (R4 Patient-everything): the patient and every
// resource of its compartment (search.PatientCompartment) the server
// serves, as a searchset Bundle paged like a search (MultiSearch): the
// Patient first, then type by type in alphabetical order.
//
// Parameters (query, or a Parameters body with POST): _since (an instant:
// only resources last updated at or after it), _type (the types wanted,
// comma-separated or repeated; each must be a served type of the
// compartment), _count (page size). R4's start and end (care dates) are
// not served, nor is any other parameter. AuditEvent is not part of the
// answer: audit records say who looked at the record, and are searched
// by auditors (Patient/[id]/AuditEvent).

// Everything is what a $everything call asks.
type Everything struct {
	// Count is the page size; Since the _since instant ("" when none),
	// normalised to UTC.
	Count int
	Since string
	// Asked are the _type values, in the order given.
	Asked []string
}

// CheckEverythingParams refuses parameters $everything does not serve.
func CheckEverythingParams(values url.Values) error {
	for k := range values {
		switch k {
		case "_since", "_type", "_count", CursorParam, "_format", "_pretty":
		case "start", "end":
			return fhir.Errorf(fhir.CodeNotSupported, "$everything parameter %s (care dates) is not supported; use _since or a search of the compartment", k).At(k).Because(fhir.DetailUnsupportedParameter)
		default:
			return fhir.Errorf(fhir.CodeNotSupported, "$everything has no parameter %q (_since, _type, _count)", k).At(k).Because(fhir.DetailUnsupportedParameter)
		}
	}
	return nil
}

// ParseEverything reads $everything's parameters (checked by
// CheckEverythingParams); count is the page size when _count is absent,
// maxCount its bound.
func ParseEverything(values url.Values, count, maxCount int) (Everything, error) {
	e := Everything{Count: count, Asked: TypeList(values["_type"])}
	if v := values.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return e, fhir.Errorf(fhir.CodeInvalid, "_count must be a positive whole number, not %q", v).At("_count").Because(fhir.DetailMalformed)
		}
		e.Count = min(n, maxCount)
	}
	if v := values.Get("_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return e, fhir.Errorf(fhir.CodeInvalid, "_since must be an instant (e.g. 2026-01-31T09:00:00Z), not %q", v).At("_since").Because(fhir.DetailMalformed)
		}
		e.Since = t.UTC().Format(time.RFC3339Nano)
	}
	return e, nil
}

// EverythingTypes are the types a $everything call reads, in the served
// order (served: the searchable types of the compartment, Patient
// first): the asked ones, each of which must be served and readable
// (mayRead), or without _type every served type but AuditEvent that is
// readable; left are the types left out because they are not.
func EverythingTypes(e Everything, served []string, mayRead func(typ string) error) (types, left []string, err error) {
	// AuditEvents are records of who looked at the record, not part of
	// it: an auditor searches them (Patient/[id]/AuditEvent). Left in,
	// every page would add to what it pages through.
	served = slices.DeleteFunc(slices.Clone(served), func(t string) bool { return t == "AuditEvent" })
	if len(e.Asked) > 0 {
		for _, t := range e.Asked {
			if !slices.Contains(served, t) {
				return nil, nil, fhir.Errorf(fhir.CodeNotSupported, "_type %s is not a served type of the Patient compartment", t).At("_type").Because(fhir.DetailUnsupportedParameter)
			}
			if err := mayRead(t); err != nil {
				return nil, nil, err
			}
		}
		// The served order, Patient first.
		for _, t := range served {
			if slices.Contains(e.Asked, t) {
				types = append(types, t)
			}
		}
		return types, nil, nil
	}
	for _, t := range served {
		if mayRead(t) != nil {
			left = append(left, t)
			continue
		}
		types = append(types, t)
	}
	return types, left, nil
}

// LeftOutNote is the outcome issue naming the types left out.
func LeftOutNote(left []string) fhir.Issue {
	return fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational,
		Diagnostics: "left out because the token may not read them: " + strings.Join(left, ", ")}
}

// ParamValues are the parameters of p as strings (each must have a
// primitive value), as query parameters arrive.
func ParamValues(p *fhir.Parameters) (url.Values, error) {
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
			return nil, fhir.Errorf(fhir.CodeStructure, "parameter %s must have a primitive value", name).At("Parameters.parameter[" + strconv.Itoa(i) + "]").Because(fhir.DetailMalformed)
		}
		out.Add(name, val)
	}
	return out, nil
}

// System search with _type: GET [base]?_type=Patient,Observation&... is
// the search of each listed type with the same parameters, paged as one
// (MultiSearch), types in the order listed. Only parameters every listed
// type defines are accepted (the common ones: _id, _lastUpdated, _tag,
// _profile, _security, _source, or a code the types share); any other is
// refused naming the type that lacks it, whatever Prefer says, since
// leaving it out for one type would widen that type's answer. _sort,
// _include, _revinclude, _total and _summary=count are refused: there is
// no order or total across types. A system search without _type is not
// served.

// SystemSearchTypes reads a system search's _type: the listed types,
// each of which served must accept.
func SystemSearchTypes(values []string, served func(typ string) bool) ([]string, error) {
	types := TypeList(values)
	if len(types) == 0 {
		return nil, fhir.Errorf(fhir.CodeRequired, "a system search needs _type (the types to search, comma-separated)").At("_type").Because(fhir.DetailMalformed)
	}
	for _, t := range types {
		if !served(t) {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "_type %s is not a searchable type here", t).At("_type").Because(fhir.DetailUnsupportedSearch)
		}
	}
	return types, nil
}

// CheckSystemSearch refuses the parameters of values (without _type) a
// system search over types does not serve.
func CheckSystemSearch(types []string, values url.Values) error {
	for k, vs := range values {
		name, _, _ := strings.Cut(k, ":")
		switch name {
		case CursorParam, "_count", "_elements", "_format", "_pretty":
			continue
		case "_summary":
			if slices.Contains(vs, "count") {
				return fhir.Errorf(fhir.CodeNotSupported, "_summary=count is not served by a system search: there is no total across types").At(k).Because(fhir.DetailUnsupportedSearch)
			}
			continue
		case "_sort", "_include", "_revinclude", "_total":
			return fhir.Errorf(fhir.CodeNotSupported, "%s is not served by a system search: search each type for it", name).At(k).Because(fhir.DetailUnsupportedSearch)
		}
		if strings.Contains(name, ".") {
			return fhir.Errorf(fhir.CodeNotSupported, "chained parameter %s is not served by a system search", k).At(k).Because(fhir.DetailUnsupportedSearch)
		}
		for _, t := range types {
			if _, ok := search.Lookup(t, name); !ok && name != "_has" {
				return fhir.Errorf(fhir.CodeNotSupported, "search parameter %s is not common to the listed types: %s does not define it", name, t).At(k).Because(fhir.DetailUnsupportedSearch)
			}
		}
	}
	return nil
}

// EverythingSearch is the search of a $everything call on Patient/id
// (e, and the types it reads; typed when _type named them): each type
// searched within the patient's compartment, from e.Since on, paged
// together at e.Count, its links under base.
func EverythingSearch(base, id string, e Everything, types []string, typed bool) (*MultiSearch, error) {
	m := &MultiSearch{Types: types, Count: e.Count, Searches: map[string]TypeSearch{}}
	for _, t := range types {
		q := url.Values{}
		if e.Since != "" {
			q.Set("_lastUpdated", "ge"+e.Since)
		}
		sq, err := ParseSearch(t, q, true)
		if err != nil {
			return nil, err
		}
		sub, err := NewSubset(t, sq.Query.Summary, sq.Query.Elements)
		if err != nil {
			return nil, err
		}
		c, _ := search.PatientCompartmentOf(t, id)
		if err := search.LimitTo(sq.Query, t, c); err != nil {
			return nil, err
		}
		m.Searches[t] = TypeSearch{Query: sq.Query, Page: sq.Page, Subset: sub.Apply}
	}
	self := url.Values{}
	self.Set("_count", strconv.Itoa(m.Count))
	if e.Since != "" {
		self.Set("_since", e.Since)
	}
	if typed {
		self.Set("_type", strings.Join(types, ","))
	}
	m.Self = base + "/Patient/" + id + "/$everything?" + EncodeSorted(self)
	return m, nil
}
