package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without a zoneinfo database

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The directory of services: how Signpost represents a HealthcareService
// it can navigate patients to (docs/directory.md is the reference for
// integrators and publishers), and the reading of that representation
// that the write checks and matching share. What ParseService cannot
// read is refused on write, so matching never guesses at an entry.
//
// R4 elements are used where they carry the meaning: active, category
// (navigation-category: practice-team, external-referral, signpost ...),
// type and specialty, eligibility.comment, characteristic (the
// communication and access needs the service caters for), referralMethod,
// availableTime, notAvailable, telecom, location, providedBy, endpoint.
// What R4 cannot say is carried by the extensions below, each defined by
// a StructureDefinition at [base]/StructureDefinition/[id].

// Extension ids; the canonical URL is Directory.Extension(id).
const (
	// ExtEligibility (on HealthcareService.eligibility, complex): age
	// (Range), sex (code, 0..*), needGroup (Coding, 0..*), suitable and
	// notSuitable (CodeableConcept, 0..*).
	ExtEligibility = "directory-eligibility"
	// ExtReferralRoute (on HealthcareService, complex, 0..*): method
	// (Coding), endpoint (Reference(Endpoint)), form (url or
	// Reference(Questionnaire | DocumentReference)), telecom
	// (ContactPoint), instructions (markdown).
	ExtReferralRoute = "directory-referral-route"
	// ExtCapacity (on HealthcareService, complex, 0..1): status (code),
	// setAt (dateTime), until (dateTime), note (string).
	ExtCapacity = "directory-capacity"
	// ExtBankHolidays (on HealthcareService, code): closed or
	// regular-hours.
	ExtBankHolidays = "directory-bank-holidays"
	// ExtSpecialOpening (on HealthcareService, Period, 0..*): opening on a
	// given date that replaces the weekly hours of that date.
	ExtSpecialOpening = "directory-special-opening"
	// ExtCatchment (on HealthcareService, complex, 0..1): practice
	// (Identifier, ODS code, 0..*), postcodeDistrict (string, 0..*).
	ExtCatchment = "directory-catchment"
	// ExtTeam (on HealthcareService, complex, 0..1): scope (code: practice,
	// pcn, place, external), role (CodeableConcept, 0..*).
	ExtTeam = "directory-team"
	// ExtLastVerified (on HealthcareService, dateTime): when the entry
	// was last confirmed with the service.
	ExtLastVerified = "directory-last-verified"
	// ExtSourceUpdated (on HealthcareService, instant): the publisher's
	// own timestamp of the entry, which orders its updates.
	ExtSourceUpdated = "directory-source-updated"
	// ExtMatchSubject (on OperationOutcome.issue, Reference): the
	// HealthcareService an issue of a $match outcome is about.
	ExtMatchSubject = "directory-match-subject"
)

// Local code system ids of the directory; the canonical URL is
// Directory.CodeSystem(id), with a ValueSet of all its codes at
// Directory.ValueSet(id).
const (
	ReferralMethodSystem    = "directory-referral-method"
	CapacityStatusSystem    = "directory-capacity-status"
	BankHolidayPolicySystem = "directory-bank-holiday-policy"
	AccessSupportSystem     = "directory-access-support"
	TeamScopeSystem         = "directory-team-scope"
	MatchReasonSystem       = "directory-match-reason"
)

// Capacity statuses.
const (
	CapacityAccepting    = "accepting"
	CapacityLimited      = "limited"
	CapacityNotAccepting = "not-accepting"
)

// Bank holiday policies.
const (
	BankHolidaysClosed  = "closed"
	BankHolidaysRegular = "regular-hours"
)

// Referral methods (directory-referral-method).
const (
	ReferralSelf       = "self-referral"
	ReferralForm       = "practice-form"
	ReferralPhone      = "phone"
	ReferralElectronic = "electronic"
	ReferralEmail      = "email"
)

