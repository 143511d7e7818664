package fhir

import (
	"encoding/json"
	"strconv"
)

// Parameters is a Parameters resource held as its JSON tree, with typed
// getters for operation inputs and a builder for outputs. Parameter values
// keep their value[x] member name, so nothing is lost in either direction.
type Parameters struct {
	params []map[string]any
}

// ParseParameters decodes a Parameters resource body.
func ParseParameters(data []byte) (*Parameters, error) {
	r, err := ParseResource(data)
	if err != nil {
		return nil, err
	}
	if r.Type() != "Parameters" {
		return nil, Errorf(CodeInvalid, "the body must be a Parameters resource, not %s", r.Type()).At("resourceType").Because(DetailMalformed)
	}
	p := &Parameters{}
	list, _ := r.obj["parameter"].([]any)
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, Errorf(CodeStructure, "parameter must be an object").At("Parameters.parameter[" + strconv.Itoa(i) + "]").Because(DetailMalformed)
		}
		if _, ok := m["name"].(string); !ok {
			return nil, Errorf(CodeRequired, "parameter has no name").At("Parameters.parameter[" + strconv.Itoa(i) + "].name").Because(DetailMalformed)
		}
		p.params = append(p.params, m)
	}
	return p, nil
}

// All returns every parameter named name, as decoded JSON objects.
func (p *Parameters) All(name string) []map[string]any {
	var out []map[string]any
	for _, m := range p.params {
		if m["name"] == name {
			out = append(out, m)
		}
	}
	return out
}

// Value returns the value[x] member of the first parameter named name:
// its suffix ("Code", "String", "Coding"...) and its value.
func (p *Parameters) Value(name string) (typ string, value any, ok bool) {
	for _, m := range p.All(name) {
		for k, v := range m {
			if len(k) > 5 && k[:5] == "value" {
				return k[5:], v, true
			}
		}
		if r, ok := m["resource"]; ok {
			return "Resource", r, true
		}
	}
	return "", nil, false
}

// String returns a primitive parameter as text (codes, strings, uris,
// numbers and booleans alike), as query parameters arrive.
func (p *Parameters) String(name string) (string, bool) {
	_, v, ok := p.Value(name)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// Has reports whether a parameter named name is present.
func (p *Parameters) Has(name string) bool { return len(p.All(name)) > 0 }

// AddString appends a valueString parameter (as query inputs arrive).
func (p *Parameters) AddString(name, value string) *Parameters {
	return p.Add(name, "String", value)
}

// Add appends a parameter with value[x] = value, typ being the suffix
// ("Boolean", "Code", "Coding", "CodeableConcept"...).
func (p *Parameters) Add(name, typ string, value any) *Parameters {
	p.params = append(p.params, map[string]any{"name": name, "value" + typ: value})
	return p
}

// AddResource appends a parameter carrying a resource.
func (p *Parameters) AddResource(name string, resource any) *Parameters {
	p.params = append(p.params, map[string]any{"name": name, "resource": resource})
	return p
}

// AddParts appends a parameter made of parts (each built as a Parameters).
func (p *Parameters) AddParts(name string, parts *Parameters) *Parameters {
	list := make([]any, len(parts.params))
	for i, m := range parts.params {
		list[i] = m
	}
	p.params = append(p.params, map[string]any{"name": name, "part": list})
	return p
}

// JSON encodes the Parameters resource (empty members dropped).
func (p *Parameters) JSON() ([]byte, error) {
	list := make([]any, len(p.params))
	for i, m := range p.params {
		list[i] = m
	}
	return Generate(map[string]any{"resourceType": "Parameters", "parameter": list})
}
