package mapping

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/mapping/freetext"
)

// A labelled corpus of free-text requests (testdata/clinical-text) and
// how well the assessment reads it: recall and precision per class, and
// over-triage (a request that should wait sent to emergency or same-day
// by its words). The corpus test holds the bars; `signpost lexicon
// report` prints the table for any corpus, so a clinical safety officer
// can measure a lexicon change against their own examples.

// CorpusItem is one labelled request.
type CorpusItem struct {
	ID     string `json:"id"`
	Class  string `json:"class"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Tried  string `json:"tried,omitempty"`
	ICE    string `json:"ice,omitempty"`
	Years  *int   `json:"age_years,omitempty"`
	Days   *int   `json:"age_days,omitempty"`
	Sex    string `json:"sex,omitempty"`
	Carer  bool   `json:"informant,omitempty"`
	Urgent string `json:"patient_urgency,omitempty"`
	// Expect is urgent, same-day, complex or routine; for class repeat,
	// same or different.
	Expect  string   `json:"expect"`
	Earlier []string `json:"earlier,omitempty"`
}

// ReadCorpus reads a corpus in JSON lines.
func ReadCorpus(r io.Reader) ([]CorpusItem, error) {
	var out []CorpusItem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var it CorpusItem
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			return nil, fmt.Errorf("corpus line %d: %w", n, err)
		}
		out = append(out, it)
	}
	return out, sc.Err()
}

// CorpusResult is how one item was read.
type CorpusResult struct {
	Item CorpusItem
	// Urgent: red flags found; SameDay: urgent supply of a life-critical
	// medicine; Complex: complex needs found; Repeat: earlier contacts
	// counted as the same problem.
	Urgent, SameDay, Complex bool
	Repeat                   int
	Assessment               *Assessment
}

// Wanted reports whether the item was read as labelled.
func (r CorpusResult) Wanted() bool {
	switch r.Item.Expect {
	case "urgent":
		return r.Urgent
	case "same-day":
		return r.SameDay
	case "complex":
		return r.Complex
	case "routine":
		return !r.Urgent && !r.SameDay
	case "same":
		return r.Repeat == len(r.Item.Earlier)
	case "different":
		return r.Repeat == 0
	}
	return false
}

// OverTriaged reports a routine item sent to emergency or same-day by
// its words.
func (r CorpusResult) OverTriaged() bool {
	return r.Item.Expect == "routine" && (r.Urgent || r.SameDay)
}

// AssessCorpusItem assesses one item as a clinical request at now.
func AssessCorpusItem(it CorpusItem, lex *freetext.Lexicon, now time.Time) CorpusResult {
	r := &Request{RequestType: RequestClinical, ContactRoute: "online", Problem: it.Text, Tried: it.Tried, ICE: it.ICE,
		PatientUrgency: Urgency(it.Urgent)}
	var pt Patient
	switch {
	case it.Days != nil:
		pt.BirthDate = now.AddDate(0, 0, -*it.Days)
	case it.Years != nil:
		pt.BirthDate = now.AddDate(-*it.Years, 0, -100)
	}
	pt.Sex = it.Sex
	var earlier []EarlierContact
	for i, e := range it.Earlier {
		earlier = append(earlier, EarlierContact{TaskID: fmt.Sprintf("earlier-%d", i+1), AuthoredOn: now.AddDate(0, 0, -7*(len(it.Earlier)-i)), Problem: e})
	}
	a := Assess(AssessInput{Request: r, Patient: pt, Need: NeedGroup{Known: true, Code: "3"}, Earlier: earlier, Lexicon: lex, Now: now})
	return CorpusResult{Item: it, Urgent: len(a.RedFlags) > 0, SameDay: a.LifeCriticalUrgent, Complex: a.Complex(), Repeat: a.EarlierContacts, Assessment: a}
}

// CorpusClass is one row of the report.
type CorpusClass struct {
	Class string
	// Items of the class; Found: read as labelled; Flagged: all items
	// (of any class) read as this class's label, for precision.
	Items, Found, Flagged, TrueFlagged int
}

// Recall is the share of the class's items read as labelled.
func (c CorpusClass) Recall() float64 { return ratio(c.Found, c.Items) }

// Precision is the share of items read as this class's label that are of
// the class ("" classes without a label of their own have none).
func (c CorpusClass) Precision() float64 { return ratio(c.TrueFlagged, c.Flagged) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// CorpusReport is the whole corpus's figures.
type CorpusReport struct {
	Classes []CorpusClass
	// Routine items, and those over-triaged; per class too.
	Routine, OverTriaged int
	OverByClass          map[string][2]int
	Misses               []CorpusResult
}

// EvaluateCorpus reads every item and counts.
func EvaluateCorpus(items []CorpusItem, lex *freetext.Lexicon, now time.Time) CorpusReport {
	rep := CorpusReport{OverByClass: map[string][2]int{}}
	rows := map[string]*CorpusClass{}
	var order []string
	row := func(c string) *CorpusClass {
		if rows[c] == nil {
			rows[c] = &CorpusClass{Class: c}
			order = append(order, c)
		}
		return rows[c]
	}
	labelOf := map[string]string{"urgent": "red-flag", "same-day": "medicine", "complex": "complex"}
	for _, it := range items {
		res := AssessCorpusItem(it, lex, now)
		c := row(it.Class)
		c.Items++
		if res.Wanted() {
			c.Found++
		} else {
			rep.Misses = append(rep.Misses, res)
		}
		for label, on := range map[string]bool{"urgent": res.Urgent, "same-day": res.SameDay, "complex": res.Complex} {
			if on {
				r := row(labelOf[label])
				r.Flagged++
				if labelOf[label] == it.Class {
					r.TrueFlagged++
				}
			}
		}
		if it.Expect == "routine" {
			rep.Routine++
			o := rep.OverByClass[it.Class]
			o[0]++
			if res.OverTriaged() {
				rep.OverTriaged++
				o[1]++
			}
			rep.OverByClass[it.Class] = o
		}
	}
	for _, c := range order {
		rep.Classes = append(rep.Classes, *rows[c])
	}
	sort.Slice(rep.Classes, func(i, j int) bool { return rep.Classes[i].Class < rep.Classes[j].Class })
	return rep
}

// OverTriageRate is the share of routine items over-triaged.
func (r CorpusReport) OverTriageRate() float64 { return ratio(r.OverTriaged, r.Routine) }

// Write prints the report as a table.
func (r CorpusReport) Write(w io.Writer, misses bool) {
	fmt.Fprintf(w, "%-14s %6s %6s %8s %10s %12s\n", "class", "items", "right", "recall", "precision", "over-triage")
	for _, c := range r.Classes {
		prec := "-"
		if c.Flagged > 0 {
			prec = fmt.Sprintf("%.1f%%", 100*c.Precision())
		}
		over := "-"
		if o, ok := r.OverByClass[c.Class]; ok {
			over = fmt.Sprintf("%d/%d %.1f%%", o[1], o[0], 100*ratio(o[1], o[0]))
		}
		if c.Items == 0 {
			continue
		}
		fmt.Fprintf(w, "%-14s %6d %6d %7.1f%% %10s %12s\n", c.Class, c.Items, c.Found, 100*c.Recall(), prec, over)
	}
	fmt.Fprintf(w, "over-triage of routine requests (emergency or same-day by their words): %d of %d, %.2f%%\n", r.OverTriaged, r.Routine, 100*r.OverTriageRate())
	if !misses {
		return
	}
	for _, m := range r.Misses {
		a := m.Assessment
		fmt.Fprintf(w, "MISS %s (%s/%s, expect %s): %q\n    red flags: %v\n    medicines: %v (urgent %v)\n    complex: %v\n    denied: %v\n    repeat: %d %v\n", m.Item.ID, m.Item.Class, m.Item.Kind, m.Item.Expect, m.Item.Text,
			a.RedFlags, a.LifeCritical, a.LifeCriticalUrgent, a.ComplexNeeds, a.Denied, a.EarlierContacts, a.EarlierWhy)
	}
}
