package freetext

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A small lexicon of its own, so the engine's behaviour is tested apart
// from the shipped lexicon's content.
const testLexicon = `
version: test-1
group pain: pain, ache, hurt, sore, tight, pressure
group chest: chest, breastbone
group spread: spread, radiate, go down, going down
group arm: arm, jaw, shoulder
group breath: breathe, breath, breathing

concept chest-pain: Chest pain
  class: red-flag
  kind: chest-pain
  urgency: emergency
  snomed: 29857009 Chest pain (finding)
  source: test
  match: @chest + @pain
  match: @pain ~ @spread ~ @arm
concept breathless: Cannot breathe
  class: red-flag
  kind: breathing
  urgency: emergency
  source: test
  match: can not @breath
  match: not @breath
concept fever: Fever
  class: red-flag
  kind: infant-fever
  urgency: emergency
  with: infant-under-3-months
  accepted-by: self-care
  source: test
  match: fever|temperature
concept fit: Seizure
  class: red-flag
  kind: seizure
  urgency: emergency
  source: test
  match: fit|seizure
concept sore-throat: Sore throat
  class: symptom
  accepted-by: self-care, 983341000000102
  site: site-throat
  source: test
  match: sore throat
concept site-throat: Throat
  class: body-site
  source: test
  match: throat
concept site-knee: Knee
  class: body-site
  source: test
  match: knee
concept symptom-word: Symptom words
  class: symptom-word
  source: test
  match: @pain
  match: lump|swelling|bleeding
concept fit-note: Fit note
  class: ignore
  source: test
  match: fit note
concept neg: Negation
  class: context
  kind: negation
  source: test
  match: no|not|never|denies|without
concept pseudo: Pseudo-negation
  class: context
  kind: pseudo-negation
  source: test
  match: not sure
  match: can not
  match: no better
concept postneg: Post-negation
  class: context
  kind: post-negation
  source: test
  match: denied|nil
concept hyp: Hypothetical
  class: context
  kind: hypothetical
  source: test
  match: if
  match: in case
concept nothyp: Not hypothetical
  class: context
  kind: not-hypothetical
  source: test
  match: not sure if
  match: wonder if
concept hist: Historical
  class: context
  kind: historical
  source: test
  match: ago
  match: history of
concept now: Present
  class: context
  kind: present
  source: test
  match: now|today|again
concept fam: Other person
  class: context
  kind: other-experiencer
  source: test
  match: family history
  match: died of
concept end: Scope end
  class: context
  kind: scope-end
  source: test
  match: but|just|and
`

func testLex(t *testing.T) *Lexicon {
	t.Helper()
	src, err := ParseText(testLexicon)
	require.NoError(t, err)
	l, err := Compile(src)
	require.NoError(t, err)
	return l
}

func statusOf(a *Analysis, code string) Status {
	for _, f := range a.Findings {
		if f.Concept.Code == code {
			return f.Status
		}
	}
	return ""
}

func TestAnalyseContext(t *testing.T) {
	l := testLex(t)
	for _, tc := range []struct {
		text, code string
		want       Status
	}{
		{"I have pains in my chest", "chest-pain", Present},
		{"my chest is really tight", "chest-pain", Present},
		{"CHEST PAIN!!", "chest-pain", Present},
		{"the pain is going down my left arm", "chest-pain", Present},
		{"a pain that radiates into the jaw", "chest-pain", Present},
		{"chets pain since this morning", "chest-pain", Present},             // misspelt
		{"I can't breathe", "breathless", Present},                           // pseudo-negation inside
		{"she is not breathing properly", "breathless", Present},             // the negation is the pattern's own
		{"no chest pain, just a blocked nose", "chest-pain", Negated},        // negation with scope
		{"denies chest pain", "chest-pain", Negated},                         // denies
		{"chest pain denied", "chest-pain", Negated},                         // post-negation
		{"not sure if it's chest pain", "chest-pain", Present},               // uncertainty is present
		{"no better, chest still hurts", "chest-pain", Present},              // pseudo-negation
		{"what should I do if I get chest pain", "chest-pain", Hypothetical}, // hypothetical
		{"had chest pain two years ago", "chest-pain", Historical},
		{"had chest pain two years ago and it is back now", "chest-pain", Present}, // current again
		{"family history of chest pain", "chest-pain", OtherPerson},
		{"no fever but chest pain", "chest-pain", Present},        // scope ends at "but"
		{"no fever, no pain in the chest", "chest-pain", Negated}, // each "no" denies its own words
		{"no pain, chest is fine", "chest-pain", Negated},         // one slot denied denies the whole
		{"no fever. Pain in my chest now", "chest-pain", Present}, // another sentence
		{"no fever but chest pain", "fever", Negated},
		{"I need a fit note please", "fit", ""}, // ignored phrase
		{"need a fit note, had a fit today", "fit", Present},
	} {
		a := l.Analyse(Text{Field: "problem", Text: tc.text})
		assert.Equal(t, tc.want, statusOf(a, tc.code), "%q", tc.text)
	}
}

