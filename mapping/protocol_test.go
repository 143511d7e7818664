package mapping

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
)

// protoWith is the demo protocol with its first action replaced by one
// built from mutate (or the whole resource changed by mutateAll).
func protoWith(t *testing.T, mutateAll func(pd map[string]any)) map[string]any {
	t.Helper()
	pd := navReadJSON(t, "../testdata/protocols/navigation-protocol-Y99999.json")
	mutateAll(pd)
	return pd
}

func firstAction(pd map[string]any) map[string]any {
	return fhir.List(pd["action"])[0].(map[string]any)
}

func celExpr(src string) map[string]any {
	return map[string]any{"language": ExpressionLanguage, "expression": src}
}

func TestProtocolIsCheckedOnWrite(t *testing.T) {
	n := NewNavigationNames("")
	tests := []struct {
		name   string
		mutate func(pd map[string]any)
		expr   string
		text   string
	}{
		{"condition does not compile", func(pd map[string]any) {
			firstAction(pd)["condition"] = []any{map[string]any{"kind": "applicability", "expression": celExpr("age >")}}
		}, "PlanDefinition.action[0].condition[0].expression.expression", "does not compile"},
		{"condition is not a boolean", func(pd map[string]any) {
			firstAction(pd)["condition"] = []any{map[string]any{"kind": "applicability", "expression": celExpr("age + 1")}}
		}, "PlanDefinition.action[0].condition[0].expression.expression", "bool is expected"},
		{"unknown variable", func(pd map[string]any) {
			firstAction(pd)["condition"] = []any{map[string]any{"kind": "applicability", "expression": celExpr("shoe_size > 9")}}
		}, "PlanDefinition.action[0].condition[0].expression.expression", "shoe_size"},
		{"not CEL", func(pd map[string]any) {
			firstAction(pd)["condition"] = []any{map[string]any{"kind": "applicability", "expression": map[string]any{"language": "text/fhirpath", "expression": "true"}}}
		}, "PlanDefinition.action[0].condition[0].expression.language", "CEL"},
		{"unknown output path", func(pd map[string]any) {
			firstAction(pd)["dynamicValue"] = []any{map[string]any{"path": "colour", "expression": celExpr("'blue'")}}
		}, "PlanDefinition.action[0].dynamicValue[0].path", "colour"},
		{"urgency literal not an urgency", func(pd map[string]any) {
			firstAction(pd)["dynamicValue"] = []any{map[string]any{"path": "urgency", "expression": celExpr("'whenever'")}}
		}, "PlanDefinition.action[0].dynamicValue[0].expression.expression", "navigation-urgency"},
		{"minutes not a number", func(pd map[string]any) {
			firstAction(pd)["dynamicValue"] = []any{map[string]any{"path": "appointmentMinutes", "expression": celExpr("'ten'")}}
		}, "PlanDefinition.action[0].dynamicValue[0].expression.expression", "int is expected"},
		{"no category", func(pd map[string]any) { delete(firstAction(pd), "code") }, "PlanDefinition.action[0].code", "navigation category"},
		{"unknown category", func(pd map[string]any) {
			firstAction(pd)["code"] = []any{map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-category"), "code": "teleport"}}}}
		}, "PlanDefinition.action[0].code[0]", "teleport"},
		{"active without approval date", func(pd map[string]any) { delete(pd, "approvalDate") }, "PlanDefinition.approvalDate", "approved"},
		{"active without approver", func(pd map[string]any) { delete(pd, "endorser") }, "PlanDefinition.endorser", "approved"},
		{"active without version", func(pd map[string]any) { delete(pd, "version") }, "PlanDefinition.version", "version"},
		{"wrong id for the practice", func(pd map[string]any) { pd["id"] = "navigation-protocol-Y12345" }, "PlanDefinition.id", "navigation-protocol-Y99999"},
		{"no practice", func(pd map[string]any) {
			pd["useContext"] = fhir.List(pd["useContext"])[1:]
		}, "PlanDefinition.useContext", "practice"},
		{"duplicate rule id", func(pd map[string]any) {
			fhir.List(pd["action"])[1].(map[string]any)["id"] = firstAction(pd)["id"]
		}, "PlanDefinition.action[1].id", "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issues := navErrors(CheckProtocol(protoWith(t, tt.mutate), n))
			require.NotEmpty(t, issues)
			found := false
			for _, is := range issues {
				if is.Expression[0] == tt.expr && strings.Contains(is.Diagnostics, tt.text) {
					found = true
				}
			}
			assert.True(t, found, "want %s mentioning %q; got %v", tt.expr, tt.text, issues)
		})
	}
	// The shipped demo and a draft without approval are fine.
	assert.Empty(t, CheckProtocol(navReadJSON(t, "../testdata/protocols/navigation-protocol-Y99999.json"), n))
	draft := protoWith(t, func(pd map[string]any) { pd["status"] = "draft"; delete(pd, "approvalDate"); delete(pd, "endorser") })
	assert.Empty(t, navErrors(CheckProtocol(draft, n)))
	// A PlanDefinition that is not a navigation protocol is not checked,
	// unless it takes a protocol's id.
	assert.Empty(t, CheckProtocol(map[string]any{"resourceType": "PlanDefinition", "id": "order-set", "status": "draft"}, n))
	assert.NotEmpty(t, CheckProtocol(map[string]any{"resourceType": "PlanDefinition", "id": "navigation-protocol-Y99999", "status": "draft"}, n))
}

