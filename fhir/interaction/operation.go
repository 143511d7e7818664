package interaction

import (
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
)

// OperationParams are the parameters of an operation's invocation: those
// of its Parameters body (body may be empty), then its query parameters
// (by name, in order, as valueString entries) but the answer's format
// (_format, _pretty).
func OperationParams(body []byte, query map[string][]string) (*fhir.Parameters, error) {
	p := &fhir.Parameters{}
	if len(strings.TrimSpace(string(body))) > 0 {
		var err error
		if p, err = fhir.ParseParameters(body); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(query))
	for k := range query {
		if k != "_format" && k != "_pretty" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range query[k] {
			p.AddString(k, v)
		}
	}
	return p, nil
}
