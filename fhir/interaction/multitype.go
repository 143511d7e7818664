package interaction

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Searches over several types (Patient/[id]/$everything and the system
// search [base]?_type=...) read the types one after the other, in a fixed
// order, each as an ordinary search of its own, and page through the
// whole: a page takes what is left of the current type and goes on with
// the next types until it is full. The page token (_cursor) names the
// type it resumes at and the store's cursor within that type, so paging
// is as stable as the single-type search's. There is no ordering across
// types (_sort is refused) and no total.

// CursorParam is a search's page token.
const CursorParam = "_cursor"

// multiCursor is the position a page of a multi-type search resumes at.
type multiCursor struct {
	Type   string `json:"t"`
	Cursor string `json:"c,omitempty"`
}

func (c multiCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeMultiCursor(s string, types []string) (multiCursor, error) {
	var c multiCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || !slices.Contains(types, c.Type) {
		return c, fhir.Errorf(fhir.CodeInvalid, "%s is not a page of this search; follow the Bundle's links", CursorParam).At(CursorParam).Because(fhir.DetailMalformed)
	}
	return c, nil
}

// TypeSearch is one type's search within a MultiSearch.
type TypeSearch struct {
	Query *search.Query
	Page  store.PageRequest
	// Subset trims a match for _summary and _elements (nil: whole).
	Subset func(typ string, body []byte, match bool) ([]byte, error)
}

// MultiSearch is a search over Types, in that order, each with its
// parsed search.
type MultiSearch struct {
	Types    []string
	Searches map[string]TypeSearch
	Count    int
	// Self is the URL of the search without its cursor (links add it).
	Self string
	// Notes are outcome issues added to every page (types left out).
	Notes []fhir.Issue
}

// Page reads one page from the position cursor ("" for the first), on
// tx; base is the FHIR base as the client sees it.
func (m *MultiSearch) Page(ctx context.Context, tx store.Tx, base, cursor string) ([]byte, error) {
	type link struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	type entrySearch struct {
		Mode string `json:"mode"`
	}
	type entry struct {
		FullURL  string          `json:"fullUrl,omitempty"`
		Resource json.RawMessage `json:"resource,omitempty"`
		Search   *entrySearch    `json:"search,omitempty"`
	}
	type bundle struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Link         []link  `json:"link,omitempty"`
		Entry        []entry `json:"entry,omitempty"`
	}
	start := multiCursor{}
	if len(m.Types) > 0 {
		start.Type = m.Types[0]
	}
	if cursor != "" {
		var err error
		if start, err = decodeMultiCursor(cursor, m.Types); err != nil {
			return nil, err
		}
	}
	b := bundle{ResourceType: "Bundle", Type: "searchset"}
	linkTo := func(rel, c string) link {
		u := m.Self
		if c != "" {
			u += "&" + CursorParam + "=" + url.QueryEscape(c)
		}
		return link{Relation: rel, URL: u}
	}
	b.Link = append(b.Link, linkTo("self", cursor))
	remaining := m.Count
	i := slices.Index(m.Types, start.Type)
	for c := start.Cursor; i >= 0 && i < len(m.Types) && remaining > 0; i, c = i+1, "" {
		typ := m.Types[i]
		ts := m.Searches[typ]
		req := ts.Page
		req.Count, req.Cursor, req.Total = remaining, c, false
		res, err := tx.Search(ctx, ts.Query, req)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Matches {
			body := v.Body
			if ts.Subset != nil {
				if body, err = ts.Subset(v.Type, v.Body, true); err != nil {
					return nil, fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
				}
			}
			b.Entry = append(b.Entry, entry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &entrySearch{Mode: "match"}})
		}
		remaining -= len(res.Matches)
		if res.Next != "" {
			b.Link = append(b.Link, linkTo("next", multiCursor{typ, res.Next}.encode()))
			break
		}
		if remaining <= 0 && i+1 < len(m.Types) {
			b.Link = append(b.Link, linkTo("next", multiCursor{Type: m.Types[i+1]}.encode()))
		}
	}
	if len(m.Notes) > 0 {
		b.Entry = append(b.Entry, entry{Resource: fhir.Outcome(m.Notes...), Search: &entrySearch{Mode: "outcome"}})
	}
	return Marshal(b)
}

// TypeList reads _type values: comma-separated, repeatable, without
// duplicates, in the order given.
func TypeList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// EncodeSorted is url.Values.Encode (sorted keys), without the cursor.
func EncodeSorted(v url.Values) string {
	c := url.Values{}
	for k, vs := range v {
		if k != CursorParam {
			c[k] = vs
		}
	}
	return c.Encode()
}
