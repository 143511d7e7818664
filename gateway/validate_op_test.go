package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
)

// issues lists an OperationOutcome's issues as severity/code pairs.
func outcomeIssues(t *testing.T, r reply) []map[string]any {
	t.Helper()
	obj := r.json(t)
	require.Equal(t, "OperationOutcome", obj["resourceType"], "%s", r.body)
	var out []map[string]any
	for _, is := range obj["issue"].([]any) {
		out = append(out, is.(map[string]any))
	}
	return out
}

func severities(issues []map[string]any) []string {
	var out []string
	for _, is := range issues {
		out = append(out, is["severity"].(string))
	}
	return out
}

// storedCount counts the versions of typ in the store, straight from it.
func storedCount(t *testing.T, st store.Store, typ string) int {
	t.Helper()
	page, err := st.History(context.Background(), store.HistoryQuery{Type: typ, Count: 0})
	require.NoError(t, err)
	return page.Total
}

func TestValidateOperation(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g := newGateway(t, gateway.Options{Store: st})
			valid := `{"resourceType":"Patient","name":[{"family":"Valid"}],"gender":"female"}`

			// Type level, the resource as the body: valid, 200 with an
			// information issue, nothing stored.
			r := g.do("POST", "/Patient/$validate", valid)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))
			assert.Equal(t, 0, storedCount(t, st, "Patient"))

			// Invalid content is still a 200, with the error issues.
			r = g.do("POST", "/Patient/$validate", `{"resourceType":"Patient","gender":"sometimes","birthDate":"2020-13-01"}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			sev := severities(outcomeIssues(t, r))
			assert.Contains(t, sev, "error")
			assert.NotContains(t, sev, "information")

			// Parameters with mode create and the base profile.
			params := `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + valid + `},
			  {"name":"mode","valueCode":"create"},{"name":"profile","valueUri":"http://hl7.org/fhir/StructureDefinition/Patient"}]}`
			r = g.do("POST", "/Patient/$validate", params)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))
			assert.Equal(t, 0, storedCount(t, st, "Patient"), "mode create stores nothing")

			// A profile the server does not know: a clear 400.
			r = g.do("POST", "/Patient/$validate?profile=https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient", valid)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			is := r.outcome(t)
			assert.Equal(t, "not-supported", is["code"])
			assert.Contains(t, is["diagnostics"], "UKCore-Patient")

			// Not a resource: the validation could not be performed.
			r = g.do("POST", "/Patient/$validate", `{"resourceType":`)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			r = g.do("POST", "/Patient/$validate", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			r = g.do("POST", "/Patient/$validate?mode=sideways", valid)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			r = g.do("POST", "/Patient/$validate?mode=update", valid)
			assert.Equal(t, http.StatusBadRequest, r.status, "mode update needs an instance: %s", r.body)
			r = g.do("GET", "/Patient/$validate", "")
			assert.Equal(t, http.StatusMethodNotAllowed, r.status, "%s", r.body)

			// Instance level, mode update: rehearsed, not stored.
			c := g.do("POST", "/Patient", valid)
			require.Equal(t, http.StatusCreated, c.status, "%s", c.body)
			id := c.json(t)["id"].(string)
			changed := `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"Changed"}]}`
			r = g.do("POST", "/Patient/"+id+"/$validate?mode=update", changed)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))
			read := g.do("GET", "/Patient/"+id, "")
			assert.Equal(t, `W/"1"`, read.header.Get("ETag"), "the rehearsed update was rolled back")
			assert.Equal(t, "Valid", read.json(t)["name"].([]any)[0].(map[string]any)["family"])

			// A stale If-Match would be refused by the update: an error
			// issue of a 200.
			r = g.do("POST", "/Patient/"+id+"/$validate?mode=update", changed, "If-Match", `W/"7"`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Contains(t, severities(outcomeIssues(t, r)), "error")

			// The body's id must be the URL's.
			r = g.do("POST", "/Patient/"+id+"/$validate?mode=update", `{"resourceType":"Patient","id":"other","name":[{"family":"X"}]}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, "error", outcomeIssues(t, r)[0]["severity"])

			// Mode delete ignores any content and deletes nothing.
			r = g.do("POST", "/Patient/"+id+"/$validate", `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"delete"}]}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))
			assert.Equal(t, http.StatusOK, g.do("GET", "/Patient/"+id, "").status, "still there")

			// Mode profile validates the stored resource.
			r = g.do("POST", "/Patient/"+id+"/$validate?mode=profile", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))

			assert.Equal(t, 1, storedCount(t, st, "Patient"), "only the one create stored anything")
		})
	}
}

func TestValidateOperationTenancyAndAudit(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		before := storedCount(t, s.st, "Patient")

		// Another practice's patient is not known, as for the update itself.
		changed := `{"resourceType":"Patient","id":"` + d.patA + `","name":[{"family":"Taken"}]}`
		r := s.as(d.navB, "POST", "/Patient/"+d.patA+"/$validate?mode=update", changed)
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		r = s.as(d.navB, "POST", "/Patient/"+d.patA+"/$validate?mode=delete", "")
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		r = s.as(d.navB, "POST", "/Patient/"+d.patA+"/$validate?mode=profile", "")
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

		// The own practice's: accepted, audited, not stored.
		audits := s.audits(t)
		r = s.as(d.navA, "POST", "/Patient/"+d.patA+"/$validate?mode=update", changed)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, []string{"information"}, severities(outcomeIssues(t, r)))
		assert.Equal(t, audits+1, s.audits(t), "one AuditEvent for the $validate")
		assert.Equal(t, before, storedCount(t, s.st, "Patient"))

		// Naming a practice the token does not act for is refused as the
		// create would be.
		r = s.as(d.navA, "POST", "/Patient/$validate?mode=create",
			`{"resourceType":"Patient","meta":{"security":[{"system":"`+practiceSys+`","code":"`+odsB+`"}]}}`)
		assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)

		// Scopes: mode create needs create on the type.
		reader := s.token(map[string]any{"scope": "user/Patient.rs", "ods": []string{odsA}, "role": "navigator", "sub": "reader"})
		r = s.as(reader, "POST", "/Patient/$validate?mode=create", patientBody("Reader", "9000000025"))
		assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		r = s.as(reader, "POST", "/Patient/$validate", patientBody("Reader", "9000000025"))
		assert.Equal(t, http.StatusOK, r.status, "no mode: read is enough: %s", r.body)
	})
}
