package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

// The security suite: a gateway verifying tokens of a real OIDC issuer
// served in-process (internal/oidctest), on both stores where the store
// matters.

const (
	odsA        = "A81001"
	odsB        = "B82002"
	odsSys      = "https://fhir.nhs.uk/Id/ods-organization-code"
	practiceSys = "https://signpost.example/fhir/CodeSystem/practice"
	taskIDSys   = "https://example.org/task-id"
)

// secure is a gateway with a token verifier, its store and its issuer.
type secure struct {
	*testGateway
	iss *oidctest.Issuer
	st  store.Store
}

func newSecure(t testing.TB, st store.Store, opts gateway.Options, setup ...func(*gateway.Server)) *secure {
	t.Helper()
	iss := oidctest.New(t)
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		Issuers:  []string{iss.URL()},
		Audience: iss.Audience(),
		// Rotation mid-test: a new kid is fetched at once.
		KeyRefreshInterval: -1,
	})
	require.NoError(t, err)
	opts.Store, opts.Verifier = st, v
	return &secure{testGateway: newGateway(t, opts, setup...), iss: iss, st: st}
}

// eachSecureStore runs fn on each store with a secured gateway.
func eachSecureStore(t *testing.T, fn func(t *testing.T, s *secure)) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			fn(t, newSecure(t, sc.open(t), gateway.Options{}))
		})
	}
}

// token mints a token with the claims (scope, ods, role, ...).
func (s *secure) token(claims map[string]any) string {
	if _, ok := claims["client_id"]; !ok {
		claims["client_id"] = "test-app"
	}
	return s.iss.Token(claims)
}

// as sends a request with a bearer token.
func (s *secure) as(tok, method, path, body string, headers ...string) reply {
	s.t.Helper()
	return s.do(method, path, body, append([]string{"Authorization", "Bearer " + tok}, headers...)...)
}

// The callers of the suite.
func navigator(ods ...string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": ods, "role": "navigator", "tier": "essential", "sub": "nav-" + strings.Join(ods, "-")}
}

func publisherClaims(scope ...string) map[string]any {
	return map[string]any{"scope": "system/*.cruds", "role": "publisher", "publisher": scope, "sub": "publisher"}
}

func auditorClaims(ods string) map[string]any {
	return map[string]any{"scope": "user/AuditEvent.rs", "ods": ods, "role": "auditor", "sub": "auditor-" + ods}
}

