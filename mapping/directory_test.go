package mapping_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

var dir = mapping.NewDirectory("")

func ext(id string) string { return dir.Extension(id) }

// svc is a HealthcareService in the directory representation, built by
// options.
func svc(id string, opts ...func(map[string]any)) map[string]any {
	m := map[string]any{
		"resourceType": "HealthcareService", "id": id, "name": "Service " + id, "active": true,
		"type": []any{map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "722140001"}}}},
		"availableTime": []any{map[string]any{
			"daysOfWeek":         []any{"mon", "tue", "wed", "thu", "fri"},
			"availableStartTime": "09:00:00", "availableEndTime": "17:00:00",
		}},
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

func addExt(m map[string]any, e map[string]any) {
	l, _ := m["extension"].([]any)
	m["extension"] = append(l, e)
}

func eligibility(parts ...map[string]any) func(map[string]any) {
	return func(m map[string]any) {
		var sub []any
		for _, p := range parts {
			sub = append(sub, p)
		}
		l, _ := m["eligibility"].([]any)
		m["eligibility"] = append(l, map[string]any{
			"comment":   "Criteria",
			"extension": []any{map[string]any{"url": ext(mapping.ExtEligibility), "extension": sub}},
		})
	}
}

func ageYears(lo, hi any) map[string]any {
	r := map[string]any{}
	if lo != nil {
		r["low"] = map[string]any{"value": json.Number(fmt.Sprint(lo)), "system": mapping.UCUMSystem, "code": "a"}
	}
	if hi != nil {
		r["high"] = map[string]any{"value": json.Number(fmt.Sprint(hi)), "system": mapping.UCUMSystem, "code": "a"}
	}
	return map[string]any{"url": "age", "valueRange": r}
}

func capacity(status string, setAt, until string) func(map[string]any) {
	return func(m map[string]any) {
		sub := []any{map[string]any{"url": "status", "valueCode": status}, map[string]any{"url": "setAt", "valueDateTime": setAt}}
		if until != "" {
			sub = append(sub, map[string]any{"url": "until", "valueDateTime": until})
		}
		addExt(m, map[string]any{"url": ext(mapping.ExtCapacity), "extension": sub})
	}
}

