package interaction

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Search paging. _count defaults to 20 (a screen of a work queue, the
// page size the integrators ask for) and is capped at 1000 like
// _history; a larger _count is served as 1000 and the links say so.
const (
	DefaultSearchCount = 20
	MaxSearchCount     = 1000
)

// SearchQuery is a parsed search: the query, the page asked for, and the
// parameters as understood, which the Bundle's links carry.
type SearchQuery struct {
	Query      *search.Query
	Page       store.PageRequest
	Understood url.Values
}

// ParseSearch parses the parameters of a search on typ (CursorParam
// among them). Unknown and unsupported parameters are ignored and left
// out of Understood, or are an error when strict (Prefer:
// handling=strict).
func ParseSearch(typ string, values url.Values, strict bool) (*SearchQuery, error) {
	params := url.Values{}
	for k, vs := range values {
		if k != CursorParam {
			params[k] = vs
		}
	}
	q, err := search.ParseQuery(typ, params, strict)
	if err != nil {
		return nil, err
	}
	sq := &SearchQuery{Query: q, Page: store.PageRequest{
		Count:  DefaultSearchCount,
		Cursor: values.Get(CursorParam),
		Total:  q.Total != "none",
	}}
	if q.Count != nil {
		sq.Page.Count = min(*q.Count, MaxSearchCount)
	}
	switch q.Summary {
	case "count":
		// The total only: R4 3.1.1.5.8.
		sq.Page.Count, sq.Page.Total = 0, true
	case "true", "text", "data":
		if len(q.Elements) > 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_summary=%s and _elements cannot be combined: each chooses the elements", q.Summary).At("_elements")
		}
	}
	sq.Understood = Understood(typ, params, q.Ignored)
	sq.Understood.Set("_count", strconv.Itoa(sq.Page.Count))
	return sq, nil
}

// SplitCustom splits a search's values between the ordinary parameters
// and those a custom search owns (its parameters and, with control, its
// result parameters), by name without modifier. asked tells whether any
// of its parameters (not only controls) was sent; when not, the search
// is an ordinary one and the split is not made.
func SplitCustom(values url.Values, owns func(name string, control bool) bool) (ordinary, own url.Values, asked bool) {
	for k := range values {
		name, _, _ := strings.Cut(k, ":")
		asked = asked || owns(name, false)
	}
	if !asked {
		return values, nil, false
	}
	ordinary, own = url.Values{}, url.Values{}
	for k, vs := range values {
		name, _, _ := strings.Cut(k, ":")
		if owns(name, true) {
			own[k] = vs
		} else {
			ordinary[k] = vs
		}
	}
	return ordinary, own, true
}

// CheckCustom refuses what a custom search on typ cannot answer beside
// its own parameters: an ordinary parameter ignored (parsed strictly
// whatever Prefer says, as an ignored one would widen the answer, and
// there a wider answer is a patient sent where they should not be),
// _sort (its answer is ranked) and _include or _revinclude.
func CheckCustom(typ string, q *search.Query) error {
	if len(q.Ignored) > 0 {
		return fhir.Errorf(fhir.CodeInvalid, "search parameters %s have no value", strings.Join(q.Ignored, ", "))
	}
	switch {
	case len(q.Sort) > 0:
		return fhir.Errorf(fhir.CodeNotSupported, "_sort cannot be combined with %s's custom search parameters: their answer is ranked (search.score)", typ).At("_sort").Because(fhir.DetailUnsupportedSearch)
	case len(q.Include) > 0 || len(q.RevInclude) > 0:
		return fhir.Errorf(fhir.CodeNotSupported, "_include and _revinclude cannot be combined with %s's custom search parameters", typ).Because(fhir.DetailUnsupportedSearch)
	}
	return nil
}
