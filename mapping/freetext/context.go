package freetext

// Context: whether a mention is about this patient, now. NegEx-style
// triggers come from the lexicon's context concepts; their scopes are
// worked out here:
//
//   - negation ("no", "denies", "without"): the words after it, up to
//     negationScope words, to the end of the clause or a scope-end word
//     ("but", "just"), so "no fever, just a blocked nose" denies only
//     the fever; post-negation ("CP denied", "SOB nil"): the few words
//     before it in the clause;
//   - pseudo-negations ("not sure", "no better", "can not") are not
//     triggers, so "can't breathe" and "not sure if it's chest pain" are
//     present;
//   - hypothetical ("if it gets worse", "in case"): the rest of the
//     clause, except uncertainty ("not sure if", "wonder if");
//   - historical ("years ago", "history of", a year such as "in 2012")
//     and another person's ("family history", "died of"): the whole
//     clause, cut also at scope-end words, unless that clause also says
//     the matter is current ("today", "this morning") or the sentence
//     says it is back ("again", "it's back", "returned").
//
// A mention takes a status only when every one of its words is in the
// scope of such a trigger, and the trigger is not one of the mention's
// own words ("not breathing", "no urine" are whole patterns; in "no
// fever, no cough" each "no" denies its own word). Otherwise it
// is present: when in doubt, a mention counts.

const (
	negationScope     = 6
	postNegationScope = 6
	hypotheticalScope = 12
)

type span struct{ start, end int }

// recent reports whether a historical trigger dates something within
// the last weeks ("an hour ago", "2 days ago", "last night"), or is a
// pregnancy's weeks ("at 28 weeks"): that is now, for a red flag.
func recent(toks []token, tr span) bool {
	for i := max(0, tr.start-3); i < tr.end+1 && i < len(toks); i++ {
		if shortUnits[toks[i].stem] || shortUnits[toks[i].unit] {
			return true
		}
	}
	return false
}

// shortUnits are the stems of units of time too short to make a mention
// history.
var shortUnits = map[string]bool{"minut": true, "min": true, "mins": true, "hour": true, "hr": true, "hrs": true, "h": true,
	"day": true, "dai": true, "week": true, "wk": true, "wks": true, "night": true, "tonight": true, "yesterday": true,
	"morn": true, "morning": true, "moment": true, "second": true, "sec": true, "fortnight": true, "afternoon": true, "even": true, "evening": true}

// backVerbs come before "back" when a problem has returned.
var backVerbs = map[string]bool{"is": true, "are": true, "has": true, "have": true, "came": true, "come": true, "been": true, "it": true}

// recurrence are the stems of words saying a past problem is back.
var recurrence = map[string]bool{"again": true, "back": true, "return": true, "recur": true, "recurr": true}

type contextInfo struct {
	toks []token
	// by[kind][token] are the trigger spans whose scope covers the token.
	neg, hyp, hist, other [][]span
}

