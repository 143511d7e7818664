package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
)

// capabilityStatement is generated from the registry that routes requests,
// so it never claims an interaction the router refuses.
func (s *Server) capabilityStatement(base string) map[string]any {
	var resources []any
	for _, t := range s.registry.Types() {
		var inter []any
		for _, i := range s.registry.Interactions(t) {
			inter = append(inter, map[string]any{"code": string(i)})
		}
		updates := s.registry.Supports(t, Update)
		var ops []any
		for _, op := range s.operations() {
			if op.Type == t {
				ops = append(ops, map[string]any{"name": op.Name, "definition": op.Definition})
			}
		}
		resources = append(resources, map[string]any{
			"operation":         ops,
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      updates,
			"conditionalCreate": false,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": false,
			"conditionalDelete": "not-supported",
		})
	}
	var sysOps []any
	for _, op := range s.operations() {
		if op.Level == SystemLevel {
			sysOps = append(sysOps, map[string]any{"name": op.Name, "definition": op.Definition})
		}
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         s.started.UTC().Format(fhir.InstantFormat),
		"publisher":    "Signpost",
		"kind":         "instance",
		"software":     map[string]any{"name": "Signpost", "version": s.opts.Version},
		"implementation": map[string]any{
			"description": "Signpost care navigation gateway",
			"url":         base,
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"json", "application/fhir+json"},
		"rest": []any{map[string]any{
			"mode":        "server",
			"resource":    resources,
			"interaction": []any{map[string]any{"code": "history-system"}},
			"operation":   sysOps,
		}},
	}
}

func (s *Server) capabilities(req *request) (*response, error) {
	body, err := fhir.Generate(s.capabilityStatement(req.base))
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}
