package gateway

import (
	"context"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The terminology operations: HTTP adapters from operation Parameters to
// snomed's request structs and back. The CodeSystem, ValueSet and
// ConceptMap resources they use are read from the server's store at call
// time; SNOMED CT is answered from the Terminology's in-memory concept set.

// terminologyPermissions are what every terminology operation needs: it
// reads code systems, value sets and concept maps, whichever the
// parameters name.
var terminologyPermissions = []Permission{
	{"CodeSystem", auth.Read}, {"ValueSet", auth.Read}, {"ConceptMap", auth.Read},
}

// RegisterTerminology serves CodeSystem/$lookup, CodeSystem/$validate-code,
// ValueSet/$validate-code, ValueSet/$expand and ConceptMap/$translate (type
// and, except $lookup, instance level; GET and POST). Call before Handler.
func (s *Server) RegisterTerminology(t *snomed.Terminology) {
	const def = "http://hl7.org/fhir/OperationDefinition/"
	reg := func(typ, name string, run OperationFunc, levels ...OperationLevel) {
		for _, l := range levels {
			s.RegisterOperation(Operation{Name: name, Level: l, Type: typ, Definition: def + typ + "-" + name, Idempotent: true, Run: run,
				Permissions: terminologyPermissions})
		}
	}
	s.terminology = t
	s.registerNavigationCodeChecks(t)
	reg("CodeSystem", "lookup", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return s.lookup(ctx, t, in)
	}, TypeLevel)
	reg("CodeSystem", "validate-code", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return s.validateCode(ctx, t, in)
	}, TypeLevel, InstanceLevel)
	reg("ValueSet", "validate-code", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return s.validateCode(ctx, t, in)
	}, TypeLevel, InstanceLevel)
	reg("ValueSet", "expand", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return s.expand(ctx, t, in)
	}, TypeLevel, InstanceLevel)
	reg("ConceptMap", "translate", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return s.translate(ctx, t, in)
	}, TypeLevel, InstanceLevel)
}

