package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryWritePathIsGuarded walks every write path (update, patch,
// delete, their conditional forms, transaction and batch entries) to
// every protected type — a practice's patient data, its Subscription, its
// directory entries (Organization, Endpoint, HealthcareService,
// Location) and its navigation protocol — with callers of another
// practice or of none, on both stores, with a real issuer: each attempt
// is refused (403, or the 404 of an id the caller cannot see) and the
// stored version is unchanged.
func TestEveryWritePathIsGuarded(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			s := newConfigGateway(t, sc.open(t))
			const other = "B22222"
			pubA := s.token(publisherClaims(demoPractice))
			adminA := s.token(practiceAdmin(demoPractice))
			navA := s.token(nvNavigator("expert", demoPractice))
			org := "demo-surgery" // the practice's own Organization, from the demo content
			managed := `"managingOrganization":{"identifier":{"system":"` + odsSys + `","value":"` + demoPractice + `"}}`
			ep := s.created(t, pubA, "Endpoint", `{"resourceType":"Endpoint","status":"active",`+managed+`,
			 "connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
			 "payloadType":[{"text":"FHIR"}],"address":"https://clinical.example/fhir"}`)
			hs := s.created(t, pubA, "HealthcareService", `{"resourceType":"HealthcareService","active":true,"name":"Guarded clinic","providedBy":{"identifier":{"system":"`+odsSys+`","value":"`+demoPractice+`"}}}`)
			loc := s.created(t, pubA, "Location", `{"resourceType":"Location","status":"active","name":"Guarded site",`+managed+`}`)
			pat := s.created(t, navA, "Patient", patientBody("Guarded", "9000000041"))
			taskBody, err := jsonMarshal(nvTask(nvClinical("phone", "Earache", 3.0), demoPractice, "9000000041", "Patient/"+pat, nvNow))
			require.NoError(t, err)
			task := s.created(t, navA, "Task", taskBody)
			sub := s.created(t, adminA, "Subscription", `{"resourceType":"Subscription","status":"off","reason":"guarded","criteria":"Task?status=requested","channel":{"type":"rest-hook","endpoint":"https://hooks.example/a","payload":"application/fhir+json"}}`)

			targets := []struct {
				typ, id  string
				searched bool
			}{
				{"Organization", org, true},
				{"Endpoint", ep, true},
				{"HealthcareService", hs, true},
				{"Location", loc, true},
				{"Patient", pat, true},
				{"Task", task, true},
				{"Subscription", sub, true},
				{"PlanDefinition", "navigation-protocol-" + demoPractice, false},
			}
			attackers := map[string]map[string]any{
				"another practice's navigator":     nvNavigator("expert", other),
				"another practice's administrator": practiceAdmin(other),
				"another practice's publisher":     publisherClaims(other),
				"a token with no practice or role": {"scope": "system/*.cruds", "sub": "robot"},
			}
			for _, tg := range targets {
				stored, version := s.current(t, tg.typ, tg.id)
				for who, claims := range attackers {
					tok := s.token(claims)
					for _, a := range writeAttempts(t, tg.typ, tg.id, stored, tg.searched) {
						if _, ok := stored["status"]; !ok && strings.Contains(a.name, "patch") {
							a.body = `[{"op":"add","path":"/language","value":"en"}]`
						}
						t.Run(tg.typ+"/"+who+"/"+a.name, func(t *testing.T) {
							status, body := s.try(t, tok, a)
							refused := []int{http.StatusForbidden, http.StatusNotFound}
							if a.name == "conditional delete" {
								// Another practice's resource does not match the
								// caller's search: nothing is deleted, as when
								// nothing matches at all (the version check below).
								refused = append(refused, http.StatusNoContent)
							}
							assert.Contains(t, refused, status, "%s", body)
						})
					}
				}
				_, after := s.current(t, tg.typ, tg.id)
				require.Equal(t, version, after, "a refused attempt changed %s/%s", tg.typ, tg.id)
			}
		})
	}
}
