package snomed

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// SeedTally is what start-up seeding did. Every seeded resource
// (terminology, the directory's definitions, the clinical lexicon, demo
// content) is logged at debug level one by one; the start-up log has one
// summary line with the counts by action and type (Summary). The zero
// value is ready; safe for concurrent use.
type SeedTally struct {
	mu sync.Mutex
	// n counts by action, then by resource type.
	n map[SeedAction]map[string]int
}

// Note records what seeding did: one debug line to log per resource
// that changed (what names the group: "terminology resource", "demo
// resource"…), and the counts Summary reports.
func (t *SeedTally) Note(ctx context.Context, log *slog.Logger, what string, seeded []SeedResult) {
	t.mu.Lock()
	if t.n == nil {
		t.n = map[SeedAction]map[string]int{}
	}
	for _, r := range seeded {
		m := t.n[r.Action]
		if m == nil {
			m = map[string]int{}
			t.n[r.Action] = m
		}
		m[r.Type]++
	}
	t.mu.Unlock()
	for _, r := range seeded {
		if r.Action != SeedUnchanged {
			log.LogAttrs(ctx, slog.LevelDebug, what, slog.String("type", r.Type), slog.String("id", r.ID),
				slog.String("action", string(r.Action)), slog.Int64("version", r.Version))
		}
	}
}

// Summary is what seeding did so far, as log attributes: for each action
// that happened, the counts by type ("CodeSystem 11, ValueSet 13"), and
// the total.
func (t *SeedTally) Summary() []any {
	t.mu.Lock()
	defer t.mu.Unlock()
	var attrs []any
	total := 0
	for _, a := range []SeedAction{SeedCreated, SeedUpdated, SeedRestored, SeedKept, SeedUnchanged} {
		m := t.n[a]
		if len(m) == 0 {
			continue
		}
		types := make([]string, 0, len(m))
		for typ := range m {
			types = append(types, typ)
		}
		slices.Sort(types)
		parts := make([]string, 0, len(types))
		for _, typ := range types {
			parts = append(parts, fmt.Sprintf("%s %d", typ, m[typ]))
			total += m[typ]
		}
		attrs = append(attrs, string(a), strings.Join(parts, ", "))
	}
	return append([]any{"resources", total}, attrs...)
}
