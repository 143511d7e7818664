package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The defects an integrator hits when driving the API against the R4
// specification, each over HTTP on both stores.

// TestBundleURLQueryMayHoldAbsoluteURLs: a request.url whose query holds
// "://" (an NHS number's system, a reference to another server) is on
// this server; only a path naming another server is refused.
func TestBundleURLQueryMayHoldAbsoluteURLs(t *testing.T) {
	t.Parallel()
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

// TestMalformedPercentEncodingIsRefused: a malformed escape in a query
// (family=%zz) is a 400, lenient or strict, never a search for
// everything.
func TestMalformedPercentEncodingIsRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		require.Equal(t, http.StatusCreated, g.do("POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"Ada"}]}`).status)
		for _, h := range [][]string{nil, {"Prefer", "handling=strict"}} {
			for _, q := range []string{"/Patient?family=%zz", "/Patient?family=Ada&given=%4", "/Patient/_history?_since=%zz"} {
				r := g.do("GET", q, "", h...)
				assert.Equal(t, http.StatusBadRequest, r.status, "%s %v: %s", q, h, r.body)
				if r.status == http.StatusBadRequest {
					assert.Contains(t, r.outcome(t)["diagnostics"], "malformed")
				}
			}
		}
		del := g.do("DELETE", "/Patient?family=%zz", "")
		assert.Equal(t, http.StatusBadRequest, del.status, "%s", del.body)
		assert.Equal(t, 1, total(t, g, "/Patient?family=Ada"), "nothing was deleted")
	})
}

// TestReadHonoursSummaryAndElements: _summary and _elements subset a read
// and a vread as they do a search, marked SUBSETTED.
func TestReadHonoursSummaryAndElements(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := `{"resourceType":"Patient","id":"sum1","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Ada</div>"},"name":[{"family":"Lovelace"}],"gender":"female","birthDate":"1815-12-10","maritalStatus":{"text":"married"}}`
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/sum1", body).status)
		subsetted := func(obj map[string]any) bool {
			tags, _ := obj["meta"].(map[string]any)["tag"].([]any)
			for _, tg := range tags {
				if tg.(map[string]any)["code"] == "SUBSETTED" {
					return true
				}
			}
			return false
		}
		for _, path := range []string{"/Patient/sum1", "/Patient/sum1/_history/1"} {
			r := g.do("GET", path+"?_summary=true", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			obj := r.json(t)
			assert.Contains(t, obj, "name")
			assert.Contains(t, obj, "birthDate")
			assert.NotContains(t, obj, "maritalStatus", "not a summary element")
			assert.NotContains(t, obj, "text")
			assert.True(t, subsetted(obj), path)

			obj = g.do("GET", path+"?_elements=gender", "").json(t)
			assert.Equal(t, "female", obj["gender"])
			assert.NotContains(t, obj, "name")
			assert.NotContains(t, obj, "birthDate")
			assert.True(t, subsetted(obj))

			obj = g.do("GET", path+"?_summary=data", "").json(t)
			assert.NotContains(t, obj, "text")
			assert.Contains(t, obj, "maritalStatus")

			obj = g.do("GET", path+"?_summary=text", "").json(t)
			assert.Contains(t, obj, "text")
			assert.NotContains(t, obj, "gender")

			obj = g.do("GET", path+"?_summary=false", "").json(t)
			assert.Contains(t, obj, "maritalStatus")
			assert.False(t, subsetted(obj), "the whole resource")

			assert.Equal(t, http.StatusBadRequest, g.do("GET", path+"?_summary=bogus", "").status)
			assert.Equal(t, http.StatusBadRequest, g.do("GET", path+"?_summary=true&_elements=gender", "").status)
		}
		// The same in a batch's read and vread entries.
		b := g.do("POST", "", txBundle(t, "batch",
			txEntry{Request: req("GET", "Patient/sum1?_elements=gender")},
			txEntry{Request: req("GET", "Patient/sum1/_history/1?_summary=true")},
			txEntry{Request: req("GET", "Patient/sum1?_summary=bogus")},
		))
		require.Equal(t, http.StatusOK, b.status, "%s", b.body)
		entries := b.json(t)["entry"].([]any)
		first := entries[0].(map[string]any)["resource"].(map[string]any)
		assert.Equal(t, "female", first["gender"])
		assert.NotContains(t, first, "name")
		assert.True(t, subsetted(first))
		second := entries[1].(map[string]any)["resource"].(map[string]any)
		assert.NotContains(t, second, "maritalStatus")
		assert.True(t, subsetted(second))
		assert.Equal(t, "400 Bad Request", entries[2].(map[string]any)["response"].(map[string]any)["status"])
	})
}

