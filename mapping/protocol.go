package mapping

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The practice protocol: the guide's "how things will be done" document,
// signed off by a senior clinician, as versioned data per practice. It is
// a FHIR PlanDefinition (docs/navigation.md has the full description and
// an example):
//
//   - id navigation-protocol-[ODS code], so each practice has one current
//     protocol, replaced by PUT; the store keeps every version, and each
//     decision records the version it used;
//   - useContext venue = the practice (an Organization reference by ODS
//     identifier) and workflow = navigation-task navigate, which marks the
//     PlanDefinition as a navigation protocol;
//   - version (the business version), status (only active is used),
//     approvalDate and endorser (who approved it): required when active;
//     effectivePeriod honoured when given;
//   - action: the rules, in order. A rule's condition (kind
//     applicability) is a CEL expression (language text/cel) over the
//     request's facts (Assessment.Facts); the first rule that matches and
//     whose destination can take the patient decides. A rule yields:
//     code = the navigation-category and, optionally, the destination's
//     service type (SNOMED CT); participant.role = the professional
//     (SNOMED CT occupation); dynamicValue (CEL expressions, usually
//     literals) for urgency, consultationMode, appointmentMinutes,
//     requirements, safetyNetting and turnaroundDays.
//
// The safety rules are not in the protocol and cannot be switched off by
// it (safety.go): whatever a rule yields is checked after it.

// ProtocolIDPrefix starts the id of every practice's protocol.
const ProtocolIDPrefix = "navigation-protocol-"

// ProtocolID is the PlanDefinition id of a practice's protocol.
func ProtocolID(practice string) string { return ProtocolIDPrefix + strings.ToUpper(practice) }

// ExpressionLanguage is the Expression.language of protocol expressions.
const ExpressionLanguage = "text/cel"

// The dynamicValue paths a rule may give.
const (
	PathUrgency            = "urgency"
	PathConsultationMode   = "consultationMode"
	PathAppointmentMinutes = "appointmentMinutes"
	PathRequirements       = "requirements"
	PathSafetyNetting      = "safetyNetting"
	PathTurnaroundDays     = "turnaroundDays"
)

var pathTypes = map[string]*cel.Type{
	PathUrgency: cel.StringType, PathConsultationMode: cel.StringType, PathAppointmentMinutes: cel.IntType,
	PathRequirements: cel.StringType, PathSafetyNetting: cel.StringType, PathTurnaroundDays: cel.IntType,
}

const (
	usageContextSystem = "http://terminology.hl7.org/CodeSystem/usage-context-type"
	planTypeSystem     = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
)

// protocolEnv is the CEL environment of protocol expressions: the facts
// as variables, and CEL's string extensions.
var protocolEnv = sync.OnceValues(func() (*cel.Env, error) {
	str, lst := cel.StringType, cel.ListType(cel.StringType)
	return cel.NewEnv(
		ext.Strings(),
		cel.Variable("age", cel.IntType),
		cel.Variable("sex", str),
		cel.Variable("symptoms", lst),
		cel.Variable("findings", lst),
		cel.Variable("same_day_flag", cel.BoolType),
		cel.Variable("life_critical", cel.BoolType),
		cel.Variable("problem", str),
		cel.Variable("duration_days", cel.DoubleType),
		cel.Variable("trend", str),
		cel.Variable("tried", str),
		cel.Variable("ice", str),
		cel.Variable("need_group", str),
		cel.Variable("need_level", str),
		cel.Variable("contacts", cel.IntType),
		cel.Variable("seen_elsewhere", lst),
		cel.Variable("preferred_mode", str),
		cel.Variable("communication_needs", lst),
		cel.Variable("request_type", str),
		cel.Variable("admin_kind", str),
		cel.Variable("patient_urgency", str),
		cel.Variable("escalating_concern", cel.BoolType),
		cel.Variable("red_flag", cel.BoolType),
		cel.Variable("complex_needs", cel.BoolType),
		cel.Variable("money_or_benefits", cel.BoolType),
		cel.Variable("contact_route", str),
		cel.Variable("informant", cel.BoolType),
	)
})

// evalCostLimit bounds one expression's evaluation (CEL's cost units;
// a regular expression over the problem text is well within it).
const evalCostLimit = 100000

// Protocol is a parsed, compiled practice protocol.
type Protocol struct {
	ID, VersionID, Version, URL, Title string
	Practice                           string
	Status                             string
	// ApprovedBy (endorser) and ApprovalDate are the sign-off.
	ApprovedBy, ApprovalDate     string
	EffectiveStart, EffectiveEnd time.Time
	Rules                        []*Rule
}

// Reference is the versioned reference of the protocol
// (PlanDefinition/[id]/_history/[versionId]).
func (p *Protocol) Reference() string {
	ref := "PlanDefinition/" + p.ID
	if p.VersionID != "" {
		ref += "/_history/" + p.VersionID
	}
	return ref
}

