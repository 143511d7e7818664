package mapping

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestAgesInWords(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		unit      string
		low, high *float64
		want      string
	}{
		// NHS Service Search publishes ranges in days.
		{"d", f(365), f(47481), "1 to 130 years"},
		{"d", f(5844), nil, "16 years and over"},
		{"d", f(0), f(5843), "from birth to 16 years"},
		{"d", nil, f(1826), "up to 5 years"},
		{"d", f(28), f(84), "4 to 12 weeks"},
		{"d", f(183), f(5844), "6 months to 16 years"},
		{"d", f(100), f(200), "100 to 200 days"},
		{"a", f(16), nil, "16 years and over"},
		{"mo", nil, f(6), "up to 6 months"},
		{"wk", f(1), f(2), "1 to 2 weeks"},
	} {
		assert.Equal(t, c.want, (&AgeRange{Unit: c.unit, Low: c.low, High: c.high}).String())
	}
	for days, want := range map[int]string{0: "0 days", 1: "1 day", 27: "27 days", 35: "5 weeks", 90: "12 weeks", 200: "6 months", 700: "22 months", 800: "2 years", 16000: "43 years"} {
		assert.Equal(t, want, ageWords(days), "%d days", days)
	}
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	assert.Equal(t, "5 weeks", ageWordsAt(at.AddDate(0, 0, -35), at))
	assert.Equal(t, "10 months", ageWordsAt(time.Date(2025, 12, 24, 0, 0, 0, 0, time.UTC), at))
	assert.Equal(t, "14 years", ageWordsAt(time.Date(2011, 11, 24, 0, 0, 0, 0, time.UTC), at), "the day before the birthday")
	assert.Equal(t, "16 years", ageWordsAt(time.Date(2010, 11, 23, 0, 0, 0, 0, time.UTC), at), "on the birthday")
}

func TestCodesInWords(t *testing.T) {
	// Displays come from the verified set; a code it does not hold is
	// named as a code, never given an invented display.
	assert.Equal(t, "Hearing difficulty (SNOMED CT 162340000)", conceptWords("162340000"))
	assert.Equal(t, "Hearing difficulty (SNOMED CT 162340000)", conceptWords("http://snomed.info/sct|162340000"))
	assert.Equal(t, "SNOMED CT 1234567", conceptWords("1234567"))
	assert.Equal(t, "x1 (https://example.org/cs)", conceptWords("https://example.org/cs|x1"))
	assert.Equal(t, "10 (Multi-morbidity, high complexity), 11 (Frailty)", needGroupSetWords(map[string]bool{"11": true, "10": true}))
	assert.Equal(t, "practice clinician", categoryWords(CategoryClinician))
	assert.Equal(t, "within a week", urgencyWords(UrgencyWithinWeek))
}

func TestServiceLabelNamesTheOrganisation(t *testing.T) {
	for _, c := range []struct{ name, provider, place, want string }{
		{"Pharmacy First", "Headingley Pharmacy", "Headingley Pharmacy, 12 Otley Road", "Pharmacy First — Headingley Pharmacy, 12 Otley Road"},
		{"Physiotherapy", "Leeds General Infirmary", "", "Physiotherapy — Leeds General Infirmary"},
		{"Physiotherapy", "", "Leeds General Infirmary, Great George Street", "Physiotherapy — Leeds General Infirmary, Great George Street"},
		// A location of another organisation says where, with whose.
		{"Physiotherapy", "Leeds Teaching Hospitals", "Chapel Allerton Hospital", "Physiotherapy — Leeds Teaching Hospitals at Chapel Allerton Hospital"},
		{"Demo Surgery GPs", "Demo Surgery", "", "Demo Surgery GPs"},
		{"Headingley Pharmacy", "Headingley Pharmacy", "Headingley Pharmacy, 12 Otley Road", "Headingley Pharmacy, 12 Otley Road"},
		{"", "Demo Surgery", "", "HealthcareService/x — Demo Surgery"},
		{"NHS 111", "", "", "NHS 111"},
	} {
		assert.Equal(t, c.want, serviceLabel(&Service{ID: "x", Name: c.name, Provider: c.provider, Place: c.place}))
	}
}
