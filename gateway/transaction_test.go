package gateway_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/gateway"
)

// txEntry is one Bundle entry for tests.
type txEntry struct {
	FullURL  string         `json:"fullUrl,omitempty"`
	Resource map[string]any `json:"resource,omitempty"`
	Request  map[string]any `json:"request"`
}

func txBundle(t testing.TB, kind string, entries ...txEntry) string {
	b, err := jsonMarshal(map[string]any{"resourceType": "Bundle", "type": kind, "entry": entries})
	require.NoError(t, err)
	return b
}

func jsonMarshal(v any) (string, error) {
	b, err := marshalNoEscape(v)
	return string(b), err
}

func req(method, url string, extra ...any) map[string]any {
	m := map[string]any{"method": method, "url": url}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func res(t testing.TB, s string) map[string]any {
	return mustDecodeTB(t, s)
}

// responses returns each entry's response.
func responses(t *testing.T, b map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range b["entry"].([]any) {
		out = append(out, e.(map[string]any)["response"].(map[string]any))
	}
	return out
}

// locationID is the id in a response.location (Type/id/_history/n).
func locationID(t *testing.T, resp map[string]any) string {
	t.Helper()
	parts := strings.Split(resp["location"].(string), "/")
	require.Len(t, parts, 4, "%v", resp["location"])
	return parts[1]
}

func TestTransactionRewritesTemporaryIDs(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := txBundle(t, "transaction",
			txEntry{FullURL: "urn:uuid:0b6b0e4e-0000-4000-8000-000000000003",
				Resource: res(t, `{"resourceType":"Task","status":"requested","intent":"order","basedOn":[{"reference":"urn:uuid:0b6b0e4e-0000-4000-8000-000000000002"}],"for":{"reference":"urn:uuid:0b6b0e4e-0000-4000-8000-000000000001"}}`),
				Request:  req("POST", "Task")},
			txEntry{FullURL: "urn:uuid:0b6b0e4e-0000-4000-8000-000000000002",
				Resource: res(t, `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"urn:uuid:0b6b0e4e-0000-4000-8000-000000000001"},"performer":[{"reference":"urn:oid:1.2.3.4"}]}`),
				Request:  req("POST", "ServiceRequest")},
			txEntry{FullURL: "urn:uuid:0b6b0e4e-0000-4000-8000-000000000001",
				Resource: res(t, `{"resourceType":"Patient","id":"ignored","name":[{"family":"Lovelace"}]}`),
				Request:  req("POST", "Patient")},
			txEntry{FullURL: "urn:oid:1.2.3.4",
				Resource: res(t, `{"resourceType":"HealthcareService","id":"hs-x","name":"Social prescribing"}`),
				Request:  req("PUT", "HealthcareService/hs-x")},
		)
		r := g.do("POST", "", body)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.Equal(t, "transaction-response", b["type"])
		resp := responses(t, b)
		require.Len(t, resp, 4)
		for i, want := range []string{"201 Created", "201 Created", "201 Created", "201 Created"} {
			assert.Equal(t, want, resp[i]["status"])
			assert.Equal(t, `W/"1"`, resp[i]["etag"])
			assert.NotEmpty(t, resp[i]["lastModified"])
		}
		taskID, srID, patID := locationID(t, resp[0]), locationID(t, resp[1]), locationID(t, resp[2])
		assert.NotEqual(t, "ignored", patID, "the server assigns ids on POST")
		assert.Equal(t, "hs-x", locationID(t, resp[3]))

		task := g.do("GET", "/Task/"+taskID, "").json(t)
		assert.Equal(t, "ServiceRequest/"+srID, task["basedOn"].([]any)[0].(map[string]any)["reference"])
		assert.Equal(t, "Patient/"+patID, task["for"].(map[string]any)["reference"])
		sr := g.do("GET", "/ServiceRequest/"+srID, "").json(t)
		assert.Equal(t, "Patient/"+patID, sr["subject"].(map[string]any)["reference"])
		assert.Equal(t, "HealthcareService/hs-x", sr["performer"].([]any)[0].(map[string]any)["reference"])

		// Searchable at once: the index rows came with the transaction.
		assert.Equal(t, 1, total(t, g, "/Task?based-on=ServiceRequest/"+srID))
	})
}

