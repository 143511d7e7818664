package auth

import (
	"net/url"
	"strings"
)

// Action is one FHIR interaction class of SMART v2 permissions; Actions
// combine as bits, so an Action value can also be a set (Scope.Actions).
type Action uint8

// The five SMART v2 permissions, in their canonical "cruds" order.
const (
	Create Action = 1 << iota
	Read
	Update
	Delete
	Search
)

const allActions = Create | Read | Update | Delete | Search

var actionLetters = [...]struct {
	a      Action
	letter byte
	name   string
}{{Create, 'c', "create"}, {Read, 'r', "read"}, {Update, 'u', "update"}, {Delete, 'd', "delete"}, {Search, 's', "search"}}

// String is the action's name ("read"), or for a set its SMART v2 letters
// ("rs").
func (a Action) String() string {
	for _, l := range actionLetters {
		if a == l.a {
			return l.name
		}
	}
	var b strings.Builder
	for _, l := range actionLetters {
		if a&l.a != 0 {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// Has reports whether every action of want is in a.
func (a Action) Has(want Action) bool { return want != 0 && a&want == want }

// Scope is one parsed SMART resource scope:
//
//	v2: system/Task.cruds  user/ServiceRequest.rs  patient/*.r
//	    system/Observation.rs?category=http://...|laboratory
//	v1: system/Task.read  user/*.write  system/*.*
//
// v1 read means r+s, write means c+u+d, * means all five.
type Scope struct {
	// Context is "system", "user" or "patient".
	Context string
	// ResourceType is a resource type name or "*".
	ResourceType string
	// Actions is the set of permitted actions.
	Actions Action
	// Version is 1 for .read/.write/.* and 2 for cruds letters.
	Version int
	// Query holds v2 scope parameters (after "?"); nil when there are none.
	Query url.Values
	raw   string
}

// String is the scope as the token carried it.
func (s Scope) String() string { return s.raw }

// Restricted reports whether the scope grants access only to a subset of
// resources that Signpost does not enforce, so it must not be read as
// unrestricted access:
//
//   - a v2 scope with parameters (system/Observation.rs?category=...):
//     the restriction would have to be applied as a search filter on
//     every read and search, which Signpost does not do yet;
//   - any patient/ scope: it limits access to the compartment of the
//     launch context's patient, and Signpost has no patient launch.
//
// Restricted scopes are parsed and kept in Principal.Scopes but grant
// nothing in Allows (deny unless the restriction is implemented).
func (s Scope) Restricted() bool { return s.Query != nil || s.Context == "patient" }

// Grants reports whether the scope, were it unrestricted, permits action a
// on resourceType. Allows also requires !Restricted.
func (s Scope) Grants(resourceType string, a Action) bool {
	return (s.ResourceType == "*" || s.ResourceType == resourceType) && s.Actions.Has(a)
}

// ParseScope parses one SMART resource scope. ok is false for anything
// else (openid, launch, offline_access, and malformed scopes such as
// v2 letters out of order or repeated, or parameters on a v1 scope).
func ParseScope(raw string) (s Scope, ok bool) {
	main, query, hasQuery := strings.Cut(raw, "?")
	ctx, rest, found := strings.Cut(main, "/")
	if !found {
		return Scope{}, false
	}
	switch ctx {
	case "system", "user", "patient":
	default:
		return Scope{}, false
	}
	rt, perm, found := strings.Cut(rest, ".")
	if !found || !validResourceType(rt) {
		return Scope{}, false
	}
	s = Scope{Context: ctx, ResourceType: rt, raw: raw}
	switch perm {
	case "read":
		s.Actions, s.Version = Read|Search, 1
	case "write":
		s.Actions, s.Version = Create|Update|Delete, 1
	case "*":
		s.Actions, s.Version = allActions, 1
	default:
		a, ok := parseLetters(perm)
		if !ok {
			return Scope{}, false
		}
		s.Actions, s.Version = a, 2
	}
	if hasQuery {
		if s.Version != 2 || query == "" {
			return Scope{}, false
		}
		q, err := url.ParseQuery(query)
		if err != nil || len(q) == 0 {
			return Scope{}, false
		}
		s.Query = q
	}
	return s, true
}

// parseLetters reads SMART v2 permissions: a non-empty subsequence of
// "cruds" in that order, as the specification requires.
func parseLetters(p string) (Action, bool) {
	if p == "" {
		return 0, false
	}
	var a Action
	next := 0
	for i := 0; i < len(p); i++ {
		j := next
		for j < len(actionLetters) && actionLetters[j].letter != p[i] {
			j++
		}
		if j == len(actionLetters) {
			return 0, false
		}
		a |= actionLetters[j].a
		next = j + 1
	}
	return a, true
}

func validResourceType(rt string) bool {
	if rt == "*" {
		return true
	}
	if rt == "" || len(rt) > 64 || rt[0] < 'A' || rt[0] > 'Z' {
		return false
	}
	for i := 1; i < len(rt); i++ {
		c := rt[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// ParseScopes sorts scope strings into SMART resource scopes and
// everything else (kept as given, e.g. "openid").
func ParseScopes(list []string) (resource []Scope, other []string) {
	for _, raw := range list {
		if s, ok := ParseScope(raw); ok {
			resource = append(resource, s)
		} else {
			other = append(other, raw)
		}
	}
	return resource, other
}
