package mapping

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Import from the NHS Service Search API, version 3: an organisation (as
// the organisations endpoint returns it, one element of its "value"
// array) becomes an Organization, a Location and HealthcareServices in
// the directory representation. docs/directory.md lists every field and
// what it becomes; fields not listed there (Metrics, Staff, GSD,
// OrganisationAliases ...) are not imported.

// NHSOrganisation is the part of a Service Search v3 organisation that is
// imported. Unknown fields are ignored, JSON nulls read as zero values.
type NHSOrganisation struct {
	ODSCode            string            `json:"ODSCode"`
	OrganisationName   string            `json:"OrganisationName"`
	OrganisationTypeID string            `json:"OrganisationTypeId"`
	OrganisationType   string            `json:"OrganisationType"`
	OrganisationStatus string            `json:"OrganisationStatus"`
	SummaryText        string            `json:"SummaryText"`
	URL                string            `json:"URL"`
	Address1           string            `json:"Address1"`
	Address2           string            `json:"Address2"`
	Address3           string            `json:"Address3"`
	City               string            `json:"City"`
	County             string            `json:"County"`
	Postcode           string            `json:"Postcode"`
	Latitude           *float64          `json:"Latitude"`
	Longitude          *float64          `json:"Longitude"`
	Geocode            *NHSGeocode       `json:"Geocode"`
	ParentOrganisation *NHSOrgRef        `json:"ParentOrganisation"`
	Services           []NHSService      `json:"Services"`
	OpeningTimes       []NHSOpeningTime  `json:"OpeningTimes"`
	Contacts           []NHSContact      `json:"Contacts"`
	Facilities         []NHSFacility     `json:"Facilities"`
	LastUpdatedDates   map[string]string `json:"LastUpdatedDates"`
	AcceptingPatients  *struct {
		Dentist []struct {
			Name              string `json:"Name"`
			AcceptingPatients bool   `json:"AcceptingPatients"`
		} `json:"Dentist"`
	} `json:"AcceptingPatients"`
}

// NHSGeocode is a GeoJSON point: coordinates are [longitude, latitude].
type NHSGeocode struct {
	Type        string    `json:"type"`
	Coordinates []float64 `json:"coordinates"`
}

// NHSOrgRef names another organisation.
type NHSOrgRef struct {
	ODSCode          string `json:"ODSCode"`
	OrganisationName string `json:"OrganisationName"`
}

// NHSService is one of an organisation's Services.
type NHSService struct {
	ServiceName        string                  `json:"ServiceName"`
	ServiceCode        string                  `json:"ServiceCode"`
	ServiceDescription string                  `json:"ServiceDescription"`
	Contacts           []NHSContact            `json:"Contacts"`
	ServiceProvider    *NHSOrgRef              `json:"ServiceProvider"`
	Treatments         []struct{ Name string } `json:"Treatments"`
	OpeningTimes       []NHSOpeningTime        `json:"OpeningTimes"`
	AgeRange           []NHSAgeRange           `json:"AgeRange"`
}

// NHSAgeRange is an age range in days, both ends inclusive.
type NHSAgeRange struct {
	FromAgeDays *float64 `json:"FromAgeDays"`
	ToAgeDays   *float64 `json:"ToAgeDays"`
}

// NHSOpeningTime is one row of OpeningTimes: a weekly session (Weekday,
// OpeningTimeType General, Surgery, Reception ...) or, with
// OpeningTimeType Additional, a session or closure on AdditionalOpeningDate
// ("Dec 25 2023", "May  8 2023").
type NHSOpeningTime struct {
	Weekday               string `json:"Weekday"`
	Times                 string `json:"Times"`
	OpeningTime           string `json:"OpeningTime"`
	ClosingTime           string `json:"ClosingTime"`
	OffsetOpeningTime     *int   `json:"OffsetOpeningTime"`
	OffsetClosingTime     *int   `json:"OffsetClosingTime"`
	OpeningTimeType       string `json:"OpeningTimeType"`
	AdditionalOpeningDate string `json:"AdditionalOpeningDate"`
	IsOpen                bool   `json:"IsOpen"`
}

// NHSContact is a phone number, email address or website.
type NHSContact struct {
	ContactType       string `json:"ContactType"`
	ContactMethodType string `json:"ContactMethodType"`
	ContactValue      string `json:"ContactValue"`
}

// NHSFacility is a facility such as wheelchair access.
type NHSFacility struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// DirectoryEntry is one resource to upsert, by conditional update on its
// identifier: PUT URL with Resource.
type DirectoryEntry struct {
	Resource map[string]any
	URL      string
	Key      Identifier
}

// Type is the entry's resource type.
func (e DirectoryEntry) Type() string { return fhir.Str(e.Resource["resourceType"]) }

// ConditionalURL is "Type?identifier=system|value", escaped for a
// Bundle request.url or a conditional reference.
func ConditionalURL(typ string, id Identifier) string {
	return typ + "?identifier=" + url.QueryEscape(id.System+"|"+id.Value)
}

// ParseNHSOrganisations reads a Service Search response: a JSON array of
// organisations, or an object whose "value" is one (the API's paged
// form).
func ParseNHSOrganisations(data []byte) ([]NHSOrganisation, error) {
	trimmed := strings.TrimSpace(string(data))
	var orgs []NHSOrganisation
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal(data, &orgs); err != nil {
			return nil, fmt.Errorf("the organisations array: %w", err)
		}
		return orgs, nil
	}
	var page struct {
		Value *[]NHSOrganisation `json:"value"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, fmt.Errorf("the organisations response: %w", err)
	}
	if page.Value == nil {
		return nil, fmt.Errorf("the document is neither an array of organisations nor an object with a \"value\" array")
	}
	return *page.Value, nil
}

// nhsServiceTypes maps Service Search service codes and organisation types
// to SNOMED CT services of the verified set; what is not here keeps its
// name as text only.
var (
	nhsOrgTypes = map[string]string{
		"pharmacy":    "310080006", // Pharmacy service
		"gp":          "788007007", // General practice service
		"gp practice": "788007007",
	}
	nhsServiceCodes = map[string]string{
		"SRV0001": "310000008", // Accident and emergency services
	}
	nhsServiceNames = map[string]string{
		"pharmacy first":                  "983341000000102",
		"accident and emergency services": "310000008",
		"physiotherapy":                   "722140001",
		"mental health services":          "708168004",
		"nhs 111":                         "907301000000109",
	}
	// nhsCategories gives the navigation category of a mapped service type.
	nhsCategories = map[string]string{
		"310080006":       "signpost",
		"983341000000102": "external-referral",
		"310000008":       "emergency",
		"907301000000109": "signpost",
	}
	nhsTelecom = map[string]string{
		"telephone": "phone", "email": "email", "website": "url", "fax": "fax", "textphone": "other", "minicom": "other",
	}
)

// nhsFacilities maps facility names (lower case, contained) to what the
// service caters for: SNOMED CT codes are verified-set concepts, others
// directory-access-support codes.
var nhsFacilities = []struct{ contains, code string }{
	{"wheelchair", "step-free-access"},
	{"step free", "step-free-access"},
	{"step-free", "step-free-access"},
	{"accessible toilet", "accessible-toilet"},
	{"disabled toilet", "accessible-toilet"},
	{"disabled parking", "disabled-parking"},
	{"accessible parking", "disabled-parking"},
	{"blue badge", "disabled-parking"},
	{"hearing loop", "198061000000105"},
	{"induction loop", "198061000000105"},
	{"sign language", "204331000000107"},
	{"bsl", "204331000000107"},
	{"interpreter", "315594003"},
	{"translation", "315594003"},
	{"easy read", "796161000000101"},
	{"large print", "large-print"},
}

// FromNHSOrganisation maps one organisation to the entries to upsert: its
// Organization, Location and the HealthcareService of the organisation
// itself, then one HealthcareService per entry of Services. Warnings say
// what could not be carried over faithfully. An organisation without an
// ODS code cannot be keyed: no entries, and a warning.
func (d Directory) FromNHSOrganisation(o NHSOrganisation) ([]DirectoryEntry, []string) {
	var warn []string
	warnf := func(format string, args ...any) { warn = append(warn, o.ODSCode+": "+fmt.Sprintf(format, args...)) }
	ods := strings.TrimSpace(o.ODSCode)
	if ods == "" {
		return nil, []string{fmt.Sprintf("%q has no ODSCode; not imported", o.OrganisationName)}
	}
	active := o.OrganisationStatus == "" || strings.EqualFold(o.OrganisationStatus, "Visible")
	orgKey := Identifier{ODSSystem, ods}
	locKey := Identifier{d.NHSServiceSearchLocationSystem(), ods}
	orgRef := &r4Reference{Reference: ConditionalURL("Organization", orgKey), Display: o.OrganisationName}
	// The location is named with its street, so that a service shown
	// with it can be told from the same organisation's other branches
	// ("Pharmacy First — Boots, High Street"; see Service.Label).
	locRef := r4Reference{Reference: ConditionalURL("Location", locKey), Display: nhsPlace(o)}
	telecom := nhsTelecomOf(o.Contacts, o.URL)
	address := nhsAddress(o)

	org := &organization{
		ResourceType: "Organization",
		Identifier:   []r4Identifier{identifierOf(orgKey)},
		Active:       active,
		Name:         o.OrganisationName,
		Telecom:      telecom,
		Address:      address,
	}
	if o.OrganisationType != "" {
		org.Type = []*r4CodeableConcept{{Text: o.OrganisationType}}
	}
	if p := o.ParentOrganisation; p != nil && p.ODSCode != "" {
		id := identifierOf(Identifier{ODSSystem, p.ODSCode})
		org.PartOf = &r4Reference{Identifier: &id, Display: p.OrganisationName}
	}
	status := "active"
	if !active {
		status = "inactive"
	}
	loc := &location{
		ResourceType:         "Location",
		Identifier:           []r4Identifier{identifierOf(locKey)},
		Status:               status,
		Name:                 o.OrganisationName,
		Mode:                 "instance",
		ManagingOrganization: orgRef,
	}
	if len(address) > 0 {
		loc.Address = &address[0]
	}
	if lon, lat, ok := nhsPosition(o); ok {
		loc.Position = &locationPosition{Longitude: json.Number(strconv.FormatFloat(lon, 'f', -1, 64)), Latitude: json.Number(strconv.FormatFloat(lat, 'f', -1, 64))}
	}
	updated := nhsUpdated(o)
	type built struct {
		v   any
		url string
		key Identifier
	}
	entries := []built{
		{org, ConditionalURL("Organization", orgKey), orgKey},
		{loc, ConditionalURL("Location", locKey), locKey},
	}

	base := func(key Identifier, name string) *healthcareService {
		hs := &healthcareService{
			ResourceType: "HealthcareService",
			Identifier:   []r4Identifier{identifierOf(key)},
			Active:       active,
			ProvidedBy:   orgRef,
			Location:     []r4Reference{locRef},
			Name:         name,
		}
		if !updated.IsZero() {
			hs.Extension = append(hs.Extension,
				&r4Extension{URL: d.Extension(ExtSourceUpdated), ValueInstant: updated.UTC().Format(time.RFC3339Nano)},
				&r4Extension{URL: d.Extension(ExtLastVerified), ValueDateTime: updated.UTC().Format("2006-01-02")})
		}
		return hs
	}
	// setHours reports the problems of rows only once: what a service
	// inherits from its organisation was reported for the organisation.
	setHours := func(hs *healthcareService, rows []NHSOpeningTime, what string) {
		avail, special, closed, problems := d.nhsHours(rows)
		for _, p := range problems {
			if what != "" {
				warnf("%s: %s", what, p)
			}
		}
		hs.AvailableTime = avail
		hs.NotAvailable = closed
		hs.Extension = append(hs.Extension, special...)
	}
	setType := func(hs *healthcareService, code, text string) {
		cc := &r4CodeableConcept{Text: text}
		if code != "" {
			cc.Coding = []r4Coding{{System: snomed.System, Code: code, Display: nhsDisplays[code]}}
			if cat := nhsCategories[code]; cat != "" {
				hs.Category = []*r4CodeableConcept{{Coding: []r4Coding{{System: d.CodeSystem(snomed.NavigationCategory), Code: cat}}}}
			}
		}
		if text != "" || code != "" {
			hs.Type = []*r4CodeableConcept{cc}
		}
	}
	support := nhsSupport(d, o.Facilities)

	orgType := nhsOrgTypes[strings.ToLower(o.OrganisationType)]
	main := base(Identifier{d.NHSServiceSearchSystem(), ods}, o.OrganisationName)
	setType(main, orgType, o.OrganisationType)
	main.Comment = o.SummaryText
	main.Telecom = telecom
	main.Characteristic = support
	setHours(main, o.OpeningTimes, "OpeningTimes")
	if c := nhsDentistCapacity(d, o, updated); c != nil {
		main.Extension = append(main.Extension, c)
	}
	entries = append(entries, built{main, ConditionalURL("HealthcareService", Identifier{d.NHSServiceSearchSystem(), ods}), Identifier{d.NHSServiceSearchSystem(), ods}})

	seen := map[string]bool{}
	for i, sv := range o.Services {
		code := strings.TrimSpace(sv.ServiceCode)
		if code == "" || sv.ServiceName == "" {
			warnf("Services[%d] has no ServiceCode or ServiceName; not imported", i)
			continue
		}
		if seen[code] {
			warnf("Services[%d]: service code %s is listed twice; the first is imported", i, code)
			continue
		}
		seen[code] = true
		key := Identifier{d.NHSServiceSearchSystem(), ods + "/" + code}
		hs := base(key, sv.ServiceName)
		st := nhsServiceCodes[code]
		if st == "" {
			st = nhsServiceNames[strings.ToLower(sv.ServiceName)]
		}
		if st == "" && orgType != "" && len(o.Services) == 1 {
			st = orgType
		}
		setType(hs, st, sv.ServiceName)
		hs.Comment = sv.ServiceDescription
		if p := sv.ServiceProvider; p != nil && p.ODSCode != "" && !strings.EqualFold(p.ODSCode, ods) {
			id := identifierOf(Identifier{ODSSystem, p.ODSCode})
			hs.ProvidedBy = &r4Reference{Identifier: &id, Display: p.OrganisationName}
		}
		contacts := sv.Contacts
		if len(contacts) == 0 {
			contacts = o.Contacts
		}
		hs.Telecom = nhsTelecomOf(contacts, o.URL)
		hs.Characteristic = support
		if len(sv.OpeningTimes) > 0 {
			setHours(hs, sv.OpeningTimes, "Services["+code+"].OpeningTimes")
		} else {
			setHours(hs, o.OpeningTimes, "")
		}
		if el, ok := nhsAge(sv.AgeRange, func(format string, args ...any) { warnf(code+": "+format, args...) }); ok {
			hs.Eligibility = []hsEligibility{d.ageEligibility(el)}
		}
		var treatments []string
		for _, t := range sv.Treatments {
			if t.Name != "" {
				treatments = append(treatments, "- "+t.Name)
			}
		}
		if len(treatments) > 0 {
			hs.ExtraDetails = "Treatments:\n\n" + strings.Join(treatments, "\n")
		}
		entries = append(entries, built{hs, ConditionalURL("HealthcareService", key), key})
	}
	out := make([]DirectoryEntry, 0, len(entries))
	for _, e := range entries {
		// The tree drops empty elements, which R4 JSON forbids.
		t, err := fhir.Tree(e.v)
		if err != nil {
			// Only a programming error (a type that does not encode).
			panic("mapping: a directory entry does not encode: " + err.Error())
		}
		out = append(out, DirectoryEntry{Resource: t, URL: e.url, Key: e.key})
	}
	return out, warn
}

var nhsDisplays = map[string]string{
	"310080006":       "Pharmacy service",
	"788007007":       "General practice service",
	"310000008":       "Accident and Emergency service",
	"983341000000102": "Pharmacy First service",
	"722140001":       "Physiotherapy service",
	"708168004":       "Mental health service",
	"907301000000109": "NHS 111 service",
}

func identifierOf(id Identifier) r4Identifier {
	return r4Identifier(id)
}

func nhsTelecomOf(contacts []NHSContact, website string) []r4ContactPoint {
	var out []r4ContactPoint
	haveURL := false
	for _, c := range contacts {
		v := strings.TrimSpace(c.ContactValue)
		sys := nhsTelecom[strings.ToLower(strings.TrimSpace(c.ContactMethodType))]
		if v == "" || sys == "" {
			continue
		}
		rank := 2
		if strings.EqualFold(c.ContactType, "Primary") {
			rank = 1
		}
		haveURL = haveURL || sys == "url"
		out = append(out, r4ContactPoint{System: sys, Value: v, Use: "work", Rank: rank})
	}
	if w := strings.TrimSpace(website); w != "" && !haveURL {
		out = append(out, r4ContactPoint{System: "url", Value: w, Use: "work", Rank: 1})
	}
	return out
}

func nhsAddress(o NHSOrganisation) []r4Address {
	var lines []string
	for _, l := range []string{o.Address1, o.Address2, o.Address3} {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 && o.City == "" && o.Postcode == "" {
		return nil
	}
	return []r4Address{{Use: "work", Type: "physical", Line: lines, City: o.City, District: o.County, PostalCode: o.Postcode, Country: "GB"}}
}

// nhsPlace names an organisation's site: its name and first address
// line ("Headingley Pharmacy, 12 Otley Road"), or the name alone.
func nhsPlace(o NHSOrganisation) string {
	name := strings.TrimSpace(o.OrganisationName)
	for _, l := range []string{o.Address1, o.Address2, o.City} {
		if l = strings.TrimSpace(l); l != "" {
			if name == "" {
				return l
			}
			return name + ", " + l
		}
	}
	return name
}

func nhsPosition(o NHSOrganisation) (lon, lat float64, ok bool) {
	if g := o.Geocode; g != nil && len(g.Coordinates) == 2 {
		return g.Coordinates[0], g.Coordinates[1], true
	}
	if o.Longitude != nil && o.Latitude != nil {
		return *o.Longitude, *o.Latitude, true
	}
	return 0, 0, false
}

// nhsUpdated is the latest of LastUpdatedDates: the publisher's own
// timestamp of the organisation's data.
func nhsUpdated(o NHSOrganisation) time.Time {
	var out time.Time
	for _, v := range o.LastUpdatedDates {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(out) {
			out = t
		}
	}
	return out
}

// weekdayCodes maps Service Search weekday names to R4 days-of-week.
var weekdayCodes = map[string]string{"mon": "mon", "tue": "tue", "wed": "wed", "thu": "thu", "fri": "fri", "sat": "sat", "sun": "sun"}

var dayCodes = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

var dayOrder = map[string]int{"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

// nhsTimes reads a row's opening and closing times: OpeningTime and
// ClosingTime, else Times ("08:00-18:30"), else the offsets in minutes.
func nhsTimes(r NHSOpeningTime) (open, close string, ok bool) {
	open, close = strings.TrimSpace(r.OpeningTime), strings.TrimSpace(r.ClosingTime)
	if _, ok1 := dirClock(open); ok1 {
		if _, ok2 := dirClock(close); ok2 {
			return open, close, true
		}
	}
	if a, b, found := strings.Cut(r.Times, "-"); found {
		a, b = strings.TrimSpace(a), strings.TrimSpace(b)
		if _, ok1 := dirClock(a); ok1 {
			if _, ok2 := dirClock(b); ok2 {
				return a, b, true
			}
		}
	}
	if r.OffsetOpeningTime != nil && r.OffsetClosingTime != nil {
		f := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
		o, c := *r.OffsetOpeningTime, *r.OffsetClosingTime
		if o >= 0 && c > o && c < 24*60 {
			return f(o), f(c), true
		}
	}
	return "", "", false
}

// nhsDate reads AdditionalOpeningDate: "Dec 25 2023", "May  8 2023", or
// 2023-12-25.
func nhsDate(s string) (time.Time, bool) {
	f := strings.Fields(s)
	if len(f) == 3 {
		if t, err := time.ParseInLocation("Jan 2 2006", strings.Join(f, " "), London); err == nil {
			return t, true
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), London); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// nhsHours maps OpeningTimes. Weekly rows of one type are used: General
// (pharmacies and most services), else Surgery (GP practices, whose
// Reception rows are when the phones are answered), else whichever type
// is there. Rows with the same times are grouped into one availableTime.
// Additional rows become special openings (open) or notAvailable for the
// whole local day (closed).
func (d Directory) nhsHours(rows []NHSOpeningTime) (avail []hsAvailableTime, special []*r4Extension, closed []hsNotAvailable, problems []string) {
	types := map[string]bool{}
	for _, r := range rows {
		if !strings.EqualFold(r.OpeningTimeType, "Additional") {
			types[strings.ToLower(r.OpeningTimeType)] = true
		}
	}
	use := ""
	switch {
	case types["general"]:
		use = "general"
	case types["surgery"]:
		use = "surgery"
	default:
		for t := range types {
			if use == "" || t < use {
				use = t
			}
		}
	}
	type slot struct{ open, close string }
	days := map[slot][]string{}
	var slots []slot
	specialDays := map[string]bool{}
	closedDays := map[string]bool{}
	var closedOrder []string
	for _, r := range rows {
		if strings.EqualFold(r.OpeningTimeType, "Additional") {
			date, ok := nhsDate(r.AdditionalOpeningDate)
			if !ok {
				problems = append(problems, fmt.Sprintf("additional opening date %q is not a date; row skipped", r.AdditionalOpeningDate))
				continue
			}
			key := date.Format("2006-01-02")
			if !r.IsOpen {
				if !closedDays[key] {
					closedDays[key] = true
					closedOrder = append(closedOrder, key)
				}
				continue
			}
			open, close, ok := nhsTimes(r)
			if !ok {
				problems = append(problems, fmt.Sprintf("additional opening on %s has no times; row skipped", key))
				continue
			}
			om, _ := dirClock(open)
			cm, _ := dirClock(close)
			if cm <= om {
				problems = append(problems, fmt.Sprintf("additional opening on %s closes before it opens; row skipped", key))
				continue
			}
			start := time.Date(date.Year(), date.Month(), date.Day(), om/60, om%60, 0, 0, London)
			end := time.Date(date.Year(), date.Month(), date.Day(), cm/60, cm%60, 0, 0, London)
			specialDays[key] = true
			special = append(special, &r4Extension{URL: d.Extension(ExtSpecialOpening), ValuePeriod: &r4Period{
				Start: start.Format(time.RFC3339), End: end.Format(time.RFC3339)}})
			continue
		}
		if strings.ToLower(r.OpeningTimeType) != use || !r.IsOpen {
			continue
		}
		wd, ok := weekdayCodes[strings.ToLower(dirFirstN(strings.TrimSpace(r.Weekday), 3))]
		if !ok {
			problems = append(problems, fmt.Sprintf("weekday %q is not a day; row skipped", r.Weekday))
			continue
		}
		open, close, ok := nhsTimes(r)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no opening times; row skipped", r.Weekday))
			continue
		}
		add := func(s slot, wd string) {
			if _, ok := days[s]; !ok {
				slots = append(slots, s)
			}
			if !containsStr(days[s], wd) {
				days[s] = append(days[s], wd)
			}
		}
		om, _ := dirClock(open)
		if cm, _ := dirClock(close); cm <= om {
			// Open past midnight: the rest of the day, and the next day
			// from midnight (23:59 is how both say "to midnight").
			add(slot{open, "23:59"}, wd)
			if close != "00:00" {
				add(slot{"00:00", close}, dayCodes[(dayOrder[wd]+1)%7])
			}
			continue
		}
		add(slot{open, close}, wd)
	}
	sort.Slice(slots, func(i, j int) bool {
		a, b := days[slots[i]], days[slots[j]]
		da, db := minDay(a), minDay(b)
		if da != db {
			return da < db
		}
		return slots[i].open < slots[j].open
	})
	for _, s := range slots {
		ds := days[s]
		sort.Slice(ds, func(i, j int) bool { return dayOrder[ds[i]] < dayOrder[ds[j]] })
		avail = append(avail, hsAvailableTime{DaysOfWeek: ds, AvailableStartTime: s.open + ":00", AvailableEndTime: s.close + ":00"})
	}
	for _, key := range closedOrder {
		if specialDays[key] {
			continue // open rows on the same date win
		}
		closed = append(closed, hsNotAvailable{Description: "Closed (NHS Service Search additional opening times)", During: &r4Period{Start: key, End: key}})
	}
	return avail, special, closed, problems
}

func minDay(ds []string) int {
	m := 7
	for _, d := range ds {
		if dayOrder[d] < m {
			m = dayOrder[d]
		}
	}
	return m
}

func dirFirstN(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// nhsAge reads AgeRange (days, inclusive). Several ranges that overlap or
// touch are merged; disjoint ones cannot be said in one eligibility
// without widening it, so the first is kept and the rest reported.
func nhsAge(ranges []NHSAgeRange, warnf func(string, ...any)) ([2]*float64, bool) {
	type r struct{ lo, hi *float64 }
	var rs []r
	for _, a := range ranges {
		if a.FromAgeDays == nil && a.ToAgeDays == nil {
			continue
		}
		rs = append(rs, r{a.FromAgeDays, a.ToAgeDays})
	}
	if len(rs) == 0 {
		return [2]*float64{}, false
	}
	out := rs[0]
	for _, x := range rs[1:] {
		lo := func(p *float64) float64 {
			if p == nil {
				return 0
			}
			return *p
		}
		hi := func(p *float64) float64 {
			if p == nil {
				return 1e9
			}
			return *p
		}
		if lo(x.lo) <= hi(out.hi)+1 && lo(out.lo) <= hi(x.hi)+1 {
			if lo(x.lo) < lo(out.lo) {
				out.lo = x.lo
			}
			if hi(x.hi) > hi(out.hi) {
				out.hi = x.hi
			}
			continue
		}
		warnf("AgeRange holds disjoint ranges; only the first (%s) is imported", ageDaysText(rs[0].lo, rs[0].hi))
		break
	}
	return [2]*float64{out.lo, out.hi}, true
}

func ageDaysText(lo, hi *float64) string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	return f(lo) + " to " + f(hi) + " days"
}

func (d Directory) ageEligibility(r [2]*float64) hsEligibility {
	rng := &r4Range{}
	q := func(v float64) *r4Quantity {
		return &r4Quantity{Value: json.Number(strconv.FormatFloat(v, 'f', -1, 64)), Unit: "days", System: UCUMSystem, Code: "d"}
	}
	if r[0] != nil {
		rng.Low = q(*r[0])
	}
	if r[1] != nil {
		rng.High = q(*r[1])
	}
	return hsEligibility{
		Comment: "Ages " + ageRangeWords("d", r[0], r[1]) + " (NHS Service Search AgeRange: " + ageDaysText(r[0], r[1]) + ").",
		Extension: []*r4Extension{{URL: d.Extension(ExtEligibility), Extension: []*r4Extension{
			{URL: "age", ValueRange: rng},
		}}},
	}
}

func nhsSupport(d Directory, fs []NHSFacility) []*r4CodeableConcept {
	var out []*r4CodeableConcept
	seen := map[string]bool{}
	for _, f := range fs {
		v := strings.ToLower(strings.TrimSpace(f.Value))
		if v != "yes" && v != "true" {
			continue
		}
		name := strings.ToLower(f.Name)
		for _, m := range nhsFacilities {
			if !strings.Contains(name, m.contains) || seen[m.code] {
				continue
			}
			seen[m.code] = true
			sys, display := snomed.System, snomedDisplay[m.code]
			if _, local := localAccess[m.code]; local {
				sys, display = d.CodeSystem(AccessSupportSystem), localAccess[m.code]
			}
			out = append(out, &r4CodeableConcept{Coding: []r4Coding{{System: sys, Code: m.code, Display: display}}, Text: f.Name})
		}
	}
	return out
}

// nhsDentistCapacity maps a dental practice's AcceptingPatients: not
// accepting any group of NHS patients is not-accepting.
func nhsDentistCapacity(d Directory, o NHSOrganisation, updated time.Time) *r4Extension {
	if o.AcceptingPatients == nil || len(o.AcceptingPatients.Dentist) == 0 {
		return nil
	}
	status, note := CapacityNotAccepting, "Not accepting new NHS patients (NHS Service Search)."
	var groups []string
	for _, g := range o.AcceptingPatients.Dentist {
		if g.AcceptingPatients {
			groups = append(groups, g.Name)
		}
	}
	if len(groups) > 0 {
		status, note = CapacityAccepting, "Accepting new NHS patients: "+strings.Join(groups, "; ")+" (NHS Service Search)."
	}
	setAt := updated
	if t, err := time.Parse(time.RFC3339Nano, o.LastUpdatedDates["DentistsAcceptingPatients"]); err == nil {
		setAt = t
	}
	if setAt.IsZero() {
		return nil
	}
	return &r4Extension{URL: d.Extension(ExtCapacity), Extension: []*r4Extension{
		{URL: "status", ValueCode: status},
		{URL: "setAt", ValueDateTime: setAt.UTC().Format(time.RFC3339Nano)},
		{URL: "note", ValueString: note},
	}}
}
