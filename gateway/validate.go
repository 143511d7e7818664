package gateway

import "github.com/signpost-fhir/signpost/fhir/interaction"

// WriteCheck is a rule a resource must pass before it is stored, beyond
// the R4 definitions (interaction.WriteCheck). Every write is validated
// against the R4 definitions and its type's checks
// (interaction.WriteChecks.Validate).
type WriteCheck = interaction.WriteCheck

// RegisterWriteCheck adds a check run on every write of resources of typ
// (single writes, PATCH results and every transaction or batch entry);
// call before Handler.
func (s *Server) RegisterWriteCheck(typ string, check WriteCheck) { s.writeChecks.Add(typ, check) }
