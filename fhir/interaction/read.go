package interaction

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Reads and their conditions, whichever route asked (a REST read or
// vread, a Bundle entry): If-None-Match and If-Modified-Since (RFC 9110
// 13.1.2, 13.1.3), and the _summary and _elements of one resource (R4
// 3.1.1.5.8-9 apply to reads as well as searches).

// ReadSubset reads _summary and _elements on a read or vread of typ: the
// Subset of a search, nil when the whole resource is asked for.
// _summary=count has no meaning for one resource and is refused, as a
// combination of the two is.
func ReadSubset(typ string, query map[string][]string) (*Subset, error) {
	var summary string
	if vs := query["_summary"]; len(vs) > 0 {
		summary = vs[0]
	}
	var elements []string
	for _, raw := range query["_elements"] {
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				elements = append(elements, e)
			}
		}
	}
	switch summary {
	case "", "false":
	case "true", "text", "data":
		if len(elements) > 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_summary=%s and _elements cannot be combined: each chooses the elements", summary).At("_elements").Because(fhir.DetailMalformed)
		}
	default:
		return nil, fhir.Errorf(fhir.CodeInvalid, "_summary %q is not true, text, data or false on a read", summary).At("_summary").Because(fhir.DetailMalformed)
	}
	return NewSubset(typ, summary, elements)
}

// ReadAnswer answers a read or vread that found v: NotModified when
// ifNoneMatch or ifModifiedSince say the client holds v, else Done with
// the body query's _summary and _elements ask for (ReadSubset).
func ReadAnswer(v store.Version, query map[string][]string, ifNoneMatch, ifModifiedSince string) (Result, error) {
	if Unmodified(v, ifNoneMatch, ifModifiedSince) {
		return Result{Outcome: NotModified, Version: v}, nil
	}
	sub, err := ReadSubset(v.Type, query)
	if err != nil {
		return Result{}, err
	}
	body, err := sub.Apply(v.Type, v.Body, true)
	if err != nil {
		return Result{}, fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
	}
	return Result{Outcome: Done, Version: v, Body: body}, nil
}

// ReadRender prepares the answer of a read or vread entry (ReadAnswer),
// refusing its _summary and _elements before anything is read.
func ReadRender(e *Entry) (Render, error) {
	if _, err := ReadSubset(e.Type, e.Query); err != nil {
		return nil, err
	}
	return func(v store.Version) (Result, error) {
		return ReadAnswer(v, e.Query, e.IfNoneMatch, e.IfModifiedSince)
	}, nil
}

// Unmodified decides a conditional read (RFC 9110 13.1.2, 13.1.3): an
// If-None-Match listing v's version (weak comparison: W/"3", "3" and *
// all match) or, when there is none, an If-Modified-Since not before v's
// last update (HTTP dates have whole seconds).
func Unmodified(v store.Version, ifNoneMatch, ifModifiedSince string) bool {
	if ifNoneMatch = strings.TrimSpace(ifNoneMatch); ifNoneMatch != "" {
		for _, tag := range strings.Split(ifNoneMatch, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if n, ok := ParseVersion(strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)); ok && n == v.VersionID {
				return true
			}
		}
		return false
	}
	if ifModifiedSince != "" {
		if t, ok := parseHTTPDate(ifModifiedSince); ok && !v.LastUpdated.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

// httpDateLayouts are the date formats HTTP/1.1 accepts (RFC 9110
// 5.6.7): IMF-fixdate, then the obsolete RFC 850 and asctime forms.
var httpDateLayouts = []string{"Mon, 02 Jan 2006 15:04:05 GMT", time.RFC850, time.ANSIC}

// parseHTTPDate reads an HTTP date in any of its three formats.
func parseHTTPDate(s string) (time.Time, bool) {
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// IfNoneMatchWrite evaluates If-None-Match (header) on an update of
// typ/id (RFC 9110 13.1.2): "*" fails when the resource exists, a list
// of versions when the current one is listed; a failure is
// precondition-failed and nothing is written. It runs in the write's
// transaction, under a lock on the resource, so two updates with
// If-None-Match: * cannot both create it.
func IfNoneMatchWrite(ctx context.Context, tx store.Tx, typ, id, header string) error {
	if err := tx.Lock(ctx, typ+"/"+id+" if-none-match"); err != nil {
		return err
	}
	cur, err := tx.Read(ctx, typ, id)
	switch {
	case errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted):
		return nil
	case err != nil:
		return err
	}
	if Unmodified(cur, header, "") {
		return fhir.Errorf(fhir.CodeConflict, "If-None-Match %s: %s/%s exists as version %d, so nothing was written", header, typ, id, cur.VersionID).Because(fhir.DetailPreconditionFailed)
	}
	return nil
}