func catchment(practices []string, districts []string) func(map[string]any) {
	return func(m map[string]any) {
		var sub []any
		for _, p := range practices {
			sub = append(sub, map[string]any{"url": "practice", "valueIdentifier": map[string]any{"system": mapping.ODSSystem, "value": p}})
		}
		for _, d := range districts {
			sub = append(sub, map[string]any{"url": "postcodeDistrict", "valueString": d})
		}
		addExt(m, map[string]any{"url": ext(mapping.ExtCatchment), "extension": sub})
	}
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

func decode(t testing.TB, s string) any {
	t.Helper()
	v, err := fhir.DecodeJSON([]byte(s))
	require.NoError(t, err)
	return v
}

// A Wednesday in term time, 10:00 London (GMT).
var wed = time.Date(2026, 11, 25, 10, 0, 0, 0, mapping.London)

func reasons(res mapping.MatchResult, id string) []string {
	for _, x := range res.Excluded {
		if x.Service.ID == id {
			var out []string
			for _, r := range x.Reasons {
				out = append(out, r.Code)
			}
			return out
		}
	}
	return nil
}

func matchedIDs(res mapping.MatchResult) []string {
	var out []string
	for _, m := range res.Matches {
		out = append(out, m.Service.ID)
	}
	return out
}

func TestMatchRules(t *testing.T) {
	png := dir.CodeSystem(snomed.PatientNeedGroup)
	tests := []struct {
		name     string
		service  map[string]any
		q        mapping.MatchQuery
		excluded []string // reason codes; nil: matched
	}{
		{"plain service matches in hours", svc("a"), mapping.MatchQuery{}, nil},
		{"inactive never matches", svc("a", set("active", false)), mapping.MatchQuery{}, []string{mapping.ReasonInactive}},
		{"not accepting", svc("a", capacity("not-accepting", "2026-11-01T09:00:00Z", "")), mapping.MatchQuery{}, []string{mapping.ReasonNotAccepting}},
		{"not accepting until after the window", svc("a", capacity("not-accepting", "2026-11-01T09:00:00Z", "2026-12-31")), mapping.MatchQuery{}, []string{mapping.ReasonNotAccepting}},
		{"reopens within the window", svc("a", capacity("not-accepting", "2026-11-01T09:00:00Z", "2026-11-27T09:00:00Z")), mapping.MatchQuery{}, nil},
		{"limited capacity matches", svc("a", capacity("limited", "2026-11-01T09:00:00Z", "")), mapping.MatchQuery{}, nil},
		{"closed all window (weekend)", svc("a"), mapping.MatchQuery{From: time.Date(2026, 11, 28, 9, 0, 0, 0, mapping.London), To: time.Date(2026, 11, 29, 20, 0, 0, 0, mapping.London)}, []string{mapping.ReasonClosed}},
		{"closed by notAvailable", svc("a", set("notAvailable", []any{map[string]any{"description": "Refurbishment", "during": map[string]any{"start": "2026-11-20", "end": "2026-12-10"}}})), mapping.MatchQuery{}, []string{mapping.ReasonClosed}},
		{"age inside", svc("a", eligibility(ageYears(18, nil))), mapping.MatchQuery{AgeYears: 40, HasAge: true}, nil},
		{"age below", svc("a", eligibility(ageYears(18, nil))), mapping.MatchQuery{AgeYears: 16, HasAge: true}, []string{mapping.ReasonAge}},
		{"age above", svc("a", eligibility(ageYears(nil, 17))), mapping.MatchQuery{AgeYears: 18, HasAge: true}, []string{mapping.ReasonAge}},
		{"age unknown is excluded", svc("a", eligibility(ageYears(18, nil))), mapping.MatchQuery{}, []string{mapping.ReasonAge}},
		{"age by birth date", svc("a", eligibility(ageYears(18, nil))), mapping.MatchQuery{BirthDate: time.Date(2008, 11, 25, 0, 0, 0, 0, time.UTC)}, nil},
		{"age by birth date, a day short", svc("a", eligibility(ageYears(18, nil))), mapping.MatchQuery{BirthDate: time.Date(2008, 11, 26, 0, 0, 0, 0, time.UTC)}, []string{mapping.ReasonAge}},
		{"age in days undecidable from years", svc("a", eligibility(map[string]any{"url": "age", "valueRange": map[string]any{"low": map[string]any{"value": json.Number("6575"), "system": mapping.UCUMSystem, "code": "d"}}})), mapping.MatchQuery{AgeYears: 18, HasAge: true}, []string{mapping.ReasonAge}},
		{"age in days from years", svc("a", eligibility(map[string]any{"url": "age", "valueRange": map[string]any{"low": map[string]any{"value": json.Number("6575"), "system": mapping.UCUMSystem, "code": "d"}}})), mapping.MatchQuery{AgeYears: 30, HasAge: true}, nil},
		{"sex", svc("a", eligibility(map[string]any{"url": "sex", "valueCode": "female"})), mapping.MatchQuery{Sex: "male"}, []string{mapping.ReasonSex}},
		{"sex unknown", svc("a", eligibility(map[string]any{"url": "sex", "valueCode": "female"})), mapping.MatchQuery{}, []string{mapping.ReasonSex}},
		{"sex matches", svc("a", eligibility(map[string]any{"url": "sex", "valueCode": "female"})), mapping.MatchQuery{Sex: "female"}, nil},
		{"need group", svc("a", eligibility(map[string]any{"url": "needGroup", "valueCoding": map[string]any{"system": png, "code": "11"}})), mapping.MatchQuery{NeedGroup: "3"}, []string{mapping.ReasonNeedGroup}},
		{"need group unknown", svc("a", eligibility(map[string]any{"url": "needGroup", "valueCoding": map[string]any{"system": png, "code": "11"}})), mapping.MatchQuery{}, []string{mapping.ReasonNeedGroup}},
		{"need group matches", svc("a", eligibility(map[string]any{"url": "needGroup", "valueCoding": map[string]any{"system": png, "code": "11"}})), mapping.MatchQuery{NeedGroup: "11"}, nil},
		{"condition not suitable", svc("a", eligibility(map[string]any{"url": "notSuitable", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "15188001"}}}})),
			mapping.MatchQuery{Conditions: []mapping.Code{{Code: "15188001"}}}, []string{mapping.ReasonCondition}},
		{"condition not among suitable", svc("a", eligibility(map[string]any{"url": "suitable", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "397540003"}}}})),
			mapping.MatchQuery{Conditions: []mapping.Code{{System: snomed.System, Code: "15188001"}}}, []string{mapping.ReasonCondition}},
		{"condition suitable", svc("a", eligibility(map[string]any{"url": "suitable", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "397540003"}}}})),
			mapping.MatchQuery{Conditions: []mapping.Code{{System: snomed.System, Code: "397540003"}}}, nil},
		{"two eligibility elements: both must hold", svc("a", eligibility(ageYears(18, nil)), eligibility(map[string]any{"url": "sex", "valueCode": "female"})),
			mapping.MatchQuery{AgeYears: 30, HasAge: true, Sex: "male"}, []string{mapping.ReasonSex}},
		{"catchment by practice", svc("a", catchment([]string{"B86001"}, nil)), mapping.MatchQuery{Practice: "b86001"}, nil},
		{"catchment by district", svc("a", catchment(nil, []string{"LS6"})), mapping.MatchQuery{Postcode: "ls6 3aa"}, nil},
		{"catchment by area", svc("a", catchment(nil, []string{"LS"})), mapping.MatchQuery{Postcode: "LS10 1AA"}, nil},
		{"outside catchment", svc("a", catchment([]string{"B86001"}, []string{"LS6"})), mapping.MatchQuery{Practice: "B86002", Postcode: "LS16 5AB"}, []string{mapping.ReasonCatchment}},
		{"catchment unknown", svc("a", catchment([]string{"B86001"}, nil)), mapping.MatchQuery{}, []string{mapping.ReasonCatchment}},
		{"referral method offered", svc("a", set("referralMethod", []any{map[string]any{"coding": []any{map[string]any{"system": dir.CodeSystem(mapping.ReferralMethodSystem), "code": "self-referral"}}}})),
			mapping.MatchQuery{ReferralMethods: []string{"self-referral"}}, nil},
		{"referral method not offered", svc("a"), mapping.MatchQuery{ReferralMethods: []string{"self-referral"}}, []string{mapping.ReasonReferralMethod}},
		{"every reason is given", svc("a", set("active", false), capacity("not-accepting", "2026-11-01T09:00:00Z", ""), eligibility(ageYears(65, nil))),
			mapping.MatchQuery{AgeYears: 30, HasAge: true}, []string{mapping.ReasonInactive, mapping.ReasonNotAccepting, mapping.ReasonAge}},
		{"unreadable entry is excluded", svc("a", capacity("full", "2026-11-01T09:00:00Z", "")), mapping.MatchQuery{}, []string{mapping.ReasonUnreadable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.From.IsZero() {
				q.From, q.To = wed, wed.Add(48*time.Hour)
			}
			obj := decode(t, mustJSON(t, tt.service)).(map[string]any)
			res := mapping.MatchJSON([]map[string]any{obj}, dir, q)
			if tt.excluded == nil {
				require.Equal(t, []string{"a"}, matchedIDs(res), "excluded: %+v", res.Excluded)
				return
			}
			assert.Empty(t, res.Matches)
			assert.Equal(t, tt.excluded, reasons(res, "a"), "%+v", res.Excluded)
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := fhir.EncodeJSON(v)
	require.NoError(t, err)
	return string(b)
}

func TestMatchCandidatesAndOrder(t *testing.T) {
	cat := dir.CodeSystem(snomed.NavigationCategory)
	pharmacy := func(m map[string]any) {
		m["type"] = []any{map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "310080006"}}}}
		m["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": cat, "code": "signpost"}}}}
	}
	weekend := func(m map[string]any) {
		m["availableTime"] = []any{map[string]any{"daysOfWeek": []any{"thu"}, "availableStartTime": "09:00:00", "availableEndTime": "12:00:00"}}
	}
	bsl := func(m map[string]any) {
		m["characteristic"] = []any{map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "415803005"}}}}
	}
	services := []map[string]any{
		svc("physio"),
		svc("p1", pharmacy),
		svc("p2", pharmacy, weekend, bsl),
		svc("p3", pharmacy, bsl, capacity("limited", "2026-11-20T09:00:00Z", "")),
		svc("p4", pharmacy, bsl),
		svc("p5", pharmacy, set("availableTime", nil), bsl),
	}
	var objs []map[string]any
	for _, s := range services {
		objs = append(objs, decode(t, mustJSON(t, s)).(map[string]any))
	}
	q := mapping.MatchQuery{
		From: wed, To: wed.Add(72 * time.Hour),
		ServiceTypes:       []mapping.Code{{Code: "310080006"}},
		Categories:         []string{"signpost"},
		CommunicationNeeds: []mapping.Code{{Code: "204331000000107"}}, // BSL interpreter needed
	}
	res := mapping.MatchJSON(objs, dir, q)
	// physio is not a candidate; p4 meets everything now; p2 from
	// Thursday; p5 has no hours; p3 has limited capacity; p1 lacks BSL.
	assert.Equal(t, []string{"p4", "p2", "p5", "p3", "p1"}, matchedIDs(res))
	assert.Empty(t, res.Excluded)
	byID := map[string]mapping.Matched{}
	for _, m := range res.Matches {
		byID[m.Service.ID] = m
	}
	assert.Equal(t, 1.0, byID["p4"].Score)
	assert.Equal(t, wed, byID["p4"].OpensAt)
	assert.Equal(t, time.Date(2026, 11, 26, 9, 0, 0, 0, mapping.London), byID["p2"].OpensAt.In(mapping.London))
	assert.Equal(t, 0.9, byID["p5"].Score)
	assert.Equal(t, 0.8, byID["p3"].Score)
	assert.Equal(t, 0.7, byID["p1"].Score)
	assert.Equal(t, mapping.NoteCommunication, byID["p1"].Notes[0].Code)
	assert.Contains(t, byID["p1"].Notes[0].Text, "British Sign Language")
}