func TestTransactionOrderConditionalsAndGets(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		old := g.do("POST", "/Patient", patientWith("9000000009")).json(t)["id"].(string)
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/keep", `{"resourceType":"Patient","id":"keep","identifier":[{"system":"`+nhs+`","value":"9000000017"}]}`).status)

		body := txBundle(t, "transaction",
			// Listed first, processed after the DELETE: it finds nothing
			// and creates.
			txEntry{FullURL: "urn:uuid:11111111-0000-4000-8000-000000000001", Resource: res(t, patientWith("9000000009", `,"active":true`)),
				Request: req("POST", "Patient", "ifNoneExist", byNumber("9000000009"))},
			txEntry{Request: req("DELETE", "Patient?"+byNumber("9000000009"))},
			// A conditional create that finds the existing patient.
			txEntry{FullURL: "urn:uuid:11111111-0000-4000-8000-000000000002", Resource: res(t, patientWith("9000000017")),
				Request: req("POST", "Patient", "ifNoneExist", byNumber("9000000017"))},
			// References to both, one by temporary id, one conditional.
			txEntry{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"urn:uuid:11111111-0000-4000-8000-000000000002"}}`),
				Request: req("POST", "Flag")},
			txEntry{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"y"},"subject":{"reference":"Patient?`+byNumber("9000000017")+`"}}`),
				Request: req("POST", "Flag")},
			// A conditional update that creates.
			txEntry{Resource: res(t, patientWith("9000000025")), Request: req("PUT", "Patient?"+byNumber("9000000025"))},
			// GETs see the transaction's writes.
			txEntry{Request: req("GET", "Patient?"+byNumber("9000000009"))},
			txEntry{Request: req("GET", "Patient/keep")},
			txEntry{Request: req("GET", "Patient/keep/_history/1", "ifNoneMatch", `W/"1"`)},
		)
		r := g.do("POST", "/", body)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		resp := responses(t, b)
		statuses := []string{}
		for _, x := range resp {
			statuses = append(statuses, x["status"].(string))
		}
		assert.Equal(t, []string{"201 Created", "204 No Content", "200 OK", "201 Created", "201 Created", "201 Created", "200 OK", "200 OK", "304 Not Modified"}, statuses)
		assert.Equal(t, http.StatusGone, g.do("GET", "/Patient/"+old, "").status)
		assert.Equal(t, "keep", locationID(t, resp[2]))

		flags := g.do("GET", "/Flag?subject=Patient/keep", "").json(t)
		assert.EqualValues(t, "2", fmt.Sprint(flags["total"]), "both references point at the existing patient")

		found := b["entry"].([]any)[6].(map[string]any)["resource"].(map[string]any)
		assert.Equal(t, "searchset", found["type"])
		assert.EqualValues(t, "1", fmt.Sprint(found["total"]))
		assert.Equal(t, locationID(t, resp[0]), found["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["id"])
		read := b["entry"].([]any)[7].(map[string]any)
		assert.Equal(t, "keep", read["resource"].(map[string]any)["id"])
	})
}

func TestTransactionFailuresLeaveTheStoreAsItWas(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/twin", `{"resourceType":"Patient","id":"twin","identifier":[{"system":"`+nhs+`","value":"9000000009"}]}`).status)
		before := stored(t, g)
		good := []txEntry{
			{Request: req("DELETE", "Task/task-4")},
			{FullURL: "urn:uuid:22222222-0000-4000-8000-000000000001", Resource: res(t, `{"resourceType":"Patient","name":[{"family":"New"}]}`), Request: req("POST", "Patient")},
			{Resource: res(t, `{"resourceType":"Organization","id":"org-a","name":"Practice A, renamed"}`), Request: req("PUT", "Organization/org-a")},
		}
		tests := []struct {
			name   string
			bad    txEntry
			status int
			code   string
			expr   string
		}{
			{"invalid resource", txEntry{Resource: res(t, `{"resourceType":"Task","status":"bogus","intent":"order"}`), Request: req("POST", "Task")}, 422, "code-invalid", "Bundle.entry[3].resource.status"},
			{"stale ifMatch", txEntry{Resource: res(t, `{"resourceType":"Patient","id":"pat-3"}`), Request: req("PUT", "Patient/pat-3", "ifMatch", `W/"9"`)}, 412, "conflict", "Bundle.entry[3]"},
			{"several match", txEntry{Resource: res(t, patientWith("9000000009")), Request: req("PUT", "Patient?"+byNumber("9000000009"))}, 412, "multiple-matches", "Bundle.entry[3]"},
			{"conditional reference to nothing", txEntry{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient?identifier=nobody"}}`), Request: req("POST", "Flag")}, 400, "", "Bundle.entry[3]"},
			{"conditional reference to several", txEntry{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient?`+byNumber("9000000009")+`"}}`), Request: req("POST", "Flag")}, 412, "multiple-matches", "Bundle.entry[3]"},
			{"same resource twice", txEntry{Resource: res(t, `{"resourceType":"Organization","id":"org-a","name":"again"}`), Request: req("PUT", "Organization/org-a")}, 400, "invalid", "Bundle.entry[3]"},
			{"read of nothing", txEntry{Request: req("GET", "Patient/nobody")}, 404, "not-found", "Bundle.entry[3]"},
			{"append-only type", txEntry{Request: req("DELETE", "AuditEvent/a")}, 405, "not-supported", "Bundle.entry[3]"},
			{"unknown type", txEntry{Request: req("POST", "Spaceship"), Resource: res(t, `{"resourceType":"Spaceship"}`)}, 404, "not-supported", "Bundle.entry[3]"},
			{"no request", txEntry{Resource: res(t, `{"resourceType":"Patient"}`)}, 400, "", "Bundle.entry[3]"},
			{"patch that fails", txEntry{Resource: res(t, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+base64.StdEncoding.EncodeToString([]byte(`[{"op":"test","path":"/status","value":"completed"}]`))+`"}`), Request: req("PATCH", "Task/task-1")}, 422, "processing", "Bundle.entry[3]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := g.do("POST", "", txBundle(t, "transaction", append(append([]txEntry{}, good...), tt.bad)...))
				require.Equal(t, tt.status, r.status, "%s", r.body)
				is := r.outcome(t)
				if tt.code != "" {
					assert.Equal(t, tt.code, is["code"])
				}
				assert.Contains(t, fmt.Sprint(is["expression"]), tt.expr)
				assert.Contains(t, fmt.Sprint(is["diagnostics"]), "Bundle.entry[3]")
				assert.Equal(t, before, stored(t, g), "nothing was stored")
				assert.Equal(t, http.StatusOK, g.do("GET", "/Task/task-4", "").status, "the DELETE was rolled back")
				assert.Equal(t, "Practice A", g.do("GET", "/Organization/org-a", "").json(t)["name"])
			})
		}
		r := g.do("POST", "", txBundle(t, "transaction", good...))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, before+3, stored(t, g))

		for _, bad := range []string{`{"resourceType":"Patient"}`, `{"resourceType":"Bundle","type":"collection"}`, `{"resourceType":"Bundle","type":"transaction","entry":{}}`, `[]`} {
			r := g.do("POST", "", bad)
			assert.Equal(t, http.StatusBadRequest, r.status, bad)
			r.outcome(t)
		}
	})
}

