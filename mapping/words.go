package mapping

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/snomed"
)

// Words for people: what a rationale, a note or an advice says in place
// of codes and raw numbers (ages in days, SNOMED CT ids, navigation
// codes).

// plural is "1 year", "2 years".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// ageWords says an age of whole days as people say it: days under four
// weeks, weeks under 13 weeks, months under two years, then years.
func ageWords(days int) string {
	switch {
	case days < 0:
		return "not known"
	case days < 28:
		return plural(days, "day")
	case days < 13*7:
		return plural(days/7, "week")
	}
	y, m, _ := ageParts(days)
	if y < 2 {
		return plural(12*y+m, "month")
	}
	return plural(y, "year")
}

// ageWordsAt is the age on at of someone born on birth, in words.
func ageWordsAt(birth, at time.Time) string {
	at = at.In(London)
	today := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	born := time.Date(birth.Year(), birth.Month(), birth.Day(), 0, 0, 0, 0, time.UTC)
	days := int(today.Sub(born).Hours() / 24)
	if days >= 13*7 {
		// Whole months and years by the calendar, not by average lengths.
		months := (today.Year()-born.Year())*12 + int(today.Month()-born.Month())
		if today.Day() < born.Day() {
			months--
		}
		if months < 24 {
			return plural(months, "month")
		}
		return plural(months/12, "year")
	}
	return ageWords(days)
}

// ageParts splits days into average years and months.
func ageParts(days int) (years, months, rest int) {
	y := int(float64(days) / 365.25)
	left := float64(days) - float64(y)*365.25
	m := int(left / (365.25 / 12))
	return y, m, int(left - float64(m)*(365.25/12))
}

// daysAsAge says a bound of an age range given in days (as NHS Service
// Search publishes them) in the largest unit it is a whole number of,
// within a day or two of the calendar's average lengths: 365 is 1 year,
// 5844 is 16 years, 47481 is 130 years, 84 is 12 weeks. A bound that is
// no whole number of years, months or weeks stays in days.
func daysAsAge(v float64) (float64, string) {
	if v <= 0 || v != math.Trunc(v) {
		return v, "d"
	}
	if y := math.Round(v / 365.25); y >= 1 && math.Abs(v-y*365.25) <= 2 {
		return y, "a"
	}
	if mo := math.Round(v / (365.25 / 12)); mo >= 1 && math.Abs(v-mo*365.25/12) <= 1 {
		return mo, "mo"
	}
	if math.Mod(v, 7) == 0 {
		return v / 7, "wk"
	}
	return v, "d"
}

var unitWords = map[string]string{"a": "year", "mo": "month", "wk": "week", "d": "day"}

// quantityWords is "16 years", "1 month", "2.5 days".
func quantityWords(v float64, unit string) string {
	u := unitWords[unit]
	if u == "" {
		u = unit
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return plural(int(v), u)
	}
	return fmt.Sprintf("%s %ss", fmt.Sprint(v), u)
}

// ageRangeWords says an age range: "16 years and over", "up to 5 years",
// "1 to 130 years", "6 months to 16 years". A range in days is said in
// the units its bounds are whole numbers of.
func ageRangeWords(unit string, low, high *float64) string {
	bound := func(p *float64) (float64, string) {
		if unit == "d" {
			return daysAsAge(*p)
		}
		return *p, unit
	}
	switch {
	case low != nil && high != nil:
		lv, lu := bound(low)
		hv, hu := bound(high)
		if *low == 0 {
			return "from birth to " + quantityWords(hv, hu)
		}
		if lu == hu {
			u := unitWords[hu]
			if hv != 1 {
				u += "s"
			}
			return fmt.Sprintf("%s to %s %s", fmt.Sprint(lv), fmt.Sprint(hv), u)
		}
		return quantityWords(lv, lu) + " to " + quantityWords(hv, hu)
	case low != nil:
		lv, lu := bound(low)
		return quantityWords(lv, lu) + " and over"
	case high != nil:
		hv, hu := bound(high)
		return "up to " + quantityWords(hv, hu)
	}
	return "any age"
}

