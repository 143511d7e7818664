package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
)

func intakeTask(t *testing.T, mutate func(task map[string]any)) map[string]any {
	t.Helper()
	one := 3.0
	task := scnTask(NewNavigationNames(""), "Y99999", scnInputs{Route: "phone", Type: "clinical", Problem: "Earache", DurationDays: &one}, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	if mutate != nil {
		mutate(task)
	}
	return task
}

func inputAt(task map[string]any, code string) map[string]any {
	for _, in := range fhir.List(task["input"]) {
		m := in.(map[string]any)
		if codeOfSystem(m["type"], NewNavigationNames("").System("navigation-input")) == code {
			return m
		}
	}
	return nil
}

func addInput(task map[string]any, code, key string, v any) {
	task["input"] = append(fhir.List(task["input"]), map[string]any{
		"type": map[string]any{"coding": []any{map[string]any{"system": NewNavigationNames("").System("navigation-input"), "code": code}}}, key: v})
}

func removeInput(task map[string]any, code string) {
	var kept []any
	for _, in := range fhir.List(task["input"]) {
		if codeOfSystem(in.(map[string]any)["type"], NewNavigationNames("").System("navigation-input")) != code {
			kept = append(kept, in)
		}
	}
	task["input"] = kept
}

func TestIntakeRefusesWhatBreaksTheContract(t *testing.T) {
	n := NewNavigationNames("")
	tests := []struct {
		name   string
		mutate func(map[string]any)
		code   fhir.IssueCode
		expr   string
		text   string
	}{
		{"no contact route", func(m map[string]any) { removeInput(m, InputContactRoute) }, fhir.CodeRequired, "Task.input", "contact-route"},
		{"no request type", func(m map[string]any) { removeInput(m, InputRequestType) }, fhir.CodeRequired, "Task.input", "request-type"},
		{"clinical without a problem", func(m map[string]any) { removeInput(m, InputProblem) }, fhir.CodeRequired, "Task.input", "problem"},
		{"unknown contact route", func(m map[string]any) { inputAt(m, InputContactRoute)["valueCode"] = "carrier-pigeon" }, fhir.CodeCodeInvalid, "Task.input[0].valueCode", "phone, online, walk-in"},
		{"unknown request type", func(m map[string]any) { inputAt(m, InputRequestType)["valueCode"] = "urgent" }, fhir.CodeCodeInvalid, "Task.input[1].valueCode", "clinical"},
		{"wrong value type", func(m map[string]any) {
			in := inputAt(m, InputProblem)
			delete(in, "valueString")
			in["valueCode"] = "sore"
		}, fhir.CodeValue, "Task.input[2].valueCode", "valueString"},
		{"two values", func(m map[string]any) { inputAt(m, InputProblem)["valueCode"] = "sore" }, fhir.CodeStructure, "Task.input[2]", "valueCode and valueString"},
		{"unknown input code", func(m map[string]any) { addInput(m, "favourite-colour", "valueString", "blue") }, fhir.CodeCodeInvalid, "Task.input[5].type", "favourite-colour"},
		{"trend not a trend", func(m map[string]any) { addInput(m, InputTrend, "valueCode", "sideways") }, fhir.CodeCodeInvalid, "Task.input[5].valueCode", "worse"},
		{"urgency not an urgency", func(m map[string]any) { addInput(m, InputPatientUrgency, "valueCode", "yesterday") }, fhir.CodeCodeInvalid, "Task.input[5].valueCode", "same-day"},
		{"preferred mode", func(m map[string]any) { addInput(m, InputPreferredMode, "valueCode", "carrier-pigeon") }, fhir.CodeCodeInvalid, "Task.input[5].valueCode", "telephone"},
		{"admin kind", func(m map[string]any) { addInput(m, InputAdminKind, "valueCode", "passport") }, fhir.CodeCodeInvalid, "Task.input[5].valueCode", "fit-note"},
		{"two problems", func(m map[string]any) { addInput(m, InputProblem, "valueString", "another") }, fhir.CodeStructure, "Task.input[5]", "more than once"},
		{"symptom without SNOMED CT", func(m map[string]any) {
			addInput(m, InputSymptom, "valueCodeableConcept", map[string]any{"text": "tummy ache"})
		}, fhir.CodeCodeInvalid, "Task.input[5].valueCodeableConcept", "SNOMED CT"},
		{"duration not in time units", func(m map[string]any) {
			inputAt(m, InputDuration)["valueDuration"] = map[string]any{"value": json.Number("3"), "system": UCUMSystem, "code": "kg"}
		}, fhir.CodeValue, "Task.input[3].valueDuration", "duration"},
		{"informant not a RelatedPerson", func(m map[string]any) {
			addInput(m, InputInformant, "valueReference", map[string]any{"reference": "Patient/p1"})
		}, fhir.CodeValue, "Task.input[5].valueReference.reference", "RelatedPerson"},
		{"unavailable period backwards", func(m map[string]any) {
			addInput(m, InputUnavailable, "valuePeriod", map[string]any{"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T09:00:00Z"})
		}, fhir.CodeValue, "Task.input[5].valuePeriod", "later end"},
		{"no owner practice", func(m map[string]any) { delete(m, "owner") }, fhir.CodeRequired, "Task.owner", "owns it"},
		{"no patient", func(m map[string]any) { delete(m, "for") }, fhir.CodeRequired, "Task.for", "patient"},
		{"bad NHS number", func(m map[string]any) {
			m["for"] = map[string]any{"identifier": map[string]any{"system": NHSNumberSystem, "value": "9990010006"}}
		}, fhir.CodeValue, "Task.for.identifier.value", "NHS number"},
		{"for a Group", func(m map[string]any) { m["for"] = map[string]any{"reference": "Group/g1"} }, fhir.CodeValue, "Task.for.reference", "Patient"},
		{"no authoredOn", func(m map[string]any) { delete(m, "authoredOn") }, fhir.CodeRequired, "Task.authoredOn", "authoredOn"},
		{"intent plan", func(m map[string]any) { m["intent"] = "plan" }, fhir.CodeValue, "Task.intent", "order"},
		{"unknown businessStatus", func(m map[string]any) {
			m["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-status"), "code": "lost"}}}
		}, fhir.CodeCodeInvalid, "Task.businessStatus", "lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, issues := ParseNavigationTask(intakeTask(t, tt.mutate), n)
			errs := navErrors(issues)
			require.NotEmpty(t, errs)
			found := false
			for _, is := range errs {
				if is.Code == tt.code && len(is.Expression) > 0 && is.Expression[0] == tt.expr && strings.Contains(is.Diagnostics, tt.text) {
					found = true
				}
			}
			assert.True(t, found, "want %s at %s mentioning %q; got %v", tt.code, tt.expr, tt.text, errs)
		})
	}
}

