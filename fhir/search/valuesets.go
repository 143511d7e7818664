package search

import (
	"slices"

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
	if !slices.ContainsFunc(q.Params, usesValueSet) {
		return q, nil
	}
	c := *q
	c.Params = make([]Param, 0, len(q.Params))
	for _, p := range q.Params {
		np, keep, err := expandParam(p, expand)
		if err != nil {
			return nil, err
		}
		if keep {
			c.Params = append(c.Params, np)
		}
	}
	return &c, nil
}

// UsesValueSets reports whether q has an :in or :not-in parameter.
func UsesValueSets(q *Query) bool { return slices.ContainsFunc(q.Params, usesValueSet) }

func usesValueSet(p Param) bool {
	switch {
	case p.Chain != nil:
		return usesValueSet(p.Chain.Param)
	case p.Has != nil:
		return usesValueSet(p.Has.Param)
	}
	return p.Modifier == ModIn || p.Modifier == ModNotIn
}

// expandParam expands p; keep is false when p no longer restricts.
func expandParam(p Param, expand func(string) ([]Code, error)) (Param, bool, error) {
	switch {
	case p.Chain != nil:
		inner, keep, err := expandParam(p.Chain.Param, expand)
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
		inner, keep, err := expandParam(p.Has.Param, expand)
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
	if p.Modifier != ModIn && p.Modifier != ModNotIn {
		return p, true, nil
	}
	var vals []Value
	seen := map[Code]bool{}
	for _, v := range p.Values {
		codes, err := expand(v.URL)
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
