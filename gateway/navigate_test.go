package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/oidctest"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// Care navigation through the HTTP API, on both stores, with tokens of a
// real OIDC issuer: the scenario suite of
// testdata/protocols/scenarios/scenarios.json (the same table the pure
// suite in mapping runs), the intake contract, the protocol's write check,
// propose and commit, atomicity, and the hostile protocol loaded through
// the API.

// nvNow is the decision clock of the suite: a Monday morning.
var nvNow = time.Date(2026, 11, 23, 9, 30, 0, 0, mapping.London)

const nvBase = "https://signpost.example/fhir"

// nvGateway is a gateway with terminology and navigation, the demo
// content seeded, and an issuer.
type nvGateway struct {
	*testGateway
	st  store.Store
	iss *oidctest.Issuer
	// clock, when set, is the decision clock instead of nvNow (an
	// out-of-hours scenario's time); the suite's scenarios run one at a
	// time per gateway.
	clock *atomic.Pointer[time.Time]
}

type nvOptions struct {
	needs mapping.NeedGroupSource
	wrap  func(store.Store) store.Store
	// delivery registers outcome delivery on the (unwrapped) store.
	delivery bool
	// publicBase is the gateway's public FHIR base (default: none).
	publicBase string
	// measures registers the navigation measures.
	measures bool
}

func newNavGateway(t testing.TB, st store.Store, o nvOptions) *nvGateway {
	t.Helper()
	ctx := context.Background()
	term := seededTerminology(t, st)
	iss, v := trustedIssuer(t)
	served := st
	if o.wrap != nil {
		served = o.wrap(st)
	}
	clock := &atomic.Pointer[time.Time]{}
	now := func() time.Time {
		if c := clock.Load(); c != nil {
			return *c
		}
		return nvNow
	}
	g := newGateway(t, gateway.Options{Store: served, Verifier: v, Now: now, PublicBase: o.publicBase}, func(s *gateway.Server) {
		s.RegisterTerminology(term)
		require.NoError(t, s.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, NeedGroups: o.needs, DemoDir: "../testdata/protocols"}))
		if o.measures {
			require.NoError(t, s.RegisterMeasures(ctx))
		}
		if o.delivery {
			s.RegisterDelivery(st.(store.Outbox))
		}
	})
	return &nvGateway{testGateway: g, st: st, iss: iss, clock: clock}
}

// Callers.
func nvNavigator(tier string, ods ...string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": ods, "role": "navigator", "tier": tier, "sub": "nav-" + tier, "client_id": "test-app"}
}

func nvClinician(ods ...string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": ods, "role": "clinician", "sub": "dr-who", "client_id": "test-app"}
}

func nvAdmin(ods ...string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": ods, "role": "admin", "sub": "practice-manager", "client_id": "test-app"}
}

func (g *nvGateway) as(claims map[string]any, method, path, body string, headers ...string) reply {
	g.t.Helper()
	return g.do(method, path, body, append([]string{"Authorization", "Bearer " + g.iss.Token(claims)}, headers...)...)
}