// created posts body and returns the new id.
func (s *secure) created(t *testing.T, tok, typ, body string) string {
	t.Helper()
	r := s.as(tok, "POST", "/"+typ, body)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

func patientBody(family, nhsNumber string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q}],"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":%q}]}`, family, nhsNumber)
}

func taskFor(ods, orgID, patientID, key string) string {
	return fmt.Sprintf(`{"resourceType":"Task","status":"requested","intent":"order",
	 "identifier":[{"system":%q,"value":%q}],
	 "code":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-task","code":"navigate"}]},
	 "for":{"reference":"Patient/%s"},
	 "owner":{"reference":"Organization/%s","identifier":{"system":%q,"value":%q}},
	 "input":[{"type":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-input","code":"contact-route"}]},"valueCode":"phone"}]}`,
		taskIDSys, key, patientID, orgID, odsSys, ods)
}

// audits counts the stored AuditEvents, straight from the store (a count
// through the API would itself be audited).
func (s *secure) audits(t *testing.T) int {
	t.Helper()
	page, err := s.st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent", Count: 0})
	require.NoError(t, err)
	return page.Total
}

// searchIDs runs a search and lists the ids of one mode.
func (s *secure) searchIDs(t *testing.T, tok, query, mode string) []string {
	t.Helper()
	r := s.as(tok, "GET", query, "")
	require.Equal(t, http.StatusOK, r.status, "%s: %s", query, r.body)
	return entryIDs(t, r.json(t), mode)
}

func TestTokensAreRefused(t *testing.T) {
	t.Parallel()
	s := newSecure(t, stores[0].open(t), gateway.Options{})
	claims := func() map[string]any { return navigator(odsA) }
	require.Equal(t, http.StatusOK, s.as(s.token(claims()), "GET", "/Patient", "").status, "a good token is accepted")

	for _, kind := range oidctest.BadKinds {
		t.Run(kind.String(), func(t *testing.T) {
			r := s.as(s.iss.BadToken(kind, claims()), "GET", "/Patient", "")
			assert.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
			assert.Equal(t, `Bearer realm="signpost", error="invalid_token"`, r.header.Get("WWW-Authenticate"))
			assert.Equal(t, "login", r.outcome(t)["code"])
		})
	}
	for name, header := range map[string]string{"none": "", "basic": "Basic dXNlcjpwdw==", "empty bearer": "Bearer "} {
		t.Run(name, func(t *testing.T) {
			var r reply
			if header == "" {
				r = s.do("GET", "/Patient", "")
			} else {
				r = s.do("GET", "/Patient", "", "Authorization", header)
			}
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="signpost"`), r.header.Get("WWW-Authenticate"))
			assert.Equal(t, "login", r.outcome(t)["code"])
		})
	}
	t.Run("every route but the public ones", func(t *testing.T) {
		for _, p := range []string{"", "/_history", "/Task/x", "/Task/x/_history/1", "/CodeSystem/$lookup?system=x&code=y", "/Task?status=requested"} {
			assert.Equal(t, http.StatusUnauthorized, s.do("GET", p, "").status, p)
		}
		assert.Equal(t, http.StatusUnauthorized, s.do("POST", "", `{"resourceType":"Bundle","type":"batch"}`).status)
	})
	t.Run("public", func(t *testing.T) {
		md := s.do("GET", "/metadata", "")
		assert.Equal(t, http.StatusOK, md.status)
		assert.Contains(t, string(md.body), "SMART-on-FHIR", "the CapabilityStatement says how to authenticate")
		for _, p := range []string{s.base + "/.well-known/smart-configuration", s.srv.URL + "/.well-known/smart-configuration"} {
			r := s.do("GET", p, "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			doc := r.json(t)
			assert.Equal(t, s.iss.TokenURL(), doc["token_endpoint"])
			assert.Contains(t, fmt.Sprint(doc["capabilities"]), "permission-v2")
		}
		assert.Equal(t, http.StatusOK, s.do("GET", s.srv.URL+"/healthz", "").status)
	})
}

func TestKeyRotationMidTest(t *testing.T) {
	t.Parallel()
	s := newSecure(t, stores[0].open(t), gateway.Options{})
	before := s.token(navigator(odsA))
	require.Equal(t, http.StatusOK, s.as(before, "GET", "/Patient", "").status)

	retired, current := s.iss.Rotate()
	require.NotEqual(t, retired, current)
	after := s.token(navigator(odsA))
	r := s.as(after, "GET", "/Patient", "")
	assert.Equal(t, http.StatusOK, r.status, "a token signed with the new key is accepted at once: %s", r.body)
	// The new kid made the verifier fetch the key set again, which no
	// longer has the retired key.
	r = s.as(before, "GET", "/Patient", "")
	assert.Equal(t, http.StatusUnauthorized, r.status, "a token signed with a retired key is refused: %s", r.body)
	assert.Equal(t, http.StatusOK, s.as(after, "GET", "/Patient", "").status)
}

// tenants is two practices' data, each written by its own navigator.
type tenants struct {
	navA, navB, pcn  string
	orgA, orgB       string
	patA, patB       string
	taskA, taskB     string
	taskBforA        string // practice B's Task about practice A's patient
	obsA             string
	publisher, audit string
}

func seedTenants(t *testing.T, s *secure) tenants {
	var d tenants
	d.navA, d.navB = s.token(navigator(odsA)), s.token(navigator(odsB))
	d.pcn = s.token(navigator(odsA, odsB))
	d.publisher = s.token(publisherClaims(odsA, odsB))
	d.audit = s.token(auditorClaims(odsA))
	d.orgA = s.created(t, d.publisher, "Organization", `{"resourceType":"Organization","name":"Practice A","identifier":[{"system":"`+odsSys+`","value":"`+odsA+`"}]}`)
	d.orgB = s.created(t, d.publisher, "Organization", `{"resourceType":"Organization","name":"Practice B","identifier":[{"system":"`+odsSys+`","value":"`+odsB+`"}]}`)
	d.patA = s.created(t, d.navA, "Patient", patientBody("Alpha", "9000000009"))
	d.patB = s.created(t, d.navB, "Patient", patientBody("Bravo", "9000000017"))
	d.taskA = s.created(t, d.navA, "Task", taskFor(odsA, d.orgA, d.patA, "task-a"))
	d.taskB = s.created(t, d.navB, "Task", taskFor(odsB, d.orgB, d.patB, "task-b"))
	d.taskBforA = s.created(t, d.navB, "Task", taskFor(odsB, d.orgB, d.patA, "task-b-for-a"))
	d.obsA = s.created(t, d.navA, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"need group"},"subject":{"reference":"Patient/`+d.patA+`"}}`)
	return d
}

func TestWritesCarryThePractice(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		label := func(tok, typ, id string) []string {
			r := s.as(tok, "GET", "/"+typ+"/"+id, "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var codes []string
			meta, _ := r.json(t)["meta"].(map[string]any)
			sec, _ := meta["security"].([]any)
			for _, c := range sec {
				if m := c.(map[string]any); m["system"] == practiceSys {
					codes = append(codes, m["code"].(string))
				}
			}
			return codes
		}
		assert.Equal(t, []string{odsA}, label(d.navA, "Patient", d.patA), "the caller's one practice")
		assert.Equal(t, []string{odsB}, label(d.navB, "Task", d.taskB), "Task.owner's ODS code")

		tagged := func(ods string) string {
			return `{"resourceType":"Patient","meta":{"security":[{"system":"` + practiceSys + `","code":"` + ods + `"}]}}`
		}
		tests := []struct {
			name, tok, typ, body string
			status               int
		}{
			{"several practices, none named", d.pcn, "Patient", `{"resourceType":"Patient"}`, 422},
			{"several practices, one named", d.pcn, "Patient", tagged(odsB), 201},
			{"a label of another practice", d.navA, "Patient", tagged(odsB), 403},
			{"two practices named", d.navA, "Patient", `{"resourceType":"Patient","meta":{"security":[{"system":"` + practiceSys + `","code":"` + odsA + `"},{"system":"` + practiceSys + `","code":"` + odsB + `"}]}}`, 422},
			{"a Task owned by another practice", d.navB, "Task", taskFor(odsA, d.orgA, d.patB, "x"), 403},
			{"a label that contradicts Task.owner", d.navA, "Task", strings.Replace(taskFor(odsA, d.orgA, d.patA, "y"), `"resourceType":"Task",`, `"resourceType":"Task","meta":{"security":[{"system":"`+practiceSys+`","code":"`+odsB+`"}]},`, 1), 422},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.as(tt.tok, "POST", "/"+tt.typ, tt.body)
				assert.Equal(t, tt.status, r.status, "%s", r.body)
				if tt.status >= 400 {
					r.outcome(t)
				}
			})
		}

		// Moving a resource between practices needs both.
		moved := strings.Replace(taskFor(odsB, d.orgB, d.patA, "task-a"), `"resourceType":"Task",`, `"resourceType":"Task","id":"`+d.taskA+`",`, 1)
		assert.Equal(t, http.StatusForbidden, s.as(d.navA, "PUT", "/Task/"+d.taskA, moved).status, "A alone cannot hand its Task to B")
		r := s.as(d.pcn, "PUT", "/Task/"+d.taskA, moved)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, []string{odsB}, label(d.navB, "Task", d.taskA))
		assert.Equal(t, http.StatusNotFound, s.as(d.navA, "GET", "/Task/"+d.taskA, "").status, "gone from A's view")

		// An update that names no practice keeps the stored one.
		plain := `{"resourceType":"Patient","id":"` + d.patB + `","name":[{"family":"Bravo-Smith"}]}`
		require.Equal(t, http.StatusOK, s.as(d.pcn, "PUT", "/Patient/"+d.patB, plain).status)
		assert.Equal(t, []string{odsB}, label(d.navB, "Patient", d.patB))
	})
}

