package freetext

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hbollon/go-edlib"
	"github.com/kljensen/snowball/english"
)

// Status is the context of a mention.
type Status string

const (
	Present      Status = "present"
	Negated      Status = "negated"
	Hypothetical Status = "hypothetical"
	Historical   Status = "historical"
	OtherPerson  Status = "other-person"
)

// Text is one free-text input and the field it came from (problem,
// tried, ice...).
type Text struct {
	Field, Text string
}

// Evidence is one mention: the words as written, where, and its context.
type Evidence struct {
	Field string
	// Words are the written words the match spans.
	Words  string
	Status Status
	// Context is the words that gave the status ("no", "years ago").
	Context string
	// Pattern is the lexicon pattern that matched.
	Pattern string
}

// Finding is a concept the text mentions, with its mentions. Status is
// present when any mention is.
type Finding struct {
	Concept  *Concept
	Status   Status
	Evidence []Evidence
}

// Cite is the finding as a rule cites it: "'pains in my chest' → Chest
// pain".
func (f Finding) Cite() string {
	words := make([]string, 0, len(f.Evidence))
	for _, e := range f.Evidence {
		words = appendNew(words, "'"+e.Words+"'")
	}
	return strings.Join(words, ", ") + " → " + f.Concept.Display
}

// Analysis is what the lexicon found in a request's texts.
type Analysis struct {
	Lexicon *Lexicon
	// Findings are the concepts mentioned (not context words), in the
	// order first mentioned.
	Findings []Finding
	// Unaccounted are mentions of clinical content (a symptom word, a body
	// site, a medical-looking word) that no more specific concept of the
	// lexicon covers: what an automated decision cannot account for.
	Unaccounted []Evidence
	// AgeDays is the patient's age as the text gives it ("5 weeks old"),
	// -1 when it gives none.
	AgeDays int
	// Truncated names the fields read only to MaxText.
	Truncated []string
	// Words are the stems of the text's content words (not function
	// words, not words any request may use such as "still" or "help"),
	// for telling whether two requests are about the same thing.
	Words map[string]bool
}

// Present is the findings of a class that are present.
func (a *Analysis) Present(class string) []Finding {
	var out []Finding
	for _, f := range a.Findings {
		if f.Concept.Class == class && f.Status == Present {
			out = append(out, f)
		}
	}
	return out
}

// Has reports whether a present finding of the class and kind exists
// (kind "" for any).
func (a *Analysis) Has(class, kind string) bool {
	for _, f := range a.Findings {
		if f.Concept.Class == class && f.Status == Present && (kind == "" || f.Concept.Kind == kind) {
			return true
		}
	}
	return false
}

// match is one pattern's match in a text.
type match struct {
	p          *pattern
	start, end int // token range
	toks       []int
	// parts are the token ranges of the pattern's slots.
	parts []span
}

// Analyse finds the lexicon's concepts in texts.
func (l *Lexicon) Analyse(texts ...Text) *Analysis {
	a := &Analysis{Lexicon: l, AgeDays: -1, Words: map[string]bool{}}
	index := map[string]int{}
	for _, t := range texts {
		if strings.TrimSpace(t.Text) == "" {
			continue
		}
		l.analyseOne(a, t, index)
	}
	return a
}

// MaxText is the most of one text that is read, in bytes: a request's
// words fit in far less, and one request's cost stays bounded whatever
// it holds. A longer text is read to that point, with a warning.
const MaxText = 16 << 10

// maxCorrectLen is the longest word a misspelling is looked for in (the
// look-up grows with the square of the word's length).
const maxCorrectLen = 24

