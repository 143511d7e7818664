package search

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// dateRow is a Date with its ends as text, for readable expectations.
type dateRow struct{ Param, Low, High string }

func dateRows(ix Index) []dateRow {
	out := make([]dateRow, len(ix.Dates))
	for i, d := range ix.Dates {
		out[i] = dateRow{d.Param, fmtTime(d.Low), fmtTime(d.High)}
	}
	return out
}

func params[T any](rows []T, param func(T) string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, param(r))
	}
	return out
}

func TestExtractOfficialExamples(t *testing.T) {
	if _, err := os.Stat(examplesDir); err != nil {
		t.Skipf("official examples not present: %v", err)
	}
	const (
		ucum   = "http://unitsofmeasure.org"
		snomed = "http://snomed.info/sct"
		loinc  = "http://loinc.org"
	)
	tests := []struct {
		file       string
		tokens     []Token
		strs       []String
		refs       []Reference
		dates      []dateRow
		quantities []Quantity
		uris       []URI
		// absent are parameters that must have no row.
		absent []string
	}{
		{
			file: "Task-example1.json",
			tokens: []Token{
				{Param: "_id", Code: "example1"},
				{Param: "status", Code: "in-progress"},
				{Param: "intent", Code: "order"},
				{Param: "priority", Code: "routine"},
				{Param: "code", Text: "lipid panel"}, // code has only a text
				{Param: "identifier", System: "http:/goodhealth.org/identifiers", Code: "20170201-001"},
				{Param: "business-status", Text: "waiting for specimen"},
			},
			refs: []Reference{
				{Param: "owner", Type: "Organization", ID: "1832473e-2fe0-452d-abe9-3cdb9879522f", URL: "Organization/1832473e-2fe0-452d-abe9-3cdb9879522f"},
				{Param: "patient", Type: "Patient", ID: "example", URL: "Patient/example"},
				{Param: "subject", Type: "Patient", ID: "example", URL: "Patient/example"},
				{Param: "requester", Type: "Practitioner", ID: "example", URL: "Practitioner/example"},
				{Param: "focus", Type: "ServiceRequest", ID: "lipid", URL: "ServiceRequest/lipid"},
			},
			dates: []dateRow{
				// 2016-10-31T08:25:05+10:00
				{"authored-on", "2016-10-30T22:25:05.000000Z", "2016-10-30T22:25:05.999999Z"},
				{"modified", "2016-10-30T23:45:05.000000Z", "2016-10-30T23:45:05.999999Z"},
				// executionPeriod has a start only
				{"period", "2016-10-30T22:25:05.000000Z", "9999-12-31T23:59:59.999999Z"},
			},
			absent: []string{"_lastUpdated", "part-of"},
		},
		{
			file:   "Task-fm-example1.json",
			tokens: []Token{{Param: "code", System: "http://terminology.hl7.org/CodeSystem/financialtaskcode", Code: "cancel"}},
			refs: []Reference{
				{Param: "owner", IdentifierSystem: "http://nationalinsurers.com/identifiers", IdentifierValue: "12345"},
			},
			absent: []string{"patient", "subject"},
		},
		{
			file: "Observation-example.json",
			tokens: []Token{
				{Param: "code", System: loinc, Code: "29463-7", Text: "body weight"},
				{Param: "status", Code: "final"},
				{Param: "category", System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs", Text: "vital signs"},
			},
			refs: []Reference{{Param: "patient", Type: "Patient", ID: "example", URL: "Patient/example"}},
			dates: []dateRow{
				{"date", "2016-03-28T00:00:00.000000Z", "2016-03-28T23:59:59.999999Z"},
			},
			quantities: []Quantity{
				{Param: "value-quantity", Value: "185", Low: "184.5", High: "185.5", System: ucum, Code: "[lb_av]", Unit: "lbs"},
			},
			absent: []string{"value-concept", "value-string", "value-date"},
		},
		{
			file: "Observation-body-height.json",
			quantities: []Quantity{
				// The decimal's text is kept exactly: no float rounding.
				{Param: "value-quantity", Value: "66.899999999999991", Low: "66.8999999999999905", High: "66.8999999999999915", System: ucum, Code: "[in_i]", Unit: "in"},
			},
		},
		{
			file: "Observation-f002.json",
			dates: []dateRow{
				{"date", "2013-04-02T09:30:10.000000Z", "2013-04-05T09:30:10.999999Z"},
			},
		},
		{
			file: "Observation-bloodgroup.json",
			tokens: []Token{
				{Param: "value-concept", System: snomed, Code: "112144000", Text: "blood group a (finding)"},
				{Param: "value-concept", Text: "a"},
			},
			strs:   []String{{Param: "value-string", Value: "a", Exact: "A"}},
			absent: []string{"value-quantity"},
		},
		{
			file:  "Observation-date-lastmp.json",
			dates: []dateRow{{"value-date", "2016-12-30T00:00:00.000000Z", "2016-12-30T23:59:59.999999Z"}},
		},
		{
			file: "Observation-10minute-apgar-score.json",
			quantities: []Quantity{
				{Param: "value-quantity", Value: "10", Low: "9.5", High: "10.5", System: ucum, Code: "{score}"},
			},
			tokens: []Token{
				{Param: "component-code", System: loinc, Code: "32401-2", Text: "10 minute apgar color"},
				{Param: "component-code", Text: "apgar color score"},
				{Param: "component-value-concept", System: loinc, Code: "LA6724-4", Text: "good color all over"},
				{Param: "component-value-concept", System: "http://acme.ped/apgarcolor", Code: "2"},
			},
			absent: []string{"component-value-quantity"},
		},
		{
			file: "HealthcareService-example.json",
			tokens: []Token{
				{Param: "active", Code: "true"},
				{Param: "service-type", System: snomed, Code: "394913002", Text: "psychotherapy"},
				{Param: "service-category", System: "http://terminology.hl7.org/CodeSystem/service-category", Code: "8", Text: "counselling"},
				{Param: "identifier", System: "http://example.org/shared-ids", Code: "HS-12"},
			},
			strs: []String{
				{Param: "name", Value: "consulting psychologists and/or psychology services", Exact: "Consulting psychologists and/or psychology services"},
			},
			refs: []Reference{
				{Param: "organization", Type: "Organization", ID: "f001", URL: "Organization/f001"},
				{Param: "location", Type: "Location", ID: "1", URL: "Location/1"},
			},
		},
		{
			file: "PractitionerRole-example.json",
			tokens: []Token{
				{Param: "role", System: "http://terminology.hl7.org/CodeSystem/v2-0286", Code: "RP"},
				{Param: "specialty", System: snomed, Code: "408443003", Text: "general medical practice"},
				{Param: "email", System: "email", Code: "adam.southern@example.org"},
				{Param: "phone", System: "phone", Code: "(03) 5555 6473"},
				{Param: "telecom", System: "email", Code: "adam.southern@example.org"},
			},
			refs: []Reference{
				{Param: "practitioner", Type: "Practitioner", ID: "example", URL: "Practitioner/example"},
				{Param: "organization", Type: "Organization", ID: "f001", URL: "Organization/f001"},
			},
			dates: []dateRow{{"date", "2012-01-01T00:00:00.000000Z", "2012-03-31T23:59:59.999999Z"}},
		},
		{
			file: "Patient-example.json",
			tokens: []Token{
				{Param: "identifier", System: "urn:oid:1.2.36.146.595.217.0.1", Code: "12345", TypeSystem: "http://terminology.hl7.org/CodeSystem/v2-0203", TypeCode: "MR"},
				{Param: "gender", Code: "male"},
				{Param: "deceased", Code: "false"},
				{Param: "active", Code: "true"},
			},
			strs: []String{
				{Param: "family", Value: "chalmers", Exact: "Chalmers"},
				{Param: "given", Value: "jim", Exact: "Jim"},
				{Param: "name", Value: "windsor", Exact: "Windsor"},
				{Param: "address-city", Value: "pleasantville", Exact: "PleasantVille"},
				{Param: "address", Value: "534 erewhon st", Exact: "534 Erewhon St"},
			},
			dates: []dateRow{{"birthdate", "1974-12-25T00:00:00.000000Z", "1974-12-25T23:59:59.999999Z"}},
		},
		{
			file: "ServiceRequest-myringotomy.json",
			refs: []Reference{
				{Param: "subject", Base: "https://fhir.orionhealth.com/blaze/fhir", Type: "Patient", ID: "77662", URL: "https://fhir.orionhealth.com/blaze/fhir/Patient/77662"},
				{Param: "patient", Base: "https://fhir.orionhealth.com/blaze/fhir", Type: "Patient", ID: "77662", URL: "https://fhir.orionhealth.com/blaze/fhir/Patient/77662"},
			},
			dates: []dateRow{{"authored", "2014-02-14T00:00:00.000000Z", "2014-02-14T23:59:59.999999Z"}},
		},
		{
			file: "Subscription-example.json",
			tokens: []Token{
				{Param: "status", Code: "requested"},
				{Param: "type", Code: "rest-hook"},
				{Param: "payload", Code: "application/fhir+json"},
			},
			strs: []String{{Param: "criteria", Value: "observation?code=http://loinc.org|1975-2", Exact: "Observation?code=http://loinc.org|1975-2"}},
			uris: []URI{{Param: "url", Value: "https://biliwatch.com/customers/mount-auburn-miu/on-result"}},
		},
		{
			file: "Flag-example.json",
			// R4 gives Flag no code parameter.
			tokens: []Token{{Param: "identifier", Code: "12345"}},
			absent: []string{"code"},
			dates:  []dateRow{{"date", "2015-01-17T00:00:00.000000Z", "2016-12-01T23:59:59.999999Z"}},
		},
		{
			file: "Location-1.json",
			strs: []String{
				{Param: "name", Value: "south wing, second floor", Exact: "South Wing, second floor"},
				{Param: "address-city", Value: "den burg", Exact: "Den Burg"},
			},
			absent: []string{"near"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ix := Extract(readResource(t, filepath.Join(examplesDir, tc.file)))
			for _, w := range tc.tokens {
				if !slices.Contains(ix.Tokens, w) {
					t.Errorf("no token %+v in %+v", w, ix.Tokens)
				}
			}
			for _, w := range tc.strs {
				if !slices.Contains(ix.Strings, w) {
					t.Errorf("no string %+v in %+v", w, ix.Strings)
				}
			}
			for _, w := range tc.refs {
				if !slices.Contains(ix.References, w) {
					t.Errorf("no reference %+v in %+v", w, ix.References)
				}
			}
			dates := dateRows(ix)
			for _, w := range tc.dates {
				if !slices.Contains(dates, w) {
					t.Errorf("no date %+v in %+v", w, dates)
				}
			}
			for _, w := range tc.quantities {
				if !slices.Contains(ix.Quantities, w) {
					t.Errorf("no quantity %+v in %+v", w, ix.Quantities)
				}
			}
			for _, w := range tc.uris {
				if !slices.Contains(ix.URIs, w) {
					t.Errorf("no uri %+v in %+v", w, ix.URIs)
				}
			}
			all := allParams(ix)
			for _, a := range tc.absent {
				if slices.Contains(all, a) {
					t.Errorf("parameter %s has rows", a)
				}
			}
		})
	}
}

func allParams(ix Index) []string {
	var all []string
	all = append(all, params(ix.Tokens, func(r Token) string { return r.Param })...)
	all = append(all, params(ix.Strings, func(r String) string { return r.Param })...)
	all = append(all, params(ix.References, func(r Reference) string { return r.Param })...)
	all = append(all, params(ix.Dates, func(r Date) string { return r.Param })...)
	all = append(all, params(ix.Numbers, func(r Number) string { return r.Param })...)
	all = append(all, params(ix.Quantities, func(r Quantity) string { return r.Param })...)
	all = append(all, params(ix.URIs, func(r URI) string { return r.Param })...)
	return all
}

// TestExtractEveryExample extracts every official example: nothing may
// panic, rows must be free of duplicates and in parameter order, and every
// example of a registry type must give rows.
func TestExtractEveryExample(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*-*.json"))
	if len(files) == 0 {
		t.Skip("official examples not present")
	}
	total, resources := 0, 0
	for _, f := range files {
		r := readResource(t, f)
		ix := Extract(r)
		if Definitions(r.Type()) == nil {
			if ix.Len() != 0 {
				t.Errorf("%s: rows for a type outside the registry", f)
			}
			continue
		}
		resources++
		total += ix.Len()
		if ix.Len() == 0 {
			t.Errorf("%s: no rows", f)
		}
		checkRows(t, f, ix.Tokens)
		checkRows(t, f, ix.Strings)
		checkRows(t, f, ix.References)
		checkRows(t, f, ix.Quantities)
		checkRows(t, f, ix.URIs)
		for _, d := range ix.Dates {
			if d.High.Before(d.Low) {
				t.Errorf("%s: %s has an inverted range", f, d.Param)
			}
		}
	}
	t.Logf("%d resources, %d rows", resources, total)
}

func checkRows[T comparable](t *testing.T, file string, rows []T) {
	t.Helper()
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			if rows[i] == rows[j] {
				t.Errorf("%s: duplicate row %+v", file, rows[i])
			}
		}
	}
}

