package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// replaceDirExt replaces s's extension id with e (nil: removes it).
func replaceDirExt(s map[string]any, id string, e map[string]any) {
	var out []any
	for _, x := range s["extension"].([]any) {
		if x.(map[string]any)["url"] != dirNames.Extension(id) {
			out = append(out, x)
		}
	}
	if e != nil {
		out = append(out, e)
	}
	s["extension"] = out
}

// matchFixtures are variants of the first contact physiotherapy entry,
// each excluded for one reason (or matched), and a pharmacy.
func matchFixtures(t *testing.T) []map[string]any {
	base := fcp(t)
	variant := func(value, name string, change func(map[string]any)) map[string]any {
		s := deepCopy(base).(map[string]any)
		s["identifier"].([]any)[0].(map[string]any)["value"] = value
		s["name"] = name
		if change != nil {
			change(s)
		}
		return s
	}
	return []map[string]any{
		variant("fcp-1", "FCP Hyde Park", nil),
		variant("fcp-2", "FCP elsewhere", func(s map[string]any) {
			replaceDirExt(s, mapping.ExtCatchment, map[string]any{"url": dirNames.Extension(mapping.ExtCatchment), "extension": []any{
				map[string]any{"url": "postcodeDistrict", "valueString": "LS17"}}})
		}),
		variant("fcp-3", "FCP full", func(s map[string]any) {
			replaceDirExt(s, mapping.ExtCapacity, map[string]any{"url": dirNames.Extension(mapping.ExtCapacity), "extension": []any{
				map[string]any{"url": "status", "valueCode": "not-accepting"}, map[string]any{"url": "setAt", "valueDateTime": "2026-11-10T09:00:00Z"}}})
		}),
		variant("fcp-4", "FCP children", func(s map[string]any) {
			el := s["eligibility"].([]any)[0].(map[string]any)["extension"].([]any)[0].(map[string]any)
			el["extension"].([]any)[0].(map[string]any)["valueRange"] = map[string]any{"high": map[string]any{"value": json.Number("17"), "system": mapping.UCUMSystem, "code": "a"}}
		}),
		variant("fcp-5", "FCP without BSL", func(s map[string]any) { delete(s, "characteristic") }),
		variant("pharm-1", "Pharmacy", func(s map[string]any) {
			s["type"] = []any{map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "310080006"}}}}
		}),
	}
}

// searchLinks are a searchset's links by relation.
func searchLinks(t *testing.T, r reply) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range r.json(t)["link"].([]any) {
		m := l.(map[string]any)
		out[m["relation"].(string)] = m["url"].(string)
	}
	return out
}

func TestDirectoryMatchSearchDeclared(t *testing.T) {
	t.Parallel()
	eachDirectoryStore(t, func(t *testing.T, st store.Store, g *testGateway) {
		// Each parameter is a SearchParameter at its canonical URL.
		for _, p := range mapping.MatchSearchParams {
			r := g.do("GET", "/SearchParameter/"+mapping.SearchParameterID(p.Code), "")
			require.Equal(t, http.StatusOK, r.status, "%s: %s", p.Code, r.body)
			res, err := fhir.ParseResource(r.body)
			require.NoError(t, err)
			require.NoError(t, res.Validate(fhir.ValidateOptions{Strict: true}), "%s", r.body)
			obj := res.Object()
			assert.Equal(t, dirNames.SearchParameterURL(p.Code), obj["url"])
			assert.True(t, strings.HasPrefix(obj["url"].(string), dirNames.Base()+"/SearchParameter/"))
			assert.Equal(t, p.Code, obj["code"])
			assert.Equal(t, p.Type, obj["type"])
			assert.Equal(t, []any{"HealthcareService"}, obj["base"])
		}
		// The CapabilityStatement declares them on HealthcareService, each
		// with its definition, beside the R4 ones.
		cs := g.do("GET", "/metadata", "").json(t)
		declared := map[string]string{}
		var served bool
		for _, res := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
			m := res.(map[string]any)
			if m["type"] == "SearchParameter" {
				served = true
			}
			if m["type"] != "HealthcareService" {
				continue
			}
			for _, p := range m["searchParam"].([]any) {
				pm := p.(map[string]any)
				declared[pm["name"].(string)] = pm["definition"].(string)
			}
		}
		assert.True(t, served, "SearchParameter is served (read)")
		for _, p := range mapping.MatchSearchParams {
			assert.Equal(t, dirNames.SearchParameterURL(p.Code), declared[p.Code], p.Code)
		}
		assert.Equal(t, "http://hl7.org/fhir/SearchParameter/HealthcareService-service-type", declared["service-type"])
	})
}