func TestOpeningHours(t *testing.T) {
	// 2026: bank holidays on Fri 25 Dec and Mon 28 Dec (Boxing Day
	// substitute); clocks go forward on Sun 29 March.
	at := func(y int, m time.Month, d, h, mi int) time.Time {
		return time.Date(y, m, d, h, mi, 0, 0, mapping.London)
	}
	special := func(start, end string) func(map[string]any) {
		return func(m map[string]any) {
			addExt(m, map[string]any{"url": ext(mapping.ExtSpecialOpening), "valuePeriod": map[string]any{"start": start, "end": end}})
		}
	}
	policy := func(p string) func(map[string]any) {
		return func(m map[string]any) { addExt(m, map[string]any{"url": ext(mapping.ExtBankHolidays), "valueCode": p}) }
	}
	allWeek := set("availableTime", []any{map[string]any{"daysOfWeek": []any{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "allDay": true}})
	tests := []struct {
		name     string
		service  map[string]any
		from, to time.Time
		opens    time.Time // zero: closed
	}{
		{"open now", svc("a"), at(2026, 11, 25, 10, 0), at(2026, 11, 25, 12, 0), at(2026, 11, 25, 10, 0)},
		{"opens later today", svc("a"), at(2026, 11, 25, 7, 0), at(2026, 11, 25, 12, 0), at(2026, 11, 25, 9, 0)},
		{"closed after hours", svc("a"), at(2026, 11, 25, 17, 0), at(2026, 11, 25, 23, 0), time.Time{}},
		{"bank holiday closed by default", svc("a"), at(2026, 12, 25, 0, 0), at(2026, 12, 26, 0, 0), time.Time{}},
		{"bank holiday substitute Monday closed", svc("a"), at(2026, 12, 28, 0, 0), at(2026, 12, 29, 0, 0), time.Time{}},
		{"regular hours on bank holidays", svc("a", policy(mapping.BankHolidaysRegular)), at(2026, 12, 28, 0, 0), at(2026, 12, 29, 0, 0), at(2026, 12, 28, 9, 0)},
		{"special opening on a bank holiday", svc("a", special("2026-12-28T10:00:00Z", "2026-12-28T14:00:00Z")), at(2026, 12, 28, 0, 0), at(2026, 12, 29, 0, 0), at(2026, 12, 28, 10, 0)},
		{"special opening replaces the day's hours", svc("a", special("2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z")), at(2026, 11, 25, 9, 0), at(2026, 11, 25, 23, 0), at(2026, 11, 25, 13, 0)},
		{"a special opening past midnight does not replace the next day's hours", svc("a", special("2026-11-24T20:00:00Z", "2026-11-25T02:00:00Z")), at(2026, 11, 25, 3, 0), at(2026, 11, 25, 23, 0), at(2026, 11, 25, 9, 0)},
		{"but is open time of the next day", svc("a", special("2026-11-24T20:00:00Z", "2026-11-25T02:00:00Z")), at(2026, 11, 25, 0, 0), at(2026, 11, 25, 23, 0), at(2026, 11, 25, 0, 0)},
		{"notAvailable part of a day", svc("a", set("notAvailable", []any{map[string]any{"description": "Training", "during": map[string]any{"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T13:00:00Z"}}})), at(2026, 11, 25, 9, 0), at(2026, 11, 25, 23, 0), at(2026, 11, 25, 13, 0)},
		{"spring forward day", svc("a", allWeek), at(2026, 3, 29, 0, 0), at(2026, 3, 30, 0, 0), at(2026, 3, 29, 0, 0)},
		{"summer time hours", svc("a", set("availableTime", []any{map[string]any{"daysOfWeek": []any{"mon"}, "availableStartTime": "09:00:00", "availableEndTime": "10:00:00"}})), time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decode(t, mustJSON(t, tt.service)).(map[string]any)
			res := mapping.MatchJSON([]map[string]any{obj}, dir, mapping.MatchQuery{From: tt.from, To: tt.to})
			if tt.opens.IsZero() {
				require.Empty(t, res.Matches)
				assert.Equal(t, []string{mapping.ReasonClosed}, reasons(res, "a"))
				return
			}
			require.Len(t, res.Matches, 1, "%+v", res.Excluded)
			assert.True(t, tt.opens.Equal(res.Matches[0].OpensAt), "opens at %s, want %s", res.Matches[0].OpensAt, tt.opens)
		})
	}
}

