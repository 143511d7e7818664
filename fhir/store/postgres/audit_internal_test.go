package postgres

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
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

// TestAuditTags: only selective terms go under the GIN index; presence
// terms and tokens over codes go to tags, on every write path. A row
// written before tags existed (every term in terms, tags NULL) is found
// by the same searches as the others.
func TestAuditTags(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	event := func(id, action, outcome string) *fhir.Resource {
		r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q,"recorded":"2026-11-21T07:00:00Z",
"meta":{"security":[{"system":"https://signpost.example/fhir/CodeSystem/practice","code":"Y99999"}]},
"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"action":%q,"outcome":%q,
"agent":[{"who":{"identifier":{"system":"https://issuer.example","value":"u-%s"}},"requestor":true,"role":[{"text":"navigator"}],"network":{"address":"10.0.0.%d","type":"2"}}],
"source":{"site":"Signpost","observer":{"display":"x"}},"entity":[{"what":{"reference":"Task/t-%s"}}]}`, id, action, outcome, id, len(id), id))
		require.NoError(t, err)
		return r
	}
	_, err = s.CreateAll(ctx, []*fhir.Resource{event("a", "R", "0"), event("bb", "R", "4")})
	require.NoError(t, err)
	_, err = s.Create(ctx, event("ccc", "C", "0"))
	require.NoError(t, err)
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, event("dddd", "R", "0"))
		return err
	}))

	var indexed, tagged []string
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT array_agg(DISTINCT split_part(t, E'\x1f', 1) || ':' || split_part(t, E'\x1f', 2)) FROM audit_events, unnest(terms) t`).Scan(&indexed))
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT array_agg(DISTINCT split_part(t, E'\x1f', 1) || ':' || split_part(t, E'\x1f', 2)) FROM audit_events, unnest(tags) t`).Scan(&tagged))
	assert.ElementsMatch(t, []string{"c:_security", "c:type", "c:action", "c:outcome", "c:site", "n:agent", "m:agent",
		"x:address", "v:address", "i:entity", "r:entity", "u:entity"}, indexed, "under the GIN index")
	assert.ElementsMatch(t, []string{"t:_security", "s:_security", "t:type", "s:type", "t:action", "t:outcome", "t:site",
		"p:_security", "p:type", "p:action", "p:outcome", "p:site", "p:agent", "p:address", "p:entity", "p:date", "t:agent-role", "p:agent-role"}, tagged, "tags")

	// "a" as an earlier version wrote it.
	_, err = s.pool.Exec(ctx, `UPDATE audit_events SET terms = terms || tags, tags = NULL WHERE id = 'a'`)
	require.NoError(t, err)

	for query, want := range map[string][]string{
		"action=R":                             {"a", "bb", "dddd"},
		"action=C":                             {"ccc"},
		"outcome:not=0":                        {"bb"},
		"outcome=0&action=R":                   {"a", "dddd"},
		"entity:missing=false":                 {"a", "bb", "ccc", "dddd"},
		"altid:missing=true":                   {"a", "bb", "ccc", "dddd"},
		"address=10.0.0.1":                     {"a"},
		"entity=Task/t-a":                      {"a"},
		"agent:identifier=u-bb":                {"bb"},
		"site=Signpost&action=C":               {"ccc"},
		"_security=Y99999&type=rest&outcome=0": {"a", "ccc", "dddd"},
		"_security=https://signpost.example/fhir/CodeSystem/practice|Y99999&action:not=R": {"ccc"},
		"type=http://terminology.hl7.org/CodeSystem/audit-event-type|":                    {"a", "bb", "ccc", "dddd"},
		"type=http://terminology.hl7.org/CodeSystem/other|rest":                           {},
		"type:not=http://terminology.hl7.org/CodeSystem/audit-event-type|rest":            {},
		"outcome=|4":           {"bb"},
		"action=C,R&outcome=4": {"bb"},
		"agent-role=|":         {"a", "bb", "ccc", "dddd"},
	} {
		v, err := url.ParseQuery(query)
		require.NoError(t, err)
		q, err := search.ParseQuery("AuditEvent", v, true)
		require.NoError(t, err, query)
		page, err := s.Search(ctx, q, store.PageRequest{Count: 10})
		require.NoError(t, err, query)
		got := make([]string, len(page.Matches))
		for i, e := range page.Matches {
			got[i] = e.ID
		}
		assert.ElementsMatch(t, want, got, query)
	}
}
