package snomed

import (
	"fmt"
	"sort"

	"github.com/signpost-fhir/signpost/fhir"
)

// ConceptMap is the part of a FHIR R4 ConceptMap that $translate and the
// allocation coding read.
type ConceptMap struct {
	URL     string
	Version string
	Groups  []MapGroup
}

// MapGroup is one ConceptMap.group: codes of Source mapped to codes of Target.
type MapGroup struct {
	Source, Target string
	Elements       []MapElement
}

// MapElement is one source code and its targets.
type MapElement struct {
	Code, Display string
	Targets       []MapTarget
}

// MapTarget is one target of an element.
type MapTarget struct {
	Code, Display, Equivalence string
	DependsOn                  []MapAttribute
	Products                   []MapAttribute
}

// MapAttribute is a dependsOn or product entry: an element (property URI)
// and a coded value.
type MapAttribute struct {
	Property string
	Coding   Coding
}

// ParseConceptMap reads the groups of a ConceptMap resource. Element
// targets without a code (unmatched) are kept with an empty Code.
func ParseConceptMap(r *fhir.Resource) (*ConceptMap, error) {
	if r.Type() != "ConceptMap" {
		return nil, fmt.Errorf("snomed: %s is not a ConceptMap", r.Type())
	}
	o := r.Object()
	cm := &ConceptMap{URL: fhir.Str(o["url"]), Version: fhir.Str(o["version"])}
	for _, g := range fhir.List(o["group"]) {
		gm, _ := g.(map[string]any)
		grp := MapGroup{Source: fhir.Str(gm["source"]), Target: fhir.Str(gm["target"])}
		for _, e := range fhir.List(gm["element"]) {
			em, _ := e.(map[string]any)
			el := MapElement{Code: fhir.Str(em["code"]), Display: fhir.Str(em["display"])}
			for _, tg := range fhir.List(em["target"]) {
				tm, _ := tg.(map[string]any)
				mt := MapTarget{Code: fhir.Str(tm["code"]), Display: fhir.Str(tm["display"]), Equivalence: fhir.Str(tm["equivalence"])}
				mt.DependsOn = attributes(tm["dependsOn"])
				mt.Products = attributes(tm["product"])
				el.Targets = append(el.Targets, mt)
			}
			grp.Elements = append(grp.Elements, el)
		}
		cm.Groups = append(cm.Groups, grp)
	}
	return cm, nil
}

func attributes(v any) []MapAttribute {
	var out []MapAttribute
	for _, a := range fhir.List(v) {
		am, _ := a.(map[string]any)
		out = append(out, MapAttribute{Property: fhir.Str(am["property"]), Coding: Coding{
			System: fhir.Str(am["system"]), Code: fhir.Str(am["value"]), Display: fhir.Str(am["display"]),
		}})
	}
	return out
}

// Dependency is a $translate dependency: an element (the dependsOn
// property URI) and the codings it holds.
type Dependency struct {
	Element string
	Concept []Coding
}

// MapQuery is what to translate.
type MapQuery struct {
	Coding Coding
	// TargetSystem keeps only groups with that target system.
	TargetSystem string
	Dependencies []Dependency
	// Reverse translates from a target code back to the source codes.
	Reverse bool
}

// Match is one answer of a translation.
type Match struct {
	Equivalence string
	Concept     Coding
	// Products are the target's products (forward) or, in reverse, the
	// dependsOn conditions and products of the mapping found: together
	// they explain the coded decision.
	Products []MapAttribute
	// Source is the ConceptMap's canonical URL.
	Source string
	// Specificity is how many dependsOn conditions the match satisfied.
	Specificity int
}

// Translate answers q against the map. Forward: a target matches when its
// group's source is the coding's system, its element is the coding's code,
// and each of its dependsOn conditions is met by a dependency with that
// element holding a coding of the same system and value (a target without
// dependsOn always matches: it is the default). Matches come most specific
// first, then in map order, so the first match is the one to use.
func (cm *ConceptMap) Translate(q MapQuery) []Match {
	var out []Match
	for _, g := range cm.Groups {
		if q.Reverse {
			if g.Target != q.Coding.System || (q.TargetSystem != "" && q.TargetSystem != g.Source) {
				continue
			}
			for _, el := range g.Elements {
				for _, tg := range el.Targets {
					if tg.Code != q.Coding.Code || tg.Code == "" {
						continue
					}
					m := Match{Equivalence: reverseEquivalence(tg.Equivalence), Concept: Coding{System: g.Source, Code: el.Code, Display: el.Display}, Source: cm.URL}
					m.Products = append(append(m.Products, tg.DependsOn...), tg.Products...)
					out = append(out, m)
				}
			}
			continue
		}
		if g.Source != q.Coding.System || (q.TargetSystem != "" && q.TargetSystem != g.Target) {
			continue
		}
		for _, el := range g.Elements {
			if el.Code != q.Coding.Code {
				continue
			}
			for _, tg := range el.Targets {
				n, ok := satisfied(tg.DependsOn, q.Dependencies)
				if !ok {
					continue
				}
				out = append(out, Match{
					Equivalence: tg.Equivalence,
					Concept:     Coding{System: g.Target, Code: tg.Code, Display: tg.Display},
					Products:    tg.Products,
					Source:      cm.URL,
					Specificity: n,
				})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Specificity > out[j].Specificity })
	return out
}

// satisfied reports whether every condition is met by the dependencies.
func satisfied(conds []MapAttribute, deps []Dependency) (int, bool) {
	for _, c := range conds {
		met := false
		for _, d := range deps {
			if d.Element != c.Property {
				continue
			}
			for _, cd := range d.Concept {
				if cd.Code == c.Coding.Code && (c.Coding.System == "" || cd.System == c.Coding.System) {
					met = true
				}
			}
		}
		if !met {
			return 0, false
		}
	}
	return len(conds), true
}

// reverseEquivalence is the equivalence seen from the target's side.
func reverseEquivalence(e string) string {
	switch e {
	case "wider":
		return "narrower"
	case "narrower":
		return "wider"
	case "subsumes":
		return "specializes"
	case "specializes":
		return "subsumes"
	}
	return e
}
