package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/snomed"
)

// What start-up seeding did (snomed.SeedTally).
type seedTally = snomed.SeedTally

// NoteSeeded records what seeding did: one debug line per resource that
// changed (what names the group: "terminology resource", "demo
// resource"…), and the counts SeedSummary reports.
func (s *Server) NoteSeeded(ctx context.Context, what string, seeded []snomed.SeedResult) {
	s.seeded.Note(ctx, s.log, what, seeded)
}

// SeedSummary is what seeding did so far, as log attributes: for each
// action that happened, the counts by type ("CodeSystem 11, ValueSet
// 13"), and the total.
func (s *Server) SeedSummary() []any { return s.seeded.Summary() }
