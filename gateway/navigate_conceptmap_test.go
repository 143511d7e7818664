package gateway_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/snomed"
)

// TestReplacingTheConceptMapChangesTheNextNavigation: the allocation
// ConceptMap is read at decision time, so the PUT of an administrator
// acting for all practices (the map is shared by every practice) changes
// the SNOMED CT code of the very next $navigate, with no restart.
func TestReplacingTheConceptMapChangesTheNextNavigation(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			tg, iss := newOperatedGateway(t, st, func() time.Time { return nvNow })
			g := &nvGateway{testGateway: tg, st: st, iss: iss, clock: &atomic.Pointer[time.Time]{}}
			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("phone", "Earache", 3.0)
			id := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			propose := []any{map[string]any{"name": "mode", "valueCode": "propose"}}

			before := nvNavigate(t, g, nav, id, propose)
			require.Equal(t, http.StatusOK, before.status, "%s", before.raw)
			oldCode := allocationCode(t, before.allocation)
			const newCode = "1577041000000109" // Community Pharmacist Consultation Service for minor illness (verified set)
			require.NotEqual(t, newCode, oldCode)

			admin := operatorClaims()
			cm := g.as(admin, "GET", "/ConceptMap/"+snomed.AllocationMap, "")
			require.Equal(t, http.StatusOK, cm.status, "%s", cm.body)
			edited := strings.ReplaceAll(string(cm.body), `"code":"`+oldCode+`"`, `"code":"`+newCode+`"`)
			require.NotEqual(t, string(cm.body), edited, "the map holds the code the decision used")
			put := g.as(admin, "PUT", "/ConceptMap/"+snomed.AllocationMap, edited, "Content-Type", "application/fhir+json")
			require.Equal(t, http.StatusOK, put.status, "%s", put.body)

			after := nvNavigate(t, g, nav, id, propose)
			require.Equal(t, http.StatusOK, after.status, "%s", after.raw)
			assert.Equal(t, before.destination(), after.destination(), "the same service is chosen")
			assert.Equal(t, newCode, allocationCode(t, after.allocation), "the next decision is coded from the replaced map")
		})
	}
}

func allocationCode(t *testing.T, sr map[string]any) string {
	t.Helper()
	code, _ := sr["code"].(map[string]any)
	for _, c := range listAny(code["coding"]) {
		m := c.(map[string]any)
		if m["system"] == snomed.System {
			return m["code"].(string)
		}
	}
	t.Fatalf("the allocation has no SNOMED CT code: %v", sr["code"])
	return ""
}