// TestMethodNotAllowedListsWhatIsAllowed: a 405's Allow header names the
// methods the URL accepts, never the one just refused.
func TestMethodNotAllowedListsWhatIsAllowed(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		for _, tt := range []struct {
			method, path string
			allow        string
		}{
			{"DELETE", "/metadata", "GET, HEAD"},
			{"POST", "/Patient/abc", "GET, HEAD, PUT, PATCH, DELETE"},
			{"PUT", "/Patient", "GET, HEAD, POST"},
			{"DELETE", "/Patient/abc/_history", "GET, HEAD"},
			{"GET", "/Patient/_search", "POST"},
			{"GET", "", "POST"},
		} {
			r := g.do(tt.method, tt.path, "")
			require.Equal(t, http.StatusMethodNotAllowed, r.status, "%s %s: %s", tt.method, tt.path, r.body)
			assert.Equal(t, tt.allow, r.header.Get("Allow"), "%s %s", tt.method, tt.path)
			assert.NotContains(t, r.header.Get("Allow"), tt.method)
		}
	})
}

// TestFormatAndVersionNegotiation: an unencoded _format=application/fhir+json
// is JSON; a fhirVersion other than R4's is not acceptable (406) in
// Accept or _format, nor readable (415) in Content-Type; _pretty=true
// indents the answer.
func TestFormatAndVersionNegotiation(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		r := g.do("GET", "/metadata?_format=application/fhir+json", "")
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, http.StatusNotAcceptable, g.do("GET", "/metadata", "", "Accept", "application/fhir+json; fhirVersion=3.0").status)
		assert.Equal(t, http.StatusNotAcceptable, g.do("GET", "/metadata?_format="+url.QueryEscape("application/fhir+json; fhirVersion=5.0"), "").status)
		assert.Equal(t, http.StatusOK, g.do("GET", "/metadata", "", "Accept", "application/fhir+json; fhirVersion=4.0").status)
		assert.Equal(t, http.StatusOK, g.do("GET", "/metadata", "", "Accept", "application/fhir+json; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0").status)
		put := g.do("POST", "/Patient", `{"resourceType":"Patient"}`, "Content-Type", "application/fhir+json; fhirVersion=3.0")
		assert.Equal(t, http.StatusUnsupportedMediaType, put.status, "%s", put.body)
		assert.Equal(t, 0, total(t, g, "/Patient"))

		plain := g.do("GET", "/metadata", "")
		pretty := g.do("GET", "/metadata?_pretty=true", "")
		require.Equal(t, http.StatusOK, pretty.status)
		assert.NotContains(t, string(plain.body), "\n  \"")
		assert.Contains(t, string(pretty.body), "\n  \"resourceType\": \"CapabilityStatement\"")
		assert.True(t, fhir.Equal(plain.json(t), pretty.json(t)))
	})
}

// TestQuantitySearchUpperBoundIsExclusive: a searched value's precision
// range is half-open (R4 3.1.1.4.2, as HAPI FHIR takes it): 5.4 is at
// least 5.35 and less than 5.45.
func TestQuantitySearchUpperBoundIsExclusive(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		for _, v := range []string{"5.35", "5.4", "5.45"} {
			body := `{"resourceType":"Observation","id":"q` + strings.ReplaceAll(v, ".", "-") + `","status":"final","code":{"text":"x"},"valueQuantity":{"value":` + v + `,"system":"http://unitsofmeasure.org","code":"mg"}}`
			require.Equal(t, http.StatusCreated, g.do("PUT", "/Observation/q"+strings.ReplaceAll(v, ".", "-"), body).status)
		}
		ids := func(path string) []string {
			r := g.do("GET", path, "", "Prefer", "handling=strict")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var out []string
			list, _ := r.json(t)["entry"].([]any)
			for _, e := range list {
				out = append(out, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
			}
			return out
		}
		for _, tt := range []struct{ q, want string }{
			{"5.4", "5-35 5-4"},
			{"eq5.4", "5-35 5-4"},
			{"ne5.4", "5-45"},
			{"sa5.4", "5-45"},
		} {
			assert.ElementsMatch(t, strings.Fields(strings.ReplaceAll(tt.want, "5-", "q5-")), ids("/Observation?value-quantity="+tt.q+"|http://unitsofmeasure.org|mg"), "quantity %s", tt.q)
		}
	})
}

