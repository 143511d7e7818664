package snomed

import (
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
)

// Shipped resources: the local CodeSystems, a ValueSet per local code
// system, the SNOMED CT value sets and the default allocation ConceptMap,
// under the Terminology's canonical base. Each carries meta.tag
// ShippedTagSystem with its content hash.

// ShippedResources builds every shipped resource afresh (callers may
// change them).
func (t *Terminology) ShippedResources() ([]*fhir.Resource, error) {
	var objs []map[string]any
	for i := range localSystems {
		objs = append(objs, t.codeSystemObject(&localSystems[i]))
	}
	for i := range localSystems {
		objs = append(objs, t.localValueSetObject(&localSystems[i]))
	}
	for i := range snomedValueSets {
		objs = append(objs, t.snomedValueSetObject(&snomedValueSets[i]))
	}
	objs = append(objs, t.allocationMapObject())
	out := make([]*fhir.Resource, 0, len(objs))
	for _, o := range objs {
		r, err := fhir.GenerateResource(o)
		if err != nil {
			return nil, fmt.Errorf("snomed: build %s/%s: %w", o["resourceType"], o["id"], err)
		}
		if err := MarkShipped(r, ContentVersion); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// MarkShipped tags r as shipped content of the given content version: a
// meta.tag of ShippedTagSystem whose code is the hash of r's content
// without meta, which is how SeedResources tells shipped content from an
// administrator's edit. It replaces r's meta.
func MarkShipped(r *fhir.Resource, contentVersion string) error {
	h, err := contentHash(r.Object())
	if err != nil {
		return err
	}
	r.Object()["meta"] = map[string]any{"tag": []any{map[string]any{
		"system": ShippedTagSystem, "code": h,
		"display": "Shipped by Signpost, content version " + contentVersion,
	}}}
	return nil
}

func (t *Terminology) header(typ, id, name, title, description string) map[string]any {
	return map[string]any{
		"resourceType": typ,
		"id":           id,
		"url":          t.URL(typ, id),
		"version":      ContentVersion,
		"name":         name,
		"title":        title,
		"status":       "active",
		"experimental": false,
		"date":         ReleaseDate,
		"publisher":    "Signpost",
		"description":  description,
	}
}

func (t *Terminology) codeSystemObject(ls *localSystem) map[string]any {
	m := t.header("CodeSystem", ls.ID, ls.Name, ls.Title, ls.Description)
	m["caseSensitive"] = true
	m["valueSet"] = t.URL("ValueSet", ls.ID)
	m["content"] = "complete"
	m["count"] = len(ls.Concepts)
	hasLevel := false
	concepts := make([]any, 0, len(ls.Concepts))
	for _, c := range ls.Concepts {
		cm := map[string]any{"code": c.Code, "display": c.Display, "definition": c.Definition}
		if c.Level != "" {
			hasLevel = true
			cm["property"] = []any{map[string]any{"code": "level", "valueCode": c.Level}}
		}
		concepts = append(concepts, cm)
	}
	if hasLevel {
		m["property"] = []any{map[string]any{
			"code":        "level",
			"uri":         t.URL("CodeSystem", ls.ID) + "#level",
			"description": "Level of need of the group: low, moderate or high.",
			"type":        "code",
		}}
	}
	m["concept"] = concepts
	return m
}

func (t *Terminology) localValueSetObject(ls *localSystem) map[string]any {
	m := t.header("ValueSet", ls.ID, ls.Name, ls.Title, "All codes of the "+ls.Title+" code system.")
	m["compose"] = map[string]any{"include": []any{map[string]any{"system": t.URL("CodeSystem", ls.ID)}}}
	return m
}

func (t *Terminology) snomedValueSetObject(vs *snomedValueSet) map[string]any {
	m := t.header("ValueSet", vs.ID, vs.Name, vs.Title, vs.Description)
	var concepts []any
	for _, cat := range vs.Categories {
		for _, c := range t.byCat[cat] {
			concepts = append(concepts, map[string]any{"code": c.ID, "display": c.Preferred})
		}
	}
	include := []any{map[string]any{"system": System, "concept": concepts}}
	for _, l := range vs.Locals {
		include = append(include, map[string]any{"system": t.URL("CodeSystem", l)})
	}
	m["compose"] = map[string]any{"include": include}
	return m
}

// shippedDisplay is the display of a code of the shipped definitions.
func (t *Terminology) shippedDisplay(system, code string) string {
	if isSCTID(code) {
		if c, ok := t.shipped.Get(code); ok {
			return c.Preferred
		}
		return ""
	}
	return t.LocalCoding(system, code).Display
}

func (t *Terminology) allocationMapObject() map[string]any {
	m := t.header("ConceptMap", AllocationMap, "AllocationCoding", "Allocation coding",
		"How an allocation is coded: navigation category and destination service type (dependsOn HealthcareService.type) to the ServiceRequest code (SNOMED CT procedure or local navigation-decision) and performerType (product: SNOMED CT occupation or local navigation-role). A target without dependsOn is the category's default. Replace it through PUT to change how decisions are coded; the next decision uses it.")
	m["sourceCanonical"] = t.URL("ValueSet", NavigationCategory)
	m["targetCanonical"] = t.URL("ValueSet", AllocationDecisionVS)
	catSystem := t.URL("CodeSystem", NavigationCategory)
	groups := []struct {
		target string
		local  bool
	}{{System, false}, {t.URL("CodeSystem", NavigationDecision), true}}
	var out []any
	for _, g := range groups {
		var elements []any
		index := map[string]map[string]any{}
		for _, r := range allocationRows {
			if isSCTID(r.Decision) == g.local {
				continue
			}
			el, ok := index[r.Category]
			if !ok {
				el = map[string]any{"code": r.Category, "display": t.shippedDisplay(NavigationCategory, r.Category), "target": []any{}}
				index[r.Category] = el
				elements = append(elements, el)
			}
			tg := map[string]any{
				"code":        r.Decision,
				"display":     t.shippedDisplay(NavigationDecision, r.Decision),
				"equivalence": r.Equivalence,
			}
			if r.ServiceType != "" {
				tg["dependsOn"] = []any{map[string]any{
					"property": ServiceTypeElement, "system": System, "value": r.ServiceType,
					"display": t.shippedDisplay("", r.ServiceType),
				}}
			}
			if r.Performer != "" {
				sys := System
				if !isSCTID(r.Performer) {
					sys = t.URL("CodeSystem", NavigationRole)
				}
				tg["product"] = []any{map[string]any{
					"property": PerformerTypeElement, "system": sys, "value": r.Performer,
					"display": t.shippedDisplay(NavigationRole, r.Performer),
				}}
			}
			el["target"] = append(el["target"].([]any), tg)
		}
		out = append(out, map[string]any{"source": catSystem, "target": g.target, "element": elements})
	}
	m["group"] = out
	return m
}
