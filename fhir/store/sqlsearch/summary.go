package sqlsearch

import (
	"fmt"
	"sync"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Summarizers are the summarizers registered with one store, by resource
// type. The zero value is empty and ready; it is safe for concurrent use.
type Summarizers struct {
	mu     sync.RWMutex
	byType map[string][]store.Summarizer
}

// SummaryRow is a summary row as both stores' idx_summary holds it.
type SummaryRow struct {
	Kind, Key string
	At        int64 // Unix microseconds
	Data      string
}

// Register adds s (replacing a summarizer of the same kind).
func (z *Summarizers) Register(s store.Summarizer) error {
	if s.Kind == "" || s.Type == "" || s.Summarize == nil {
		return fmt.Errorf("a summarizer needs a kind, a type and a function")
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.byType == nil {
		z.byType = map[string][]store.Summarizer{}
	}
	for typ, list := range z.byType {
		kept := list[:0:0]
		for _, x := range list {
			if x.Kind != s.Kind {
				kept = append(kept, x)
			}
		}
		z.byType[typ] = kept
	}
	z.byType[s.Type] = append(z.byType[s.Type], s)
	return nil
}

// Has reports whether resources of typ are summarised: their writes must
// replace summary rows.
func (z *Summarizers) Has(typ string) bool {
	if z == nil {
		return false
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	return len(z.byType[typ]) > 0
}

// Rows are the summary rows of r.
func (z *Summarizers) Rows(r *fhir.Resource) []SummaryRow {
	if z == nil {
		return nil
	}
	z.mu.RLock()
	list := z.byType[r.Type()]
	z.mu.RUnlock()
	var out []SummaryRow
	for _, s := range list {
		out = append(out, summaryRows(s, r)...)
	}
	return out
}

// SummaryRowsOf are the rows one summarizer derives from r, keys made
// distinct (the first row of a key wins).
func SummaryRowsOf(s store.Summarizer, r *fhir.Resource) []SummaryRow { return summaryRows(s, r) }

func summaryRows(s store.Summarizer, r *fhir.Resource) []SummaryRow {
	rows := s.Summarize(r)
	out := make([]SummaryRow, 0, len(rows))
next:
	for _, x := range rows {
		for _, o := range out {
			if o.Key == x.Key {
				continue next
			}
		}
		out = append(out, SummaryRow{Kind: s.Kind, Key: x.Key, At: x.At.UnixMicro(), Data: x.Data})
	}
	return out
}

// RowsWith are RowsOf(r) with the summary rows of z.
func RowsWith(r *fhir.Resource, z *Summarizers) Rows {
	rows := RowsOf(r)
	if z.Has(r.Type()) {
		rows.Summarized = true
		rows.Summaries = z.Rows(r)
	}
	return rows
}