// TestHistoryAtIsThePeriodOfItsPrecision: _history?_at=T keeps the
// versions current at some point of the period T's precision gives
// (R4 3.1.0.5.1), not those as of its start.
func TestHistoryAtIsThePeriodOfItsPrecision(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		var stamps []string
		for i, family := range []string{"One", "Two", "Three"} {
			r := g.do("PUT", "/Patient/at1", `{"resourceType":"Patient","id":"at1","name":[{"family":"`+family+`"}]}`)
			require.Contains(t, []int{200, 201}, r.status, "%s", r.body)
			meta := r.json(t)["meta"].(map[string]any)
			require.Equal(t, fmt.Sprint(i+1), meta["versionId"])
			stamps = append(stamps, meta["lastUpdated"].(string))
		}
		versions := func(at string, extra ...string) []string {
			q := url.Values{"_at": {at}}
			r := g.do("GET", "/Patient/at1/_history?"+q.Encode()+strings.Join(extra, ""), "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var out []string
			list, _ := r.json(t)["entry"].([]any)
			for _, e := range list {
				out = append(out, e.(map[string]any)["resource"].(map[string]any)["meta"].(map[string]any)["versionId"].(string))
			}
			return out
		}
		year, day := stamps[0][:4], stamps[0][:10]
		assert.ElementsMatch(t, []string{"1", "2", "3"}, versions(year), "every version was current during the year")
		assert.ElementsMatch(t, []string{"1", "2", "3"}, versions(day), "and during the day")
		assert.ElementsMatch(t, []string{"2"}, versions(stamps[1]), "at version 2's instant only version 2 is current")
		assert.ElementsMatch(t, []string{"3"}, versions(stamps[2]))
		assert.Empty(t, versions("2020"), "it did not exist then")
		for _, level := range []string{"/Patient/_history", "/_history"} {
			r := g.do("GET", level+"?_at="+url.QueryEscape(stamps[1]), "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var got []string
			for _, e := range withoutAudit(r.json(t)) {
				res := e.(map[string]any)["resource"].(map[string]any)
				got = append(got, res["id"].(string)+"/"+res["meta"].(map[string]any)["versionId"].(string))
			}
			assert.Equal(t, []string{"at1/2"}, got, level)
		}

		// Paging keeps _at and pins the later pages.
		r := g.do("GET", "/Patient/at1/_history?_count=1&_at="+year, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.Equal(t, "3", fmt.Sprint(b["total"]))
		var next string
		for _, l := range b["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		require.NotEmpty(t, next)
		assert.Contains(t, next, "_at="+year)
		require.Equal(t, http.StatusOK, g.do("PUT", "/Patient/at1", `{"resourceType":"Patient","id":"at1","name":[{"family":"Four"}]}`).status)
		p2 := g.do("GET", next, "")
		require.Equal(t, http.StatusOK, p2.status, "%s", p2.body)
		assert.Equal(t, "3", fmt.Sprint(p2.json(t)["total"]), "a version written after the first page is not in later ones")
	})
}

// TestRepeatedConditionalEntriesInOneTransaction: two conditional creates
// with the same criteria make one resource (the second answers with it,
// and references to either fullUrl point at it); two conditional updates
// with the same criteria act twice on one identity and fail the
// transaction, nothing stored.
func TestRepeatedConditionalEntriesInOneTransaction(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		crit := byNumber("9000000017")
		r := g.do("POST", "", txBundle(t, "transaction",
			txEntry{FullURL: "urn:uuid:6f1f3b6e-0000-4000-8000-00000000000a", Resource: res(t, patientWith("9000000017")), Request: req("POST", "Patient", "ifNoneExist", crit)},
			txEntry{FullURL: "urn:uuid:6f1f3b6e-0000-4000-8000-00000000000b", Resource: res(t, patientWith("9000000017")), Request: req("POST", "Patient", "ifNoneExist", crit)},
			txEntry{Resource: res(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:6f1f3b6e-0000-4000-8000-00000000000b"}}`), Request: req("POST", "Observation")},
		))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		rs := responses(t, r.json(t))
		assert.Equal(t, "201 Created", rs[0]["status"])
		assert.Equal(t, "200 OK", rs[1]["status"])
		assert.Equal(t, rs[0]["location"], rs[1]["location"])
		id := locationID(t, rs[0])
		assert.Equal(t, 1, total(t, g, "/Patient?"+crit), "one Patient")
		assert.Equal(t, 1, total(t, g, "/Observation?subject=Patient/"+id), "the reference names it")

		again := g.do("POST", "/Patient", patientWith("9000000017"), "If-None-Exist", crit)
		assert.Equal(t, http.StatusOK, again.status, "a later conditional create finds the one: %s", again.body)

		crit2 := "Patient?" + byNumber("9000000025")
		u := g.do("POST", "", txBundle(t, "transaction",
			txEntry{Resource: res(t, patientWith("9000000025")), Request: req("PUT", crit2)},
			txEntry{Resource: res(t, patientWith("9000000025", `,"active":true`)), Request: req("PUT", crit2)},
		))
		assert.Equal(t, http.StatusBadRequest, u.status, "%s", u.body)
		assert.Equal(t, 0, total(t, g, "/"+crit2), "nothing stored")
		mixed := g.do("POST", "", txBundle(t, "transaction",
			txEntry{Resource: res(t, patientWith("9000000025")), Request: req("POST", "Patient", "ifNoneExist", byNumber("9000000025"))},
			txEntry{Resource: res(t, patientWith("9000000025", `,"active":true`)), Request: req("PUT", crit2)},
		))
		assert.Equal(t, http.StatusBadRequest, mixed.status, "%s", mixed.body)
		assert.Equal(t, 0, total(t, g, "/"+crit2), "nothing stored")
	})
}

// TestTransactionRewritesTemporaryIDsBeyondReferences: a temporary id is
// rewritten in uri elements (one or repeated, in extensions too) and in
// narrative links as in references (R4 3.1.0.11.2); a string that
// happens to hold it (Identifier.value) is not a link and is kept.
func TestTransactionRewritesTemporaryIDsBeyondReferences(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		const tmp = "urn:uuid:6f1f3b6e-0000-4000-8000-0000000000c1"
		div := `<div xmlns="http://www.w3.org/1999/xhtml">About <a href="` + tmp + `">the patient</a> <img src="` + tmp + `"/></div>`
		obs := map[string]any{
			"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
			"text":       map[string]any{"status": "generated", "div": div},
			"subject":    map[string]any{"reference": tmp},
			"identifier": []any{map[string]any{"system": "urn:ietf:rfc:3986", "value": tmp}},
			"extension":  []any{map[string]any{"url": "https://signpost.example/fhir/StructureDefinition/about", "valueUri": tmp}},
		}
		prov := res(t, `{"resourceType":"Provenance","target":[{"reference":"`+tmp+`"}],"recorded":"2026-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}],"policy":["`+tmp+`","https://other.example/policy"]}`)
		r := g.do("POST", "", txBundle(t, "transaction",
			txEntry{FullURL: tmp, Resource: res(t, `{"resourceType":"Patient","name":[{"family":"Links"}]}`), Request: req("POST", "Patient")},
			txEntry{Resource: obs, Request: req("POST", "Observation")},
			txEntry{Resource: prov, Request: req("POST", "Provenance")},
		))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		rs := responses(t, r.json(t))
		patient := "Patient/" + locationID(t, rs[0])

		o := g.do("GET", "/Observation/"+locationID(t, rs[1]), "").json(t)
		assert.Equal(t, patient, o["subject"].(map[string]any)["reference"])
		assert.Equal(t, patient, o["extension"].([]any)[0].(map[string]any)["valueUri"])
		text := o["text"].(map[string]any)["div"].(string)
		assert.Contains(t, text, `href="`+patient+`"`)
		assert.Contains(t, text, `src="`+patient+`"`)
		assert.NotContains(t, text, tmp)
		assert.Equal(t, tmp, o["identifier"].([]any)[0].(map[string]any)["value"], "a string is not a link")

		p := g.do("GET", "/Provenance/"+locationID(t, rs[2]), "").json(t)
		assert.Equal(t, []any{patient, "https://other.example/policy"}, p["policy"])
	})
}

