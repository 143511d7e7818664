package interaction

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Batch and transaction Bundles (R4 3.1.0.11): the entries as parsed
// here, run by Transaction and Batch (run.go). The server above decides
// what it serves and how a read or search is prepared and answered
// (Parser), and what its tenancy and audit add to a run (Host, Guarded).

// Entry is one parsed entry of a batch or transaction Bundle.
type Entry struct {
	Index int
	// Method is request.method: GET, HEAD, POST, PUT, PATCH or DELETE.
	Method string
	// URL is request.url as sent, for messages.
	URL     string
	Type    string
	ID      string
	VID     string
	FullURL string
	// Resource is the entry's resource (POST, PUT), validated.
	Resource *fhir.Resource
	Patch    Patcher
	Pre      store.Precondition
	// IfNoneMatch and IfModifiedSince make a GET conditional.
	IfNoneMatch, IfModifiedSince string
	IfNoneExist                  *Criteria
	// Crit is the criteria of a conditional PUT, PATCH or DELETE.
	Crit *Criteria
	// Search is a GET or HEAD entry's search, as the Parser prepared it.
	Search Search
	// Render answers a read or vread entry from the version it found.
	Render Render
	// Query is request.url's query string.
	Query url.Values
}

// Writes tells whether e is a POST, PUT or PATCH.
func (e *Entry) Writes() bool {
	return e.Method == "POST" || e.Method == "PUT" || e.Method == "PATCH"
}

// Reads tells whether e is a GET or HEAD.
func (e *Entry) Reads() bool { return e.Method == "GET" || e.Method == "HEAD" }

// Search is a search entry prepared by the server: Run answers its
// searchset Bundle, searched in tx (links relative to base).
type Search interface {
	Run(ctx context.Context, tx store.Tx, base string) ([]byte, error)
}

// Render answers a read or vread entry that found v: NotModified when
// the entry's conditions say the client holds v, else Done with the body
// its _summary or _elements ask for.
type Render func(v store.Version) (Result, error)

// Parser is what parsing an entry needs from the server that serves it.
type Parser interface {
	// Supports is nil when typ is served and supports each interaction
	// named (as a CapabilityStatement names them: "read", "vread",
	// "create", "update", "patch", "delete", "search-type"), else the
	// error to answer; with none named, whether typ is served.
	Supports(typ string, interactions ...string) error
	// Search prepares a search of typ (a GET [type]?query entry).
	Search(typ string, query url.Values, strict bool) (Search, error)
	// Read prepares the answer of a read or vread entry (its query,
	// IfNoneMatch and IfModifiedSince parsed).
	Read(e *Entry) (Render, error)
	// Validate validates a resource the entry writes.
	Validate(ctx context.Context, r *fhir.Resource, strict bool) error
}

