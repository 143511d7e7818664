package postgres

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestPendingListCleaner: while AuditEvents are written, the store merges
// the audit index's pending list itself, so none is left for an insert to
// merge; with the cleaner off, the same writes leave the list for
// PostgreSQL. Either way searches see every entry.
func TestPendingListCleaner(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.URL(t)
	audits := func(prefix string) []*fhir.Resource {
		var rs []*fhir.Resource
		for i := range 50 {
			r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":"%s-%d","recorded":"2026-11-21T07:00:00Z",
"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"outcome":"0",
"agent":[{"who":{"reference":"Practitioner/p%d"},"requestor":true}],"source":{"observer":{"display":"x"}},
"entity":[{"what":{"reference":"Task/t%d"}}]}`, prefix, i, i, i))
			require.NoError(t, err)
			rs = append(rs, r)
		}
		return rs
	}

	off, err := Open(ctx, dsn, WithPendingListInterval(0))
	require.NoError(t, err)
	_, err = off.CreateAll(ctx, audits("off"))
	require.NoError(t, err)
	pages, err := off.CleanAuditPendingList(ctx)
	require.NoError(t, err)
	assert.Positive(t, pages, "without the cleaner the entries wait in the pending list")
	require.Nil(t, off.cleaner)
	off.Close()

	s, err := Open(ctx, dsn, WithPendingListInterval(20*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.NotNil(t, s.cleaner)
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, s.cleaner.upTo.Load(), "no AuditEvent written: no merge")

	_, err = s.CreateAll(ctx, audits("on"))
	require.NoError(t, err)
	// A merge that started after the writes had committed.
	written := s.auditWrites.Load()
	require.Equal(t, int64(50), written)
	require.Eventually(t, func() bool { return s.cleaner.upTo.Load() >= written }, 10*time.Second, 5*time.Millisecond)
	pages, err = s.CleanAuditPendingList(ctx)
	require.NoError(t, err)
	assert.Zero(t, pages, "the cleaner merged the pending list")

	// The index finds the entries, merged by the cleaner or by the
	// explicit call.
	q, err := search.ParseQuery("AuditEvent", url.Values{"entity": {"Task/t7"}}, true)
	require.NoError(t, err)
	page, err := s.Search(ctx, q, store.PageRequest{Count: 10})
	require.NoError(t, err)
	var ids []string
	for _, v := range page.Matches {
		ids = append(ids, v.ID)
	}
	assert.ElementsMatch(t, []string{"off-7", "on-7"}, ids)

	// Close stops the cleaner before the pool goes.
	require.NoError(t, s.Close())
	select {
	case <-s.cleaner.done:
	default:
		t.Fatal("the cleaner is still running after Close")
	}
}
