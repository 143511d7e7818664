package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The defects an integrator hits when driving the API against the R4
// specification, each over HTTP on both stores.

// TestBundleURLQueryMayHoldAbsoluteURLs: a request.url whose query holds
// "://" (an NHS number's system, a reference to another server) is on
// this server; only a path naming another server is refused.
func TestBundleURLQueryMayHoldAbsoluteURLs(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testGateway) {
		upsert := "Patient?identifier=" + nhs + "|9000000009"
		r := g.do("POST", "", txBundle(t, "transaction",
			txEntry{Resource: res(t, patientWith("9000000009", `,"name":[{"family":"Upsert"}]`)), Request: req("PUT", upsert)},
			txEntry{Resource: res(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"http://other.example/fhir/Patient/x"}}`), Request: req("POST", "Observation")},
		))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "201 Created", responses(t, r.json(t))[0]["status"])

		b := g.do("POST", "", txBundle(t, "batch",
			txEntry{Request: req("GET", upsert)},
			txEntry{Request: req("GET", "Observation?subject=http://other.example/fhir/Patient/x")},
			txEntry{Request: req("GET", g.base+"/Patient?identifier="+nhs+"|9000000009")},
			txEntry{Request: req("GET", "http://other.example/fhir/Patient?identifier="+nhs+"|9000000009")},
		))
		require.Equal(t, http.StatusOK, b.status, "%s", b.body)
		entries := b.json(t)["entry"].([]any)
		for i := 0; i < 3; i++ {
			e := entries[i].(map[string]any)
			require.Equal(t, "200 OK", e["response"].(map[string]any)["status"], "entry %d: %v", i, e)
			assert.Equal(t, "1", fmt.Sprint(e["resource"].(map[string]any)["total"]), "entry %d", i)
		}
		assert.Equal(t, "400 Bad Request", entries[3].(map[string]any)["response"].(map[string]any)["status"], "another server's path is still refused")

		d := g.do("POST", "", txBundle(t, "transaction", txEntry{Request: req("DELETE", upsert)}))
		require.Equal(t, http.StatusOK, d.status, "%s", d.body)
		assert.Equal(t, 0, total(t, g, "/Patient?"+byNumber("9000000009")))
	})
}