func TestBatchEntriesAreIndependent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		before := stored(t, g)
		body := txBundle(t, "batch",
			txEntry{Resource: res(t, `{"resourceType":"Patient","name":[{"family":"Good"}]}`), Request: req("POST", "Patient")},
			txEntry{Resource: res(t, `{"resourceType":"Task","status":"bogus","intent":"order"}`), Request: req("POST", "Task")},
			txEntry{Request: req("GET", "Patient/nobody")},
			txEntry{Resource: res(t, `{"resourceType":"Patient","id":"pat-3"}`), Request: req("PUT", "Patient/pat-3", "ifMatch", `W/"9"`)},
			txEntry{Request: req("GET", "Task?status=requested&_count=1")},
			txEntry{Request: req("DELETE", "Task/task-4")},
			txEntry{Resource: res(t, `{"resourceType":"Patient","id":"pat-3","active":true}`), Request: req("PUT", "Patient/pat-3", "ifMatch", `W/"1"`)},
			txEntry{Request: req("GET", "Patient/pat-3/_history/1")},
			txEntry{Request: req("GET", "Patient/pat-3/_history/7")},
		)
		r := g.do("POST", "", body, "Prefer", "return=representation")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.Equal(t, "batch-response", b["type"])
		entries := b["entry"].([]any)
		want := []string{"201 Created", "422 Unprocessable Entity", "404 Not Found", "412 Precondition Failed", "200 OK", "204 No Content", "200 OK", "200 OK", "404 Not Found"}
		for i, w := range want {
			e := entries[i].(map[string]any)
			resp := e["response"].(map[string]any)
			assert.Equal(t, w, resp["status"], "entry %d: %v", i, resp)
			if strings.HasPrefix(w, "4") {
				oo := resp["outcome"].(map[string]any)
				assert.Equal(t, "OperationOutcome", oo["resourceType"])
				assert.Contains(t, fmt.Sprint(oo["issue"]), fmt.Sprintf("Bundle.entry[%d]", i))
			}
		}
		created := entries[0].(map[string]any)
		assert.Equal(t, "Good", created["resource"].(map[string]any)["name"].([]any)[0].(map[string]any)["family"], "return=representation")
		assert.Equal(t, before+3, stored(t, g), "the three good writes were stored")
	})
}

func TestBundleEntryLimit(t *testing.T) {
	t.Parallel()
	for _, s := range stores[:1] {
		g := newGateway(t, gateway.Options{Store: s.open(t), MaxBundleEntries: 3})
		var entries []txEntry
		for range 4 {
			entries = append(entries, txEntry{Resource: res(t, `{"resourceType":"Patient"}`), Request: req("POST", "Patient")})
		}
		r := g.do("POST", "", txBundle(t, "transaction", entries...))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		assert.Equal(t, "too-long", r.outcome(t)["code"])
		assert.Equal(t, http.StatusOK, g.do("POST", "", txBundle(t, "batch", entries[:3]...)).status)
	}
}

