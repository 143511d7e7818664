package mapping_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

func nhsFixture(t *testing.T) []mapping.NHSOrganisation {
	t.Helper()
	data, err := os.ReadFile("../testdata/directory/nhs-service-search-v3.json")
	require.NoError(t, err)
	orgs, err := mapping.ParseNHSOrganisations(data)
	require.NoError(t, err)
	return orgs
}

func entriesByKey(t *testing.T, org mapping.NHSOrganisation) map[string]map[string]any {
	t.Helper()
	entries, warn := dir.FromNHSOrganisation(org)
	assert.Empty(t, warn)
	out := map[string]map[string]any{}
	for _, e := range entries {
		// Every entry is valid R4 and passes the directory check.
		r, err := fhir.ResourceFromObject(decode(t, mustJSON(t, e.Resource)).(map[string]any))
		require.NoError(t, err)
		require.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}), e.URL)
		require.Empty(t, mapping.CheckDirectoryService(r, dir), e.URL)
		assert.Equal(t, mapping.ConditionalURL(e.Type(), e.Key), e.URL)
		out[e.Type()+" "+e.Key.Value] = r.Object()
	}
	return out
}

func TestParseNHSOrganisationsShapes(t *testing.T) {
	page, err := mapping.ParseNHSOrganisations([]byte(`{"value":[{"ODSCode":"FQ1"}]}`))
	require.NoError(t, err)
	require.Len(t, page, 1)
	arr, err := mapping.ParseNHSOrganisations([]byte(` [{"ODSCode":"FQ1"},{"ODSCode":"FQ2"}]`))
	require.NoError(t, err)
	require.Len(t, arr, 2)
	_, err = mapping.ParseNHSOrganisations([]byte(`{"organisations":[]}`))
	require.Error(t, err)
	_, err = mapping.ParseNHSOrganisations([]byte(`[{"ODSCode":`))
	require.Error(t, err)
}

func TestNHSPharmacy(t *testing.T) {
	orgs := nhsFixture(t)
	require.Len(t, orgs, 5)
	got := entriesByKey(t, orgs[0])
	require.Len(t, got, 5) // Organization, Location, the pharmacy, two services

	org := got["Organization FQ123"]
	assert.Equal(t, "Headingley Pharmacy", org["name"])
	assert.Equal(t, "QWO", org["partOf"].(map[string]any)["identifier"].(map[string]any)["value"])

	loc := got["Location FQ123"]
	pos := loc["position"].(map[string]any)
	assert.Equal(t, "-1.576926", pos["longitude"].(interface{ String() string }).String())
	assert.Equal(t, "53.819096", pos["latitude"].(interface{ String() string }).String())
	assert.Equal(t, "LS6 3AA", loc["address"].(map[string]any)["postalCode"])

	main := got["HealthcareService FQ123"]
	s, issues := mapping.ParseService(main, dir)
	require.Empty(t, issues)
	assert.True(t, s.Types[snomed.System+"|310080006"])
	assert.True(t, s.Categories["signpost"])
	assert.Equal(t, []mapping.Interval{{540, 1080}}, s.Weekly[0])
	assert.Equal(t, []mapping.Interval{{540, 780}}, s.Weekly[5])
	assert.Empty(t, s.Weekly[6], "Sunday is closed")
	// Christmas Day closed, the substitute Boxing Day open 10-14, New
	// Year's Day in two sessions.
	require.Len(t, s.Closed, 1)
	assert.Equal(t, time.Date(2026, 12, 25, 0, 0, 0, 0, mapping.London), s.Closed[0].Start)
	assert.Equal(t, time.Date(2026, 12, 26, 0, 0, 0, 0, mapping.London), s.Closed[0].End)
	require.Len(t, s.Special, 3)
	assert.Equal(t, time.Date(2026, 12, 28, 10, 0, 0, 0, mapping.London).UTC(), s.Special[0].Start.UTC())
	assert.True(t, s.Supports[dir.CodeSystem(mapping.AccessSupportSystem)+"|step-free-access"])
	assert.True(t, s.Supports[snomed.System+"|198061000000105"], "hearing loop")
	assert.False(t, s.Supports[dir.CodeSystem(mapping.AccessSupportSystem)+"|disabled-parking"], "facility with Value No")
	assert.Equal(t, time.Date(2026, 11, 3, 16, 41, 22, 517000000, time.UTC), s.SourceUpdated.UTC(), "the latest LastUpdatedDates")
	telecom := main["telecom"].([]any)
	assert.Len(t, telecom, 3)

	first := got["HealthcareService FQ123/SRV0555"]
	fs, _ := mapping.ParseService(first, dir)
	assert.True(t, fs.Types[snomed.System+"|983341000000102"], "Pharmacy First")
	require.Len(t, fs.Eligibility, 1)
	assert.Equal(t, "d", fs.Eligibility[0].Age.Unit)
	assert.Equal(t, 365.0, *fs.Eligibility[0].Age.Low)
	assert.Equal(t, 47481.0, *fs.Eligibility[0].Age.High)
	assert.Equal(t, s.Weekly, fs.Weekly, "a service with no opening times has the organisation's")
	assert.Contains(t, first["extraDetails"], "Sore throat")

	bp := got["HealthcareService FQ123/SRV0560"]
	bs, _ := mapping.ParseService(bp, dir)
	assert.Equal(t, []mapping.Interval{{600, 960}}, bs.Weekly[1])
	assert.Empty(t, bs.Weekly[0])
	assert.Equal(t, "0113 496 0001", bp["telecom"].([]any)[0].(map[string]any)["value"], "a service's own contacts")
}

