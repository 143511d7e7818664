package mapping

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// BenchmarkNavigateScenarios runs every scenario of
// testdata/protocols/scenarios/scenarios.json that the demo protocol
// decides without a navigator through the whole pure engine, as the
// gateway's $navigate does: intake of the Task, assessment, decision
// over the demo directory (with its indexes) and the decision's
// resources. One op is one pass over all of them.
func BenchmarkNavigateScenarios(b *testing.B) {
	raw, err := os.ReadFile("../testdata/protocols/scenarios/scenarios.json")
	if err != nil {
		b.Fatal(err)
	}
	var f scnFile
	if err := json.Unmarshal(raw, &f); err != nil {
		b.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339, f.Now)
	if err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	n := NewNavigationNames("")
	e := NewEngine("")
	proto := navProtocol(t, "../testdata/protocols/navigation-protocol-Y99999.json")
	cands := navDemoCandidates(t)
	ofPractice, ofCategory, ofTypeInCategory := candidateIndexes(cands)
	cm := navAllocationMap(t)
	decider := Decider{Tier: "expert", Value: "navigator-1", System: "https://issuer.example", Type: "Practitioner"}
	var runs []benchRun
	for _, sc := range f.Scenarios {
		if sc.Protocol != "" && sc.Protocol != "demo" || sc.Navigator != nil || sc.Flow != "" || sc.Now != "" {
			continue
		}
		r := benchRun{task: scnTask(n, f.Practice, sc.Inputs, now)}
		if sc.Patient != nil {
			r.pt = Patient{BirthDate: scnBirthDate(now, sc.Patient.Age), Sex: sc.Patient.Sex}
		}
		if sc.NeedGroup != "" && sc.NeedGroup != "unavailable" {
			r.need = NeedGroup{Known: true, Code: sc.NeedGroup, Source: "test", Date: now.AddDate(0, -1, 0)}
		}
		runs = append(runs, r)
	}
	if len(runs) < 20 {
		b.Fatalf("only %d scenarios to run", len(runs))
	}
	b.Run("records", func(b *testing.B) {
		r := runs[0]
		req, _ := ParseNavigationTask(r.task, n)
		a := Assess(AssessInput{Request: req, Patient: r.pt, Need: r.need, Now: now})
		d, err := e.Decide(DecideInput{Assessment: a, Protocol: proto, Candidates: cands, Decider: decider, AllocationMap: cm, Now: now})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Records(RecordInput{Decision: d, Task: r.task, AllocationID: "alloc", ProvenanceID: "prov", ReviewID: "review",
				Now: now, Caller: decider, EngineIdentifierSystem: "urn:test"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("intake", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range runs {
				ParseNavigationTask(r.task, n)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			navigateAll(b, runs, n, e, proto, cands, ofPractice, ofCategory, ofTypeInCategory, cm, decider, now)
		}
	})
}

type benchRun struct {
	task map[string]any
	pt   Patient
	need NeedGroup
}

func navigateAll(b *testing.B, runs []benchRun, n NavigationNames, e *Engine, proto *Protocol, cands []Candidate,
	ofPractice, ofCategory func(string) []Candidate, ofTypeInCategory func(string, string) []Candidate,
	cm *snomed.ConceptMap, decider Decider, now time.Time) {
	{
		for _, r := range runs {
			req, issues := ParseNavigationTask(r.task, n)
			if len(navErrors(issues)) > 0 {
				b.Fatal(issues)
			}
			a := Assess(AssessInput{Request: req, Patient: r.pt, Need: r.need, Now: now})
			d, err := e.Decide(DecideInput{Assessment: a, Protocol: proto, Candidates: cands, OfPractice: ofPractice, OfCategory: ofCategory, OfTypeInCategory: ofTypeInCategory,
				Decider: decider, AllocationMap: cm, Now: now})
			if err != nil {
				if _, ok := fhir.AsError(err); ok {
					continue
				}
				b.Fatal(err)
			}
			if _, err := e.Records(RecordInput{Decision: d, Task: r.task, AllocationID: "alloc", ProvenanceID: "prov", ReviewID: "review",
				Now: now, Caller: decider, EngineIdentifierSystem: "urn:test"}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