// TestExtractNavigationTask compares the rows of the navigation Task
// fixture with a golden file (go test -run NavigationTask -update).
func TestExtractNavigationTask(t *testing.T) {
	ix := Extract(readResource(t, "testdata/task-navigate.json"))
	var b bytes.Buffer
	dump := func(kind string, rows any) {
		v, _ := json.Marshal(rows)
		var list []json.RawMessage
		_ = json.Unmarshal(v, &list)
		for _, r := range list {
			fmt.Fprintf(&b, "%s %s\n", kind, r)
		}
	}
	dump("token", ix.Tokens)
	dump("string", ix.Strings)
	dump("reference", ix.References)
	dump("date", ix.Dates)
	dump("number", ix.Numbers)
	dump("quantity", ix.Quantities)
	dump("uri", ix.URIs)
	golden := "testdata/task-navigate.index.golden"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("rows differ from %s (run with -update after checking):\n%s", golden, b.String())
	}
	// The rows the work-queue queries rely on, spelt out.
	for _, w := range []Token{
		{Param: "status", Code: "requested"},
		{Param: "code", System: "https://signpost.example/fhir/CodeSystem/navigation-task", Code: "navigate", Text: "navigate a patient contact"},
		{Param: "_tag", System: "https://signpost.example/fhir/CodeSystem/queue", Code: "same-day"},
	} {
		if !slices.Contains(ix.Tokens, w) {
			t.Errorf("no token %+v", w)
		}
	}
	for _, w := range []Reference{
		{Param: "owner", Type: "Organization", ID: "org-Y12345", URL: "Organization/org-Y12345"},
		{Param: "owner", Type: "Organization", IdentifierSystem: "https://fhir.nhs.uk/Id/ods-organization-code", IdentifierValue: "Y12345"},
		{Param: "patient", Type: "Patient", ID: "pat-9449306060", URL: "Patient/pat-9449306060"},
		{Param: "patient", Type: "Patient", IdentifierSystem: "https://fhir.nhs.uk/Id/nhs-number", IdentifierValue: "9449306060"},
	} {
		if !slices.Contains(ix.References, w) {
			t.Errorf("no reference %+v", w)
		}
	}
	if !slices.Contains(dateRows(ix), dateRow{"_lastUpdated", "2026-01-12T08:05:02.118204Z", "2026-01-12T08:05:02.118204Z"}) {
		t.Errorf("no _lastUpdated row in %+v", dateRows(ix))
	}
}