func TestNHSGPPracticeHospitalDentistHidden(t *testing.T) {
	orgs := nhsFixture(t)

	gp := entriesByKey(t, orgs[1])
	s, _ := mapping.ParseService(gp["HealthcareService B86001"], dir)
	assert.True(t, s.Types[snomed.System+"|788007007"])
	// Surgery sessions, not the Reception rows.
	assert.Equal(t, []mapping.Interval{{480, 750}, {810, 1110}}, s.Weekly[0])
	assert.Equal(t, []mapping.Interval{{480, 750}, {810, 1200}}, s.Weekly[2])
	fax := gp["HealthcareService B86001"]["telecom"].([]any)[1].(map[string]any)
	assert.Equal(t, "fax", fax["system"])
	assert.EqualValues(t, "2", fax["rank"].(interface{ String() string }).String())

	hos := entriesByKey(t, orgs[2])
	ae, _ := mapping.ParseService(hos["HealthcareService RR813/SRV0001"], dir)
	assert.True(t, ae.Types[snomed.System+"|310000008"])
	assert.True(t, ae.Categories["emergency"])
	assert.Equal(t, []mapping.Interval{{0, 1440}}, ae.Weekly[6], "00:00-23:59 is the whole day")
	assert.Len(t, ae.Special, 2)
	physio := hos["HealthcareService RR813/SRV0084"]
	ps, _ := mapping.ParseService(physio, dir)
	assert.True(t, ps.Types[snomed.System+"|722140001"])
	assert.Equal(t, 6575.0, *ps.Eligibility[0].Age.Low)
	assert.Nil(t, ps.Eligibility[0].Age.High)
	assert.Equal(t, "RR8", physio["providedBy"].(map[string]any)["identifier"].(map[string]any)["value"], "the trust provides the service")
	assert.Equal(t, "0113 496 0401", physio["telecom"].([]any)[0].(map[string]any)["value"])

	den := entriesByKey(t, orgs[3])
	ds, _ := mapping.ParseService(den["HealthcareService V012345"], dir)
	require.NotNil(t, ds.Capacity)
	assert.Equal(t, mapping.CapacityNotAccepting, ds.Capacity.Status)
	assert.Equal(t, time.Date(2026, 11, 12, 9, 30, 0, 0, time.UTC), ds.Capacity.SetAt)

	hidden := entriesByKey(t, orgs[4])
	hs, _ := mapping.ParseService(hidden["HealthcareService FZ999"], dir)
	assert.False(t, hs.Active, "a hidden organisation is delisted")
	assert.Equal(t, "inactive", hidden["Location FZ999"]["status"])
}