func TestCrossTenantAttemptsFail(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		b := d.navB

		t.Run("read by id", func(t *testing.T) {
			for _, p := range []string{"/Task/" + d.taskA, "/Patient/" + d.patA, "/Task/" + d.taskA + "/_history/1", "/Task/" + d.taskA + "/_history", "/Observation/" + d.obsA} {
				r := s.as(b, "GET", p, "")
				assert.Equal(t, http.StatusNotFound, r.status, "%s: %s", p, r.body)
				assert.Equal(t, "not-found", r.outcome(t)["code"], p)
			}
			assert.Equal(t, http.StatusOK, s.as(d.navA, "GET", "/Task/"+d.taskA, "").status, "A sees its own")
		})
		t.Run("deleted resources stay invisible", func(t *testing.T) {
			gone := s.created(t, d.navA, "Patient", patientBody("Gone", "9000000025"))
			require.Equal(t, http.StatusNoContent, s.as(d.navA, "DELETE", "/Patient/"+gone, "").status)
			assert.Equal(t, http.StatusGone, s.as(d.navA, "GET", "/Patient/"+gone, "").status, "410 for its own practice")
			assert.Equal(t, http.StatusNotFound, s.as(b, "GET", "/Patient/"+gone, "").status, "404, not 410, for another practice")
			assert.Equal(t, http.StatusNotFound, s.as(b, "GET", "/Patient/"+gone+"/_history/2", "").status)
		})
		t.Run("search", func(t *testing.T) {
			r := s.as(b, "GET", "/Task", "")
			require.Equal(t, http.StatusOK, r.status)
			bundle := r.json(t)
			assert.ElementsMatch(t, []string{d.taskB, d.taskBforA}, entryIDs(t, bundle, "match"))
			assert.EqualValues(t, "2", fmt.Sprint(bundle["total"]), "the total counts what B may see")
			assert.Empty(t, s.searchIDs(t, b, "/Task?_id="+d.taskA, "match"))
			assert.Empty(t, s.searchIDs(t, b, "/Patient?family=Alpha", "match"))
			assert.Empty(t, s.searchIDs(t, b, "/Patient?_security="+url.QueryEscape(practiceSys+"|"+odsA), "match"), "asking for A's label finds nothing")
			assert.Equal(t, []string{d.patA}, s.searchIDs(t, d.navA, "/Patient?family=Alpha", "match"))
		})
		t.Run("_include", func(t *testing.T) {
			// B's Task points at A's patient: the Task is B's, the patient is not.
			r := s.as(b, "GET", "/Task?_id="+d.taskBforA+"&_include=Task:patient", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, []string{d.taskBforA}, entryIDs(t, r.json(t), "match"))
			assert.Empty(t, entryIDs(t, r.json(t), "include"), "A's patient is not included")
			assert.Equal(t, []string{d.patA}, s.searchIDs(t, d.pcn, "/Task?_id="+d.taskBforA+"&_include=Task:patient", "include"), "a caller of both practices gets it")
		})
		t.Run("_revinclude", func(t *testing.T) {
			// A's patient, read by the PCN, revincludes both practices' Tasks; B alone gets none of A's.
			assert.ElementsMatch(t, []string{d.taskA, d.taskBforA}, s.searchIDs(t, d.pcn, "/Patient?_id="+d.patA+"&_revinclude=Task:patient", "include"))
			assert.ElementsMatch(t, []string{d.taskB}, s.searchIDs(t, b, "/Patient?_id="+d.patB+"&_revinclude=Task:patient&_revinclude=Observation:patient", "include"))
			assert.Empty(t, s.searchIDs(t, b, "/Organization?_id="+d.orgA+"&_revinclude=Task:owner", "include"), "A's Tasks stay out of a directory search")
		})
		t.Run("chained search", func(t *testing.T) {
			// B's own Task points at A's patient Alpha: a chain on the
			// patient must not reveal Alpha's name to B.
			assert.Empty(t, s.searchIDs(t, b, "/Task?patient.family=Alpha", "match"))
			assert.Empty(t, s.searchIDs(t, b, "/Task?patient.identifier=9000000009", "match"))
			assert.Equal(t, []string{d.taskBforA}, s.searchIDs(t, d.pcn, "/Task?patient.family=Alpha&owner:Organization.name=Practice%20B", "match"), "it works for a caller of both")
		})
		t.Run("_has", func(t *testing.T) {
			// Which practice has a Task for this patient? Not B's to know.
			assert.Empty(t, s.searchIDs(t, b, "/Organization?_has:Task:owner:_id="+d.taskA, "match"))
			assert.Empty(t, s.searchIDs(t, b, "/Organization?_has:Task:owner:patient="+d.patA+"&_id="+d.orgA, "match"))
			assert.Equal(t, []string{d.orgA}, s.searchIDs(t, d.navA, "/Organization?_has:Task:owner:_id="+d.taskA, "match"))
		})
		t.Run("history", func(t *testing.T) {
			for _, p := range []string{"/Task/_history", "/_history?_count=1000"} {
				r := s.as(b, "GET", p, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				var urls []string
				for _, e := range r.json(t)["entry"].([]any) {
					urls = append(urls, e.(map[string]any)["fullUrl"].(string))
				}
				for _, ref := range []string{"/Task/" + d.taskA, "/Patient/" + d.patA, "/Observation/" + d.obsA} {
					assert.NotContains(t, urls, s.base+ref, "%s shows A's %s", p, ref)
				}
				assert.Contains(t, urls, s.base+"/Task/"+d.taskB)
			}
			r := s.as(b, "GET", "/Task/_history", "").json(t)
			assert.EqualValues(t, "2", fmt.Sprint(r["total"]), "the total counts B's versions only")
		})
		t.Run("writes", func(t *testing.T) {
			put := strings.Replace(taskFor(odsB, d.orgB, d.patB, "task-a"), `"resourceType":"Task",`, `"resourceType":"Task","id":"`+d.taskA+`",`, 1)
			for _, tt := range []struct{ method, path, body string }{
				{"PUT", "/Task/" + d.taskA, put},
				{"DELETE", "/Task/" + d.taskA, ""},
				{"PATCH", "/Task/" + d.taskA, `[{"op":"replace","path":"/status","value":"cancelled"}]`},
			} {
				var hs []string
				if tt.method == "PATCH" {
					hs = []string{"Content-Type", "application/json-patch+json"}
				}
				r := s.as(b, tt.method, tt.path, tt.body, hs...)
				assert.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", tt.method, tt.path, r.body)
			}
		})
		t.Run("conditional update aimed at another practice", func(t *testing.T) {
			crit := "/Task?identifier=" + url.QueryEscape(taskIDSys+"|task-a")
			withID := strings.Replace(taskFor(odsB, d.orgB, d.patB, "task-a"), `"resourceType":"Task",`, `"resourceType":"Task","id":"`+d.taskA+`",`, 1)
			assert.Equal(t, http.StatusNotFound, s.as(b, "PUT", crit, withID).status, "the body's id is A's Task")
			r := s.as(b, "PUT", crit, taskFor(odsB, d.orgB, d.patB, "task-a"))
			require.Equal(t, http.StatusCreated, r.status, "A's Task does not match for B, so B gets a Task of its own: %s", r.body)
			assert.NotEqual(t, d.taskA, r.json(t)["id"])
			assert.Equal(t, http.StatusNoContent, s.as(b, "DELETE", "/Task?_id="+d.taskA, "").status, "a conditional delete matches nothing of A's")
			assert.Equal(t, http.StatusNotFound, s.as(b, "PATCH", "/Task?_id="+d.taskA, `[{"op":"replace","path":"/status","value":"cancelled"}]`, "Content-Type", "application/json-patch+json").status)
		})
		t.Run("transaction entry", func(t *testing.T) {
			for _, e := range []txEntry{
				{Request: req("GET", "Task/"+d.taskA)},
				{Request: req("DELETE", "Task/"+d.taskA)},
				{Resource: res(t, strings.Replace(taskFor(odsB, d.orgB, d.patB, "z"), `"resourceType":"Task",`, `"resourceType":"Task","id":"`+d.taskA+`",`, 1)), Request: req("PUT", "Task/"+d.taskA)},
				{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient?identifier=9000000009"}}`), Request: req("POST", "Flag")},
			} {
				good := txEntry{Resource: res(t, patientBody("Charlie", "9000000033")), Request: req("POST", "Patient")}
				r := s.as(b, "POST", "", txBundle(t, "transaction", good, e))
				assert.Contains(t, []int{400, 404}, r.status, "%v: %s", e.Request, r.body)
				assert.Contains(t, fmt.Sprint(r.outcome(t)["diagnostics"]), "Bundle.entry[1]")
			}
			assert.Empty(t, s.searchIDs(t, b, "/Patient?family=Charlie", "match"), "nothing of the failed transactions was stored")
			assert.Equal(t, http.StatusOK, s.as(d.navA, "GET", "/Task/"+d.taskA, "").status)
		})
		assert.Equal(t, "requested", s.as(d.navA, "GET", "/Task/"+d.taskA, "").json(t)["status"], "A's Task is untouched")
	})
}