func TestDirectoryMatchSearch(t *testing.T) {
	t.Parallel()
	eachDirectoryStore(t, func(t *testing.T, st store.Store, g *testGateway) {
		entries := matchFixtures(t)
		for _, e := range entries {
			putEntry(t, g, e)
		}
		// Wednesday 25 November 2026, 13:00: the clinic is open.
		window := "&available-from=2026-11-25T13:00:00Z&available-to=2026-11-27T18:00:00Z"
		patient := "eligible-age=40&eligible-practice=B86001&eligible-postcode=LS6%203AA" + window + "&communication-need=315594003"
		physio := "service-type=" + url.QueryEscape(snomed.System+"|722140001")
		q := "/HealthcareService?" + physio + "&" + patient

		// The same answer as $match, with the reasons when asked.
		a := readMatch(t, g.do("GET", q+"&_explain=true", ""))
		assert.Equal(t, []string{"FCP Hyde Park", "FCP without BSL"}, a.matches)
		assert.Equal(t, []string{"1", "0.7"}, a.scores)
		assert.Equal(t, "2", a.total)
		assert.Equal(t, map[string][]string{
			"FCP elsewhere": {mapping.ReasonCatchment},
			"FCP full":      {mapping.ReasonNotAccepting},
			"FCP children":  {mapping.ReasonAge},
		}, a.excluded)
		assert.Equal(t, map[string][]string{"FCP without BSL": {mapping.NoteCommunication}}, a.notes)
		m := readMatch(t, g.do("GET", "/HealthcareService/$match?service-type=722140001&age=40&practice=B86001&postcode=LS6%203AA&from=2026-11-25T13:00:00Z&to=2026-11-27T18:00:00Z&communication-need=315594003", ""))
		assert.Equal(t, m.matches, a.matches)
		assert.Equal(t, m.excluded, a.excluded)

		// Without _explain: the matches only.
		r := g.do("GET", q, "")
		a = readMatch(t, r)
		assert.Equal(t, []string{"FCP Hyde Park", "FCP without BSL"}, a.matches)
		assert.Empty(t, a.excluded)
		assert.Len(t, r.json(t)["entry"], 2)

		// POST _search answers the same.
		r = g.do("POST", "/HealthcareService/_search", strings.TrimPrefix(q, "/HealthcareService?")+"&_explain=true", "Content-Type", "application/x-www-form-urlencoded")
		assert.Equal(t, []string{"FCP Hyde Park", "FCP without BSL"}, readMatch(t, r).matches)

		// Without a service type every service is a candidate: the
		// pharmacy has no catchment and matches too.
		a = readMatch(t, g.do("GET", "/HealthcareService?"+patient+"&_explain=true", ""))
		assert.Equal(t, []string{"FCP Hyde Park", "Pharmacy", "FCP without BSL"}, a.matches)
		assert.Len(t, a.excluded, 3)

		// accepting=true alone: open and accepting in the window.
		a = readMatch(t, g.do("GET", "/HealthcareService?accepting=true"+window+"&_explain=true", ""))
		assert.NotContains(t, a.matches, "FCP full")
		assert.Contains(t, a.excluded["FCP full"], mapping.ReasonNotAccepting)
		assert.Contains(t, a.excluded["FCP Hyde Park"], mapping.ReasonCatchment, "a catchment excludes a patient whose practice is not given")

		// Paging: _count, next and previous, in the same order.
		r = g.do("GET", "/HealthcareService?"+patient+"&_count=2", "")
		a = readMatch(t, r)
		assert.Equal(t, []string{"FCP Hyde Park", "Pharmacy"}, a.matches)
		assert.Equal(t, "3", a.total)
		links := searchLinks(t, r)
		require.Contains(t, links, "next")
		assert.NotContains(t, links, "previous")
		assert.Contains(t, links["self"], "eligible-age=40")
		r = g.do("GET", links["next"], "")
		a = readMatch(t, r)
		assert.Equal(t, []string{"FCP without BSL"}, a.matches)
		links = searchLinks(t, r)
		assert.NotContains(t, links, "next")
		require.Contains(t, links, "previous")
		assert.Equal(t, []string{"FCP Hyde Park", "Pharmacy"}, readMatch(t, g.do("GET", links["previous"], "")).matches)

		// _summary=count: the total only.
		b := g.do("GET", "/HealthcareService?"+patient+"&_summary=count", "").json(t)
		assert.Equal(t, json.Number("3"), b["total"])
		assert.Nil(t, b["entry"])

		// Ordinary parameters narrow the candidates, through the store.
		a = readMatch(t, g.do("GET", "/HealthcareService?"+patient+"&identifier="+url.QueryEscape(entries[4]["identifier"].([]any)[0].(map[string]any)["system"].(string)+"|fcp-5")+"&_explain=true", ""))
		assert.Equal(t, []string{"FCP without BSL"}, a.matches)
		assert.Empty(t, a.excluded)
		a = readMatch(t, g.do("GET", "/HealthcareService?"+patient+"&name=pharm", ""))
		assert.Equal(t, []string{"Pharmacy"}, a.matches)

		// service-type is applied to the directory's copy; the store
		// (reached when another ordinary parameter comes with it) must
		// agree, in each form of the token.
		for _, st := range []string{"722140001", snomed.System + "|722140001", snomed.System + "|", "|722140001", "722140001,310080006", "nothing"} {
			fast := readMatch(t, g.do("GET", "/HealthcareService?service-type="+url.QueryEscape(st)+"&"+patient+"&_explain=true", ""))
			viaStore := readMatch(t, g.do("GET", "/HealthcareService?service-type="+url.QueryEscape(st)+"&_lastUpdated=gt2000-01-01&"+patient+"&_explain=true", ""))
			assert.Equal(t, viaStore.matches, fast.matches, st)
			assert.Equal(t, viaStore.excluded, fast.excluded, st)
		}

		// A child: only the children's service takes them.
		a = readMatch(t, g.do("GET", "/HealthcareService?"+physio+"&eligible-age=12&eligible-sex=female&eligible-need-group=3&eligible-practice=B86001"+window+"&_explain=true", ""))
		assert.Equal(t, []string{"FCP children"}, a.matches)
		assert.Contains(t, a.excluded["FCP Hyde Park"], mapping.ReasonAge)

		// In a batch, the same search.
		batch := map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
			map[string]any{"request": map[string]any{"method": "GET", "url": strings.TrimPrefix(q, "/")}},
		}}
		r = g.do("POST", "", jsonBody(t, batch))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		e := r.json(t)["entry"].([]any)[0].(map[string]any)
		assert.Equal(t, "200 OK", e["response"].(map[string]any)["status"])
		assert.Len(t, e["resource"].(map[string]any)["entry"], 2)
	})
}

