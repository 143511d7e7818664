package fhir

import (
	"encoding/json"
	"testing"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Tree walks typed values without a round trip through text; what it
// gives must be what Generate writes for the same value.
func TestTreeIsGenerate(t *testing.T) {
	type coding struct {
		System string `json:"system,omitempty"`
		Code   string `json:"code,omitempty"`
	}
	type head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id,omitempty"`
	}
	type res struct {
		head
		Active   bool                 `json:"active"`
		Flag     *bool                `json:"flag,omitempty"`
		Off      bool                 `json:"off,omitempty"`
		Rank     int                  `json:"rank,omitempty"`
		Count    int                  `json:"count"`
		Value    json.Number          `json:"value,omitempty"`
		Text     string               `json:"text,omitempty"`
		Bad      string               `json:"bad,omitempty"`
		Codings  []coding             `json:"coding,omitempty"`
		Empty    []coding             `json:"empty"`
		Client   any                  `json:"client,omitempty"`
		Nested   *res                 `json:"nested,omitempty"`
		Severity models.IssueSeverity `json:"severity"`
		skipped  string
		Ignored  string `json:"-"`
	}
	f := false
	v := res{head: head{ResourceType: "Basic", ID: "x"}, Flag: &f, Rank: 2, Value: "1.50", Text: "a <b> & c",
		Bad: "\xff", Codings: []coding{{System: "s", Code: "c"}, {}}, Empty: []coding{},
		Client: map[string]any{"reference": "Patient/1", "extension": []any{map[string]any{"url": "u", "valueString": ""}}, "n": json.Number("3")},
		Nested: &res{head: head{ResourceType: "Basic"}, Text: "inner"}, Severity: models.IssueSeverityWarning, skipped: "no", Ignored: "no"}
	tree, err := Tree(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeJSON(tree)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("Tree gives\n%s\nGenerate writes\n%s", got, want)
	}
	if _, err := Tree([]string{"a"}); err == nil {
		t.Fatal("a list is not a resource")
	}
}