func TestAnalyseEvidenceAndUnaccounted(t *testing.T) {
	l := testLex(t)
	a := l.Analyse(Text{Field: "problem", Text: "Sore throat for 3 days. Also a lump on my knee and gastritis."})
	require.Len(t, a.Present(ClassSymptom), 1)
	f := a.Present(ClassSymptom)[0]
	assert.Equal(t, "'Sore throat' → Sore throat", f.Cite())
	var words []string
	for _, u := range a.Unaccounted {
		words = append(words, u.Words)
	}
	// The throat is accounted for by the sore throat; the lump, the knee
	// and the unknown medical word are not.
	assert.ElementsMatch(t, []string{"lump", "knee", "gastritis"}, words)

	a = l.Analyse(Text{Field: "problem", Text: "no lump or swelling"})
	assert.Empty(t, a.Unaccounted, "denied content is accounted for")
}

func TestAgeFromText(t *testing.T) {
	l := testLex(t)
	for text, want := range map[string]int{
		"my baby is 5 weeks old and has a temperature": 35,
		"6 week old baby with a fever":                 42,
		"3 day old":                                    3,
		"she is two months old":                        60,
		"aged 10 days":                                 10,
		"5wks old":                                     35,
		"cough for 3 days":                             -1,
		"I am 45":                                      -1,
	} {
		assert.Equal(t, want, l.Analyse(Text{Text: text}).AgeDays, text)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, bad := range []string{
		"concept x: X\n  class: nonsense\n  match: x\n",
		"concept x: X\n  class: red-flag\n  urgency: emergency\n  match: @nogroup\n",
		"concept x: X\n  class: red-flag\n  urgency: soon\n  match: x\n",
		"concept x: X\n  class: symptom\n  snomed: 12345\n  match: x\n",
		"concept x: X\n  class: symptom\n",
		"concept x: X\n  class: symptom\n  match: ~ x\n",
		"group g: a\nconcept x: X\n  class: symptom\n  match: @g|b\n",
	} {
		src, err := ParseText(bad)
		if err == nil {
			_, err = Compile(src)
		}
		assert.Error(t, err, bad)
	}
}

func TestMergeNeverRemoves(t *testing.T) {
	base, err := ParseText(testLexicon)
	require.NoError(t, err)
	extra, err := ParseText("version: local-1\nconcept chest-pain: Chest pain\n  class: red-flag\n  urgency: emergency\n  accepted-by: self-care\n  match: ticker trouble\n")
	require.NoError(t, err)
	merged, err := Merge(base, extra)
	require.NoError(t, err)
	l, err := Compile(merged)
	require.NoError(t, err)
	c := l.Concept("chest-pain")
	assert.Empty(t, c.AcceptedBy, "a red flag is never made acceptable away")
	assert.Equal(t, Present, statusOf(l.Analyse(Text{Text: "ticker trouble"}), "chest-pain"))
	assert.Equal(t, Present, statusOf(l.Analyse(Text{Text: "chest pain"}), "chest-pain"))
	assert.Equal(t, "test-1+local-1", l.Version)
}

func TestMergeRefusesWhatCouldDiscount(t *testing.T) {
	base, err := ParseText(testLexicon)
	require.NoError(t, err)
	for _, extra := range []string{
		"concept neg: Negation\n  class: context\n  kind: negation\n  match: chest\n",
		"concept quiet: Quiet\n  class: ignore\n  match: chest pain\n",
		"concept fam2: Other\n  class: context\n  kind: other-experiencer\n  match: i\n",
		"concept hist2: Past\n  class: context\n  kind: historical\n  match: pain\n",
	} {
		src, err := ParseText(extra)
		require.NoError(t, err)
		_, err = Merge(base, src)
		assert.Error(t, err, extra)
	}
	// What finds more is taken: a pseudo-negation, a present word, a new
	// red-flag pattern; the shipped negation concept unchanged is no
	// addition.
	src, err := ParseText("concept pseudo: Pseudo\n  class: context\n  kind: pseudo-negation\n  match: not half\n" +
		"concept neg: Negation\n  class: context\n  kind: negation\n  match: no|not|never|denies|without\n")
	require.NoError(t, err)
	_, err = Merge(base, src)
	assert.NoError(t, err)
}

// One request's cost is bounded whatever it holds: a text is read to
// MaxText, and a very long word is not looked up for misspellings (the
// look-up grows with the square of its length).
func TestHostileTextIsBounded(t *testing.T) {
	l := testLex(t)
	a := l.Analyse(Text{Field: "problem", Text: strings.Repeat("a", 200000)})
	assert.Equal(t, []string{"problem"}, a.Truncated)
	a = l.Analyse(Text{Field: "problem", Text: strings.Repeat("chesst ", 5000) + "pain"})
	assert.Equal(t, []string{"problem"}, a.Truncated, "read to MaxText only")
	a = l.Analyse(Text{Field: "problem", Text: "chest pain " + strings.Repeat("b", 3000)})
	assert.Equal(t, Present, statusOf(a, "chest-pain"))
	assert.Empty(t, a.Truncated)
}

func BenchmarkAnalyseHostileText(b *testing.B) {
	src, err := ParseText(testLexicon)
	require.NoError(b, err)
	l, err := Compile(src)
	require.NoError(b, err)
	long := strings.Repeat("x", 2400) + " " + strings.Repeat("chesst paiin ", 1200)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Analyse(Text{Field: "problem", Text: long})
	}
}
