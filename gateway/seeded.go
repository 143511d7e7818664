package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/signpost-fhir/signpost/snomed"
)

// What start-up seeding did. Every seeded resource (terminology, the
// directory's definitions, the clinical lexicon, demo content) is logged
// at debug level one by one; the start-up log has one summary line with
// the counts by action and type (SeedSummary).
type seedTally struct {
	mu sync.Mutex
	// n counts by action, then by resource type.
	n map[snomed.SeedAction]map[string]int
}

// NoteSeeded records what seeding did: one debug line per resource that
// changed (what names the group: "terminology resource", "demo
// resource"…), and the counts SeedSummary reports.
func (s *Server) NoteSeeded(ctx context.Context, what string, seeded []snomed.SeedResult) {
	s.seeded.mu.Lock()
	if s.seeded.n == nil {
		s.seeded.n = map[snomed.SeedAction]map[string]int{}
	}
	for _, r := range seeded {
		m := s.seeded.n[r.Action]
		if m == nil {
			m = map[string]int{}
			s.seeded.n[r.Action] = m
		}
		m[r.Type]++
	}
	s.seeded.mu.Unlock()
	for _, r := range seeded {
		if r.Action != snomed.SeedUnchanged {
			s.log.LogAttrs(ctx, slog.LevelDebug, what, slog.String("type", r.Type), slog.String("id", r.ID),
				slog.String("action", string(r.Action)), slog.Int64("version", r.Version))
		}
	}
}

// SeedSummary is what seeding did so far, as log attributes: for each
// action that happened, the counts by type ("CodeSystem 11, ValueSet
// 13"), and the total.
func (s *Server) SeedSummary() []any {
	s.seeded.mu.Lock()
	defer s.seeded.mu.Unlock()
	var attrs []any
	total := 0
	for _, a := range []snomed.SeedAction{snomed.SeedCreated, snomed.SeedUpdated, snomed.SeedRestored, snomed.SeedKept, snomed.SeedUnchanged} {
		m := s.seeded.n[a]
		if len(m) == 0 {
			continue
		}
		types := make([]string, 0, len(m))
		for t := range m {
			types = append(types, t)
		}
		slices.Sort(types)
		parts := make([]string, 0, len(types))
		for _, t := range types {
			parts = append(parts, fmt.Sprintf("%s %d", t, m[t]))
			total += m[t]
		}
		attrs = append(attrs, string(a), strings.Join(parts, ", "))
	}
	return append([]any{"resources", total}, attrs...)
}
