package audit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/tenancy"
)

// TestEvent: what an AuditEvent says of a Who and an Entry, the outcome
// as given, the practices' labels and agents, the request by its id.
func TestEvent(t *testing.T) {
	t.Parallel()
	const base = "https://signpost.example/fhir"
	a := New(Options{Tenancy: tenancy.New(tenancy.Options{CanonicalBase: base}), CanonicalBase: base, Version: "v1",
		Now: func() time.Time { return time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC) }})
	who := Who{Principal: &auth.Principal{Issuer: "https://idp", Subject: "nav", ClientID: "app", ODS: []string{"A11111"}},
		ClientIP: "192.0.2.1", RequestID: "req-1"}
	r, err := a.Event(who, Entry{Subtype: "read", Action: "R", Type: "Task", ID: "t1", Version: 2,
		Practices: []string{"B22222"}, Probe: true, Entry: -1, Outcome: Outcome{Code: MinorFailure, Desc: "404 Not Found"}})
	require.NoError(t, err)
	body, err := r.MarshalJSON()
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, "4", got["outcome"])
	assert.Equal(t, "404 Not Found", got["outcomeDesc"])
	assert.Equal(t, "2026-12-07T21:00:00.000000Z", got["recorded"])
	assert.Equal(t, map[string]any{"security": []any{map[string]any{"system": base + "/CodeSystem/practice", "code": "B22222"}}}, got["meta"])
	agents := got["agent"].([]any)
	require.Len(t, agents, 3, "user, application, the practice concerned")
	assert.Equal(t, map[string]any{"address": "192.0.2.1", "type": "2"}, agents[0].(map[string]any)["network"])
	assert.Equal(t, map[string]any{"identifier": map[string]any{"system": tenancy.ODSSystem, "value": "B22222"}}, agents[2].(map[string]any)["who"])
	entities := got["entity"].([]any)
	require.Len(t, entities, 2)
	what := entities[0].(map[string]any)
	assert.Equal(t, map[string]any{"reference": "Task/t1/_history/2"}, what["what"])
	assert.Equal(t, "probe", what["detail"].([]any)[0].(map[string]any)["type"])
	assert.Equal(t, map[string]any{"identifier": map[string]any{"system": base + "/request-id", "value": "req-1"}}, entities[1].(map[string]any)["what"])
}

func TestParamNames(t *testing.T) {
	t.Parallel()
	got := ParamNames(map[string][]string{"subject": {"Patient/1"}, "_cursor": {"x"}, "code": {"a"}}, "_cursor")
	assert.Equal(t, []string{"code", "subject"}, got, "sorted names, never values, without those skipped")
}
