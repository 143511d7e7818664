package clinicalsystem_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// TestOutcomeBundle: every entry but the Provenance is a conditional
// update (the receiver ends with the latest content), the Task names its
// version at Signpost in meta.source, references between entries are
// their fullUrls and other relative ones absolute at Signpost's base.
func TestOutcomeBundle(t *testing.T) {
	task := `{"resourceType":"Task","id":"t1","meta":{"versionId":"3","lastUpdated":"2026-01-01T00:00:00Z"},"status":"completed","intent":"order",
		"identifier":[{"system":"urn:oc","value":"OC-1"}],"output":[{"valueReference":{"reference":"ServiceRequest/sr2"}}]}`
	sr := `{"resourceType":"ServiceRequest","id":"sr2","status":"active","intent":"order","basedOn":[{"reference":"Task/t1"}],
		"supportingInfo":[{"reference":"Observation/ng"}]}`
	old := `{"resourceType":"ServiceRequest","id":"sr1","status":"revoked","intent":"order","identifier":[{"system":"urn:x","value":"1"}]}`
	prov := `{"resourceType":"Provenance","id":"p1","target":[{"reference":"ServiceRequest/sr2"},{"reference":"Task/t1/_history/4"}],
		"entity":[{"role":"source","what":{"reference":"PlanDefinition/pd/_history/1"}},{"role":"source","what":{"reference":"ConceptMap/allocation"}},
			{"role":"source","what":{"reference":"https://elsewhere.example/fhir/Library/x"}},{"role":"source","what":{"reference":"#c1"}}]}`
	obs := `{"resourceType":"Observation","id":"ng","status":"final"}`
	const refs = "https://signpost.nhs.example/fhir"
	bases := clinicalsystem.Bases{Canonical: base, References: refs}
	raw, err := clinicalsystem.OutcomeBundleFor(bases, []byte(task), []byte(sr), []byte(old), []byte(prov), []byte(obs))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := clinicalsystem.OutcomeBundleFor(bases, []byte(task), []byte(sr), []byte(old), []byte(prov), []byte(obs))
	if string(raw) != string(again) {
		t.Error("the same decision made a different Bundle")
	}
	var b struct {
		Type  string
		Entry []struct {
			FullURL  string
			Resource map[string]any
			Request  struct{ Method, URL, IfNoneExist string }
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	want := []struct{ method, url, ifNoneExist string }{
		{"PUT", "Task?identifier=" + url.QueryEscape("urn:oc|OC-1"), ""},
		{"PUT", "ServiceRequest?identifier=" + url.QueryEscape(base+"/sid/allocation|sr2"), ""},
		{"PUT", "ServiceRequest?identifier=" + url.QueryEscape("urn:x|1"), ""},
		{"POST", "Provenance", "_tag=" + url.QueryEscape(base+"/sid/provenance|p1")},
		{"PUT", "Observation?identifier=" + url.QueryEscape(base+"/sid/observation|ng"), ""},
	}
	if b.Type != "transaction" || len(b.Entry) != len(want) {
		t.Fatalf("bundle %s", raw)
	}
	for i, w := range want {
		e := b.Entry[i]
		if e.Request.Method != w.method || e.Request.URL != w.url || e.Request.IfNoneExist != w.ifNoneExist {
			t.Errorf("entry %d request = %+v, want %+v", i, e.Request, w)
		}
		if e.Resource["id"] != nil || !strings.HasPrefix(e.FullURL, "urn:uuid:") {
			t.Errorf("entry %d keeps its id or has fullUrl %q", i, e.FullURL)
		}
	}
	s := string(raw)
	for _, ref := range []string{`"ServiceRequest/sr2"`, `"Task/t1"`, `"Task/t1/_history/4"`, `"Observation/ng"`, `"versionId"`} {
		if strings.Contains(s, ref) {
			t.Errorf("%s left in the Bundle", ref)
		}
	}
	for _, ref := range []string{refs + "/PlanDefinition/pd/_history/1", refs + "/ConceptMap/allocation", "https://elsewhere.example/fhir/Library/x", "#c1"} {
		if !strings.Contains(s, `"reference":"`+ref+`"`) {
			t.Errorf("reference %s not in the Bundle: %s", ref, s)
		}
	}
	meta, _ := b.Entry[0].Resource["meta"].(map[string]any)
	if meta["source"] != refs+"/Task/t1/_history/3" {
		t.Errorf("the Task's meta.source = %v, want its versioned URL", meta["source"])
	}
	if !strings.Contains(s, `"reference":"`+b.Entry[0].FullURL+`"`) || !strings.Contains(s, `"reference":"`+b.Entry[4].FullURL+`"`) {
		t.Errorf("references were not pointed at the entries: %s", s)
	}
}
