package freetext

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/snomed/sctid"
)

// Source is a lexicon as written: synonym groups and concepts with their
// patterns. It is what lexicon.txt parses to and what the clinical-lexicon
// CodeSystem holds; Compile turns it into a Lexicon.
type Source struct {
	Version  string
	Groups   []Group
	Concepts []Concept
}

// Group is a named set of alternatives a pattern refers to as @name.
type Group struct {
	Name         string
	Alternatives []string
}

// Classes of concept.
const (
	ClassRedFlag      = "red-flag"
	ClassMedicine     = "medicine"
	ClassUrgentSupply = "urgent-supply"
	ClassComplexNeed  = "complex-need"
	ClassPopulation   = "population"
	ClassSymptom      = "symptom"
	ClassSymptomWord  = "symptom-word"
	ClassBodySite     = "body-site"
	ClassContext      = "context"
	// ClassIgnore marks phrases whose words are not clinical content
	// ("fit note", "keep fit"): no other concept matches inside them.
	ClassIgnore = "ignore"
)

var classes = map[string]bool{ClassRedFlag: true, ClassMedicine: true, ClassUrgentSupply: true, ClassComplexNeed: true,
	ClassPopulation: true, ClassSymptom: true, ClassSymptomWord: true, ClassBodySite: true, ClassContext: true, ClassIgnore: true}

// Context kinds (class context).
const (
	KindNegation        = "negation"
	KindPostNegation    = "post-negation"
	KindPseudoNegation  = "pseudo-negation"
	KindHypothetical    = "hypothetical"
	KindNotHypothetical = "not-hypothetical"
	KindHistorical      = "historical"
	KindPresent         = "present"
	KindOtherPerson     = "other-experiencer"
	KindScopeEnd        = "scope-end"
)

var contextKinds = map[string]bool{KindNegation: true, KindPostNegation: true, KindPseudoNegation: true, KindHypothetical: true,
	KindNotHypothetical: true, KindHistorical: true, KindPresent: true, KindOtherPerson: true, KindScopeEnd: true}

// Populations a red flag may depend on (Concept.With), and the population
// kinds the lexicon recognises in words.
const (
	PopulationPregnancy = "pregnancy"
	PopulationInfant    = "infant-under-3-months"
	PopulationChild     = "child"
	KindInfant          = "infant"
)

var populations = map[string]bool{PopulationPregnancy: true, PopulationInfant: true, PopulationChild: true}

// Concept is one entry of the lexicon.
type Concept struct {
	Code, Display string
	Class, Kind   string
	// Urgency of a red flag: emergency or same-day.
	Urgency string
	// With: the red flag holds only when this population does.
	With string
	// SNOMED is the verified SNOMED CT concept the finding maps to
	// ("" for none: the local code is its coding); SNOMEDDisplay its term.
	SNOMED, SNOMEDDisplay string
	// AcceptedBy lists where an automated decision may direct a patient
	// away for this (navigation categories, SNOMED CT service types).
	AcceptedBy []string
	// Site is the body-site concept the finding is about, if any.
	Site string
	// Within is the window, in words, in which a pattern's slots must
	// all occur (0: the default).
	Within int
	Source string
	Match  []string
}