func TestScopeEscalationFailsEntryByEntry(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		// Reads of Tasks and Patients only.
		reader := s.token(map[string]any{"scope": "system/Task.rs system/Patient.read", "ods": odsA, "sub": "reader"})

		t.Run("REST", func(t *testing.T) {
			for _, tt := range []struct{ method, path, body string }{
				{"POST", "/Task", taskFor(odsA, d.orgA, d.patA, "new")},
				{"DELETE", "/Patient/" + d.patA, ""},
				{"GET", "/Observation/" + d.obsA, ""},
				{"GET", "/Observation?subject=" + d.patA, ""},
				{"GET", "/Task?_include=Task:owner", ""},
				{"GET", "/Patient?_revinclude=Observation:patient", ""},
				{"GET", "/Patient?_has:Observation:patient:status=final", ""},
				{"GET", "/Observation?subject:Patient.family=Alpha", ""},
				{"GET", "/AuditEvent", ""},
			} {
				r := s.as(reader, tt.method, tt.path, tt.body)
				assert.Equal(t, http.StatusForbidden, r.status, "%s %s: %s", tt.method, tt.path, r.body)
				if r.status == http.StatusForbidden {
					assert.Equal(t, "forbidden", r.outcome(t)["code"])
				}
			}
			assert.Equal(t, http.StatusOK, s.as(reader, "GET", "/Task?_include=Task:patient", "").status, "includes it may read are fine")
		})
		t.Run("batch", func(t *testing.T) {
			body := txBundle(t, "batch",
				txEntry{Request: req("GET", "Task/"+d.taskA)},
				txEntry{Resource: res(t, taskFor(odsA, d.orgA, d.patA, "escalate")), Request: req("POST", "Task")},
				txEntry{Request: req("DELETE", "Patient/"+d.patA)},
				txEntry{Request: req("GET", "Observation/"+d.obsA)},
				txEntry{Request: req("GET", "Patient?family=Alpha")},
				txEntry{Request: req("GET", "Task?_revinclude=Observation:focus")},
			)
			r := s.as(reader, "POST", "", body)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var got []string
			for _, resp := range responses(t, r.json(t)) {
				got = append(got, resp["status"].(string))
			}
			assert.Equal(t, []string{"200 OK", "403 Forbidden", "403 Forbidden", "403 Forbidden", "200 OK", "403 Forbidden"}, got)
			assert.Equal(t, http.StatusOK, s.as(d.navA, "GET", "/Patient/"+d.patA, "").status, "the refused DELETE did nothing")
		})
		t.Run("transaction", func(t *testing.T) {
			body := txBundle(t, "transaction",
				txEntry{Request: req("GET", "Task/"+d.taskA)},
				txEntry{Resource: res(t, strings.Replace(patientBody("Smuggled", "9000000041"), `"resourceType":"Patient",`, `"resourceType":"Patient","id":"smuggled",`, 1)), Request: req("PUT", "Patient/smuggled")},
			)
			r := s.as(reader, "POST", "", body)
			assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			is := r.outcome(t)
			assert.Equal(t, "forbidden", is["code"])
			assert.Contains(t, fmt.Sprint(is["diagnostics"]), "Bundle.entry[1]")
			assert.Equal(t, http.StatusNotFound, s.as(d.navA, "GET", "/Patient/smuggled", "").status)

			// A conditional reference is a search on its type.
			noObs := s.token(map[string]any{"scope": "system/Flag.cruds", "ods": odsA, "sub": "flagger"})
			body = txBundle(t, "transaction", txEntry{Resource: res(t, `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient?family=Alpha"}}`), Request: req("POST", "Flag")})
			r = s.as(noObs, "POST", "", body)
			assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		})
	})
}

