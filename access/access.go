package access

import (
	"slices"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Permission is one type-level permission: an action on a resource type.
type Permission struct {
	Type   string
	Action auth.Action
}

// Search lists what a search needs (see the table in the package doc).
func Search(q *search.Query) []Permission {
	perms := []Permission{{q.Type, auth.Search}}
	add := func(typ string, a auth.Action) {
		n := Permission{typ, a}
		if typ != "" && !slices.Contains(perms, n) {
			perms = append(perms, n)
		}
	}
	for i := range q.Params {
		q.Params[i].Reached(func(t string) { add(t, auth.Search) })
	}
	for _, inc := range q.Include {
		for _, t := range IncludeTargets(inc) {
			add(t, auth.Read)
		}
	}
	for _, inc := range q.RevInclude {
		add(inc.Source, auth.Read)
	}
	return perms
}

// IncludeTargets are the types an _include can bring in: its target type,
// else the declared targets of its parameter (of every reference
// parameter of the source for "*"). A parameter that may point at any
// type gives none here; what it brings in is filtered instead.
func IncludeTargets(inc search.Include) []string {
	if inc.Target != "" {
		return []string{inc.Target}
	}
	if inc.Def != nil {
		return inc.Def.Targets
	}
	var out []string
	for _, d := range search.Definitions(inc.Source) {
		if d.Supported && d.Type == search.TypeReference && !d.Canonical {
			for _, t := range d.Targets {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// ConditionalReferenceTypes lists the types of the conditional references
// (Patient?identifier=...) in a resource, appended to out: resolving one
// is a search.
func ConditionalReferenceTypes(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				if typ, _, ok := interaction.ConditionalReference(s); ok && !slices.Contains(out, typ) {
					out = append(out, typ)
				}
				continue
			}
			out = ConditionalReferenceTypes(c, out)
		}
	case []any:
		for _, c := range x {
			out = ConditionalReferenceTypes(c, out)
		}
	}
	return out
}

// Entry lists what one Bundle entry needs; q is the query of a search
// entry (GET or HEAD [type]?...), nil for any other.
func Entry(e *interaction.Entry, q *search.Query) []Permission {
	var perms []Permission
	switch e.Method {
	case "GET", "HEAD":
		if q != nil {
			return Search(q)
		}
		return []Permission{{e.Type, auth.Read}}
	case "DELETE":
		perms = append(perms, Permission{e.Type, auth.Delete})
	case "POST":
		perms = append(perms, Permission{e.Type, auth.Create})
		if e.IfNoneExist != nil {
			perms = append(perms, Permission{e.Type, auth.Search})
		}
	case "PUT", "PATCH":
		perms = append(perms, Permission{e.Type, auth.Update})
	}
	if e.Crit != nil {
		perms = append(perms, Permission{e.Type, auth.Search})
	}
	if e.Resource != nil {
		for _, t := range ConditionalReferenceTypes(e.Resource.Object(), nil) {
			perms = append(perms, Permission{t, auth.Search})
		}
	}
	return perms
}

// Validate lists what $validate on typ needs in mode, any one of which
// suffices: mode create, update or delete needs that permission, mode
// profile needs read, and no mode any of read, create or update.
func Validate(typ, mode string) []Permission {
	switch mode {
	case "create":
		return []Permission{{typ, auth.Create}}
	case "update":
		return []Permission{{typ, auth.Update}}
	case "delete":
		return []Permission{{typ, auth.Delete}}
	case "profile":
		return []Permission{{typ, auth.Read}}
	}
	return []Permission{{typ, auth.Read}, {typ, auth.Create}, {typ, auth.Update}}
}