func (l *Lexicon) analyseOne(a *Analysis, text Text, index map[string]int) {
	if len(text.Text) > MaxText {
		cut := MaxText
		for cut > 0 && !utf8.RuneStart(text.Text[cut]) {
			cut--
		}
		text.Text = text.Text[:cut]
		a.Truncated = append(a.Truncated, text.Field)
	}
	toks := tokenize(text.Text)
	for i := range toks {
		l.correct(&toks[i])
	}
	matches := l.matchAll(toks)
	ctx := l.context(toks, matches)

	// Ignored phrases ("fit note") take their words out of clinical
	// matching.
	ignored := make([]bool, len(toks))
	for _, m := range matches {
		if m.p.concept.Class == ClassIgnore {
			for _, t := range m.toks {
				ignored[t] = true
			}
		}
	}
	covered := make([]bool, len(toks)) // by a specific concept
	var generic []match
	for _, m := range matches {
		c := m.p.concept
		if c.Class == ClassContext || c.Class == ClassIgnore || anyIgnored(m.toks, ignored) {
			continue
		}
		st, cue := ctx.status(m)
		ev := Evidence{Field: text.Field, Words: words(text.Text, toks, m), Status: st, Context: cue, Pattern: m.p.text}
		if c.Class != ClassSymptomWord && c.Class != ClassBodySite {
			for _, t := range m.toks {
				covered[t] = true
			}
		}
		if c.Class == ClassSymptomWord || c.Class == ClassBodySite {
			generic = append(generic, m)
		}
		if c.Class == ClassSymptomWord {
			continue // accounted for below, not a finding of its own
		}
		i, ok := index[c.Code]
		if !ok {
			index[c.Code] = len(a.Findings)
			a.Findings = append(a.Findings, Finding{Concept: c, Status: st, Evidence: []Evidence{ev}})
			continue
		}
		f := &a.Findings[i]
		if st == Present && f.Status != Present {
			f.Status = st
		}
		if len(f.Evidence) < 4 && !hasWords(f.Evidence, ev.Words) {
			f.Evidence = append(f.Evidence, ev)
		}
	}
	for _, m := range generic {
		if st, _ := ctx.status(m); st != Present || allCovered(m.toks, covered) {
			continue
		}
		ev := Evidence{Field: text.Field, Words: words(text.Text, toks, m), Status: Present, Pattern: m.p.text}
		if !hasWords(a.Unaccounted, ev.Words) {
			a.Unaccounted = append(a.Unaccounted, ev)
		}
	}
	// Medical-looking words the lexicon does not know.
	for i, t := range toks {
		if covered[i] || ignored[i] || t.num || l.stems[t.stem] || !medicalLooking(t.word) {
			continue
		}
		if st, _ := ctx.status(match{start: i, end: i + 1, toks: []int{i}}); st != Present {
			continue
		}
		ev := Evidence{Field: text.Field, Words: text.Text[t.start:t.end], Status: Present, Pattern: "unknown medical word"}
		if !hasWords(a.Unaccounted, ev.Words) {
			a.Unaccounted = append(a.Unaccounted, ev)
		}
	}
	for i, t := range toks {
		if !ignored[i] && !t.num && len(t.stem) >= 4 && !english.IsStopWord(t.word) && !genericWords[t.stem] {
			a.Words[t.stem] = true
		}
	}
	if d := ageDays(toks); d >= 0 && (a.AgeDays < 0 || d < a.AgeDays) {
		a.AgeDays = d
	}
}

func anyIgnored(ts []int, ignored []bool) bool {
	for _, t := range ts {
		if ignored[t] {
			return true
		}
	}
	return false
}

func allCovered(ts []int, covered []bool) bool {
	for _, t := range ts {
		if !covered[t] {
			return false
		}
	}
	return true
}

func hasWords(evs []Evidence, w string) bool {
	for _, e := range evs {
		if e.Words == w {
			return true
		}
	}
	return false
}

// words is the written text a match spans.
func words(text string, toks []token, m match) string {
	s := text[toks[m.start].start:toks[m.end-1].end]
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.Join(strings.Fields(s), " ")
}

// genericWords are stems of words any request may use: sharing them says
// nothing about two requests being about the same problem.
var genericWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`still again realli veri bad wors better help need want pleas thank know think feel
		feel get got week day month year time today yesterday morn night ago sinc last work home doctor nurs appoint
		call phone phone ring book see seen talk speak advic letter form anyth someth thing like just also even much
		mani littl bit lot quit alway never everi could would should might take took tri use start stop keep kept
		look said say tell told come came go went make made give gave pain sore hurt ach symptom problem issu
		worri concern question referr refer prescript medic tablet medicin repeat review check test result`) {
		genericWords[w] = true
	}
}

// medicalSuffixes mark a word as medical vocabulary (arthritis,
// neuralgia, haematuria...).
var medicalSuffixes = []string{"itis", "algia", "aemia", "emia", "oma", "osis", "pathy", "plegia", "rrhoea", "rrhea",
	"uria", "ectomy", "oscopy", "ostomy", "cele", "opia", "trophy", "penia", "cocci", "coccal"}

