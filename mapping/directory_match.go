package mapping

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Matching: who can take this patient, for this need, in this timeframe
// (NAVIGATION-API.md, safety rule 7: never a service that is inactive,
// not accepting referrals, closed for the needed timeframe, or outside
// its eligibility). Unknowns are treated conservatively: a service that
// restricts by age, sex, need group or catchment excludes a patient for
// whom that is not known, and says why, so the caller can ask and try
// again. What a service does not publish places no constraint, except
// opening hours: a service with none published is matched with a note.

// Match reasons (directory-match-reason): why a candidate was excluded,
// or what a caller should know about a match.
const (
	ReasonInactive       = "inactive"
	ReasonNotAccepting   = "not-accepting"
	ReasonClosed         = "closed"
	ReasonAge            = "age"
	ReasonSex            = "sex"
	ReasonNeedGroup      = "need-group"
	ReasonCondition      = "condition"
	ReasonCatchment      = "catchment"
	ReasonReferralMethod = "referral-method"
	ReasonUnreadable     = "unreadable"
	// Notes on matches.
	NoteLimitedCapacity  = "limited-capacity"
	NoteCommunication    = "communication-unmet"
	NoteHoursUnpublished = "hours-unpublished"
	NoteOpensLater       = "opens-later"
)

// MatchQuery is who needs what, when.
type MatchQuery struct {
	// BirthDate gives the exact age; AgeYears (with HasAge) the age in
	// whole years when the birth date is not known.
	BirthDate time.Time
	AgeYears  int
	HasAge    bool
	// Sex is an administrative-gender code; "" unknown.
	Sex string
	// NeedGroup is a patient-need-group code; "" unknown.
	NeedGroup string
	// Practice is the patient's practice ODS code; Postcode the
	// patient's postcode or postcode district.
	Practice, Postcode string
	// From and To bound the window in which the service must be able to
	// act (open and accepting referrals).
	From, To time.Time
	// ServiceTypes and Categories choose the candidates: a service is a
	// candidate when it has any of the ServiceTypes (in type, specialty or
	// team role; a coding without system matches any system) and any of
	// the Categories (navigation-category codes). Empty: every service.
	ServiceTypes []Code
	Categories   []string
	// Conditions are the patient's conditions or problem, matched with
	// the services' suitable and not-suitable lists.
	Conditions []Code
	// CommunicationNeeds are the patient's communication and access needs
	// (SNOMED CT, or directory-access-support codes); a match that cannot
	// meet one is kept, scored lower and noted.
	CommunicationNeeds []Code
	// ReferralMethods, when given, keep services offering one of them
	// (directory-referral-method codes), e.g. self-referral to signpost.
	ReferralMethods []string
	// Holidays tells bank holidays; nil is England and Wales.
	Holidays func(y int, m time.Month, d int) bool
	// SkipReasons is for callers that list the matches only: the reasons
	// of excluded candidates then carry their code without text, and
	// Excluded is not sorted (formatting thousands of reasons is most of
	// the cost of matching a whole directory).
	SkipReasons bool
	// OfType says every candidate has one of ServiceTypes (the caller
	// took them from an index by type): Match does not test each again.
	// OfCategory says the same of Categories.
	OfType, OfCategory bool
}

// Code is a coding as a caller gives it; an empty System matches any.
type Code struct{ System, Code string }

// Reason is why a service was excluded, or a note on a match.
type Reason struct {
	Code string
	Text string
}

// Matched is a service that can take the patient.
type Matched struct {
	Service *Service
	// Score is 1 for a service that meets everything; limited capacity,
	// unmet communication needs and unpublished hours lower it.
	Score float64
	// OpensAt is the first time in the window at which the service is
	// open and accepting (From when it is now); zero when its hours are
	// not published.
	OpensAt time.Time
	Notes   []Reason
}

// Excluded is a candidate that cannot take the patient, with every reason.
type Excluded struct {
	Service *Service
	Reasons []Reason
}