func TestNHSWarnings(t *testing.T) {
	org := mapping.NHSOrganisation{
		ODSCode: "FQ9", OrganisationName: "Odd Pharmacy", OrganisationType: "Pharmacy",
		OpeningTimes: []mapping.NHSOpeningTime{
			{Weekday: "Funday", OpeningTime: "09:00", ClosingTime: "17:00", OpeningTimeType: "General", IsOpen: true},
			{Weekday: "Friday", OpeningTime: "18:00", ClosingTime: "02:00", OpeningTimeType: "General", IsOpen: true},
			{OpeningTimeType: "Additional", AdditionalOpeningDate: "Christmas", IsOpen: false},
			{Weekday: "Monday", Times: "09:00-17:00", OpeningTimeType: "General", IsOpen: true},
		},
		Services: []mapping.NHSService{
			{ServiceName: "Flu", ServiceCode: "SRV1", AgeRange: []mapping.NHSAgeRange{{FromAgeDays: ptr(0), ToAgeDays: ptr(700)}, {FromAgeDays: ptr(23741), ToAgeDays: ptr(47481)}}},
			{ServiceName: "flu", ServiceCode: "SRV1"},
			{ServiceName: "", ServiceCode: ""},
		},
	}
	entries, warn := dir.FromNHSOrganisation(org)
	assert.Len(t, entries, 4)
	assert.Len(t, warn, 5, "%q", warn)
	s, issues := mapping.ParseService(entries[2].Resource, dir)
	require.Empty(t, issues)
	assert.Equal(t, []mapping.Interval{{540, 1020}}, s.Weekly[0], "Times is read when OpeningTime is missing")
	assert.Equal(t, []mapping.Interval{{1080, 1440}}, s.Weekly[4], "open past midnight: Friday to midnight")
	assert.Equal(t, []mapping.Interval{{0, 120}}, s.Weekly[5], "and Saturday from midnight")
	flu, _ := mapping.ParseService(entries[3].Resource, dir)
	assert.Equal(t, 700.0, *flu.Eligibility[0].Age.High, "disjoint ranges are never widened")

	none, warn := dir.FromNHSOrganisation(mapping.NHSOrganisation{OrganisationName: "No code"})
	assert.Empty(t, none)
	assert.Len(t, warn, 1)
}

func ptr(f float64) *float64 { return &f }

// TestNHSImportedEntriesReadForPeople: an imported service is named with
// its organisation wherever it is shown (one "Pharmacy First" from
// another), and its age range (days in the source) reads in years.
func TestNHSImportedEntriesReadForPeople(t *testing.T) {
	orgs := nhsFixture(t)
	pharm := entriesByKey(t, orgs[0])
	first, issues := mapping.ParseService(pharm["HealthcareService FQ123/SRV0555"], dir)
	require.Empty(t, issues)
	assert.Equal(t, "Pharmacy First — Headingley Pharmacy, 12 Otley Road", first.Label())
	assert.Equal(t, "Headingley Pharmacy, 12 Otley Road", pharm["HealthcareService FQ123/SRV0555"]["location"].([]any)[0].(map[string]any)["display"])
	assert.Contains(t, pharm["HealthcareService FQ123/SRV0555"]["eligibility"].([]any)[0].(map[string]any)["comment"], "Ages 1 to 130 years (NHS Service Search AgeRange: 365 to 47481 days)")

	hos := entriesByKey(t, orgs[2])
	physio, _ := mapping.ParseService(hos["HealthcareService RR813/SRV0084"], dir)
	assert.Regexp(t, `^Physiotherapy — .+ at Leeds General Infirmary, Great George Street$`, physio.Label(), "the trust's service at the infirmary")

	// A baby is outside Pharmacy First's ages, said in years and months;
	// a need the pharmacy does not list is named by its display.
	from := time.Date(2026, 11, 24, 10, 0, 0, 0, mapping.London)
	res := mapping.Match([]mapping.Candidate{{Service: first}}, dir, mapping.MatchQuery{From: from, To: from.Add(4 * time.Hour), BirthDate: from.AddDate(0, -6, -3)})
	require.Len(t, res.Excluded, 1)
	assert.Equal(t, "the patient's age (6 months, born 2026-05-21) is outside 1 to 130 years", res.Excluded[0].Reasons[0].Text)
	res = mapping.Match([]mapping.Candidate{{Service: first}}, dir, mapping.MatchQuery{From: from, To: from.Add(4 * time.Hour), AgeYears: 40, HasAge: true,
		CommunicationNeeds: []mapping.Code{{System: snomed.System, Code: "162340000"}}})
	require.Len(t, res.Matches, 1)
	var notes []string
	for _, n := range res.Matches[0].Notes {
		notes = append(notes, n.Text)
	}
	assert.Contains(t, notes, "does not list support for: Hearing difficulty (SNOMED CT 162340000)")
}