func TestPublishersStayInTheirScope(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		const catalogue = "https://directory.example-icb.nhs.uk/service-id"
		pub := s.token(publisherClaims("P1A01", catalogue))
		other := s.token(publisherClaims("X99", "https://elsewhere.example/id"))
		service := func(owner, system string) string {
			return `{"resourceType":"HealthcareService","name":"Pharmacy First","identifier":[{"system":"` + system + `","value":"s1"}],"providedBy":{"identifier":{"system":"` + odsSys + `","value":"` + owner + `"}}}`
		}
		own := s.created(t, pub, "HealthcareService", service("P1A01", catalogue))
		s.created(t, pub, "HealthcareService", service("Q5", catalogue))
		foreign := s.created(t, other, "HealthcareService", service("X99", "https://elsewhere.example/id"))
		org := s.created(t, pub, "Organization", `{"resourceType":"Organization","name":"P1","identifier":[{"system":"`+odsSys+`","value":"P1A01"}]}`)
		loc := `{"resourceType":"Location","name":"Surgery","managingOrganization":{"reference":"Organization/` + org + `"}}`
		s.created(t, pub, "Location", loc)

		withID := func(body, id string) string {
			return strings.Replace(body, `"resourceType":"HealthcareService",`, `"resourceType":"HealthcareService","id":"`+id+`",`, 1)
		}
		for _, tt := range []struct {
			name, method, path, body string
		}{
			{"create outside its scope", "POST", "/HealthcareService", service("X99", "https://elsewhere.example/id")},
			{"hand its entry away", "PUT", "/HealthcareService/" + own, withID(service("X99", "https://elsewhere.example/id"), own)},
			{"take another's entry", "PUT", "/HealthcareService/" + foreign, withID(service("P1A01", "https://elsewhere.example/id"), foreign)},
			{"delete another's entry", "DELETE", "/HealthcareService/" + foreign, ""},
			{"a Location of another organisation", "POST", "/Location", `{"resourceType":"Location","name":"x","managingOrganization":{"identifier":{"system":"` + odsSys + `","value":"X99"}}}`},
			{"read patient data", "GET", "/Task", ""},
			{"read a patient", "GET", "/Patient/x", ""},
			{"write patient data", "POST", "/Patient", `{"resourceType":"Patient"}`},
			{"include patient data", "GET", "/Organization?_revinclude=Task:owner", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := s.as(pub, tt.method, tt.path, tt.body)
				assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			})
		}
		r := s.as(pub, "PUT", "/HealthcareService/"+own, withID(service("P1A01", catalogue), own))
		assert.Equal(t, http.StatusOK, r.status, "an update within its scope: %s", r.body)
		assert.Equal(t, http.StatusOK, s.as(pub, "GET", "/HealthcareService?_count=5", "").status, "the directory is readable")

		nav := s.token(navigator(odsA))
		assert.Equal(t, http.StatusForbidden, s.as(nav, "POST", "/HealthcareService", service("P1A01", catalogue)).status, "only publishers write the directory")
	})
}

func TestOperationsNeedTheirPermissions(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	term := seededTerminology(t, st)
	s := newSecure(t, st, gateway.Options{}, func(g *gateway.Server) { g.RegisterTerminology(term) })
	lookup := "/CodeSystem/$lookup?system=http://snomed.info/sct&code=29857009"
	for _, tt := range []struct {
		scope  string
		status int
	}{
		{"system/Task.cruds", 403},
		{"system/CodeSystem.rs", 403},
		{"system/CodeSystem.rs system/ValueSet.rs system/ConceptMap.rs", 200},
		{"system/*.read", 200},
	} {
		r := s.as(s.token(map[string]any{"scope": tt.scope, "sub": "terminology-client"}), "GET", lookup, "")
		assert.Equal(t, tt.status, r.status, "%s: %s", tt.scope, r.body)
	}
}

