package sqlsearch

import (
	"math"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Rows are the search index rows of one resource version as both stores'
// index tables hold them: search.Extract's rows with _id and _lastUpdated
// left out (they are columns of the resources table), dates as Unix
// microseconds, and number and quantity values as the ranges the prefixes
// compare.
type Rows struct {
	// Status is the resource's status code when its type's status
	// parameter is the single code Type.status (StatusFolds), "" when
	// it has none. Every reference row carries it (idx_reference.res_status):
	// worklists ask "owner=X&status=Y" or "patient=X&status=Y", and the
	// reference index then answers both at once instead of testing the
	// status of every resource the reference finds.
	Status string
	// DateLow and DateHigh are the earliest start and latest end of the
	// resource's worklist date (WorklistDate: Task authored-on ...), the
	// values an ascending and a descending sort on it use; HasDate says
	// it has one. Reference rows carry them (res_date_low, res_date_high),
	// so that a worklist is sorted from the reference index alone.
	DateLow, DateHigh int64
	HasDate           bool

	Tokens     []search.Token
	Strings    []search.String
	References []search.Reference
	Dates      []Date
	Numbers    []Number
	Quantities []Quantity
	URIs       []search.URI

	// Summarized says the resource's type has summarizers: a write must
	// replace its summary rows (idx_summary) with Summaries.
	Summarized bool
	Summaries  []SummaryRow
}

// Date is a date row: the closed range [Low, High] in Unix microseconds,
// with search.MinTime and search.MaxTime (the open ends) as the smallest
// and largest int64 (see Micros).
type Date struct {
	Param     string
	Low, High int64
}

// Number is a number row. A value is a point: Low and High are Value. (R4
// compares a stored number with the range the search value's precision
// implies, not with a range of its own: "100" stored matches 100.4
// searched as ge100 no more than 100 does.)
type Number struct {
	Param            string
	Value, Low, High search.Decimal
}

// Quantity is a quantity row: a point as Number, or a Range, whose Value is
// empty and whose Low or High is empty (NULL in SQL) for an open end.
type Quantity struct {
	Param              string
	Value, Low, High   search.Decimal
	System, Code, Unit string
}

// Indexed reports whether the stores keep index rows for a parameter: _id
// and _lastUpdated are answered from the resources table instead.
func Indexed(param string) bool { return param != "_id" && param != "_lastUpdated" }

// Micros is a date bound as the index tables hold it. The open ends map
// to the extremes of int64 so that an open start compares below, and an
// open end above, every instant, in both databases, with no NULLs.
func Micros(t time.Time) int64 {
	switch {
	case !t.After(search.MinTime):
		return math.MinInt64
	case !t.Before(search.MaxTime):
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// RowsOf extracts the index rows of r, which must be stamped already.
func RowsOf(r *fhir.Resource) Rows {
	ix := search.Extract(r)
	out := Rows{
		Tokens:     ix.Tokens[:0],
		Strings:    ix.Strings,
		References: ix.References,
		URIs:       ix.URIs,
	}
	statuses := 0
	for _, t := range ix.Tokens {
		if Indexed(t.Param) {
			out.Tokens = append(out.Tokens, t)
		}
		if t.Param == "status" {
			statuses++
			out.Status = t.Code
		}
	}
	if statuses != 1 || !StatusFolds(r.Type()) {
		out.Status = ""
	}
	if len(ix.Dates) > 0 {
		worklist := WorklistDate(r.Type())
		out.Dates = make([]Date, 0, len(ix.Dates))
		for _, d := range ix.Dates {
			if !Indexed(d.Param) {
				continue
			}
			row := Date{Param: d.Param, Low: Micros(d.Low), High: Micros(d.High)}
			out.Dates = append(out.Dates, row)
			if d.Param == worklist {
				if !out.HasDate || row.Low < out.DateLow {
					out.DateLow = row.Low
				}
				if !out.HasDate || row.High > out.DateHigh {
					out.DateHigh = row.High
				}
				out.HasDate = true
			}
		}
	}
	if len(ix.Numbers) > 0 {
		out.Numbers = make([]Number, len(ix.Numbers))
		for i, n := range ix.Numbers {
			out.Numbers[i] = Number{Param: n.Param, Value: n.Value, Low: n.Value, High: n.Value}
		}
	}
	if len(ix.Quantities) > 0 {
		out.Quantities = make([]Quantity, len(ix.Quantities))
		for i, q := range ix.Quantities {
			row := Quantity{Param: q.Param, Value: q.Value, Low: q.Low, High: q.High, System: q.System, Code: q.Code, Unit: q.Unit}
			if q.Value != "" {
				row.Low, row.High = q.Value, q.Value
			}
			out.Quantities[i] = row
		}
	}
	return out
}

// worklistDates are the date parameter each type's worklists sort by.
var worklistDates = map[string]string{
	"Task":                  "authored-on",
	"ServiceRequest":        "authored",
	"Communication":         "sent",
	"Observation":           "date",
	"Condition":             "recorded-date",
	"Flag":                  "date",
	"Provenance":            "recorded",
	"AuditEvent":            "date",
	"QuestionnaireResponse": "authored",
	"Consent":               "date",
	"MeasureReport":         "date",
}

// WorklistDate is the date parameter typ's worklists sort by ("newest
// first"), whose sort values reference rows carry (see Rows.DateLow), or
// "" for a type without one.
func WorklistDate(typ string) string { return worklistDates[typ] }

// StatusFolds reports whether typ's status parameter is its status
// element, a single code, so that a status search can be answered by
// reference rows' res_status.
func StatusFolds(typ string) bool {
	d, ok := search.Lookup(typ, "status")
	return ok && d.Supported && d.Type == search.TypeToken && d.Expression == typ+".status"
}

// Len is the number of rows.
func (r *Rows) Len() int {
	return len(r.Tokens) + len(r.Strings) + len(r.References) + len(r.Dates) + len(r.Numbers) + len(r.Quantities) + len(r.URIs)
}
