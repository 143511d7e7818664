package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// The FHIR interaction engine (fhir/interaction) says what an interaction
// did in outcomes and issue codes; the gateway turns them into HTTP here
// and in errors.go.

type (
	result   = interaction.Result
	criteria = interaction.Criteria
)

// statusOf is the HTTP status of what an interaction did.
func statusOf(r result) int {
	switch r.Outcome {
	case interaction.Created:
		return http.StatusCreated
	case interaction.Deleted:
		return http.StatusNoContent
	case interaction.NotModified:
		return http.StatusNotModified
	}
	return http.StatusOK
}
