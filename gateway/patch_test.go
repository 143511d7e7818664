package gateway_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const jsonPatch = "application/json-patch+json"

func TestJSONPatch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		r := g.do("PATCH", "/Task/task-1", `[{"op":"replace","path":"/status","value":"accepted"},{"op":"add","path":"/note","value":[{"text":"called back"}]}]`,
			"Content-Type", jsonPatch, "If-Match", `W/"1"`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, `W/"2"`, r.header.Get("ETag"))
		got := g.do("GET", "/Task/task-1", "")
		task := got.json(t)
		assert.Equal(t, "accepted", task["status"])
		assert.Equal(t, "called back", task["note"].([]any)[0].(map[string]any)["text"])
		assert.Contains(t, string(got.body), `"valueDecimal":1.50`, "an untouched decimal keeps its text")
		assert.Contains(t, string(got.body), `<div xmlns=\"http://www.w3.org/1999/xhtml\">Navigate</div>`, "narrative not escaped")
		assert.Equal(t, 1, total(t, g, "/Task?status=accepted&_id=task-1"), "the index follows the patch")

		tests := []struct {
			name    string
			path    string
			body    string
			headers []string
			status  int
			code    string
		}{
			{"stale If-Match", "/Task/task-1", `[{"op":"replace","path":"/status","value":"rejected"}]`, []string{"If-Match", `W/"1"`}, 412, "conflict"},
			{"test fails", "/Task/task-1", `[{"op":"test","path":"/status","value":"requested"},{"op":"replace","path":"/status","value":"rejected"}]`, nil, 422, "processing"},
			{"missing path", "/Task/task-1", `[{"op":"replace","path":"/nothing/here","value":1}]`, nil, 422, "processing"},
			{"id change", "/Task/task-1", `[{"op":"replace","path":"/id","value":"other"}]`, nil, 422, "processing"},
			{"type change", "/Task/task-1", `[{"op":"replace","path":"/resourceType","value":"Patient"}]`, nil, 422, "processing"},
			{"invalid result", "/Task/task-1", `[{"op":"replace","path":"/status","value":"bogus"}]`, nil, 422, "code-invalid"},
			{"malformed", "/Task/task-1", `[{"op":"replace"`, nil, 400, "structure"},
			{"unknown op", "/Task/task-1", `[{"op":"frobnicate","path":"/status"}]`, nil, 400, "structure"},
			{"no such resource", "/Task/nope", `[{"op":"replace","path":"/status","value":"accepted"}]`, nil, 404, "not-found"},
			{"wrong media type", "/Task/task-1", `status=accepted`, []string{"Content-Type", "text/plain"}, 415, "not-supported"},
			{"append-only", "/AuditEvent/a", `[]`, nil, 405, "not-supported"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := append([]string{"Content-Type", jsonPatch}, tt.headers...)
				r := g.do("PATCH", tt.path, tt.body, h...)
				require.Equal(t, tt.status, r.status, "%s", r.body)
				assert.Equal(t, tt.code, r.outcome(t)["code"])
			})
		}
		assert.Equal(t, "accepted", g.do("GET", "/Task/task-1", "").json(t)["status"], "failed patches change nothing")
		assert.Equal(t, 2, total(t, g, "/Task/task-1/_history"))

		// A JSON array sent as plain JSON is a JSON Patch too.
		r = g.do("PATCH", "/Task/task-1", `[{"op":"replace","path":"/status","value":"in-progress"}]`, "Content-Type", "application/json")
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)

		// Conditional patch.
		r = g.do("PATCH", "/Patient?identifier="+"https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9000000017", `[{"op":"add","path":"/active","value":true}]`, "Content-Type", jsonPatch)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "pat-2", r.json(t)["id"])
		assert.Equal(t, http.StatusNotFound, g.do("PATCH", "/Patient?name=nobody", `[]`, "Content-Type", jsonPatch).status)
		assert.Equal(t, http.StatusPreconditionFailed, g.do("PATCH", "/Patient?name=smi", `[]`, "Content-Type", jsonPatch).status)
	})
}

// TestConcurrentPatchesAreNotLost: patches without If-Match that race
// each other are applied one after the other, each to the version the
// other left.
func TestConcurrentPatchesAreNotLost(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Task/t", `{"resourceType":"Task","id":"t","status":"requested","intent":"order","note":[{"text":"start"}]}`).status)
		const n = 8
		done := make(chan int, n)
		for i := range n {
			go func() {
				r, err := http.NewRequest("PATCH", g.base+"/Task/t", nil)
				if err != nil {
					done <- 0
					return
				}
				r.Body = bodyOf(fmt.Sprintf(`[{"op":"add","path":"/note/-","value":{"text":"note %d"}}]`, i))
				r.Header.Set("Content-Type", jsonPatch)
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
		}
		ok := 0
		for range n {
			if <-done == http.StatusOK {
				ok++
			}
		}
		task := g.do("GET", "/Task/t", "").json(t)
		notes, _ := task["note"].([]any)
		assert.Len(t, notes, ok+1, "every successful patch left its note")
		assert.Equal(t, n, ok, "a race without If-Match is retried, not refused")
	})
}