// MatchResult lists matches best first (score, then the earliest
// opening, then name and id) and excluded candidates by name and id.
type MatchResult struct {
	Matches  []Matched
	Excluded []Excluded
}

// Candidate is a parsed service with the issues of its parsing.
type Candidate struct {
	Service *Service
	// Unreadable is set when parsing found errors: the entry is excluded.
	Unreadable bool
}

// MatchJSON parses each HealthcareService and matches them: the pure
// function over decoded JSON. Callers matching the same services often
// parse once (ParseService) and call Match.
func MatchJSON(services []map[string]any, d Directory, q MatchQuery) MatchResult {
	cands := make([]Candidate, 0, len(services))
	for _, obj := range services {
		s, issues := ParseService(obj, d)
		cands = append(cands, Candidate{Service: s, Unreadable: dirHasErrors(issues)})
	}
	return Match(cands, d, q)
}

// Match decides, for each candidate of the wanted type and category,
// whether it can take the patient in the window, and why not.
func Match(cands []Candidate, d Directory, q MatchQuery) MatchResult {
	m := newMatcher(d, q)
	var res MatchResult
	for _, c := range cands {
		s := c.Service
		if !m.candidate(s) {
			continue
		}
		if c.Unreadable {
			res.Excluded = append(res.Excluded, Excluded{s, []Reason{{ReasonUnreadable, "the entry does not follow the directory representation; it cannot be matched safely"}}})
			continue
		}
		if mt, reasons := m.match(s); len(reasons) > 0 {
			res.Excluded = append(res.Excluded, Excluded{s, reasons})
		} else {
			res.Matches = append(res.Matches, mt)
		}
	}
	// The orders are total (ids are unique), so an unstable sort gives
	// one answer, and faster than a stable one.
	slices.SortFunc(res.Matches, func(a, b Matched) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		if !a.OpensAt.Equal(b.OpensAt) {
			switch {
			case a.OpensAt.IsZero():
				return 1
			case b.OpensAt.IsZero():
				return -1
			}
			return a.OpensAt.Compare(b.OpensAt)
		}
		return byName(a.Service, b.Service)
	})
	if !q.SkipReasons {
		slices.SortFunc(res.Excluded, func(a, b Excluded) int { return byName(a.Service, b.Service) })
	}
	return res
}

func byName(a, b *Service) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// matcher holds what a query computes once for every candidate.
type matcher struct {
	d     Directory
	q     MatchQuery
	types []Code
	// typeKeys are the types as candidate looks them up ("system|code",
	// or the bare code of a type without a system), built once.
	typeKeys []typeKey
	cats     map[string]bool
	district string
	practice string
	// days are the local dates the window touches.
	days []day
	// needs are the communication needs, each with the codes that meet it.
	needs []need
	conds map[string]bool
	// age in each unit, as a [min, max] range when only years are known.
	age map[string][2]float64
}

type day struct {
	start, end time.Time // local midnight to the next
	weekday    int       // 0 Monday
	holiday    bool
	// linear is true when the day has no clock change: minute m is
	// start + m minutes.
	linear     bool
	y          int
	mo         time.Month
	d          int
	winS, winE time.Time // the window's part of the day
}

type need struct {
	label string
	meets []string // "system|code" keys that meet it
}