func (g *nvGateway) created(t *testing.T, claims map[string]any, typ string, body any) string {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	r := g.as(claims, "POST", "/"+typ, string(b))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

// nvNHS is the i-th valid NHS number of the test range (999...).
func nvNHS(i int) string {
	for n := 1000 + i*11; ; n++ {
		nine := fmt.Sprintf("999%06d", n)
		for d := 0; d <= 9; d++ {
			if mapping.ValidNHSNumber(nine + fmt.Sprint(d)) {
				return nine + fmt.Sprint(d)
			}
		}
	}
}

// nvScenarioFile mirrors mapping's reading of scenarios.json.
type nvScenarioFile struct {
	Now       string
	Practice  string
	Scenarios []nvScenario
}

type nvScenario struct {
	Name, Source string
	// Now, when set, is the scenario's decision time (RFC 3339).
	Now      string
	Protocol string
	Patient  *struct {
		Age     int
		AgeDays int
		Sex     string
	}
	Subject   string
	NeedGroup string
	Findings  []string
	Earlier   []struct {
		DaysAgo          float64
		Symptoms         []string
		Problem, Subject string
	}
	Inputs struct {
		Route, Type, AdminKind, Problem        string
		Symptoms, SeenElsewhere, Communication []string
		DurationDays                           *float64
		AskedBefore                            *bool
		Trend, PatientUrgency, PreferredMode   string
		Escalating, Informant                  bool
		Consent                                json.RawMessage
	}
	Navigator *struct{ Destination, Urgency, Mode, Note string }
	Caller    *struct {
		Tier  string
		Roles []string
	}
	Flow          string
	DeclineReason string
	// Review asks for the decision's manual review ($navigate review).
	Review bool
	Expect struct {
		Status                                                 int
		ErrorRule                                              string
		Category, Urgency, Disposition, Destination, Mode      string
		Rules, NoRules, NotCategories, NotDestinations         []string
		Automated, Continuity, Review                          *bool
		AllocationStatus                                       string
		TurnaroundDays                                         int
		Requirement, Rationale, Warning, Netting, DecisionCode string
		Revoked                                                bool
	}
}

// nvTask is a scenario's navigation Task (as the pure suite builds it).
// nvShipped is the shipped SNOMED CT subset, parsed once (the load tests
// build thousands of Tasks, and their client must not eat the gateway's
// CPU).
var nvShipped = sync.OnceValue(func() *snomed.ConceptSet {
	cs, err := snomed.Shipped()
	if err != nil {
		panic(err)
	}
	return cs
})

func nvTask(sc nvScenario, practice, nhs, patientRef string, authored time.Time) map[string]any {
	input := func(code, key string, v any) any {
		return map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-input", "code": code}}}, key: v}
	}
	cs := nvShipped()
	sct := func(code string) map[string]any {
		c := map[string]any{"system": snomed.System, "code": code}
		if con, ok := cs.Get(code); ok {
			c["display"] = con.Preferred
		}
		return map[string]any{"coding": []any{c}}
	}
	in := sc.Inputs
	var inputs []any
	add := func(cond bool, code, key string, v any) {
		if cond {
			inputs = append(inputs, input(code, key, v))
		}
	}
	add(in.Route != "", "contact-route", "valueCode", in.Route)
	add(in.Type != "", "request-type", "valueCode", in.Type)
	add(in.AdminKind != "", "admin-kind", "valueCode", in.AdminKind)
	add(in.Problem != "", "problem", "valueString", in.Problem)
	for _, s := range in.Symptoms {
		add(true, "symptom", "valueCodeableConcept", sct(s))
	}
	if in.DurationDays != nil {
		add(true, "duration", "valueDuration", map[string]any{"value": *in.DurationDays, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"})
	}
	if in.AskedBefore != nil {
		add(true, "asked-before", "valueBoolean", *in.AskedBefore)
	}
	add(in.Trend != "", "trend", "valueCode", in.Trend)
	for _, s := range in.SeenElsewhere {
		add(true, "seen-elsewhere", "valueCodeableConcept", sct(s))
	}
	for _, s := range in.Communication {
		add(true, "communication-need", "valueCodeableConcept", sct(s))
	}
	add(in.PreferredMode != "", "preferred-mode", "valueCode", in.PreferredMode)
	add(in.PatientUrgency != "", "patient-urgency", "valueCode", in.PatientUrgency)
	add(in.Escalating, "escalating-concern", "valueBoolean", true)
	add(in.Informant, "informant", "valueReference", map[string]any{"reference": "RelatedPerson/parent-1", "display": "Parent"})
	switch c := strings.TrimSpace(string(in.Consent)); c {
	case "":
		add(true, "automated-decision-consent", "valueBoolean", true)
	case "null":
	default:
		add(true, "automated-decision-consent", "valueBoolean", c == "true")
	}
	forRef := map[string]any{"type": "Patient", "identifier": map[string]any{"system": mapping.NHSNumberSystem, "value": nhs}}
	if patientRef != "" {
		forRef["reference"] = patientRef
	}
	// A scenario may name the patient one way only, as integrators do.
	switch sc.Subject {
	case "nhs-number":
		delete(forRef, "reference")
	case "reference":
		if patientRef != "" {
			delete(forRef, "identifier")
		}
	}
	return map[string]any{
		"resourceType": "Task", "status": "requested", "intent": "order",
		"code":       map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-task", "code": "navigate"}}},
		"for":        forRef,
		"owner":      map[string]any{"identifier": map[string]any{"system": mapping.ODSSystem, "value": practice}},
		"authoredOn": authored.UTC().Format(time.RFC3339),
		"input":      inputs,
	}
}

// nvFailingNeeds is a shared care record that cannot be reached.
type nvFailingNeeds struct{}

func (nvFailingNeeds) NeedGroup(context.Context, mapping.PatientRef, string) (mapping.NeedGroup, error) {
	return mapping.NeedGroup{}, errors.New("the shared care record did not answer in time")
}

// nvEnvs builds the gateways the suite needs per store lazily: the demo
// protocol, the hostile protocol (loaded through the API), and a shared
// care record that is down.
type nvEnvs struct {
	t    *testing.T
	open func(testing.TB) store.Store
	mu   sync.Mutex
	envs map[string]*nvGateway
}

func (e *nvEnvs) get(kind string) *nvGateway {
	e.mu.Lock()
	defer e.mu.Unlock()
	if g := e.envs[kind]; g != nil {
		return g
	}
	var o nvOptions
	if kind == "unavailable" {
		o.needs = nvFailingNeeds{}
	}
	g := newNavGateway(e.t, e.open(e.t), o)
	if kind == "hostile" {
		b, err := os.ReadFile("../testdata/protocols/hostile/navigation-protocol-Y99999.json")
		require.NoError(e.t, err)
		r := g.as(nvAdmin("Y99999"), "PUT", "/PlanDefinition/navigation-protocol-Y99999", string(b))
		require.Equal(e.t, http.StatusOK, r.status, "the hostile protocol replaces the demo one: %s", r.body)
	}
	e.envs[kind] = g
	return g
}

// nvResult is a $navigate answer, decoded.
type nvResult struct {
	status     int
	raw        []byte
	task       map[string]any
	allocation map[string]any
	provenance map[string]any
	review     map[string]any
	issues     map[string]any
}

func nvNavigate(t *testing.T, g *nvGateway, claims map[string]any, taskID string, params []any) nvResult {
	t.Helper()
	body := ""
	if params != nil {
		b, err := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
		require.NoError(t, err)
		body = string(b)
	}
	r := g.as(claims, "POST", "/Task/"+taskID+"/$navigate", body)
	out := nvResult{status: r.status, raw: r.body}
	if r.status != http.StatusOK {
		return out
	}
	obj := r.json(t)
	require.Equal(t, "Parameters", obj["resourceType"])
	// The answer is valid R4, strictly: the Parameters and every resource
	// in it.
	res, err := fhir.ResourceFromObject(obj)
	require.NoError(t, err)
	for _, is := range fhir.Validate(res, fhir.ValidateOptions{Strict: true}) {
		assert.NotEqual(t, fhir.SeverityError, is.Severity, "R4: %v", is)
	}
	for _, p := range obj["parameter"].([]any) {
		pm := p.(map[string]any)
		rm, _ := pm["resource"].(map[string]any)
		switch pm["name"] {
		case "task":
			out.task = rm
		case "allocation":
			out.allocation = rm
		case "provenance":
			out.provenance = rm
		case "review":
			out.review = rm
		case "issues":
			out.issues = rm
		}
	}
	require.NotNil(t, out.task)
	require.NotNil(t, out.allocation)
	require.NotNil(t, out.provenance)
	require.NotNil(t, out.issues)
	return out
}

// outputs are the Task's navigation outputs by code.
func (r nvResult) outputs() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, o := range listAny(r.task["output"]) {
		om := o.(map[string]any)
		for _, c := range listAny(om["type"].(map[string]any)["coding"]) {
			cm := c.(map[string]any)
			if cm["system"] == nvBase+"/CodeSystem/navigation-output" {
				out[cm["code"].(string)] = append(out[cm["code"].(string)], om)
			}
		}
	}
	return out
}

func (r nvResult) coded(code string) string {
	for _, o := range r.outputs()[code] {
		cc, _ := o["valueCodeableConcept"].(map[string]any)
		for _, c := range listAny(cc["coding"]) {
			return c.(map[string]any)["code"].(string)
		}
	}
	return ""
}

func (r nvResult) rules() []string {
	var ids []string
	for _, o := range r.outputs()["rule"] {
		s, _ := o["valueString"].(string)
		id, _, _ := strings.Cut(s, ": ")
		ids = append(ids, id)
	}
	return ids
}

func (r nvResult) businessStatus() string {
	bs, _ := r.task["businessStatus"].(map[string]any)
	for _, c := range listAny(bs["coding"]) {
		return c.(map[string]any)["code"].(string)
	}
	return ""
}

func (r nvResult) destination() string {
	for _, p := range listAny(r.allocation["performer"]) {
		pm := p.(map[string]any)
		if ref, _ := pm["reference"].(string); strings.HasPrefix(ref, "HealthcareService/") {
			return strings.TrimPrefix(ref, "HealthcareService/")
		}
		if pm["type"] == "Organization" {
			return "practice"
		}
	}
	return "none"
}

func (r nvResult) orderDetails() string {
	var out []string
	for _, d := range listAny(r.allocation["orderDetail"]) {
		if s, _ := d.(map[string]any)["text"].(string); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

func (r nvResult) issueText() string {
	var out []string
	for _, is := range listAny(r.issues["issue"]) {
		if s, _ := is.(map[string]any)["diagnostics"].(string); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

func listAny(v any) []any { l, _ := v.([]any); return l }

func TestNavigationScenariosOverHTTP(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/protocols/scenarios/scenarios.json")
	require.NoError(t, err)
	var f nvScenarioFile
	require.NoError(t, json.Unmarshal(b, &f))
	require.GreaterOrEqual(t, len(f.Scenarios), 40)
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			envs := &nvEnvs{t: t, open: sc.open, envs: map[string]*nvGateway{}}
			for i, s := range f.Scenarios {
				t.Run(s.Name, func(t *testing.T) { nvRunScenario(t, envs, i, s) })
			}
		})
	}
}

func nvRunScenario(t *testing.T, envs *nvEnvs, i int, sc nvScenario) {
	kind := "demo"
	practice := "Y99999"
	switch {
	case sc.Protocol == "hostile":
		kind = "hostile"
	case sc.NeedGroup == "unavailable":
		kind = "unavailable"
	case sc.Protocol == "none":
		practice = "Y88888"
	}
	g := envs.get(kind)
	now := nvNow
	if sc.Now != "" {
		at, err := time.Parse(time.RFC3339, sc.Now)
		require.NoError(t, err)
		now = at
		g.clock.Store(&now)
		defer g.clock.Store(nil)
	}
	nav := nvNavigator("expert", practice)
	caller := nav
	if sc.Caller != nil {
		caller = map[string]any{"scope": "user/*.cruds", "ods": []string{practice}, "role": sc.Caller.Roles, "sub": "caller", "client_id": "test-app"}
		if sc.Caller.Tier != "" {
			caller["tier"] = sc.Caller.Tier
		}
	}
	nhs := nvNHS(i)
	patientRef := ""
	if sc.Patient != nil {
		born := time.Date(now.Year()-sc.Patient.Age, now.Month(), now.Day(), 0, 0, 0, 0, mapping.London).AddDate(0, 0, -100)
		if sc.Patient.AgeDays > 0 {
			born = now.In(mapping.London).AddDate(0, 0, -sc.Patient.AgeDays)
		}
		id := g.created(t, nav, "Patient", map[string]any{"resourceType": "Patient",
			"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": nhs}},
			"gender":     sc.Patient.Sex, "birthDate": born.Format("2006-01-02"),
			"address": []any{map[string]any{"postalCode": "LS6 2BB"}}})
		patientRef = "Patient/" + id
	}
	if patientRef != "" && sc.NeedGroup != "" && sc.NeedGroup != "unavailable" {
		g.created(t, nav, "Observation", map[string]any{"resourceType": "Observation", "status": "final",
			"code": map[string]any{"text": "Patient need group"}, "subject": map[string]any{"reference": patientRef},
			"effectiveDateTime": now.AddDate(0, -1, 0).Format("2006-01-02"), "performer": []any{map[string]any{"display": "Test shared care record"}},
			"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/patient-need-group", "code": sc.NeedGroup}}}})
	}
	for _, code := range sc.Findings {
		g.created(t, nav, "Condition", map[string]any{"resourceType": "Condition",
			"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
			"code":           map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": code}}},
			"subject":        map[string]any{"reference": patientRef}})
	}
	for _, e := range sc.Earlier {
		prior := nvScenario{Inputs: sc.Inputs, Subject: e.Subject}
		if e.Problem != "" {
			prior.Inputs.Problem = e.Problem
		}
		earlier := nvTask(prior, practice, nhs, patientRef, now.Add(-time.Duration(e.DaysAgo*float64(24*time.Hour))))
		var inputs []any
		for _, in := range listAny(earlier["input"]) {
			if c := in.(map[string]any)["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; c != "symptom" && c != "asked-before" {
				inputs = append(inputs, in)
			}
		}
		for _, s := range e.Symptoms {
			inputs = append(inputs, map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-input", "code": "symptom"}}},
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": s}}}})
		}
		earlier["input"] = inputs
		g.created(t, nav, "Task", earlier)
	}
	taskID := g.created(t, nav, "Task", nvTask(sc, practice, nhs, patientRef, now))
	var params []any
	if n := sc.Navigator; n != nil {
		params = append(params, map[string]any{"name": "destination", "valueReference": map[string]any{"reference": n.Destination}})
		if n.Urgency != "" {
			params = append(params, map[string]any{"name": "urgency", "valueCode": n.Urgency})
		}
		if n.Mode != "" {
			params = append(params, map[string]any{"name": "consultation-mode", "valueCode": n.Mode})
		}
		if n.Note != "" {
			params = append(params, map[string]any{"name": "note", "valueString": n.Note})
		}
	}
	if sc.Review {
		params = append(params, map[string]any{"name": "review", "valueBoolean": true})
	}
	var firstAllocation string
	if sc.Flow == "decline" {
		first := nvNavigate(t, g, caller, taskID, params)
		require.Equal(t, http.StatusOK, first.status, "%s", first.raw)
		firstAllocation = first.allocation["id"].(string)
		// The patient declines: the integrator records it on the Task.
		cur := g.as(nav, "GET", "/Task/"+taskID, "")
		require.Equal(t, http.StatusOK, cur.status)
		task := cur.json(t)
		task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-status", "code": "declined"}}}
		task["statusReason"] = map[string]any{"text": sc.DeclineReason}
		body, _ := json.Marshal(task)
		up := g.as(nav, "PUT", "/Task/"+taskID, string(body), "If-Match", cur.header.Get("ETag"))
		require.Equal(t, http.StatusOK, up.status, "%s", up.body)
	}
	res := nvNavigate(t, g, caller, taskID, params)
	x := sc.Expect
	if x.Status != 0 && x.Status != http.StatusOK {
		require.Equal(t, x.Status, res.status, "%s", res.raw)
		assert.Contains(t, string(res.raw), x.ErrorRule)
		// Nothing was stored.
		cur := g.as(nav, "GET", "/Task/"+taskID, "")
		assert.Equal(t, `W/"1"`, cur.header.Get("ETag"))
		return
	}
	require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
	explain := ""
	for _, o := range res.outputs()["rationale"] {
		explain, _ = o["valueString"].(string)
	}
	catCode := ""
	for _, c := range listAny(res.allocation["category"]) {
		catCode = listAny(c.(map[string]any)["coding"])[0].(map[string]any)["code"].(string)
	}
	if x.Category != "" {
		assert.Equal(t, x.Category, catCode, explain)
	}
	assert.Equal(t, catCode, res.coded("category"))
	if x.Urgency != "" {
		assert.Equal(t, x.Urgency, res.coded("urgency"), explain)
	}
	if x.Disposition != "" {
		assert.Equal(t, x.Disposition, res.businessStatus(), explain)
	}
	if x.Destination != "" {
		assert.Equal(t, x.Destination, res.destination(), explain)
	}
	for _, d := range x.NotDestinations {
		assert.NotEqual(t, d, res.destination())
	}
	for _, c := range x.NotCategories {
		assert.NotEqual(t, c, catCode)
	}
	if x.Mode != "" {
		require.NotEmpty(t, res.allocation["locationCode"], explain)
		assert.Equal(t, x.Mode, listAny(res.allocation["locationCode"])[0].(map[string]any)["text"])
	}
	rules := res.rules()
	for _, r := range x.Rules {
		assert.Contains(t, rules, r, explain)
	}
	for _, r := range x.NoRules {
		assert.NotContains(t, rules, r, explain)
	}
	if x.Automated != nil {
		assert.Equal(t, *x.Automated, res.outputs()["automated"][0]["valueBoolean"])
	}
	if x.Continuity != nil {
		assert.Equal(t, *x.Continuity, strings.Contains(res.orderDetails(), "Continuity of care"), res.orderDetails())
	}
	if x.Review != nil {
		assert.Equal(t, *x.Review, res.review != nil, explain)
	}
	if x.AllocationStatus != "" {
		assert.Equal(t, x.AllocationStatus, res.allocation["status"])
	}
	if x.TurnaroundDays != 0 {
		assert.Contains(t, res.orderDetails(), fmt.Sprintf("Turnaround: %d days", x.TurnaroundDays))
		period := res.allocation["occurrencePeriod"].(map[string]any)
		start, _ := time.Parse(time.RFC3339, period["start"].(string))
		end, _ := time.Parse(time.RFC3339, period["end"].(string))
		assert.Equal(t, start.AddDate(0, 0, x.TurnaroundDays), end)
	}
	if x.Requirement != "" {
		assert.Contains(t, res.orderDetails(), x.Requirement)
	}
	if x.Rationale != "" {
		assert.Contains(t, explain, x.Rationale)
	}
	if x.Warning != "" {
		assert.Contains(t, res.issueText(), x.Warning)
	}
	if x.Netting != "" {
		assert.Contains(t, res.allocation["patientInstruction"], x.Netting)
	}
	if x.DecisionCode != "" {
		assert.Equal(t, x.DecisionCode, res.coded("decision"))
	}
	assert.NotEmpty(t, res.allocation["patientInstruction"], "safety-netting is always given")
	// The advice the patient gets agrees with the final category and
	// urgency (safety rule 6), whatever the protocol said.
	instruction, _ := res.allocation["patientInstruction"].(string)
	assert.Empty(t, mapping.AdviceAgrees(mapping.Category(catCode), mapping.Urgency(res.coded("urgency")), instruction), "advice %q", instruction)
	// Committed: the Task, the allocation and its Provenance are stored
	// as answered, and the review Task when there is one.
	cur := g.as(nav, "GET", "/Task/"+taskID, "")
	require.Equal(t, http.StatusOK, cur.status)
	assert.Equal(t, res.task["meta"].(map[string]any)["versionId"], cur.json(t)["meta"].(map[string]any)["versionId"])
	assert.Equal(t, "in-progress", cur.json(t)["status"])
	// The stored Task's priority is its allocation's (the urgency's).
	assert.Equal(t, res.allocation["priority"], cur.json(t)["priority"], "the Task's priority follows the allocation's urgency")
	for _, typ := range []string{"ServiceRequest", "Provenance"} {
		obj := res.allocation
		if typ == "Provenance" {
			obj = res.provenance
		}
		got := g.as(nav, "GET", "/"+typ+"/"+obj["id"].(string), "")
		assert.Equal(t, http.StatusOK, got.status, "%s stored", typ)
	}
	if res.review != nil {
		got := g.as(nav, "GET", "/Task/"+res.review["id"].(string), "")
		assert.Equal(t, http.StatusOK, got.status, "review Task stored")
	}
	if x.Revoked {
		got := g.as(nav, "GET", "/ServiceRequest/"+firstAllocation, "")
		require.Equal(t, http.StatusOK, got.status)
		assert.Equal(t, "revoked", got.json(t)["status"])
		assert.Equal(t, "ServiceRequest/"+firstAllocation, listAny(res.allocation["replaces"])[0].(map[string]any)["reference"])
	}
}