// TestCapabilityOperationsResolve: every OperationDefinition of Signpost's
// own that the CapabilityStatement names can be read, valid R4, and says
// what the CapabilityStatement says.
func TestCapabilityOperationsResolve(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			ctx := context.Background()
			term := seededTerminology(t, s)
			g := newGateway(t, gateway.Options{Store: s}, func(srv *gateway.Server) {
				srv.RegisterTerminology(term)
				require.NoError(t, srv.RegisterDirectory(ctx, gateway.DirectoryOptions{}))
				require.NoError(t, srv.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term}))
				srv.RegisterDelivery(s.(store.Outbox))
			})
			rest := g.do("GET", "/metadata", "").json(t)["rest"].([]any)[0].(map[string]any)
			ops := map[string]string{}
			add := func(list any) {
				l, _ := list.([]any)
				for _, o := range l {
					m := o.(map[string]any)
					ops[m["name"].(string)] = m["definition"].(string)
				}
			}
			add(rest["operation"])
			for _, r := range rest["resource"].([]any) {
				add(r.(map[string]any)["operation"])
			}
			for _, name := range []string{"navigate", "delivery-status", "dead-letters", "redeliver", "match"} {
				require.Contains(t, ops, name)
			}
			prefix := gateway.DefaultCanonicalBase + "/OperationDefinition/"
			checked := 0
			for name, def := range ops {
				id, local := strings.CutPrefix(def, prefix)
				if !local {
					assert.True(t, strings.HasPrefix(def, "http://hl7.org/fhir/OperationDefinition/"), "%s: %s is neither Signpost's nor HL7's", name, def)
					continue
				}
				r := g.do("GET", "/OperationDefinition/"+id, "")
				require.Equal(t, http.StatusOK, r.status, "$%s: %s: %s", name, def, r.body)
				od := r.json(t)
				assert.Equal(t, def, od["url"], name)
				assert.Equal(t, name, od["code"])
				parsed, err := fhir.ParseResource(r.body)
				require.NoError(t, err)
				assert.NoError(t, parsed.Validate(fhir.ValidateOptions{Strict: true}), name)
				checked++
			}
			assert.GreaterOrEqual(t, checked, 5)
			assert.Equal(t, http.StatusNotFound, g.do("GET", "/OperationDefinition/no-such-operation", "").status)
		})
	}
}

