package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/oidctest"
	"github.com/signpost-fhir/signpost/snomed"
)

// Who may change what every decision depends on: a practice's navigation
// protocol (its administrator) and the cross-practice configuration (an
// administrator acting for all practices), by every write path, with
// tokens of a real issuer, on both stores.

// operatorSubject is the subject operatorVerifier lets act for all
// practices.
const operatorSubject = "signpost-operator"

// operatorVerifier is the real verifier, except that the token of
// operatorSubject acts for all practices. No token claim can say that
// (auth.Principal.AllPractices), so this is the one way to test the
// caller the cross-practice rules admit besides the developer.
type operatorVerifier struct{ *auth.Verifier }

func (v operatorVerifier) Verify(ctx context.Context, raw string) (*auth.Principal, error) {
	p, err := v.Verifier.Verify(ctx, raw)
	if err != nil || p.Subject != operatorSubject {
		return p, err
	}
	c := *p // the verifier may cache p
	c.AllPractices, c.ODS = true, nil
	return &c, nil
}

// newOperatedGateway serves st, with the shipped terminology seeded and
// navigation registered with the demo content (the protocol of practice
// Y99999 among it), to tokens of a new issuer verified by
// operatorVerifier.
func newOperatedGateway(t testing.TB, st store.Store, now func() time.Time) (*testGateway, *oidctest.Issuer) {
	t.Helper()
	ctx := context.Background()
	term := seededTerminology(t, st)
	iss := oidctest.New(t)
	v, err := auth.NewVerifier(ctx, auth.Config{Issuers: []string{iss.URL()}, Audience: iss.Audience()})
	require.NoError(t, err)
	g := newGateway(t, gateway.Options{Store: st, Verifier: operatorVerifier{v}, Now: now}, func(s *gateway.Server) {
		s.RegisterTerminology(term)
		require.NoError(t, s.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, DemoDir: "../testdata/protocols"}))
	})
	return g, iss
}

func newConfigGateway(t *testing.T, st store.Store) *secure {
	t.Helper()
	g, iss := newOperatedGateway(t, st, nil)
	return &secure{testGateway: g, iss: iss, st: st}
}

const demoPractice = "Y99999"

func practiceAdmin(ods string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": []string{ods}, "role": "admin", "sub": "admin-" + ods, "client_id": "test-app"}
}

func operatorClaims() map[string]any {
	return map[string]any{"scope": "system/*.cruds", "role": "admin", "sub": operatorSubject, "client_id": "test-app"}
}

// writeAttempt is one way to change or remove typ/id.
type writeAttempt struct {
	name         string
	method, path string
	body         string
	// entry: the status is that of the first entry of a batch.
	entry bool
}

// writeAttempts are every write path to typ/id: update, patch, delete,
// their conditional forms when typ is searched (a conditional
// interaction is a search), and entries of a transaction and a batch.
// stored is the resource's current body.
func writeAttempts(t *testing.T, typ, id string, stored map[string]any, searched bool) []writeAttempt {
	body, err := jsonMarshal(stored)
	require.NoError(t, err)
	patch := `[{"op":"replace","path":"/status","value":"` + fmt.Sprint(stored["status"]) + `"}]`
	entry := func(method string) string {
		e := txEntry{Request: req(method, typ+"/"+id)}
		if method == "PUT" {
			e.Resource = stored
		}
		return txBundle(t, "batch", e)
	}
	out := []writeAttempt{
		{name: "update", method: "PUT", path: "/" + typ + "/" + id, body: body},
		{name: "patch", method: "PATCH", path: "/" + typ + "/" + id, body: patch},
		{name: "delete", method: "DELETE", path: "/" + typ + "/" + id},
		{name: "transaction update", method: "POST", body: strings.Replace(entry("PUT"), `"batch"`, `"transaction"`, 1)},
		{name: "transaction delete", method: "POST", body: strings.Replace(entry("DELETE"), `"batch"`, `"transaction"`, 1)},
		{name: "batch update", method: "POST", body: entry("PUT"), entry: true},
		{name: "batch delete", method: "POST", body: entry("DELETE"), entry: true},
	}
	if searched {
		out = append(out,
			writeAttempt{name: "conditional update", method: "PUT", path: "/" + typ + "?_id=" + id, body: body},
			writeAttempt{name: "conditional patch", method: "PATCH", path: "/" + typ + "?_id=" + id, body: patch},
			writeAttempt{name: "conditional delete", method: "DELETE", path: "/" + typ + "?_id=" + id},
		)
	}
	return out
}