func (l *Lexicon) context(toks []token, matches []match) *contextInfo {
	n := len(toks)
	c := &contextInfo{toks: toks, neg: make([][]span, n), hyp: make([][]span, n), hist: make([][]span, n), other: make([][]span, n)}
	byKind := map[string][]span{}
	for _, m := range matches {
		if m.p.concept.Class == ClassContext {
			byKind[m.p.concept.Kind] = append(byKind[m.p.concept.Kind], span{m.start, m.end})
		}
	}
	if len(byKind) == 0 {
		return c
	}
	covers := func(spans []span, s span) bool {
		for _, x := range spans {
			if x.start < s.end && s.start < x.end {
				return true
			}
		}
		return false
	}
	scopeEnd := make([]bool, n)
	for _, s := range byKind[KindScopeEnd] {
		scopeEnd[s.start] = true
	}
	forward := func(into [][]span, tr span, limit int, overCommas bool) {
		for i, k := tr.end, 0; i < n && k < limit; i, k = i+1, k+1 {
			if toks[i].sentence != toks[tr.end-1].sentence || scopeEnd[i] || !overCommas && toks[i].clause != toks[tr.end-1].clause {
				break
			}
			into[i] = append(into[i], tr)
		}
	}
	for _, tr := range byKind[KindNegation] {
		if !covers(byKind[KindPseudoNegation], tr) {
			// "Denies chest pain, SOB, sweating": a navigator's "denies"
			// runs over a list to the end of the sentence; any other
			// negation ends at a comma ("no fever, chest pain since this
			// morning" keeps its chest pain).
			denies := toks[tr.start].stem == "deni"
			limit := negationScope
			if denies {
				limit = 2 * negationScope
			}
			forward(c.neg, tr, limit, denies)
		}
	}
	for _, tr := range byKind[KindPostNegation] {
		if tr.start > 0 && negationWords[toks[tr.start-1].stem] {
			continue // "not stopped", "hasn't gone away": still there
		}
		if w := toks[tr.start].word; w == "stop" || w == "stops" || w == "stopping" {
			continue // "can't stop shivering": only "stopped" says it ended
		}
		for i, k := tr.start-1, 0; i >= 0 && k < postNegationScope; i, k = i-1, k+1 {
			if toks[i].clause != toks[tr.start].clause {
				break
			}
			c.neg[i] = append(c.neg[i], tr)
		}
	}
	for _, tr := range byKind[KindHypothetical] {
		if !covers(byKind[KindNotHypothetical], tr) {
			forward(c.hyp, tr, hypotheticalScope, false)
		}
	}
	// Historical, another person's and present are read per segment: a
	// clause, cut also at scope-end words ("had a stroke years ago and now
	// her face is drooping" is two).
	seg := make([]int, n)
	for i := 1; i < n; i++ {
		seg[i] = seg[i-1]
		if toks[i].clause != toks[i-1].clause || scopeEnd[i] {
			seg[i]++
		}
	}
	current := map[int]bool{}
	for _, s := range byKind[KindPresent] {
		current[seg[s.start]] = true
	}
	// It came back: a recurrence anywhere in the sentence makes what was
	// said of the past current ("had chest pain two years ago and it is
	// back").
	recurs := map[int]bool{}
	for i, t := range toks {
		// "back" only as "it's back", "came back": not "back pain",
		// "go back on the pill".
		if recurrence[t.stem] && (t.stem != "back" || i > 0 && backVerbs[toks[i-1].stem]) {
			recurs[t.sentence] = true
		}
	}
	segment := func(into [][]span, tr span) {
		sg := seg[tr.start]
		if current[sg] || recurs[toks[tr.start].sentence] {
			return
		}
		for i := range toks {
			if seg[i] == sg {
				into[i] = append(into[i], tr)
			}
		}
	}
	var hist []span
	for _, tr := range byKind[KindHistorical] {
		if !recent(toks, tr) {
			hist = append(hist, tr)
		}
	}
	for i, t := range toks {
		// A year ("in 2012", "back in 1998") dates what it is said with.
		if t.num && t.unit == "" && t.value >= 1900 && t.value < 2100 && t.value == float64(int(t.value)) {
			hist = append(hist, span{i, i + 1})
		}
	}
	for _, tr := range hist {
		segment(c.hist, tr)
	}
	for _, tr := range byKind[KindOtherPerson] {
		segment(c.other, tr)
	}
	return c
}

// status is a match's context, and the words that gave it.
func (c *contextInfo) status(m match) (Status, string) {
	// A pattern of several slots says they hold together ("headache +
	// stiff neck"): denying one of them denies the whole ("headache, no
	// stiff neck").
	if len(m.parts) > 1 {
		for _, p := range m.parts {
			part := match{start: p.start, end: p.end}
			for t := p.start; t < p.end; t++ {
				part.toks = append(part.toks, t)
			}
			if cue, ok := c.all(c.neg, part, m.toks); ok {
				return Negated, c.text(cue)
			}
		}
	}
	for _, k := range []struct {
		by [][]span
		st Status
	}{{c.neg, Negated}, {c.hyp, Hypothetical}, {c.other, OtherPerson}, {c.hist, Historical}} {
		if cue, ok := c.all(k.by, m, m.toks); ok {
			return k.st, c.text(cue)
		}
	}
	return Present, ""
}

// all reports whether every word of m is in the scope of a trigger of by
// that is not one of own's words, and one such trigger.
func (c *contextInfo) all(by [][]span, m match, own []int) (span, bool) {
	cue := span{-1, -1}
	for _, t := range m.toks {
		found := false
		for _, tr := range by[t] {
			if !overlaps(tr, own) {
				found, cue = true, tr
				break
			}
		}
		if !found {
			return cue, false
		}
	}
	return cue, cue.start >= 0
}

func (c *contextInfo) text(s span) string {
	out := ""
	for i := s.start; i < s.end; i++ {
		if i > s.start {
			out += " "
		}
		out += c.toks[i].word
	}
	return out
}

// overlaps reports whether a trigger is one of the mention's own words
// ("not" of "not breathing"): such a trigger is part of what is said.
func overlaps(tr span, toks []int) bool {
	for _, t := range toks {
		if t >= tr.start && t < tr.end {
			return true
		}
	}
	return false
}
