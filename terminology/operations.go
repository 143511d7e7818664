package terminology

import (
	"context"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// Operations answers the terminology operations from T's concepts and the
// CodeSystem, ValueSet and ConceptMap resources Src holds, read at call
// time.
type Operations struct {
	T   *snomed.Terminology
	Src snomed.Source
}

// Lookup is CodeSystem/$lookup.
func (o Operations) Lookup(ctx context.Context, p *fhir.Parameters) ([]byte, error) {
	c, err := ParamCoding(p, "coding")
	if err != nil {
		return nil, err
	}
	if c.Code == "" {
		c.System, c.Code = ParamString(p, "system"), ParamString(p, "code")
	}
	if v := ParamString(p, "version"); v != "" && c.System != "" {
		c.System += "|" + v
	}
	req := snomed.LookupRequest{System: c.System, Code: c.Code}
	for _, m := range p.All("property") {
		if v, ok := m["valueCode"].(string); ok {
			req.Properties = append(req.Properties, v)
		} else if v, ok := m["valueString"].(string); ok {
			req.Properties = append(req.Properties, strings.Split(v, ",")...)
		}
	}
	res, err := o.T.Lookup(ctx, o.Src, req)
	if err != nil {
		return nil, err
	}
	out := &fhir.Parameters{}
	out.Add("name", "String", res.Name)
	if res.Version != "" {
		out.Add("version", "String", res.Version)
	}
	out.Add("display", "String", res.Display)
	for _, d := range res.Designations {
		part := &fhir.Parameters{}
		if d.Language != "" {
			part.Add("language", "Code", d.Language)
		}
		if d.Use != nil {
			part.Add("use", "Coding", d.Use.JSON())
		}
		part.Add("value", "String", d.Value)
		out.AddParts("designation", part)
	}
	for _, pr := range res.Properties {
		part := &fhir.Parameters{}
		part.Add("code", "Code", pr.Code)
		part.Add("value", pr.Type, pr.Value)
		out.AddParts("property", part)
	}
	return out.JSON()
}

// ValidateCode is CodeSystem/$validate-code and ValueSet/$validate-code
// (typ), at type level or on the instance id.
func (o Operations) ValidateCode(ctx context.Context, typ, id string, p *fhir.Parameters) ([]byte, error) {
	req := snomed.ValidateCodeRequest{URL: ParamString(p, "url"), ID: id}
	versionParam := "version"
	if typ == "ValueSet" {
		versionParam = "valueSetVersion"
		r, err := ParamResource(p, "valueSet")
		if err != nil {
			return nil, err
		}
		req.ValueSet = r
	}
	if v := ParamString(p, versionParam); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	codings, err := InputCodings(p)
	if err != nil {
		return nil, err
	}
	req.Codings = codings
	var res *snomed.ValidateCodeResult
	if typ == "ValueSet" {
		res, err = o.T.ValidateValueSetCode(ctx, o.Src, req)
	} else {
		res, err = o.T.ValidateCode(ctx, o.Src, req)
	}
	if err != nil {
		return nil, err
	}
	out := &fhir.Parameters{}
	out.Add("result", "Boolean", res.Result)
	if res.Message != "" {
		out.Add("message", "String", res.Message)
	}
	if res.Display != "" {
		out.Add("display", "String", res.Display)
	}
	return out.JSON()
}

// InputCodings reads the codes an operation is about: codeableConcept,
// coding, or code with system and display. (CodeSystem/$validate-code
// names its system by url; a system parameter there is the same thing.)
func InputCodings(p *fhir.Parameters) ([]snomed.Coding, error) {
	if typ, v, ok := p.Value("codeableConcept"); ok {
		m, isObj := v.(map[string]any)
		if typ != "CodeableConcept" || !isObj {
			return nil, fhir.Errorf(fhir.CodeInvalid, "codeableConcept must be a valueCodeableConcept").At("codeableConcept")
		}
		var out []snomed.Coding
		for _, e := range fhir.List(m["coding"]) {
			cm, _ := e.(map[string]any)
			out = append(out, CodingOf(cm))
		}
		if len(out) == 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "codeableConcept has no coding").At("codeableConcept")
		}
		return out, nil
	}
	c, err := ParamCoding(p, "coding")
	if err != nil {
		return nil, err
	}
	if c.Code == "" {
		c = snomed.Coding{System: ParamString(p, "system"), Code: ParamString(p, "code"), Display: ParamString(p, "display")}
	}
	if c.Code == "" {
		return nil, nil
	}
	return []snomed.Coding{c}, nil
}

