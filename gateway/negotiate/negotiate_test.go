package negotiate

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

func status(err error) int {
	if fe, ok := fhir.AsError(err); ok {
		return fe.Status
	}
	return 0
}

// _format wins over Accept; JSON in any spelling is served, anything else
// (or another FHIR version) is 406.
func TestResponse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		target string
		accept []string
		want   string
		status int
	}{
		{"/fhir/Patient", nil, FHIRJSON, 0},
		{"/fhir/Patient?_format=json", []string{"application/xml"}, FHIRJSON, 0},
		{"/fhir/Patient?_format=application/fhir+json", nil, FHIRJSON, 0},
		{"/fhir/Patient?_format=application%2Ffhir%2Bjson%3B+fhirVersion%3D4.0", nil, FHIRJSON, 0},
		{"/fhir/Patient?_format=xml", nil, "", http.StatusNotAcceptable},
		{"/fhir/Patient?_format=application/fhir%2Bjson%3BfhirVersion%3D5.0", nil, "", http.StatusNotAcceptable},
		{"/fhir/Patient", []string{"application/fhir+json"}, FHIRJSON, 0},
		{"/fhir/Patient", []string{"text/html, */*;q=0.8"}, FHIRJSON, 0},
		{"/fhir/Patient", []string{"application/json"}, "application/json; charset=utf-8", 0},
		{"/fhir/Patient", []string{"application/fhir+json; fhirVersion=4.0.1"}, FHIRJSON, 0},
		{"/fhir/Patient", []string{"application/fhir+json; fhirVersion=3.0"}, "", http.StatusNotAcceptable},
		{"/fhir/Patient", []string{"application/fhir+json;q=0"}, "", http.StatusNotAcceptable},
		{"/fhir/Patient", []string{"application/fhir+xml"}, "", http.StatusNotAcceptable},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		for _, a := range c.accept {
			r.Header.Add("Accept", a)
		}
		got, err := Response(r)
		if got != c.want || status(err) != c.status {
			t.Errorf("%s Accept %q: %q, %v; want %q, status %d", c.target, c.accept, got, err, c.want, c.status)
		}
	}
}

// A body is read only in a media type the route reads, in UTF-8 and R4;
// a missing Content-Type is taken as what the route expects.
func TestContentType(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ct     string
		kind   BodyKind
		want   string
		status int
	}{
		{"", BodyFHIR, "", 0},
		{"application/fhir+json", BodyFHIR, "application/fhir+json", 0},
		{"application/json; charset=UTF-8", BodyFHIR, "application/json", 0},
		{"application/json+fhir", BodyFHIR, "application/json+fhir", 0},
		{"application/fhir+xml", BodyFHIR, "", http.StatusUnsupportedMediaType},
		{"application/fhir+json; fhirVersion=4.0", BodyFHIR, "application/fhir+json", 0},
		{"application/fhir+json; fhirVersion=5.0", BodyFHIR, "", http.StatusUnsupportedMediaType},
		{"application/fhir+json; charset=latin1", BodyFHIR, "", http.StatusUnsupportedMediaType},
		{"not a type;;", BodyFHIR, "", http.StatusUnsupportedMediaType},
		{FormType, BodyForm, FormType, 0},
		{"application/fhir+json", BodyForm, "", http.StatusUnsupportedMediaType},
		{"application/json-patch+json", BodyPatch, "application/json-patch+json", 0},
		{"application/fhir+json", BodyPatch, "application/fhir+json", 0},
		{FormType, BodyPatch, "", http.StatusUnsupportedMediaType},
	} {
		r := httptest.NewRequest(http.MethodPost, "/fhir/Patient", nil)
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		got, err := ContentType(r, c.kind)
		if got != c.want || status(err) != c.status {
			t.Errorf("%q for kind %d: %q, %v; want %q, status %d", c.ct, c.kind, got, err, c.want, c.status)
		}
	}
}

func TestServedVersion(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"4.0": true, "4.0.1": true, "4.0.0": true, "4.01": false, "4.3": false, "5.0": false, "": false} {
		if ServedVersion(v) != want {
			t.Errorf("ServedVersion(%q) = %v", v, !want)
		}
	}
}