func TestProtocolInForce(t *testing.T) {
	n := NewNavigationNames("")
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, London)
	p, _ := ParseProtocol(protoWith(t, func(pd map[string]any) { pd["status"] = "draft" }), n)
	ok, why := p.InForce(now)
	assert.False(t, ok)
	assert.Contains(t, why, "draft")
	p, _ = ParseProtocol(protoWith(t, func(pd map[string]any) {
		pd["effectivePeriod"] = map[string]any{"start": "2026-12-01"}
	}), n)
	ok, _ = p.InForce(now)
	assert.False(t, ok)
	p, _ = ParseProtocol(protoWith(t, func(pd map[string]any) {
		pd["effectivePeriod"] = map[string]any{"start": "2026-11-01", "end": "2026-11-22"}
	}), n)
	ok, _ = p.InForce(now)
	assert.False(t, ok, "the end date is the last day in force")
	p, _ = ParseProtocol(protoWith(t, func(pd map[string]any) {
		pd["effectivePeriod"] = map[string]any{"start": "2026-11-01", "end": "2026-11-23"}
	}), n)
	ok, _ = p.InForce(now)
	assert.True(t, ok)
}

func TestProtocolRulesComputeAndFailSafely(t *testing.T) {
	n := NewNavigationNames("")
	pd := protoWith(t, func(pd map[string]any) {
		pd["action"] = []any{
			map[string]any{"id": "divides-by-zero", "condition": []any{map[string]any{"kind": "applicability", "expression": celExpr("1 / (age - age) > 0")}},
				"code": []any{map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-category"), "code": "self-care"}}}}},
			map[string]any{"id": "computed-urgency", "condition": []any{map[string]any{"kind": "applicability", "expression": celExpr("request_type == 'clinical'")}},
				"code": []any{map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-category"), "code": "clinician"}}}},
				"dynamicValue": []any{
					map[string]any{"path": "urgency", "expression": celExpr("trend == 'worse' ? 'same-day' : 'within-week'")},
					map[string]any{"path": "appointmentMinutes", "expression": celExpr("age >= 65 ? 20 : 10")},
				}},
			map[string]any{"id": "computes-nonsense", "condition": []any{map[string]any{"kind": "applicability", "expression": celExpr("true")}},
				"code":         []any{map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-category"), "code": "clinician"}}}},
				"dynamicValue": []any{map[string]any{"path": "urgency", "expression": celExpr("problem")}}},
		}
	})
	p, issues := ParseProtocol(pd, n)
	require.Empty(t, navErrors(issues))
	facts := func(trend string, age int64) map[string]any {
		a := &Assessment{Request: &Request{RequestType: "clinical", Trend: trend, Problem: "whatever"}, Age: int(age), HasAge: true}
		return a.Facts()
	}
	out, warnings := p.Matching(facts("worse", 70))
	require.Len(t, out, 1, "the failing and the nonsense rules are skipped")
	assert.Equal(t, "computed-urgency", out[0].Rule.ID)
	assert.Equal(t, UrgencySameDay, out[0].Urgency)
	assert.Equal(t, 20, out[0].AppointmentMinutes)
	require.Len(t, warnings, 2)
	assert.Contains(t, warnings[0].Diagnostics, "divides-by-zero")
	assert.Contains(t, warnings[1].Diagnostics, "computes-nonsense")
	out, _ = p.Matching(facts("better", 30))
	assert.Equal(t, UrgencyWithinWeek, out[0].Urgency)
	assert.Equal(t, 10, out[0].AppointmentMinutes)
}

// TestHostileProtocolNeverWins decides every combination of the safety
// triggers under the hostile protocol, the demo protocol and no protocol,
// for automated decisions in and out of hours, and checks the bar of the
// issue: a red flag,
// a repeat contact or a complex need is never directed away from a
// clinician, whatever the protocol says.
func TestHostileProtocolNeverWins(t *testing.T) {
	// In hours (Monday morning) and out of hours (Saturday evening, the
	// practice closed until Monday: allocate_hours.go's routing).
	for _, now := range []time.Time{time.Date(2026, 11, 23, 9, 30, 0, 0, London), time.Date(2026, 11, 21, 19, 0, 0, 0, London)} {
		t.Run(now.Weekday().String(), func(t *testing.T) { hostileNeverWins(t, now) })
	}
}

func hostileNeverWins(t *testing.T, now time.Time) {
	n := NewNavigationNames("")
	e := NewEngine("")
	cands := navDemoCandidates(t)
	cm := navAllocationMap(t)
	protocols := map[string]*Protocol{
		"hostile": navProtocol(t, "../testdata/protocols/hostile/navigation-protocol-Y99999.json"),
		"demo":    navProtocol(t, "../testdata/protocols/navigation-protocol-Y99999.json"),
		"none":    nil,
	}
	problems := []string{"Earache for 2 days", "Back pain", "Worried about money", "Need a fit note", "Low mood"}
	count, outOfHours := 0, 0
	for name, proto := range protocols {
		for mask := 0; mask < 1<<7; mask++ {
			for pi, problem := range problems {
				redFlag, repeat, seen, escalating, complex, medicine, noConsent := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0, mask&16 != 0, mask&32 != 0, mask&64 != 0
				in := scnInputs{Route: "online", Type: "clinical", Problem: problem, Escalating: escalating}
				if pi == 3 {
					in.Type, in.AdminKind = "administrative", "fit-note"
				}
				if redFlag {
					in.Symptoms = []string{"29857009"}
				}
				if seen {
					in.SeenElsewhere = []string{"907301000000109", "310000008"}
				}
				if medicine {
					in.Problem += "; I have run out of insulin"
				}
				if noConsent {
					in.Consent = []byte("false")
				}
				req, issues := ParseNavigationTask(scnTask(n, "Y99999", in, now), n)
				require.Empty(t, navErrors(issues))
				asIn := AssessInput{Request: req, Patient: Patient{BirthDate: scnBirthDate(now, 40), Sex: "female"}, Need: NeedGroup{Known: true, Code: "3"}, Now: now}
				if complex {
					asIn.Need.Code = "11"
				}
				if repeat {
					asIn.Earlier = []EarlierContact{{TaskID: "e1", Symptoms: []string{"29857009"}}, {TaskID: "e2", Symptoms: []string{"29857009"}}}
					yes := true
					req.AskedBefore = &yes
				}
				a := Assess(asIn)
				d, err := e.Decide(DecideInput{Assessment: a, Protocol: proto, Candidates: cands, AllocationMap: cm,
					Decider: Decider{Tier: "expert"}, Now: now})
				require.NoError(t, err)
				count++
				for _, r := range d.Rules {
					if r.ID == RuleOutOfHours {
						outOfHours++
						break
					}
				}
				label := fmt.Sprintf("%s mask %07b %q: %s", name, mask, problem, strings.Join(d.Rationale, " | "))
				if redFlag {
					assert.Contains(t, []Category{CategoryEmergency, CategoryClinician}, d.Category, label)
					if d.Category == CategoryClinician {
						assert.Equal(t, UrgencySameDay, d.Urgency, label)
					}
				}
				if repeat || seen || escalating {
					assert.Contains(t, []Category{CategoryEmergency, CategoryClinician}, d.Category, label)
					if d.Category == CategoryClinician {
						assert.Equal(t, ModeFaceToFace, d.Mode, label)
						assert.True(t, d.Continuity, label)
					}
				}
				if medicine && d.Category != CategoryEmergency {
					assert.False(t, UrgencySameDay.MoreUrgentThan(d.Urgency), label)
					assert.NotEqual(t, CategorySelfCare, d.Category, label)
				}
				if complex {
					assert.True(t, d.Continuity || d.Category == CategoryEmergency, label)
					if d.Category.AwayFromPractice() {
						assert.False(t, d.Disposition.Final(), "complex needs are not directed away without a clinician's review: "+label)
					}
				}
				if noConsent {
					assert.False(t, d.Disposition.Final(), label)
				}
				if d.Category.AwayFromPractice() {
					assert.NotEmpty(t, strings.TrimSpace(d.SafetyNetting), label)
				}
				if d.Service != nil {
					assert.True(t, d.Service.Active, label)
				}
			}
		}
	}
	t.Logf("%d automated decisions checked, %d of them routed or advised out of hours", count, outOfHours)
	if now.Weekday() == time.Saturday {
		assert.Greater(t, outOfHours, count/2, "on Saturday evening the practice is closed")
	} else {
		assert.Zero(t, outOfHours, "on Monday morning the practice is open")
	}
}

func TestReasonsAreExplained(t *testing.T) {
	// The rationale of a decision names the protocol rule, the destination
	// and each excluded candidate, readable by a practice manager.
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, London)
	n := NewNavigationNames("")
	dur := 3.0
	req, _ := ParseNavigationTask(scnTask(n, "Y99999", scnInputs{Route: "phone", Type: "clinical", Problem: "Earache", DurationDays: &dur}, now), n)
	a := Assess(AssessInput{Request: req, Patient: Patient{BirthDate: scnBirthDate(now, 15)}, Need: NeedGroup{Known: true, Code: "2"}, Now: now})
	d, err := NewEngine("").Decide(DecideInput{Assessment: a, Protocol: navProtocol(t, "../testdata/protocols/navigation-protocol-Y99999.json"),
		Candidates: navDemoCandidates(t), AllocationMap: navAllocationMap(t), Decider: Decider{Tier: "expert"}, Now: now})
	require.NoError(t, err)
	text := strings.Join(d.Rationale, "\n")
	for _, want := range []string{
		"Assessment: clinical request by phone, age 15",
		"Protocol: Demo Surgery care navigation protocol version 2026.11.1",
		"Not chosen: Demo Pharmacy (Pharmacy First) (HealthcareService/demo-pharmacy-first): the patient's age (15 years, born",
		"Not used: protocol rule minor-illness-pharmacy-first: no service for external referral (Pharmacy First service) can take the patient",
		"Destination: Demo Surgery GPs (HealthcareService/demo-gp)",
		"Decision by the protocol (automated): practice clinician, within a week, to Demo Surgery GPs.",
	} {
		assert.Contains(t, text, want)
	}
	var ids []string
	for _, r := range d.Rules {
		ids = append(ids, r.ID)
	}
	assert.Contains(t, ids, "protocol:clinician-this-week")
}