// Expand is ValueSet/$expand, at type level or on the instance id.
func (o Operations) Expand(ctx context.Context, id string, p *fhir.Parameters) ([]byte, error) {
	req := snomed.ExpandRequest{URL: ParamString(p, "url"), ID: id, Filter: ParamString(p, "filter")}
	if v := ParamString(p, "valueSetVersion"); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	r, err := ParamResource(p, "valueSet")
	if err != nil {
		return nil, err
	}
	req.ValueSet = r
	if p.Has("count") {
		n, err := ParamInt(p, "count")
		if err != nil {
			return nil, err
		}
		req.Count = &n
	}
	if p.Has("offset") {
		if req.Offset, err = ParamInt(p, "offset"); err != nil {
			return nil, err
		}
	}
	exp, err := o.T.Expand(ctx, o.Src, req)
	if err != nil {
		return nil, err
	}
	return fhir.Generate(exp.Resource())
}

// Translate is ConceptMap/$translate, at type level or on the instance id.
func (o Operations) Translate(ctx context.Context, id string, p *fhir.Parameters) ([]byte, error) {
	req := snomed.TranslateRequest{URL: ParamString(p, "url"), ID: id, TargetSystem: ParamString(p, "targetsystem")}
	if v := ParamString(p, "conceptMapVersion"); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	codings, err := InputCodings(p)
	if err != nil {
		return nil, err
	}
	if len(codings) > 0 {
		req.Coding = codings[0]
	}
	if v := ParamString(p, "reverse"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeInvalid, "reverse must be true or false").At("reverse")
		}
		req.Reverse = b
	}
	for i, m := range p.All("dependency") {
		d := snomed.Dependency{}
		for _, part := range fhir.List(m["part"]) {
			pm, _ := part.(map[string]any)
			switch pm["name"] {
			case "element":
				d.Element, _ = pm["valueUri"].(string)
			case "concept":
				cc, _ := pm["valueCodeableConcept"].(map[string]any)
				for _, e := range fhir.List(cc["coding"]) {
					cm, _ := e.(map[string]any)
					d.Concept = append(d.Concept, CodingOf(cm))
				}
			}
		}
		if d.Element == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "dependency %d has no element (valueUri)", i+1).At("dependency")
		}
		req.Dependencies = append(req.Dependencies, d)
	}
	res, err := o.T.Translate(ctx, o.Src, req)
	if err != nil {
		return nil, err
	}
	out := &fhir.Parameters{}
	out.Add("result", "Boolean", res.Result)
	if res.Message != "" {
		out.Add("message", "String", res.Message)
	}
	for _, m := range res.Matches {
		part := &fhir.Parameters{}
		if m.Equivalence != "" {
			part.Add("equivalence", "Code", m.Equivalence)
		}
		part.Add("concept", "Coding", m.Concept.JSON())
		for _, pr := range m.Products {
			pp := &fhir.Parameters{}
			pp.Add("element", "Uri", pr.Property)
			pp.Add("concept", "Coding", pr.Coding.JSON())
			part.AddParts("product", pp)
		}
		part.Add("source", "Uri", m.Source)
		out.AddParts("match", part)
	}
	return out.JSON()
}

// NavigationCodeCheck is the write check that refuses navigation Tasks
// and allocation ServiceRequests whose coded elements break the contract
// (see mapping.CheckNavigationCodes); terminology resources are read at
// write time, so an administrator's edits apply at once.
func (o Operations) NavigationCodeCheck(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
	return mapping.CheckNavigationCodes(ctx, o.T, o.Src, r, strict)
}

// ParamString is a primitive parameter as text, trimmed; "" when absent.
func ParamString(p *fhir.Parameters, name string) string {
	v, _ := p.String(name)
	return strings.TrimSpace(v)
}

// ParamInt is a whole-number parameter.
func ParamInt(p *fhir.Parameters, name string) (int, error) {
	n, err := strconv.Atoi(ParamString(p, name))
	if err != nil {
		return 0, fhir.Errorf(fhir.CodeInvalid, "%s must be a whole number", name).At(name)
	}
	return n, nil
}

// ParamCoding reads a valueCoding parameter; zero when absent.
func ParamCoding(p *fhir.Parameters, name string) (snomed.Coding, error) {
	typ, v, ok := p.Value(name)
	if !ok {
		return snomed.Coding{}, nil
	}
	m, isObj := v.(map[string]any)
	if typ != "Coding" || !isObj {
		return snomed.Coding{}, fhir.Errorf(fhir.CodeInvalid, "%s must be a valueCoding", name).At(name)
	}
	return CodingOf(m), nil
}

// ParamResource reads a parameter carrying a resource; nil when absent.
func ParamResource(p *fhir.Parameters, name string) (*fhir.Resource, error) {
	typ, v, ok := p.Value(name)
	if !ok {
		return nil, nil
	}
	m, isObj := v.(map[string]any)
	if typ != "Resource" || !isObj {
		return nil, fhir.Errorf(fhir.CodeInvalid, "%s must carry a resource", name).At(name)
	}
	return fhir.ResourceFromObject(m)
}

// CodingOf reads a Coding's JSON object.
func CodingOf(m map[string]any) snomed.Coding {
	s := func(k string) string { v, _ := m[k].(string); return v }
	return snomed.Coding{System: s("system"), Version: s("version"), Code: s("code"), Display: s("display")}
}
