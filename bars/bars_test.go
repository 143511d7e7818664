package bars

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// TestErrorStatus: a refusal's issue code gives, through the one table,
// the status the standard's API answers each of its error codes with.
func TestErrorStatus(t *testing.T) {
	for _, c := range []struct {
		err    *Error
		code   string
		status int
	}{
		{Bad("x"), CodeBadRequest, http.StatusBadRequest},
		{Unprocessable("x"), CodeUnprocessable, http.StatusUnprocessableEntity},
		{forbidden("x"), CodeForbidden, http.StatusForbidden},
		{conflict("x"), CodeConflict, http.StatusConflict},
	} {
		if c.err.Code != c.code {
			t.Errorf("%v: code %s, want %s", c.err, c.err.Code, c.code)
		}
		if got := fhir.HTTPStatus(c.err.FHIR()); got != c.status {
			t.Errorf("%s: status %d, want %d", c.code, got, c.status)
		}
		var oo struct {
			ResourceType string
			Issue        []struct {
				Severity, Code, Diagnostics string
				Details                     struct {
					Coding []struct{ System, Code string }
				}
			}
		}
		if err := json.Unmarshal(c.err.Outcome(), &oo); err != nil {
			t.Fatal(err)
		}
		if oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != string(c.err.Issue) ||
			oo.Issue[0].Diagnostics != "x" || len(oo.Issue[0].Details.Coding) != 1 ||
			oo.Issue[0].Details.Coding[0].System != clinicalsystem.BaRSErrorSystem || oo.Issue[0].Details.Coding[0].Code != c.code {
			t.Errorf("%s: outcome %+v", c.code, oo)
		}
	}
}