// Label names the protocol and its versions for people.
func (p *Protocol) Label() string {
	return fmt.Sprintf("%s version %s (%s), approved by %s on %s", orText(p.Title, p.ID), p.Version, p.Reference(), p.ApprovedBy, p.ApprovalDate)
}

// InForce reports whether the protocol may decide at t: active and within
// its effective period.
func (p *Protocol) InForce(t time.Time) (bool, string) {
	switch {
	case p.Status != "active":
		return false, fmt.Sprintf("the protocol's status is %s, not active", p.Status)
	case !p.EffectiveStart.IsZero() && t.Before(p.EffectiveStart):
		return false, "the protocol is not in effect yet (effectivePeriod)"
	case !p.EffectiveEnd.IsZero() && !t.Before(p.EffectiveEnd):
		return false, "the protocol's effective period has ended"
	}
	return true, ""
}

// Rule is one action of the protocol.
type Rule struct {
	ID, Title, Description string
	Condition              string
	cond                   cel.Program
	Category               Category
	ServiceType            *snomed.Coding
	Professional           *snomed.Coding
	values                 map[string]cel.Program
}

// RuleOutcome is what a matching rule yields.
type RuleOutcome struct {
	Rule               *Rule
	Category           Category
	ServiceType        string
	Urgency            Urgency
	Mode               string
	AppointmentMinutes int
	Requirements       string
	SafetyNetting      string
	TurnaroundDays     int
	Professional       *snomed.Coding
}

// IsNavigationProtocol reports whether a PlanDefinition is a navigation
// protocol (its useContext workflow is navigation-task navigate).
func (n NavigationNames) IsNavigationProtocol(obj map[string]any) bool {
	for _, uc := range viewUsageContexts(obj["useContext"]) {
		if uc.Code.Code == "workflow" && codeOfSystem(uc.ValueCC, n.System(snomed.NavigationTask)) == "navigate" {
			return true
		}
	}
	return false
}

// ParseProtocol reads and compiles a navigation protocol. Error issues
// are what makes it unusable (the write check refuses them); a rule whose
// expressions do not compile is an error, so a stored protocol never
// fails to compile.
func ParseProtocol(obj map[string]any, n NavigationNames) (*Protocol, []fhir.Issue) {
	pp := &protocolParser{n: n}
	return pp.parse(viewPlanDefinition(obj)), pp.issues
}

type protocolParser struct {
	n      NavigationNames
	issues []fhir.Issue
}

func (pp *protocolParser) errorf(expr, format string, args ...any) {
	pp.issues = append(pp.issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}})
}

func (pp *protocolParser) parse(d planDefinitionView) *Protocol {
	p := &Protocol{ID: d.ID, Version: d.Version, URL: d.URL, Title: d.Title, Status: d.Status, ApprovalDate: d.ApprovalDate, VersionID: d.VersionID}
	for i, uc := range d.UseContext {
		if uc.Code.Code != "venue" || uc.Code.System != usageContextSystem {
			continue
		}
		id := uc.ValueReference.Identifier
		if id.System != ODSSystem || id.Value == "" {
			pp.errorf(fmt.Sprintf("PlanDefinition.useContext[%d]", i), "the venue of a navigation protocol is the practice: valueReference.identifier with system %s", ODSSystem)
			continue
		}
		if p.Practice != "" {
			pp.errorf(fmt.Sprintf("PlanDefinition.useContext[%d]", i), "a navigation protocol belongs to one practice")
			continue
		}
		p.Practice = strings.ToUpper(id.Value)
	}
	if p.Practice == "" {
		pp.errorf("PlanDefinition.useContext", "a navigation protocol names its practice: a useContext with code venue (%s) and valueReference.identifier (%s)", usageContextSystem, ODSSystem)
	} else if p.ID != "" && p.ID != ProtocolID(p.Practice) {
		pp.errorf("PlanDefinition.id", "the protocol of practice %s has id %s (one current protocol per practice; PUT a new version to replace it)", p.Practice, ProtocolID(p.Practice))
	}
	for _, name := range d.Endorsers {
		p.ApprovedBy = strings.TrimSpace(strings.Join([]string{p.ApprovedBy, name}, ", "))
		p.ApprovedBy = strings.TrimPrefix(p.ApprovedBy, ", ")
	}
	if p.Status == "active" {
		if p.Version == "" {
			pp.errorf("PlanDefinition.version", "an active protocol has a version, which every decision records")
		}
		if p.ApprovalDate == "" {
			pp.errorf("PlanDefinition.approvalDate", "an active protocol says when it was approved (the guide: signed off by a senior clinician)")
		}
		if p.ApprovedBy == "" {
			pp.errorf("PlanDefinition.endorser", "an active protocol names who approved it (endorser.name; the guide: a senior clinician)")
		}
	}
	if d.HasEffective {
		p.EffectiveStart, _ = navDateTime(d.Effective.Start, false)
		p.EffectiveEnd, _ = navDateTime(d.Effective.End, true)
	}
	ids := map[string]bool{}
	for i, a := range d.Action {
		if r := pp.rule(a, fmt.Sprintf("PlanDefinition.action[%d]", i)); r != nil {
			if r.ID == "" {
				r.ID = fmt.Sprintf("rule-%d", i+1)
			}
			if ids[r.ID] {
				pp.errorf(fmt.Sprintf("PlanDefinition.action[%d].id", i), "rule id %q is used twice", r.ID)
			}
			ids[r.ID] = true
			p.Rules = append(p.Rules, r)
		}
	}
	return p
}

