package freetext

import (
	"fmt"
	"strconv"
	"strings"
)

// The lexicon as a FHIR R4 CodeSystem ([base]/CodeSystem/clinical-lexicon):
// each concept a concept, its written properties as concept properties
// (match patterns as repeated "match" strings, the SNOMED CT mapping as a
// Coding), and each synonym group a concept whose code is "@" and the
// group's name, class "group", with its alternatives as repeated
// "alternative" strings. $lookup on a code shows a reviewer everything
// the engine uses.

// ID is the clinical lexicon CodeSystem's id.
const ID = "clinical-lexicon"

const snomedSystem = "http://snomed.info/sct"

// lexiconProperties are the CodeSystem's property definitions.
var lexiconProperties = []struct{ code, typ, desc string }{
	{"class", "code", "red-flag, medicine, urgent-supply, complex-need, population, symptom, symptom-word, body-site, context, ignore; group for a synonym group"},
	{"kind", "code", "The red flag's, medicine's, need's, population's or context's kind"},
	{"urgency", "code", "A red flag's urgency: emergency or same-day"},
	{"with", "code", "The population a red flag depends on: pregnancy, infant-under-3-months, child"},
	{"snomed", "Coding", "The verified SNOMED CT concept the finding maps to"},
	{"accepted-by", "code", "A navigation category or SNOMED CT service type an automated decision may direct the patient to for this"},
	{"site", "code", "The body-site concept the finding is about"},
	{"within", "integer", "The window, in words, within which a pattern's slots must occur"},
	{"source", "string", "The public source of the fact"},
	{"match", "string", "A lay-language match pattern (docs/clinical-safety.md describes the syntax)"},
	{"alternative", "string", "One alternative of a synonym group"},
}

// CodeSystem is src as a CodeSystem with the canonical url.
func (src *Source) CodeSystem(url string) map[string]any {
	var props []any
	for _, p := range lexiconProperties {
		props = append(props, map[string]any{"code": p.code, "uri": url + "#" + p.code, "type": p.typ, "description": p.desc})
	}
	var concepts []any
	str := func(code, v string) map[string]any { return map[string]any{"code": code, "valueString": v} }
	cd := func(code, v string) map[string]any { return map[string]any{"code": code, "valueCode": v} }
	for _, g := range src.Groups {
		ps := []any{cd("class", "group")}
		for _, a := range g.Alternatives {
			ps = append(ps, str("alternative", a))
		}
		concepts = append(concepts, map[string]any{"code": "@" + g.Name, "display": "Synonym group " + g.Name, "property": ps})
	}
	for _, c := range src.Concepts {
		ps := []any{cd("class", c.Class)}
		for _, kv := range [][2]string{{"kind", c.Kind}, {"urgency", c.Urgency}, {"with", c.With}, {"site", c.Site}} {
			if kv[1] != "" {
				ps = append(ps, cd(kv[0], kv[1]))
			}
		}
		if c.SNOMED != "" {
			coding := map[string]any{"system": snomedSystem, "code": c.SNOMED}
			if c.SNOMEDDisplay != "" {
				coding["display"] = c.SNOMEDDisplay
			}
			ps = append(ps, map[string]any{"code": "snomed", "valueCoding": coding})
		}
		for _, a := range c.AcceptedBy {
			ps = append(ps, cd("accepted-by", a))
		}
		if c.Within > 0 {
			ps = append(ps, map[string]any{"code": "within", "valueInteger": c.Within})
		}
		if c.Source != "" {
			ps = append(ps, str("source", c.Source))
		}
		for _, m := range c.Match {
			ps = append(ps, str("match", m))
		}
		concepts = append(concepts, map[string]any{"code": c.Code, "display": c.Display, "property": ps})
	}
	return map[string]any{
		"resourceType":  "CodeSystem",
		"id":            ID,
		"url":           url,
		"version":       src.Version,
		"name":          "SignpostClinicalLexicon",
		"title":         "Signpost clinical lexicon: lay language to findings",
		"status":        "active",
		"experimental":  false,
		"publisher":     "Signpost",
		"description":   "The words patients, carers and navigators write for red flags, life-critical medicines, complex needs, ordinary symptoms and body sites, with the context words (negation, hypothetical, historical, another person) the engine reads them in. A clinical safety officer reviews and extends it: concepts added to the stored CodeSystem add to the shipped lexicon and never remove from it. docs/clinical-safety.md describes the pattern syntax and the hazard log.",
		"caseSensitive": true,
		"content":       "complete",
		"property":      props,
		"concept":       concepts,
	}
}

// SourceFromCodeSystem reads a lexicon from its CodeSystem (a decoded JSON
// object).
func SourceFromCodeSystem(cs map[string]any) (*Source, error) {
	src := &Source{}
	src.Version, _ = cs["version"].(string)
	list, _ := cs["concept"].([]any)
	for i, x := range list {
		m, _ := x.(map[string]any)
		code, _ := m["code"].(string)
		display, _ := m["display"].(string)
		props, _ := m["property"].([]any)
		where := fmt.Sprintf("CodeSystem.concept[%d] (%s)", i, code)
		if strings.HasPrefix(code, "@") {
			g := Group{Name: code[1:]}
			for _, p := range props {
				pm, _ := p.(map[string]any)
				if pm["code"] == "alternative" {
					v, _ := pm["valueString"].(string)
					g.Alternatives = append(g.Alternatives, v)
				}
			}
			if !nameRE.MatchString(g.Name) || len(g.Alternatives) == 0 {
				return nil, fmt.Errorf("%s: a synonym group needs a name of lower-case letters, digits and hyphens and at least one alternative", where)
			}
			src.Groups = append(src.Groups, g)
			continue
		}
		c := Concept{Code: code, Display: display}
		for _, p := range props {
			pm, _ := p.(map[string]any)
			pc, _ := pm["code"].(string)
			var err error
			switch pc {
			case "snomed":
				coding, _ := pm["valueCoding"].(map[string]any)
				if s, _ := coding["system"].(string); s != snomedSystem {
					return nil, fmt.Errorf("%s: property snomed must be a SNOMED CT Coding", where)
				}
				c.SNOMED, _ = coding["code"].(string)
				c.SNOMEDDisplay, _ = coding["display"].(string)
			case "within":
				n, ok := pm["valueInteger"].(float64)
				if !ok {
					if num, isNum := pm["valueInteger"].(interface{ String() string }); isNum {
						var perr error
						n, perr = strconv.ParseFloat(num.String(), 64)
						ok = perr == nil
					}
				}
				if !ok {
					return nil, fmt.Errorf("%s: property within must be an integer", where)
				}
				err = c.set("within", strconv.Itoa(int(n)))
			case "class", "kind", "urgency", "with", "site", "accepted-by":
				v, _ := pm["valueCode"].(string)
				err = c.set(pc, v)
			case "source", "match":
				v, _ := pm["valueString"].(string)
				err = c.set(pc, v)
			default:
				err = fmt.Errorf("unknown property %q", pc)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
		}
		src.Concepts = append(src.Concepts, c)
	}
	return src, nil
}