func TestEveryPatientDataAccessLeavesOneAuditEvent(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		reader := s.token(map[string]any{"scope": "system/Patient.rs", "ods": odsA, "sub": "reader"})
		const secret = "9000000009"
		var patID string
		type step struct {
			name, tok, method, path, body string
			headers                       []string
			status, audits                int
		}
		steps := []step{
			{"create", d.navA, "POST", "/Patient", patientBody("Delta", "9000000068"), nil, 201, 1},
			{"read", d.navA, "GET", "/Patient/{id}", "", nil, 200, 1},
			{"conditional read", d.navA, "GET", "/Patient/{id}", "", []string{"If-None-Match", `W/"1"`}, 304, 1},
			{"vread", d.navA, "GET", "/Patient/{id}/_history/1", "", nil, 200, 1},
			{"search", d.navA, "GET", "/Patient?identifier=" + secret + "&_count=5", "", nil, 200, 1},
			{"search by POST", d.navA, "POST", "/Patient/_search", "identifier=" + secret, []string{"Content-Type", "application/x-www-form-urlencoded"}, 200, 1},
			{"instance history", d.navA, "GET", "/Patient/{id}/_history", "", nil, 200, 1},
			{"type history", d.navA, "GET", "/Patient/_history", "", nil, 200, 1},
			{"system history", d.navA, "GET", "/_history", "", nil, 200, 1},
			{"update", d.navA, "PUT", "/Patient/{id}", `{"resourceType":"Patient","id":"{id}","name":[{"family":"Delta"}],"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000068"}]}`, nil, 200, 1},
			{"patch", d.navA, "PATCH", "/Patient/{id}", `[{"op":"add","path":"/active","value":true}]`, []string{"Content-Type", "application/json-patch+json"}, 200, 1},
			{"conditional create that matches", d.navA, "POST", "/Patient", patientBody("Delta", "9000000068"), []string{"If-None-Exist", "identifier=9000000068"}, 200, 1},
			{"conditional update", d.navA, "PUT", "/Patient?identifier=9000000068", patientBody("Delta", "9000000068"), nil, 200, 1},
			// B's own event, and the probed practice's (TestProbesReachTheProbedPracticesAuditors).
			{"another practice's resource", d.navB, "GET", "/Patient/{id}", "", nil, 404, 2},
			{"a type the scopes do not allow", reader, "GET", "/Observation/" + d.obsA, "", nil, 403, 1},
			{"a malformed body accesses nothing", d.navA, "POST", "/Patient", `{"resourceType":"Patient",`, nil, 400, 0},
			{"directory data is not audited", d.navA, "GET", "/Organization/" + d.orgA, "", nil, 200, 0},
			{"a directory search that includes patient data", d.navA, "GET", "/Organization?_id=" + d.orgA + "&_revinclude=Task:owner", "", nil, 200, 1},
			{"delete", d.navA, "DELETE", "/Patient/{id}", "", nil, 204, 1},
			{"read of the deleted", d.navA, "GET", "/Patient/{id}", "", nil, 410, 1},
			{"the auditor reads the audit trail", d.audit, "GET", "/AuditEvent?_count=1000", "", nil, 200, 1},
			{"a navigator may not", d.navA, "GET", "/AuditEvent", "", nil, 403, 1},
			{"audit records are immutable", d.audit, "DELETE", "/AuditEvent/x", "", nil, 405, 0},
			{"transaction: one per entry on patient data", d.navA, "POST", "", txBundle(t, "transaction",
				txEntry{Resource: res(t, patientBody("Echo", "9000000076")), Request: req("POST", "Patient")},
				txEntry{Request: req("GET", "Task/"+d.taskA)},
				txEntry{Request: req("GET", "Organization/"+d.orgA)},
			), nil, 200, 2},
			{"a failed transaction: one for the failing entry", d.navA, "POST", "", txBundle(t, "transaction",
				txEntry{Resource: res(t, patientBody("Foxtrot", "9000000084")), Request: req("POST", "Patient")},
				txEntry{Request: req("GET", "Task/"+d.taskB)},
			), nil, 404, 2},
			{"batch: one per entry on patient data, refusals too", reader, "POST", "", txBundle(t, "batch",
				txEntry{Request: req("GET", "Patient?family=Alpha")},
				txEntry{Request: req("GET", "Task/"+d.taskA)},
				txEntry{Request: req("GET", "Patient/"+d.patB)},
			), nil, 200, 4},
		}
		for _, st := range steps {
			before := s.audits(t)
			path := strings.ReplaceAll(st.path, "{id}", patID)
			body := strings.ReplaceAll(st.body, "{id}", patID)
			r := s.as(st.tok, st.method, path, body, st.headers...)
			require.Equal(t, st.status, r.status, "%s: %s", st.name, r.body)
			if st.name == "create" {
				patID = r.json(t)["id"].(string)
			}
			assert.Equal(t, st.audits, s.audits(t)-before, "%s: AuditEvents recorded", st.name)
		}

		// Every AuditEvent is valid R4, names the caller, and never holds a
		// search value.
		page, err := s.st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent", Count: 1000})
		require.NoError(t, err)
		require.NotEmpty(t, page.Versions)
		seenSearch := false
		for _, v := range page.Versions {
			r, err := fhir.ParseResource(v.Body)
			require.NoError(t, err)
			assert.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}), "%s", v.Body)
			assert.NotContains(t, string(v.Body), secret, "a search value in an AuditEvent")
			if strings.Contains(string(v.Body), `"valueString":"_count,identifier"`) {
				seenSearch = true
			}
			assert.Contains(t, string(v.Body), `"requestor":true`)
		}
		assert.True(t, seenSearch, "the search's parameter names are recorded")

		// The auditor of practice A sees A's events only.
		r := s.as(d.audit, "GET", "/AuditEvent?_count=1000", "")
		require.Equal(t, http.StatusOK, r.status)
		bundle := r.json(t)
		require.NotEmpty(t, bundle["entry"])
		for _, e := range bundle["entry"].([]any) {
			assert.Contains(t, fmt.Sprint(e.(map[string]any)["resource"].(map[string]any)["meta"]), odsA)
		}
		assert.Less(t, len(bundle["entry"].([]any)), len(page.Versions), "B's events are not A's auditor's")
		assert.Equal(t, http.StatusMethodNotAllowed, s.as(d.audit, "PUT", "/AuditEvent/x", `{"resourceType":"AuditEvent","id":"x"}`).status)
	})
}

