package search

import (
	"slices"

	"github.com/signpost-fhir/signpost/fhir"

	"github.com/google/uuid"
)

// Code is one system|code of an expanded value set.
type Code struct {
	System, Code string
}

// ExpandValueSets returns q with every :in and :not-in parameter (at the
// top level, in a chain or in a _has) replaced by the codes of its value
// sets, as expand gives them: :in becomes a plain token parameter (any of
// the codes), :not-in a :not one (none of them). A :not-in of value sets
// with no codes is dropped (it excludes nothing); an :in of such matches
// nothing. q itself is not changed; it is returned as is when it has no
// such parameter.
func ExpandValueSets(q *Query, expand func(url string) ([]Code, error)) (*Query, error) {
	return ExpandCodes(q, Expanders{ValueSet: expand})
}

// Expanders give the codes ExpandCodes puts in place of a token modifier.
type Expanders struct {
	// ValueSet gives the codes of a value set (:in, :not-in).
	ValueSet func(url string) ([]Code, error)
	// Hierarchy gives system|code and the codes it subsumes (below) or
	// that subsume it (above) in its code system (:below, :above).
	Hierarchy func(system, code string, below bool) ([]Code, error)
}

// ExpandCodes is ExpandValueSets for :in and :not-in, and replaces every
// token :below or :above by the codes the Hierarchy gives (a plain token
// parameter, any of them).
func ExpandCodes(q *Query, ex Expanders) (*Query, error) {
	if !slices.ContainsFunc(q.Params, usesValueSet) {
		return q, nil
	}
	c := *q
	c.Params = make([]Param, 0, len(q.Params))
	for _, p := range q.Params {
		np, keep, err := expandParam(p, ex)
		if err != nil {
			return nil, err
		}
		if keep {
			c.Params = append(c.Params, np)
		}
	}
	return &c, nil
}

// UsesValueSets reports whether q has an :in or :not-in parameter, or a
// token :below or :above (which ExpandCodes expands the same way).
func UsesValueSets(q *Query) bool { return slices.ContainsFunc(q.Params, usesValueSet) }

func usesValueSet(p Param) bool {
	switch {
	case p.Chain != nil:
		return usesValueSet(p.Chain.Param)
	case p.Has != nil:
		return usesValueSet(p.Has.Param)
	}
	return p.Modifier == ModIn || p.Modifier == ModNotIn || isSubsumption(p)
}

// isSubsumption reports whether p is a token :below or :above.
func isSubsumption(p Param) bool {
	return p.Def != nil && p.Def.Type == TypeToken && (p.Modifier == ModBelow || p.Modifier == ModAbove)
}

// expandParam expands p; keep is false when p no longer restricts.
func expandParam(p Param, ex Expanders) (Param, bool, error) {
	switch {
	case p.Chain != nil:
		inner, keep, err := expandParam(p.Chain.Param, ex)
		if err != nil {
			return p, false, err
		}
		if !keep {
			return p, false, errEmptyInChain(p.Name)
		}
		ch := *p.Chain
		ch.Param = inner
		p.Chain = &ch
		return p, true, nil
	case p.Has != nil:
		inner, keep, err := expandParam(p.Has.Param, ex)
		if err != nil {
			return p, false, err
		}
		if !keep {
			return p, false, errEmptyInChain("_has")
		}
		h := *p.Has
		h.Param = inner
		p.Has = &h
		return p, true, nil
	}
	if isSubsumption(p) {
		if ex.Hierarchy == nil {
			return p, false, fhir.Errorf(fhir.CodeNotSupported, "search parameter %s:%s: the server holds no code system hierarchy", p.Name, p.Modifier).Because(fhir.DetailUnsupportedSearch)
		}
		var vals []Value
		seen := map[Code]bool{}
		for _, v := range p.Values {
			codes, err := ex.Hierarchy(v.System, v.Code, p.Modifier == ModBelow)
			if err != nil {
				return p, false, err
			}
			for _, c := range codes {
				if !seen[c] {
					seen[c] = true
					vals = append(vals, Value{Raw: c.System + "|" + c.Code, System: c.System, Code: c.Code, SystemGiven: true})
				}
			}
		}
		if len(vals) == 0 {
			return p, false, invalid(p.Name+":"+p.Modifier, "no code")
		}
		p.Modifier, p.Values = "", vals
		return p, true, nil
	}
	if p.Modifier != ModIn && p.Modifier != ModNotIn {
		return p, true, nil
	}
	if ex.ValueSet == nil {
		return p, false, fhir.Errorf(fhir.CodeNotSupported, "search parameter %s:%s: the server expands no value set", p.Name, p.Modifier).Because(fhir.DetailUnsupportedSearch)
	}
	var vals []Value
	seen := map[Code]bool{}
	for _, v := range p.Values {
		codes, err := ex.ValueSet(v.URL)
		if err != nil {
			return p, false, err
		}
		for _, c := range codes {
			if seen[c] {
				continue
			}
			seen[c] = true
			vals = append(vals, Value{Raw: c.System + "|" + c.Code, System: c.System, Code: c.Code, SystemGiven: true})
		}
	}
	if p.Modifier == ModNotIn {
		if len(vals) == 0 {
			return p, false, nil
		}
		p.Modifier, p.Values = ModNot, vals
		return p, true, nil
	}
	p.Modifier = ""
	if len(vals) == 0 {
		// Nothing is in an empty value set: a code no resource holds.
		vals = []Value{{System: "urn:uuid:" + uuid.NewString(), Code: "none", SystemGiven: true}}
	}
	p.Values = vals
	return p, true, nil
}

func errEmptyInChain(name string) error {
	return invalid(name, ":not-in of a value set with no codes cannot be used inside a chain or _has")
}
