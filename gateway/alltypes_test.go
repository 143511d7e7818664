package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/spec"
	"github.com/signpost-fhir/signpost/gateway"
)

// Every R4 resource type is served the same way: these are types that
// BaRS referral messages carry or that integrators send beside them.

// newlyServed are the sample types with a valid body (PATIENT and
// SCHEDULE stand for ids) and a search that must find it.
var newlyServed = []struct {
	typ, body, search string
}{
	{"Encounter", `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/PATIENT"}}`, "patient=Patient/PATIENT"},
	{"Consent", `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/PATIENT"}}`, "patient=Patient/PATIENT&status=active"},
	{"QuestionnaireResponse", `{"resourceType":"QuestionnaireResponse","status":"completed","subject":{"reference":"Patient/PATIENT"},"item":[{"linkId":"1","answer":[{"valueBoolean":true}]}]}`, "subject=Patient/PATIENT&status=completed"},
	{"MedicationStatement", `{"resourceType":"MedicationStatement","status":"active","medicationCodeableConcept":{"text":"Paracetamol 500mg tablets"},"subject":{"reference":"Patient/PATIENT"}}`, "subject=Patient/PATIENT&status=active"},
	{"AllergyIntolerance", `{"resourceType":"AllergyIntolerance","code":{"text":"Penicillin"},"patient":{"reference":"Patient/PATIENT"}}`, "patient=Patient/PATIENT"},
	{"Appointment", `{"resourceType":"Appointment","status":"booked","start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:15:00Z","participant":[{"actor":{"reference":"Patient/PATIENT"},"status":"accepted"}]}`, "patient=Patient/PATIENT&date=2026-03-01"},
	{"Slot", `{"resourceType":"Slot","schedule":{"reference":"Schedule/SCHEDULE"},"status":"free","start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:15:00Z"}`, "schedule=Schedule/SCHEDULE&status=free"},
	{"DocumentReference", `{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/PATIENT"},"content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8="}}]}`, "subject=Patient/PATIENT&status=current"},
	{"List", `{"resourceType":"List","status":"current","mode":"working","title":"Referral documents","subject":{"reference":"Patient/PATIENT"}}`, "subject=Patient/PATIENT&title=Referral"},
	{"Binary", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`, "_lastUpdated=gt2000-01-01"},
}

func TestNewlyServedTypesOverHTTP(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		pat := g.do("POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"Sample"}]}`)
		require.Equal(t, http.StatusCreated, pat.status, "%s", pat.body)
		patient := pat.json(t)["id"].(string)
		sch := g.do("POST", "/Schedule", `{"resourceType":"Schedule","actor":[{"reference":"Patient/`+patient+`"}]}`)
		require.Equal(t, http.StatusCreated, sch.status, "%s", sch.body)
		schedule := sch.json(t)["id"].(string)

		cs := g.do("GET", "/metadata", "").json(t)
		listed := map[string]bool{}
		for _, r := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
			res := r.(map[string]any)
			for _, i := range res["interaction"].([]any) {
				if i.(map[string]any)["code"] == "search-type" {
					listed[res["type"].(string)] = true
				}
			}
		}

		for _, tc := range newlyServed {
			t.Run(tc.typ, func(t *testing.T) {
				assert.True(t, listed[tc.typ], "the CapabilityStatement lists %s with search", tc.typ)
				fill := strings.NewReplacer("PATIENT", patient, "SCHEDULE", schedule)
				body := fill.Replace(tc.body)

				created := g.do("POST", "/"+tc.typ, body)
				require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
				id := created.json(t)["id"].(string)
				assert.Equal(t, "1", created.json(t)["meta"].(map[string]any)["versionId"])

				read := g.do("GET", "/"+tc.typ+"/"+id, "")
				require.Equal(t, http.StatusOK, read.status, "%s", read.body)
				sent := mustDecode(t, body)
				sent["id"] = id
				assert.Equal(t, withoutServerMeta(sent, false), withoutServerMeta(read.json(t), false))

				// A second version, then history of the instance and the type.
				got := read.json(t)
				got["language"] = "en-GB"
				b, err := fhir.EncodeJSON(got)
				require.NoError(t, err)
				upd := g.do("PUT", "/"+tc.typ+"/"+id, string(b))
				require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
				hist := g.do("GET", "/"+tc.typ+"/"+id+"/_history", "")
				require.Equal(t, http.StatusOK, hist.status, "%s", hist.body)
				assert.Len(t, hist.json(t)["entry"], 2, "two versions")
				v1 := g.do("GET", "/"+tc.typ+"/"+id+"/_history/1", "")
				require.Equal(t, http.StatusOK, v1.status)
				assert.Nil(t, v1.json(t)["language"], "version 1 as it was")
				typeHist := g.do("GET", "/"+tc.typ+"/_history", "")
				require.Equal(t, http.StatusOK, typeHist.status, "%s", typeHist.body)
				assert.Len(t, typeHist.json(t)["entry"], 2)

				// Search by the type's own R4 parameters, strictly.
				q := fill.Replace(tc.search)
				assert.Equal(t, []string{id}, searchIDsOf(t, g, "/"+tc.typ+"?"+q), q)
				assert.Empty(t, searchIDsOf(t, g, "/"+tc.typ+"?_id=other&"+q))

				// Validation is the package's: an element the type does not
				// have is refused under strict handling, and nothing is stored.
				bad := g.do("POST", "/"+tc.typ, strings.Replace(body, `{"resourceType":"`+tc.typ+`",`, `{"resourceType":"`+tc.typ+`","nonsense":1,`, 1), "Prefer", "handling=strict")
				assert.Contains(t, []int{400, 422}, bad.status, "%s", bad.body)
				assert.Equal(t, "OperationOutcome", bad.json(t)["resourceType"])
				assert.Len(t, searchIDsOf(t, g, "/"+tc.typ+"?"+q), 1, "the refused write stored nothing")

				// And it can be removed.
				require.Equal(t, http.StatusNoContent, g.do("DELETE", "/"+tc.typ+"/"+id, "").status)
				assert.Equal(t, http.StatusGone, g.do("GET", "/"+tc.typ+"/"+id, "").status)
			})
		}
	})
}