func (s *Server) lookup(ctx context.Context, t *snomed.Terminology, in OperationInput) ([]byte, error) {
	p := in.Params
	c, err := paramCoding(p, "coding")
	if err != nil {
		return nil, err
	}
	if c.Code == "" {
		c.System, c.Code = paramString(p, "system"), paramString(p, "code")
	}
	if v := paramString(p, "version"); v != "" && c.System != "" {
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
	res, err := t.Lookup(ctx, s.store, req)
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

func (s *Server) validateCode(ctx context.Context, t *snomed.Terminology, in OperationInput) ([]byte, error) {
	p := in.Params
	req := snomed.ValidateCodeRequest{URL: paramString(p, "url"), ID: in.ID}
	versionParam := "version"
	if in.Type == "ValueSet" {
		versionParam = "valueSetVersion"
		r, err := paramResource(p, "valueSet")
		if err != nil {
			return nil, err
		}
		req.ValueSet = r
	}
	if v := paramString(p, versionParam); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	codings, err := inputCodings(p)
	if err != nil {
		return nil, err
	}
	req.Codings = codings
	var res *snomed.ValidateCodeResult
	if in.Type == "ValueSet" {
		res, err = t.ValidateValueSetCode(ctx, s.store, req)
	} else {
		res, err = t.ValidateCode(ctx, s.store, req)
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

// inputCodings reads the codes an operation is about: codeableConcept,
// coding, or code with system and display. (CodeSystem/$validate-code
// names its system by url; a system parameter there is the same thing.)
func inputCodings(p *fhir.Parameters) ([]snomed.Coding, error) {
	if typ, v, ok := p.Value("codeableConcept"); ok {
		m, isObj := v.(map[string]any)
		if typ != "CodeableConcept" || !isObj {
			return nil, fhir.Errorf(fhir.CodeInvalid, "codeableConcept must be a valueCodeableConcept").At("codeableConcept")
		}
		var out []snomed.Coding
		for _, e := range listOf(m["coding"]) {
			cm, _ := e.(map[string]any)
			out = append(out, codingOf(cm))
		}
		if len(out) == 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "codeableConcept has no coding").At("codeableConcept")
		}
		return out, nil
	}
	c, err := paramCoding(p, "coding")
	if err != nil {
		return nil, err
	}
	if c.Code == "" {
		c = snomed.Coding{System: paramString(p, "system"), Code: paramString(p, "code"), Display: paramString(p, "display")}
	}
	if c.Code == "" {
		return nil, nil
	}
	return []snomed.Coding{c}, nil
}

func (s *Server) expand(ctx context.Context, t *snomed.Terminology, in OperationInput) ([]byte, error) {
	p := in.Params
	req := snomed.ExpandRequest{URL: paramString(p, "url"), ID: in.ID, Filter: paramString(p, "filter")}
	if v := paramString(p, "valueSetVersion"); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	r, err := paramResource(p, "valueSet")
	if err != nil {
		return nil, err
	}
	req.ValueSet = r
	if p.Has("count") {
		n, err := paramInt(p, "count")
		if err != nil {
			return nil, err
		}
		req.Count = &n
	}
	if p.Has("offset") {
		if req.Offset, err = paramInt(p, "offset"); err != nil {
			return nil, err
		}
	}
	exp, err := t.Expand(ctx, s.store, req)
	if err != nil {
		return nil, err
	}
	return fhir.Generate(exp.Resource())
}

func (s *Server) translate(ctx context.Context, t *snomed.Terminology, in OperationInput) ([]byte, error) {
	p := in.Params
	req := snomed.TranslateRequest{URL: paramString(p, "url"), ID: in.ID, TargetSystem: paramString(p, "targetsystem")}
	if v := paramString(p, "conceptMapVersion"); v != "" && req.URL != "" {
		req.URL += "|" + v
	}
	codings, err := inputCodings(p)
	if err != nil {
		return nil, err
	}
	if len(codings) > 0 {
		req.Coding = codings[0]
	}
	if v := paramString(p, "reverse"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeInvalid, "reverse must be true or false").At("reverse")
		}
		req.Reverse = b
	}
	for i, m := range p.All("dependency") {
		d := snomed.Dependency{}
		for _, part := range listOf(m["part"]) {
			pm, _ := part.(map[string]any)
			switch pm["name"] {
			case "element":
				d.Element, _ = pm["valueUri"].(string)
			case "concept":
				cc, _ := pm["valueCodeableConcept"].(map[string]any)
				for _, e := range listOf(cc["coding"]) {
					cm, _ := e.(map[string]any)
					d.Concept = append(d.Concept, codingOf(cm))
				}
			}
		}
		if d.Element == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "dependency %d has no element (valueUri)", i+1).At("dependency")
		}
		req.Dependencies = append(req.Dependencies, d)
	}
	res, err := t.Translate(ctx, s.store, req)
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

// paramString is a primitive parameter as text, trimmed; "" when absent.
func paramString(p *fhir.Parameters, name string) string {
	v, _ := p.String(name)
	return strings.TrimSpace(v)
}

func paramInt(p *fhir.Parameters, name string) (int, error) {
	n, err := strconv.Atoi(paramString(p, name))
	if err != nil {
		return 0, fhir.Errorf(fhir.CodeInvalid, "%s must be a whole number", name).At(name)
	}
	return n, nil
}

// paramCoding reads a valueCoding parameter; zero when absent.
func paramCoding(p *fhir.Parameters, name string) (snomed.Coding, error) {
	typ, v, ok := p.Value(name)
	if !ok {
		return snomed.Coding{}, nil
	}
	m, isObj := v.(map[string]any)
	if typ != "Coding" || !isObj {
		return snomed.Coding{}, fhir.Errorf(fhir.CodeInvalid, "%s must be a valueCoding", name).At(name)
	}
	return codingOf(m), nil
}

// paramResource reads a parameter carrying a resource; nil when absent.
func paramResource(p *fhir.Parameters, name string) (*fhir.Resource, error) {
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

func codingOf(m map[string]any) snomed.Coding {
	s := func(k string) string { v, _ := m[k].(string); return v }
	return snomed.Coding{System: s("system"), Version: s("version"), Code: s("code"), Display: s("display")}
}

var listOf = fhir.List

// checkNavigationCodes refuses navigation Tasks and allocation
// ServiceRequests whose coded elements break the contract (see
// mapping.CheckNavigationCodes); terminology resources are read from the
// store at write time, so an administrator's edits apply at once.
func (s *Server) registerNavigationCodeChecks(t *snomed.Terminology) {
	check := func(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
		return mapping.CheckNavigationCodes(ctx, t, s.store, r, strict)
	}
	s.RegisterWriteCheck("Task", check)
	s.RegisterWriteCheck("ServiceRequest", check)
}