func TestNavigationIntakeOverHTTP(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			g := newNavGateway(t, sc.open(t), nvOptions{})
			nav := nvNavigator("essential", "Y99999")
			good := func() map[string]any {
				return nvTask(nvClinical("online", "Earache", 3), "Y99999", "9990010005", "", nvNow)
			}
			for _, route := range []string{"phone", "online", "walk-in"} {
				task := good()
				listAny(task["input"])[0].(map[string]any)["valueCode"] = route
				g.created(t, nav, "Task", task)
			}
			bad := []struct {
				name   string
				mutate func(map[string]any)
				status int
				expr   string
			}{
				{"no request type", func(m map[string]any) { m["input"] = append(listAny(m["input"])[:1], listAny(m["input"])[2:]...) }, 422, "Task.input"},
				{"unknown contact route", func(m map[string]any) { listAny(m["input"])[0].(map[string]any)["valueCode"] = "fax" }, 422, "Task.input[0].valueCode"},
				{"problem as a code", func(m map[string]any) {
					in := listAny(m["input"])[2].(map[string]any)
					delete(in, "valueString")
					in["valueCode"] = "ear"
				}, 400, "Task.input[2].valueCode"},
				{"problem with two values", func(m map[string]any) { listAny(m["input"])[2].(map[string]any)["valueCode"] = "ear" }, 400, "Task.input[2]"},
				{"bad NHS number", func(m map[string]any) {
					m["for"] = map[string]any{"identifier": map[string]any{"system": mapping.NHSNumberSystem, "value": "1234567890"}}
				}, 400, "Task.for.identifier.value"},
				{"created completed", func(m map[string]any) { m["status"] = "completed" }, 422, "Task.status"},
			}
			for _, tt := range bad {
				t.Run(tt.name, func(t *testing.T) {
					task := good()
					tt.mutate(task)
					b, _ := json.Marshal(task)
					r := g.as(nav, "POST", "/Task", string(b))
					// The gateway answers 422 for a write check's issues
					// (value issues included); what matters is that it is
					// refused with the offending element named.
					require.Contains(t, []int{400, 422}, r.status, "%s", r.body)
					assert.Contains(t, string(r.body), tt.expr)
				})
			}
			// Nothing of the refused Tasks was stored.
			q := g.as(nav, "GET", "/Task?_total=accurate", "")
			require.Equal(t, http.StatusOK, q.status, "%s", q.body)
			assert.EqualValues(t, json.Number("3"), q.json(t)["total"])

			// The state machine on update.
			id := g.created(t, nav, "Task", good())
			put := func(status string) reply {
				cur := g.as(nav, "GET", "/Task/"+id, "")
				obj := cur.json(t)
				obj["status"] = status
				b, _ := json.Marshal(obj)
				return g.as(nav, "PUT", "/Task/"+id, string(b))
			}
			r := put("completed")
			assert.Equal(t, 422, r.status, "requested cannot jump to completed: %s", r.body)
			assert.Contains(t, string(r.body), "state machine")
			assert.Equal(t, 200, put("in-progress").status)
			assert.Equal(t, 200, put("completed").status)
			r = put("in-progress")
			assert.Equal(t, 422, r.status, "completed is final: %s", r.body)
		})
	}
}