func TestDirectoryMatchSearchRefuses(t *testing.T) {
	t.Parallel()
	eachDirectoryStore(t, func(t *testing.T, st store.Store, g *testGateway) {
		putEntry(t, g, matchFixtures(t)[0])
		for _, bad := range []string{
			"eligible-age=old",
			"eligible-age=-1",
			"eligible-age=ge30",
			"eligible-age=30&eligible-age=40",
			"eligible-birthdate=1986-13-01",
			"eligible-birthdate=2999-01-01",
			"eligible-sex=robot",
			"eligible-sex=male,female",
			"eligible-sex=" + url.QueryEscape("http://example.org|male"),
			"eligible-need-group=12",
			"eligible-postcode=Leeds",
			"eligible-age:missing=true",
			"referral-method=carrier-pigeon",
			"accepting=false",
			"available-from=2026-11-25&available-to=2026-11-24",
			"available-from=2026-01-01&available-to=2026-12-31",
			"available-from=tomorrow",
			"eligible-age=30&_explain=maybe",
			"eligible-age=30&needgroup=4", // misspelt: would widen the answer
			"eligible-age=30&_sort=name",
			"eligible-age=30&_include=HealthcareService:organization",
			"eligible-age=30&_cursor=bogus",
		} {
			r := g.do("GET", "/HealthcareService?"+bad, "")
			require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
			assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"], bad)
		}
		// Under Prefer: handling=lenient too: a matching search never
		// ignores a parameter.
		r := g.do("GET", "/HealthcareService?eligible-age=30&needgroup=4", "", "Prefer", "handling=lenient")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		// Empty values are no criterion (R4): an unknown sex.
		r = g.do("GET", "/HealthcareService?eligible-age=30&eligible-sex=", "")
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
	})
}
