package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
)

// The shared care record client in the gateway: with the record down, a
// $navigate still completes, the need group is treated as unknown (never
// low) and the `issues` part says why.
func TestNavigateWithTheSharedCareRecordDown(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	recordURL := down.URL + "/fhir"
	down.Close() // connection refused from now on

	g := newRecordNavGateway(t, stores[0].open(t), recordURL, carerecord.Config{Token: "tok", Timeout: 5 * time.Second, Backoff: time.Millisecond,
		Now: func() time.Time { return nvNow }})

	nav := nvNavigator("expert", "Y99999")
	s := nvClinical("online", "Earache", 2.0)
	// The demo adult: need group 3 (low) is stored, which alone would send
	// the patient to Pharmacy First; the record being down must not be
	// read as low.
	id := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "", nvNow))
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Contains(t, res.issueText(), "need group is unavailable")
	assert.Contains(t, res.issueText(), "shared care record is unavailable")
	assert.Contains(t, res.issueText(), "never as low")
	assert.Contains(t, fmt.Sprint(res.allocation["supportingInfo"]), "unknown")
	assert.EqualValues(t, 0, calls.Load())
}

// With the record up, its need group (mapped through the ConceptMap in
// the store) drives the decision and is cached as an Observation the
// allocation cites.
func TestNavigateUsesTheSharedCareRecordsNeedGroup(t *testing.T) {
	t.Parallel()
	g, calls := newCareRecordNavGateway(t, "H")
	nav := nvNavigator("expert", "Y99999")
	id := nvTaskAbout(t, g, nav, "online", "Earache", 2)
	for range 2 {
		res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
		require.Equal(t, 200, res.status, "%s", res.raw)
		assert.Contains(t, res.rules(), "safety-3-complex-needs", "need group 11 from the record: complex needs")
		assert.NotContains(t, res.issueText(), "need group is")
		assert.Contains(t, fmt.Sprint(res.allocation["supportingInfo"]), "Observation/care-record-need-group-")
	}
	assert.EqualValues(t, 1, calls.Load(), "the second navigation reads the cached Observation")
}

// A low need group from the record, and a register entry stored at the
// practice: the findings still make needs complex.
func TestNavigateKeepsStoredFindingsWithTheSharedCareRecord(t *testing.T) {
	t.Parallel()
	g, _ := newCareRecordNavGateway(t, "A")
	nav := nvNavigator("expert", "Y99999")
	nvRegisterMakesComplex(t, g, nav, nvTaskAbout(t, g, nav, "online", "Earache", 2), "need group 3 from the record")
}

// newCareRecordNavGateway is a navigation gateway whose need groups come
// from a shared care record on loopback answering the segment code, which
// the ConceptMap in the store maps (A to 3, H to 11).
func newCareRecordNavGateway(t *testing.T, code string) (*nvGateway, *atomic.Int64) {
	calls := new(atomic.Int64)
	rec := httptest.NewServer(segmentRecord(code, 0, calls))
	t.Cleanup(rec.Close)
	return newRecordNavGateway(t, stores[0].open(t), rec.URL+"/fhir", carerecord.Config{Now: func() time.Time { return nvNow }}), calls
}

// segmentRecord is a shared care record answering every search, after
// delay (or when the caller gives up), with a population segment
// Observation coded code; calls counts the searches.
func segmentRecord(code string, delay time.Duration, calls *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{
			"fullUrl": "https://record.example/fhir/Observation/seg-1",
			"resource": map[string]any{"resourceType": "Observation", "id": "seg-1", "status": "final", "effectiveDateTime": "2026-11-01",
				"code":                 map[string]any{"text": "Population segment"},
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "https://record.example/segment", "code": code}}}}}}})
	}
}

// newRecordNavGateway is a navigation gateway on st whose need groups come
// from the shared care record at recordURL (cfg gives the rest of the
// client's settings), with the ConceptMap care-record-need-groups from the
// record's segment codes (A to 3, H to 11) in the store.
func newRecordNavGateway(t testing.TB, st store.Store, recordURL string, cfg carerecord.Config) *nvGateway {
	t.Helper()
	term := shippedTerminology(t)
	cfg.BaseURL, cfg.ConceptMap = recordURL, "care-record-need-groups"
	client, err := carerecord.New(cfg, st, term)
	require.NoError(t, err)
	g := newNavGateway(t, st, nvOptions{needs: client})
	storeCareRecordMap(t, st)
	return g
}

// storeCareRecordMap stores the ConceptMap care-record-need-groups, from
// the test record's segment codes to patient-need-group: A to 3, H to 11.
func storeCareRecordMap(t testing.TB, st store.Store) {
	t.Helper()
	cm, err := fhir.ResourceFromObject(map[string]any{"resourceType": "ConceptMap", "id": "care-record-need-groups", "status": "active",
		"url": nvBase + "/ConceptMap/care-record-need-groups", "group": []any{map[string]any{"source": "https://record.example/segment",
			"target": nvBase + "/CodeSystem/patient-need-group", "element": []any{
				map[string]any{"code": "A", "target": []any{map[string]any{"code": "3", "equivalence": "equivalent"}}},
				map[string]any{"code": "H", "target": []any{map[string]any{"code": "11", "equivalence": "equivalent"}}}}}}})
	require.NoError(t, err)
	_, err = st.Create(context.Background(), cm)
	require.NoError(t, err)
}

// A record that never answers: the lookup gives up at its timeout and the
// navigation completes with the warning.
//
// Not run in parallel with the other tests: its attempts time out at 100
// ms, and on a busy machine an attempt can time out before it reaches the
// record.
func TestNavigateWithTheSharedCareRecordSlow(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	g := newRecordNavGateway(t, stores[0].open(t), slow.URL+"/fhir", carerecord.Config{
		Timeout: 2 * time.Second, AttemptTimeout: 100 * time.Millisecond, Backoff: time.Millisecond,
		Now: func() time.Time { return nvNow }})
	nav := nvNavigator("expert", "Y99999")
	id := nvTaskAbout(t, g, nav, "online", "Earache", 2)
	res := nvNavigate(t, g, nav, id, nil)
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Contains(t, res.issueText(), "need group is unavailable")
	assert.Contains(t, res.issueText(), "deadline exceeded")
	// Each attempt times out: one try and two retries at most (an attempt
	// that timed out on its way may never reach the record).
	assert.GreaterOrEqual(t, calls.Load(), int64(1))
	assert.LessOrEqual(t, calls.Load(), int64(3), "one try and two retries at most")
}
