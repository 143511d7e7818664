package navigation

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
)

func params(t *testing.T, entries ...map[string]any) *fhir.Parameters {
	t.Helper()
	list := make([]any, len(entries))
	for i, e := range entries {
		list[i] = e
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": list})
	if err != nil {
		t.Fatal(err)
	}
	p, err := fhir.ParseParameters(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParseNavigate: the $navigate parameters, and a refusal of each
// kind is malformed (400), naming the parameter.
func TestParseNavigate(t *testing.T) {
	dest := map[string]any{"name": "destination", "valueReference": map[string]any{"reference": "HealthcareService/x"}}
	got, err := parseNavigate(params(t, map[string]any{"name": "mode", "valueCode": "propose"}, dest,
		map[string]any{"name": "urgency", "valueCode": "same-day"}, map[string]any{"name": "review", "valueBoolean": true}))
	if err != nil {
		t.Fatal(err)
	}
	if !got.propose || !got.review || got.choice == nil || got.choice.Destination != "HealthcareService/x" || got.choice.Urgency != mapping.Urgency("same-day") {
		t.Errorf("parsed %+v (choice %+v)", got, got.choice)
	}
	if got, err := parseNavigate(params(t)); err != nil || got.choice != nil || got.propose {
		t.Errorf("no parameters: %+v, %v", got, err)
	}
	for name, entries := range map[string][]map[string]any{
		"speed":             {{"name": "speed", "valueString": "fast"}},
		"mode":              {{"name": "mode", "valueCode": "maybe"}},
		"destination":       {{"name": "urgency", "valueCode": "same-day"}},
		"review":            {{"name": "review", "valueString": "yes"}},
		"urgency":           {dest, {"name": "urgency", "valueCode": "soon"}},
		"consultation-mode": {dest, {"name": "consultation-mode", "valueCode": "carrier-pigeon"}},
	} {
		_, err := parseNavigate(params(t, entries...))
		var fe *fhir.Error
		if !errors.As(err, &fe) {
			t.Fatalf("%s: %v is not a fhir.Error", name, err)
		}
		if fe.Detail != fhir.DetailMalformed || fhir.HTTPStatus(fe) != 400 || len(fe.Issues[0].Expression) == 0 || fe.Issues[0].Expression[0] != name {
			t.Errorf("%s: detail %q, status %d, at %v", name, fe.Detail, fhir.HTTPStatus(fe), fe.Issues[0].Expression)
		}
	}
}