func TestNavigateProposeStoresNothingAndCommitIsAtomic(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			var failing atomic.Bool
			g := newNavGateway(t, st, nvOptions{wrap: nvFailingCreates("Provenance", &failing)})
			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("phone", "Earache", 3.0)
			id := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			srCount := func() json.Number {
				r := g.as(nav, "GET", "/ServiceRequest?_total=accurate&_count=0", "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				return r.json(t)["total"].(json.Number)
			}
			provCount := func() json.Number {
				r := g.as(nav, "GET", "/Provenance?_total=accurate&_count=0", "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				return r.json(t)["total"].(json.Number)
			}
			// propose: decided, nothing stored.
			res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.Equal(t, "demo-pharmacy-first", res.destination(), "the demo patient (need group 3, adult) goes to Pharmacy First")
			assert.Nil(t, res.allocation["id"], "a proposal has no id")
			assert.Contains(t, res.issueText(), "nothing was stored")
			assert.Equal(t, json.Number("0"), srCount())
			assert.Equal(t, json.Number("0"), provCount())
			assert.Equal(t, `W/"1"`, g.as(nav, "GET", "/Task/"+id, "").header.Get("ETag"))

			// commit that fails mid-way: nothing of it is stored.
			failing.Store(true)
			res = nvNavigate(t, g, nav, id, nil)
			assert.Equal(t, http.StatusInternalServerError, res.status, "%s", res.raw)
			assert.Equal(t, json.Number("0"), srCount())
			assert.Equal(t, `W/"1"`, g.as(nav, "GET", "/Task/"+id, "").header.Get("ETag"), "the Task update was rolled back")

			// commit: all of it.
			failing.Store(false)
			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.Equal(t, json.Number("1"), srCount())
			assert.Equal(t, json.Number("1"), provCount())
			assert.Equal(t, `W/"2"`, g.as(nav, "GET", "/Task/"+id, "").header.Get("ETag"))
			// The Provenance names the protocol version and the Task version
			// it decided from; the need group Observation is supporting info.
			ents := fmt.Sprint(res.provenance["entity"])
			assert.Contains(t, ents, "PlanDefinition/navigation-protocol-Y99999/_history/1")
			assert.Contains(t, ents, "Task/"+id+"/_history/1")
			assert.Contains(t, fmt.Sprint(res.allocation["supportingInfo"]), "Observation/demo-need-group-adult")
			assert.Contains(t, fmt.Sprint(res.provenance["target"]), "Task/"+id+"/_history/2")
		})
	}
}

