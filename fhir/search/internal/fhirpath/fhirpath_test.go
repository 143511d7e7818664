package fhirpath

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// decode reads JSON the way package fhir holds it (numbers as json.Number).
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

var testChoices = map[string][]string{
	"value":    {"Quantity", "string", "CodeableConcept", "boolean", "Period"},
	"deceased": {"boolean", "dateTime"},
	"onset":    {"Age", "dateTime", "Range"},
}

func render(items []Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		switch v := it.Value.(type) {
		case map[string]any:
			b, _ := json.Marshal(v)
			parts[i] = it.Type + string(b)
		default:
			parts[i] = fmt.Sprintf("%s:%v", it.Type, v)
		}
	}
	return strings.Join(parts, " ")
}

func TestEval(t *testing.T) {
	obs := `{"resourceType":"Observation","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"29463-7"},{"system":"http://snomed.info/sct","code":"27113001"}]},
		"subject":{"reference":"Patient/p1"},
		"performer":[{"reference":"Practitioner/x"},{"reference":"http://other.org/fhir/Patient/p2"},{"reference":"#c1"},{"identifier":{"value":"9"},"type":"Patient"}],
		"valueQuantity":{"value":185,"unit":"lbs"},
		"component":[{"valueString":"a"},{"valueQuantity":{"value":1.50}}]}`
	pat := `{"resourceType":"Patient","telecom":[{"system":"phone","value":"123"},{"system":"email","value":"a@b"}],
		"name":[{"given":["Ann",null,"Bo"]}],"_name":[{"id":"x"}],"deceasedDateTime":"2020"}`
	cond := `{"resourceType":"Condition","onsetAge":{"value":42,"unit":"a"}}`
	tests := []struct {
		name, res, expr, want string
	}{
		{"path", obs, "Observation.status", ":final"},
		{"other type is empty", obs, "Patient.status", ""},
		{"Resource root", obs, "Resource.status", ":final"},
		{"repeating", obs, "Observation.code.coding.code", ":29463-7 :27113001"},
		{"choice", obs, "Observation.value", `Quantity{"unit":"lbs","value":185}`},
		{"as operator", obs, "(Observation.value as Quantity)", `Quantity{"unit":"lbs","value":185}`},
		{"as excludes", obs, "(Observation.value as string)", ""},
		{"as function", cond, "Condition.onset.as(Age)", `Age{"unit":"a","value":42}`},
		{"as Quantity takes Age", cond, "Condition.onset as Quantity", `Age{"unit":"a","value":42}`},
		{"ofType", obs, "Observation.component.value.ofType(string)", "string:a"},
		{"choice then member", obs, "(Observation.value as Quantity).unit", ":lbs"},
		{"union", obs, "Observation.status | Observation.component.value.ofType(string)", ":final string:a"},
		{"resolve is", obs, "Observation.subject.where(resolve() is Patient)", `{"reference":"Patient/p1"}`},
		{"resolve is on many", obs, "Observation.performer.where(resolve() is Patient).reference | Observation.performer.where(resolve() is Patient).identifier.value",
			":http://other.org/fhir/Patient/p2 :9"},
		{"where system", pat, "Patient.telecom.where(system='email').value", ":a@b"},
		{"null placeholders skipped", pat, "Patient.name.given", ":Ann :Bo"},
		{"exists and !=", pat, "Patient.deceased.exists() and Patient.deceased != false", "boolean:true"},
		{"absent exists and", obs, "Observation.deceased.exists() and Observation.deceased != false", "boolean:false"},
		{"index", obs, "Observation.code.coding[1].code", ":27113001"},
		{"first", obs, "Observation.code.coding.first().system", ":http://loinc.org"},
		{"empty", obs, "Observation.method.empty()", "boolean:true"},
		{"not", obs, "Observation.method.exists().not()", "boolean:true"},
		{"exists criteria", obs, "Observation.code.coding.exists(code = '27113001')", "boolean:true"},
		{"number equality", obs, "Observation.component.value.ofType(Quantity).where(value = 1.5).value", ":1.50"},
		{"or", obs, "Observation.status = 'x' or Observation.status = 'final'", "boolean:true"},
		{"empty literal", obs, "{}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(tc.expr, testChoices)
			if err != nil {
				t.Fatal(err)
			}
			res := decode(t, tc.res)
			got := render(e.Eval(res, res["resourceType"].(string)))
			if got != tc.want {
				t.Errorf("%s\n got %s\nwant %s", tc.expr, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"Observation.value.round()",  // unsupported function
		"Observation.where(",         // unterminated
		"Observation.value + 1",      // arithmetic is not in the subset
		"Observation.code.where()",   // missing argument
		"Observation.status = 'open", // unterminated string
		"Observation..code",
		"%resource.id",
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) succeeded", src)
		}
	}
}

func TestReferenceType(t *testing.T) {
	tests := []struct {
		ref  any
		want string
	}{
		{"Patient/1", "Patient"},
		{"Patient/1/_history/2", "Patient"},
		{"https://x.org/fhir/Organization/o1", "Organization"},
		{"#contained", ""},
		{"urn:uuid:5b1a6f1e-0b1c-4f2e-9d7e-0e8b1f2a3c4d", ""},
		{map[string]any{"identifier": map[string]any{"value": "1"}, "type": "Patient"}, "Patient"},
		{map[string]any{"identifier": map[string]any{"value": "1"}}, ""},
		{map[string]any{"reference": "Group/g", "type": "Patient"}, "Group"},
	}
	for _, tc := range tests {
		if got := ReferenceType(tc.ref); got != tc.want {
			t.Errorf("ReferenceType(%v) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
