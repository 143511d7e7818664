package fhir_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

// navigationTask is a realistic care navigation Task (about 2 KB): a
// referral from a GP practice to a community service, with a
// primitive extension, choice inputs and outputs.
const navigationTask = `{
  "resourceType": "Task",
  "id": "nav-7f3c2a",
  "meta": {"versionId": "3", "lastUpdated": "2024-05-02T09:14:07.123456Z", "profile": ["https://fhir.nhs.uk/StructureDefinition/NHSDigital-Task"]},
  "extension": [{"url": "https://signpost.example.org/fhir/StructureDefinition/navigation-pathway", "valueCodeableConcept": {"coding": [{"system": "https://signpost.example.org/fhir/CodeSystem/pathway", "code": "falls-prevention", "display": "Falls prevention"}]}}],
  "identifier": [{"system": "https://signpost.example.org/fhir/Id/navigation", "value": "NAV-2024-000731"}],
  "basedOn": [{"reference": "ServiceRequest/sr-4471", "display": "Referral to falls prevention service"}],
  "groupIdentifier": {"system": "https://signpost.example.org/fhir/Id/episode", "value": "EP-1182"},
  "status": "in-progress",
  "_status": {"extension": [{"url": "https://signpost.example.org/fhir/StructureDefinition/status-reason-text", "valueString": "Awaiting call-back from the service"}]},
  "businessStatus": {"coding": [{"system": "https://signpost.example.org/fhir/CodeSystem/navigation-step", "code": "contacted-service"}], "text": "Service contacted"},
  "intent": "order",
  "priority": "urgent",
  "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill", "display": "Fulfill the focal request"}]},
  "description": "Book the patient into a falls prevention assessment within 14 days.",
  "focus": {"reference": "ServiceRequest/sr-4471"},
  "for": {"reference": "Patient/pat-9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}, "display": "Ms Jane Example"},
  "executionPeriod": {"start": "2024-05-01T10:00:00+01:00"},
  "authoredOn": "2024-05-01T09:58:41+01:00",
  "lastModified": "2024-05-02T10:14:07+01:00",
  "requester": {"reference": "PractitionerRole/pr-221", "display": "Dr A Clinician, Riverside Surgery"},
  "owner": {"reference": "Organization/org-falls-team", "display": "Community Falls Team"},
  "reasonCode": {"coding": [{"system": "http://snomed.info/sct", "code": "129839007", "display": "At risk for falls"}]},
  "note": [{"authorString": "Care navigator", "time": "2024-05-02T10:14:07+01:00", "text": "Left a voicemail with the falls team duty line."}],
  "restriction": {"repetitions": 1, "period": {"end": "2024-05-15T17:00:00+01:00"}},
  "input": [
    {"type": {"text": "contact-preference"}, "valueCode": "phone"},
    {"type": {"text": "needs-interpreter"}, "valueBoolean": false},
    {"type": {"text": "mobility-score"}, "valueQuantity": {"value": 3.50, "unit": "score", "system": "http://unitsofmeasure.org", "code": "{score}"}},
    {"type": {"text": "attempts"}, "valueUnsignedInt": 2}
  ],
  "output": [{"type": {"text": "appointment"}, "valueReference": {"reference": "Appointment/appt-88"}}]
}`

func mustParse(t testing.TB, body string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource([]byte(body))
	if err != nil {
		t.Fatalf("fixture does not parse: %v", err)
	}
	return r
}

// brief renders an issue as "severity code expression" for comparison.
func brief(is fhir.Issue) string {
	return string(is.Severity) + " " + string(is.Code) + " " + strings.Join(is.Expression, ",")
}

