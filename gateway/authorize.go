package gateway

import (
	"cmp"
	"slices"

	"github.com/signpost-fhir/signpost/access"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Scopes, per interaction: every interaction names the type-level
// permissions it needs (package access has the table) and asks
// auth.Principal.Authorize for each before touching the store; a refusal
// is a 403 OperationOutcome (code forbidden).
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

// Permission is one type-level permission: an action on a resource type
// (access.Permission; its own type so the gateway's tables stay unkeyed).
type Permission access.Permission

// permissions converts access's list to the gateway's.
func permissions(ps []access.Permission) []Permission {
	out := make([]Permission, len(ps))
	for i, p := range ps {
		out[i] = Permission(p)
	}
	return out
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

// authorizeAny checks the permissions of which any one suffices,
// answering with the first refusal when none is granted.
func (s *Server) authorizeAny(p *auth.Principal, perms []Permission) error {
	var first error
	for _, n := range perms {
		err := s.authorize(p, n.Type, n.Action)
		if err == nil {
			return nil
		}
		first = cmp.Or(first, err)
	}
	return first
}

// searchPermissions lists what a search needs (access.Search).
func searchPermissions(q *search.Query) []Permission { return permissions(access.Search(q)) }

// touchesPatientData reports whether any permission is on a
// patient-linked type: such an interaction is audited.
func touchesPatientData(perms []Permission) bool {
	return slices.ContainsFunc(perms, func(n Permission) bool { return auth.IsPatientLinked(n.Type) })
}

// entryPermissions lists what one Bundle entry needs (access.Entry).
func entryPermissions(e *interaction.Entry) []Permission {
	var q *search.Query
	if sr, ok := e.Search.(*searchRequest); ok {
		q = sr.q
	}
	return permissions(access.Entry(e, q))
}