func medicalLooking(w string) bool {
	if len(w) < 6 || !isLetters(w) {
		return false
	}
	for _, s := range medicalSuffixes {
		if strings.HasSuffix(w, s) {
			return true
		}
	}
	return false
}

// correct spells a word the lexicon does not know as the vocabulary word
// it is a misspelling of, and stems it.
func (l *Lexicon) correct(t *token) {
	if t.num {
		t.stem = t.word
		return
	}
	t.stem = stem(t.word)
	if l.vocab[t.word] || l.stems[t.stem] || len(t.word) < minCorrect-1 || len(t.word) > maxCorrectLen || !isLetters(t.word) {
		return
	}
	if len(t.word) == minCorrect-1 {
		// Four letters: only a dropped letter or two swapped ("stif",
		// "pian", "dizy"), which real four-letter words rarely are.
		if w, ok := l.nearest4(t.word); ok {
			t.word, t.stem, t.corrected = w, stem(w), true
		}
		return
	}
	if w, ok := l.nearest(t.word); ok {
		t.word, t.stem, t.corrected = w, stem(w), true
		return
	}
	if len(t.stem) >= minCorrect {
		if s, ok := l.nearest(t.stem); ok {
			t.stem, t.corrected = s, true
		}
	}
}

// nearest is the vocabulary word (or stem) closest to w within the
// allowed distance, sharing its first letter.
func (l *Lexicon) nearest(w string) (string, bool) {
	limit := 1
	if len(w) >= minCorrect2 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, d := range deletions(w, limit == 2) {
		for _, cand := range l.deletes[d] {
			if cand[0] != w[0] || cand == w {
				continue
			}
			if dist := edlib.OSADamerauLevenshteinDistance(w, cand); dist < bestD || (dist == bestD && cand < best) {
				best, bestD = cand, dist
			}
		}
	}
	return best, bestD <= limit
}

// nearest4 corrects a four-letter word: to a five-letter vocabulary word
// it is that word with one letter dropped, or a four-letter one with two
// adjacent letters swapped.
func (l *Lexicon) nearest4(w string) (string, bool) {
	best := ""
	for _, cand := range l.deletes[w] {
		if len(cand) == len(w)+1 && cand[0] == w[0] && (best == "" || cand < best) {
			best = cand
		}
	}
	if best != "" {
		return best, true
	}
	for i := 1; i+1 < len(w); i++ {
		b := []byte(w)
		b[i], b[i+1] = b[i+1], b[i]
		if s := string(b); s != w && (l.vocab[s] || l.stems[s]) {
			return s, true
		}
	}
	return "", false
}

// elemMatch is an element matched at a position, ending at end.
type elemMatch struct{ elem, end int }

