package snomed

import (
	"context"
	"sort"

	"github.com/signpost-fhir/signpost/fhir"
)

// Hierarchy answers token :below (below) and :above searches: code and the
// codes of system it subsumes (below), or that subsume it (above), by the
// is-a hierarchy of a code system the server holds under its canonical
// base (hierarchyMeaning is-a; concepts nested in a concept, or naming it
// with the parent property or it naming them with child, are below it).
// SNOMED CT is refused: the concepts Signpost holds carry no is-a
// relationships, and an answer with the code alone would pass for a
// complete one. So is a code system without an is-a hierarchy, one the
// server does not hold, a code it does not define and an answer of more
// than MaxExpansion codes; each is a fhir.Error with status 400.
func (t *Terminology) Hierarchy(ctx context.Context, src Source, system, code string, below bool) ([]Coding, error) {
	mod := ":above"
	if below {
		mod = ":below"
	}
	if system == System {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "%s on SNOMED CT is not supported: the SNOMED CT concepts this server holds carry no is-a relationships, so it has no hierarchy to test; search with the codes, or :in a value set", mod).Because(fhir.DetailUnsupportedSearch)
	}
	if _, local := t.localID("CodeSystem", system); !local {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "%s needs a code system this server holds (under %s/CodeSystem/); it has no hierarchy of %s", mod, t.base, system).Because(fhir.DetailUnsupportedSearch)
	}
	cs, err := t.resolveCodeSystem(ctx, src, system, "")
	if err != nil {
		if fe, ok := fhir.AsError(err); ok && fe.Code() == fhir.CodeNotFound {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "%s: code system %s is not held by this server, so it has no hierarchy", mod, system).Because(fhir.DetailUnsupportedSearch)
		}
		return nil, err
	}
	if !cs.isA {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "%s: code system %s has no is-a hierarchy (its hierarchyMeaning is not is-a)", mod, system).Because(fhir.DetailUnsupportedSearch)
	}
	start, ok := cs.concept(code)
	if !ok {
		return nil, fhir.Errorf(fhir.CodeInvalid, "%s: %s is not a code of %s", mod, code, system).Because(fhir.DetailMalformed)
	}
	next := func(c *csConcept) []string { return c.parents }
	if below {
		children := map[string][]string{}
		for _, c := range cs.order {
			for _, p := range c.parents {
				children[p] = append(children[p], c.code)
			}
		}
		next = func(c *csConcept) []string { return children[c.code] }
	}
	seen := map[string]bool{start.code: true}
	queue := []*csConcept{start}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, n := range next(c) {
			nc, ok := cs.concept(n)
			if !ok || seen[nc.code] {
				continue
			}
			seen[nc.code] = true
			if len(seen) > MaxExpansion {
				return nil, fhir.Errorf(fhir.CodeTooCostly, "%s %s|%s reaches more than %d codes", mod, system, code, MaxExpansion).Because(fhir.DetailUnsupportedSearch)
			}
			queue = append(queue, nc)
		}
	}
	out := make([]Coding, 0, len(seen))
	for c := range seen {
		out = append(out, Coding{System: system, Code: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}
