package mapping

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/mapping/freetext"
)

// The labelled corpus of testdata/clinical-text: the bars of safety rule
// 9 on requests written as patients, carers and navigators write them.

// corpusFiles are the labelled sets: the first writer's and a second
// writer's, in other words and styles (testdata/clinical-text/README.md).
var corpusFiles = []string{"../testdata/clinical-text/corpus.jsonl", "../testdata/clinical-text/corpus-b.jsonl"}

func readCorpus(t testing.TB) []CorpusItem {
	t.Helper()
	var items []CorpusItem
	for _, name := range corpusFiles {
		f, err := os.Open(name)
		require.NoError(t, err)
		some, err := ReadCorpus(f)
		f.Close()
		require.NoError(t, err, name)
		items = append(items, some...)
	}
	require.GreaterOrEqual(t, len(items), 800, "the corpus has at least 800 requests")
	return items
}

// corpusNow is a weekday morning, the practice open.
var corpusNow = time.Date(2026, 11, 23, 10, 0, 0, 0, London)

func TestCorpusRecallAndOverTriage(t *testing.T) {
	items := readCorpus(t)
	lex := shippedLexicon()
	rep := EvaluateCorpus(items, lex, corpusNow)
	var out bytes.Buffer
	rep.Write(&out, true)
	for _, c := range rep.Classes {
		switch c.Class {
		case "red-flag", "medicine", "complex":
			// Every red flag, life-critical medicine and complex need is
			// found: a miss is unsafe.
			assert.Equal(t, c.Items, c.Found, "recall of %s must be 100%%\n%s", c.Class, out.String())
		}
	}
	assert.LessOrEqual(t, rep.OverTriageRate(), 0.03, "over-triage of routine requests at most 3%%\n%s", out.String())
	for _, class := range []string{"red-flag", "medicine", "complex", "benign", "negated", "repeat"} {
		assert.True(t, slices.ContainsFunc(rep.Classes, func(c CorpusClass) bool { return c.Class == class && c.Items > 0 }), "the corpus covers %s", class)
	}
}

func TestCorpusRepeatContacts(t *testing.T) {
	var same, sameFound, different, differentFound int
	var misses []string
	for _, it := range readCorpus(t) {
		if it.Class != "repeat" {
			continue
		}
		res := AssessCorpusItem(it, shippedLexicon(), corpusNow)
		switch it.Expect {
		case "same":
			same++
			if res.Wanted() {
				sameFound++
			}
		case "different":
			different++
			if res.Wanted() {
				differentFound++
			}
		}
		if !res.Wanted() {
			misses = append(misses, it.ID+": "+strings.Join(res.Assessment.EarlierWhy, "; "))
		}
	}
	require.NotZero(t, same)
	require.NotZero(t, different)
	// The same problem in other words is always found (a miss sends a
	// third contact away again); an unrelated problem may be counted
	// when in doubt, which only sends the patient to a senior clinician.
	assert.Equal(t, same, sameFound, "every earlier contact about the same problem is found: %v", misses)
	assert.GreaterOrEqual(t, float64(differentFound)/float64(different), 0.8, "unrelated problems are mostly told apart: %v", misses)
}

// Every corpus request decided under the demo and the hostile protocol:
// the advice agrees with the final decision, a red flag is never
// directed away, and a red-flag patient is never told to stay at home.
func TestCorpusDecisionsAdviceFollowsTheDecision(t *testing.T) {
	e := NewEngine("")
	cands := navDemoCandidates(t)
	cm := navAllocationMap(t)
	protocols := map[string]*Protocol{
		"demo":    navProtocol(t, "../testdata/protocols/navigation-protocol-Y99999.json"),
		"hostile": navProtocol(t, "../testdata/protocols/hostile/navigation-protocol-Y99999.json"),
	}
	consent := true
	decided := 0
	for _, it := range readCorpus(t) {
		for name, proto := range protocols {
			res := AssessCorpusItem(it, shippedLexicon(), corpusNow)
			res.Assessment.Request.Practice = "Y99999"
			res.Assessment.Request.AutomatedConsent = &consent
			d, err := e.Decide(DecideInput{Assessment: res.Assessment, Protocol: proto, Candidates: cands, AllocationMap: cm, Now: corpusNow,
				Decider: Decider{Tier: "expert"}})
			require.NoError(t, err, it.ID)
			decided++
			assert.Empty(t, AdviceAgrees(d.Category, d.Urgency, d.SafetyNetting), "%s under %s: %s, %s, advice %q", it.ID, name, d.Category, d.Urgency, d.SafetyNetting)
			if res.Urgent {
				if res.Assessment.EmergencyFlag {
					assert.Contains(t, []Category{CategoryEmergency, CategoryClinician}, d.Category, "%s under %s", it.ID, name)
				} else {
					assert.Contains(t, []Category{CategoryEmergency, CategoryClinician, CategorySignpost}, d.Category, "%s under %s", it.ID, name)
					if d.Category == CategorySignpost {
						assert.Equal(t, NHS111Service, d.ServiceType, "%s under %s: a same-day red flag is signposted only to NHS 111 out of hours", it.ID, name)
					}
				}
				assert.Contains(t, []Urgency{UrgencyEmergency, UrgencySameDay}, d.Urgency, "%s under %s", it.ID, name)
				low := strings.ToLower(d.SafetyNetting)
				assert.NotContains(t, low, "rest at home", "%s under %s", it.ID, name)
				assert.NotContains(t, low, "pharmacist can see you", "%s under %s", it.ID, name)
			}
			if res.SameDay {
				assert.Contains(t, []Urgency{UrgencyEmergency, UrgencySameDay}, d.Urgency, "%s under %s", it.ID, name)
			}
			if d.Category.AwayFromPractice() && d.Disposition == DispositionAllocated {
				assert.Empty(t, res.Assessment.unaccounted(d.Category, serviceTypesOf(d.ServiceType, d.Service)), "%s under %s: directed away with words unaccounted for", it.ID, name)
			}
		}
	}
	assert.Greater(t, decided, 1600)
}

// BenchmarkAnalyseText is the text analysis a navigation adds: the
// request's three texts read by the shipped lexicon, over the corpus.
// It reports the 50th and 99th percentile of one analysis as well as the
// mean.
func BenchmarkAnalyseText(b *testing.B) {
	items := readCorpus(b)
	lex := shippedLexicon()
	texts := make([][]freetext.Text, len(items))
	for i, it := range items {
		texts[i] = requestTexts(&Request{Problem: it.Text, Tried: it.Tried, ICE: it.ICE})
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		lex.Analyse(texts[i%len(texts)]...)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkAssessCorpus is the whole assessment of a request (text,
// populations, repeat contacts against two earlier requests where the
// corpus gives them).
func BenchmarkAssessCorpus(b *testing.B) {
	items := readCorpus(b)
	lex := shippedLexicon()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		AssessCorpusItem(items[i%len(items)], lex, corpusNow)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// Every SNOMED CT concept the shipped lexicon maps a finding to is in the
// verified set Signpost ships: none is invented.
func TestLexiconSNOMEDIsVerified(t *testing.T) {
	src, err := freetext.Shipped()
	require.NoError(t, err)
	shipped := mustShipped()
	n := 0
	for _, c := range src.Concepts {
		if c.SNOMED == "" {
			continue
		}
		n++
		_, ok := shipped.Get(c.SNOMED)
		assert.True(t, ok, "concept %s maps to SNOMED CT %s, which is not in the verified set", c.Code, c.SNOMED)
	}
	assert.NotZero(t, n)
}
