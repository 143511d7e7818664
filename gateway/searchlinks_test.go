package gateway_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linked extends the directory world with what multi-level chains walk:
// a practice that is part of an ICB, a patient registered with it, an
// Observation of that patient, and a Task whose focus is a referral.
var linked = []string{
	`{"resourceType":"Organization","id":"icb-1","name":"North ICB"}`,
	`{"resourceType":"Organization","id":"org-c","name":"Practice C","partOf":{"reference":"Organization/icb-1"}}`,
	`{"resourceType":"Patient","id":"pat-4","name":[{"family":"Reg"}],"managingOrganization":{"reference":"Organization/org-c"}}`,
	`{"resourceType":"Observation","id":"obs-4","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-4"}}`,
	`{"resourceType":"Observation","id":"obs-1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-1"}}`,
	`{"resourceType":"Task","id":"task-f","status":"requested","intent":"order","focus":{"reference":"ServiceRequest/sr-1"}}`,
}

// Chains of more than one link and nested _has are applied, under
// Prefer: handling=strict too; beyond search.MaxLinks links they are a
// 400 whatever the Prefer header.
func TestMultiLevelChainsAndNestedHas(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		g.load(t, linked)
		ids := func(path string, headers ...string) []string {
			t.Helper()
			r := g.do("GET", path, "", headers...)
			require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
			got := entryIDs(t, r.json(t), "match")
			sort.Strings(got)
			return got
		}
		q := func(typ, key, value string) string { return "/" + typ + "?" + url.Values{key: {value}}.Encode() }
		tests := []struct {
			path string
			want []string
		}{
			{q("Task", "focus:ServiceRequest.subject:Patient.identifier", "https://fhir.nhs.uk/Id/nhs-number|9000000009"), []string{"task-f"}},
			{q("Task", "focus:ServiceRequest.subject:Patient.identifier", "https://fhir.nhs.uk/Id/nhs-number|9000000017"), nil},
			{q("Observation", "subject.organization.name", "Practice C"), []string{"obs-4"}},
			{q("Observation", "subject.organization.name", "Practice A"), nil},
			{q("Observation", "subject:Patient.organization.partof.name", "North ICB"), []string{"obs-4"}},
			{q("Observation", "subject:Patient.organization.partof:missing", "true"), nil},
			{q("Observation", "subject:Patient.organization.partof:missing", "false"), []string{"obs-4"}},
			{q("Patient", "_has:ServiceRequest:subject:_has:Task:based-on:_id", "task-2"), []string{"pat-2"}},
			{q("Patient", "_has:ServiceRequest:subject:_has:Task:based-on:owner", "Organization/org-a"), []string{"pat-1", "pat-2"}},
			{q("Patient", "_has:ServiceRequest:subject:_has:Task:focus:status", "requested"), []string{"pat-1"}},
			{q("Patient", "_has:Task:patient:owner.name", "Practice B"), []string{"pat-1"}},
			{q("Organization", "_has:Patient:organization:_has:Observation:subject:_id", "obs-4"), []string{"org-c"}},
			{q("Patient", "_has:Observation:subject:subject:Patient.organization.name", "Practice C"), []string{"pat-4"}},
		}
		for _, tt := range tests {
			assert.Equal(t, tt.want, ids(tt.path, "Prefer", "handling=strict"), tt.path)
			assert.Equal(t, tt.want, ids(tt.path), tt.path)
		}

		for _, path := range []string{
			q("Observation", "subject:Patient.organization.partof.partof.name", "x"),
			q("Patient", "_has:Observation:subject:_has:Provenance:target:_has:Task:focus:_has:Task:focus:status", "x"),
			q("Patient", "_has:Observation:subject:_has:Provenance:target:agent.organization.name", "x"),
			q("Patient", "_has:Observation:subject:subject:Patient.organization.partof.name", "x"),
		} {
			for _, prefer := range []string{"handling=strict", "handling=lenient"} {
				r := g.do("GET", path, "", "Prefer", prefer)
				assert.Equal(t, http.StatusBadRequest, r.status, "%s %s: %s", path, prefer, r.body)
				assert.Contains(t, r.outcome(t)["diagnostics"], "more than 3 levels", path)
			}
		}
	})
}

// Every link of a chain or _has applies the caller's practices: a link
// through another practice's resource matches nothing, at any depth.
func TestMultiLevelChainsKeepTenancy(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		// B's referral for A's patient, and B's Task about it.
		srB := s.created(t, d.navB, "ServiceRequest", `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/`+d.patA+`"}}`)
		taskB := s.created(t, d.navB, "Task", strings.Replace(taskFor(odsB, d.orgB, d.patB, "task-focus"), `"status"`, `"focus":{"reference":"ServiceRequest/`+srB+`"},"status"`, 1))
		chain := "/Task?" + url.Values{"focus:ServiceRequest.subject:Patient.family": {"Alpha"}}.Encode()
		assert.Empty(t, s.searchIDs(t, d.navB, chain, "match"), "B's Task reaches A's patient at the second link")
		assert.Equal(t, []string{taskB}, s.searchIDs(t, d.pcn, chain, "match"), "a caller of both practices finds it")

		// A's Task whose focus is B's referral for B's patient: B must
		// not learn that A holds a Task about it.
		srB2 := s.created(t, d.navB, "ServiceRequest", `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/`+d.patB+`"}}`)
		s.created(t, d.navA, "Task", strings.Replace(taskFor(odsA, d.orgA, d.patA, "task-a-focus"), `"status"`, `"focus":{"reference":"ServiceRequest/`+srB2+`"},"status"`, 1))
		has := "/Patient?" + url.Values{"_has:ServiceRequest:subject:_has:Task:focus:owner": {"Organization/" + d.orgA}}.Encode()
		assert.Empty(t, s.searchIDs(t, d.navB, has, "match"), "the second _has reaches A's Task")
		assert.Equal(t, []string{d.patB}, s.searchIDs(t, d.pcn, has, "match"))
	})
}
