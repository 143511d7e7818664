package mapping

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// What the free text of a request means for the safety rules (safety rule
// 9): red flags, life-critical medicines and complex needs in the words
// patients and carers use, with their context; the populations no
// protocol can switch off; the same problem in other words; and what an
// automated decision cannot account for.

// shippedLexicon is the shipped lexicon; it is part of the build, so a
// failure to compile it is a defect caught by the tests.
func shippedLexicon() *freetext.Lexicon {
	l, err := freetext.ShippedLexicon()
	if err != nil {
		panic("mapping: the shipped clinical lexicon does not compile: " + err.Error())
	}
	return l
}

// text is what the free text says; an assessment made without Assess
// has an empty analysis.
func (a *Assessment) text() *freetext.Analysis {
	if a.Text == nil {
		return &freetext.Analysis{Lexicon: shippedLexicon(), AgeDays: -1}
	}
	return a.Text
}

// requestTexts are the free-text inputs of a request.
func requestTexts(r *Request) []freetext.Text {
	return []freetext.Text{{Field: "problem", Text: r.Problem}, {Field: "tried", Text: r.Tried}, {Field: "ice", Text: r.ICE}}
}

// pregnancyFinding is the verified SNOMED CT finding "Patient currently
// pregnant".
const pregnancyFinding = "77386006"

// infantDays is the age, in days, under which a fever is a red flag
// whatever the protocol says (NICE: fever in a baby under 3 months).
const infantDays = 91

// childYears is the age under which a patient is a child.
const childYears = 16

// population reports whether a population a red flag depends on holds,
// and why.
func (a *Assessment) population(p string) (bool, string) {
	t := a.text()
	switch p {
	case freetext.PopulationPregnancy:
		switch {
		case t.Has(freetext.ClassPopulation, freetext.PopulationPregnancy):
			return true, "pregnant (" + firstCite(t, freetext.ClassPopulation, freetext.PopulationPregnancy) + ")"
		case a.Need.Known && (a.Need.Code == "6" || a.Need.Code == "7"):
			return true, "pregnant (need group " + a.Need.Code + ")"
		case slices.Contains(a.Need.Findings, pregnancyFinding):
			return true, "pregnant (the record)"
		}
		for _, s := range a.Request.Symptoms {
			if s.Code == pregnancyFinding {
				return true, "pregnant (coded)"
			}
		}
	case freetext.PopulationInfant:
		if days, ok := a.ageDays(); ok && days < infantDays {
			return true, "a baby of " + ageWords(days)
		}
		if t.AgeDays >= 0 && t.AgeDays < infantDays {
			return true, "a baby of " + ageWords(t.AgeDays) + " (as the request says)"
		}
		if t.Has(freetext.ClassPopulation, freetext.KindInfant) {
			return true, "a newborn (" + firstCite(t, freetext.ClassPopulation, freetext.KindInfant) + ")"
		}
	case freetext.PopulationChild:
		if _, ok := a.ageDays(); ok && a.HasAge && a.Age < childYears {
			return true, "a child of " + ageWordsAt(a.Patient.BirthDate, a.now)
		}
		if a.HasAge && a.Age < childYears {
			return true, "a child of " + plural(a.Age, "year")
		}
		if t.AgeDays >= 0 && t.AgeDays < childYears*365 {
			return true, "a child (as the request says)"
		}
		if t.Has(freetext.ClassPopulation, freetext.PopulationChild) || t.Has(freetext.ClassPopulation, freetext.KindInfant) {
			return true, "a child (" + firstCite(t, freetext.ClassPopulation, "") + ")"
		}
	}
	return false, ""
}

// ageDays is the patient's age in days from the birth date.
func (a *Assessment) ageDays() (int, bool) {
	if a.Patient.BirthDate.IsZero() || a.now.IsZero() {
		return 0, false
	}
	return int(a.now.Sub(a.Patient.BirthDate).Hours() / 24), true
}

func firstCite(t *freetext.Analysis, class, kind string) string {
	for _, f := range t.Present(class) {
		if kind == "" || f.Concept.Kind == kind {
			return f.Cite()
		}
	}
	return ""
}

// cite is a finding as the rules cite it, with its SNOMED CT concept or
// its lexicon code.
func cite(f freetext.Finding) string {
	if f.Concept.SNOMED != "" {
		return fmt.Sprintf("%s (SNOMED CT %s)", f.Cite(), f.Concept.SNOMED)
	}
	return fmt.Sprintf("%s (clinical-lexicon %s)", f.Cite(), f.Concept.Code)
}

// assessText reads the text's findings into the assessment.
func (a *Assessment) assessText() {
	t := a.text()
	for _, f := range t.Findings {
		c := f.Concept
		switch c.Class {
		case freetext.ClassRedFlag:
			if f.Status != freetext.Present {
				e := f.Evidence[0]
				a.Denied = append(a.Denied, fmt.Sprintf("%s: %s ('%s')", cite(f), f.Status, e.Context))
				continue
			}
			text := cite(f)
			if c.With != "" {
				ok, why := a.population(c.With)
				if !ok {
					continue // an ordinary symptom outside the population
				}
				text += ", in " + why
			}
			if c.Urgency == "same-day" {
				text += " (same day)"
			} else {
				a.EmergencyFlag = true
			}
			a.RedFlags = append(a.RedFlags, text)
		case freetext.ClassMedicine:
			// "haven't got any insulin" and "in case I run out of my
			// Keppra" are requests about the medicine all the same:
			// only another person's medicine does not count.
			if f.Status != freetext.OtherPerson {
				a.LifeCritical = append(a.LifeCritical, cite(f))
			}
		}
	}
}