// TestTextThatIsNotUnicodeIsRefused: raw invalid UTF-8 and NUL in a body,
// a Bundle entry or a search value (query or form), and a lone UTF-16
// surrogate escape, are a 400 on both stores, and nothing is stored
// (never a 500, never U+FFFD in place of what was sent).
func TestTextThatIsNotUnicodeIsRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		bodies := map[string]string{
			"raw invalid UTF-8":      "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\xff\xfeb\"}]}",
			"truncated sequence":     "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\xe2\x82\"}]}",
			"raw NUL":                "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\x00b\"}]}",
			"lone high surrogate":    `{"resourceType":"Patient","name":[{"family":"a\ud800b"}]}`,
			"lone low surrogate":     `{"resourceType":"Patient","name":[{"family":"a\udc00"}]}`,
			"reversed pair":          `{"resourceType":"Patient","name":[{"family":"\udc00\ud800"}]}`,
			"transaction, raw bytes": "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"POST\",\"url\":\"Patient\"},\"resource\":{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xc3\x28\"}]}}]}",
		}
		for name, body := range bodies {
			path := "/Patient"
			if strings.Contains(body, "Bundle") {
				path = ""
			}
			r := g.do("POST", path, body)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
			if r.status == http.StatusBadRequest {
				r.outcome(t)
			}
		}
		pair := g.do("POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"Clef \ud834\udd1e"}]}`)
		require.Equal(t, http.StatusCreated, pair.status, "a surrogate pair is one character: %s", pair.body)
		assert.Equal(t, "Clef \U0001D11E", pair.json(t)["name"].([]any)[0].(map[string]any)["family"])

		for _, q := range []string{"family=%FF", "family=a%C3%28", "family=%ED%A0%80", "family=%00"} {
			assert.Equal(t, http.StatusBadRequest, g.do("GET", "/Patient?"+q, "").status, q)
			assert.Equal(t, http.StatusBadRequest, g.do("POST", "/Patient/_search", q, "Content-Type", "application/x-www-form-urlencoded").status, q)
		}
		assert.Equal(t, 1, total(t, g, "/Patient"), "only the valid one was stored")
	})
}