func TestEnglandAndWalesBankHolidays(t *testing.T) {
	// The published lists (gov.uk) for 2025 to 2028.
	want := map[int][]string{
		2025: {"01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"},
		2026: {"01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"},
		2027: {"01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"},
		2028: {"01-03", "04-14", "04-17", "05-01", "05-29", "08-28", "12-25", "12-26"},
	}
	for y, days := range want {
		var got []string
		for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
			if mapping.EnglandAndWalesBankHoliday(d.Year(), d.Month(), d.Day()) {
				got = append(got, d.Format("01-02"))
			}
		}
		assert.Equal(t, days, got, "%d", y)
	}
}

func TestParseServiceRefusesWhatMatchingCannotRead(t *testing.T) {
	tests := []struct {
		name    string
		service map[string]any
		want    string
	}{
		{"capacity without setAt", svc("a", func(m map[string]any) {
			addExt(m, map[string]any{"url": ext(mapping.ExtCapacity), "extension": []any{map[string]any{"url": "status", "valueCode": "accepting"}}})
		}), "setAt"},
		{"unknown capacity status", svc("a", capacity("full", "2026-11-01T09:00:00Z", "")), "status takes"},
		{"age in years without UCUM", svc("a", eligibility(map[string]any{"url": "age", "valueRange": map[string]any{"low": map[string]any{"value": json.Number("18"), "unit": "years"}}})), "UCUM"},
		{"reversed age range", svc("a", eligibility(ageYears(65, 18))), "low bound is above"},
		{"sex outside administrative gender", svc("a", eligibility(map[string]any{"url": "sex", "valueCode": "F"})), "sex takes"},
		{"need group 12", svc("a", eligibility(map[string]any{"url": "needGroup", "valueCoding": map[string]any{"system": dir.CodeSystem(snomed.PatientNeedGroup), "code": "12"}})), "needGroup"},
		{"condition as text only", svc("a", eligibility(map[string]any{"url": "notSuitable", "valueCodeableConcept": map[string]any{"text": "Chest pain"}})), "text alone"},
		{"bad postcode district", svc("a", catchment(nil, []string{"Leeds 6"})), "postcodeDistrict"},
		{"catchment practice without ODS system", svc("a", func(m map[string]any) {
			addExt(m, map[string]any{"url": ext(mapping.ExtCatchment), "extension": []any{map[string]any{"url": "practice", "valueIdentifier": map[string]any{"value": "B86001"}}}})
		}), "practice takes"},
		{"source timestamp without zone", svc("a", func(m map[string]any) {
			addExt(m, map[string]any{"url": ext(mapping.ExtSourceUpdated), "valueInstant": "2026-11-01"})
		}), "valueInstant"},
		{"unknown eligibility part", svc("a", eligibility(map[string]any{"url": "postcode", "valueString": "LS6"})), "no part"},
		{"team without scope", svc("a", func(m map[string]any) {
			addExt(m, map[string]any{"url": ext(mapping.ExtTeam), "extension": []any{map[string]any{"url": "role", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": "734293001"}}}}}})
		}), "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := fhir.ParseResource([]byte(mustJSON(t, tt.service)))
			require.NoError(t, err)
			issues := mapping.CheckDirectoryService(r, dir)
			require.NotEmpty(t, issues)
			assert.Equal(t, fhir.SeverityError, issues[0].Severity)
			assert.Contains(t, issues[0].Diagnostics, tt.want)
			assert.NotEmpty(t, issues[0].Expression)
		})
	}
}

// Hours whose end is not after their start are valid R4 (the official
// HealthcareService example has 08:30-05:30): the write is kept, matching
// ignores those hours and says so in a warning.
func TestHoursPastMidnightAreAWarning(t *testing.T) {
	r, err := fhir.ParseResource([]byte(mustJSON(t, svc("a", set("availableTime", []any{map[string]any{"daysOfWeek": []any{"fri"}, "availableStartTime": "18:00:00", "availableEndTime": "02:00:00"}})))))
	require.NoError(t, err)
	issues := mapping.CheckDirectoryService(r, dir)
	require.Len(t, issues, 1)
	assert.Equal(t, fhir.SeverityWarning, issues[0].Severity)
	assert.Contains(t, issues[0].Diagnostics, "matching ignores these hours")

	data, err := os.ReadFile("../testdata/fhir/r4-examples-4.0.1/HealthcareService-example.json")
	if err != nil {
		t.Skip("the FHIR examples are not in testdata/fhir")
	}
	r, err = fhir.ParseResource(data)
	require.NoError(t, err)
	for _, is := range mapping.CheckDirectoryService(r, dir) {
		assert.NotEqual(t, fhir.SeverityError, is.Severity, "the official example must be storable: %s", is.Diagnostics)
	}
}

func TestDirectoryExampleIsReadable(t *testing.T) {
	// The documented example entry (docs/directory.md) passes R4
	// validation and the directory check, and reads as documented.
	data, err := os.ReadFile("../testdata/directory/healthcareservice-fcp.json")
	require.NoError(t, err)
	r, err := fhir.ParseResource(data)
	require.NoError(t, err)
	require.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}))
	require.Empty(t, mapping.CheckDirectoryService(r, dir))
	s, _ := mapping.ParseService(r.Object(), dir)
	assert.Equal(t, "pcn", s.TeamScope)
	assert.True(t, s.Types[snomed.System+"|309401003"], "the team role is matched as a service type")
	assert.True(t, s.ReferralMethods[mapping.ReferralSelf])
	assert.True(t, s.ReferralMethods[mapping.ReferralForm])
	require.Len(t, s.Eligibility, 1)
	assert.Equal(t, "a", s.Eligibility[0].Age.Unit)
	assert.Len(t, s.Eligibility[0].NotSuitable, 2)
	require.NotNil(t, s.Catchment)
	assert.True(t, s.Catchment.Practices["B86001"])
	assert.Equal(t, mapping.CapacityAccepting, s.Capacity.Status)
	assert.False(t, s.SourceUpdated.IsZero())
}

