package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
)

// TestNavigateCommitsWithItsAuditEvent: a committed $navigate's
// AuditEvent is written in the decision's own transaction, so a decision
// is never stored without its record (nor a record without its
// decision). With the audit log refusing, the commit fails whole and
// nothing of the decision is stored; once it works, one commit leaves one
// AuditEvent.
func TestNavigateCommitsWithItsAuditEvent(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			wrapped := &noAuditStore{Store: st}
			g := newNavGateway(t, st, nvOptions{wrap: func(store.Store) store.Store { return wrapped }})
			nav := nvNavigator("expert", "Y99999")
			id := g.created(t, nav, "Task", nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			allocations := func() int {
				page, err := st.History(context.Background(), store.HistoryQuery{Type: "ServiceRequest", Count: 0})
				require.NoError(t, err)
				return page.Total
			}
			before, err := st.Read(context.Background(), "Task", id)
			require.NoError(t, err)

			wrapped.refuse = true
			res := nvNavigate(t, g, nav, id, nil)
			assert.Equal(t, http.StatusInternalServerError, res.status, "%s", res.raw)
			wrapped.refuse = false
			after, err := st.Read(context.Background(), "Task", id)
			require.NoError(t, err)
			assert.Equal(t, before.VersionID, after.VersionID, "the Task was changed without its AuditEvent")
			assert.Zero(t, allocations(), "an allocation was stored without its AuditEvent")

			audits := func() int {
				page, err := st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent", Count: 0})
				require.NoError(t, err)
				return page.Total
			}
			n := audits()
			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.Equal(t, 1, allocations())
			assert.Equal(t, 1, audits()-n, "one AuditEvent for the commit")
		})
	}
}
