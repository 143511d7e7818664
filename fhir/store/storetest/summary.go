package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// summaryTask is a Task whose owner display is the summary key and whose
// authoredOn is its time ("" for none: not summarised).
func summaryTask(t *testing.T, id, status, owner, authored string) *fhir.Resource {
	js := fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":%q,"intent":"order","owner":{"display":%q}`, id, status, owner)
	if authored != "" {
		js += fmt.Sprintf(`,"authoredOn":%q`, authored)
	}
	return parse(t, js+"}")
}

// taskSummarizer summarises Tasks with an authoredOn by owner, as
// prefix+status.
func taskSummarizer(kind, version, prefix string) store.Summarizer {
	return store.Summarizer{Kind: kind, Type: "Task", Version: version, Summarize: func(r *fhir.Resource) []store.Summary {
		obj := r.Object()
		a, _ := obj["authoredOn"].(string)
		at, err := time.Parse(time.RFC3339, a)
		if err != nil {
			return nil
		}
		owner, _ := obj["owner"].(map[string]any)
		key, _ := owner["display"].(string)
		status, _ := obj["status"].(string)
		return []store.Summary{{Key: key, At: at, Data: prefix + status}}
	}}
}

type summaryRow struct {
	Key, Data string
	At        time.Time
}

func scanSummaries(t *testing.T, s store.Store, q store.SummaryQuery) []summaryRow {
	t.Helper()
	var out []summaryRow
	require.NoError(t, s.ScanSummaries(testContext(t), q, func(key string, at time.Time, data string) error {
		out = append(out, summaryRow{key, data, at})
		return nil
	}))
	return out
}

func testSummaries(t *testing.T, s store.Store) {
	ctx := testContext(t)
	jan, feb, mar := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), time.Date(2026, 2, 5, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	// Stored before the summarizer exists: the registration rebuilds them.
	try(s.Create(ctx, summaryTask(t, "s1", "requested", "A", "2026-02-05T09:00:00Z"))).must(t)
	try(s.Create(ctx, summaryTask(t, "s2", "requested", "A", "2026-01-05T09:00:00Z"))).must(t)
	try(s.Create(ctx, summaryTask(t, "s3", "requested", "B", "2026-03-05T09:00:00Z"))).must(t)
	try(s.Create(ctx, summaryTask(t, "s4", "requested", "A", ""))).must(t)
	try(s.Create(ctx, patient(t, "s5", "Other"))).must(t)

	require.NoError(t, s.RegisterSummarizer(ctx, taskSummarizer("tasks", "1", "")))
	all := store.SummaryQuery{Kind: "tasks", Keys: []string{"A", "B"}}
	assert.Equal(t, []summaryRow{{"A", "requested", jan}, {"A", "requested", feb}, {"B", "requested", mar}}, scanSummaries(t, s, all),
		"the rebuild summarises what was stored before, in time order")
	assert.Equal(t, []summaryRow{{"A", "requested", feb}}, scanSummaries(t, s, store.SummaryQuery{Kind: "tasks", Keys: []string{"A"}, From: feb, To: mar}),
		"a key and a half-open time range")
	assert.Empty(t, scanSummaries(t, s, store.SummaryQuery{Kind: "tasks", Keys: []string{"C"}}))
	assert.Empty(t, scanSummaries(t, s, store.SummaryQuery{Kind: "other", Keys: []string{"A"}}))

	// Writes keep the rows: update, delete, an update that leaves the
	// summary's interest, create, and a failed transaction.
	try(s.Update(ctx, summaryTask(t, "s1", "in-progress", "A", "2026-02-05T09:00:00Z"), none())).must(t)
	try(s.Delete(ctx, "Task", "s2", none())).must(t)
	try(s.Update(ctx, summaryTask(t, "s3", "requested", "B", ""), none())).must(t)
	try(s.Create(ctx, summaryTask(t, "s6", "requested", "B", "2026-03-06T09:00:00Z"))).must(t)
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		_, err := tx.Update(ctx, summaryTask(t, "s4", "requested", "A", "2026-01-01T00:00:00Z"), none())
		return err
	}))
	boom := errors.New("boom")
	require.ErrorIs(t, s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, summaryTask(t, "s7", "requested", "A", "2026-01-02T00:00:00Z")); err != nil {
			return err
		}
		return boom
	}), boom)
	mar6 := time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)
	want := []summaryRow{{"A", "requested", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, {"A", "in-progress", feb}, {"B", "requested", mar6}}
	assert.Equal(t, want, scanSummaries(t, s, all))

	// The same derivation again: nothing to rebuild, the rows stay.
	require.NoError(t, s.RegisterSummarizer(ctx, taskSummarizer("tasks", "1", "")))
	assert.Equal(t, want, scanSummaries(t, s, all))
	// A new derivation rebuilds every row.
	require.NoError(t, s.RegisterSummarizer(ctx, taskSummarizer("tasks", "2", "v2:")))
	got := scanSummaries(t, s, all)
	require.Len(t, got, 3)
	for _, r := range got {
		assert.Contains(t, r.Data, "v2:")
	}
	// And later writes use it.
	try(s.Update(ctx, summaryTask(t, "s6", "cancelled", "B", "2026-03-06T09:00:00Z"), none())).must(t)
	assert.Equal(t, summaryRow{"B", "v2:cancelled", mar6}, scanSummaries(t, s, all)[2])

	// fn's error ends the scan and comes back as it is.
	n := 0
	err := s.ScanSummaries(ctx, all, func(string, time.Time, string) error { n++; return boom })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, n)
}
