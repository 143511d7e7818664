package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/capability"
	"github.com/signpost-fhir/signpost/tenancy"
)

// capabilityStatement is generated (fhir/capability) from what routes
// requests: the registry (types and interactions), the registered
// operations and custom searches, so it never claims an interaction,
// operation or parameter the server refuses.
func (s *Server) capabilityStatement(base string) map[string]any {
	served := capability.Served{Base: base, Date: s.started, Version: s.opts.Version, Secured: s.verifier != nil}
	for _, t := range s.registry.Types() {
		r := s.registry.Resource(t)
		r.UpdateCreate = s.registry.Supports(t, Update) && (s.verifier == nil || !tenancy.Owned(t))
		// $validate on every type (validate_op.go), $everything on
		// Patient (everything.go); an operation served at type and
		// instance level is listed once.
		r.Operations = []capability.Operation{{Name: "validate", Definition: validateDefinition}}
		listed := map[string]bool{"validate": true, "everything": t == "Patient"}
		if t == "Patient" {
			r.Operations = append(r.Operations, capability.Operation{Name: "everything", Definition: everythingDefinition})
		}
		for _, op := range s.operations() {
			if op.Type == t && !listed[op.Name] {
				listed[op.Name] = true
				r.Operations = append(r.Operations, capability.Operation{Name: op.Name, Definition: op.Definition})
			}
		}
		if cs := s.customSearches[t]; cs != nil {
			for _, p := range cs.params {
				r.CustomParams = append(r.CustomParams, capability.Param{Name: p.code, Definition: p.definition, Type: string(p.typ), Documentation: p.documentation})
			}
		}
		served.Resources = append(served.Resources, r)
	}
	for _, op := range s.operations() {
		if op.Level == SystemLevel {
			served.SystemOperations = append(served.SystemOperations, capability.Operation{Name: op.Name, Definition: op.Definition})
		}
	}
	return capability.Statement(served)
}

func (s *Server) capabilities(req *request) (*response, error) {
	if c := s.capabilityCache.Load(); c != nil && c.base == req.base {
		return &response{status: http.StatusOK, body: c.body}, nil
	}
	body, err := fhir.Generate(s.capabilityStatement(req.base))
	if err != nil {
		return nil, err
	}
	s.capabilityCache.Store(&cachedCapability{base: req.base, body: body})
	return &response{status: http.StatusOK, body: body}, nil
}

// cachedCapability is a generated CapabilityStatement and the base it
// names.
type cachedCapability struct {
	base string
	body []byte
}