// DefaultWithin is a pattern's window when the concept gives none.
const DefaultWithin = 10

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ParseText reads a lexicon in its written form (lexicon.txt; the format
// is described at the top of that file).
func ParseText(text string) (*Source, error) {
	src := &Source{}
	var cur *Concept
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	errf := func(format string, args ...any) error {
		return fmt.Errorf("lexicon line %d: %s", line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		raw := sc.Text()
		s := strings.TrimSpace(raw)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		key, val, ok := strings.Cut(s, ":")
		if !ok {
			return nil, errf("expected 'key: value', got %q", s)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !indented && key == "version":
			src.Version = val
			cur = nil
		case !indented && strings.HasPrefix(key, "group "):
			name := strings.TrimSpace(strings.TrimPrefix(key, "group "))
			if !nameRE.MatchString(name) {
				return nil, errf("group name %q: use lower-case letters, digits and hyphens", name)
			}
			var alts []string
			for _, a := range strings.Split(val, ",") {
				if a = strings.TrimSpace(a); a != "" {
					alts = append(alts, a)
				}
			}
			if len(alts) == 0 {
				return nil, errf("group %s has no alternatives", name)
			}
			src.Groups = append(src.Groups, Group{Name: name, Alternatives: alts})
			cur = nil
		case !indented && strings.HasPrefix(key, "concept "):
			code := strings.TrimSpace(strings.TrimPrefix(key, "concept "))
			if !nameRE.MatchString(code) {
				return nil, errf("concept code %q: use lower-case letters, digits and hyphens", code)
			}
			src.Concepts = append(src.Concepts, Concept{Code: code, Display: val})
			cur = &src.Concepts[len(src.Concepts)-1]
		case indented && cur != nil:
			if err := cur.set(key, val); err != nil {
				return nil, errf("%v", err)
			}
		default:
			return nil, errf("unexpected %q (concept properties are indented under a concept line)", s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return src, nil
}

// set sets one property of c from its written form.
func (c *Concept) set(key, val string) error {
	switch key {
	case "class":
		c.Class = val
	case "kind":
		c.Kind = val
	case "urgency":
		c.Urgency = val
	case "with":
		c.With = val
	case "snomed":
		id, term, _ := strings.Cut(val, " ")
		c.SNOMED, c.SNOMEDDisplay = id, strings.TrimSpace(term)
	case "accepted-by":
		for _, a := range strings.Split(val, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.AcceptedBy = append(c.AcceptedBy, a)
			}
		}
	case "site":
		c.Site = val
	case "within":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 40 {
			return fmt.Errorf("within %q: a number of words from 1 to 40", val)
		}
		c.Within = n
	case "source":
		c.Source = val
	case "match":
		c.Match = append(c.Match, val)
	default:
		return fmt.Errorf("unknown concept property %q", key)
	}
	return nil
}

// check reports what is wrong with a source as a whole (Compile calls it).
func (src *Source) check() error {
	groups := map[string]bool{}
	for _, g := range src.Groups {
		if groups[g.Name] {
			return fmt.Errorf("group %s is defined twice", g.Name)
		}
		groups[g.Name] = true
	}
	codes := map[string]bool{}
	for _, c := range src.Concepts {
		if codes[c.Code] {
			return fmt.Errorf("concept %s is defined twice", c.Code)
		}
		codes[c.Code] = true
		if !classes[c.Class] {
			return fmt.Errorf("concept %s: class %q is not one of red-flag, medicine, urgent-supply, complex-need, population, symptom, symptom-word, body-site, context, ignore", c.Code, c.Class)
		}
		if c.Class == ClassContext && !contextKinds[c.Kind] {
			return fmt.Errorf("concept %s: context kind %q is not known", c.Code, c.Kind)
		}
		if c.Class == ClassRedFlag && c.Urgency != "emergency" && c.Urgency != "same-day" {
			return fmt.Errorf("concept %s: a red flag's urgency is emergency or same-day, not %q", c.Code, c.Urgency)
		}
		if c.With != "" && !populations[c.With] {
			return fmt.Errorf("concept %s: population %q is not one of pregnancy, infant-under-3-months, child", c.Code, c.With)
		}
		if c.SNOMED != "" && !isConcept(c.SNOMED) {
			return fmt.Errorf("concept %s: %q is not a well-formed SNOMED CT id", c.Code, c.SNOMED)
		}
		if len(c.Match) == 0 {
			return fmt.Errorf("concept %s has no match pattern", c.Code)
		}
	}
	for _, c := range src.Concepts {
		if c.Site != "" && !codes[c.Site] {
			return fmt.Errorf("concept %s: site %s is not a concept of the lexicon", c.Code, c.Site)
		}
	}
	return nil
}

// Merge is base with extra's additions: extra's groups add alternatives
// to base's (or are new), and extra's concepts add patterns, accepted-by
// entries and a SNOMED CT mapping to base's concepts of the same code (or
// are new). Nothing of base is removed or weakened: a stored lexicon
// extends the shipped one, so a reviewed addition cannot switch a shipped
// red flag off.
//
// An addition that could discount what the shipped lexicon finds is
// refused: an ignored phrase, or a context word that denies, makes
// hypothetical or historical, or gives to another person. Those change
// with a release, measured on the corpus; a stored lexicon may add
// anything that finds more (red flags, medicines, needs, symptoms, body
// sites, and the context words that keep mentions present: pseudo-
// negations, not-hypothetical, present, scope ends).
func Merge(base, extra *Source) (*Source, error) {
	baseCodes := map[string]bool{}
	for _, c := range base.Concepts {
		baseCodes[c.Code] = true
	}
	for _, c := range extra.Concepts {
		discounting := c.Class == ClassIgnore || c.Class == ClassContext && (c.Kind == KindNegation || c.Kind == KindPostNegation ||
			c.Kind == KindHypothetical || c.Kind == KindHistorical || c.Kind == KindOtherPerson)
		if !discounting {
			continue
		}
		// The shipped concept, unchanged, is no addition.
		if baseCodes[c.Code] && !addsMatches(base, c) {
			continue
		}
		return nil, fmt.Errorf("concept %s: a stored lexicon may not add %s patterns (%s %s): they could discount red flags the shipped lexicon finds; such a change is made in a release, measured on the corpus", c.Code, orWord(c.Kind, c.Class), c.Class, c.Kind)
	}
	guarded := discountingGroups(base)
	for _, g := range extra.Groups {
		if !guarded[g.Name] {
			continue
		}
		for _, b := range base.Groups {
			if b.Name == g.Name && len(appendNew(append([]string(nil), b.Alternatives...), g.Alternatives...)) > len(b.Alternatives) {
				return nil, fmt.Errorf("group %s: a stored lexicon may not add to a group that ignored phrases or discounting context words use", g.Name)
			}
		}
	}
	out := &Source{Version: base.Version}
	if extra.Version != "" && extra.Version != base.Version {
		out.Version = base.Version + "+" + extra.Version
	}
	gi := map[string]int{}
	for _, g := range base.Groups {
		gi[g.Name] = len(out.Groups)
		out.Groups = append(out.Groups, Group{Name: g.Name, Alternatives: append([]string(nil), g.Alternatives...)})
	}
	for _, g := range extra.Groups {
		if i, ok := gi[g.Name]; ok {
			out.Groups[i].Alternatives = appendNew(out.Groups[i].Alternatives, g.Alternatives...)
			continue
		}
		gi[g.Name] = len(out.Groups)
		out.Groups = append(out.Groups, Group{Name: g.Name, Alternatives: append([]string(nil), g.Alternatives...)})
	}
	ci := map[string]int{}
	for _, c := range base.Concepts {
		ci[c.Code] = len(out.Concepts)
		c.Match = append([]string(nil), c.Match...)
		c.AcceptedBy = append([]string(nil), c.AcceptedBy...)
		out.Concepts = append(out.Concepts, c)
	}
	for _, c := range extra.Concepts {
		i, ok := ci[c.Code]
		if !ok {
			ci[c.Code] = len(out.Concepts)
			out.Concepts = append(out.Concepts, c)
			continue
		}
		b := &out.Concepts[i]
		b.Match = appendNew(b.Match, c.Match...)
		if b.Class != ClassRedFlag && b.Class != ClassContext {
			// A red flag is never made acceptable away from the practice.
			b.AcceptedBy = appendNew(b.AcceptedBy, c.AcceptedBy...)
		}
		if b.SNOMED == "" && c.SNOMED != "" {
			b.SNOMED, b.SNOMEDDisplay = c.SNOMED, c.SNOMEDDisplay
		}
	}
	return out, nil
}

// discountingGroups are the groups the patterns of base's discounting
// concepts use, directly or through other groups.
func discountingGroups(base *Source) map[string]bool {
	alts := map[string][]string{}
	for _, g := range base.Groups {
		alts[g.Name] = g.Alternatives
	}
	out := map[string]bool{}
	var visit func(text string)
	visit = func(text string) {
		for _, f := range strings.Fields(text) {
			if name, ok := strings.CutPrefix(f, "@"); ok && !out[name] {
				out[name] = true
				for _, a := range alts[name] {
					visit(a)
				}
			}
		}
	}
	for _, c := range base.Concepts {
		if c.Class == ClassIgnore || c.Class == ClassContext && (c.Kind == KindNegation || c.Kind == KindPostNegation ||
			c.Kind == KindHypothetical || c.Kind == KindHistorical || c.Kind == KindOtherPerson) {
			for _, m := range c.Match {
				visit(m)
			}
		}
	}
	return out
}

// addsMatches reports whether c has patterns its namesake in base lacks.
func addsMatches(base *Source, c Concept) bool {
	for _, b := range base.Concepts {
		if b.Code != c.Code {
			continue
		}
		for _, m := range c.Match {
			found := false
			for _, x := range b.Match {
				found = found || x == m
			}
			if !found {
				return true
			}
		}
		return false
	}
	return true
}

func orWord(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func appendNew(l []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, x := range l {
			found = found || x == a
		}
		if !found {
			l = append(l, a)
		}
	}
	return l
}

// isConcept reports whether id is a well-formed SNOMED CT concept id
// (check digit and partition; membership of a release is not checked).
func isConcept(id string) bool {
	_, err := sctid.ParseConcept(id)
	return err == nil
}