func searchIDsOf(t *testing.T, g *testGateway, path string) []string {
	t.Helper()
	r := g.do("GET", path, "", "Prefer", "handling=strict")
	require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	return entryIDs(t, r.json(t), "match")
}

// TestEveryR4TypeIsServed: the registry, and so the CapabilityStatement,
// holds every concrete R4 type but those with rules of their own.
func TestEveryR4TypeIsServed(t *testing.T) {
	t.Parallel()
	r := gateway.DefaultRegistry()
	for _, typ := range spec.ResourceTypes() {
		switch typ {
		case "Parameters", "OperationDefinition", "SearchParameter", "PlanDefinition":
			assert.False(t, r.Serves(typ), "%s is served by its owner, or never stored", typ)
		case "AuditEvent", "Bundle":
			assert.Equal(t, []gateway.Interaction{gateway.Read, gateway.VRead, gateway.Create, gateway.SearchType, gateway.HistoryInstance, gateway.HistoryType},
				r.Interactions(typ), "%s is append-only", typ)
		default:
			assert.True(t, r.Supports(typ, gateway.Update) && r.Supports(typ, gateway.SearchType) && r.Supports(typ, gateway.Delete), "%s is served", typ)
		}
	}
	assert.Greater(t, len(r.Types()), 140)
}

// A stored Bundle is a document, message or collection, kept as it was.
func TestBundlesAreStoredAppendOnly(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		doc := `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0f3f7d4c-3b7a-4f5e-9d8f-6a1f2f0b9c11","resource":{"resourceType":"Patient","name":[{"family":"Kept"}]}}]}`
		r := g.do("POST", "/Bundle", doc)
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		id := r.json(t)["id"].(string)
		got := g.do("GET", "/Bundle/"+id, "")
		require.Equal(t, http.StatusOK, got.status)
		assert.Equal(t, "urn:uuid:0f3f7d4c-3b7a-4f5e-9d8f-6a1f2f0b9c11", got.json(t)["entry"].([]any)[0].(map[string]any)["fullUrl"], "a stored Bundle is not processed")
		assert.Equal(t, []string{id}, searchIDsOf(t, g, "/Bundle?type=collection"))
		assert.Empty(t, searchIDsOf(t, g, "/Patient?family=Kept"), "its entries are not stored as resources")

		for _, kind := range []string{"transaction", "batch", "searchset"} {
			r := g.do("POST", "/Bundle", `{"resourceType":"Bundle","type":"`+kind+`"}`)
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", kind, r.body)
			assert.Contains(t, string(r.body), "Bundle.type")
		}
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("PUT", "/Bundle/"+id, strings.Replace(doc, `{"resourceType":"Bundle",`, `{"resourceType":"Bundle","id":"`+id+`",`, 1)).status)
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("DELETE", "/Bundle/"+id, "").status)

		// Parameters is the body of operations, never stored.
		r = g.do("POST", "/Parameters", `{"resourceType":"Parameters"}`)
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		assert.Equal(t, "not-supported", r.outcome(t)["code"])
	})
}

