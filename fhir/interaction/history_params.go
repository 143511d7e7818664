package interaction

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Paging limits for _history.
const (
	HistoryDefaultCount = 50
	HistoryMaxCount     = 1000
)

// HistoryParams reads a history interaction's parameters into q: _count
// (HistoryDefaultCount when absent, at most HistoryMaxCount), _offset,
// _since, the paging pin AsOfParam (now when absent) and _at. A value
// that does not parse is invalid (malformed), at its parameter.
func HistoryParams(query url.Values, q *store.HistoryQuery, now time.Time) error {
	q.Count = HistoryDefaultCount
	if v := query.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fhir.Errorf(fhir.CodeInvalid, "_count must be a non-negative integer").At("_count").Because(fhir.DetailMalformed)
		}
		q.Count = min(n, HistoryMaxCount)
	}
	if v := query.Get("_offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fhir.Errorf(fhir.CodeInvalid, "_offset must be a non-negative integer").At("_offset").Because(fhir.DetailMalformed)
		}
		q.Offset = n
	}
	var err error
	if q.Since, err = instantParam(query, "_since"); err != nil {
		return err
	}
	// Pin later pages to what existed when the first page was read, so
	// writes in between do not shift them: the links carry the pin as
	// _asof.
	if q.At, err = instantParam(query, AsOfParam); err != nil {
		return err
	}
	if q.At.IsZero() {
		q.At = now
	}
	// _at keeps the versions current at some point of the period its
	// precision gives (R4 3.1.0.5.1; 2026-01-31 is the whole day): made
	// by its end, and not superseded by its start.
	if query.Get("_at") != "" {
		start, end, err := periodParam(query, "_at")
		if err != nil {
			return err
		}
		if last := end.Add(-time.Microsecond); last.Before(q.At) {
			q.At = last
		}
		q.CurrentAfter = start
	}
	return nil
}

// periodParam parses a dateTime parameter of any precision as the period
// it stands for, [start, end): 2026 is the year, 2026-01-31T09:00 the
// minute, an instant with n fractional digits 10^-n s.
func periodParam(q url.Values, k string) (start, end time.Time, err error) {
	v := strings.ReplaceAll(q.Get(k), " ", "+")
	if start, err = instantParam(q, k); err != nil {
		return start, end, err
	}
	date, clock, timed := strings.Cut(v, "T")
	switch {
	case !timed && len(date) == 4:
		return start, start.AddDate(1, 0, 0), nil
	case !timed && len(date) == 7:
		return start, start.AddDate(0, 1, 0), nil
	case !timed:
		return start, start.AddDate(0, 0, 1), nil
	}
	// Drop the zone: Z, +hh:mm or -hh:mm.
	if i := strings.IndexAny(clock, "Z+-"); i > 0 {
		clock = clock[:i]
	}
	hms, frac, fractional := strings.Cut(clock, ".")
	switch {
	case fractional:
		unit := time.Second
		for range frac {
			unit /= 10
		}
		return start, start.Add(max(unit, time.Microsecond)), nil
	case strings.Count(hms, ":") == 1:
		return start, start.Add(time.Minute), nil
	}
	return start, start.Add(time.Second), nil
}

// instantParam parses a history parameter given as an instant, or as a
// dateTime of any precision (taken at its start, UTC when no zone).
func instantParam(q url.Values, k string) (time.Time, error) {
	// An unescaped "+01:00" arrives as " 01:00" after query decoding.
	v := strings.ReplaceAll(q.Get(k), " ", "+")
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fhir.Errorf(fhir.CodeInvalid, "%s must be an instant such as 2026-01-31T09:00:00Z", k).At(k).Because(fhir.DetailMalformed)
}