// External code systems the representation uses.
const (
	ODSSystem    = "https://fhir.nhs.uk/Id/ods-organization-code"
	UCUMSystem   = "http://unitsofmeasure.org"
	GenderSystem = "http://hl7.org/fhir/administrative-gender"
	// HL7ReferralMethodSystem is R4's example code system for
	// HealthcareService.referralMethod; Signpost writes its phone and
	// elec codes beside its own where they mean the same.
	HL7ReferralMethodSystem = "http://terminology.hl7.org/CodeSystem/service-referral-method"
)

// Directory names the directory's artefacts under a canonical base (the
// same base as the local code systems, NAVIGATION-API.md).
type Directory struct {
	base string
}

// NewDirectory returns the directory's names under base; "" is
// snomed.DefaultBase.
func NewDirectory(base string) Directory { return Directory{base: NewNavigationNames(base).Base()} }

// Base is the canonical base.
func (d Directory) Base() string { return d.base }

// Extension is the canonical URL of a directory extension.
func (d Directory) Extension(id string) string { return d.base + "/StructureDefinition/" + id }

// CodeSystem is the canonical URL of a local code system (the directory's
// or the navigation contract's, such as snomed.PatientNeedGroup).
func (d Directory) CodeSystem(id string) string { return d.base + "/CodeSystem/" + id }

// ValueSet is the canonical URL of a local value set.
func (d Directory) ValueSet(id string) string { return d.base + "/ValueSet/" + id }

// NHSServiceSearchSystem is the identifier system of HealthcareServices
// imported from NHS Service Search (value: ODS code, or ODS code "/"
// service code); NHSServiceSearchLocationSystem that of their Locations.
func (d Directory) NHSServiceSearchSystem() string { return d.base + "/Id/nhs-service-search" }

// NHSServiceSearchLocationSystem: see NHSServiceSearchSystem.
func (d Directory) NHSServiceSearchLocationSystem() string {
	return d.base + "/Id/nhs-service-search-location"
}

// Service is a HealthcareService as matching reads it, parsed once from
// its JSON (see ParseService). Times are the service's local wall clock
// (Europe/London) where the representation says so.
type Service struct {
	ID, VersionID, Name string
	// Provider is providedBy's display and Place the first location's:
	// what names the service for people with its organisation (Label).
	Provider, Place string
	// label is Label, made once when the service is parsed.
	label       string
	Active      bool
	Identifiers []Identifier
	// Types holds the codings of type, specialty and the team roles, as
	// "system|code": what a needed service type is matched against.
	Types map[string]bool
	// typeCodes holds the codes of Types alone, for a needed type given
	// without its system.
	typeCodes map[string]bool
	// TypeCodings are the codings of HealthcareService.type alone, as
	// R4's service-type search parameter reads them.
	TypeCodings []Code
	// Categories holds the navigation-category codes.
	Categories map[string]bool
	// Eligibility holds each eligibility element that carries criteria;
	// the patient must meet every one.
	Eligibility []Eligibility
	Capacity    *Capacity
	// BankHolidays is the bank holiday policy; "" when not stated.
	BankHolidays string
	// Hours tells whether any weekly hours or special openings are
	// published; Weekly holds them per ISO weekday (0 Monday) as minutes
	// after local midnight, [start, end).
	Hours   bool
	Weekly  [7][]Interval
	Special []Span
	Closed  []Span
	// Catchment is nil when the service takes patients from anywhere.
	Catchment *Catchment
	// Supports holds the characteristic codings ("system|code").
	Supports map[string]bool
	// ReferralMethods holds the directory-referral-method codes offered.
	ReferralMethods map[string]bool
	TeamScope       string
	LastVerified    string
	SourceUpdated   time.Time
}

// Identifier is a business identifier.
type Identifier struct{ System, Value string }

// Interval is a part of a day in minutes after local midnight, [Start, End).
type Interval struct{ Start, End int }

// Span is a period of time, [Start, End); a zero End is open-ended.
type Span struct {
	Start, End time.Time
	Note       string
}

// Eligibility is one eligibility element's criteria. Empty lists place no
// constraint.
type Eligibility struct {
	Age         *AgeRange
	Sexes       map[string]bool
	NeedGroups  map[string]bool
	Suitable    []map[string]bool // each a CodeableConcept's codings
	NotSuitable []map[string]bool
	Comment     string
	// sexText, needText and ageText are the texts of Sexes, NeedGroups
	// and Age for reasons, made once when the entry is parsed.
	sexText, needText, ageText string
}

