package freetext

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
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

// The CodeSystem's R4 shape: what CodeSystem writes and
// SourceFromCodeSystem reads.
type codeSystem struct {
	ResourceType  string       `json:"resourceType"`
	ID            string       `json:"id,omitempty"`
	URL           string       `json:"url,omitempty"`
	Version       string       `json:"version,omitempty"`
	Name          string       `json:"name,omitempty"`
	Title         string       `json:"title,omitempty"`
	Status        string       `json:"status,omitempty"`
	Experimental  bool         `json:"experimental"`
	Publisher     string       `json:"publisher,omitempty"`
	Description   string       `json:"description,omitempty"`
	CaseSensitive bool         `json:"caseSensitive"`
	Content       string       `json:"content,omitempty"`
	Property      []csProperty `json:"property,omitempty"`
	Concept       []csConcept  `json:"concept,omitempty"`
}

type csProperty struct {
	Code        string `json:"code"`
	URI         string `json:"uri,omitempty"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

type csConcept struct {
	Code     string              `json:"code"`
	Display  string              `json:"display,omitempty"`
	Property []csConceptProperty `json:"property,omitempty"`
}

// csConceptProperty is a concept's property with the value types the
// lexicon uses. ValueInteger is the number as written, so that reading
// tells an integer from anything else.
type csConceptProperty struct {
	Code         string          `json:"code"`
	ValueCode    string          `json:"valueCode,omitempty"`
	ValueString  string          `json:"valueString,omitempty"`
	ValueCoding  *csCoding       `json:"valueCoding,omitempty"`
	ValueInteger json.RawMessage `json:"valueInteger,omitempty"`
}

type csCoding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeSystem is src as a CodeSystem with the canonical url, as a JSON
// tree.
func (src *Source) CodeSystem(url string) map[string]any {
	cs := codeSystem{
		ResourceType:  "CodeSystem",
		ID:            ID,
		URL:           url,
		Version:       src.Version,
		Name:          "SignpostClinicalLexicon",
		Title:         "Signpost clinical lexicon: lay language to findings",
		Status:        "active",
		Publisher:     "Signpost",
		Description:   "The words patients, carers and navigators write for red flags, life-critical medicines, complex needs, ordinary symptoms and body sites, with the context words (negation, hypothetical, historical, another person) the engine reads them in. A clinical safety officer reviews and extends it: concepts added to the stored CodeSystem add to the shipped lexicon and never remove from it. docs/clinical-safety.md describes the pattern syntax and the hazard log.",
		CaseSensitive: true,
		Content:       "complete",
	}
	for _, p := range lexiconProperties {
		cs.Property = append(cs.Property, csProperty{Code: p.code, URI: url + "#" + p.code, Type: p.typ, Description: p.desc})
	}
	str := func(code, v string) csConceptProperty { return csConceptProperty{Code: code, ValueString: v} }
	cd := func(code, v string) csConceptProperty { return csConceptProperty{Code: code, ValueCode: v} }
	for _, g := range src.Groups {
		ps := []csConceptProperty{cd("class", "group")}
		for _, a := range g.Alternatives {
			ps = append(ps, str("alternative", a))
		}
		cs.Concept = append(cs.Concept, csConcept{Code: "@" + g.Name, Display: "Synonym group " + g.Name, Property: ps})
	}
	for _, c := range src.Concepts {
		ps := []csConceptProperty{cd("class", c.Class)}
		for _, kv := range [][2]string{{"kind", c.Kind}, {"urgency", c.Urgency}, {"with", c.With}, {"site", c.Site}} {
			if kv[1] != "" {
				ps = append(ps, cd(kv[0], kv[1]))
			}
		}
		if c.SNOMED != "" {
			ps = append(ps, csConceptProperty{Code: "snomed", ValueCoding: &csCoding{System: snomedSystem, Code: c.SNOMED, Display: c.SNOMEDDisplay}})
		}
		for _, a := range c.AcceptedBy {
			ps = append(ps, cd("accepted-by", a))
		}
		if c.Within > 0 {
			ps = append(ps, csConceptProperty{Code: "within", ValueInteger: json.RawMessage(strconv.Itoa(c.Within))})
		}
		if c.Source != "" {
			ps = append(ps, str("source", c.Source))
		}
		for _, m := range c.Match {
			ps = append(ps, str("match", m))
		}
		cs.Concept = append(cs.Concept, csConcept{Code: c.Code, Display: c.Display, Property: ps})
	}
	// Strings, numbers and booleans only: the tree cannot fail.
	t, err := fhir.Tree(cs)
	if err != nil {
		panic("freetext: the lexicon CodeSystem does not encode: " + err.Error())
	}
	return t
}

// SourceFromCodeSystem reads a lexicon from its CodeSystem (a decoded JSON
// object, R4-valid).
func SourceFromCodeSystem(obj map[string]any) (*Source, error) {
	var cs codeSystem
	raw, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(raw, &cs)
	}
	if err != nil {
		return nil, fmt.Errorf("the lexicon CodeSystem does not read as R4: %v", err)
	}
	src := &Source{Version: cs.Version}
	for i, m := range cs.Concept {
		code := m.Code
		where := fmt.Sprintf("CodeSystem.concept[%d] (%s)", i, code)
		if strings.HasPrefix(code, "@") {
			g := Group{Name: code[1:]}
			for _, p := range m.Property {
				if p.Code == "alternative" {
					g.Alternatives = append(g.Alternatives, p.ValueString)
				}
			}
			if !nameRE.MatchString(g.Name) || len(g.Alternatives) == 0 {
				return nil, fmt.Errorf("%s: a synonym group needs a name of lower-case letters, digits and hyphens and at least one alternative", where)
			}
			src.Groups = append(src.Groups, g)
			continue
		}
		c := Concept{Code: code, Display: m.Display}
		for _, p := range m.Property {
			var err error
			switch p.Code {
			case "snomed":
				if p.ValueCoding == nil || p.ValueCoding.System != snomedSystem {
					return nil, fmt.Errorf("%s: property snomed must be a SNOMED CT Coding", where)
				}
				c.SNOMED, c.SNOMEDDisplay = p.ValueCoding.Code, p.ValueCoding.Display
			case "within":
				// A JSON number: a quoted string or anything else does
				// not parse.
				n, perr := strconv.ParseFloat(string(p.ValueInteger), 64)
				if perr != nil {
					return nil, fmt.Errorf("%s: property within must be an integer", where)
				}
				err = c.set("within", strconv.Itoa(int(n)))
			case "class", "kind", "urgency", "with", "site", "accepted-by":
				err = c.set(p.Code, p.ValueCode)
			case "source", "match":
				err = c.set(p.Code, p.ValueString)
			default:
				err = fmt.Errorf("unknown property %q", p.Code)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
		}
		src.Concepts = append(src.Concepts, c)
	}
	return src, nil
}
