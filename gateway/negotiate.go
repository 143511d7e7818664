package gateway

import "github.com/signpost-fhir/signpost/gateway/negotiate"

// The names the gateway's files use for package negotiate's.
const fhirJSON = negotiate.FHIRJSON

type bodyKind = negotiate.BodyKind

const (
	bodyFHIR  = negotiate.BodyFHIR
	bodyForm  = negotiate.BodyForm
	bodyPatch = negotiate.BodyPatch
)
