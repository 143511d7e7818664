package capability

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// JSONPatchType is the JSON Patch media type the statement lists beside
// FHIR JSON as a patch format.
const JSONPatchType = "application/json-patch+json"

// Served describes what a server serves, for Statement.
type Served struct {
	// Base is the FHIR base URL as the client sees it.
	Base string
	// Date is when the server started; Version its software version.
	Date    time.Time
	Version string
	// Resources are the served types, in the order to list them.
	Resources []Resource
	// SystemOperations are the operations invoked at [base]/$name.
	SystemOperations []Operation
	// Secured says requests need a bearer token (SMART on FHIR).
	Secured bool
}

// Resource is one served type.
type Resource struct {
	Type string
	// Interactions are the codes served, in the order to list them.
	Interactions []string
	// Searchable says search-type is served: the statement then lists
	// the type's search parameters, includes and revincludes.
	Searchable        bool
	UpdateCreate      bool
	ConditionalCreate bool
	ConditionalUpdate bool
	ConditionalDelete bool
	// Operations are the type's operations, each listed once.
	Operations []Operation
	// CustomParams are search parameters beyond R4's, served by code.
	CustomParams []Param
}

// Operation is a CapabilityStatement operation entry.
type Operation struct {
	Name, Definition string
}

// Param is a search parameter beyond R4's.
type Param struct {
	Name, Definition, Type, Documentation string
}

// Statement is the CapabilityStatement of what s describes, as a JSON
// tree for fhir.Generate.
func Statement(s Served) map[string]any {
	var resources []any
	for _, r := range s.Resources {
		var inter []any
		for _, i := range r.Interactions {
			inter = append(inter, map[string]any{"code": i})
		}
		conditionalDelete := "not-supported"
		if r.ConditionalDelete {
			conditionalDelete = "single"
		}
		var ops []any
		for _, op := range r.Operations {
			ops = append(ops, map[string]any{"name": op.Name, "definition": op.Definition})
		}
		res := map[string]any{
			"operation":         ops,
			"type":              r.Type,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + r.Type,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      r.UpdateCreate,
			"conditionalCreate": r.ConditionalCreate,
			"conditionalRead":   "full-support",
			"conditionalUpdate": r.ConditionalUpdate,
			"conditionalDelete": conditionalDelete,
		}
		if r.Searchable {
			params, includes, revIncludes := searchCapabilities(s.Resources, r)
			res["searchParam"] = params
			res["searchInclude"] = includes
			res["searchRevInclude"] = revIncludes
		}
		resources = append(resources, res)
	}
	var sysOps []any
	for _, op := range s.SystemOperations {
		sysOps = append(sysOps, map[string]any{"name": op.Name, "definition": op.Definition})
	}
	rest := map[string]any{
		"mode":     "server",
		"resource": resources,
		"interaction": []any{
			map[string]any{"code": "transaction"},
			map[string]any{"code": "batch"},
			map[string]any{"code": "history-system"},
			map[string]any{"code": "search-system", "documentation": "with _type only: " +
				"the listed types searched with the parameters they all define, paged as one"},
		},
		"operation":   sysOps,
		"compartment": []any{"http://hl7.org/fhir/CompartmentDefinition/patient"},
		"searchParam": systemSearchParams(),
	}
	if s.Secured {
		rest["security"] = map[string]any{
			"service": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
				"code":   "SMART-on-FHIR",
			}}}},
			"description": "OAuth 2.0 bearer tokens (SMART App Launch v1 and v2 scopes) from the issuers named in " +
				s.Base + "/.well-known/smart-configuration; patient data is visible only to the practices a token acts for. " +
				"Sending a BaRS referral to $process-message needs a system client token with the scope system/MessageHeader.c itself (a wildcard is not enough), acting for the sending organisation.",
		}
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         s.Date.UTC().Format(fhir.InstantFormat),
		"publisher":    "Signpost",
		"kind":         "instance",
		"software":     map[string]any{"name": "Signpost", "version": s.Version},
		"implementation": map[string]any{
			"description": "Signpost care navigation gateway",
			"url":         s.Base,
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"json", "application/fhir+json"},
		"patchFormat": []any{JSONPatchType, "application/fhir+json"},
		"rest":        []any{rest},
	}
}

// searchCapabilities lists r's served search parameters (fhir/search
// leaves special and phonetic ones, and composites with a component it
// cannot evaluate, unsupported; they are not listed), the _include values
// (each reference parameter of the type) and the _revinclude values (each
// reference parameter of a served, searchable type that may point at it).
func searchCapabilities(served []Resource, r Resource) (params, includes, revIncludes []any) {
	typ := r.Type
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
	for _, p := range r.CustomParams {
		params = append(params, map[string]any{"name": p.Name, "definition": p.Definition, "type": p.Type, "documentation": p.Documentation})
	}
	for _, src := range served {
		if !src.Searchable {
			continue
		}
		for _, d := range search.Definitions(src.Type) {
			if d.Supported && d.Type == search.TypeReference && !d.Canonical && (len(d.Targets) == 0 || slices.Contains(d.Targets, typ)) {
				revIncludes = append(revIncludes, src.Type+":"+d.Code)
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
