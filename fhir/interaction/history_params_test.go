package interaction

import (
	"net/url"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

func TestHistoryParams(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var q store.HistoryQuery
	if err := HistoryParams(url.Values{"_count": {"5000"}, "_offset": {"7"}, "_at": {"2026-01-31"}}, &q, now); err != nil {
		t.Fatal(err)
	}
	wantAt := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond)
	if q.Count != HistoryMaxCount || q.Offset != 7 || !q.At.Equal(wantAt) || !q.CurrentAfter.Equal(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got count %d offset %d at %v after %v", q.Count, q.Offset, q.At, q.CurrentAfter)
	}
	q = store.HistoryQuery{}
	if err := HistoryParams(url.Values{}, &q, now); err != nil || q.Count != HistoryDefaultCount || !q.At.Equal(now) {
		t.Errorf("defaults: %v count %d at %v", err, q.Count, q.At)
	}
	for _, k := range []string{"_count", "_offset", "_since", "_at", AsOfParam} {
		err := HistoryParams(url.Values{k: {"last-week"}}, &store.HistoryQuery{}, now)
		e, ok := err.(*fhir.Error)
		if !ok || fhir.HTTPStatus(e) != 400 || e.Issues[0].Code != fhir.CodeInvalid || e.Issues[0].Expression[0] != k {
			t.Errorf("%s=last-week: %v", k, err)
		}
	}
}