func (pp *protocolParser) rule(m actionView, expr string) *Rule {
	env, err := protocolEnv()
	if err != nil {
		pp.errorf(expr, "the expression environment failed: %v", err)
		return nil
	}
	r := &Rule{ID: m.ID, Title: m.Title, Description: m.Description, values: map[string]cel.Program{}}
	bad := len(pp.issues)
	for j, cm := range m.Condition {
		cexpr := fmt.Sprintf("%s.condition[%d]", expr, j)
		if cm.Kind != "applicability" {
			pp.errorf(cexpr+".kind", "protocol conditions are of kind applicability")
			continue
		}
		if r.cond != nil {
			pp.errorf(cexpr, "a rule has one condition; combine them with && in CEL")
			continue
		}
		src, ok := pp.expression(cm.Expression, cexpr+".expression")
		if !ok {
			continue
		}
		prg, ok := pp.compile(env, src, cel.BoolType, cexpr+".expression.expression")
		if ok {
			r.cond, r.Condition = prg, src
		}
	}
	catSystem := pp.n.System(snomed.NavigationCategory)
	for j, cc := range m.Code {
		for _, c := range ccCodings(cc) {
			switch c.System {
			case catSystem:
				if !Category(c.Code).Valid() {
					pp.errorf(fmt.Sprintf("%s.code[%d]", expr, j), "%q is not a code of %s", c.Code, catSystem)
					continue
				}
				if r.Category != "" {
					pp.errorf(fmt.Sprintf("%s.code[%d]", expr, j), "a rule has one navigation category")
					continue
				}
				r.Category = Category(c.Code)
			case snomed.System:
				if r.ServiceType != nil {
					pp.errorf(fmt.Sprintf("%s.code[%d]", expr, j), "a rule has one destination service type")
					continue
				}
				st := c
				r.ServiceType = &st
			}
		}
	}
	if r.Category == "" {
		pp.errorf(expr+".code", "a rule yields a navigation category: a code with system %s", catSystem)
	}
	for j, role := range m.Roles {
		for _, c := range ccCodings(role) {
			if c.System == snomed.System && r.Professional == nil {
				pr := c
				r.Professional = &pr
			}
		}
		if r.Professional == nil {
			pp.errorf(fmt.Sprintf("%s.participant[%d].role", expr, j), "the professional is a SNOMED CT occupation (participant.role)")
		}
	}
	for j, dm := range m.DynamicValue {
		dexpr := fmt.Sprintf("%s.dynamicValue[%d]", expr, j)
		path := dm.Path
		want, ok := pathTypes[path]
		if !ok {
			pp.errorf(dexpr+".path", "%q is not a path a navigation rule can set (urgency, consultationMode, appointmentMinutes, requirements, safetyNetting, turnaroundDays)", path)
			continue
		}
		if _, dup := r.values[path]; dup {
			pp.errorf(dexpr+".path", "%s is set twice", path)
			continue
		}
		src, ok := pp.expression(dm.Expression, dexpr+".expression")
		if !ok {
			continue
		}
		if prg, ok := pp.compile(env, src, want, dexpr+".expression.expression"); ok {
			r.values[path] = prg
			pp.constant(env, path, src, dexpr+".expression.expression")
		}
	}
	if len(pp.issues) > bad {
		return nil
	}
	return r
}

func (pp *protocolParser) expression(m expressionView, expr string) (string, bool) {
	if lang := m.Language; lang != ExpressionLanguage {
		pp.errorf(expr+".language", "protocol expressions are CEL (language %s), not %q", ExpressionLanguage, lang)
		return "", false
	}
	src := strings.TrimSpace(m.Expression)
	if src == "" {
		pp.errorf(expr+".expression", "the expression is empty")
		return "", false
	}
	return src, true
}

