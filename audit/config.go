package audit

import (
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/mapping"
)

// ConfigAudited reports whether changes to typ are audited although it is
// not patient data: the cross-practice configuration
// (auth.SharedConfigTypes) and the practices' navigation protocols
// (PlanDefinition).
func ConfigAudited(typ string) bool {
	return auth.IsSharedConfig(typ) || typ == "PlanDefinition"
}

// ConfigPractices are the practices a change of configuration concerns:
// a navigation protocol's practice; none (every practice) otherwise, so
// the AuditEvent carries the caller's practices, if any.
func ConfigPractices(typ, id string) []string {
	if ods, ok := strings.CutPrefix(id, mapping.ProtocolIDPrefix); ok && typ == "PlanDefinition" && ods != "" {
		return []string{strings.ToUpper(ods)}
	}
	return nil
}