// directoryEntries are a directory publisher's sync: n
// HealthcareServices PUT under their own ids (update as create the first
// time).
func directoryEntries(t testing.TB, n int, name string) []txEntry {
	entries := make([]txEntry, n)
	for i := range entries {
		id := fmt.Sprintf("hs-%04d", i)
		entries[i] = txEntry{
			FullURL: "HealthcareService/" + id,
			Resource: res(t, fmt.Sprintf(`{"resourceType":"HealthcareService","id":%q,"active":true,"name":"%s %d",
				"providedBy":{"reference":"Organization/org-%d"},"type":[{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/service-type","code":"t%d"}]}],
				"telecom":[{"system":"phone","value":"0100 000 %04d"}]}`, id, name, i, i%20, i%7, i)),
			Request: req("PUT", "HealthcareService/"+id),
		}
	}
	return entries
}

// TestDirectoryTransactionIsAtomic: a 500-entry sync commits at once: a
// reader polling meanwhile sees none or all of it, never part.
func TestDirectoryTransactionIsAtomic(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := txBundle(t, "transaction", directoryEntries(t, 500, "Service")...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var seen sync.Map
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(g.base + "/HealthcareService?_summary=count")
				if err != nil {
					continue
				}
				var b struct{ Total int }
				_ = decodeInto(resp, &b)
				seen.Store(b.Total, true)
			}
		}()
		start := time.Now()
		r := g.do("POST", "", body)
		took := time.Since(start)
		close(stop)
		wg.Wait()
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		t.Logf("500-entry transaction: %v", took)
		resp := responses(t, r.json(t))
		require.Len(t, resp, 500)
		for _, x := range resp {
			assert.Equal(t, "201 Created", x["status"])
		}
		seen.Range(func(k, _ any) bool {
			assert.Contains(t, []int{0, 500}, k.(int), "a reader saw part of the transaction")
			return true
		})
		assert.Equal(t, 500, total(t, g, "/HealthcareService?_summary=count"))
		assert.Equal(t, 500, total(t, g, "/HealthcareService/_history"))

		// The next sync updates all 500; one bad entry undoes it all.
		entries := directoryEntries(t, 500, "Renamed")
		again := txBundle(t, "transaction", entries...)
		entries[499].Resource["active"] = "yes"
		r = g.do("POST", "", txBundle(t, "transaction", entries...))
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Contains(t, fmt.Sprint(r.outcome(t)["expression"]), "Bundle.entry[499].resource.active")
		assert.Equal(t, 500, total(t, g, "/HealthcareService/_history"))
		assert.Equal(t, 0, total(t, g, "/HealthcareService?name=Renamed"))

		r = g.do("POST", "", again)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "200 OK", responses(t, r.json(t))[0]["status"])
		assert.Equal(t, 500, total(t, g, "/HealthcareService?name=Renamed"))
	})
}

// BenchmarkTransaction100 posts 100-entry transactions (new Tasks with
// references between entries, as a referral batch is) and reports the
// median latency as p50-ms.
func BenchmarkTransaction100(b *testing.B) {
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			g := newGateway(b, gateway.Options{Store: s.open(b)})
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				body := referralBundle(b, 100, i)
				start := time.Now()
				r := g.do("POST", "", body)
				lat = append(lat, time.Since(start))
				if r.status != http.StatusOK {
					b.Fatalf("status %d: %s", r.status, r.body)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// referralBundle is n entries: n/2 ServiceRequests POSTed with temporary
// ids and n/2 Tasks based on them.
func referralBundle(t testing.TB, n, round int) string {
	var entries []txEntry
	for i := 0; i < n/2; i++ {
		u := fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", round*n+i)
		entries = append(entries,
			txEntry{FullURL: u, Resource: res(t, fmt.Sprintf(`{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p%d"},"performer":[{"reference":"HealthcareService/hs-%d"}],"authoredOn":"2026-01-10T09:00:00Z"}`, i, i%50)), Request: req("POST", "ServiceRequest")},
			txEntry{Resource: res(t, fmt.Sprintf(`{"resourceType":"Task","status":"requested","intent":"order","basedOn":[{"reference":%q}],"for":{"reference":"Patient/p%d"},"owner":{"reference":"Organization/practice-%d"},"authoredOn":"2026-01-10T09:00:00Z","identifier":[{"system":"https://signpost.example/task","value":"%d-%d"}]}`, u, i, i%500, round, i)), Request: req("POST", "Task")},
		)
	}
	return txBundle(t, "transaction", entries...)
}