// matchAll finds every pattern's matches in a text.
func (l *Lexicon) matchAll(toks []token) []match {
	n := len(toks)
	at := make([][]elemMatch, n)
	for i := 0; i < n; i++ {
		node := l.root
		for j := i; j < n && toks[j].sentence == toks[i].sentence; j++ {
			node = node.next[toks[j].stem]
			if node == nil {
				break
			}
			for _, e := range node.elems {
				at[i] = append(at[i], elemMatch{e, j + 1})
			}
		}
		if toks[i].num {
			at[i] = append(at[i], elemMatch{l.numElem, i + 1})
		}
	}
	// Slot occurrences.
	type occ struct{ start, end int }
	occs := map[int][]occ{}
	try := func(sid, i int) {
		if end, ok := l.matchSlot(at, toks, &l.slots[sid], 0, i, toks[i].sentence); ok {
			occs[sid] = append(occs[sid], occ{i, end})
		}
	}
	var seen []int // the slots tried at one position (a handful)
	for i := 0; i < n; i++ {
		seen = seen[:0]
		tryOnce := func(sid int) {
			for _, x := range seen {
				if x == sid {
					return
				}
			}
			seen = append(seen, sid)
			try(sid, i)
		}
		for _, em := range at[i] {
			if em.elem == l.numElem {
				for _, sid := range l.numFirst {
					tryOnce(sid)
				}
				continue
			}
			for _, sid := range l.byFirst[em.elem] {
				tryOnce(sid)
			}
		}
	}
	if len(occs) == 0 {
		return nil
	}
	// Only the patterns whose first slot occurred can match.
	var cands []int
	for sid := range occs {
		cands = append(cands, l.byFirstSlot[sid]...)
	}
	sort.Ints(cands) // the lexicon's order, so findings come out in it
	var out []match
	for _, pi := range cands {
		p := &l.patterns[pi]
		first := occs[p.slots[0]]
		complete := true
		for _, s := range p.slots[1:] {
			if _, ok := occs[s]; !ok {
				complete = false
				break
			}
		}
		if !complete {
			continue
		}
		for _, o := range first {
			m := match{p: p, start: o.start, end: o.end}
			parts := []occ{o}
			ok := true
			for _, s := range p.slots[1:] {
				// The nearest occurrence in the same sentence.
				best, bestD := occ{}, -1
				for _, x := range occs[s] {
					if toks[x.start].sentence != toks[o.start].sentence {
						continue
					}
					d := x.start - o.start
					if d < 0 {
						d = o.start - x.end
					}
					if bestD < 0 || d < bestD {
						best, bestD = x, d
					}
				}
				if bestD < 0 {
					ok = false
					break
				}
				parts = append(parts, best)
				m.start, m.end = min(m.start, best.start), max(m.end, best.end)
			}
			if !ok || m.end-m.start > p.within {
				continue
			}
			negates := false
			for _, x := range parts {
				for t := x.start; t < x.end; t++ {
					m.toks = append(m.toks, t)
					negates = negates || negationWords[toks[t].stem]
				}
			}
			// A match with a negation word of its own ("not breathing",
			// "no wet nappies") holds within one clause, so another
			// clause's "no" ("no fever, feeding well") is not taken for
			// its own.
			if negates && toks[m.start].clause != toks[m.end-1].clause {
				continue
			}
			sort.Ints(m.toks)
			for _, x := range parts {
				m.parts = append(m.parts, span(x))
			}
			out = append(out, m)
		}
	}
	return out
}

// matchSlot matches s's elements from k on at position i, in sentence
// sent; it gives the end of the shortest match.
func (l *Lexicon) matchSlot(at [][]elemMatch, toks []token, s *slot, k, i, sent int) (int, bool) {
	if i >= len(toks) || toks[i].sentence != sent {
		return 0, false
	}
	for _, em := range at[i] {
		if em.elem != s.elems[k] {
			continue
		}
		if k+1 == len(s.elems) {
			return em.end, true
		}
		last := em.end
		if s.gap[k+1] {
			last = em.end + maxGap
		}
		for j := em.end; j <= last && j < len(toks); j++ {
			if end, ok := l.matchSlot(at, toks, s, k+1, j, sent); ok {
				return end, true
			}
		}
	}
	return 0, false
}

// ageDays reads an age from the words: "5 weeks old", "6 week old baby",
// "aged 2 months", "3 day old"; -1 when none.
func ageDays(toks []token) int {
	unitDays := func(s string) float64 {
		switch strings.TrimSuffix(s, "s") {
		case "day", "dy", "d":
			return 1
		case "week", "wk", "w", "wek":
			return 7
		case "month", "mth", "mnth", "mo", "m", "mon":
			return 30.4
		case "year", "yr", "y", "yo":
			return 365.25
		}
		return 0
	}
	best := -1
	for i, t := range toks {
		if !t.num {
			continue
		}
		u, next := unitDays(t.unit), i+1
		if u == 0 && next < len(toks) {
			u, next = unitDays(toks[next].word), next+1
		}
		if u == 0 {
			continue
		}
		aged := i > 0 && (toks[i-1].word == "aged" || toks[i-1].word == "age")
		old := next < len(toks) && (toks[next].word == "old" || isInfantWord(toks[next].word))
		if strings.HasSuffix(strings.TrimSuffix(t.unit, "s"), "yo") || t.unit == "yo" {
			old = true
		}
		if !aged && !old {
			continue
		}
		if d := int(t.value * u); best < 0 || d < best {
			best = d
		}
	}
	return best
}

func isInfantWord(w string) bool {
	switch w {
	case "baby", "babies", "infant", "newborn", "boy", "girl", "son", "daughter", "child", "grandson", "granddaughter":
		return true
	}
	return false
}