// TestInputMessagesNameWhatIsWrong: a null in an array names its element;
// a UTF-8 byte order mark before the JSON is ignored (RFC 8259 8.1), as
// HAPI FHIR does, rather than reported as an unexpected character.
func TestInputMessagesNameWhatIsWrong(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		r := g.do("POST", "/Patient", `{"resourceType":"Patient","name":[null]}`)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		assert.Contains(t, r.outcome(t)["diagnostics"], "Patient.name")
		r = g.do("POST", "/Patient", `{"resourceType":"Patient","gender":null}`)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		assert.Contains(t, r.outcome(t)["diagnostics"], "Patient.gender")

		bom := g.do("POST", "/Patient", "\xef\xbb\xbf"+`{"resourceType":"Patient","name":[{"family":"Bom"}]}`)
		require.Equal(t, http.StatusCreated, bom.status, "%s", bom.body)
		assert.Equal(t, 1, total(t, g, "/Patient?family=Bom"))
	})
}

// TestPutIfNoneMatch: If-None-Match: * makes a PUT create-only (412 when
// the resource exists, nothing written), also under concurrent PUTs; a
// listed version fails only when it is the current one.
func TestPutIfNoneMatch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := func(family string) string {
			return `{"resourceType":"Patient","id":"inm1","name":[{"family":"` + family + `"}]}`
		}
		first := g.do("PUT", "/Patient/inm1", body("One"), "If-None-Match", "*")
		require.Equal(t, http.StatusCreated, first.status, "%s", first.body)
		again := g.do("PUT", "/Patient/inm1", body("Two"), "If-None-Match", "*")
		assert.Equal(t, http.StatusPreconditionFailed, again.status, "%s", again.body)
		cur := g.do("GET", "/Patient/inm1", "").json(t)
		assert.Equal(t, "1", cur["meta"].(map[string]any)["versionId"])
		assert.Equal(t, "One", cur["name"].([]any)[0].(map[string]any)["family"])

		assert.Equal(t, http.StatusPreconditionFailed, g.do("PUT", "/Patient/inm1", body("Two"), "If-None-Match", `W/"1"`).status)
		assert.Equal(t, http.StatusOK, g.do("PUT", "/Patient/inm1", body("Two"), "If-None-Match", `W/"7"`).status)

		require.Equal(t, http.StatusNoContent, g.do("DELETE", "/Patient/inm1", "").status)
		assert.Contains(t, []int{200, 201}, g.do("PUT", "/Patient/inm1", body("Three"), "If-None-Match", "*").status, "a deleted resource may be made again")

		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i] = g.do("PUT", "/Patient/inm2", `{"resourceType":"Patient","id":"inm2","name":[{"family":"R`+fmt.Sprint(i)+`"}]}`, "If-None-Match", "*").status
			}(i)
		}
		wg.Wait()
		created := 0
		for _, st := range statuses {
			if st == http.StatusCreated {
				created++
			} else {
				assert.Equal(t, http.StatusPreconditionFailed, st)
			}
		}
		assert.Equal(t, 1, created, "%v", statuses)
		assert.Equal(t, "1", g.do("GET", "/Patient/inm2", "").json(t)["meta"].(map[string]any)["versionId"])
	})
}

// TestOversizedRequestLineIsAnOperationOutcome: a request line or header
// fields beyond the limit are a 431 OperationOutcome, not plain text.
func TestOversizedRequestLineIsAnOperationOutcome(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		long := strings.Repeat("a", gateway.DefaultMaxHeaderBytes+1)
		for _, r := range []reply{
			g.do("GET", "/Patient?family="+long, ""),
			g.do("GET", "/Patient", "", "X-Long", long),
		} {
			require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.status, "%.200s", r.body)
			assert.Contains(t, r.header.Get("Content-Type"), "application/fhir+json")
			assert.Equal(t, "too-long", r.outcome(t)["code"])
		}
		assert.Equal(t, http.StatusOK, g.do("GET", "/Patient?family="+long[:1000], "").status, "a long search under the limit is served")
	})
}
