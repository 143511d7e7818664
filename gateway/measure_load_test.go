package gateway_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/pgtest"
	"github.com/signpost-fhir/signpost/mapping"
)

// TestEvaluateMeasureLoad times $evaluate-measure (every measure, every
// stratifier) over a year of a 10,000-patient practice: 60,000 decided
// navigation Tasks with their allocations, written straight to
// PostgreSQL. It reports the time and asserts nothing about it. Run with
// SIGNPOST_MEASURE_LOAD=1.
func TestEvaluateMeasureLoad(t *testing.T) {
	t.Parallel()
	if os.Getenv("SIGNPOST_MEASURE_LOAD") != "1" {
		t.Skip("set SIGNPOST_MEASURE_LOAD=1 to time $evaluate-measure over 60,000 navigations")
	}
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	s, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	iss, v := trustedIssuer(t)
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	tg := newGateway(t, gateway.Options{Store: s, Verifier: v, Now: func() time.Time { return now }, RequestTimeout: 10 * time.Minute}, func(srv *gateway.Server) {
		require.NoError(t, srv.RegisterMeasures(ctx))
	})
	g := &nvGateway{testGateway: tg, st: s, iss: iss}

	const patients, navigations = 10000, 60000
	names := mapping.NewNavigationNames(nvBase)
	sec := []any{map[string]any{"system": nvBase + "/CodeSystem/practice", "code": "Y99999"}}
	cc := func(sys, code string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": sys, "code": code}}}
	}
	routes := []string{"phone", "online", "walk-in"}
	cats := []string{"clinician", "practice-team", "external-referral", "signpost", "self-care"}
	urg := []string{"routine", "within-week", "same-day", "emergency"}
	sexes := []string{"female", "male", "other", "unknown"}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(objs []map[string]any) {
		require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
			for _, o := range objs {
				r, err := fhir.ResourceFromObject(o)
				if err != nil {
					return err
				}
				if _, err := tx.Create(ctx, r); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	seedStart := time.Now()
	var batch []map[string]any
	flush := func(force bool) {
		if len(batch) >= 1000 || (force && len(batch) > 0) {
			write(batch)
			batch = batch[:0]
		}
	}
	for i := range patients {
		batch = append(batch, map[string]any{"resourceType": "Patient", "id": "lp" + strconv.Itoa(i), "meta": map[string]any{"security": sec},
			"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": fmt.Sprintf("9%09d", i)}},
			"gender":     sexes[i%4], "birthDate": start.AddDate(-(i % 95), 0, -(i % 300)).Format("2006-01-02")})
		flush(false)
	}
	flush(true)
	for i := range navigations {
		id := strconv.Itoa(i)
		at := start.Add(time.Duration(i) * 525 * time.Second)
		out := []any{
			map[string]any{"type": cc(names.System("navigation-output"), "allocation"), "valueReference": map[string]any{"reference": "ServiceRequest/ls" + id}},
			map[string]any{"type": cc(names.System("navigation-output"), "urgency"), "valueCodeableConcept": cc(names.System("navigation-urgency"), urg[i%4])},
			map[string]any{"type": cc(names.System("navigation-output"), "category"), "valueCodeableConcept": cc(names.System("navigation-category"), cats[i%5])},
			map[string]any{"type": cc(names.System("navigation-output"), "rationale"), "valueString": "A decision."},
		}
		if i%9 == 0 {
			out = append(out, map[string]any{"type": cc(names.System("navigation-output"), "rule"), "valueString": mapping.RuleComplexNeeds + ": complex needs (frailty): continuity prioritised"})
		}
		batch = append(batch, map[string]any{"resourceType": "Task", "id": "lt" + id, "meta": map[string]any{"security": sec},
			"status": "in-progress", "intent": "order",
			"code":       cc(names.System("navigation-task"), "navigate"),
			"owner":      map[string]any{"type": "Organization", "identifier": map[string]any{"system": mapping.ODSSystem, "value": "Y99999"}},
			"for":        map[string]any{"reference": "Patient/lp" + strconv.Itoa(i%patients)},
			"authoredOn": at.Format(time.RFC3339),
			"input": []any{
				map[string]any{"type": cc(names.System("navigation-input"), "contact-route"), "valueCode": routes[i%3]},
				map[string]any{"type": cc(names.System("navigation-input"), "problem"), "valueString": "problem " + strconv.Itoa(i%37)},
			},
			"output": out})
		batch = append(batch, map[string]any{"resourceType": "ServiceRequest", "id": "ls" + id, "meta": map[string]any{"security": sec},
			"status": "active", "intent": "order",
			"category":       []any{cc(names.System("navigation-category"), cats[i%5])},
			"code":           cc("http://snomed.info/sct", mapping.SocialPrescribingReferralCode),
			"subject":        map[string]any{"reference": "Patient/lp" + strconv.Itoa(i%patients)},
			"authoredOn":     at.Add(3 * time.Minute).Format(time.RFC3339),
			"supportingInfo": []any{map[string]any{"display": fmt.Sprintf("Patient need group %d (x), from stored Observation", 1+i%11)}}})
		flush(false)
	}
	flush(true)
	t.Logf("seeded %d Patients, %d Tasks and %d ServiceRequests in %s", patients, navigations, navigations, time.Since(seedStart).Round(time.Millisecond))

	// What autovacuum would do after a bulk load: fresh statistics for
	// the planner.
	analyzeStart := time.Now()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	t.Logf("ANALYZE in %s", time.Since(analyzeStart).Round(time.Millisecond))

	nav := nvNavigator("expert", "Y99999")
	q := "/Measure/$evaluate-measure?measure=navigation-success-measures&periodStart=2025-01-01&periodEnd=2025-12-31"
	for run := range 3 {
		began := time.Now()
		r := g.as(nav, "GET", q, "")
		took := time.Since(began)
		if r.status != 200 {
			t.Fatalf("run %d: status %d after %s: %s", run+1, r.status, took.Round(time.Millisecond), r.body)
		}
		pops := msPops(msGroups(msReport(t, r))["navigation-demand"])
		t.Logf("run %d: status %d", run+1, r.status)
		t.Logf("run %d: $evaluate-measure over %d requests answered in %s (%d bytes)", run+1, pops["initial-population"], took.Round(time.Millisecond), len(r.body))
	}
}
