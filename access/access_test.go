package access

import (
	"net/url"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
)

func TestSearchIncludes(t *testing.T) {
	q, err := search.ParseQuery("ServiceRequest", url.Values{"_include": {"ServiceRequest:subject:Patient"}, "_revinclude": {"Task:focus"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := Search(q)
	for _, want := range []Permission{{"ServiceRequest", auth.Search}, {"Patient", auth.Read}, {"Task", auth.Read}} {
		if !slices.Contains(got, want) {
			t.Errorf("%v lacks %v", got, want)
		}
	}
}

func TestEntryConditionalReference(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := Entry(&interaction.Entry{Method: "POST", Type: "Task", Resource: r}, nil)
	want := []Permission{{"Task", auth.Create}, {"Patient", auth.Search}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := Entry(&interaction.Entry{Method: "GET", Type: "Task"}, nil); !slices.Equal(got, []Permission{{"Task", auth.Read}}) {
		t.Errorf("read entry: %v", got)
	}
}

func TestValidate(t *testing.T) {
	for mode, want := range map[string][]Permission{
		"create":  {{"Task", auth.Create}},
		"update":  {{"Task", auth.Update}},
		"delete":  {{"Task", auth.Delete}},
		"profile": {{"Task", auth.Read}},
		"":        {{"Task", auth.Read}, {"Task", auth.Create}, {"Task", auth.Update}},
	} {
		if got := Validate("Task", mode); !slices.Equal(got, want) {
			t.Errorf("mode %q: %v, want any of %v", mode, got, want)
		}
	}
}