// nvFailingCreates wraps a store so that, while on is set, creates of typ
// inside transactions fail.
func nvFailingCreates(typ string, on *atomic.Bool) func(store.Store) store.Store {
	return func(s store.Store) store.Store {
		return &nvFailingStore{Store: s, fail: func(r *fhir.Resource) bool { return on.Load() && r.Type() == typ }}
	}
}

// nvFailingStore fails the creates fail selects inside transactions.
type nvFailingStore struct {
	store.Store
	fail func(*fhir.Resource) bool
}

func (f *nvFailingStore) Transaction(ctx context.Context, fn func(tx store.Tx) error) error {
	return f.Store.Transaction(ctx, func(tx store.Tx) error { return fn(&nvFailingTx{Tx: tx, fail: f.fail}) })
}

type nvFailingTx struct {
	store.Tx
	fail func(*fhir.Resource) bool
}

func (t *nvFailingTx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if t.fail(r) {
		return store.WriteResult{}, errors.New("injected failure")
	}
	return t.Tx.Create(ctx, r)
}

// nvClinical is a clinical request by route about problem, days long.
func nvClinical(route, problem string, days float64) nvScenario {
	s := nvScenario{}
	s.Inputs.Route, s.Inputs.Type, s.Inputs.Problem, s.Inputs.DurationDays = route, "clinical", problem, &days
	return s
}

// nvTaskAbout creates, as caller, a clinical navigation Task by route of
// patient 9990010005 (the demo adult) at Y99999 about problem, days long,
// and returns its id.
func nvTaskAbout(t *testing.T, g *nvGateway, caller map[string]any, route, problem string, days float64) string {
	t.Helper()
	return g.created(t, caller, "Task", nvTask(nvClinical(route, problem, days), "Y99999", "9990010005", "", nvNow))
}

func TestNavigateErrorsAndTenancy(t *testing.T) {
	t.Parallel()
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	nav := nvNavigator("expert", "Y99999")
	id := nvTaskAbout(t, g, nav, "phone", "Earache", 3)
	r := g.as(nav, "POST", "/Task/"+id+"/$navigate", `{"resourceType":"Parameters","parameter":[{"name":"speed","valueString":"fast"}]}`)
	assert.Equal(t, 400, r.status, "%s", r.body)
	r = g.as(nav, "POST", "/Task/"+id+"/$navigate", `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"maybe"}]}`)
	assert.Equal(t, 400, r.status, "%s", r.body)
	r = g.as(nav, "POST", "/Task/"+id+"/$navigate", `{"resourceType":"Parameters","parameter":[{"name":"urgency","valueCode":"same-day"}]}`)
	assert.Equal(t, 400, r.status, "urgency without a destination: %s", r.body)
	r = g.as(nav, "POST", "/Task/"+id+"/$navigate", `{"resourceType":"Parameters","parameter":[{"name":"destination","valueReference":{"reference":"HealthcareService/nope"}}]}`)
	assert.Equal(t, 422, r.status, "%s", r.body)
	r = g.as(nav, "POST", "/Task/"+id+"/$navigate", `{"resourceType":"Parameters","parameter":[{"name":"review","valueString":"yes"}]}`)
	assert.Equal(t, 400, r.status, "review must be a valueBoolean: %s", r.body)
	assert.Contains(t, string(r.body), "parameter review")
	// Another practice's navigator does not see the Task.
	other := nvNavigator("expert", "B82002")
	r = g.as(other, "POST", "/Task/"+id+"/$navigate", "")
	assert.Equal(t, 404, r.status, "%s", r.body)
	// A Task that is not a navigation request.
	plain := g.created(t, nav, "Task", map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"owner": map[string]any{"identifier": map[string]any{"system": mapping.ODSSystem, "value": "Y99999"}}})
	r = g.as(nav, "POST", "/Task/"+plain+"/$navigate", "")
	assert.Equal(t, 422, r.status, "%s", r.body)
	// A publisher cannot navigate (scopes and patient data).
	pub := map[string]any{"scope": "system/*.cruds", "role": "publisher", "publisher": "Y99999", "sub": "pub", "client_id": "test-app"}
	r = g.as(pub, "POST", "/Task/"+id+"/$navigate", "")
	assert.Equal(t, 403, r.status, "%s", r.body)
	// A completed Task is not navigated again.
	res := nvNavigate(t, g, nav, id, nil)
	require.Equal(t, 200, res.status, "%s", res.raw)
	cur := g.as(nav, "GET", "/Task/"+id, "")
	obj := cur.json(t)
	obj["status"] = "completed"
	b, _ := json.Marshal(obj)
	require.Equal(t, 200, g.as(nav, "PUT", "/Task/"+id, string(b)).status)
	r = g.as(nav, "POST", "/Task/"+id+"/$navigate", "")
	assert.Equal(t, 409, r.status, "%s", r.body)
}

