package interaction

import (
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/spec"
)

// Subset trims search results for _summary (true, text, data) and
// _elements (R4 3.1.1.5.8-9). It is the one place a stored
// resource is decoded on the way out; every other answer is the stored bytes.
// A subsetted resource carries the SUBSETTED meta.tag, so nobody takes
// it for the whole resource (and updates with it).
//
// What each keeps, always with resourceType, id and meta:
//
//   - _summary=true: the elements the R4 definitions mark isSummary, and
//     mandatory ones, recursively through backbone elements (a datatype
//     value is kept whole); modifierExtension is always kept, since
//     dropping a modifier changes the meaning of what is left.
//   - _summary=text: text and the top-level mandatory elements.
//   - _summary=data: everything but text.
//   - _elements=a,b: the top-level elements a and b (a choice by its
//     name, "value", or a variant, "valueString") and the top-level
//     mandatory ones. Unqualified names apply to the matches; names
//     qualified with a type (Patient.name, as R5 writes them) to every
//     entry of that type, includes too. A deeper path (name.family)
//     keeps its whole top-level element: R4 asks for base elements, and
//     returning more than asked is allowed.
//
// _summary applies to every entry, matches and includes alike.
type Subset struct {
	summary string
	// matches are the unqualified _elements names; byType the qualified
	// ones, by type.
	matches map[string]bool
	byType  map[string]map[string]bool
}

// subsettedTag is R4's mark of a resource that is not whole.
var subsettedTag = map[string]any{
	"system":  "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	"code":    "SUBSETTED",
	"display": "Resource encoded in summary mode",
}

// NewSubset reads _summary and _elements; nil when neither subsets.
func NewSubset(typ, summary string, elements []string) (*Subset, error) {
	switch summary {
	case "true", "text", "data":
		return &Subset{summary: summary}, nil
	}
	if len(elements) == 0 {
		return nil, nil
	}
	s := &Subset{matches: map[string]bool{}, byType: map[string]map[string]bool{}}
	for _, e := range elements {
		head, rest, qualified := strings.Cut(e, ".")
		if qualified && spec.IsResourceType(head) {
			name, _, _ := strings.Cut(rest, ".")
			if s.byType[head] == nil {
				s.byType[head] = map[string]bool{}
			}
			s.byType[head][name] = true
			continue
		}
		if !IsElementName(head) {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_elements: %q is not an element name", e).At("_elements").Because(fhir.DetailMalformed)
		}
		s.matches[head] = true
	}
	return s, nil
}

// Apply returns body trimmed for an entry of type typ (match tells a
// match from an include), or body itself when nothing applies.
func (s *Subset) Apply(typ string, body []byte, match bool) ([]byte, error) {
	if s == nil {
		return body, nil
	}
	var wanted map[string]bool
	if s.summary == "" {
		wanted = s.byType[typ]
		if match {
			for k := range s.matches {
				if wanted == nil {
					wanted = map[string]bool{}
				}
				wanted[k] = true
			}
		}
		if wanted == nil {
			return body, nil
		}
	}
	t, ok := spec.LookupType(typ)
	if !ok || t.Structure() == nil {
		return body, nil
	}
	v, err := fhir.DecodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return body, nil
	}
	switch s.summary {
	case "true":
		keepSummary(obj, t.Structure())
	case "text":
		keepTop(obj, t.Structure(), map[string]bool{"text": true})
	case "data":
		delete(obj, "text")
	default:
		keepTop(obj, t.Structure(), wanted)
	}
	markSubsetted(obj)
	return fhir.EncodeJSON(obj)
}

// keepTop keeps the top-level members named in wanted, the mandatory
// ones, resourceType, id and meta.
func keepTop(obj map[string]any, st *spec.Structure, wanted map[string]bool) {
	for k := range obj {
		switch k {
		case "resourceType", "id", "meta", "_id":
			continue
		}
		name := strings.TrimPrefix(k, "_")
		if wanted[name] {
			continue
		}
		if m, ok := st.Member(name); ok {
			if m.Element.Min > 0 || wanted[strings.TrimSuffix(m.Element.Name, "[x]")] {
				continue
			}
		}
		delete(obj, k)
	}
}

// keepSummary keeps the isSummary and mandatory members of obj, and
// recurses into backbone elements.
func keepSummary(obj map[string]any, st *spec.Structure) {
	for k, v := range obj {
		if k == "resourceType" {
			continue
		}
		m, ok := st.Member(strings.TrimPrefix(k, "_"))
		if !ok {
			delete(obj, k) // not an R4 element, so not a summary one
			continue
		}
		e := m.Element
		if !e.Summary && e.Min == 0 && e.Name != "modifierExtension" {
			delete(obj, k)
			continue
		}
		if e.Children == nil || strings.HasPrefix(k, "_") {
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			keepSummary(x, e.Children)
		case []any:
			for _, item := range x {
				if o, ok := item.(map[string]any); ok {
					keepSummary(o, e.Children)
				}
			}
		}
	}
}

// markSubsetted adds the SUBSETTED tag to meta.tag once.
func markSubsetted(obj map[string]any) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && m["system"] == subsettedTag["system"] && m["code"] == subsettedTag["code"] {
			return
		}
	}
	tag := make(map[string]any, len(subsettedTag))
	for k, v := range subsettedTag {
		tag[k] = v
	}
	meta["tag"] = append(tags, tag)
}