// try sends a and returns its status (the entry's, for a batch).
func (s *secure) try(t *testing.T, tok string, a writeAttempt) (int, string) {
	t.Helper()
	var headers []string
	if a.method == "PATCH" {
		headers = []string{"Content-Type", "application/json-patch+json"}
	}
	r := s.as(tok, a.method, a.path, a.body, headers...)
	if !a.entry || r.status != http.StatusOK {
		return r.status, string(r.body)
	}
	resp := responses(t, r.json(t))[0]
	var status int
	_, err := fmt.Sscanf(resp["status"].(string), "%d", &status)
	require.NoError(t, err)
	return status, fmt.Sprint(resp)
}

// current reads typ/id as the developer would, straight from the store.
func (s *secure) current(t *testing.T, typ, id string) (map[string]any, int64) {
	t.Helper()
	v, err := s.st.Read(context.Background(), typ, id)
	require.NoError(t, err)
	return mustDecodeTB(t, string(v.Body)), v.VersionID
}

// TestProtocolChangesNeedThePracticeAdministrator: PUT, PATCH and DELETE
// of a practice's navigation protocol, directly, conditionally and as
// Bundle entries, are refused (403) to anyone but an administrator acting
// for that practice; the protocol is untouched by every refusal.
func TestProtocolChangesNeedThePracticeAdministrator(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			s := newConfigGateway(t, sc.open(t))
			id := "navigation-protocol-" + demoPractice
			stored, version := s.current(t, "PlanDefinition", id)
			refused := map[string]map[string]any{
				"the practice's navigator":           nvNavigator("expert", demoPractice),
				"another practice's administrator":   practiceAdmin(odsB),
				"a token with no practice or role":   {"scope": "system/PlanDefinition.cruds", "sub": "robot"},
				"a publisher":                        publisherClaims(demoPractice),
				"an administrator of several others": {"scope": "user/*.cruds", "ods": []string{odsA, odsB}, "role": "admin", "sub": "pcn-admin"},
			}
			for who, claims := range refused {
				tok := s.token(claims)
				for _, a := range writeAttempts(t, "PlanDefinition", id, stored, false) {
					t.Run(who+"/"+a.name, func(t *testing.T) {
						status, body := s.try(t, tok, a)
						assert.Equal(t, http.StatusForbidden, status, "%s", body)
						if a.name == "transaction delete" || a.name == "transaction update" {
							assert.Contains(t, body, "Bundle.entry[0]")
						}
					})
				}
			}
			_, after := s.current(t, "PlanDefinition", id)
			require.Equal(t, version, after, "no refused attempt changed the protocol")
			r := s.as(s.token(practiceAdmin(odsB)), "DELETE", "/PlanDefinition?_id="+id, "")
			assert.Equal(t, http.StatusForbidden, r.status, "a conditional delete meets the same rule: %s", r.body)
			_, after = s.current(t, "PlanDefinition", id)
			require.Equal(t, version, after, "the refused conditional delete removed nothing")

			admin := s.token(practiceAdmin(demoPractice))
			r = s.as(admin, "DELETE", "/PlanDefinition/"+id, "")
			require.Equal(t, http.StatusNoContent, r.status, "the practice's administrator may: %s", r.body)
			assert.Equal(t, http.StatusGone, s.as(admin, "GET", "/PlanDefinition/"+id, "").status)
		})
	}
}

