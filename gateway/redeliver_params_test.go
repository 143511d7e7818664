package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// $redeliver takes task in each form a client sends — valueReference
// (relative or absolute on this base, versioned or not), valueId,
// valueString with or without the type, the query string — and answers
// any other form with a 400 OperationOutcome saying what it wants.
func TestRedeliverTakesTheTaskAsAReferenceOrAnId(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			nav := nvNavigator("expert", "Y99999")
			id := g.created(t, nav, "Task", nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			// No clinical system listens for the test's demo practice: a
			// dead letter at the first attempt.
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 1}})
			dead := func() bool {
				ds, err := ob.Deliveries(ctx, id)
				require.NoError(t, err)
				return len(ds) == 1 && ds[0].Status == store.DeliveryDead
			}
			poll(t, "the dead letter", dead)

			params := func(p string) string { return `{"resourceType":"Parameters","parameter":[` + p + `]}` }
			for _, form := range []struct{ name, body, query string }{
				{"valueReference", params(`{"name":"task","valueReference":{"reference":"Task/` + id + `"}}`), ""},
				{"absolute valueReference", params(`{"name":"task","valueReference":{"reference":"` + g.base + `/Task/` + id + `"}}`), ""},
				{"versioned valueReference", params(`{"name":"task","valueReference":{"reference":"Task/` + id + `/_history/2"}}`), ""},
				{"valueId", params(`{"name":"task","valueId":"` + id + `"}`), ""},
				{"valueString", params(`{"name":"task","valueString":"` + id + `"}`), ""},
				{"valueString with the type", params(`{"name":"task","valueString":"Task/` + id + `"}`), ""},
				{"query", "", "?task=Task/" + id},
			} {
				r := g.as(nav, "POST", "/$redeliver"+form.query, form.body)
				require.Equal(t, http.StatusOK, r.status, "%s: %s", form.name, r.body)
				assert.Contains(t, string(r.body), `"valueCode":"pending"`, form.name)
				assert.Contains(t, string(r.body), "Task/"+id, form.name)
				poll(t, "the dead letter again", dead)
			}

			for _, bad := range []struct{ name, body, says string }{
				{"another type", params(`{"name":"task","valueReference":{"reference":"Patient/` + id + `"}}`), "is not a Task"},
				{"another server", params(`{"name":"task","valueReference":{"reference":"https://elsewhere.example/fhir/Task/` + id + `"}}`), "another server"},
				{"a logical reference", params(`{"name":"task","valueReference":{"identifier":{"system":"s","value":"v"}}}`), "no reference"},
				{"a number", params(`{"name":"task","valueInteger":12}`), "valueInteger"},
				{"not an id", params(`{"name":"task","valueString":"Task/a b"}`), "not a valid id"},
				{"empty", params(`{"name":"task","valueString":""}`), "empty"},
				{"nothing", params(``), "needs the parameter task"},
			} {
				r := g.as(nav, "POST", "/$redeliver", bad.body)
				require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad.name, r.body)
				issue := r.outcome(t)
				diag, _ := issue["diagnostics"].(string)
				assert.Contains(t, diag, bad.says, bad.name)
				if bad.name != "nothing" {
					assert.True(t, strings.Contains(diag, "valueReference Task/[id]"), "%s: %s", bad.name, diag)
				}
			}
			// Another practice's Task stays unknown whatever the form.
			r := g.as(nvNavigator("expert", "A00001"), "POST", "/$redeliver", params(`{"name":"task","valueReference":{"reference":"Task/`+id+`"}}`))
			assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		})
	}
}