// TestProbesReachTheProbedPracticesAuditors: when practice B asks for an
// id of practice A's, by any interaction, A's auditors see it in an
// AuditEvent of their own (marked as a probe, naming B's caller), while
// what B's auditors see is the same as for an id that never existed.
func TestProbesReachTheProbedPracticesAuditors(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		auditB := s.token(auditorClaims(odsB))
		probes := []struct{ method, path, body string }{
			{"GET", "/Task/" + d.taskA, ""},
			{"GET", "/Task/" + d.taskA + "/_history/1", ""},
			{"DELETE", "/Patient/" + d.patA, ""},
			{"PUT", "/Observation/" + d.obsA, `{"resourceType":"Observation","id":"` + d.obsA + `","status":"final","code":{"text":"x"}}`},
			{"POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/` + d.patA + `"}}]}`},
		}
		for _, p := range probes {
			path := p.path
			if path == "" {
				path = "/"
			}
			r := s.as(d.navB, p.method, path, p.body)
			require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.status, "%s %s: %s", p.method, p.path, r.body)
		}
		// And one id that never existed, for comparison.
		require.Equal(t, http.StatusNotFound, s.as(d.navB, "GET", "/Task/never-existed", "").status)

		events := func(tok string) []map[string]any {
			r := s.as(tok, "GET", "/AuditEvent?_count=1000", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var out []map[string]any
			for _, e := range r.json(t)["entry"].([]any) {
				out = append(out, e.(map[string]any)["resource"].(map[string]any))
			}
			return out
		}
		isProbe := func(e map[string]any) bool { return strings.Contains(fmt.Sprint(e["entity"]), "type:probe") }
		seen := map[string]bool{}
		for _, e := range events(d.audit) {
			if !isProbe(e) {
				continue
			}
			assert.Contains(t, fmt.Sprint(e["agent"]), "nav-"+odsB, "the probe names B's caller")
			assert.Equal(t, "4", e["outcome"])
			for _, ref := range []string{"Task/" + d.taskA, "Patient/" + d.patA, "Observation/" + d.obsA} {
				if strings.Contains(fmt.Sprint(e["entity"]), ref) {
					seen[ref] = true
				}
			}
			assert.NotContains(t, fmt.Sprint(e["entity"]), "never-existed")
		}
		assert.Len(t, seen, 3, "A's auditor sees B's probes of A's Task, Patient and Observation: %v", seen)

		// B's auditor: B's events name no probe, and a probe of A's id reads
		// as the miss of an id that never existed.
		var misses []string
		for _, e := range events(auditB) {
			assert.False(t, isProbe(e), "B's auditors see that an id is A's: %v", e)
			if e["outcome"] == "4" {
				misses = append(misses, fmt.Sprint(e["outcomeDesc"]))
			}
		}
		assert.GreaterOrEqual(t, len(misses), len(probes)+1)
		for _, m := range misses {
			assert.Equal(t, "404 Not Found", m)
		}
	})
}

func TestAuditFailureRefusesTheAccess(t *testing.T) {
	t.Parallel()
	// A store that cannot write AuditEvents: reads of patient data fail
	// with 500, directory reads go on.
	st := &noAuditStore{Store: stores[0].open(t)}
	s := newSecure(t, st, gateway.Options{})
	nav := s.token(navigator(odsA))
	id := s.created(t, s.token(publisherClaims(odsA)), "Organization", `{"resourceType":"Organization","name":"x","identifier":[{"system":"`+odsSys+`","value":"`+odsA+`"}]}`)
	st.refuse = true
	r := s.as(nav, "GET", "/Patient?family=x", "")
	assert.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.NotContains(t, string(r.body), "Bundle")
	assert.Equal(t, http.StatusOK, s.as(nav, "GET", "/Organization/"+id, "").status)
	r = s.as(nav, "POST", "/Patient", `{"resourceType":"Patient"}`)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	st.refuse = false
	assert.Empty(t, s.searchIDs(t, nav, "/Patient", "match"), "the write was rolled back with its AuditEvent")
}

// noAuditStore refuses to create AuditEvents while refuse is set.
type noAuditStore struct {
	store.Store
	refuse bool
}

func (n *noAuditStore) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if n.refuse && r.Type() == "AuditEvent" {
		return store.WriteResult{}, fmt.Errorf("audit log unavailable")
	}
	return n.Store.Create(ctx, r)
}

func (n *noAuditStore) Transaction(ctx context.Context, fn func(tx store.Tx) error) error {
	return n.Store.Transaction(ctx, func(tx store.Tx) error { return fn(&noAuditTx{Tx: tx, s: n}) })
}

type noAuditTx struct {
	store.Tx
	s *noAuditStore
}

func (n *noAuditTx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if n.s.refuse && r.Type() == "AuditEvent" {
		return store.WriteResult{}, fmt.Errorf("audit log unavailable")
	}
	return n.Tx.Create(ctx, r)
}

func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	s := newSecure(t, stores[0].open(t), gateway.Options{RateLimit: 1, RateBurst: 2})
	one := s.token(map[string]any{"scope": "system/Organization.rs", "sub": "one", "client_id": "client-one"})
	two := s.token(map[string]any{"scope": "system/Organization.rs", "sub": "two", "client_id": "client-two"})
	for i := 0; i < 2; i++ {
		require.Equal(t, http.StatusOK, s.as(one, "GET", "/Organization", "").status, "within the burst")
	}
	r := s.as(one, "GET", "/Organization", "")
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	assert.Equal(t, "throttled", r.outcome(t)["code"])
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, s.as(two, "GET", "/Organization", "").status, "another client has its own bucket")
	// Failed tokens are throttled by IP.
	var last int
	for i := 0; i < 4; i++ {
		last = s.do("GET", "/Organization", "", "Authorization", "Bearer not-a-token").status
	}
	assert.Equal(t, http.StatusTooManyRequests, last)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newSecure(t, stores[0].open(t), gateway.Options{})
	nav := s.token(navigator(odsA))
	for _, p := range []string{"/Patient", "/metadata", "/nowhere"} {
		r := s.as(nav, "GET", p, "")
		assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), p)
		assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), p)
		assert.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'", p)
	}
	assert.Equal(t, "no-store", s.as(nav, "GET", "/Patient", "").header.Get("Cache-Control"))
	r := s.do("GET", s.srv.URL+"/healthz", "")
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
}

func TestDevelopmentModeIgnoresTokens(t *testing.T) {
	t.Parallel()
	g := newGateway(t, gateway.Options{Store: stores[0].open(t)})
	r := g.do("GET", "/Patient", "", "Authorization", "Bearer whatever")
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = g.do("GET", "/.well-known/smart-configuration", "")
	assert.Equal(t, http.StatusNotFound, r.status, "no authorization server in development mode")
}

// BenchmarkTokenVerification is the cost of verifying a bearer token per
// request, through the whole HTTP stack: the same read of a directory
// entry (no AuditEvent) in development mode and with an RS256 or ES256
// token. The difference is what verification costs.
func BenchmarkTokenVerification(b *testing.B) {
	st := stores[0].open(b)
	dev := newGateway(b, gateway.Options{Store: st})
	r := dev.do("POST", "/Organization", `{"resourceType":"Organization","name":"bench"}`)
	require.Equal(b, http.StatusCreated, r.status)
	id := mustDecodeTB(b, string(r.body))["id"].(string)
	sec := newSecure(b, st, gateway.Options{})
	claims := func() map[string]any {
		return map[string]any{"scope": "system/Organization.rs", "sub": "bench", "client_id": "bench"}
	}
	cases := []struct {
		name string
		g    *testGateway
		tok  string
	}{
		{"development mode", dev, ""},
		{"RS256 token", sec.testGateway, sec.iss.Token(claims(), oidctest.Alg(oidctest.RS256))},
		{"ES256 token", sec.testGateway, sec.iss.Token(claims(), oidctest.Alg(oidctest.ES256))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var hs []string
			if c.tok != "" {
				hs = []string{"Authorization", "Bearer " + c.tok}
			}
			c.g.t = b
			for b.Loop() {
				if r := c.g.do("GET", "/Organization/"+id, "", hs...); r.status != http.StatusOK {
					b.Fatalf("%d %s", r.status, r.body)
				}
			}
		})
	}
}

// TestLookalikePracticeLabelsAreRefused: a security label or tag whose
// system only looks like the practice label's (a trailing slash, another
// case or scheme) is refused with 422 on every write path and for every
// type, and nothing is stored; the exact label still works.
func TestLookalikePracticeLabelsAreRefused(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		labelled := func(field, system string) string {
			return `{"resourceType":"Patient","meta":{"` + field + `":[{"system":"` + system + `","code":"` + odsB + `"}]},"name":[{"family":"Lookalike"}]}`
		}
		lookalikes := []struct{ field, system string }{
			{"security", practiceSys + "/"},
			{"security", strings.ToUpper(practiceSys)},
			{"security", strings.Replace(practiceSys, "https://", "http://", 1)},
			{"tag", practiceSys},
			{"tag", practiceSys + "//"},
		}
		count := func() int {
			return len(s.searchIDs(t, d.navA, "/Patient?family=Lookalike", "match"))
		}
		for _, l := range lookalikes {
			body := labelled(l.field, l.system)
			paths := []struct{ method, path, body string }{
				{"POST", "/Patient", body},
				{"PUT", "/Patient/" + d.patA, strings.Replace(body, `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+d.patA+`",`, 1)},
				{"POST", "/", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:8a1c2f4e-0000-4000-8000-000000000001","resource":` + body + `,"request":{"method":"POST","url":"Patient"}}]}`},
			}
			for _, p := range paths {
				r := s.as(d.navA, p.method, p.path, p.body)
				assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s %s with %s %q: %s", p.method, p.path, l.field, l.system, r.body)
				assert.Contains(t, string(r.body), "practice label", "%s", r.body)
			}
			// A directory entry too.
			org := `{"resourceType":"Organization","name":"x","meta":{"` + l.field + `":[{"system":"` + l.system + `","code":"` + odsA + `"}]},"identifier":[{"system":"` + odsSys + `","value":"` + odsA + `"}]}`
			r := s.as(d.publisher, "POST", "/Organization", org)
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "Organization with %s %q: %s", l.field, l.system, r.body)
		}
		assert.Equal(t, 0, count(), "a refused write stored something")
		r := s.as(d.navA, "GET", "/Patient/"+d.patA, "")
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, `W/"1"`, r.header.Get("ETag"), "A's Patient was changed")

		// The exact label is the practice label.
		r = s.as(d.pcn, "POST", "/Patient", labelled("security", practiceSys))
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		assert.Equal(t, 1, len(s.searchIDs(t, d.pcn, "/Patient?family=Lookalike", "match")))
	})
}
