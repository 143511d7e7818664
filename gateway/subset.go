package gateway

import "github.com/signpost-fhir/signpost/fhir/interaction"

// subsetter trims answers for _summary and _elements (interaction.Subset).
type subsetter interaction.Subset

// newSubsetter reads _summary and _elements; nil when neither subsets.
func newSubsetter(typ, summary string, elements []string) (*subsetter, error) {
	s, err := interaction.NewSubset(typ, summary, elements)
	return (*subsetter)(s), err
}

// apply returns body trimmed for an entry of type typ (match tells a
// match from an include), or body itself when nothing applies.
func (s *subsetter) apply(typ string, body []byte, match bool) ([]byte, error) {
	return (*interaction.Subset)(s).Apply(typ, body, match)
}