func TestClinicianReviewSupersedes(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			g := newNavGateway(t, sc.open(t), nvOptions{})
			essential := nvNavigator("essential", "Y99999")
			// The demo frail patient (need group 11) with knee pain: an
			// essential navigator's decision goes to review.
			s := nvClinical("phone", "Knee pain", 14.0)
			id := g.created(t, essential, "Task", nvTask(s, "Y99999", "9990010072", "Patient/demo-patient-frail", nvNow))
			res := nvNavigate(t, g, essential, id, nil)
			require.Equal(t, 200, res.status, "%s", res.raw)
			require.Equal(t, "review-requested", res.businessStatus())
			require.NotNil(t, res.review)
			assert.Equal(t, "draft", res.allocation["status"])
			assert.Contains(t, res.rules(), "safety-3-complex-needs")
			assert.Contains(t, res.issueText(), "Review requested: a clinician reviews the decision")
			// The navigator may not decide past the review.
			r := g.as(essential, "POST", "/Task/"+id+"/$navigate", "")
			assert.Equal(t, 409, r.status, "%s", r.body)
			// Nor complete the review Task.
			rv := g.as(essential, "GET", "/Task/"+res.review["id"].(string), "")
			obj := rv.json(t)
			obj["status"] = "rejected"
			b, _ := json.Marshal(obj)
			assert.Equal(t, 403, g.as(essential, "PUT", "/Task/"+res.review["id"].(string), string(b)).status)
			// The clinician decides: the review Task is completed and the
			// draft replaced.
			doc := nvClinician("Y99999")
			res2 := nvNavigate(t, g, doc, id, []any{map[string]any{"name": "destination", "valueReference": map[string]any{"reference": "HealthcareService/demo-fcp"}},
				map[string]any{"name": "note", "valueString": "Seen the notes: FCP is right, keep with the same physio"}})
			require.Equal(t, 200, res2.status, "%s", res2.raw)
			assert.Equal(t, "allocated", res2.businessStatus())
			assert.Equal(t, "active", res2.allocation["status"])
			assert.Equal(t, "ServiceRequest/"+res.allocation["id"].(string), listAny(res2.allocation["replaces"])[0].(map[string]any)["reference"])
			assert.Contains(t, fmt.Sprint(res2.provenance["entity"]), "revision")
			assert.Contains(t, fmt.Sprint(res2.provenance["agent"]), "dr-who")
			done := g.as(doc, "GET", "/Task/"+res.review["id"].(string), "")
			assert.Equal(t, "completed", done.json(t)["status"])
			old := g.as(doc, "GET", "/ServiceRequest/"+res.allocation["id"].(string), "")
			assert.Equal(t, "revoked", old.json(t)["status"])
		})
	}
}

// TestManualReviewSupersedes: an automated decision sent for manual review
// ($navigate review) is held as a draft with a clinician-review Task; the
// navigator cannot decide past it, and the clinician's decision replaces it.
func TestManualReviewSupersedes(t *testing.T) {
	t.Parallel()
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	nav := nvNavigator("expert", "Y99999")
	id := nvTaskAbout(t, g, nav, "phone", "Earache for 2 days", 2)
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "review", "valueBoolean": true}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	require.Equal(t, "review-requested", res.businessStatus())
	require.NotNil(t, res.review, "a clinician-review Task")
	assert.Equal(t, "draft", res.allocation["status"])
	assert.Contains(t, res.rules(), "safety-5-manual-review")
	r := g.as(nav, "POST", "/Task/"+id+"/$navigate", "")
	assert.Equal(t, 409, r.status, "the navigator may not decide past the review: %s", r.body)
	doc := nvClinician("Y99999")
	res2 := nvNavigate(t, g, doc, id, []any{map[string]any{"name": "destination", "valueReference": map[string]any{"reference": "HealthcareService/demo-pharmacy-first"}}})
	require.Equal(t, 200, res2.status, "%s", res2.raw)
	assert.Equal(t, "allocated", res2.businessStatus())
	assert.Equal(t, "ServiceRequest/"+res.allocation["id"].(string), listAny(res2.allocation["replaces"])[0].(map[string]any)["reference"])
	assert.Equal(t, "completed", g.as(doc, "GET", "/Task/"+res.review["id"].(string), "").json(t)["status"])
}

func TestProtocolIsLoadedAndVersionedThroughTheAPI(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			g := newNavGateway(t, sc.open(t), nvOptions{})
			b, err := os.ReadFile("../testdata/protocols/navigation-protocol-Y99999.json")
			require.NoError(t, err)
			var pd map[string]any
			require.NoError(t, json.Unmarshal(b, &pd))
			// A navigator may not load it; an administrator of another
			// practice neither.
			r := g.as(nvNavigator("expert", "Y99999"), "PUT", "/PlanDefinition/navigation-protocol-Y99999", string(b))
			assert.Equal(t, 403, r.status, "%s", r.body)
			r = g.as(nvAdmin("B82002"), "PUT", "/PlanDefinition/navigation-protocol-Y99999", string(b))
			assert.Equal(t, 403, r.status, "%s", r.body)
			// A protocol that does not compile is refused with the
			// expression named.
			broken := deepCopy(pd).(map[string]any)
			listAny(broken["action"])[0].(map[string]any)["condition"] = []any{map[string]any{"kind": "applicability",
				"expression": map[string]any{"language": "text/cel", "expression": "red_flag &&"}}}
			bb, _ := json.Marshal(broken)
			r = g.as(nvAdmin("Y99999"), "PUT", "/PlanDefinition/navigation-protocol-Y99999", string(bb))
			assert.Equal(t, 422, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), "PlanDefinition.action[0].condition[0].expression.expression")
			// A new version: Pharmacy First is switched off (the rule removed).
			next := deepCopy(pd).(map[string]any)
			next["version"] = "2026.12.1"
			next["approvalDate"] = "2026-11-20"
			var actions []any
			for _, a := range listAny(next["action"]) {
				if a.(map[string]any)["id"] != "minor-illness-pharmacy-first" {
					actions = append(actions, a)
				}
			}
			next["action"] = actions
			nb, _ := json.Marshal(next)
			r = g.as(nvAdmin("Y99999"), "PUT", "/PlanDefinition/navigation-protocol-Y99999", string(nb))
			require.Equal(t, 200, r.status, "%s", r.body)
			assert.Equal(t, `W/"2"`, r.header.Get("ETag"))
			// The next decision uses and records version 2.
			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("phone", "Earache", 3.0)
			id := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
			require.Equal(t, 200, res.status, "%s", res.raw)
			assert.NotEqual(t, "demo-pharmacy-first", res.destination())
			pv := res.outputs()["protocol-version"][0]["valueReference"].(map[string]any)
			assert.Equal(t, "PlanDefinition/navigation-protocol-Y99999/_history/2", pv["reference"])
			assert.Contains(t, pv["display"], "2026.12.1")
			// Every version is kept.
			h := g.as(nav, "GET", "/PlanDefinition/navigation-protocol-Y99999/_history", "")
			require.Equal(t, 200, h.status, "%s", h.body)
			assert.EqualValues(t, json.Number("2"), h.json(t)["total"])
		})
	}
}

// nvRegisterMakesComplex proposes Task id of the demo adult (need group
// 3): Pharmacy First (why says where the need group came from); then
// stores a severe mental illness register entry for the patient and
// proposes again: the practice, by safety rule 3.
func nvRegisterMakesComplex(t *testing.T, g *nvGateway, nav map[string]any, id, why string) {
	t.Helper()
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Equal(t, "demo-pharmacy-first", res.destination(), why)
	g.created(t, nav, "Condition", map[string]any{"resourceType": "Condition",
		"code": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "391193001"}}}, "subject": map[string]any{"reference": "Patient/demo-patient-adult"}})
	res = nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Equal(t, "demo-gp", res.destination())
	assert.Contains(t, res.rules(), "safety-3-complex-needs")
}