func TestValidate(t *testing.T) {
	const ext = `{"url": "http://example.org/x", "valueString": "y"}`
	tests := []struct {
		name   string
		body   string
		strict bool
		want   []string // brief() of every issue, sorted as Validate sorts
	}{
		{name: "navigation task", body: navigationTask},
		{name: "minimal task", body: `{"resourceType":"Task","status":"requested","intent":"order"}`},
		{name: "task without status",
			body: `{"resourceType":"Task","intent":"order"}`,
			want: []string{"error required Task.status"}},
		{name: "task without status or intent",
			body: `{"resourceType":"Task"}`,
			want: []string{"error required Task.intent", "error required Task.status"}},
		{name: "status not in task-status",
			body: `{"resourceType":"Task","status":"bogus","intent":"order"}`,
			want: []string{"error code-invalid Task.status"}},
		{name: "impossible month and day",
			body: `{"resourceType":"Task","status":"requested","intent":"order","authoredOn":"2024-13-45"}`,
			want: []string{"error value Task.authoredOn"}},
		{name: "day the calendar lacks",
			body: `{"resourceType":"Task","status":"requested","intent":"order","authoredOn":"2023-02-29T10:00:00Z"}`,
			want: []string{"error value Task.authoredOn"}},
		{name: "code of one no-break space (not XML whitespace; v2 table 0550 has one)",
			body: `{"resourceType":"CodeSystem","status":"active","content":"complete","concept":[{"code":"\u00a0","display":"External Jugular"}]}`},
		{name: "code of spaces only",
			body: `{"resourceType":"CodeSystem","status":"active","content":"complete","concept":[{"code":" \t "}]}`,
			want: []string{"error value CodeSystem.concept[0].code"}},
		{name: "leap day",
			body: `{"resourceType":"Task","status":"requested","intent":"order","authoredOn":"2024-02-29T10:00:00Z"}`},
		{name: "dateTime with hours but no timezone",
			body: `{"resourceType":"Task","status":"requested","intent":"order","lastModified":"2024-01-01T10:00:00"}`,
			want: []string{"error value Task.lastModified"}},
		{name: "repeating element sent as an object",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":{"type":{"text":"a"},"valueString":"b"}}`,
			want: []string{"error structure Task.input"}},
		{name: "single element sent as an array",
			body: `{"resourceType":"Task","status":["requested"],"intent":"order","for":[{"reference":"Patient/1"}]}`,
			want: []string{"error structure Task.for", "error structure Task.status"}},
		{name: "input without type",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueString":"b"},{"valueString":"c"}]}`,
			want: []string{"error required Task.input[1].type"}},
		{name: "input without value",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"}}]}`,
			want: []string{"error required Task.input[0].value[x]"}},
		{name: "two variants of one choice",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueString":"b","valueCode":"c"}]}`,
			want: []string{"error structure Task.input[0].value[x]"}},
		{name: "decimal sent as a string",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueQuantity":{"value":"1.50"}}]}`,
			want: []string{"error structure Task.input[0].valueQuantity.value"}},
		{name: "decimal with precision",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueQuantity":{"value":1.50}}]}`},
		{name: "decimal with exponent",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueDecimal":1.5e3}]}`},
		{name: "integer with a fraction",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueInteger":1.5}]}`,
			want: []string{"error value Task.input[0].valueInteger"}},
		{name: "integer with an exponent",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueInteger":1e2}]}`,
			want: []string{"error value Task.input[0].valueInteger"}},
		{name: "integer beyond int32",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueInteger":2147483648}]}`,
			want: []string{"error value Task.input[0].valueInteger"}},
		{name: "integer at int32 bounds",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueInteger":-2147483648},{"type":{"text":"b"},"valueInteger":2147483647}]}`},
		{name: "integer sent as a string",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueInteger":"1"}]}`,
			want: []string{"error structure Task.input[0].valueInteger"}},
		{name: "positiveInt zero and unsignedInt negative",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valuePositiveInt":0},{"type":{"text":"b"},"valueUnsignedInt":-1},{"type":{"text":"c"},"valueUnsignedInt":0}]}`,
			want: []string{"error value Task.input[0].valuePositiveInt", "error value Task.input[1].valueUnsignedInt"}},
		{name: "restriction repetitions zero",
			body: `{"resourceType":"Task","status":"requested","intent":"order","restriction":{"repetitions":0}}`,
			want: []string{"error value Task.restriction.repetitions"}},
		{name: "boolean sent as a string",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueBoolean":"true"}]}`,
			want: []string{"error structure Task.input[0].valueBoolean"}},
		{name: "string sent as a number",
			body: `{"resourceType":"Task","status":"requested","intent":"order","description":42}`,
			want: []string{"error structure Task.description"}},
		{name: "empty and blank strings",
			body: `{"resourceType":"Task","status":"requested","intent":"order","description":"","note":[{"text":" \n\t"}]}`,
			want: []string{"error value Task.description", "error value Task.note[0].text"}},
		{name: "code with inner double space",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueCode":"a  b"}]}`,
			want: []string{"error value Task.input[0].valueCode"}},
		{name: "malformed uri, oid, uuid and base64",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueUri":"has space"},{"type":{"text":"b"},"valueOid":"1.2.3"},{"type":{"text":"c"},"valueUuid":"urn:uuid:ABC"},{"type":{"text":"d"},"valueBase64Binary":"abc"}]}`,
			want: []string{"error value Task.input[0].valueUri", "error value Task.input[1].valueOid", "error value Task.input[2].valueUuid", "error value Task.input[3].valueBase64Binary"}},
		{name: "null member",
			body: `{"resourceType":"Task","status":"requested","intent":"order","description":null}`,
			want: []string{"error structure Task.description"}},
		{name: "empty array and empty object",
			body: `{"resourceType":"Task","status":"requested","intent":"order","identifier":[],"code":{}}`,
			want: []string{"error structure Task.code", "error structure Task.identifier"}},
		{name: "unknown element is a warning",
			body: `{"resourceType":"Task","status":"requested","intent":"order","colour":"blue","input":[{"type":{"text":"a"},"valueString":"b","weight":2}]}`,
			want: []string{"warning structure Task.colour", "warning structure Task.input[0].weight"}},
		{name: "unknown element is an error when strict",
			body:   `{"resourceType":"Task","status":"requested","intent":"order","colour":"blue"}`,
			strict: true,
			want:   []string{"error structure Task.colour"}},
		{name: "choice name without type is unknown",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"value":"b"}]}`,
			want: []string{"warning structure Task.input[0].value", "error required Task.input[0].value[x]"}},
		{name: "resourceType inside a datatype is unknown",
			body: `{"resourceType":"Task","status":"requested","intent":"order","for":{"resourceType":"Reference","reference":"Patient/1"}}`,
			want: []string{"warning structure Task.for.resourceType"}},
		{name: "primitive extension beside its value",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":{"id":"s1","extension":[` + ext + `]}}`},
		{name: "primitive extension instead of its value",
			body: `{"resourceType":"Task","intent":"order","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`},
		{name: "primitive extension that is not an object",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":"x"}`,
			want: []string{"error structure Task.status"}},
		{name: "primitive extension as an array on a single element",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":[{"extension":[` + ext + `]}]}`,
			want: []string{"error structure Task.status"}},
		{name: "primitive extension without url",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":{"extension":[{"valueString":"y"}]}}`,
			want: []string{"error required Task.status.extension[0].url"}},
		{name: "primitive extension with a foreign member",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":{"value":"x"}}`,
			want: []string{"warning structure Task.status.value"}},
		{name: "empty primitive extension beside a value",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_status":{}}`,
			want: []string{"warning structure Task.status"}},
		{name: "empty primitive extension without a value",
			body: `{"resourceType":"Task","intent":"order","_status":{}}`,
			want: []string{"error structure Task.status"}},
		{name: "primitive extension on a complex element",
			body: `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/1"},"_for":{"extension":[` + ext + `]}}`,
			want: []string{"error structure Task._for"}},
		{name: "primitive extension on an unknown element",
			body: `{"resourceType":"Task","status":"requested","intent":"order","_colour":{"extension":[` + ext + `]}}`,
			want: []string{"warning structure Task._colour"}},
		{name: "primitive array with extensions in step",
			body: `{"resourceType":"Patient","name":[{"given":["Ann",null],"_given":[null,{"extension":[` + ext + `]}]}]}`},
		{name: "primitive extension array of another length",
			body: `{"resourceType":"Patient","name":[{"given":["Ann","Bo"],"_given":[null]}]}`,
			want: []string{"error structure Patient.name[0].given"}},
		{name: "null value without an extension",
			body: `{"resourceType":"Patient","name":[{"given":["Ann",null],"_given":[null,null]}]}`,
			want: []string{"error structure Patient.name[0].given[1]"}},
		{name: "primitive extension array not an array",
			body: `{"resourceType":"Patient","name":[{"given":["Ann"],"_given":{"extension":[` + ext + `]}}]}`,
			want: []string{"error structure Patient.name[0].given"}},
		{name: "primitive extension array with a bad item",
			body: `{"resourceType":"Patient","name":[{"given":["Ann"],"_given":["x"]}]}`,
			want: []string{"error structure Patient.name[0].given[0]"}},
		{name: "extension without url, with two values",
			body: `{"resourceType":"Task","status":"requested","intent":"order","extension":[{"valueString":"a"},{"url":"http://example.org/y","valueString":"a","valueCode":"b"}]}`,
			want: []string{"error required Task.extension[0].url", "error structure Task.extension[1].value[x]"}},
		{name: "extension with neither value nor extensions, and with both",
			body: `{"resourceType":"Task","status":"requested","intent":"order","extension":[{"url":"http://example.org/a"},{"url":"http://example.org/b","valueString":"x","extension":[` + ext + `]}],"modifierExtension":[{"url":"http://example.org/c","_valueCode":{"extension":[` + ext + `]}}]}`,
			want: []string{"error invariant Task.extension[0]", "error invariant Task.extension[1]"}},
		{name: "nested extension content is checked",
			body: `{"resourceType":"Task","status":"requested","intent":"order","extension":[{"url":"http://example.org/y","extension":[{"url":"a","valueDate":"2024-02-30"}]}]}`,
			want: []string{"error value Task.extension[0].extension[0].valueDate"}},
		{name: "narrative without div, with a bad status",
			body: `{"resourceType":"Task","status":"requested","intent":"order","text":{"status":"draft"}}`,
			want: []string{"error required Task.text.div", "error code-invalid Task.text.status"}},
		{name: "coding and reference require nothing",
			body: `{"resourceType":"Task","status":"requested","intent":"order","code":{"coding":[{"display":"x"}]},"owner":{"display":"Team"}}`},
		{name: "malformed id",
			body: `{"resourceType":"Task","status":"requested","intent":"order","contained":[{"resourceType":"Patient","id":"a_b"}]}`,
			want: []string{"error value Task.contained[0].id"}},
		{name: "contained resource errors",
			body: `{"resourceType":"Task","status":"requested","intent":"order","contained":[{"resourceType":"Patient","id":"p1","gender":"blue"},{"resourceType":"ServiceRequest","id":"sr1","status":"active","intent":"order"}]}`,
			want: []string{"error code-invalid Task.contained[0].gender", "error required Task.contained[1].subject"}},
		{name: "contained resource of no known type",
			body: `{"resourceType":"Task","status":"requested","intent":"order","contained":[{"resourceType":"Spaceship"},{"id":"x"},{"resourceType":"DomainResource"}]}`,
			want: []string{"error structure Task.contained[0]", "error structure Task.contained[1]", "error structure Task.contained[2]"}},
		{name: "service request without subject",
			body: `{"resourceType":"ServiceRequest","status":"active","intent":"order"}`,
			want: []string{"error required ServiceRequest.subject"}},
		{name: "bundle entry resource",
			body: `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Task","status":"requested"},"request":{"method":"POST","url":"Task"}},{"resource":{"resourceType":"Task","status":"requested","intent":"order"},"request":{"method":"FETCH","url":"Task"}}]}`,
			want: []string{"error required Bundle.entry[0].resource.intent", "error code-invalid Bundle.entry[1].request.method"}},
		{name: "parameters resource",
			body: `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Task","intent":"order"}},{"valueString":"x"}]}`,
			want: []string{"error required Parameters.parameter[0].resource.status", "error required Parameters.parameter[1].name"}},
		{name: "content reference recursion",
			body: `{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"type":"string","item":[{"linkId":"1.1.1","type":"bogus"}]}]}]}`,
			want: []string{"error code-invalid Questionnaire.item[0].item[0].item[0].type", "error required Questionnaire.item[0].item[0].linkId"}},
		{name: "required binding on a codeable concept",
			body: `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"bogus"}]},"verificationStatus":{"coding":[{"system":"http://snomed.info/sct","code":"410605003"}]}}`,
			want: []string{"error code-invalid Condition.clinicalStatus.coding[0].code", "error code-invalid Condition.verificationStatus"}},
		{name: "required binding on a codeable concept with a translation",
			body: `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://snomed.info/sct","code":"55561003"},{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"verificationStatus":{"text":"confirmed by GP"}}`},
		{name: "unchecked value set accepts any code",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueAttachment":{"contentType":"application/x-made-up"}}]}`},
		{name: "money currency is unchecked",
			body: `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"a"},"valueMoney":{"value":1.00,"currency":"XYZ"}}]}`},
		{name: "unknown resource type",
			body: `{"resourceType":"Spaceship","id":"x"}`,
			want: []string{"error structure resourceType"}},
		{name: "abstract resource type",
			body: `{"resourceType":"DomainResource"}`,
			want: []string{"error structure resourceType"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.body)
			var got []string
			for _, is := range fhir.Validate(r, fhir.ValidateOptions{Strict: tc.strict}) {
				got = append(got, brief(is))
				if is.Diagnostics == "" {
					t.Errorf("issue %s has no diagnostics", brief(is))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("issues\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestValidateKeepsDecimalText(t *testing.T) {
	r := mustParse(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"mg"}}`)
	if err := r.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"value":1.50`) {
		t.Errorf("decimal text changed: %s", b)
	}
}

func TestValidateGoBuiltTree(t *testing.T) {
	// Trees built in Go hold ints and floats rather than json.Number.
	r, err := fhir.ResourceFromObject(map[string]any{
		"resourceType": "Task", "status": "requested", "intent": "order",
		"restriction": map[string]any{"repetitions": 2},
		"input":       []any{map[string]any{"type": map[string]any{"text": "a"}, "valueDecimal": 2.5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if issues := fhir.Validate(r, fhir.ValidateOptions{}); len(issues) != 0 {
		t.Errorf("issues: %v", issues)
	}
}

func TestResourceValidateError(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		strict bool
		status int // 0: no error
		codes  []fhir.IssueCode
	}{
		{name: "valid", body: navigationTask},
		{name: "warnings only", body: `{"resourceType":"Task","status":"requested","intent":"order","colour":"blue"}`},
		{name: "strict unknown", body: `{"resourceType":"Task","status":"requested","intent":"order","colour":"blue"}`, strict: true,
			status: 400, codes: []fhir.IssueCode{fhir.CodeStructure}},
		{name: "missing and bad code", body: `{"resourceType":"Task","status":"bogus","colour":"blue"}`,
			status: 422, codes: []fhir.IssueCode{fhir.CodeRequired, fhir.CodeCodeInvalid}},
		{name: "malformed value wins", body: `{"resourceType":"Task","status":"bogus","intent":"order","authoredOn":"yesterday"}`,
			status: 400, codes: []fhir.IssueCode{fhir.CodeValue, fhir.CodeCodeInvalid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustParse(t, tc.body).Validate(fhir.ValidateOptions{Strict: tc.strict})
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			fe, ok := fhir.AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *fhir.Error", err)
			}
			if fe.Status != tc.status {
				t.Errorf("status %d, want %d", fe.Status, tc.status)
			}
			var codes []fhir.IssueCode
			for _, is := range fe.Issues {
				if is.Severity != fhir.SeverityError {
					t.Errorf("issue %s is not an error", brief(is))
				}
				codes = append(codes, is.Code)
			}
			if !slices.Equal(codes, tc.codes) {
				t.Errorf("codes %v, want %v", codes, tc.codes)
			}
			if !errors.Is(err, fe) {
				t.Error("errors.Is does not find the error")
			}
		})
	}
}

func TestValidateCyclicTree(t *testing.T) {
	ext := map[string]any{"url": "http://example.org/loop"}
	ext["extension"] = []any{ext}
	r, err := fhir.ResourceFromObject(map[string]any{"resourceType": "Task", "status": "requested", "intent": "order", "extension": []any{ext}})
	if err != nil {
		t.Fatal(err)
	}
	issues := fhir.Validate(r, fhir.ValidateOptions{})
	if len(issues) == 0 || issues[0].Code != fhir.CodeStructure {
		t.Errorf("a cyclic tree gave %v", issues)
	}
}

func TestValidateNil(t *testing.T) {
	if issues := fhir.Validate(nil, fhir.ValidateOptions{}); len(issues) != 1 || issues[0].Code != fhir.CodeStructure {
		t.Errorf("fhir.Validate(nil) = %v", issues)
	}
}

// exampleFailures lists official examples that break the base specification
// itself, with the reason; they are checked to still fail, so a fix in the
// validator or the examples shows up. None of the shipped examples does.
var exampleFailures = map[string]string{}

// TestValidateExamples validates every official R4 example and every UK Core
// example the repository's neighbour folder holds, leniently and strictly:
// none may have an error-severity issue.
func TestValidateExamples(t *testing.T) {
	dirs := []string{"../testdata/fhir/r4-examples-4.0.1", "../testdata/fhir/ukcore-examples"}
	seen := 0
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Logf("%s is absent: skipped", dir)
			continue
		}
		for _, file := range files {
			name := filepath.Base(file)
			if name == "package.json" {
				continue // the npm package manifest, not a resource
			}
			seen++
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				r, err := fhir.ParseResource(data)
				if err != nil {
					t.Fatal(err)
				}
				var errs []string
				for _, opts := range []fhir.ValidateOptions{{}, {Strict: true}} {
					for _, is := range fhir.Validate(r, opts) {
						if is.Severity == fhir.SeverityError {
							errs = append(errs, brief(is)+": "+is.Diagnostics)
						}
					}
				}
				if reason, listed := exampleFailures[name]; listed {
					if len(errs) == 0 {
						t.Errorf("listed as failing (%s) but validates", reason)
					}
					return
				}
				for _, e := range errs {
					t.Error(e)
				}
			})
		}
	}
	if seen == 0 {
		t.Skip("no example folder in testdata/fhir")
	}
}

func BenchmarkValidateTask(b *testing.B) {
	r := mustParse(b, navigationTask)
	if issues := fhir.Validate(r, fhir.ValidateOptions{Strict: true}); len(issues) != 0 {
		b.Fatalf("fixture has issues: %v", issues)
	}
	b.ReportAllocs()
	for b.Loop() {
		if issues := fhir.Validate(r, fhir.ValidateOptions{}); len(issues) != 0 {
			b.Fatal(issues)
		}
	}
}