func TestShippedResources(t *testing.T) {
	rs, err := mapping.NewDirectory("https://directory.example.org/fhir/").Resources()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range rs {
		key := r.Type() + "/" + r.ID()
		assert.False(t, seen[key], "%s twice", key)
		seen[key] = true
		assert.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}), key)
		obj := r.Object()
		assert.Equal(t, "https://directory.example.org/fhir/"+key, obj["url"], "canonical URL is [base]/[type]/[id]")
		if r.Type() == "StructureDefinition" {
			assert.Equal(t, "complex-type", obj["kind"])
			assert.Equal(t, "constraint", obj["derivation"])
			assert.Equal(t, "Extension", obj["type"])
			els := obj["differential"].(map[string]any)["element"].([]any)
			var fixed string
			for _, e := range els {
				if e.(map[string]any)["id"] == "Extension.url" {
					fixed, _ = e.(map[string]any)["fixedUri"].(string)
				}
			}
			assert.Equal(t, obj["url"], fixed, "%s fixes its own url", key)
		}
		meta := obj["meta"].(map[string]any)
		tag := meta["tag"].([]any)[0].(map[string]any)
		assert.Equal(t, snomed.ShippedTagSystem, tag["system"])
	}
	for _, id := range []string{mapping.ExtEligibility, mapping.ExtReferralRoute, mapping.ExtCapacity, mapping.ExtBankHolidays,
		mapping.ExtSpecialOpening, mapping.ExtCatchment, mapping.ExtTeam, mapping.ExtLastVerified, mapping.ExtSourceUpdated, mapping.ExtMatchSubject} {
		assert.True(t, seen["StructureDefinition/"+id], id)
	}
	assert.True(t, seen["OperationDefinition/"+mapping.MatchOperation])
	// Every SNOMED CT code the directory uses is in the verified set.
	concepts, err := snomed.Shipped()
	require.NoError(t, err)
	for _, code := range mapping.DirectorySNOMEDCodes() {
		_, ok := concepts.Get(code)
		assert.True(t, ok, "%s is not in the verified set", code)
	}
}