func TestNavigateReadsStoredNeedGroupAndRegisters(t *testing.T) {
	t.Parallel()
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	nav := nvNavigator("expert", "Y99999")
	// The demo adult (need group 3 in the store): Pharmacy First, until a
	// register entry makes needs complex.
	nvRegisterMakesComplex(t, g, nav, nvTaskAbout(t, g, nav, "online", "Earache", 2), "found by NHS number, need group from the stored Observation")
	// A patient with no Patient resource: age unknown, a warning.
	id2 := g.created(t, nav, "Task", nvTask(nvClinical("online", "Earache", 2), "Y99999", nvNHS(900), "", nvNow))
	res := nvNavigate(t, g, nav, id2, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Contains(t, res.issueText(), "birth date")
	assert.Contains(t, res.issueText(), "need group is not known")
	assert.Contains(t, fmt.Sprint(res.allocation["supportingInfo"]), "unknown")
}

func TestRepeatContactsAreFoundByNHSNumber(t *testing.T) {
	t.Parallel()
	// Integrators that only know the NHS number (no Patient on this
	// server): earlier Tasks are found by for.identifier.
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	nav := nvNavigator("expert", "Y99999")
	nhs := nvNHS(700)
	s := nvClinical("online", "Earache again", 2.0)
	s.Inputs.Symptoms = []string{"162340000"}
	for _, days := range []int{2, 9} {
		g.created(t, nav, "Task", nvTask(s, "Y99999", nhs, "", nvNow.AddDate(0, 0, -days)))
	}
	// Another practice's earlier contact is not this practice's history.
	g.created(t, nvNavigator("expert", "B82002"), "Task", nvTask(s, "B82002", nhs, "", nvNow.AddDate(0, 0, -1)))
	// Nor is a Task of the patient that is not a navigation request, even
	// one about the same symptom.
	other := nvTask(s, "Y99999", nhs, "", nvNow.AddDate(0, 0, -1))
	delete(other, "code")
	g.created(t, nav, "Task", other)
	id := g.created(t, nav, "Task", nvTask(s, "Y99999", nhs, "", nvNow))
	assertThirdContact(t, g, nav, id)
}

// TestRepeatContactsAfterCommittedNavigations: earlier contacts that were
// navigated and committed (their Tasks updated by the commit, which hands
// the written version to the contact history) count as repeat contacts of
// the practice, by NHS number, as the stored versions say.
func TestRepeatContactsAfterCommittedNavigations(t *testing.T) {
	t.Parallel()
	g := newNavGateway(t, stores[0].open(t), nvOptions{})
	nav := nvNavigator("expert", "Y99999")
	nhs := nvNHS(701)
	s := nvClinical("online", "Earache again", 2.0)
	s.Inputs.Symptoms = []string{"162340000"}
	for _, days := range []int{9, 2} {
		id := g.created(t, nav, "Task", nvTask(s, "Y99999", nhs, "", nvNow.AddDate(0, 0, -days)))
		res := nvNavigate(t, g, nav, id, nil)
		require.Equal(t, 200, res.status, "%s", res.raw)
		assert.Equal(t, "2", res.task["meta"].(map[string]any)["versionId"], "committed")
	}
	id := g.created(t, nav, "Task", nvTask(s, "Y99999", nhs, "", nvNow))
	assertThirdContact(t, g, nav, id)
}

// assertThirdContact proposes Task id and checks the proposal flags it
// as the patient's third contact about the problem (safety rule 2).
func assertThirdContact(t *testing.T, g *nvGateway, nav map[string]any, id string) {
	t.Helper()
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Contains(t, res.rules(), "safety-2-repeat-contact")
	explain, _ := res.outputs()["rationale"][0]["valueString"].(string)
	assert.Contains(t, explain, "contact 3 about this problem")
}

// BenchmarkNavigateCommit: POST Task/{id}/$navigate (commit) over
// loopback HTTP, one client, on each store; the Task's create is not
// timed.
func BenchmarkNavigateCommit(b *testing.B) {
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			g := newNavGateway(b, sc.open(b), nvOptions{})
			nav := nvNavigator("expert", "Y99999")
			task, err := json.Marshal(nvTask(nvClinical("phone", "Back pain", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			require.NoError(b, err)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				r := g.as(nav, "POST", "/Task", string(task))
				require.Equal(b, http.StatusCreated, r.status, "%s", r.body)
				var created struct{ ID string }
				require.NoError(b, json.Unmarshal(r.body, &created))
				b.StartTimer()
				r = g.as(nav, "POST", "/Task/"+created.ID+"/$navigate", "")
				require.Equal(b, http.StatusOK, r.status, "%s", r.body)
			}
		})
	}
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// TestTaskStatusRolesOverHTTP: who may move a navigation Task's status,
// on every write path (PUT, PATCH, transaction and batch entries, and
// $navigate), with tokens of the real issuer; a refusal is a 403 naming
// Task.status and stores nothing.
func TestTaskStatusRolesOverHTTP(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			g := newNavGateway(t, sc.open(t), nvOptions{})
			nav := nvNavigator("essential", "Y99999")
			doc := nvClinician("Y99999")
			// The online consultation tool that raised the contact, and
			// another client of the same practice.
			form := map[string]any{"scope": "system/*.cruds", "ods": "Y99999", "sub": "online-form", "client_id": "online-form"}
			other := map[string]any{"scope": "system/*.cruds", "ods": "Y99999", "sub": "telephony", "client_id": "telephony"}
			s := nvClinical("online", "Earache", 2.0)
			newTask := func() string {
				task := nvTask(s, "Y99999", "9990010005", "", nvNow)
				task["requester"] = map[string]any{"type": "Device", "identifier": map[string]any{"system": g.iss.URL(), "value": "online-form"}, "display": "Online form"}
				return g.created(t, form, "Task", task)
			}
			version := func(id string) string { return g.as(nav, "GET", "/Task/"+id, "").header.Get("ETag") }
			put := func(who map[string]any, id, status string) reply {
				cur := g.as(nav, "GET", "/Task/"+id, "")
				require.Equal(t, http.StatusOK, cur.status, "%s", cur.body)
				obj := cur.json(t)
				obj["status"] = status
				b, _ := json.Marshal(obj)
				return g.as(who, "PUT", "/Task/"+id, string(b))
			}
			refused := func(r reply, want string) {
				t.Helper()
				require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
				var oo map[string]any
				require.NoError(t, json.Unmarshal(r.body, &oo))
				assert.Equal(t, "OperationOutcome", oo["resourceType"])
				is := listAny(oo["issue"])[0].(map[string]any)
				assert.Equal(t, "forbidden", is["code"])
				// Task.status; in a Bundle, Bundle.entry[i].resource.status.
				assert.Regexp(t, `(Task|resource)\.status`, fmt.Sprint(is["expression"]))
				assert.Contains(t, is["diagnostics"], want)
			}

			// PUT: the requester may not accept; nothing is stored.
			id := newTask()
			refused(put(form, id, "accepted"), "is for its owner (a navigator of practice Y99999) or a clinician of practice Y99999; the caller is only its requester")
			assert.Equal(t, `W/"1"`, version(id))
			// Another client of the practice may not cancel it.
			refused(put(other, id, "cancelled"), "holds none of these roles")
			// A clinician may not mark it entered in error; the owner may
			// accept.
			refused(put(doc, id, "entered-in-error"), "its owner (a navigator of practice Y99999)")
			assert.Equal(t, `W/"1"`, version(id))
			r := put(nav, id, "accepted")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			// The requester cancels its own request.
			r = put(form, id, "cancelled")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)

			// PATCH (JSON Patch): the requester may not put it on hold.
			id = newTask()
			require.Equal(t, http.StatusOK, put(nav, id, "in-progress").status)
			patch := `[{"op":"replace","path":"/status","value":"on-hold"}]`
			refused(g.as(form, "PATCH", "/Task/"+id, patch, "Content-Type", "application/json-patch+json"), "the caller is only its requester")
			assert.Equal(t, `W/"2"`, version(id))
			r = g.as(nav, "PATCH", "/Task/"+id, patch, "Content-Type", "application/json-patch+json")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)

			// Transaction: the entry's refusal fails the whole Bundle.
			cur := g.as(nav, "GET", "/Task/"+id, "").json(t)
			cur["status"] = "completed"
			obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "note"},
				"subject": map[string]any{"reference": "Patient/demo-patient-adult"}}
			bundle := func(typ string) string {
				b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": typ, "entry": []any{
					map[string]any{"resource": obs, "request": map[string]any{"method": "POST", "url": "Observation"}},
					map[string]any{"resource": cur, "request": map[string]any{"method": "PUT", "url": "Task/" + id}},
				}})
				return string(b)
			}
			cur["status"] = "in-progress"
			// (on-hold -> in-progress -> completed: one move per write)
			refused(g.as(form, "POST", "/", bundle("transaction")), "Bundle.entry[1]")
			assert.Equal(t, `W/"3"`, version(id))
			q := g.as(nav, "GET", "/Observation?_total=accurate&_count=0&subject=Patient/demo-patient-adult&code:text=note", "")
			require.Equal(t, http.StatusOK, q.status, "%s", q.body)
			assert.EqualValues(t, json.Number("0"), q.json(t)["total"], "nothing of the transaction was stored")
			// Batch: the entry alone is refused (403 in its response).
			r = g.as(form, "POST", "/", bundle("batch"))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			entries := listAny(r.json(t)["entry"])
			require.Len(t, entries, 2)
			assert.Contains(t, entries[0].(map[string]any)["response"].(map[string]any)["status"], "201")
			resp := entries[1].(map[string]any)["response"].(map[string]any)
			assert.Contains(t, resp["status"], "403")
			assert.Contains(t, fmt.Sprint(resp["outcome"]), "Bundle.entry[1].resource.status")
			assert.Equal(t, `W/"3"`, version(id))
			// The owner's transaction goes through.
			r = g.as(nav, "POST", "/", bundle("transaction"))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, `W/"4"`, version(id))

			// $navigate: the requester may ask for the protocol's decision
			// on its own request, not make its own; another client neither.
			id = newTask()
			refused(g.as(other, "POST", "/Task/"+id+"/$navigate", ""), "$navigate (deciding a navigation Task")
			dest := `{"resourceType":"Parameters","parameter":[{"name":"destination","valueReference":{"reference":"HealthcareService/demo-gp"}}]}`
			refused(g.as(form, "POST", "/Task/"+id+"/$navigate", dest), "the caller is only its requester")
			assert.Equal(t, `W/"1"`, version(id))
			res := nvNavigate(t, g, form, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.Equal(t, "in-progress", res.task["status"])
			// Re-navigating an in-progress Task holds to the same rule.
			refused(g.as(other, "POST", "/Task/"+id+"/$navigate", ""), "holds none of these roles")
			// Another practice's navigator gets no role refusal that would
			// say the Task exists: its PUT is checked as a create, its
			// PATCH is tenancy's 404.
			stranger := nvNavigator("expert", "B82002")
			r = put(stranger, id, "cancelled")
			assert.NotEqual(t, http.StatusForbidden, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "navigator of practice Y99999")
			r = g.as(stranger, "PATCH", "/Task/"+id, `[{"op":"replace","path":"/status","value":"cancelled"}]`, "Content-Type", "application/json-patch+json")
			assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
			assert.Equal(t, `W/"2"`, version(id))
		})
	}
}

