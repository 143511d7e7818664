package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/snomed/sctid"
)

const navBase = "https://signpost.example/fhir"

func navTask(symptomCode string) string {
	return `{"resourceType":"Task","status":"requested","intent":"order",
	 "code":{"coding":[{"system":"` + navBase + `/CodeSystem/navigation-task","code":"navigate"}]},
	 "for":{"type":"Patient","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}},
	 "input":[
	  {"type":{"coding":[{"system":"` + navBase + `/CodeSystem/navigation-input","code":"contact-route"}]},"valueCode":"phone"},
	  {"type":{"coding":[{"system":"` + navBase + `/CodeSystem/navigation-input","code":"symptom"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"` + symptomCode + `"}]}}]}`
}

func allocation(code, performerType string) string {
	return `{"resourceType":"ServiceRequest","status":"active","intent":"order",
	 "subject":{"reference":"Patient/p1"},
	 "category":[{"coding":[{"system":"` + navBase + `/CodeSystem/navigation-category","code":"signpost"}]}],
	 "code":{"coding":[` + code + `]},
	 "performerType":{"coding":[` + performerType + `]}}`
}

// A concept id that is well formed (check digit, partition) but is not in
// the shipped set.
func unknownButWellFormed(t *testing.T) string {
	payload := "99999900"
	d, ok := sctid.CheckDigit(payload)
	require.True(t, ok)
	id := payload + string(d)
	require.True(t, sctid.Valid(id))
	return id
}

func TestNavigationCodedElementsAreValidatedOnWrite(t *testing.T) {
	t.Parallel()
	g := newTermGateway(t)
	post := func(path, body string, strict bool) termReply {
		req, err := http.NewRequest("POST", g.base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/fhir+json")
		if strict {
			req.Header.Set("Prefer", "handling=strict")
		}
		resp, err := g.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return termReply{resp.StatusCode, b}
	}
	unknown := unknownButWellFormed(t)
	tests := []struct {
		name   string
		path   string
		body   string
		strict bool
		status int
		expr   string
	}{
		{"known symptom", "/Task", navTask("29857009"), false, 201, ""},
		{"bad check digit", "/Task", navTask("29857008"), false, 422, "Task.input[1].valueCodeableConcept.coding[0]"},
		{"description id, not a concept", "/Task", navTask(descriptionID(t)), false, 422, "Task.input[1].valueCodeableConcept.coding[0]"},
		{"well formed, not loaded", "/Task", navTask(unknown), false, 201, ""},
		{"well formed, not loaded, strict", "/Task", navTask(unknown), true, 422, "Task.input[1].valueCodeableConcept.coding[0]"},
		{"local decision code", "/ServiceRequest", allocation(`{"system":"`+navBase+`/CodeSystem/navigation-decision","code":"self-care"}`, `{"system":"http://snomed.info/sct","code":"`+firstOccupation(t, g)+`"}`), false, 201, ""},
		{"unknown local decision code", "/ServiceRequest", allocation(`{"system":"`+navBase+`/CodeSystem/navigation-decision","code":"teleport"}`, `{"system":"http://snomed.info/sct","code":"`+firstOccupation(t, g)+`"}`), false, 422, "ServiceRequest.code.coding[0]"},
		{"malformed occupation", "/ServiceRequest", allocation(`{"system":"`+navBase+`/CodeSystem/navigation-decision","code":"self-care"}`, `{"system":"http://snomed.info/sct","code":"12345"}`), false, 422, "ServiceRequest.performerType.coding[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.path, tt.body, tt.strict)
			require.Equal(t, tt.status, r.status, "%s", r.body)
			if tt.expr != "" {
				assert.Contains(t, string(r.body), tt.expr)
				assert.Contains(t, string(r.body), `"code-invalid"`)
			}
		})
	}
	// A ServiceRequest that is not an allocation is not held to the contract.
	plain := `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"12345"}]}}`
	assert.Equal(t, 201, post("/ServiceRequest", plain, false).status)
}

// descriptionID is a well-formed SCTID in the description partition.
func descriptionID(t *testing.T) string {
	d, ok := sctid.CheckDigit("12345601")
	require.True(t, ok)
	return "12345601" + string(d)
}

// firstOccupation is a SNOMED CT occupation from the shipped set.
func firstOccupation(t *testing.T, g *termGateway) string {
	r := g.call("GET", "/ValueSet/$expand?url="+navBase+"/ValueSet/performer-occupation&count=1", "")
	require.Equal(t, 200, r.status, "%s", r.body)
	body := string(r.body)
	i := strings.Index(body, `"code":"`)
	require.Greater(t, i, 0, body)
	rest := body[i+8:]
	return rest[:strings.Index(rest, `"`)]
}
