package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/mapping/freetext"
)

// The clinical lexicon is data: the stored CodeSystem/clinical-lexicon,
// seeded with the shipped lexicon, extended through the API without a
// release, refused when it does not compile, and never less than the
// shipped lexicon.
func TestClinicalLexiconIsDataExtendedThroughTheAPI(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			g := newNavGateway(t, sc.open(t), nvOptions{})
			nav := nvNavigator("expert", "Y99999")
			// A configuration operator of a real issuer's token.
			admin := map[string]any{"scope": "system/CodeSystem.cruds", "role": "operator", "sub": "icb-safety-officer", "client_id": "test-app"}

			got := g.as(nav, "GET", "/CodeSystem/"+freetext.ID, "")
			require.Equal(t, http.StatusOK, got.status, "%s", got.body)
			cs := got.json(t)
			assert.Equal(t, nvBase+"/CodeSystem/"+freetext.ID, cs["url"])
			require.NotEmpty(t, cs["concept"], "the shipped lexicon is seeded")

			// Words the shipped lexicon does not know.
			problem := "My uncle has the collywobbles in his ticker"
			decide := func() nvResult {
				nhs := nvNHS(700 + len(problem))
				var sc nvScenario
				sc.Inputs.Route, sc.Inputs.Type, sc.Inputs.Problem = "online", "clinical", problem
				id := g.created(t, nav, "Task", nvTask(sc, "Y99999", nhs, "", nvNow))
				res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
				require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
				return res
			}
			before := decide()
			assert.NotContains(t, before.rules(), mapping.RuleRedFlag)

			// A clinical safety officer adds a lay phrase to the chest-pain
			// concept: the next decision reads it, with no release.
			concepts := cs["concept"].([]any)
			found := false
			for _, c := range concepts {
				cm := c.(map[string]any)
				if cm["code"] == "rf-chest-pain" {
					cm["property"] = append(cm["property"].([]any), map[string]any{"code": "match", "valueString": "collywobbles ~ ticker"})
					found = true
				}
			}
			require.True(t, found, "the shipped lexicon has a chest-pain concept")
			body, err := json.Marshal(cs)
			require.NoError(t, err)

			// Only an operator may change it: not a practice's
			// administrator.
			refused := g.as(nvAdmin("Y99999"), "PUT", "/CodeSystem/"+freetext.ID, string(body))
			assert.Equal(t, http.StatusForbidden, refused.status, "%s", refused.body)

			put := g.as(admin, "PUT", "/CodeSystem/"+freetext.ID, string(body))
			require.Equal(t, http.StatusOK, put.status, "%s", put.body)
			after := decide()
			assert.Contains(t, after.rules(), mapping.RuleRedFlag)
			explain := ""
			for _, o := range after.outputs()["rule"] {
				s, _ := o["valueString"].(string)
				explain += s + "\n"
			}
			assert.Contains(t, explain, "'collywobbles in his ticker'", "the rule cites the words that fired it")

			// A lexicon that does not compile is refused and nothing is
			// stored.
			bad := strings.Replace(string(body), `"collywobbles ~ ticker"`, `"~ broken"`, 1)
			res := g.as(admin, "PUT", "/CodeSystem/"+freetext.ID, bad)
			assert.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
			assert.Contains(t, string(res.body), "does not compile")
			cur := g.as(nav, "GET", "/CodeSystem/"+freetext.ID, "")
			assert.Equal(t, put.header.Get("ETag"), cur.header.Get("ETag"))

			// Removing a shipped pattern from the stored CodeSystem does
			// not remove it from the lexicon: the shipped one is the floor.
			var stripped map[string]any
			require.NoError(t, json.Unmarshal(body, &stripped))
			var kept []any
			for _, c := range stripped["concept"].([]any) {
				if c.(map[string]any)["code"] != "rf-chest-pain" {
					kept = append(kept, c)
				}
			}
			stripped["concept"] = kept
			sb, err := json.Marshal(stripped)
			require.NoError(t, err)
			put = g.as(admin, "PUT", "/CodeSystem/"+freetext.ID, string(sb))
			require.Equal(t, http.StatusOK, put.status, "%s", put.body)
			problem = "Crushing pain in my chest"
			assert.Contains(t, decide().rules(), mapping.RuleRedFlag)
		})
	}
}

// A stored lexicon may add what finds more, never what could discount a
// red flag: a negation word added through the API is refused.
func TestClinicalLexiconRefusesDiscountingAdditions(t *testing.T) {
	t.Parallel()
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	operator := map[string]any{"scope": "system/CodeSystem.cruds", "role": "operator", "sub": "icb-safety-officer", "client_id": "test-app"}
	cs := g.as(operator, "GET", "/CodeSystem/"+freetext.ID, "").json(t)
	for _, c := range cs["concept"].([]any) {
		cm := c.(map[string]any)
		if cm["code"] == "ctx-negation" {
			cm["property"] = append(cm["property"].([]any), map[string]any{"code": "match", "valueString": "chest"})
		}
	}
	body, err := json.Marshal(cs)
	require.NoError(t, err)
	res := g.as(operator, "PUT", "/CodeSystem/"+freetext.ID, string(body))
	assert.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	assert.Contains(t, string(res.body), "could discount red flags")
}