func newMatcher(d Directory, q MatchQuery) *matcher {
	m := &matcher{d: d, q: q, types: q.ServiceTypes, cats: map[string]bool{}, conds: map[string]bool{}}
	for _, c := range q.Categories {
		m.cats[c] = true
	}
	m.practice = strings.ToUpper(strings.TrimSpace(q.Practice))
	m.district, _ = PostcodeDistrict(q.Postcode)
	holidays := q.Holidays
	if holidays == nil {
		holidays = EnglandAndWalesBankHoliday
	}
	if q.To.After(q.From) {
		from, to := q.From.In(London), q.To.In(London)
		for cur := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, London); cur.Before(to); {
			next := time.Date(cur.Year(), cur.Month(), cur.Day()+1, 0, 0, 0, 0, London)
			dy := day{start: cur, end: next, weekday: (int(cur.Weekday()) + 6) % 7,
				holiday: holidays(cur.Year(), cur.Month(), cur.Day()),
				linear:  next.Sub(cur) == 24*time.Hour, y: cur.Year(), mo: cur.Month(), d: cur.Day()}
			dy.winS, dy.winE = laterOf(cur, q.From), earlierOf(next, q.To)
			m.days = append(m.days, dy)
			cur = next
		}
	}
	for _, c := range m.types {
		if c.System != "" {
			m.typeKeys = append(m.typeKeys, typeKey{key: c.System + "|" + c.Code, system: true})
		} else {
			m.typeKeys = append(m.typeKeys, typeKey{key: c.Code})
		}
	}
	for _, c := range q.CommunicationNeeds {
		m.needs = append(m.needs, needFor(d, c))
	}
	for _, c := range q.Conditions {
		m.conds[c.System+"|"+c.Code] = true
	}
	m.age = ageSpans(q)
	return m
}

