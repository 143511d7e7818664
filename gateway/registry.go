package gateway

import (
	"sort"

	"github.com/signpost-fhir/signpost/fhir/search"
)

// Interaction is a FHIR RESTful interaction code as the CapabilityStatement
// names it.
type Interaction string

const (
	Read            Interaction = "read"
	VRead           Interaction = "vread"
	Update          Interaction = "update"
	Delete          Interaction = "delete"
	Create          Interaction = "create"
	HistoryInstance Interaction = "history-instance"
	HistoryType     Interaction = "history-type"
	Patch           Interaction = "patch"
	SearchType      Interaction = "search-type"
)

var allInteractions = []Interaction{Read, VRead, Update, Patch, Delete, Create, SearchType, HistoryInstance, HistoryType}

// appendOnly types are records of what happened: they can be created,
// read and searched, never changed or removed through the API.
var appendOnly = []Interaction{Read, VRead, Create, SearchType, HistoryInstance, HistoryType}

// Registry says which resource types the gateway serves and which
// interactions each supports. Routing and the CapabilityStatement both read
// it, so the CapabilityStatement never claims what is not served.
type Registry struct {
	types map[string]map[Interaction]bool
}

// DefaultRegistry is every resource type the care navigation process deals
// in (see ARCHITECTURE.md, "The process as FHIR").
func DefaultRegistry() *Registry {
	r := &Registry{types: map[string]map[Interaction]bool{}}
	for _, t := range []string{
		"Task", "ServiceRequest", "HealthcareService", "Patient", "RelatedPerson",
		"Practitioner", "PractitionerRole", "Organization", "Location", "Endpoint",
		"Observation", "Flag", "Provenance", "Subscription", "CodeSystem",
		"ValueSet", "ConceptMap", "Questionnaire", "QuestionnaireResponse",
		"Communication", "Measure", "MeasureReport", "Group", "Condition",
		"Consent", "StructureDefinition",
	} {
		r.Serve(t, allInteractions...)
	}
	// Audit records are evidence; nobody edits or removes them.
	r.Serve("AuditEvent", appendOnly...)
	return r
}

// Serve declares that typ supports the interactions. search-type is
// only recorded for types the search registry (fhir/search) holds
// parameters for: without them no search could be answered.
func (r *Registry) Serve(typ string, interactions ...Interaction) {
	m := r.types[typ]
	if m == nil {
		m = map[Interaction]bool{}
		r.types[typ] = m
	}
	for _, i := range interactions {
		if i == SearchType && search.Definitions(typ) == nil {
			continue
		}
		m[i] = true
	}
}

// Serves reports whether typ is served at all.
func (r *Registry) Serves(typ string) bool { return r.types[typ] != nil }

// Supports reports whether typ supports the interaction.
func (r *Registry) Supports(typ string, i Interaction) bool { return r.types[typ][i] }

// Types lists the served types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Interactions lists typ's interactions in a stable order.
func (r *Registry) Interactions(typ string) []Interaction {
	var out []Interaction
	for _, i := range allInteractions {
		if r.types[typ][i] {
			out = append(out, i)
		}
	}
	return out
}
