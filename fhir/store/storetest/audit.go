package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

const auditPracticeSystem = "https://signpost.example/fhir/CodeSystem/practice"

// auditEvent is an AuditEvent as the gateway writes them: a read of
// Task/task, by user, for practice ods, from address.
func auditEvent(t *testing.T, id, subtype, task, user, ods, address, recorded, outcome string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q,
 "meta":{"security":[{"system":%q,"code":%q}]},
 "type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"RESTful Operation"},
 "subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":%q}],
 "action":"R","recorded":%q,"outcome":%q,
 "agent":[{"who":{"identifier":{"system":"https://issuer.example","value":%q}},"requestor":true,
           "role":[{"text":"navigator"}],"network":{"address":%q,"type":"2"}},
          {"who":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":%q}},"requestor":false}],
 "source":{"site":"Signpost","observer":{"display":"Signpost"}},
 "entity":[{"what":{"reference":"Task/%s/_history/1"},"type":{"system":"http://hl7.org/fhir/resource-types","code":"Task"}},
           {"what":{"identifier":{"system":"https://signpost.example/fhir/request-id","value":"req-%s"}}}]}`,
		id, auditPracticeSystem, ods, subtype, recorded, outcome, user, address, ods, task, id))
	require.NoError(t, err)
	return r
}

func auditSearch(t *testing.T, s store.Store, query string, page store.PageRequest) (store.SearchPage, error) {
	t.Helper()
	v, err := url.ParseQuery(query)
	require.NoError(t, err)
	q, err := search.ParseQuery("AuditEvent", v, true)
	require.NoError(t, err, query)
	return s.Search(context.Background(), q, page)
}

func versionIDs(vs []store.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// RunAuditEvents: the store's audit table serves AuditEvents through the same
// Store calls as every other type — create (single, batched, in a
// transaction), read, vread, history, search with its parameters,
// modifiers, sorts, paging, totals, includes and tenancy — refuses to
// change them, and refuses with a 400 the searches its terms cannot
// answer.
//
// Both stores keep AuditEvents in audit tables of their own, and an
// auditor must find the same events with the same searches on either: s
// must be a store opened with BaseURL as its base.
func RunAuditEvents(t *testing.T, s interface {
	store.Store
	store.BulkCreator
}) {
	ctx := context.Background()
	task, err := fhir.ParseResource([]byte(`{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`))
	require.NoError(t, err)
	_, err = s.Update(ctx, task, store.Precondition{})
	require.NoError(t, err)

	a1 := auditEvent(t, "a1", "read", "t1", "alice", "Y1", "10.0.0.1", "2026-11-20T09:00:00Z", "0")
	a2 := auditEvent(t, "a2", "update", "t1", "bob", "Y1", "10.0.0.2", "2026-11-20T10:00:00Z", "0")
	a3 := auditEvent(t, "a3", "read", "t2", "alice", "Y2", "192.168.1.9", "2026-11-20T11:00:00Z", "4")
	_, err = s.Create(ctx, a1)
	require.NoError(t, err)
	batched, err := s.CreateAll(ctx, []*fhir.Resource{a2})
	require.NoError(t, err)
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error { _, err := tx.Create(ctx, a3); return err }))

	t.Run("read and vread", func(t *testing.T) {
		v, err := s.Read(ctx, "AuditEvent", "a1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v.VersionID)
		assert.Equal(t, store.MethodCreate, v.Method)
		assert.Contains(t, string(v.Body), `"versionId":"1"`)
		assert.Contains(t, string(v.Body), `"10.0.0.1"`)
		_, err = s.VRead(ctx, "AuditEvent", "a1", 1)
		assert.NoError(t, err)
		// A batch stores each body byte for byte as it answered it.
		v2, err := s.Read(ctx, "AuditEvent", "a2")
		require.NoError(t, err)
		assert.Equal(t, string(batched[0].Body), string(v2.Body))
		assert.Contains(t, string(v2.Body), `"10.0.0.2"`)
		_, err = s.VRead(ctx, "AuditEvent", "a1", 2)
		assert.True(t, errors.Is(err, fhir.ErrNotFound), "%v", err)
		_, err = s.Read(ctx, "AuditEvent", "nope")
		assert.True(t, errors.Is(err, fhir.ErrNotFound), "%v", err)
	})

	t.Run("append-only", func(t *testing.T) {
		_, err := s.Create(ctx, a1)
		e, ok := fhir.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, fhir.CodeDuplicate, e.Code())
		_, err = s.Update(ctx, a1, store.Precondition{})
		e, ok = fhir.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 405, e.Status)
		_, err = s.Delete(ctx, "AuditEvent", "a1", store.Precondition{})
		e, ok = fhir.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 405, e.Status)
		v, err := s.Read(ctx, "AuditEvent", "a1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v.VersionID)
	})

	t.Run("history", func(t *testing.T) {
		h, err := s.History(ctx, store.HistoryQuery{Type: "AuditEvent", Count: 10})
		require.NoError(t, err)
		assert.Equal(t, 3, h.Total)
		assert.Equal(t, []string{"a3", "a2", "a1"}, versionIDs(h.Versions), "newest first")
		h, err = s.History(ctx, store.HistoryQuery{Type: "AuditEvent"})
		require.NoError(t, err)
		assert.Equal(t, 3, h.Total, "count only")
		h, err = s.History(ctx, store.HistoryQuery{Type: "AuditEvent", ID: "a2", Count: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{"a2"}, versionIDs(h.Versions))
		_, err = s.History(ctx, store.HistoryQuery{Type: "AuditEvent", ID: "nope", Count: 10})
		assert.True(t, errors.Is(err, fhir.ErrNotFound), "%v", err)
		h, err = s.History(ctx, store.HistoryQuery{Count: 10})
		require.NoError(t, err)
		assert.Equal(t, 4, h.Total, "system history holds the Task and the AuditEvents")
		assert.Equal(t, []string{"a3", "a2", "a1", "t1"}, versionIDs(h.Versions))
		h, err = s.History(ctx, store.HistoryQuery{Count: 10, Types: []string{"Task"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"t1"}, versionIDs(h.Versions))
		h, err = s.History(ctx, store.HistoryQuery{Count: 10, Security: &store.SecurityFilter{Types: []string{"AuditEvent"}, System: auditPracticeSystem, Codes: []string{"Y2"}}})
		require.NoError(t, err)
		assert.Equal(t, []string{"a3", "t1"}, versionIDs(h.Versions), "tenancy on system history")
	})

	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"a3", "a2", "a1"}},
		{"subtype=read", []string{"a3", "a1"}},
		{"subtype=http://hl7.org/fhir/restful-interaction|update", []string{"a2"}},
		{"subtype=http://hl7.org/fhir/restful-interaction|", []string{"a3", "a2", "a1"}},
		{"subtype=|read", nil},
		{"subtype:not=read", []string{"a2"}},
		{"outcome=4", []string{"a3"}},
		{"outcome=0,4&subtype=update", []string{"a2"}},
		{"action=R&type=rest", []string{"a3", "a2", "a1"}},
		{"_security=" + auditPracticeSystem + "|Y1", []string{"a2", "a1"}},
		{"entity=Task/t1", []string{"a2", "a1"}},
		{"entity=t2", []string{"a3"}},
		{"entity=" + BaseURL + "/Task/t1", []string{"a2", "a1"}},
		{"entity=https://elsewhere.example/fhir/Task/t1", nil},
		{"entity:identifier=https://signpost.example/fhir/request-id|req-a2", []string{"a2"}},
		{"agent:identifier=https://issuer.example|alice", []string{"a3", "a1"}},
		{"address=10.0.0", []string{"a2", "a1"}},
		{"address:exact=10.0.0.1", []string{"a1"}},
		{"address:exact=10.0.0", nil},
		{"site=Signpost", []string{"a3", "a2", "a1"}},
		{"agent-role:missing=false", []string{"a3", "a2", "a1"}},
		{"policy:missing=true", []string{"a3", "a2", "a1"}},
		{"date=gt2026-11-20T09:30:00Z", []string{"a3", "a2"}},
		{"date=2026-11-20T10:00:00Z", []string{"a2"}},
		{"date=le2026-11-20T10:00:00Z&date=ge2026-11-20T09:00:00Z", []string{"a2", "a1"}},
		{"_id=a1,a3", []string{"a3", "a1"}},
		{"_lastUpdated=gt2000-01-01", []string{"a3", "a2", "a1"}},
		{"_sort=date", []string{"a1", "a2", "a3"}},
		{"_sort=-date", []string{"a3", "a2", "a1"}},
		{"_sort=_id", []string{"a1", "a2", "a3"}},
	}
	for _, c := range cases {
		t.Run("search "+c.query, func(t *testing.T) {
			p, err := auditSearch(t, s, c.query, store.PageRequest{Count: 10, Total: true})
			require.NoError(t, err)
			want := c.want
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, versionIDs(p.Matches))
			assert.Equal(t, len(want), p.Total)
		})
	}

	t.Run("paging", func(t *testing.T) {
		var got []string
		page := store.PageRequest{Count: 1}
		for range 5 {
			p, err := auditSearch(t, s, "_sort=date", page)
			require.NoError(t, err)
			got = append(got, versionIDs(p.Matches)...)
			if p.Next == "" {
				break
			}
			page.Cursor = p.Next
		}
		assert.Equal(t, []string{"a1", "a2", "a3"}, got)
	})

	t.Run("includes", func(t *testing.T) {
		p, err := auditSearch(t, s, "_id=a1&_include=AuditEvent:entity", store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{"a1"}, versionIDs(p.Matches))
		require.Len(t, p.Included, 1)
		assert.Equal(t, "Task", p.Included[0].Type)
		assert.Equal(t, "t1", p.Included[0].ID)

		v := url.Values{"_id": {"t1"}, "_revinclude": {"AuditEvent:entity"}}
		q, err := search.ParseQuery("Task", v, true)
		require.NoError(t, err)
		tp, err := s.Search(ctx, q, store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{"t1"}, versionIDs(tp.Matches))
		assert.Equal(t, []string{"a1", "a2"}, versionIDs(tp.Included))
	})

	t.Run("tenancy", func(t *testing.T) {
		q, err := search.ParseQuery("AuditEvent", url.Values{}, true)
		require.NoError(t, err)
		q.Tenancy = &search.Tenancy{Types: []string{"AuditEvent", "Task"}, System: auditPracticeSystem, Codes: []string{"Y2"}}
		p, err := s.Search(ctx, q, store.PageRequest{Count: 10, Total: true})
		require.NoError(t, err)
		assert.Equal(t, []string{"a3"}, versionIDs(p.Matches))
		assert.Equal(t, 1, p.Total)
		q.Tenancy.Codes = nil
		p, err = s.Search(ctx, q, store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Empty(t, p.Matches)
	})

	for _, query := range []string{
		"address:contains=0.0",
		"type:text=rest",
		"entity:Task.status=requested",
		"_sort=outcome",
		"address=" + string(slices.Repeat([]byte("x"), 65)),
		"policy:below=http://policy.example/a",
		"subtype:text=read",
		"entity:Task.status=requested&subtype=read",
	} {
		t.Run("refused "+query, func(t *testing.T) {
			_, err := auditSearch(t, s, query, store.PageRequest{Count: 10})
			e, ok := fhir.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, 400, e.Status, e.Error())
		})
	}
	t.Run("a batch whose terms hold the row separator", func(t *testing.T) {
		odd := auditEvent(t, "odd", "read", "t9", "carol", "Y3", "ab", "2026-11-19T09:00:00Z", "0")
		odd.Object()["agent"].([]any)[0].(map[string]any)["network"].(map[string]any)["address"] = "a\x1eb"
		_, err := s.CreateAll(ctx, []*fhir.Resource{odd})
		require.NoError(t, err)
		// No search can name the separator (FHIR strings cannot hold
		// it), so the term is shown whole by its halves finding nothing.
		_, err = search.ParseQuery("AuditEvent", url.Values{"address:exact": {"a\x1eb"}}, true)
		assert.Error(t, err)
		p, err := auditSearch(t, s, "address:exact=a", store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Empty(t, p.Matches)
		p, err = auditSearch(t, s, "address:exact=b", store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Empty(t, p.Matches)
		p, err = auditSearch(t, s, "_id=odd", store.PageRequest{Count: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{"odd"}, versionIDs(p.Matches), "stored")
		_, err = s.CreateAll(ctx, []*fhir.Resource{auditEvent(t, "new", "read", "t9", "carol", "Y3", "x", "2026-11-19T09:00:00Z", "0"), odd})
		e, ok := fhir.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, fhir.CodeDuplicate, e.Code())
		_, err = s.Read(ctx, "AuditEvent", "new")
		assert.True(t, errors.Is(err, fhir.ErrNotFound), "a failed batch stores nothing: %v", err)
	})

	t.Run("refused _has:AuditEvent", func(t *testing.T) {
		q, err := search.ParseQuery("Task", url.Values{"_has:AuditEvent:entity:outcome": {"4"}}, true)
		require.NoError(t, err)
		_, err = s.Search(ctx, q, store.PageRequest{Count: 10})
		e, ok := fhir.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 400, e.Status)
	})
}
