package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/demo"
	"github.com/signpost-fhir/signpost/snomed"
)

// seedDemoHistory writes the demo history of navigations (internal/demo:
// about eight weeks of contacts at the demo practice Y99999, decided by
// the navigation engine) after the demo content, so /dashboard has
// figures to show. SIGNPOST_DEMO_HISTORY (config.DemoHistory) decides: "auto" (the default)
// seeds in development mode with the default demo content
// (SIGNPOST_DEMO_DIR auto, or testdata/protocols: the README's run
// command), "on" seeds whenever demo content is seeded (also with an OIDC
// issuer), "off" never. It is idempotent: a restart writes only the days
// since the last.
func seedDemoHistory(ctx context.Context, c config, dev bool, st store.Store, term *snomed.Terminology, log *slog.Logger) error {
	switch c.DemoHistory {
	case "off":
		return nil
	case "on":
	default: // auto
		if !dev || c.DemoDir != "testdata/protocols" {
			return nil
		}
	}
	if c.DemoDir == "" {
		return nil
	}
	began := time.Now()
	res, err := demo.SeedHistory(ctx, demo.Options{Store: st, Base: c.CanonicalBase, Terminology: term})
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	log.Info("demonstration history of navigations", "practice", demo.Practice,
		"from", res.From.Format("2006-01-02"), "to", res.To.AddDate(0, 0, -1).Format("2006-01-02"),
		"contacts", res.Contacts, "written", res.Stored, "duration", time.Since(began).Round(time.Millisecond).String())
	return nil
}