// ReadBundle reads the body POSTed to the base: a batch or transaction
// Bundle (kind "batch" or "transaction") of at most maxEntries entries,
// still unparsed.
func ReadBundle(data []byte, maxEntries int) (kind string, entries []any, err error) {
	if len(data) == 0 {
		return "", nil, fhir.Errorf(fhir.CodeStructure, "a Bundle body is required")
	}
	v, err := fhir.DecodeJSON(data)
	if err != nil {
		return "", nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok || obj["resourceType"] != "Bundle" {
		return "", nil, fhir.Errorf(fhir.CodeInvalid, "POST to the base takes a batch or transaction Bundle").At("resourceType")
	}
	kind, _ = obj["type"].(string)
	if kind != "transaction" && kind != "batch" {
		return "", nil, fhir.Errorf(fhir.CodeInvalid, "Bundle.type %q is not processed here: send a transaction or a batch", kind).At("Bundle.type")
	}
	raw, present := obj["entry"]
	list, ok := raw.([]any)
	if present && !ok {
		return kind, nil, fhir.Errorf(fhir.CodeStructure, "Bundle.entry must be an array").At("Bundle.entry")
	}
	if len(list) > maxEntries {
		return kind, nil, fhir.Errorf(fhir.CodeTooLong, "the Bundle has %d entries; at most %d are processed in one Bundle", len(list), maxEntries).At("Bundle.entry")
	}
	return kind, list, nil
}

// ParseEntry reads and validates entry i of a Bundle posted to base; the
// entry is returned even with an error, for the error's message (see
// EntryError).
func ParseEntry(ctx context.Context, p Parser, base string, i int, raw any, strict bool) (*Entry, error) {
	e := &Entry{Index: i}
	m, ok := raw.(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeStructure, "an entry must be an object")
	}
	e.FullURL, _ = m["fullUrl"].(string)
	rq, ok := m["request"].(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeRequired, "the entry has no request").At("Bundle.entry[" + fmt.Sprint(i) + "].request").Because(fhir.DetailMalformed)
	}
	e.Method, _ = rq["method"].(string)
	e.URL, _ = rq["url"].(string)
	if e.URL == "" {
		return e, fhir.Errorf(fhir.CodeRequired, "the entry's request has no url").Because(fhir.DetailMalformed)
	}
	// Only the path can name another server: a query may hold absolute
	// URLs (an NHS number's system, a reference to another server).
	rel, rawQuery, _ := strings.Cut(e.URL, "?")
	rel = strings.TrimPrefix(rel, base+"/")
	if strings.Contains(rel, "://") {
		return e, fhir.Errorf(fhir.CodeNotSupported, "request.url %q is not on this server (%s)", e.URL, base).Because(fhir.DetailMalformed)
	}
	path := strings.TrimPrefix(rel, "/")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return e, fhir.Errorf(fhir.CodeInvalid, "request.url %q has a malformed query: %v", e.URL, err)
	}
	e.Query = query
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	e.Type = segs[0]
	if err := p.Supports(e.Type); err != nil {
		return e, err
	}
	if len(segs) >= 2 {
		e.ID = segs[1]
		if !fhir.ValidID(e.ID) {
			return e, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", e.ID)
		}
	}
	if v, _ := rq["ifMatch"].(string); v != "" {
		if e.Pre, err = ParseIfMatch(v); err != nil {
			return e, err
		}
	}
	e.IfNoneMatch, _ = rq["ifNoneMatch"].(string)
	e.IfModifiedSince, _ = rq["ifModifiedSince"].(string)
	conditional := len(segs) == 1 && HasCriteria(query) && !e.Reads()
	if conditional {
		c, err := ParseCriteria(e.Type, query)
		if err != nil {
			return e, err
		}
		e.Crit = &c
	}
	bad := func() error {
		return fhir.Errorf(fhir.CodeNotSupported, "%s %s is not an interaction a Bundle entry can carry here", e.Method, e.URL).Because(fhir.DetailMalformed)
	}
	switch e.Method {
	case "GET", "HEAD":
		switch {
		case len(segs) == 1:
			if err := p.Supports(e.Type, "search-type"); err != nil {
				return e, err
			}
			e.Search, err = p.Search(e.Type, query, strict)
			return e, err
		case len(segs) == 2:
			if e.Render, err = p.Read(e); err != nil {
				return e, err
			}
			return e, p.Supports(e.Type, "read")
		case len(segs) == 4 && segs[2] == "_history":
			e.VID = segs[3]
			if e.Render, err = p.Read(e); err != nil {
				return e, err
			}
			return e, p.Supports(e.Type, "vread")
		}
		return e, bad()
	case "DELETE":
		switch {
		case len(segs) == 2:
			return e, p.Supports(e.Type, "delete")
		case conditional:
			return e, p.Supports(e.Type, "delete", "search-type")
		}
		return e, bad()
	case "PATCH":
		switch {
		case len(segs) == 2:
			err = p.Supports(e.Type, "patch")
		case conditional:
			err = p.Supports(e.Type, "patch", "search-type")
		default:
			return e, bad()
		}
		if err != nil {
			return e, err
		}
		res, ok := m["resource"].(map[string]any)
		if !ok {
			return e, fhir.Errorf(fhir.CodeRequired, "a PATCH entry needs a resource: a Binary (JSON Patch) or Parameters (FHIRPath Patch)").Because(fhir.DetailMalformed)
		}
		e.Patch, err = PatchFromEntry(res)
		return e, err
	case "POST":
		if len(segs) != 1 || rawQuery != "" {
			return e, bad()
		}
		if err := p.Supports(e.Type, "create"); err != nil {
			return e, err
		}
		if v, _ := rq["ifNoneExist"].(string); v != "" {
			if err := p.Supports(e.Type, "search-type"); err != nil {
				return e, err
			}
			c, err := ParseCriteriaString(e.Type, v)
			if err != nil {
				return e, err
			}
			e.IfNoneExist = &c
		}
	case "PUT":
		switch {
		case len(segs) == 2:
			err = p.Supports(e.Type, "update")
		case conditional:
			err = p.Supports(e.Type, "update", "search-type")
		default:
			return e, bad()
		}
		if err != nil {
			return e, err
		}
	default:
		return e, fhir.Errorf(fhir.CodeNotSupported, "request.method %q is not GET, HEAD, POST, PUT, PATCH or DELETE", e.Method).Because(fhir.DetailMalformed)
	}
	// POST and PUT carry a resource.
	res, ok := m["resource"].(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeRequired, "a %s entry needs a resource", e.Method).Because(fhir.DetailMalformed)
	}
	if e.Resource, err = fhir.ResourceFromObject(res); err != nil {
		return e, err
	}
	if e.Resource.Type() != e.Type {
		return e, fhir.Errorf(fhir.CodeInvalid, "resourceType %q does not match request.url's %q", e.Resource.Type(), e.Type).At("resourceType")
	}
	if e.Method == "PUT" && e.Crit == nil {
		switch e.Resource.ID() {
		case e.ID:
		case "":
			return e, fhir.Errorf(fhir.CodeRequired, "the resource must carry the id of request.url (%s)", e.ID).At(e.Type + ".id").Because(fhir.DetailMalformed)
		default:
			return e, fhir.Errorf(fhir.CodeInvalid, "the resource's id %q does not match request.url's %q", e.Resource.ID(), e.ID).At(e.Type + ".id")
		}
	}
	return e, p.Validate(ctx, e.Resource, strict)
}

