package capability

import (
	"sort"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/spec"
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

// AllInteractions are the interactions a type may be served with, in
// the order the CapabilityStatement lists them.
var AllInteractions = []Interaction{Read, VRead, Update, Patch, Delete, Create, SearchType, HistoryInstance, HistoryType}

// AppendOnly are the interactions of types that are records of what
// happened: they can be created, read and searched, never changed or
// removed through the API.
var AppendOnly = []Interaction{Read, VRead, Create, SearchType, HistoryInstance, HistoryType}

// Registry says which resource types a server serves and which
// interactions each supports. Routing and the CapabilityStatement both read
// it, so the CapabilityStatement never claims what is not served.
type Registry struct {
	types map[string]map[Interaction]bool
}

// DefaultRegistry serves every concrete resource type of FHIR R4 (the
// types of the hl7.fhir.r4.core package, spec.ResourceTypes) with every
// interaction, validation and search generated from the package, except:
//
//   - AuditEvent and Bundle are append-only (AppendOnly). Audit records
//     are evidence. Stored Bundles are documents, messages and
//     collections as exchanged (received BaRS messages among them) and
//     are kept as they were; HAPI lets them be updated, Signpost does not.
//     Transactions and batches are posted to the base, not stored
//     (interaction.CheckStoredBundle, a write check).
//   - Parameters is the input and output of operations, never stored.
//   - OperationDefinition, SearchParameter and PlanDefinition are served
//     by the parts of the gateway that give them meaning: the
//     OperationDefinitions the CapabilityStatement names and the
//     SearchParameters of the directory are read-only, and PlanDefinitions
//     are navigation protocols.
//
// The rules of who may read and write them are the gateway's.
func DefaultRegistry() *Registry {
	r := &Registry{types: map[string]map[Interaction]bool{}}
	for _, t := range spec.ResourceTypes() {
		if notServedByDefault[t] {
			continue
		}
		r.Serve(t, AllInteractions...)
	}
	r.Serve("AuditEvent", AppendOnly...)
	r.Serve("Bundle", AppendOnly...)
	return r
}

// notServedByDefault are the concrete R4 types DefaultRegistry leaves out
// of its loop (see DefaultRegistry).
var notServedByDefault = map[string]bool{
	"AuditEvent": true, "Bundle": true, "Parameters": true,
	"OperationDefinition": true, "SearchParameter": true, "PlanDefinition": true,
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
	for _, i := range AllInteractions {
		if r.types[typ][i] {
			out = append(out, i)
		}
	}
	return out
}

// Resource is typ as the Registry serves it, for Served: its
// interactions, whether it is searched, and its conditional create,
// update and delete (each needs search on the type as well). What the
// registry does not know (update as create, operations, custom search
// parameters) is the caller's to add.
func (r *Registry) Resource(typ string) Resource {
	searches := r.Supports(typ, SearchType)
	out := Resource{Type: typ, Searchable: searches,
		ConditionalCreate: searches && r.Supports(typ, Create),
		ConditionalUpdate: searches && r.Supports(typ, Update),
		ConditionalDelete: searches && r.Supports(typ, Delete)}
	for _, i := range r.Interactions(typ) {
		out.Interactions = append(out.Interactions, string(i))
	}
	return out
}

// PatientCompartmentTypes lists the served types of the Patient
// compartment (search.PatientCompartment) that can be searched, sorted,
// Patient first.
func (r *Registry) PatientCompartmentTypes() []string {
	var out []string
	for t := range search.PatientCompartment {
		if t != "Patient" && r.Supports(t, SearchType) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	if r.Supports("Patient", SearchType) {
		out = append([]string{"Patient"}, out...)
	}
	return out
}
