package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
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
		return c, fhir.Errorf(fhir.CodeInvalid, "%s is not a page of this search; follow the Bundle's links", cursorParam).At(cursorParam).WithStatus(http.StatusBadRequest)
	}
	return c, nil
}

// multiSearch is a search over types, each with its parsed search.
type multiSearch struct {
	types []string
	srs   map[string]*searchRequest
	count int
	// self is the URL of the search without its cursor (links add it).
	self string
	// notes are outcome issues added to every page (types left out).
	notes []fhir.Issue
}

// page reads one page from the position cursor ("" for the first).
func (m *multiSearch) page(ctx context.Context, tx store.Tx, base, cursor string) ([]byte, error) {
	start := multiCursor{}
	if len(m.types) > 0 {
		start.Type = m.types[0]
	}
	if cursor != "" {
		var err error
		if start, err = decodeMultiCursor(cursor, m.types); err != nil {
			return nil, err
		}
	}
	b := bundleOut{ResourceType: "Bundle", Type: "searchset"}
	link := func(rel, c string) bundleLink {
		u := m.self
		if c != "" {
			u += "&" + cursorParam + "=" + url.QueryEscape(c)
		}
		return bundleLink{Relation: rel, URL: u}
	}
	b.Link = append(b.Link, link("self", cursor))
	remaining := m.count
	i := slices.Index(m.types, start.Type)
	for c := start.Cursor; i >= 0 && i < len(m.types) && remaining > 0; i, c = i+1, "" {
		typ := m.types[i]
		sr := m.srs[typ]
		req := sr.page
		req.Count, req.Cursor, req.Total = remaining, c, false
		res, err := tx.Search(ctx, sr.q, req)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Matches {
			body, err := sr.subset.apply(v.Type, v.Body, true)
			if err != nil {
				return nil, fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
			}
			b.Entry = append(b.Entry, bundleEntry{FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &entrySearch{Mode: "match"}})
		}
		remaining -= len(res.Matches)
		if res.Next != "" {
			b.Link = append(b.Link, link("next", multiCursor{typ, res.Next}.encode()))
			break
		}
		if remaining <= 0 && i+1 < len(m.types) {
			b.Link = append(b.Link, link("next", multiCursor{Type: m.types[i+1]}.encode()))
		}
	}
	if len(m.notes) > 0 {
		b.Entry = append(b.Entry, bundleEntry{Resource: fhir.Outcome(m.notes...), Search: &entrySearch{Mode: "outcome"}})
	}
	return marshal(b)
}

// typeList reads _type values: comma-separated, repeatable, without
// duplicates, in the order given.
func typeList(values []string) []string {
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

// encodeSorted is url.Values.Encode (sorted keys), without the cursor.
func encodeSorted(v url.Values) string {
	c := url.Values{}
	for k, vs := range v {
		if k != cursorParam {
			c[k] = vs
		}
	}
	return c.Encode()
}