func TestIntakeIsTheSameOnEveryContactRoute(t *testing.T) {
	n := NewNavigationNames("")
	var first *Request
	for _, route := range []string{"phone", "online", "walk-in", "referral"} {
		task := intakeTask(t, func(m map[string]any) { inputAt(m, InputContactRoute)["valueCode"] = route })
		r, issues := ParseNavigationTask(task, n)
		require.Empty(t, navErrors(issues), route)
		r.ContactRoute = ""
		if first == nil {
			first = r
			continue
		}
		assert.Equal(t, first, r, "everything but the route is read the same way")
	}
	// And a request missing its problem is refused on every route alike.
	for _, route := range []string{"phone", "online", "walk-in", "referral"} {
		task := intakeTask(t, func(m map[string]any) {
			inputAt(m, InputContactRoute)["valueCode"] = route
			removeInput(m, InputProblem)
		})
		_, issues := ParseNavigationTask(task, n)
		assert.Len(t, navErrors(issues), 1, route)
	}
}

func TestIntakeReadsTheExampleTask(t *testing.T) {
	// The project's example navigation Task (testdata/task-navigate.json)
	// keeps to the contract.
	r, issues := ParseNavigationTask(navReadJSON(t, "../testdata/task-navigate.json"), NewNavigationNames(""))
	require.Empty(t, navErrors(issues))
	assert.NotEmpty(t, r.ContactRoute)
	assert.NotEmpty(t, r.RequestType)
	assert.NotEmpty(t, r.Practice)
	assert.True(t, r.Patient.NHSNumber != "" || r.Patient.Reference != "")
}