func (pp *protocolParser) compile(env *cel.Env, src string, want *cel.Type, expr string) (cel.Program, bool) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		pp.errorf(expr, "the CEL expression does not compile: %v", iss.Err())
		return nil, false
	}
	if !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		pp.errorf(expr, "the CEL expression gives %s; %s is expected", cel.FormatCELType(ast.OutputType()), cel.FormatCELType(want))
		return nil, false
	}
	prg, err := env.Program(ast, cel.CostLimit(evalCostLimit))
	if err != nil {
		pp.errorf(expr, "the CEL expression cannot run: %v", err)
		return nil, false
	}
	return prg, true
}

// constant checks the value of an expression that needs no facts (a
// literal) at write time: an unknown urgency code is refused now rather
// than skipped at run time.
func (pp *protocolParser) constant(env *cel.Env, path, src, expr string) {
	ast, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return
	}
	prg, err := env.Program(ast)
	if err != nil {
		return
	}
	out, _, err := prg.Eval(cel.NoVars())
	if err != nil || types.IsError(out) {
		return // it reads facts: checked when it runs
	}
	if msg := checkValue(path, out.Value()); msg != "" {
		pp.errorf(expr, "%s", msg)
	}
}

// checkValue is "" when v is an acceptable value of path, else why not.
func checkValue(path string, v any) string {
	switch path {
	case PathUrgency:
		if s, _ := v.(string); !Urgency(s).Valid() {
			return fmt.Sprintf("urgency %q is not a navigation-urgency code (emergency, same-day, within-week, routine)", v)
		}
	case PathConsultationMode:
		if s, _ := v.(string); !containsStr(consultationModes, s) {
			return fmt.Sprintf("consultationMode %q is not one of %s", v, strings.Join(consultationModes, ", "))
		}
	case PathAppointmentMinutes:
		if n, _ := v.(int64); n < 0 || n > 240 {
			return fmt.Sprintf("appointmentMinutes %v is not between 0 and 240", v)
		}
	case PathTurnaroundDays:
		if n, _ := v.(int64); n < 0 || n > 92 {
			return fmt.Sprintf("turnaroundDays %v is not between 0 and 92", v)
		}
	}
	return ""
}

// Matching evaluates the rules against the facts and returns what each
// matching rule yields, in the protocol's order. A rule whose expression
// fails at run time (a cost limit, a value of the wrong kind) does not
// match; the failure is reported as a warning.
func (p *Protocol) Matching(facts map[string]any) ([]RuleOutcome, []fhir.Issue) {
	var out []RuleOutcome
	var issues []fhir.Issue
	warn := func(r *Rule, format string, args ...any) {
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
			Diagnostics: fmt.Sprintf("protocol %s rule %s: %s; the rule is skipped", p.Reference(), r.ID, fmt.Sprintf(format, args...))})
	}
rules:
	for _, r := range p.Rules {
		if r.cond != nil {
			v, _, err := r.cond.Eval(facts)
			if err != nil {
				warn(r, "the condition failed: %v", err)
				continue
			}
			if b, ok := v.Value().(bool); !ok || !b {
				continue
			}
		}
		o := RuleOutcome{Rule: r, Category: r.Category, Professional: r.Professional}
		if r.ServiceType != nil {
			o.ServiceType = r.ServiceType.Code
		}
		for path, prg := range r.values {
			v, _, err := prg.Eval(facts)
			if err != nil {
				warn(r, "%s failed: %v", path, err)
				continue rules
			}
			if msg := checkValue(path, v.Value()); msg != "" {
				warn(r, "%s", msg)
				continue rules
			}
			switch x := v.Value().(type) {
			case string:
				switch path {
				case PathUrgency:
					o.Urgency = Urgency(x)
				case PathConsultationMode:
					o.Mode = x
				case PathRequirements:
					o.Requirements = x
				case PathSafetyNetting:
					o.SafetyNetting = x
				}
			case int64:
				switch path {
				case PathAppointmentMinutes:
					o.AppointmentMinutes = int(x)
				case PathTurnaroundDays:
					o.TurnaroundDays = int(x)
				}
			default:
				warn(r, "%s gave a %T", path, x)
				continue rules
			}
		}
		out = append(out, o)
	}
	return out, issues
}

// CheckProtocol is the write check of PlanDefinitions: a navigation
// protocol must parse and compile (ParseProtocol). Other PlanDefinitions
// pass untouched.
func CheckProtocol(obj map[string]any, n NavigationNames) []fhir.Issue {
	if !n.IsNavigationProtocol(obj) {
		if strings.HasPrefix(fhir.Str(obj["id"]), ProtocolIDPrefix) {
			return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Expression: []string{"PlanDefinition.useContext"},
				Diagnostics: fmt.Sprintf("%s* ids are navigation protocols: a useContext with code workflow and valueCodeableConcept %s#navigate is required", ProtocolIDPrefix, n.System(snomed.NavigationTask))}}
		}
		return nil
	}
	_, issues := ParseProtocol(obj, n)
	return issues
}

func orText(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}
