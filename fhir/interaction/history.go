package interaction

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// AsOfParam pins the pages of a history to the instant its first page
// was read; HistoryBundle writes it in its paging links.
const AsOfParam = "_asof"

// HistoryBundle renders a page of versions as a history Bundle: of the
// server (typ and id empty), of a type (id empty) or of a resource; at is
// the request's _at, carried into the paging links. Entries hold the
// stored bytes as they are (json.RawMessage): a resource is never decoded
// and re-encoded on the way out.
func HistoryBundle(base, typ, id, at string, q store.HistoryQuery, page store.HistoryPage) ([]byte, error) {
	type link struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	type entryRequest struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	type entryResponse struct {
		Status       string `json:"status"`
		Etag         string `json:"etag,omitempty"`
		LastModified string `json:"lastModified,omitempty"`
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource,omitempty"`
		Request  entryRequest    `json:"request"`
		Response entryResponse   `json:"response"`
	}
	type bundle struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Total        int     `json:"total"`
		Link         []link  `json:"link"`
		Entry        []entry `json:"entry,omitempty"`
	}
	path := base
	switch {
	case id != "":
		path += "/" + typ + "/" + id + "/_history"
	case typ != "":
		path += "/" + typ + "/_history"
	default:
		path += "/_history"
	}
	pageURL := func(offset int) string {
		v := url.Values{}
		v.Set("_count", strconv.Itoa(q.Count))
		if !q.Since.IsZero() {
			v.Set("_since", q.Since.UTC().Format(fhir.InstantFormat))
		}
		if at != "" {
			v.Set("_at", at)
		}
		v.Set(AsOfParam, q.At.UTC().Format(fhir.InstantFormat))
		if offset > 0 {
			v.Set("_offset", strconv.Itoa(offset))
		}
		return path + "?" + v.Encode()
	}
	b := bundle{ResourceType: "Bundle", Type: "history", Total: page.Total}
	b.Link = append(b.Link, link{"self", pageURL(q.Offset)})
	if q.Count > 0 && q.Offset+len(page.Versions) < page.Total {
		b.Link = append(b.Link, link{"next", pageURL(q.Offset + q.Count)})
	}
	if q.Offset > 0 {
		b.Link = append(b.Link, link{"previous", pageURL(max(0, q.Offset-q.Count))})
	}
	for _, v := range page.Versions {
		e := entry{FullURL: fmt.Sprintf("%s/%s/%s", base, v.Type, v.ID)}
		e.Response.Etag = fmt.Sprintf(`W/"%d"`, v.VersionID)
		e.Response.LastModified = v.LastUpdated.UTC().Format(fhir.InstantFormat)
		switch {
		case v.Deleted:
			e.Request = entryRequest{"DELETE", v.Type + "/" + v.ID}
			e.Response.Status = "204"
		case v.Method == store.MethodCreate:
			e.Request = entryRequest{"POST", v.Type}
			e.Response.Status = "201"
			e.Resource = v.Body
		default:
			e.Request = entryRequest{"PUT", v.Type + "/" + v.ID}
			e.Response.Status = "200"
			if v.VersionID == 1 {
				e.Response.Status = "201"
			}
			e.Resource = v.Body
		}
		b.Entry = append(b.Entry, e)
	}
	return Marshal(b)
}

// Marshal is json.Marshal without HTML escaping, which would rewrite
// "<" in stored resources (narratives) as "\u003c".
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