func TestIntakeReadsEveryInput(t *testing.T) {
	n := NewNavigationNames("")
	dur := 2.0
	yes := true
	task := scnTask(n, "y99999", scnInputs{Route: "online", Type: "clinical", Problem: "Earache", DurationDays: &dur, AskedBefore: &yes,
		Trend: "worse", PatientUrgency: "same-day", PreferredMode: "video", Escalating: true, Informant: true,
		Symptoms: []string{"162340000"}, SeenElsewhere: []string{"907301000000109"}, Communication: []string{"315594003"}}, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	addInput(task, InputUnavailable, "valuePeriod", map[string]any{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T12:00:00Z"})
	addInput(task, InputTried, "valueString", "Olive oil")
	addInput(task, InputICE, "valueString", "Worried about my hearing")
	addInput(task, InputContactPhone, "valueString", "07700 900123")
	addInput(task, InputSMSConsent, "valueBoolean", true)
	addInput(task, InputPreferredPractitioner, "valueReference", map[string]any{"reference": "PractitionerRole/dr-a", "display": "Dr A"})
	r, issues := ParseNavigationTask(task, n)
	require.Empty(t, navErrors(issues))
	assert.Equal(t, "online", r.ContactRoute)
	assert.Equal(t, "Y99999", r.Practice, "ODS codes are upper case")
	assert.Equal(t, "9990010005", r.Patient.NHSNumber)
	assert.InDelta(t, 2, r.DurationDays, 1e-9)
	assert.True(t, *r.AskedBefore)
	assert.Equal(t, "worse", r.Trend)
	assert.Equal(t, UrgencySameDay, r.PatientUrgency)
	assert.Equal(t, "video", r.PreferredMode)
	assert.True(t, r.EscalatingConcern)
	assert.NotNil(t, r.Informant)
	assert.Len(t, r.Symptoms, 1)
	assert.Len(t, r.SeenElsewhere, 1)
	assert.Len(t, r.CommunicationNeeds, 1)
	assert.Len(t, r.Unavailable, 1)
	assert.Equal(t, "Olive oil", r.Tried)
	assert.Equal(t, "Worried about my hearing", r.ICE)
	assert.Equal(t, "07700 900123", r.ContactPhone)
	assert.True(t, *r.SMSConsent)
	require.NotNil(t, r.PreferredPractitioner)
	assert.Equal(t, "PractitionerRole/dr-a", r.PreferredPractitioner.Reference)
	assert.Equal(t, "PractitionerRole/dr-a", r.PreferredPractitioner.JSON.(map[string]any)["reference"], "the client's Reference is kept as given")
	assert.True(t, *r.AutomatedConsent)
}

func TestValidNHSNumber(t *testing.T) {
	for _, ok := range []string{"9434765919", "9990010005", "9990010072"} {
		assert.True(t, ValidNHSNumber(ok), ok)
	}
	for _, bad := range []string{"9434765918", "943476591", "94347659190", "943476591X", "", "1000000010"} {
		assert.False(t, ValidNHSNumber(bad), bad)
	}
}

func TestTaskStateMachine(t *testing.T) {
	n := NewNavigationNames("")
	nav := func(status string) map[string]any {
		m := intakeTask(t, nil)
		m["status"] = status
		return m
	}
	review := func(status string) map[string]any {
		m := nav(status)
		m["code"] = map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-task"), "code": "clinician-review"}}}
		delete(m, "input")
		return m
	}
	// The state machine, made by the practice's navigator (who may make
	// every move of a navigation Task); who may make each move is
	// TestTaskStatusRoles'.
	owner := Actor{Owner: true}
	tests := []struct {
		name        string
		obj, stored map[string]any
		actor       Actor
		ok          bool
		code        fhir.IssueCode
	}{
		{"create requested", nav("requested"), nil, owner, true, ""},
		{"create completed", nav("completed"), nil, owner, false, fhir.CodeBusinessRule},
		{"create draft", nav("draft"), nil, owner, false, fhir.CodeBusinessRule},
		{"requested to in-progress", nav("in-progress"), nav("requested"), owner, true, ""},
		{"requested to completed skips work", nav("completed"), nav("requested"), owner, false, fhir.CodeBusinessRule},
		{"in-progress to completed", nav("completed"), nav("in-progress"), owner, true, ""},
		{"in-progress to on-hold and back", nav("in-progress"), nav("on-hold"), owner, true, ""},
		{"completed is final", nav("in-progress"), nav("completed"), owner, false, fhir.CodeBusinessRule},
		{"cancelled is final", nav("requested"), nav("cancelled"), owner, false, fhir.CodeBusinessRule},
		{"anything to entered-in-error", nav("entered-in-error"), nav("completed"), owner, true, ""},
		{"same status", nav("requested"), nav("requested"), owner, true, ""},
		{"a navigation Task stays one", review("requested"), nav("requested"), owner, false, fhir.CodeBusinessRule},
		{"review completed by a navigator", review("completed"), review("in-progress"), owner, false, fhir.CodeForbidden},
		{"review completed by a clinician", review("completed"), review("in-progress"), Actor{Clinician: true}, true, ""},
		{"other Tasks pass", map[string]any{"resourceType": "Task", "status": "completed", "intent": "order"}, map[string]any{"resourceType": "Task", "status": "requested"}, Actor{}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issues := navErrors(CheckNavigationTask(tt.obj, tt.stored, tt.actor, n))
			if tt.ok {
				assert.Empty(t, issues)
				return
			}
			require.NotEmpty(t, issues)
			assert.Equal(t, tt.code, issues[0].Code, "%v", issues)
		})
	}
}

func TestTaskStatusRoles(t *testing.T) {
	n := NewNavigationNames("")
	const iss = "https://issuer.example"
	task := func(status string) map[string]any {
		m := intakeTask(t, nil)
		m["status"] = status
		m["requester"] = map[string]any{"type": "Device", "identifier": map[string]any{"system": iss, "value": "online-form"}, "display": "Online form"}
		return m
	}
	review := func(status string) map[string]any {
		m := task(status)
		m["code"] = map[string]any{"coding": []any{map[string]any{"system": n.System("navigation-task"), "code": "clinician-review"}}}
		delete(m, "input")
		return m
	}
	owner := Actor{Owner: true, Issuer: iss, Subject: "nav-1"}
	clinician := Actor{Clinician: true, Issuer: iss, Subject: "dr-1"}
	requester := Actor{Issuer: iss, Subject: "online-form"}
	stranger := Actor{Issuer: iss, Subject: "other-form"}
	impostor := Actor{Issuer: "https://other-issuer.example", Subject: "online-form"}
	tests := []struct {
		name     string
		obj      map[string]any
		stored   map[string]any
		actor    Actor
		ok       bool
		contains string
	}{
		{"owner accepts", task("accepted"), task("requested"), owner, true, ""},
		{"owner starts", task("in-progress"), task("requested"), owner, true, ""},
		{"owner puts on hold", task("on-hold"), task("in-progress"), owner, true, ""},
		{"owner completes", task("completed"), task("in-progress"), owner, true, ""},
		{"owner rejects", task("rejected"), task("requested"), owner, true, ""},
		{"owner cancels", task("cancelled"), task("requested"), owner, true, ""},
		{"owner marks entered-in-error", task("entered-in-error"), task("in-progress"), owner, true, ""},
		{"clinician completes", task("completed"), task("in-progress"), clinician, true, ""},
		{"clinician rejects", task("rejected"), task("received"), clinician, true, ""},
		{"clinician may not mark entered-in-error", task("entered-in-error"), task("in-progress"), clinician, false, "its owner (a navigator of practice Y99999)"},
		{"requester cancels its own request", task("cancelled"), task("requested"), requester, true, ""},
		{"requester may not accept", task("accepted"), task("requested"), requester, false, "the caller is only its requester"},
		{"requester may not complete", task("completed"), task("in-progress"), requester, false, "is for its owner"},
		{"requester may not mark entered-in-error", task("entered-in-error"), task("requested"), requester, false, "entered-in-error"},
		{"another client may not cancel", task("cancelled"), task("requested"), stranger, false, "holds none of these roles"},
		{"the same subject from another issuer is not the requester", task("cancelled"), task("requested"), impostor, false, "holds none of these roles"},
		{"requester may not start by PUT", task("in-progress"), task("requested"), requester, false, "in-progress"},
		{"requester's automated $navigate starts it", task("in-progress"), task("requested"), Actor{Issuer: iss, Subject: "online-form", Navigate: true, Automated: true}, true, ""},
		{"requester's own decision by $navigate is refused", task("in-progress"), task("requested"), Actor{Issuer: iss, Subject: "online-form", Navigate: true}, false, "$navigate, which moves the navigation Task from requested to in-progress, is for its owner"},
		{"a stranger's automated $navigate is refused", task("in-progress"), task("requested"), Actor{Issuer: iss, Subject: "other-form", Navigate: true, Automated: true}, false, "holds none"},
		{"a requester added by the write does not count", func() map[string]any {
			m := task("cancelled")
			m["requester"] = map[string]any{"identifier": map[string]any{"system": iss, "value": "other-form"}}
			return m
		}(), task("requested"), stranger, false, "holds none"},
		{"keeping the status needs no role", task("in-progress"), task("in-progress"), stranger, true, ""},
		{"the developer may do anything", task("entered-in-error"), task("requested"), Actor{Dev: true}, true, ""},
		{"review: a navigator may not complete", review("completed"), review("in-progress"), owner, false, "a clinician of practice Y99999"},
		{"review: a navigator may not cancel", review("cancelled"), review("requested"), owner, false, "clinician-review Task"},
		{"review: the clinician starts and completes", review("in-progress"), review("requested"), clinician, true, ""},
		{"review: the owner marks entered-in-error", review("entered-in-error"), review("requested"), owner, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issues := navErrors(CheckNavigationTask(tt.obj, tt.stored, tt.actor, n))
			if tt.ok {
				assert.Empty(t, issues)
				return
			}
			require.Len(t, issues, 1, "%v", issues)
			assert.Equal(t, fhir.CodeForbidden, issues[0].Code)
			assert.Equal(t, []string{"Task.status"}, issues[0].Expression)
			assert.Contains(t, issues[0].Diagnostics, tt.contains)
		})
	}
	// Every status of the R4 value set has a row in both tables.
	for _, st := range []string{"requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold", "failed", "completed", "entered-in-error"} {
		assert.NotEmpty(t, NavigationStatusRoles[st], st)
		assert.NotEmpty(t, ReviewStatusRoles[st], st)
	}
}

func TestCheckNavigateRoles(t *testing.T) {
	const iss = "https://issuer.example"
	task := intakeTask(t, nil)
	task["status"] = "in-progress" // a re-navigation changes no status: the rule holds all the same
	task["requester"] = map[string]any{"identifier": map[string]any{"system": iss, "value": "online-form"}}
	assert.Nil(t, CheckNavigate(task, Actor{Owner: true}))
	assert.Nil(t, CheckNavigate(task, Actor{Clinician: true}))
	assert.Nil(t, CheckNavigate(task, Actor{Issuer: iss, Subject: "online-form", Automated: true}))
	is := CheckNavigate(task, Actor{Issuer: iss, Subject: "online-form"})
	require.NotNil(t, is, "the requester's own decision")
	assert.Equal(t, fhir.CodeForbidden, is.Code)
	assert.Contains(t, is.Diagnostics, "$navigate (deciding a navigation Task")
	require.NotNil(t, CheckNavigate(task, Actor{Issuer: iss, Subject: "someone-else", Automated: true}))
	assert.Nil(t, CheckNavigate(task, Actor{Dev: true}))
}

// An input carrying two value[x] is refused with one issue, the same
// every time, whatever the order of the JSON's keys: which element is
// read never depends on a map's order.
func TestIntakeRefusesTwoValuesTheSameWayEveryTime(t *testing.T) {
	n := NewNavigationNames("")
	task := intakeTask(t, func(m map[string]any) {
		addInput(m, InputTried, "valueString", "Olive oil")
		in := inputAt(m, InputTried)
		in["valueCode"] = "olive-oil"
		in["valueBoolean"] = true
	})
	// The same Task as JSON text with the input's members in two
	// orders, decoded as the gateway decodes it.
	var texts []string
	for _, order := range [][]string{{"valueString", "valueCode", "valueBoolean"}, {"valueBoolean", "valueCode", "valueString"}} {
		b, err := json.Marshal(task)
		require.NoError(t, err)
		s := string(b)
		in, _ := json.Marshal(inputAt(task, InputTried))
		var members []string
		for _, k := range append([]string{"type"}, order...) {
			v, _ := json.Marshal(inputAt(task, InputTried)[k])
			members = append(members, `"`+k+`":`+string(v))
		}
		texts = append(texts, strings.Replace(s, string(in), "{"+strings.Join(members, ",")+"}", 1))
	}
	require.NotEqual(t, texts[0], texts[1])
	var first []fhir.Issue
	for i := 0; i < 50; i++ {
		r, err := fhir.ParseResource([]byte(texts[i%2]))
		require.NoError(t, err)
		req, issues := ParseNavigationTask(r.Object(), n)
		errs := navErrors(issues)
		require.Len(t, errs, 1, "%v", errs)
		assert.Equal(t, fhir.CodeStructure, errs[0].Code)
		assert.Equal(t, []string{"Task.input[5]"}, errs[0].Expression)
		assert.Contains(t, errs[0].Diagnostics, "valueBoolean and valueCode and valueString")
		assert.Empty(t, req.Tried, "none of the values is read")
		if first == nil {
			first = errs
		}
		require.Equal(t, first, errs, "run %d", i)
	}
}
