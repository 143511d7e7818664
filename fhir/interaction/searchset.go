package interaction

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// The shapes of the searchset, batch-response and transaction-response
// Bundles (history has its own, HistoryBundle).
type (
	Bundle struct {
		ResourceType string        `json:"resourceType"`
		Type         string        `json:"type"`
		Total        *int          `json:"total,omitempty"`
		Link         []BundleLink  `json:"link,omitempty"`
		Entry        []BundleEntry `json:"entry,omitempty"`
	}
	BundleLink struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	BundleEntry struct {
		FullURL  string          `json:"fullUrl,omitempty"`
		Resource json.RawMessage `json:"resource,omitempty"`
		Search   *EntrySearch    `json:"search,omitempty"`
		Response *EntryResponse  `json:"response,omitempty"`
	}
	EntrySearch struct {
		Mode string `json:"mode"`
	}
	EntryResponse struct {
		Status       string          `json:"status"`
		Location     string          `json:"location,omitempty"`
		Etag         string          `json:"etag,omitempty"`
		LastModified string          `json:"lastModified,omitempty"`
		Outcome      json.RawMessage `json:"outcome,omitempty"`
	}
)

// Searchset is what a page of a search answers with beside the page
// itself.
type Searchset struct {
	// Base is the FHIR base URL; Path where the links point, relative to
	// it: the type, or a compartment search's Patient/[id]/[type].
	Base, Path string
	// Understood are the parameters as understood (Understood), which
	// the links carry; Cursor is the page asked for.
	Understood url.Values
	Cursor     string
	// Query is the parsed search: what it ignored is told in an outcome
	// entry.
	Query *search.Query
	// Subset renders an entry's resource (a match, or an _include): the
	// stored bytes as they are, or the subset _summary or _elements asks
	// for.
	Subset func(typ string, body []byte, match bool) ([]byte, error)
}

// SearchsetBundle renders a page of a search.
func SearchsetBundle(s Searchset, page store.SearchPage) ([]byte, error) {
	path := s.Base + "/" + s.Path
	link := func(rel, cursor string) BundleLink {
		v := url.Values{}
		for k, vs := range s.Understood {
			v[k] = vs
		}
		if cursor != "" {
			v.Set(CursorParam, cursor)
		}
		return BundleLink{Relation: rel, URL: path + "?" + v.Encode()}
	}
	b := Bundle{ResourceType: "Bundle", Type: "searchset"}
	if page.Total >= 0 {
		b.Total = &page.Total
	}
	b.Link = append(b.Link, link("self", s.Cursor))
	if page.Next != "" {
		b.Link = append(b.Link, link("next", page.Next))
	}
	if page.Previous != "" {
		b.Link = append(b.Link, link("previous", page.Previous))
	}
	add := func(v store.Version, mode string) error {
		body, err := s.Subset(v.Type, v.Body, mode == "match")
		if err != nil {
			return fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
		}
		b.Entry = append(b.Entry, BundleEntry{
			FullURL:  s.Base + "/" + v.Type + "/" + v.ID,
			Resource: body,
			Search:   &EntrySearch{Mode: mode},
		})
		return nil
	}
	for _, v := range page.Matches {
		if err := add(v, "match"); err != nil {
			return nil, err
		}
	}
	for _, v := range page.Included {
		if err := add(v, "include"); err != nil {
			return nil, err
		}
	}
	if len(s.Query.Ignored) > 0 {
		// Tell the client what was not applied (R4's search.mode
		// "outcome"), so a misspelt parameter is not silently a wider
		// search.
		b.Entry = append(b.Entry, BundleEntry{
			Resource: fhir.Outcome(IgnoredIssues(s.Query)...),
			Search:   &EntrySearch{Mode: "outcome"},
		})
	}
	return Marshal(b)
}

// IgnoredIssues are the outcome entry's issues for what a lenient search
// did not apply: one naming them all, then one per parameter saying why
// (a chain of more than one level, a nested _has, an unknown code...),
// so a thinner or wider answer is never taken for the data.
func IgnoredIssues(q *search.Query) []fhir.Issue {
	issues := []fhir.Issue{{
		Severity:    fhir.SeverityWarning,
		Code:        fhir.CodeNotSupported,
		Diagnostics: "search parameters ignored (unknown, unsupported or empty): " + strings.Join(q.Ignored, ", "),
	}}
	for _, k := range q.Ignored {
		if why := q.Why[k]; why != "" {
			issues = append(issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeNotSupported,
				Diagnostics: "search parameter " + k + " was not applied: " + why})
		}
	}
	return issues
}

// Understood is params of a search on typ without what the parser
// ignored. Ignored names a key; an empty value is ignored on its own
// (R4), so a key with empty and non-empty values keeps the latter unless
// the key itself is not understood.
func Understood(typ string, params url.Values, ignored []string) url.Values {
	out := url.Values{}
	for k, vs := range params {
		if !slices.Contains(ignored, k) {
			out[k] = vs
			continue
		}
		var kept []string
		for _, v := range vs {
			if v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 || len(kept) == len(vs) {
			continue
		}
		if q, err := search.ParseQuery(typ, url.Values{k: kept}, false); err == nil && !slices.Contains(q.Ignored, k) {
			out[k] = kept
		}
	}
	return out
}
