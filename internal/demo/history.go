package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// Practice is the demo practice's ODS code.
const Practice = "Y99999"

// Options configures SeedHistory.
type Options struct {
	Store store.Store
	// Base is the canonical base of the local code systems (the
	// server's SIGNPOST_CANONICAL_BASE).
	Base string
	// Terminology reads the allocation ConceptMap.
	Terminology *snomed.Terminology
	// Now is the clock: the history covers the Weeks whole weeks before
	// the week of Now and that week's days before Now's (Europe/London).
	// Default time.Now.
	Now func() time.Time
	// Weeks of history (default 8).
	Weeks int
}

// Result says what SeedHistory did.
type Result struct {
	// Contacts is how many contacts the history has; Stored how many of
	// them this call wrote (0 when they were all there already).
	Contacts, Stored int
	From, To         time.Time
}

// SeedHistory writes the demo history that is not stored yet. The demo
// content (the Y99999 protocol and directory) must be seeded before.
func SeedHistory(ctx context.Context, o Options) (Result, error) {
	if o.Store == nil || o.Terminology == nil || o.Base == "" {
		return Result{}, errors.New("demo history: a store, a terminology and a canonical base are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Weeks <= 0 {
		o.Weeks = 8
	}
	g, err := newGenerator(ctx, o)
	if err != nil {
		return Result{}, err
	}
	g.now = o.Now()
	if err := g.seedPatients(ctx); err != nil {
		return Result{}, err
	}
	today := midnight(o.Now().In(mapping.London))
	// Whole weeks: from the Monday Weeks weeks before this week's.
	from := today.AddDate(0, 0, -(int(today.Weekday())+6)%7-7*o.Weeks)
	res := Result{From: from, To: today}
	for day := from; day.Before(today); day = day.AddDate(0, 0, 1) {
		for _, c := range g.day(day) {
			res.Contacts++
			stored, err := g.store(ctx, c)
			if err != nil {
				return res, fmt.Errorf("demo history: contact %s: %w", c.id, err)
			}
			if stored {
				res.Stored++
			}
		}
	}
	return res, nil
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// generator holds what every decision reads and the history so far.
type generator struct {
	o        Options
	st       store.Store
	engine   *mapping.Engine
	names    mapping.NavigationNames
	protocol *mapping.Protocol
	cands    []mapping.Candidate
	cmap     *snomed.ConceptMap
	lists    *mapping.SafetyLists
	patients []patient
	// earlier are the contacts generated so far, by patient index.
	earlier map[int][]mapping.EarlierContact
	// recent are the clinical contacts of the last two weeks, for
	// reattendances.
	recent []recentContact
	now    time.Time
}

type recentContact struct {
	patient int
	at      time.Time
	kind    *kind
}

func newGenerator(ctx context.Context, o Options) (*generator, error) {
	g := &generator{o: o, st: o.Store, engine: mapping.NewEngine(o.Base), names: mapping.NewNavigationNames(o.Base),
		lists: mapping.DefaultSafetyLists(nil), earlier: map[int][]mapping.EarlierContact{}}
	v, err := o.Store.Read(ctx, "PlanDefinition", mapping.ProtocolID(Practice))
	if err != nil {
		return nil, fmt.Errorf("demo history: the demo protocol: %w", err)
	}
	obj, err := decode(v.Body)
	if err != nil {
		return nil, err
	}
	p, issues := mapping.ParseProtocol(obj, g.names)
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return nil, fmt.Errorf("demo history: the demo protocol does not compile: %s", is.Diagnostics)
		}
	}
	g.protocol = p
	q, err := search.ParseQuery("HealthcareService", url.Values{}, true)
	if err != nil {
		return nil, err
	}
	page := store.PageRequest{Count: 1000}
	for {
		res, err := o.Store.Search(ctx, q, page)
		if err != nil {
			return nil, err
		}
		for _, m := range res.Matches {
			obj, err := decode(m.Body)
			if err != nil {
				return nil, err
			}
			s, issues := mapping.ParseService(obj, g.engine.Directory)
			bad := false
			for _, is := range issues {
				bad = bad || is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal
			}
			g.cands = append(g.cands, mapping.Candidate{Service: s, Unreadable: bad})
		}
		if res.Next == "" {
			break
		}
		page.Cursor = res.Next
	}
	if g.cmap, err = o.Terminology.AllocationMap(ctx, o.Store); err != nil {
		return nil, fmt.Errorf("demo history: the allocation ConceptMap: %w", err)
	}
	g.patients = makePatients()
	return g, nil
}

// patient is one generated patient of the demo practice.
type patient struct {
	id, nhs, given, family, gender, need string
	birth                                string
}

