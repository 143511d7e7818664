package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestMoveAuditEvents: AuditEvents stored before the audit table existed
// (a resources row, a history row and index rows each) are moved into it
// when the store opens, unchanged, and leave nothing behind.
func TestMoveAuditEvents(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	var sums sqlsearch.Summarizers
	bodies := map[string]string{}
	for i := range 3 {
		id := fmt.Sprintf("old-%d", i)
		r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q,"recorded":"2026-11-0%dT07:00:00Z",
"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"outcome":"0",
"agent":[{"who":{"reference":"Practitioner/p%d"},"requestor":true}],"source":{"observer":{"display":"x"}}}`, id, i+1, i))
		require.NoError(t, err)
		// The way every type was written before: resources, history, index.
		v, ok, err := insertFirst(ctx, s.pool, r, store.MethodCreate, &sums)
		require.NoError(t, err)
		require.True(t, ok)
		bodies[id] = string(v.Body)
	}
	count := func(sql string) int {
		var n int
		require.NoError(t, s.pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	require.Equal(t, 3, count("SELECT count(*) FROM resources WHERE type = 'AuditEvent'"))
	require.Positive(t, count("SELECT count(*) FROM idx_token WHERE res_type = 'AuditEvent'"))

	moved, err := moveAuditEvents(ctx, s.pool)
	require.NoError(t, err)
	assert.Equal(t, 3, moved)
	assert.Zero(t, count("SELECT count(*) FROM resources WHERE type = 'AuditEvent'"))
	assert.Zero(t, count("SELECT count(*) FROM resource_history WHERE type = 'AuditEvent'"))
	for _, tbl := range indexTables {
		assert.Zero(t, count("SELECT count(*) FROM "+tbl.name+" WHERE res_type = 'AuditEvent'"), tbl.name)
	}
	for id, body := range bodies {
		v, err := s.Read(ctx, "AuditEvent", id)
		require.NoError(t, err)
		assert.JSONEq(t, body, string(v.Body), "moved unchanged")
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "AuditEvent", Count: 10})
	require.NoError(t, err)
	assert.Equal(t, 3, h.Total)

	again, err := moveAuditEvents(ctx, s.pool)
	require.NoError(t, err)
	assert.Zero(t, again, "nothing left to move")
}