// candidate tells whether s is of a wanted type and category.
func (m *matcher) candidate(s *Service) bool {
	if len(m.types) > 0 && !m.q.OfType {
		ok := false
		for _, t := range m.typeKeys {
			if t.has(s) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.cats) > 0 && !m.q.OfCategory {
		ok := false
		if len(m.q.Categories) <= len(s.Categories) {
			for _, c := range m.q.Categories {
				if s.Categories[c] {
					ok = true
					break
				}
			}
		} else {
			for c := range s.Categories {
				if m.cats[c] {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type typeKey struct {
	key    string
	system bool
}

// has tells whether s has the type: by system and code, or by code
// alone for a type given without a system.
func (t typeKey) has(s *Service) bool {
	if t.system {
		return s.Types[t.key]
	}
	return s.typeCodes[t.key]
}

// reasonList collects why a service is excluded. Without texts
// (MatchQuery.SkipReasons) a reason's text, and its arguments, are not
// even built: a match over thousands of services excludes most of them.
type reasonList struct {
	list  []Reason
	texts bool
}

// add records a reason with code and reports whether its text is wanted
// (then given by text).
func (r *reasonList) add(code string) bool {
	r.list = append(r.list, Reason{Code: code})
	return r.texts
}

// text sets the text of the reason added last.
func (r *reasonList) text(format string, args ...any) {
	r.list[len(r.list)-1].Text = fmt.Sprintf(format, args...)
}

func (m *matcher) match(s *Service) (Matched, []Reason) {
	rs := reasonList{texts: !m.q.SkipReasons}
	if !s.Active {
		if rs.add(ReasonInactive) {
			rs.text("the service is delisted (inactive)")
		}
	}
	from := m.q.From
	mt := Matched{Service: s, Score: 1}
	if c := s.Capacity; c != nil {
		switch c.Status {
		case CapacityNotAccepting:
			switch {
			case !c.Until.IsZero() && c.Until.Before(m.q.To):
				// Reopens within the window: it can act from then.
				from = laterOf(from, c.Until)
			case !c.Until.IsZero():
				if rs.add(ReasonNotAccepting) {
					rs.text("not accepting referrals since %s, until %s", stampText(c.SetAt), stampText(c.Until))
				}
			default:
				if rs.add(ReasonNotAccepting) {
					rs.text("not accepting referrals since %s", stampText(c.SetAt))
				}
			}
		case CapacityLimited:
			if c.Until.IsZero() || c.Until.After(from) {
				mt.Score -= 0.2
				text := "limited capacity since " + londonStamp(c.SetAt)
				if c.Note != "" {
					text += ": " + c.Note
				}
				mt.Notes = append(mt.Notes, Reason{NoteLimitedCapacity, text})
			}
		}
	}
	for _, e := range s.Eligibility {
		m.eligible(e, &rs)
	}
	if c := s.Catchment; c != nil {
		switch {
		case m.practice == "" && m.district == "":
			if rs.add(ReasonCatchment) {
				rs.text("the service takes patients from a catchment; the patient's practice and postcode are not known")
			}
		case c.Practices[m.practice] && m.practice != "":
		case m.district != "" && (c.Districts[m.district] || c.Areas[postcodeArea(m.district)]):
		default:
			if rs.add(ReasonCatchment) {
				rs.text("the patient's practice and postcode district are outside the catchment (%s)", catchmentSet{c})
			}
		}
	}
	if len(m.q.ReferralMethods) > 0 {
		ok := false
		for _, rm := range m.q.ReferralMethods {
			ok = ok || s.ReferralMethods[rm]
		}
		if !ok {
			if rs.add(ReasonReferralMethod) {
				rs.text("the service takes no referral by %s", strings.Join(m.q.ReferralMethods, " or "))
			}
		}
	}
	if len(rs.list) > 0 {
		return mt, rs.list
	}
	if !s.Hours {
		if m.closedThroughout(s, from) {
			if rs.add(ReasonClosed) {
				rs.text("not available at any time from %s to %s", stampText(from), stampText(m.q.To))
			}
			return mt, rs.list
		}
		mt.Score -= 0.1
		mt.Notes = append(mt.Notes, Reason{NoteHoursUnpublished, "opening times are not published; check before sending the patient"})
	} else {
		at, ok := m.opensAt(s, from)
		if !ok {
			if rs.add(ReasonClosed) {
				rs.text("closed from %s to %s", stampText(from), stampText(m.q.To))
			}
			return mt, rs.list
		}
		mt.OpensAt = at
		if at.After(m.q.From) {
			mt.Notes = append(mt.Notes, Reason{NoteOpensLater, "first open and accepting at " + londonStamp(at)})
		}
	}
	if len(m.needs) > 0 {
		var unmet []string
		for _, n := range m.needs {
			if !n.metBy(s.Supports) {
				unmet = append(unmet, n.label)
			}
		}
		if len(unmet) > 0 {
			mt.Score -= 0.3 * float64(len(unmet)) / float64(len(m.needs))
			mt.Notes = append(mt.Notes, Reason{NoteCommunication, "does not list support for: " + strings.Join(unmet, ", ")})
		}
	}
	mt.Score = math.Round(math.Max(mt.Score, 0)*100) / 100
	return mt, nil
}

func (m *matcher) eligible(e Eligibility, rs *reasonList) {
	if a := e.Age; a != nil {
		span, known := m.age[a.Unit]
		switch {
		case !known:
			if rs.add(ReasonAge) {
				rs.text("the service takes ages %s; the patient's age is not known", ageRangeText{a, e.ageText})
			}
		case a.Low != nil && span[1] < *a.Low, a.High != nil && span[0] > *a.High:
			if rs.add(ReasonAge) {
				rs.text("the patient's age (%s) is outside %s", ageText{m}, ageRangeText{a, e.ageText})
			}
		case a.Low != nil && span[0] < *a.Low, a.High != nil && span[1] > *a.High:
			if rs.add(ReasonAge) {
				rs.text("the patient's age (%s) may be outside %s; give the birth date to decide", ageText{m}, ageRangeText{a, e.ageText})
			}
		}
	}
	if len(e.Sexes) > 0 && !e.Sexes[m.q.Sex] {
		if m.q.Sex == "" {
			if rs.add(ReasonSex) {
				rs.text("the service takes %s patients; the patient's sex is not known", setText{e.Sexes, " or ", e.sexText})
			}
		} else {
			if rs.add(ReasonSex) {
				rs.text("the service takes %s patients", setText{e.Sexes, " or ", e.sexText})
			}
		}
	}
	if len(e.NeedGroups) > 0 && !e.NeedGroups[m.q.NeedGroup] {
		if m.q.NeedGroup == "" {
			if rs.add(ReasonNeedGroup) {
				rs.text("the service takes need groups %s; the patient's need group is not known", setText{e.NeedGroups, ", ", e.needText})
			}
		} else {
			if rs.add(ReasonNeedGroup) {
				rs.text("the service takes need groups %s, not %s", setText{e.NeedGroups, ", ", e.needText}, needGroupWords(m.q.NeedGroup))
			}
		}
	}
	if len(m.conds) == 0 {
		return
	}
	for _, ns := range e.NotSuitable {
		for k := range ns {
			if m.hasCondition(k) {
				if rs.add(ReasonCondition) {
					rs.text("the service does not take patients with %s", conceptWords(k))
				}
			}
		}
	}
	if len(e.Suitable) > 0 {
		for _, su := range e.Suitable {
			for k := range su {
				if m.hasCondition(k) {
					return
				}
			}
		}
		if rs.add(ReasonCondition) {
			rs.text("the patient's condition is not among those the service takes")
		}
	}
}

// hasCondition matches a service's "system|code" against the patient's
// conditions (whose system may be empty).
func (m *matcher) hasCondition(key string) bool {
	if m.conds[key] {
		return true
	}
	_, code, _ := strings.Cut(key, "|")
	return m.conds["|"+code]
}

func (m *matcher) ageText() string {
	if !m.q.BirthDate.IsZero() {
		return ageWordsAt(m.q.BirthDate, m.q.From) + ", born " + m.q.BirthDate.Format("2006-01-02")
	}
	return plural(m.q.AgeYears, "year")
}

// ageSpans is the patient's age at the window's start in each unit: exact
// from a birth date, a range from whole years.
func ageSpans(q MatchQuery) map[string][2]float64 {
	out := map[string][2]float64{}
	at := q.From.In(London)
	if !q.BirthDate.IsZero() {
		b := q.BirthDate
		years := at.Year() - b.Year()
		months := (at.Year()-b.Year())*12 + int(at.Month()-b.Month())
		if at.Day() < b.Day() {
			months--
		}
		if at.Month() < b.Month() || (at.Month() == b.Month() && at.Day() < b.Day()) {
			years--
		}
		today := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		born := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
		days := math.Floor(today.Sub(born).Hours() / 24)
		one := func(v float64) [2]float64 { return [2]float64{v, v} }
		out["a"], out["mo"], out["wk"], out["d"] = one(float64(years)), one(float64(months)), one(math.Floor(days/7)), one(days)
		return out
	}
	if !q.HasAge {
		return out
	}
	y := float64(q.AgeYears)
	// Someone of y whole years is y*365.25 days old, give or take the
	// leap days, and less than (y+1) years.
	minDays, maxDays := math.Floor(y*365.25)-1, math.Ceil((y+1)*365.25)
	out["a"] = [2]float64{y, y}
	out["mo"] = [2]float64{12 * y, 12*y + 11}
	out["wk"] = [2]float64{math.Floor(minDays / 7), math.Floor(maxDays / 7)}
	out["d"] = [2]float64{minDays, maxDays}
	return out
}

func (a *AgeRange) String() string {
	return ageRangeWords(a.Unit, a.Low, a.High)
}

// opensAt is the first instant in [from, To) at which s is open and not
// closed by notAvailable.
func (m *matcher) opensAt(s *Service, from time.Time) (time.Time, bool) {
	for i := range m.days {
		dy := &m.days[i]
		if !dy.end.After(from) {
			continue
		}
		ws := laterOf(dy.winS, from)
		if !dy.winE.After(ws) {
			continue
		}
		if t, ok := m.openInDay(s, dy, ws, dy.winE); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

func (m *matcher) openInDay(s *Service, dy *day, ws, we time.Time) (time.Time, bool) {
	best, found := time.Time{}, false
	try := func(a, b time.Time) {
		a, b = laterOf(a, ws), earlierOf(b, we)
		if !b.After(a) {
			return
		}
		if t, ok := firstFree(a, b, s.Closed); ok && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	// A special opening belongs to the date it starts on and replaces
	// that date's weekly hours; one running on past midnight is open time
	// of the next date too, beside that date's own hours.
	special := false
	for _, sp := range s.Special {
		if !sp.Start.Before(dy.end) || !sp.End.After(dy.start) {
			continue
		}
		if !sp.Start.Before(dy.start) {
			special = true
		}
		try(laterOf(sp.Start, dy.start), earlierOf(sp.End, dy.end))
	}
	if special {
		return best, found
	}
	if dy.holiday && s.BankHolidays != BankHolidaysRegular {
		return best, found
	}
	for _, iv := range s.Weekly[dy.weekday] {
		try(dy.at(iv.Start), dy.at(iv.End))
	}
	return best, found
}

// at is the instant of minute min of the local day.
func (dy *day) at(min int) time.Time {
	if dy.linear {
		return dy.start.Add(time.Duration(min) * time.Minute)
	}
	if min >= 24*60 {
		return dy.end
	}
	return time.Date(dy.y, dy.mo, dy.d, min/60, min%60, 0, 0, London)
}

// firstFree is the first instant of [a, b) no span covers.
func firstFree(a, b time.Time, closed []Span) (time.Time, bool) {
	t := a
	for moved := true; moved && t.Before(b); {
		moved = false
		for _, c := range closed {
			if !c.Start.After(t) && (c.End.IsZero() || c.End.After(t)) {
				if c.End.IsZero() {
					return time.Time{}, false
				}
				t, moved = c.End, true
			}
		}
	}
	return t, t.Before(b)
}

// closedThroughout tells whether notAvailable covers the whole window of a
// service with no published hours.
func (m *matcher) closedThroughout(s *Service, from time.Time) bool {
	if !m.q.To.After(from) {
		return true
	}
	_, free := firstFree(from, m.q.To, s.Closed)
	return !free
}

func needFor(d Directory, c Code) need {
	key := c.System + "|" + c.Code
	if c.System == "" {
		key = snomed.System + "|" + c.Code
	}
	n := need{label: conceptWords(key)}
	n.meets = append(n.meets, key)
	if label, ok := snomedDisplay[c.Code]; ok {
		n.label = label
	}
	for _, group := range communicationGroups {
		for _, g := range group {
			if g == c.Code {
				for _, o := range group {
					n.meets = append(n.meets, snomed.System+"|"+o)
				}
			}
		}
	}
	if ls, ok := localAccess[c.Code]; ok && (c.System == "" || c.System == d.CodeSystem(AccessSupportSystem)) {
		n.label = ls
		n.meets = append(n.meets, d.CodeSystem(AccessSupportSystem)+"|"+c.Code)
	}
	return n
}

func (n need) metBy(supports map[string]bool) bool {
	for _, k := range n.meets {
		if supports[k] {
			return true
		}
	}
	return false
}

// communicationGroups are SNOMED CT concepts of the verified set that
// state one need in different ways: a service listing any of a group
// meets a patient need stated with any other.
var communicationGroups = [][]string{
	// British Sign Language: interpreter needed, preferred method,
	// uses BSL, the interpreter occupation.
	{"204331000000107", "520471000000105", "415803005", "224625007"},
	// Text relay and textphone.
	{"796081000000106", "445488003"},
}

// snomedDisplay names the communication needs in notes.
var snomedDisplay = map[string]string{
	"315594003":        "interpreter",
	"204331000000107":  "British Sign Language interpreter",
	"520471000000105":  "British Sign Language",
	"415803005":        "British Sign Language",
	"796161000000101":  "easy read information",
	"198061000000105":  "hearing loop",
	"796081000000106":  "text relay",
	"445488003":        "textphone",
	"1108171000000102": "extended appointment",
	"1325371000000107": "home visit appointments",
}

// localAccess are the directory-access-support codes: access features
// with no concept in the verified SNOMED CT set.
var localAccess = map[string]string{
	"step-free-access":  "step-free access",
	"accessible-toilet": "accessible toilet",
	"disabled-parking":  "disabled parking",
	"large-print":       "large print information",
}

func catchmentText(c *Catchment) string {
	var parts []string
	for _, set := range []map[string]bool{c.Practices, c.Districts, c.Areas} {
		if len(set) > 0 {
			parts = append(parts, dirSetText(set, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

func dirSetText(set map[string]bool, sep string) string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) && needGroupCode(out[i]) && needGroupCode(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return out[i] < out[j]
	})
	return strings.Join(out, sep)
}

func londonStamp(t time.Time) string { return t.In(London).Format(time.RFC3339) }

// The arguments of reason texts are formatted only when a text is
// written (fmt calls String), not for every excluded candidate of a
// caller that wants no texts (MatchQuery.SkipReasons).
type (
	stampText    time.Time
	catchmentSet struct{ c *Catchment }
	setText      struct {
		set       map[string]bool
		sep, made string
	}
	ageText struct{ m *matcher }
)

func (t stampText) String() string { return londonStamp(time.Time(t)) }
func (c catchmentSet) String() string {
	if c.c.text != "" {
		return c.c.text
	}
	return catchmentText(c.c)
}

func (s setText) String() string {
	if s.made != "" {
		return s.made
	}
	return dirSetText(s.set, s.sep)
}

// ageRangeText is an age range's text, made at parse time when it was.
type ageRangeText struct {
	a    *AgeRange
	made string
}

func (a ageRangeText) String() string {
	if a.made != "" {
		return a.made
	}
	return a.a.String()
}
func (a ageText) String() string { return a.m.ageText() }

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// EnglandAndWalesBankHoliday tells whether a date is a bank holiday in
// England and Wales by the standing rules: New Year's Day, Good Friday,
// Easter Monday, the early May and spring bank holidays (first and last
// Mondays of May), the summer bank holiday (last Monday of August),
// Christmas Day and Boxing Day, with substitute weekdays when those fall
// at a weekend. One-off holidays proclaimed for a year (a coronation, a
// jubilee) are not rules: a deployment supplies them through
// MatchQuery.Holidays, and publishers close a service with notAvailable.
func EnglandAndWalesBankHoliday(y int, m time.Month, d int) bool {
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	wd := date.Weekday()
	easter := easterSunday(y)
	switch {
	case date.Equal(easter.AddDate(0, 0, -2)), date.Equal(easter.AddDate(0, 0, 1)):
		return true
	case m == time.May && wd == time.Monday && (d <= 7 || d > 24):
		return true
	case m == time.August && wd == time.Monday && d > 24:
		return true
	case m == time.January:
		// 1 January, or the Monday after when it is a weekend.
		return (d == 1 && wd != time.Saturday && wd != time.Sunday) || (wd == time.Monday && (d == 2 || d == 3))
	case m == time.December:
		switch d {
		case 25, 26:
			return wd != time.Saturday && wd != time.Sunday
		case 27:
			// Substitute for Christmas or Boxing Day at a weekend: 27 is
			// a holiday when it is a Monday or a Tuesday.
			return wd == time.Monday || wd == time.Tuesday
		case 28:
			return wd == time.Monday || wd == time.Tuesday
		}
	}
	return false
}

// easterSunday is the Gregorian Easter Sunday (the anonymous Gregorian
// algorithm).
func easterSunday(y int) time.Time {
	a := y % 19
	b, c := y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Date(y, time.Month(month), day, 0, 0, 0, 0, time.UTC)
}

func dirHasErrors(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}

// DirectorySNOMEDCodes lists every SNOMED CT code the directory mapping
// and matching use, for the check that each is in the verified set.
func DirectorySNOMEDCodes() []string {
	seen := map[string]bool{}
	for _, m := range []map[string]string{nhsOrgTypes, nhsServiceCodes, nhsServiceNames} {
		for _, c := range m {
			seen[c] = true
		}
	}
	for c := range nhsCategories {
		seen[c] = true
	}
	for c := range nhsDisplays {
		seen[c] = true
	}
	for c := range snomedDisplay {
		seen[c] = true
	}
	for _, g := range communicationGroups {
		for _, c := range g {
			seen[c] = true
		}
	}
	for _, f := range nhsFacilities {
		if _, local := localAccess[f.code]; !local {
			seen[f.code] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