// ParseIfMatch reads an If-Match (a header, or an entry's
// request.ifMatch): W/"3", "3" or 3.
func ParseIfMatch(v string) (store.Precondition, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return store.Precondition{}, nil
	}
	tag := strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, ok := ParseVersion(tag)
	if !ok {
		return store.Precondition{}, fhir.Errorf(fhir.CodeInvalid, "If-Match %q is not a version of this server (W/\"<n>\")", v)
	}
	return store.Precondition{IfMatch: n}, nil
}

// ParseVersion reads a version id ("3") as the store's integer.
func ParseVersion(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// EntryError names the entry in every issue of err: the diagnostics
// start with Bundle.entry[i] and the method and url, and expressions
// about the resource become Bundle.entry[i].resource.... Errors that are
// not a fhir.Error stay internal.
func EntryError(e *Entry, err error) error {
	fe, ok := fhir.AsError(err)
	if !ok {
		return err
	}
	prefix := fmt.Sprintf("Bundle.entry[%d]", e.Index)
	label := prefix
	if e.Method != "" || e.URL != "" {
		label += " (" + strings.TrimSpace(e.Method+" "+e.URL) + ")"
	}
	out := &fhir.Error{Status: fe.Status, Detail: fe.Detail}
	for _, is := range fe.Issues {
		if !strings.HasPrefix(is.Diagnostics, prefix) {
			is.Diagnostics = label + ": " + is.Diagnostics
		}
		exprs := make([]string, 0, max(1, len(is.Expression)))
		for _, x := range is.Expression {
			switch {
			case strings.HasPrefix(x, prefix):
				exprs = append(exprs, x)
			case e.Type != "" && (x == e.Type || strings.HasPrefix(x, e.Type+".")) && e.Method != "GET":
				exprs = append(exprs, prefix+".resource"+strings.TrimPrefix(x, e.Type))
			case x == "resourceType":
				exprs = append(exprs, prefix+".resource")
			}
		}
		if len(exprs) == 0 {
			exprs = append(exprs, prefix)
		}
		is.Expression = exprs
		out.Issues = append(out.Issues, is)
	}
	return out.Wrap(err)
}