// shippedTerminology is the shipped SNOMED CT subset as a terminology.
func shippedTerminology(t testing.TB) *snomed.Terminology {
	t.Helper()
	term, err := snomed.New(nvShipped(), snomed.Options{})
	require.NoError(t, err)
	return term
}

// seededTerminology is shippedTerminology with its CodeSystems and
// ValueSets stored in st, as the gateway seeds them at start-up.
func seededTerminology(t testing.TB, st store.Store) *snomed.Terminology {
	t.Helper()
	term := shippedTerminology(t)
	_, err := term.Seed(context.Background(), st)
	require.NoError(t, err)
	return term
}

// trustedIssuer is an in-process OIDC issuer and a verifier trusting it.
func trustedIssuer(t testing.TB) (*oidctest.Issuer, *auth.Verifier) {
	t.Helper()
	iss := oidctest.New(t)
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuers: []string{iss.URL()}, Audience: iss.Audience()})
	require.NoError(t, err)
	return iss, v
}

// nvStuckRecord is a shared care record that never answers: NeedGroup
// returns only when its context ends, and notes that context's deadline
// and when it was asked. Its Timeout is the lookup bound navigate honours.
type nvStuckRecord struct {
	timeout time.Duration
	mu      sync.Mutex
	asked   time.Time
	until   time.Time
}

func (r *nvStuckRecord) Timeout() time.Duration { return r.timeout }

func (r *nvStuckRecord) NeedGroup(ctx context.Context, _ mapping.PatientRef, _ string) (mapping.NeedGroup, error) {
	deadline, _ := ctx.Deadline()
	r.mu.Lock()
	r.asked, r.until = time.Now(), deadline
	r.mu.Unlock()
	<-ctx.Done()
	return mapping.NeedGroup{}, ctx.Err()
}

// TestNavigateWaitsForTheRecordFromItsStart: the record's timeout bounds
// the navigation's wait from when the navigation began, so the reads
// before the lookup come out of it (the bar is on the navigation's time:
// the timeout plus 50 ms). The navigation still completes, with the
// warning.
func TestNavigateWaitsForTheRecordFromItsStart(t *testing.T) {
	t.Parallel()
	rec := &nvStuckRecord{timeout: 300 * time.Millisecond}
	g := newNavGateway(t, stores[0].open(t), nvOptions{needs: rec})
	nav := nvNavigator("expert", "Y99999")
	id := g.created(t, nav, "Task", nvTask(nvClinical("online", "Earache", 2), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
	sent := time.Now()
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, 200, res.status, "%s", res.raw)
	assert.Contains(t, res.issueText(), "need group")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.False(t, rec.until.IsZero(), "the lookup had a deadline")
	assert.True(t, rec.until.Before(rec.asked.Add(rec.timeout)), "the deadline counts from before the lookup was asked: asked %v, until %v", rec.asked, rec.until)
	assert.False(t, rec.until.Before(sent.Add(rec.timeout)), "and not from before the request was sent")
}