// makePatients are the demo history's patients: every age band, both
// sexes (and a few not recorded), need groups 1 to 11 weighted towards
// the low-need groups.
func makePatients() []patient {
	r := rand.New(rand.NewPCG(20261121, 1))
	given := map[string][]string{
		"female": {"Amira", "Beth", "Chloe", "Deborah", "Eileen", "Fatima", "Grace", "Hannah", "Iris", "Joan", "Kiran", "Lucy", "Margaret", "Nadia", "Olivia", "Priya"},
		"male":   {"Aaron", "Ben", "Callum", "Dev", "Edward", "Farhan", "George", "Harry", "Imran", "Jack", "Kwame", "Liam", "Malcolm", "Noah", "Oscar", "Peter"},
	}
	family := []string{"Ahmed", "Brown", "Clarke", "Davies", "Evans", "Francis", "Green", "Hughes", "Iqbal", "Jones", "Khan", "Lewis", "Morgan", "Nowak", "Owen", "Patel", "Roberts", "Smith", "Taylor", "Walker"}
	// Age at 2026, and the need group that goes with it.
	bands := []struct {
		lo, hi, weight int
		needs          []string
	}{
		{0, 4, 8, []string{"1", "2", "2", "5"}},
		{5, 15, 8, []string{"2", "2", "5", "6"}},
		{16, 24, 12, []string{"3", "3", "3", "6", "8"}},
		{25, 44, 26, []string{"3", "3", "3", "4", "6", "7", "8"}},
		{45, 64, 24, []string{"3", "4", "4", "6", "7", "9"}},
		{65, 74, 10, []string{"4", "4", "7", "9", "10"}},
		{75, 84, 8, []string{"4", "9", "10", "11"}},
		{85, 99, 4, []string{"9", "10", "11", "11"}},
	}
	total := 0
	for _, b := range bands {
		total += b.weight
	}
	var out []patient
	n := 0
	for len(out) < 160 {
		n++
		nhs := nhsNumber(999020000 + n)
		if nhs == "" {
			continue
		}
		w := r.IntN(total)
		b := bands[0]
		for _, x := range bands {
			if w < x.weight {
				b = x
				break
			}
			w -= x.weight
		}
		age := b.lo + r.IntN(b.hi-b.lo+1)
		birth := time.Date(2026-age, time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		gender := "female"
		if r.IntN(100) < 46 {
			gender = "male"
		}
		names := given[gender]
		p := patient{id: fmt.Sprintf("demo-history-patient-%03d", len(out)+1), nhs: nhs, gender: gender,
			given: names[r.IntN(len(names))], family: family[r.IntN(len(family))],
			need: b.needs[r.IntN(len(b.needs))], birth: birth.Format("2006-01-02")}
		if r.IntN(40) == 0 {
			p.gender = "" // not recorded
		}
		out = append(out, p)
	}
	return out
}

// nhsNumber is the 10-digit NHS number of a 9-digit stem with its
// modulus 11 check digit, "" when the stem has none (check digit 10).
func nhsNumber(stem int) string {
	s := fmt.Sprintf("%09d", stem)
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(s[i]-'0') * (10 - i)
	}
	c := 11 - sum%11
	if c == 11 {
		c = 0
	}
	if c == 10 {
		return ""
	}
	return s + fmt.Sprint(c)
}

// seedPatients stores the patients and their need-group Observations
// when absent (one transaction).
func (g *generator) seedPatients(ctx context.Context) error {
	if _, err := g.st.Read(ctx, "Patient", g.patients[len(g.patients)-1].id); err == nil {
		return nil
	}
	label := g.label()
	return g.st.Transaction(ctx, func(tx store.Tx) error {
		for _, p := range g.patients {
			if _, err := tx.Read(ctx, "Patient", p.id); err == nil {
				continue
			}
			pt := map[string]any{"resourceType": "Patient", "id": p.id, "meta": label(),
				"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": p.nhs}},
				"name":       []any{map[string]any{"family": p.family, "given": []any{p.given}}},
				"birthDate":  p.birth,
				"generalPractitioner": []any{map[string]any{"identifier": map[string]any{"system": mapping.ODSSystem, "value": Practice},
					"display": "Demo Surgery"}},
			}
			if p.gender != "" {
				pt["gender"] = p.gender
			}
			obs := map[string]any{"resourceType": "Observation", "id": needObservation(p.id), "meta": label(), "status": "final",
				"code":              map[string]any{"text": "Patient need group"},
				"subject":           map[string]any{"reference": "Patient/" + p.id},
				"effectiveDateTime": "2026-01-05",
				"performer":         []any{map[string]any{"display": "Demo shared care record"}},
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": g.o.Base + "/CodeSystem/patient-need-group", "code": p.need}}},
			}
			for _, obj := range []map[string]any{pt, obs} {
				r, err := validated(obj, true)
				if err != nil {
					return err
				}
				if _, err := tx.Create(ctx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func needObservation(patientID string) string {
	return strings.Replace(patientID, "-patient-", "-need-group-", 1)
}

// label is a new meta with the demo practice's security label.
func (g *generator) label() func() map[string]any {
	sys := g.o.Base + "/CodeSystem/practice"
	return func() map[string]any {
		return map[string]any{"security": []any{map[string]any{"system": sys, "code": Practice}}}
	}
}

func validated(obj map[string]any, strict bool) (*fhir.Resource, error) {
	r, err := fhir.ResourceFromObject(obj)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(fhir.ValidateOptions{Strict: strict}); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", r.Type(), r.ID(), err)
	}
	return r, nil
}
