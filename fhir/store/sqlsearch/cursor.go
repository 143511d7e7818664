package sqlsearch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"github.com/signpost-fhir/signpost/fhir"
)

const (
	dirAfter  = "n" // the page after the named row
	dirBefore = "p" // the page before it
)

// cursor names a position in a sorted search: the sort values and id of
// one row, and which side of it the page lies on. It travels as
// unpadded base64url of its JSON: opaque to clients, and carrying no
// resource content but sort values and an id.
type cursor struct {
	Dir  string `json:"d"`
	Keys []any  `json:"k"`
	ID   string `json:"i"`
	// Inclusive puts the named row itself on the page (used when the row
	// a page was read after has gone and the page came back empty).
	Inclusive bool   `json:"e,omitempty"`
	Sig       string `json:"s"`
	// At is the instant the search's first page was read, Unix
	// microseconds: later pages match and order as of then (snapshot.go).
	At int64 `json:"t,omitempty"`
}

func (c *cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor made for the sort sig; "" is none.
func decodeCursor(s, sig string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, badCursor()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c cursor
	if err := dec.Decode(&c); err != nil || (c.Dir != dirAfter && c.Dir != dirBefore) || c.ID == "" || c.Sig != sig {
		return nil, badCursor()
	}
	for i, k := range c.Keys {
		switch x := k.(type) {
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return nil, badCursor()
			}
			c.Keys[i] = n
		case string, nil:
		default:
			return nil, badCursor()
		}
	}
	return &c, nil
}

func badCursor() error {
	return fhir.Errorf(fhir.CodeInvalid, "the paging cursor is not one this search gave out").Because(fhir.DetailMalformed)
}