// An identifier-only reference without a type cannot be resolved, so
// where(resolve() is Patient) drops it: patient:identifier needs
// Reference.type, subject:identifier does not.
func TestExtractLogicalReferenceWithoutType(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Task","status":"requested","intent":"order",
		"for":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9449306060"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ix := Extract(r)
	want := []Reference{{Param: "subject", IdentifierSystem: "https://fhir.nhs.uk/Id/nhs-number", IdentifierValue: "9449306060"}}
	if !slices.Equal(ix.References, want) {
		t.Errorf("references %+v, want %+v", ix.References, want)
	}
}

func TestExtractShapes(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Condition","id":"c1",
		"subject":{"reference":"Patient/p/_history/3"},
		"onsetRange":{"low":{"value":40,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}},
		"abatementAge":{"value":52.0,"unit":"a","system":"http://unitsofmeasure.org","code":"a"},
		"recordedDate":"2020-05",
		"code":{"coding":[{"system":"http://snomed.info/sct","code":"1"},{"system":"http://snomed.info/sct","code":"1"}]},
		"evidence":[{"detail":[{"reference":"#contained"},{"reference":"urn:uuid:0b4f2c1e-2f49-4bb2-9d2f-8a3e1b0c9d7e"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ix := Extract(r)
	wantQ := []Quantity{
		{Param: "abatement-age", Value: "52.0", Low: "51.95", High: "52.05", System: "http://unitsofmeasure.org", Code: "a", Unit: "a"},
		{Param: "onset-age", Low: "39.5", System: "http://unitsofmeasure.org", Code: "a", Unit: "a"},
	}
	if !slices.Equal(ix.Quantities, wantQ) {
		t.Errorf("quantities %+v, want %+v", ix.Quantities, wantQ)
	}
	if !slices.Contains(ix.References, Reference{Param: "subject", Type: "Patient", ID: "p", Version: "3", URL: "Patient/p/_history/3"}) {
		t.Errorf("references %+v", ix.References)
	}
	if !slices.Contains(ix.References, Reference{Param: "evidence-detail", URL: "urn:uuid:0b4f2c1e-2f49-4bb2-9d2f-8a3e1b0c9d7e"}) {
		t.Errorf("urn:uuid reference not kept as URL: %+v", ix.References)
	}
	n := 0
	for _, tok := range ix.Tokens {
		if tok.Param == "code" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("duplicate codings give %d rows, want 1", n)
	}
	if !slices.Contains(dateRows(ix), dateRow{"recorded-date", "2020-05-01T00:00:00.000000Z", "2020-05-31T23:59:59.999999Z"}) {
		t.Errorf("dates %+v", dateRows(ix))
	}
}

func TestSplitReference(t *testing.T) {
	tests := []struct{ in, base, typ, id, version string }{
		{"Patient/1", "", "Patient", "1", ""},
		{"Patient/1/_history/2", "", "Patient", "1", "2"},
		{"https://x.org/fhir/Patient/a.b-c", "https://x.org/fhir", "Patient", "a.b-c", ""},
		{"https://x.org/fhir/Patient/1/_history/9", "https://x.org/fhir", "Patient", "1", "9"},
		{"#c1", "", "", "", ""},
		{"urn:uuid:0b4f2c1e-2f49-4bb2-9d2f-8a3e1b0c9d7e", "", "", "", ""},
		{"patient/1", "", "", "", ""},
		{"Patient/", "", "", "", ""},
		{"/Patient/1", "", "", "", ""},
		{"Patient/1/_history/", "", "", "", ""},
		{"1", "", "", "", ""},
	}
	for _, tc := range tests {
		b, typ, id, v := SplitReference(tc.in)
		if b != tc.base || typ != tc.typ || id != tc.id || v != tc.version {
			t.Errorf("SplitReference(%q) = %q %q %q %q", tc.in, b, typ, id, v)
		}
	}
}

func BenchmarkExtractNavigationTask(b *testing.B) {
	r := readResource(b, "testdata/task-navigate.json")
	b.ReportAllocs()
	var rows int
	for b.Loop() {
		ix := Extract(r)
		rows = ix.Len()
	}
	b.ReportMetric(float64(rows), "rows/op")
}

func BenchmarkExtractObservation(b *testing.B) {
	path := filepath.Join(examplesDir, "Observation-10minute-apgar-score.json")
	if _, err := os.Stat(path); err != nil {
		b.Skip("official examples not present")
	}
	r := readResource(b, path)
	b.ReportAllocs()
	for b.Loop() {
		Extract(r)
	}
}

func TestFamilyPartsAndContainedReferences(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","id":"p","name":[{"family":"van de Heuvel","given":["Pieter"]}],
	 "generalPractitioner":[{"reference":"#gp"}],"contained":[{"resourceType":"Practitioner","id":"gp"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ix := Extract(r)
	var family []String
	for _, s := range ix.Strings {
		if s.Param == "family" {
			family = append(family, s)
		}
	}
	want := map[string]string{"van de heuvel": "van de Heuvel", "van": "", "de": "", "heuvel": ""}
	if len(family) != len(want) {
		t.Fatalf("family rows %v, want %v", family, want)
	}
	for _, s := range family {
		if exact, ok := want[s.Value]; !ok || exact != s.Exact {
			t.Errorf("family row %+v: want exact %q for %q", s, want[s.Value], s.Value)
		}
	}
	found := false
	for _, ref := range ix.References {
		if ref.Param == "general-practitioner" {
			found = true
			if ref.URL != "#gp" || ref.Type != "" || ref.ID != "" {
				t.Errorf("a contained reference is a row without type or id: %+v", ref)
			}
		}
	}
	if !found {
		t.Error("a reference to a contained resource leaves no row, so :missing calls it absent")
	}
}

func TestExtractComposite(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Observation","status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"9999-9"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ix := Extract(r)
	var got []string
	for _, tk := range ix.Tokens {
		if strings.Contains(tk.Param, CompositeSeparator) {
			got = append(got, tk.Param+" "+tk.Code)
		}
	}
	for _, q := range ix.Quantities {
		if strings.Contains(q.Param, CompositeSeparator) {
			got = append(got, q.Param+" "+string(q.Value))
		}
	}
	want := []string{
		"combo-code-value-quantity$0 8480-6", "combo-code-value-quantity$1 8462-4",
		"component-code-value-quantity$0 8480-6", "component-code-value-quantity$1 8462-4",
		"combo-code-value-quantity$0 120", "combo-code-value-quantity$1 80",
		"component-code-value-quantity$0 120", "component-code-value-quantity$1 80",
	}
	if !slices.Equal(got, want) {
		t.Errorf("composite rows\n got %q\nwant %q", got, want)
	}
}