// textComplexNeeds are the complex needs the text names. A need of the
// patient's is theirs whenever it was diagnosed ("history of psychosis",
// "sectioned last year"): only a denied or another person's does not
// count.
func (a *Assessment) textComplexNeeds() []string {
	var out []string
	for _, f := range a.text().Findings {
		if f.Concept.Class == freetext.ClassComplexNeed && f.Status != freetext.Negated && f.Status != freetext.OtherPerson {
			out = append(out, f.Cite()+" (in the request)")
		}
	}
	return out
}

// problem is what identifies a problem across contacts: its coded
// symptoms, the specific findings of its words and the body sites they
// are about.
type problem struct {
	codes, findings, sites, words map[string]string
}

func problemOf(r *Request, t *freetext.Analysis) problem {
	p := problem{codes: map[string]string{}, findings: map[string]string{}, sites: map[string]string{}, words: map[string]string{}}
	for w := range t.Words {
		p.words[w] = w
	}
	for _, s := range r.Symptoms {
		p.codes[s.Code] = orText(s.Display, "SNOMED CT "+s.Code)
	}
	for _, f := range t.Findings {
		if f.Status != freetext.Present {
			continue
		}
		c := f.Concept
		switch c.Class {
		case freetext.ClassBodySite:
			p.sites[c.Code] = c.Display
		case freetext.ClassRedFlag, freetext.ClassSymptom, freetext.ClassMedicine:
			p.findings[c.Code] = c.Display
			if c.SNOMED != "" {
				p.codes[c.SNOMED] = c.Display
			}
			if c.Site != "" {
				if s := t.Lexicon.Concept(c.Site); s != nil {
					p.sites[s.Code] = s.Display
				}
			}
		}
	}
	return p
}

// same says why q is the same problem as p ("" when it is not): a
// shared code, finding or body site. When in doubt it is the same: the
// third contact then reaches a senior clinician.
func (p problem) same(q problem) string {
	shared := func(a, b map[string]string) []string {
		var out []string
		for k, v := range a {
			if _, ok := b[k]; ok {
				out = append(out, v)
			}
		}
		sort.Strings(out)
		return out
	}
	if s := shared(p.codes, q.codes); len(s) > 0 {
		return "the same coded finding: " + strings.Join(s, ", ")
	}
	if s := shared(p.findings, q.findings); len(s) > 0 {
		return "the same finding in its words: " + strings.Join(s, ", ")
	}
	if s := shared(p.sites, q.sites); len(s) > 0 {
		return "the same body site in its words: " + strings.Join(s, ", ")
	}
	if s := shared(p.words, q.words); len(s) > 0 {
		return "the same words: " + strings.Join(s, ", ")
	}
	return ""
}

func snomedCodings(codes []string) []snomed.Coding {
	out := make([]snomed.Coding, 0, len(codes))
	for _, c := range codes {
		out = append(out, snomed.Coding{System: snomed.System, Code: c})
	}
	return out
}

// textCodes are the SNOMED CT codes of the findings present in the text
// (for the protocol's symptoms), and the lexicon codes of every present
// finding (its findings).
func (a *Assessment) textCodes() (snomedCodes, lexiconCodes []string) {
	for _, f := range a.text().Findings {
		if f.Status != freetext.Present || f.Concept.Class == freetext.ClassContext {
			continue
		}
		if f.Concept.Class == freetext.ClassRedFlag && f.Concept.With != "" {
			if ok, _ := a.population(f.Concept.With); !ok {
				lexiconCodes = append(lexiconCodes, f.Concept.Code)
				continue
			}
		}
		lexiconCodes = append(lexiconCodes, f.Concept.Code)
		if f.Concept.SNOMED != "" {
			snomedCodes = append(snomedCodes, f.Concept.SNOMED)
		}
	}
	return snomedCodes, lexiconCodes
}

// clinicalTriage are the service types whose clinicians assess whatever
// the patient describes (NHS 111, remote triage, out of hours, A&E): a
// decision that sends the patient there accounts for any content.
var clinicalTriage = map[string]bool{
	NHS111Service: true, "908981000000101": true, "829961000000104": true, "310000008": true,
}

// unaccounted is what the text says that an automated decision directing
// the patient away (to category, with the service types) does not
// account for: findings outside the destination's accepted conditions
// and clinical words the lexicon does not cover. Empty when the decision
// accounts for all of it.
func (a *Assessment) unaccounted(category Category, serviceTypes []string) []string {
	for _, st := range serviceTypes {
		if clinicalTriage[st] {
			return nil
		}
	}
	accepts := func(c *freetext.Concept) bool {
		for _, x := range c.AcceptedBy {
			if x == string(category) || slices.Contains(serviceTypes, x) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, f := range a.text().Findings {
		c := f.Concept
		if f.Status != freetext.Present {
			continue
		}
		switch c.Class {
		case freetext.ClassSymptom, freetext.ClassRedFlag, freetext.ClassMedicine:
			if !accepts(c) {
				out = append(out, f.Cite()+" (not among what "+string(category)+" accepts)")
			}
		}
	}
	for _, e := range a.text().Unaccounted {
		out = append(out, "'"+e.Words+"' (not recognised)")
	}
	for _, f := range a.text().Truncated {
		out = append(out, "the "+f+" text (too long to be read whole)")
	}
	return out
}

// earlierProblemBytes is how much of an earlier request's problem is read
// to tell whether it is the same problem: its first words say what it is,
// and a patient's many earlier requests stay cheap to compare.
const earlierProblemBytes = 2048

func earlierText(s string) string {
	if len(s) <= earlierProblemBytes {
		return s
	}
	cut := earlierProblemBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