// AgeRange is an inclusive age range in one UCUM unit (a, mo, wk, d);
// a nil bound is open.
type AgeRange struct {
	Unit      string
	Low, High *float64
}

// Capacity is the accepting-referrals status and when it was set.
type Capacity struct {
	Status string
	SetAt  time.Time
	Until  time.Time
	Note   string
}

// Catchment lists the practices and postcode districts (or areas) a
// service takes patients from.
type Catchment struct {
	Practices map[string]bool
	Districts map[string]bool
	Areas     map[string]bool
	// text lists them for reasons, made once when the entry is parsed.
	text string
}

// London is the zone of every wall-clock time in the representation.
var London = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("mapping: time zone %s: %v", name, err))
	}
	return loc
}

var (
	timePattern     = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]|60)(\.[0-9]+)?)?$`)
	districtPattern = regexp.MustCompile(`^[A-Z]{1,2}[0-9][0-9A-Z]?$`)
	areaPattern     = regexp.MustCompile(`^[A-Z]{1,2}$`)
	fullPostcode    = regexp.MustCompile(`^([A-Z]{1,2}[0-9][0-9A-Z]?)([0-9][A-Z]{2})$`)
)

var isoDays = map[string]int{"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

// ParseService reads a HealthcareService's JSON. Issues of error severity
// are content matching cannot use (a directory extension that is
// malformed, a code outside its code system, a time that is not a time);
// the write check refuses them, and matching excludes a stored entry that
// has any ("unreadable"). R4 validation has already checked the shapes of
// R4 elements; this checks what R4 leaves open.
func ParseService(obj map[string]any, d Directory) (*Service, []fhir.Issue) {
	p := &serviceParser{d: d}
	return p.parse(obj), p.issues
}

type serviceParser struct {
	d      Directory
	issues []fhir.Issue
}

func (p *serviceParser) errorf(expr, format string, args ...any) {
	p.issues = append(p.issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeInvalid,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}})
}

// warnf notes what matching cannot use but R4 allows: the write is kept
// (the gateway stores any valid R4 resource), matching ignores that part.
func (p *serviceParser) warnf(expr, format string, args ...any) {
	p.issues = append(p.issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeInvalid,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}})
}

func (p *serviceParser) parse(obj map[string]any) *Service {
	s := &Service{
		ID: fhir.Str(obj["id"]), Name: fhir.Str(obj["name"]), Active: true,
		Types: map[string]bool{}, Categories: map[string]bool{}, Supports: map[string]bool{}, ReferralMethods: map[string]bool{},
	}
	s.VersionID = fhir.Str(object(obj["meta"])["versionId"])
	if b, ok := obj["active"].(bool); ok {
		s.Active = b
	}
	s.Provider = strings.TrimSpace(viewReference(obj["providedBy"]).Display)
	if l := fhir.List(obj["location"]); len(l) > 0 {
		s.Place = strings.TrimSpace(viewReference(l[0]).Display)
	}
	s.label = serviceLabel(s)
	for _, v := range fhir.List(obj["identifier"]) {
		if id, _ := viewIdentifier(v); id.Value != "" {
			s.Identifiers = append(s.Identifiers, Identifier(id))
		}
	}
	for _, cc := range fhir.List(obj["type"]) {
		for _, c := range ccCodings(cc) {
			if c.System != "" || c.Code != "" {
				s.TypeCodings = append(s.TypeCodings, Code{System: c.System, Code: c.Code})
			}
		}
	}
	for _, field := range []string{"type", "specialty"} {
		for _, cc := range fhir.List(obj[field]) {
			for k := range codingKeys(cc) {
				s.Types[k] = true
			}
		}
	}
	catSystem := p.d.CodeSystem(snomed.NavigationCategory)
	for _, cc := range fhir.List(obj["category"]) {
		for _, c := range ccCodings(cc) {
			if c.System == catSystem {
				s.Categories[c.Code] = true
			}
		}
	}
	for _, cc := range fhir.List(obj["characteristic"]) {
		for k := range codingKeys(cc) {
			s.Supports[k] = true
		}
	}
	methodSystem := p.d.CodeSystem(ReferralMethodSystem)
	for i, cc := range fhir.List(obj["referralMethod"]) {
		for _, c := range ccCodings(cc) {
			if c.System == methodSystem {
				if !referralMethods[c.Code] {
					p.errorf(fmt.Sprintf("HealthcareService.referralMethod[%d]", i), "%q is not a code of %s", c.Code, methodSystem)
					continue
				}
				s.ReferralMethods[c.Code] = true
			}
		}
	}
	for i, e := range fhir.List(obj["eligibility"]) {
		m := object(e)
		if el, ok := p.eligibility(fhir.Str(m["comment"]), viewExtensions(m["extension"]), fmt.Sprintf("HealthcareService.eligibility[%d]", i)); ok {
			s.Eligibility = append(s.Eligibility, el)
		}
	}
	p.hours(s, fhir.List(obj["availableTime"]), fhir.List(obj["notAvailable"]))
	for i, m := range viewExtensions(obj["extension"]) {
		expr := fmt.Sprintf("HealthcareService.extension[%d]", i)
		switch m.URL {
		case p.d.Extension(ExtReferralRoute):
			p.referralRoute(s, m, expr)
		case p.d.Extension(ExtCapacity):
			if s.Capacity != nil {
				p.errorf(expr, "a service has one capacity status; this is the second")
				continue
			}
			s.Capacity = p.capacity(m, expr)
		case p.d.Extension(ExtBankHolidays):
			v := m.valueCode()
			if v != BankHolidaysClosed && v != BankHolidaysRegular {
				p.errorf(expr, "%s takes valueCode %s or %s", ExtBankHolidays, BankHolidaysClosed, BankHolidaysRegular)
				continue
			}
			s.BankHolidays = v
		case p.d.Extension(ExtSpecialOpening):
			sp, ok := p.period(m.valuePeriod(), expr+".valuePeriod", true)
			if ok {
				s.Special = append(s.Special, sp)
				s.Hours = true
			}
		case p.d.Extension(ExtCatchment):
			if s.Catchment != nil {
				p.errorf(expr, "a service has one catchment; this is the second")
				continue
			}
			s.Catchment = p.catchment(m, expr)
		case p.d.Extension(ExtTeam):
			p.team(s, m, expr)
		case p.d.Extension(ExtLastVerified):
			v := m.valueDateTime()
			if v == "" {
				p.errorf(expr, "%s takes a valueDateTime", ExtLastVerified)
			}
			s.LastVerified = v
		case p.d.Extension(ExtSourceUpdated):
			t, err := time.Parse(time.RFC3339Nano, m.valueInstant())
			if err != nil {
				p.errorf(expr, "%s takes a valueInstant (the publisher's timestamp, with seconds and a zone)", ExtSourceUpdated)
				continue
			}
			s.SourceUpdated = t
		}
	}
	// The texts reasons quote, made once here rather than for every
	// patient a match excludes.
	if s.Catchment != nil {
		s.Catchment.text = catchmentText(s.Catchment)
	}
	for i := range s.Eligibility {
		e := &s.Eligibility[i]
		e.sexText, e.needText = dirSetText(e.Sexes, " or "), needGroupSetWords(e.NeedGroups)
		if e.Age != nil {
			e.ageText = e.Age.String()
		}
	}
	// The team's roles are types too (read above), so this comes last.
	s.typeCodes = make(map[string]bool, len(s.Types))
	for k := range s.Types {
		_, code, _ := strings.Cut(k, "|")
		s.typeCodes[code] = true
	}
	return s
}

func (p *serviceParser) eligibility(comment string, exts []extensionView, expr string) (Eligibility, bool) {
	el := Eligibility{Comment: comment, Sexes: map[string]bool{}, NeedGroups: map[string]bool{}}
	found := false
	pngSystem := p.d.CodeSystem(snomed.PatientNeedGroup)
	for i, x := range exts {
		if x.URL != p.d.Extension(ExtEligibility) {
			continue
		}
		found = true
		xexpr := fmt.Sprintf("%s.extension[%d]", expr, i)
		for j, sm := range x.Parts {
			sexpr := fmt.Sprintf("%s.extension[%d]", xexpr, j)
			switch sm.URL {
			case "age":
				if el.Age != nil {
					p.errorf(sexpr, "eligibility has one age range")
					continue
				}
				el.Age = p.ageRange(sm.valueRange(), sexpr+".valueRange")
			case "sex":
				v := sm.valueCode()
				switch v {
				case "male", "female", "other", "unknown":
					el.Sexes[v] = true
				default:
					p.errorf(sexpr, "sex takes a valueCode of %s (male, female, other, unknown)", GenderSystem)
				}
			case "needGroup":
				c := sm.valueCoding()
				code := c.Code
				if c.System != pngSystem || !needGroupCode(code) {
					p.errorf(sexpr, "needGroup takes a valueCoding of %s (1 to 11)", pngSystem)
					continue
				}
				el.NeedGroups[code] = true
			case "suitable", "notSuitable":
				keys := codingKeys(sm.valueCodeableConcept())
				if len(keys) == 0 {
					p.errorf(sexpr, "%s takes a valueCodeableConcept with at least one coding (system and code): text alone cannot be matched", sm.URL)
					continue
				}
				if sm.URL == "suitable" {
					el.Suitable = append(el.Suitable, keys)
				} else {
					el.NotSuitable = append(el.NotSuitable, keys)
				}
			default:
				p.errorf(sexpr, "%s has no part %q (age, sex, needGroup, suitable, notSuitable)", ExtEligibility, sm.URL)
			}
		}
	}
	return el, found
}

func needGroupCode(c string) bool {
	n, err := strconv.Atoi(c)
	return err == nil && n >= 1 && n <= 11 && strconv.Itoa(n) == c
}

// ageUnits are the UCUM units an age range may use.
var ageUnits = map[string]bool{"a": true, "mo": true, "wk": true, "d": true}

func (p *serviceParser) ageRange(v any, expr string) *AgeRange {
	rng, ok := viewRange(v)
	if !ok {
		p.errorf(expr, "age takes a valueRange")
		return nil
	}
	r := &AgeRange{}
	for _, b := range []struct {
		bound string
		q     *quantityView
	}{{"low", rng.Low}, {"high", rng.High}} {
		bound, q := b.bound, b.q
		if q == nil {
			continue
		}
		unit := q.Code
		if q.System != UCUMSystem || !ageUnits[unit] {
			p.errorf(expr+"."+bound, "an age bound is a UCUM quantity in a, mo, wk or d (system %s)", UCUMSystem)
			return nil
		}
		if r.Unit != "" && r.Unit != unit {
			p.errorf(expr, "both bounds of an age range use one unit")
			return nil
		}
		r.Unit = unit
		f, err := strconv.ParseFloat(q.Value, 64)
		if err != nil || f < 0 {
			p.errorf(expr+"."+bound+".value", "an age bound needs a non-negative value")
			return nil
		}
		if bound == "low" {
			r.Low = &f
		} else {
			r.High = &f
		}
	}
	if r.Unit == "" {
		p.errorf(expr, "an age range needs a low or a high bound")
		return nil
	}
	if r.Low != nil && r.High != nil && *r.Low > *r.High {
		p.errorf(expr, "the age range's low bound is above its high bound")
		return nil
	}
	return r
}

func (p *serviceParser) referralRoute(s *Service, m extensionView, expr string) {
	method := ""
	for j, sm := range m.Parts {
		sexpr := fmt.Sprintf("%s.extension[%d]", expr, j)
		switch sm.URL {
		case "method":
			c := sm.valueCoding()
			if c.System != p.d.CodeSystem(ReferralMethodSystem) || !referralMethods[c.Code] {
				p.errorf(sexpr, "method takes a valueCoding of %s", p.d.CodeSystem(ReferralMethodSystem))
				continue
			}
			method = c.Code
		case "endpoint", "form", "telecom", "instructions":
		default:
			p.errorf(sexpr, "%s has no part %q (method, endpoint, form, telecom, instructions)", ExtReferralRoute, sm.URL)
		}
	}
	if method == "" {
		p.errorf(expr, "a referral route needs its method")
		return
	}
	s.ReferralMethods[method] = true
}

var referralMethods = map[string]bool{ReferralSelf: true, ReferralForm: true, ReferralPhone: true, ReferralElectronic: true, ReferralEmail: true}

// IsReferralMethod tells whether code is a directory-referral-method code.
func IsReferralMethod(code string) bool { return referralMethods[code] }

func (p *serviceParser) capacity(m extensionView, expr string) *Capacity {
	c := &Capacity{}
	for j, sm := range m.Parts {
		sexpr := fmt.Sprintf("%s.extension[%d]", expr, j)
		switch sm.URL {
		case "status":
			switch v := sm.valueCode(); v {
			case CapacityAccepting, CapacityLimited, CapacityNotAccepting:
				c.Status = v
			default:
				p.errorf(sexpr, "status takes a valueCode of %s (accepting, limited, not-accepting)", p.d.CodeSystem(CapacityStatusSystem))
			}
		case "setAt", "until":
			t, ok := navDateTime(sm.valueDateTime(), false)
			if !ok {
				p.errorf(sexpr, "%s takes a valueDateTime", sm.URL)
				continue
			}
			if sm.URL == "setAt" {
				c.SetAt = t
			} else {
				c.Until = t
			}
		case "note":
			c.Note = sm.valueString()
		default:
			p.errorf(sexpr, "%s has no part %q (status, setAt, until, note)", ExtCapacity, sm.URL)
		}
	}
	if c.Status == "" || c.SetAt.IsZero() {
		p.errorf(expr, "a capacity status needs status and setAt (when it was set)")
		return nil
	}
	return c
}

func (p *serviceParser) catchment(m extensionView, expr string) *Catchment {
	c := &Catchment{Practices: map[string]bool{}, Districts: map[string]bool{}, Areas: map[string]bool{}}
	for j, sm := range m.Parts {
		sexpr := fmt.Sprintf("%s.extension[%d]", expr, j)
		switch sm.URL {
		case "practice":
			id := sm.valueIdentifier()
			if id.System != ODSSystem || id.Value == "" {
				p.errorf(sexpr, "practice takes a valueIdentifier with system %s", ODSSystem)
				continue
			}
			c.Practices[strings.ToUpper(id.Value)] = true
		case "postcodeDistrict":
			v := strings.ToUpper(strings.ReplaceAll(sm.valueString(), " ", ""))
			switch {
			case districtPattern.MatchString(v):
				c.Districts[v] = true
			case areaPattern.MatchString(v):
				c.Areas[v] = true
			default:
				p.errorf(sexpr, "postcodeDistrict takes a postcode district (outward code, e.g. LS6) or area (e.g. LS), not %q", sm.valueString())
			}
		default:
			p.errorf(sexpr, "%s has no part %q (practice, postcodeDistrict)", ExtCatchment, sm.URL)
		}
	}
	if len(c.Practices)+len(c.Districts)+len(c.Areas) == 0 {
		p.errorf(expr, "a catchment lists at least one practice or postcode district")
		return nil
	}
	return c
}

func (p *serviceParser) team(s *Service, m extensionView, expr string) {
	for j, sm := range m.Parts {
		sexpr := fmt.Sprintf("%s.extension[%d]", expr, j)
		switch sm.URL {
		case "scope":
			switch v := sm.valueCode(); v {
			case "practice", "pcn", "place", "external":
				s.TeamScope = v
			default:
				p.errorf(sexpr, "scope takes a valueCode of %s (practice, pcn, place, external)", p.d.CodeSystem(TeamScopeSystem))
			}
		case "role":
			for k := range codingKeys(sm.valueCodeableConcept()) {
				s.Types[k] = true
			}
		default:
			p.errorf(sexpr, "%s has no part %q (scope, role)", ExtTeam, sm.URL)
		}
	}
	if s.TeamScope == "" {
		p.errorf(expr, "a team needs its scope")
	}
}

// hours reads availableTime and notAvailable.
func (p *serviceParser) hours(s *Service, availableTime, notAvailable []any) {
	for i, e := range availableTime {
		m := viewAvailableTime(e)
		expr := fmt.Sprintf("HealthcareService.availableTime[%d]", i)
		days := m.Days
		if len(days) == 0 {
			p.errorf(expr+".daysOfWeek", "available times need their days of the week")
			continue
		}
		iv := Interval{0, 24 * 60}
		if !m.AllDay {
			start, ok1 := dirClock(m.Start)
			end, ok2 := dirClock(m.End)
			if !ok1 || !ok2 {
				p.errorf(expr, "available times need availableStartTime and availableEndTime, or allDay")
				continue
			}
			// A closing time of 23:59 is how publishers say midnight.
			if end == 23*60+59 {
				end = 24 * 60
			}
			if end <= start {
				// Valid R4 (the official HealthcareService example has
				// 08:30-05:30), but no interval: matching ignores the slot.
				p.warnf(expr, "availableEndTime is not after availableStartTime, so matching ignores these hours (a service open past midnight lists the next day from 00:00)")
				continue
			}
			iv = Interval{start, end}
		}
		for _, d := range days {
			if wd, ok := isoDays[d]; ok {
				s.Weekly[wd] = append(s.Weekly[wd], iv)
				s.Hours = true
			}
		}
	}
	for i, e := range notAvailable {
		m := viewNotAvailable(e)
		if !m.HasDuring {
			// R4 allows a bare description ("closed for refurbishment"):
			// nothing to compute with; people read it.
			continue
		}
		if sp, ok := p.period(m.During, fmt.Sprintf("HealthcareService.notAvailable[%d].during", i), false); ok {
			sp.Note = m.Description
			s.Closed = append(s.Closed, sp)
		}
	}
}

// period reads a Period; date-only bounds are whole local days (an end
// date includes that day). needEnd refuses an open end.
func (p *serviceParser) period(v any, expr string, needEnd bool) (Span, bool) {
	m, ok := viewPeriod(v)
	if !ok {
		p.errorf(expr, "a Period is expected")
		return Span{}, false
	}
	start, ok := navDateTime(m.Start, false)
	if !ok {
		p.errorf(expr+".start", "the period needs a start")
		return Span{}, false
	}
	sp := Span{Start: start}
	if e := m.End; e != "" {
		if sp.End, ok = navDateTime(e, true); !ok || !sp.End.After(start) {
			p.errorf(expr+".end", "the period's end must be a dateTime after its start")
			return Span{}, false
		}
	} else if needEnd {
		p.errorf(expr+".end", "the period needs an end")
		return Span{}, false
	}
	return sp, true
}

// clock reads an R4 time as minutes after midnight.
func dirClock(s string) (int, bool) {
	m := timePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return h*60 + mi, true
}

// codingKeys is the set of "system|code" of a CodeableConcept's codings.
func codingKeys(cc any) map[string]bool {
	out := map[string]bool{}
	for _, c := range ccCodings(cc) {
		if c.Code != "" {
			out[c.System+"|"+c.Code] = true
		}
	}
	return out
}

// PostcodeDistrict is the district (outward code) of a postcode or
// district, upper case without spaces: "ls6 3ab" and "LS6" give "LS6".
// ok is false when s is neither.
func PostcodeDistrict(s string) (string, bool) {
	v := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if m := fullPostcode.FindStringSubmatch(v); m != nil && districtPattern.MatchString(m[1]) {
		return m[1], true
	}
	if districtPattern.MatchString(v) {
		return v, true
	}
	return "", false
}

// postcodeArea is the letters a district starts with.
func postcodeArea(district string) string {
	i := 0
	for i < len(district) && district[i] >= 'A' && district[i] <= 'Z' {
		i++
	}
	return district[:i]
}