// TestSharedConfigurationNeedsAnAdministratorOfAllPractices: the
// allocation ConceptMap, the red-flag ValueSet and the shipped
// CodeSystems are read by every practice's decisions, so no navigator,
// practice administrator or publisher may change them by any path; an
// administrator acting for all practices may.
func TestSharedConfigurationNeedsAnAdministratorOfAllPractices(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			s := newConfigGateway(t, sc.open(t))
			targets := []struct{ typ, id string }{
				{"ConceptMap", snomed.AllocationMap},
				{"ValueSet", snomed.RedFlagFindingVS},
				{"CodeSystem", snomed.NavigationDecision},
			}
			refused := map[string]map[string]any{
				"a navigator":                      nvNavigator("expert", demoPractice),
				"a practice administrator":         practiceAdmin(demoPractice),
				"a publisher":                      publisherClaims(demoPractice),
				"a token with no practice or role": {"scope": "system/*.cruds", "sub": "robot"},
			}
			for _, target := range targets {
				stored, version := s.current(t, target.typ, target.id)
				for who, claims := range refused {
					tok := s.token(claims)
					for _, a := range writeAttempts(t, target.typ, target.id, stored, true) {
						t.Run(target.typ+"/"+who+"/"+a.name, func(t *testing.T) {
							status, body := s.try(t, tok, a)
							assert.Equal(t, http.StatusForbidden, status, "%s", body)
						})
					}
				}
				_, after := s.current(t, target.typ, target.id)
				require.Equal(t, version, after, "no refused attempt changed %s/%s", target.typ, target.id)
			}

			nav := s.token(nvNavigator("expert", demoPractice))
			for _, body := range []string{
				`{"resourceType":"ValueSet","status":"active","url":"https://signpost.example/fhir/ValueSet/shadow"}`,
				`{"resourceType":"ConceptMap","status":"active"}`,
				`{"resourceType":"Measure","status":"active"}`,
			} {
				typ := mustDecodeTB(t, body)["resourceType"].(string)
				r := s.as(nav, "POST", "/"+typ, body)
				assert.Equal(t, http.StatusForbidden, r.status, "a navigator creates no %s: %s", typ, r.body)
			}

			op := s.token(operatorClaims())
			cm, _ := s.current(t, "ConceptMap", snomed.AllocationMap)
			cm["publisher"] = "the operator"
			body, err := jsonMarshal(cm)
			require.NoError(t, err)
			before := s.audits(t)
			r := s.as(op, "PUT", "/ConceptMap/"+snomed.AllocationMap, body)
			require.Equal(t, http.StatusOK, r.status, "an administrator of all practices may: %s", r.body)
			r = s.as(op, "DELETE", "/ValueSet/"+snomed.RedFlagFindingVS, "")
			require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
			// Every change of shared configuration is audited: who, what, when.
			assert.Equal(t, 2, s.audits(t)-before, "one AuditEvent per change")
			page, err := s.st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent", Count: 2})
			require.NoError(t, err)
			var seen []string
			for _, v := range page.Versions {
				ev := string(v.Body)
				assert.Contains(t, ev, operatorSubject)
				for _, what := range []string{"ConceptMap/" + snomed.AllocationMap, "ValueSet/" + snomed.RedFlagFindingVS} {
					if strings.Contains(ev, what) {
						seen = append(seen, what)
					}
				}
			}
			assert.Len(t, seen, 2, "the AuditEvents name what changed")
			// A refused change is audited too.
			before = s.audits(t)
			r = s.as(nav, "PUT", "/ConceptMap/"+snomed.AllocationMap, body)
			require.Equal(t, http.StatusForbidden, r.status)
			assert.Equal(t, 1, s.audits(t)-before, "the refusal is recorded")
		})
	}
}

// TestConfigurationInDevelopmentMode: the developer is every role for
// every practice.
func TestConfigurationInDevelopmentMode(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	term := seededTerminology(t, st)
	g := newGateway(t, gateway.Options{Store: st}, func(s *gateway.Server) {
		s.RegisterTerminology(term)
		require.NoError(t, s.RegisterNavigation(context.Background(), gateway.NavigationOptions{Terminology: term, DemoDir: "../testdata/protocols"}))
	})
	cm := g.do("GET", "/ConceptMap/"+snomed.AllocationMap, "")
	require.Equal(t, http.StatusOK, cm.status)
	assert.Equal(t, http.StatusOK, g.do("PUT", "/ConceptMap/"+snomed.AllocationMap, string(cm.body)).status)
	assert.Equal(t, http.StatusNoContent, g.do("DELETE", "/PlanDefinition/navigation-protocol-"+demoPractice, "").status)
}
