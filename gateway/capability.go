package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// capabilityStatement is generated from what routes requests: the
// registry (types and interactions) and fhir/search (parameters), so it
// never claims an interaction or parameter the server refuses.
func (s *Server) capabilityStatement(base string) map[string]any {
	var resources []any
	for _, t := range s.registry.Types() {
		var inter []any
		for _, i := range s.registry.Interactions(t) {
			inter = append(inter, map[string]any{"code": string(i)})
		}
		searches := s.registry.Supports(t, SearchType)
		conditional := func(i Interaction) bool { return searches && s.registry.Supports(t, i) }
		conditionalDelete := "not-supported"
		if conditional(Delete) {
			conditionalDelete = "single"
		}
		ops := builtinTypeOperations(t)
		listed := map[string]bool{"validate": true, "everything": t == "Patient"}
		for _, op := range s.operations() {
			// An operation served at type and instance level is listed once.
			if op.Type == t && !listed[op.Name] {
				listed[op.Name] = true
				ops = append(ops, map[string]any{"name": op.Name, "definition": op.Definition})
			}
		}
		res := map[string]any{
			"operation":         ops,
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      s.registry.Supports(t, Update) && (s.verifier == nil || !slices.Contains(practiceOwnedTypes(), t)),
			"conditionalCreate": conditional(Create),
			"conditionalRead":   "full-support",
			"conditionalUpdate": conditional(Update),
			"conditionalDelete": conditionalDelete,
		}
		if searches {
			params, includes, revIncludes := s.searchCapabilities(t)
			res["searchParam"] = params
			res["searchInclude"] = includes
			res["searchRevInclude"] = revIncludes
		}
		resources = append(resources, res)
	}
	var sysOps []any
	for _, op := range s.operations() {
		if op.Level == SystemLevel {
			sysOps = append(sysOps, map[string]any{"name": op.Name, "definition": op.Definition})
		}
	}
	rest := map[string]any{
		"mode":     "server",
		"resource": resources,
		"interaction": []any{
			map[string]any{"code": "transaction"},
			map[string]any{"code": "batch"},
			map[string]any{"code": "history-system"},
		},
		"operation": sysOps,
	}
	s.addServedQueries(rest)
	if s.verifier != nil {
		rest["security"] = map[string]any{
			"service": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
				"code":   "SMART-on-FHIR",
			}}}},
			"description": "OAuth 2.0 bearer tokens (SMART App Launch v1 and v2 scopes) from the issuers named in " +
				base + "/.well-known/smart-configuration; patient data is visible only to the practices a token acts for. " +
				"Sending a BaRS referral to $process-message needs a system client token with the scope system/MessageHeader.c itself (a wildcard is not enough), acting for the sending organisation.",
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
		"patchFormat": []any{interaction.JSONPatchType, "application/fhir+json"},
		"rest":        []any{rest},
	}
}

// searchCapabilities lists typ's served search parameters (fhir/search
// leaves special and phonetic ones, and composites with a component it
// cannot evaluate, unsupported; they are not listed), the _include values (each reference parameter of typ) and the
// _revinclude values (each reference parameter of a served, searchable
// type that may point at typ).
func (s *Server) searchCapabilities(typ string) (params, includes, revIncludes []any) {
	for _, d := range search.Definitions(typ) {
		if !d.Supported {
			continue
		}
		sp := map[string]any{"name": d.Code, "definition": d.URL, "type": string(d.Type)}
		if doc := searchParamDoc(d); doc != "" {
			sp["documentation"] = doc
		}
		params = append(params, sp)
		if d.Type == search.TypeReference && !d.Canonical {
			includes = append(includes, typ+":"+d.Code)
		}
	}
	if cs := s.customSearches[typ]; cs != nil {
		for _, p := range cs.params {
			params = append(params, map[string]any{"name": p.code, "definition": p.definition, "type": string(p.typ), "documentation": p.documentation})
		}
	}
	for _, src := range s.registry.Types() {
		if !s.registry.Supports(src, SearchType) {
			continue
		}
		for _, d := range search.Definitions(src) {
			if d.Supported && d.Type == search.TypeReference && !d.Canonical && (len(d.Targets) == 0 || slices.Contains(d.Targets, typ)) {
				revIncludes = append(revIncludes, src+":"+d.Code)
			}
		}
	}
	return params, includes, revIncludes
}

// searchParamDoc says what a served parameter accepts beyond plain
// values: its modifiers, and for a composite its components.
func searchParamDoc(d *search.Definition) string {
	var b strings.Builder
	if d.Type == search.TypeComposite {
		b.WriteString("Components: ")
		for i, c := range d.Components {
			if i > 0 {
				b.WriteString(" $ ")
			}
			fmt.Fprintf(&b, "%s (%s)", c.Def.Code, c.Def.Type)
		}
		fmt.Fprintf(&b, ", all matched within one value of %s. ", d.Expression)
	}
	if len(d.Modifiers) > 0 {
		b.WriteString("Modifiers: :" + strings.Join(d.Modifiers, ", :"))
		if d.Type == search.TypeReference && !d.Canonical {
			b.WriteString(", and a target type")
		}
		b.WriteString(".")
	}
	if d.Type == search.TypeReference && !d.Canonical {
		fmt.Fprintf(&b, " Chains and _has: up to %d links in all.", search.MaxLinks)
	}
	return strings.TrimSpace(b.String())
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
