package gateway

import "github.com/signpost-fhir/signpost/fhir"

// validate checks a resource against the R4 definitions before it is
// stored. strict refuses elements the definitions do not know; by default
// they are kept, since the gateway must not lose what a client sent.
func validate(r *fhir.Resource, strict bool) error {
	return r.Validate(fhir.ValidateOptions{Strict: strict})
}