// urgencyWords says an urgency: "same day", "within a week".
func urgencyWords(u Urgency) string {
	switch u {
	case UrgencyEmergency:
		return "now"
	case UrgencySameDay:
		return "same day"
	case UrgencyWithinWeek:
		return "within a week"
	case UrgencyRoutine:
		return "routine"
	}
	return orText(string(u), "urgency not set")
}

// categoryWords says a navigation category: "practice clinician",
// "external referral".
func categoryWords(c Category) string {
	if d := localDisplay(snomed.NavigationCategory, string(c)); d != "" {
		return strings.ToLower(d)
	}
	return string(c)
}

// modeWords says a consultation mode: "by telephone", "face to face".
func modeWords(mode string) string {
	switch mode {
	case ModeFaceToFace:
		return "face to face"
	case ModeTelephone:
		return "by telephone"
	case ModeVideo:
		return "by video"
	case ModeOnlineMessage:
		return "by online message"
	case ModeHomeVisit:
		return "home visit"
	}
	return mode
}

// shippedConcepts is the verified SNOMED CT set shipped with Signpost,
// where the displays of codes in texts come from.
var shippedConcepts = sync.OnceValue(func() *snomed.ConceptSet {
	cs, err := snomed.Shipped()
	if err != nil {
		return nil
	}
	return cs
})

// conceptWords names a coded concept for people: "Hearing difficulty
// (SNOMED CT 162340000)" when the verified set knows it, "SNOMED CT
// 162340000" when not, and "code (system)" for other systems. key is
// "system|code" or a bare code (read as SNOMED CT).
func conceptWords(key string) string {
	system, code, ok := strings.Cut(key, "|")
	if !ok {
		system, code = snomed.System, key
	}
	if system == "" || system == snomed.System {
		if cs := shippedConcepts(); cs != nil {
			if c, ok := cs.Get(code); ok && c.Preferred != "" {
				return c.Preferred + " (SNOMED CT " + code + ")"
			}
		}
		return "SNOMED CT " + code
	}
	return code + " (" + system + ")"
}

// needGroupWords names a patient need group: "10 (Multi-morbidity, high
// complexity)".
func needGroupWords(code string) string {
	if d := needGroupDisplay[code]; d != "" {
		return code + " (" + d + ")"
	}
	return code
}

// needGroupSetWords names a set of need groups in their order: "10
// (Multi-morbidity, high complexity), 11 (Frailty)".
func needGroupSetWords(set map[string]bool) string {
	codes := make([]string, 0, len(set))
	for k := range set {
		codes = append(codes, k)
	}
	sort.Slice(codes, func(i, j int) bool {
		if len(codes[i]) != len(codes[j]) {
			return len(codes[i]) < len(codes[j])
		}
		return codes[i] < codes[j]
	})
	for i, c := range codes {
		codes[i] = needGroupWords(c)
	}
	return strings.Join(codes, ", ")
}

// Label names a service for people with its organisation, so that one
// "Pharmacy First" can be told from another: "Pharmacy First — Headingley
// Pharmacy, 12 Otley Road". The organisation is the first location's
// display when it names the provider (it says where as well), else
// providedBy's display and, when the location is another's, "at" it
// ("Physiotherapy — Leeds Teaching Hospitals at Leeds General Infirmary,
// Great George Street"); a name that already holds it is left as it is
// ("Demo Surgery GPs" of Demo Surgery). With neither, the name, or the
// reference when the service has no name.
func (s *Service) Label() string {
	if s.label != "" {
		return s.label
	}
	return serviceLabel(s)
}

func serviceLabel(s *Service) string {
	name := strings.TrimSpace(s.Name)
	if name == "" {
		name = "HealthcareService/" + s.ID
	}
	who := s.Provider
	switch {
	case s.Place == "":
	case who == "" || hasPrefixFold(s.Place, who):
		who = s.Place
	case !strings.Contains(strings.ToLower(name), strings.ToLower(s.Place)):
		// Another organisation's site: whose, and where.
		who += " at " + s.Place
	}
	lname, lwho := strings.ToLower(name), strings.ToLower(who)
	switch {
	case who == "", strings.Contains(lname, lwho):
		return name
	case strings.HasPrefix(lwho, lname):
		return who
	}
	return name + " — " + who
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