// A newly served patient-linked type is under practice tenancy, with
// tokens of a real issuer.
func TestNewlyServedTypesHaveTenancy(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		enc := func(patient string) string {
			return `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/` + patient + `"}}`
		}
		before := s.audits(t)
		encA := s.created(t, d.navA, "Encounter", enc(d.patA))
		assert.Greater(t, s.audits(t), before, "the write of patient data is audited")

		r := s.as(d.navA, "GET", "/Encounter/"+encA, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Contains(t, string(r.body), `"code":"`+odsA+`"`, "stamped with A's practice")

		for _, p := range []string{"/Encounter/" + encA, "/Encounter/" + encA + "/_history/1", "/Encounter/" + encA + "/_history"} {
			assert.Equal(t, http.StatusNotFound, s.as(d.navB, "GET", p, "").status, "B does not see A's %s", p)
		}
		assert.Empty(t, s.searchIDs(t, d.navB, "/Encounter?subject=Patient/"+d.patA, "match"))
		assert.Empty(t, s.searchIDs(t, d.navB, "/Encounter", "match"))
		assert.Equal(t, []string{encA}, s.searchIDs(t, d.navA, "/Encounter?subject=Patient/"+d.patA, "match"))
		assert.Equal(t, []string{encA}, s.searchIDs(t, d.pcn, "/Encounter", "match"), "a caller of both practices sees it")
		assert.Equal(t, []string{encA}, s.searchIDs(t, d.navA, "/Patient/"+d.patA+"/Encounter", "match"), "the Patient compartment holds it")

		// B can neither change nor remove it, nor label one with A's practice.
		upd := strings.Replace(enc(d.patA), `{"resourceType":"Encounter",`, `{"resourceType":"Encounter","id":"`+encA+`",`, 1)
		assert.Equal(t, http.StatusNotFound, s.as(d.navB, "DELETE", "/Encounter/"+encA, "").status)
		assert.Equal(t, http.StatusNotFound, s.as(d.navB, "PATCH", "/Encounter/"+encA, `[{"op":"add","path":"/language","value":"en"}]`, "Content-Type", "application/json-patch+json").status)
		tagged := strings.Replace(enc(d.patB), `{"resourceType":"Encounter",`, `{"resourceType":"Encounter","meta":{"security":[{"system":"`+practiceSys+`","code":"`+odsA+`"}]},`, 1)
		assert.Equal(t, http.StatusForbidden, s.as(d.navB, "POST", "/Encounter", tagged).status)
		r = s.as(d.navB, "PUT", "/Encounter/"+encA, upd)
		assert.NotContains(t, []int{200, 201}, r.status, "B cannot overwrite A's Encounter: %s", r.body)
		assert.Equal(t, http.StatusOK, s.as(d.navA, "GET", "/Encounter/"+encA+"/_history/1", "").status)
		assert.Equal(t, []string{encA}, s.searchIDs(t, d.navA, "/Encounter?_id="+encA, "match"))

		// Publishers of the directory do not read patient data.
		assert.NotEqual(t, http.StatusOK, s.as(d.publisher, "GET", "/Encounter/"+encA, "").status)
		assert.NotEqual(t, http.StatusOK, s.as(d.publisher, "GET", "/Encounter?"+url.Values{"_id": {encA}}.Encode(), "").status)

		// Bundle and Binary, Signpost's additions, are under tenancy too.
		bin := s.created(t, d.navA, "Binary", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`)
		assert.Equal(t, http.StatusNotFound, s.as(d.navB, "GET", "/Binary/"+bin, "").status)
		assert.Equal(t, http.StatusOK, s.as(d.navA, "GET", "/Binary/"+bin, "").status)
		doc := s.created(t, d.navA, "Bundle", fmt.Sprintf(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":%q}}]}`, d.patA))
		assert.Equal(t, http.StatusNotFound, s.as(d.navB, "GET", "/Bundle/"+doc, "").status)
		assert.Empty(t, s.searchIDs(t, d.navB, "/Bundle", "match"))
	})
}

// The CapabilityStatement, half a megabyte with every type, is generated
// once per base: a request naming another host gets its own base.
func TestCapabilityStatementNamesTheRequestsBase(t *testing.T) {
	t.Parallel()
	g := newGateway(t, gateway.Options{Store: stores[0].open(t)})
	for _, host := range []string{"a.example", "b.example", "a.example"} {
		req, err := http.NewRequest("GET", g.base+"/metadata", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var cs map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&cs))
		resp.Body.Close()
		assert.Equal(t, "http://"+host+"/fhir", cs["implementation"].(map[string]any)["url"], host)
	}
}
