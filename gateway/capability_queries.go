package gateway

import (
	"github.com/signpost-fhir/signpost/fhir/search"
)

// What the CapabilityStatement says of the operations and searches the
// gateway serves itself: $validate on every type (validate_op.go),
// Patient/[id]/$everything (everything.go), the Patient compartment
// (compartment.go) and system search with _type (systemsearch.go).

// builtinTypeOperations are the operations served on every type, or on
// typ alone, as CapabilityStatement.rest.resource.operation entries.
func builtinTypeOperations(typ string) []any {
	ops := []any{map[string]any{"name": "validate", "definition": validateDefinition}}
	if typ == "Patient" {
		ops = append(ops, map[string]any{"name": "everything", "definition": everythingDefinition})
	}
	return ops
}

// systemSearchParams are the parameters a system search accepts with any
// _type: those of Resource every served type defines.
func systemSearchParams() []any {
	var out []any
	for _, code := range []string{"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} {
		d, ok := search.Lookup("Patient", code)
		if !ok || !d.Supported {
			continue
		}
		out = append(out, map[string]any{"name": code, "definition": d.URL, "type": string(d.Type)})
	}
	return out
}

// addServedQueries adds to rest the compartment, the system search and
// its parameters.
func (s *Server) addServedQueries(rest map[string]any) {
	rest["compartment"] = []any{"http://hl7.org/fhir/CompartmentDefinition/patient"}
	inter, _ := rest["interaction"].([]any)
	rest["interaction"] = append(inter, map[string]any{"code": "search-system", "documentation": "with _type only: " +
		"the listed types searched with the parameters they all define, paged as one"})
	rest["searchParam"] = systemSearchParams()
}