func TestPostcodeDistrict(t *testing.T) {
	for in, want := range map[string]string{"LS6 3AA": "LS6", "ls63aa": "LS6", "LS6": "LS6", "EC1A 1BB": "EC1A", "W1A 0AX": "W1A", "M1 1AE": "M1", " b33 8th ": "B33"} {
		got, ok := mapping.PostcodeDistrict(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "Leeds", "123", "LS"} {
		_, ok := mapping.PostcodeDistrict(in)
		assert.False(t, ok, in)
	}
}

func TestCheckPublisherOrder(t *testing.T) {
	older, newer := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 9, 0, 0, 0, time.FixedZone("BST", 3600))
	require.NoError(t, mapping.CheckPublisherOrder(newer, older, "HealthcareService/a", dir))
	require.NoError(t, mapping.CheckPublisherOrder(older, older, "HealthcareService/a", dir), "a re-sent entry passes")
	require.NoError(t, mapping.CheckPublisherOrder(time.Time{}, newer, "HealthcareService/a", dir), "no timestamp: cannot be ordered")
	err := mapping.CheckPublisherOrder(older, newer, "HealthcareService/a", dir)
	require.Error(t, err)
	fe, ok := fhir.AsError(err)
	require.True(t, ok)
	assert.Equal(t, 409, fe.Status)
	assert.Equal(t, fhir.CodeConflict, fe.Code())
	assert.True(t, strings.Contains(fe.Error(), "2026-11-02T08:00:00Z") && strings.Contains(fe.Error(), "2026-11-01T09:00:00Z"), fe.Error())
	// The timestamp is read from the extension.
	withTS := svc("a", func(m map[string]any) {
		addExt(m, map[string]any{"url": ext(mapping.ExtSourceUpdated), "valueInstant": "2026-11-02T09:00:00+01:00"})
	})
	assert.True(t, newer.Equal(mapping.SourceUpdated(withTS, dir)))
}