func TestFHIRPathPatch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		params := func(ops ...string) string {
			return `{"resourceType":"Parameters","parameter":[` + join(ops) + `]}`
		}
		op := func(parts ...string) string {
			return `{"name":"operation","part":[` + join(parts) + `]}`
		}
		tests := []struct {
			name   string
			body   string
			check  func(t *testing.T, p map[string]any)
			status int
		}{
			{"replace", params(op(`{"name":"type","valueCode":"replace"}`, `{"name":"path","valueString":"Patient.birthDate"}`, `{"name":"value","valueDate":"1980-05-02"}`)),
				func(t *testing.T, p map[string]any) { assert.Equal(t, "1980-05-02", p["birthDate"]) }, 200},
			{"add a repeating element", params(op(`{"name":"type","valueCode":"add"}`, `{"name":"path","valueString":"Patient"}`, `{"name":"name","valueString":"telecom"}`, `{"name":"value","valueContactPoint":{"system":"phone","value":"0100"}}`)),
				func(t *testing.T, p map[string]any) {
					assert.Equal(t, "0100", p["telecom"].([]any)[0].(map[string]any)["value"])
				}, 200},
			{"add a choice", params(op(`{"name":"type","valueCode":"add"}`, `{"name":"path","valueString":"Patient"}`, `{"name":"name","valueString":"deceased"}`, `{"name":"value","valueBoolean":false}`)),
				func(t *testing.T, p map[string]any) { assert.Equal(t, false, p["deceasedBoolean"]) }, 200},
			{"add from parts", params(op(`{"name":"type","valueCode":"add"}`, `{"name":"path","valueString":"Patient"}`, `{"name":"name","valueString":"contact"}`,
				`{"name":"value","part":[{"name":"name","valueHumanName":{"family":"Bloggs"}},{"name":"gender","valueCode":"other"}]}`)),
				func(t *testing.T, p map[string]any) {
					c := p["contact"].([]any)[0].(map[string]any)
					assert.Equal(t, "Bloggs", c["name"].(map[string]any)["family"])
					assert.Equal(t, "other", c["gender"])
				}, 200},
			{"insert", params(op(`{"name":"type","valueCode":"insert"}`, `{"name":"path","valueString":"Patient.name[0].given"}`, `{"name":"index","valueInteger":0}`, `{"name":"value","valueString":"Ann"}`)),
				func(t *testing.T, p map[string]any) {
					assert.Equal(t, []any{"Ann", "Zoë"}, p["name"].([]any)[0].(map[string]any)["given"])
				}, 200},
			{"move", params(op(`{"name":"type","valueCode":"move"}`, `{"name":"path","valueString":"Patient.name[0].given"}`, `{"name":"source","valueInteger":0}`, `{"name":"destination","valueInteger":1}`)),
				func(t *testing.T, p map[string]any) {
					assert.Equal(t, []any{"Zoë", "Ann"}, p["name"].([]any)[0].(map[string]any)["given"])
				}, 200},
			{"delete", params(op(`{"name":"type","valueCode":"delete"}`, `{"name":"path","valueString":"Patient.name[0].given[1]"}`)),
				func(t *testing.T, p map[string]any) {
					assert.Equal(t, []any{"Zoë"}, p["name"].([]any)[0].(map[string]any)["given"])
				}, 200},
			{"delete nothing", params(op(`{"name":"type","valueCode":"delete"}`, `{"name":"path","valueString":"Patient.photo"}`)), nil, 200},
			{"functions are not evaluated", params(op(`{"name":"type","valueCode":"delete"}`, `{"name":"path","valueString":"Patient.name.where(family='Smith')"}`)), nil, 501},
			{"two operations", params(op(`{"name":"type","valueCode":"replace"}`, `{"name":"path","valueString":"Patient.identifier.system"}`, `{"name":"value","valueUri":"x"}`),
				op(`{"name":"type","valueCode":"add"}`, `{"name":"path","valueString":"Patient"}`, `{"name":"name","valueString":"identifier"}`, `{"name":"value","valueIdentifier":{"value":"2"}}`)), nil, 200},
			{"unknown type", params(op(`{"name":"type","valueCode":"upsert"}`, `{"name":"path","valueString":"Patient"}`)), nil, 400},
			{"not Parameters", `{}`, nil, 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := g.do("PATCH", "/Patient/pat-1", tt.body)
				require.Equal(t, tt.status, r.status, "%s", r.body)
				if tt.check != nil {
					tt.check(t, g.do("GET", "/Patient/pat-1", "").json(t))
				}
			})
		}
	})
}

func TestPatchInBundles(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		binary := res(t, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+
			base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/status","value":"accepted"}]`))+`"}`)
		fhirPath := res(t, `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"ServiceRequest.status"},{"name":"value","valueCode":"completed"}]}]}`)
		r := g.do("POST", "", txBundle(t, "transaction",
			txEntry{Resource: binary, Request: req("PATCH", "Task/task-1", "ifMatch", `W/"1"`)},
			txEntry{Resource: fhirPath, Request: req("PATCH", "ServiceRequest?_id=sr-1")},
		))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		resp := responses(t, r.json(t))
		assert.Equal(t, "200 OK", resp[0]["status"])
		assert.Equal(t, "Task/task-1/_history/2", resp[0]["location"])
		assert.Equal(t, "ServiceRequest/sr-1/_history/2", resp[1]["location"])
		assert.Equal(t, "accepted", g.do("GET", "/Task/task-1", "").json(t)["status"])
		assert.Equal(t, "completed", g.do("GET", "/ServiceRequest/sr-1", "").json(t)["status"])
	})
}

func join(parts []string) string { return strings.Join(parts, ",") }

func bodyOf(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
