package gateway

import (
	"net/http"
	"slices"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Scopes, per interaction. Every interaction names the type-level
// permissions it needs and asks auth.Principal.Authorize for each before
// touching the store; a refusal is a 403 OperationOutcome (code
// forbidden). The table:
//
//	read, vread, history of a type or instance   read on the type
//	history of the system                        only the types the caller may read
//	search                                       search on the type; search on each
//	                                             type a chained parameter or _has
//	                                             tests; read on each type an _include
//	                                             or _revinclude can bring in
//	create / update / patch / delete             create / update / update / delete
//	conditional create, update, patch, delete    the same plus search on the type
//	conditional reference (Patient?identifier=)  search on the referenced type
//	operation                                    what Operation.Permissions declares
//	batch / transaction                          each entry as above; a transaction
//	                                             fails as a whole (403 naming the
//	                                             entry), a batch entry alone
//
// _include and _revinclude: R4 leaves a server free to drop included
// resources the caller may not see or to refuse. Signpost refuses (403)
// when the caller lacks read on a type the include names, because a
// silently thinner Bundle looks like missing data to a clinician. Where a
// reference parameter may point at any type (Task:focus), the types the
// caller may not read are left out, and so are resources of other
// practices (tenancy is never a 403: see tenancy.go).
//
// On top of the scopes, reading AuditEvents (read, search, history,
// includes) needs the auditor role: audit records say who looked at which
// patient's data, which is itself sensitive. And moving a navigation or
// clinician-review Task's status (PUT, PATCH, Bundle entries, $navigate)
// needs the Task role the move is for — requester, owner (a navigator of
// the owning practice) or clinician — checked per resource by the Task
// write check (package navigation; the table is in docs/navigation.md): a 403
// at Task.status otherwise.

// Permission is one type-level permission: an action on a resource type.
type Permission struct {
	Type   string
	Action auth.Action
}

// authorize is Principal.Authorize plus the gateway's own type rules.
func (s *Server) authorize(p *auth.Principal, typ string, a auth.Action) error {
	if err := p.Authorize(typ, a); err != nil {
		return err
	}
	if typ == "AuditEvent" && a&(auth.Read|auth.Search) != 0 && !p.Dev && !p.HasRole(auth.RoleAuditor) {
		return fhir.Errorf(fhir.CodeForbidden, "reading AuditEvents needs the auditor role")
	}
	return nil
}

// authorizeAll checks every permission, answering with the first refusal.
func (s *Server) authorizeAll(p *auth.Principal, perms []Permission) error {
	for _, n := range perms {
		if err := s.authorize(p, n.Type, n.Action); err != nil {
			return err
		}
	}
	return nil
}

// searchPermissions lists what a search needs (see the table above).
func searchPermissions(q *search.Query) []Permission {
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
		for _, t := range includeTargets(inc) {
			add(t, auth.Read)
		}
	}
	for _, inc := range q.RevInclude {
		add(inc.Source, auth.Read)
	}
	return perms
}

// includeTargets are the types an _include can bring in: its target type,
// else the declared targets of its parameter (of every reference
// parameter of the source for "*"). A parameter that may point at any
// type gives none here; what it brings in is filtered instead.
func includeTargets(inc search.Include) []string {
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

// touchesPatientData reports whether any permission is on a
// patient-linked type: such an interaction is audited.
func touchesPatientData(perms []Permission) bool {
	for _, n := range perms {
		if auth.IsPatientLinked(n.Type) {
			return true
		}
	}
	return false
}

// conditionalReferenceTypes lists the types of the conditional references
// (Patient?identifier=...) in a resource: resolving one is a search.
func conditionalReferenceTypes(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				if typ, _, ok := interaction.ConditionalReference(s); ok && !slices.Contains(out, typ) {
					out = append(out, typ)
				}
				continue
			}
			out = conditionalReferenceTypes(c, out)
		}
	case []any:
		for _, c := range x {
			out = conditionalReferenceTypes(c, out)
		}
	}
	return out
}

// entryPermissions lists what one Bundle entry needs.
func entryPermissions(e *interaction.Entry) []Permission {
	var perms []Permission
	switch e.Method {
	case http.MethodGet, http.MethodHead:
		if sr, ok := e.Search.(*searchRequest); ok {
			return searchPermissions(sr.q)
		}
		return []Permission{{e.Type, auth.Read}}
	case http.MethodDelete:
		perms = append(perms, Permission{e.Type, auth.Delete})
	case http.MethodPost:
		perms = append(perms, Permission{e.Type, auth.Create})
		if e.IfNoneExist != nil {
			perms = append(perms, Permission{e.Type, auth.Search})
		}
	case http.MethodPut, http.MethodPatch:
		perms = append(perms, Permission{e.Type, auth.Update})
	}
	if e.Crit != nil {
		perms = append(perms, Permission{e.Type, auth.Search})
	}
	if e.Resource != nil {
		for _, t := range conditionalReferenceTypes(e.Resource.Object(), nil) {
			perms = append(perms, Permission{t, auth.Search})
		}
	}
	return perms
}
