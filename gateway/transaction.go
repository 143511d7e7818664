package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Batch and transaction Bundles (R4 3.1.0.11), POSTed to the base.
//
// A transaction is one Store.Transaction: every entry commits, or none
// does and the answer is the failing entry's status with an
// OperationOutcome naming it (Bundle.entry[3]...). Entries are processed
// in the order R4 3.1.0.11.2 sets: DELETE, then POST, then PUT and PATCH,
// then GET and HEAD, each group in Bundle order. Before anything is
// written, every POST gets its server id (or, with ifNoneExist, the id of
// its match) and every conditional PUT, PATCH and DELETE its target, so
// that:
//
//   - the fullUrl of each POSTed entry, and the urn:uuid:/urn:oid:
//     fullUrl of each PUT, is rewritten to Type/id in every
//     Reference.reference of every resource of the Bundle, every element
//     of type uri, url, oid or uuid and every href and src of a
//     narrative (R4 3.1.0.11.2; relative, as HAPI FHIR writes them);
//   - two entries acting on the same resource fail the transaction (400),
//     as R4 requires.
//
// Conditional references (Patient?identifier=a|1) are resolved by a
// search inside the transaction, just before the resource holding them is
// written, so they see what earlier entries wrote: no match is a 400,
// several a 412. The lock keys of every conditional entry are taken at the
// start, sorted, so two transactions never wait on each other's locks in
// opposite orders.
//
// A large transaction (a directory publisher's sync: hundreds of
// conditional updates keyed by identifier) costs round trips, not work,
// so on a store that can (PostgreSQL) the locks are taken in one
// statement, plain identifier criteria are searched together, and creates
// under server ids and plain updates are written together at the end of
// the write step (transaction_batch.go); the answer is the same entry by
// entry.
//
// A batch runs each entry the same way but in a transaction of its own,
// in Bundle order; each entry answers with its own status, and a failure
// carries its OperationOutcome in response.outcome.
//
// A Tx offers no VRead, so a transaction's vread entries are read from
// the Store before the transaction starts (versions never change once
// written) and, inside it, from tx.Read when the version asked for is the
// current one: a version the transaction itself wrote is only visible
// there.
//
// Answers list, per entry, response.status ("201 Created"), location
// (Type/id/_history/n), etag and lastModified. Written resources are
// included with Prefer: return=representation, an OperationOutcome per
// entry with return=OperationOutcome; by default (R4 leaves it to the
// server) they are not, since the client holds what it sent and a
// 500-entry directory sync does not want it back. GET entries always
// carry what they read.

// entry is one parsed Bundle entry.
type entry struct {
	index   int
	method  string
	url     string // request.url as sent, for messages
	typ     string
	id      string
	vid     string
	fullURL string
	// resource is the entry's resource (POST, PUT), validated.
	resource *fhir.Resource
	patch    interaction.Patcher
	pre      store.Precondition
	// ifNoneMatch and ifModifiedSince make a GET conditional.
	ifNoneMatch, ifModifiedSince string
	ifNoneExist                  *criteria
	// crit is the criteria of a conditional PUT, PATCH or DELETE.
	crit   *criteria
	search *searchRequest
	// subset is a read's _summary or _elements (nil: the whole resource).
	subset *subsetter
	// query is request.url's query string.
	query url.Values
	// perms are what the entry needs (authorize.go); audit is its
	// AuditEvent when it touches patient data.
	perms []Permission
	audit *auditEntry
}

// auditEntryFor starts the AuditEvent of a Bundle entry that touches
// patient data; nil for one that does not.
func auditEntryFor(e *entry) *auditEntry {
	config := (e.writes() || e.method == http.MethodDelete) && auditedConfig(e.typ)
	if !touchesPatientData(e.perms) && !config {
		return nil
	}
	a := &auditEntry{typ: e.typ, id: e.id, entry: e.index}
	if config {
		a.practices = configPractices(e.typ, e.id)
	}
	switch e.method {
	case http.MethodGet, http.MethodHead:
		a.subtype, a.action = "read", "R"
		switch {
		case e.search != nil:
			a.subtype, a.action = "search-type", "E"
			a.params = paramNames(e.query)
		case e.vid != "":
			a.subtype = "vread"
		}
	case http.MethodPost:
		a.subtype, a.action = "create", "C"
	case http.MethodPut:
		a.subtype, a.action = "update", "U"
	case http.MethodPatch:
		a.subtype, a.action = "patch", "U"
	case http.MethodDelete:
		a.subtype, a.action = "delete", "D"
	}
	return a
}

func (e *entry) writes() bool {
	return e.method == http.MethodPost || e.method == http.MethodPut || e.method == http.MethodPatch
}

func (e *entry) reads() bool { return e.method == http.MethodGet || e.method == http.MethodHead }

// bundle is POST [base].
func (s *Server) bundle(req *request) (*response, error) {
	if req.body == nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "a Bundle body is required").WithStatus(http.StatusBadRequest)
	}
	data, err := io.ReadAll(req.body)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fhir.Errorf(fhir.CodeStructure, "a Bundle body is required").WithStatus(http.StatusBadRequest)
	}
	v, err := fhir.DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok || obj["resourceType"] != "Bundle" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "POST to the base takes a batch or transaction Bundle").At("resourceType").WithStatus(http.StatusBadRequest)
	}
	kind, _ := obj["type"].(string)
	if kind != "transaction" && kind != "batch" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "Bundle.type %q is not processed here: send a transaction or a batch", kind).At("Bundle.type").WithStatus(http.StatusBadRequest)
	}
	req.interaction = kind
	raw, present := obj["entry"]
	list, ok := raw.([]any)
	if present && !ok {
		return nil, fhir.Errorf(fhir.CodeStructure, "Bundle.entry must be an array").At("Bundle.entry").WithStatus(http.StatusBadRequest)
	}
	if len(list) > s.opts.MaxBundleEntries {
		return nil, fhir.Errorf(fhir.CodeTooLong, "the Bundle has %d entries; at most %d are processed in one Bundle", len(list), s.opts.MaxBundleEntries).At("Bundle.entry").WithStatus(http.StatusRequestEntityTooLarge)
	}
	strict := strictHandling(req.header)
	entries := make([]*entry, len(list))
	errs := make([]error, len(list))
	for i, raw := range list {
		entries[i], errs[i] = s.parseEntry(req.ctx, req.base, i, raw, strict)
		if errs[i] != nil {
			errs[i] = entryError(entries[i], errs[i])
			continue
		}
		// Scopes, entry by entry: a transaction fails as a whole, naming
		// the entry; a batch entry fails alone.
		e := entries[i]
		e.perms = entryPermissions(e)
		e.audit = auditEntryFor(e)
		if err := s.authorizeAll(req.principal, e.perms); err != nil {
			errs[i] = entryError(e, err)
		}
	}
	var results []result
	if kind == "transaction" {
		for i, err := range errs {
			if err != nil {
				req.audit = entries[i].audit
				return nil, err
			}
		}
		var failed int
		if results, failed, err = s.transaction(req, entries, strict); err != nil {
			if failed >= 0 {
				req.audit = entries[failed].audit
			}
			return nil, err
		}
		req.audited = true
		errs = nil
	} else {
		results = s.batch(req, entries, errs, strict)
	}
	body, err := s.bundleResponse(req, kind+"-response", entries, results, errs)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// parseEntry reads and validates one entry; the entry is returned even
// with an error, for the error's message.
func (s *Server) parseEntry(ctx context.Context, base string, i int, raw any, strict bool) (*entry, error) {
	e := &entry{index: i}
	m, ok := raw.(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeStructure, "an entry must be an object").WithStatus(http.StatusBadRequest)
	}
	e.fullURL, _ = m["fullUrl"].(string)
	rq, ok := m["request"].(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeRequired, "the entry has no request").At("Bundle.entry[" + fmt.Sprint(i) + "].request").WithStatus(http.StatusBadRequest)
	}
	e.method, _ = rq["method"].(string)
	e.url, _ = rq["url"].(string)
	if e.url == "" {
		return e, fhir.Errorf(fhir.CodeRequired, "the entry's request has no url").WithStatus(http.StatusBadRequest)
	}
	// Only the path can name another server: a query may hold absolute
	// URLs (an NHS number's system, a reference to another server).
	rel, rawQuery, _ := strings.Cut(e.url, "?")
	rel = strings.TrimPrefix(rel, base+"/")
	if strings.Contains(rel, "://") {
		return e, fhir.Errorf(fhir.CodeNotSupported, "request.url %q is not on this server (%s)", e.url, base).WithStatus(http.StatusBadRequest)
	}
	path := strings.TrimPrefix(rel, "/")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return e, fhir.Errorf(fhir.CodeInvalid, "request.url %q has a malformed query: %v", e.url, err).WithStatus(http.StatusBadRequest)
	}
	e.query = query
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	e.typ = segs[0]
	if !s.registry.Serves(e.typ) {
		return e, fhir.Errorf(fhir.CodeNotSupported, "resource type %q is not served here", e.typ).WithStatus(http.StatusNotFound)
	}
	supported := func(is ...Interaction) error {
		for _, in := range is {
			if !s.registry.Supports(e.typ, in) {
				return fhir.Errorf(fhir.CodeNotSupported, "%s is not supported for %s", in, e.typ).WithStatus(http.StatusMethodNotAllowed)
			}
		}
		return nil
	}
	if len(segs) >= 2 {
		e.id = segs[1]
		if !fhir.ValidID(e.id) {
			return e, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", e.id).WithStatus(http.StatusNotFound)
		}
	}
	if v, _ := rq["ifMatch"].(string); v != "" {
		if e.pre, err = ifMatch(http.Header{"If-Match": {v}}); err != nil {
			return e, err
		}
	}
	e.ifNoneMatch, _ = rq["ifNoneMatch"].(string)
	e.ifModifiedSince, _ = rq["ifModifiedSince"].(string)
	conditional := len(segs) == 1 && interaction.HasCriteria(query) && !e.reads()
	if conditional {
		c, err := interaction.ParseCriteria(e.typ, query)
		if err != nil {
			return e, err
		}
		e.crit = &c
	}
	bad := func() error {
		return fhir.Errorf(fhir.CodeNotSupported, "%s %s is not an interaction a Bundle entry can carry here", e.method, e.url).WithStatus(http.StatusBadRequest)
	}
	switch e.method {
	case http.MethodGet, http.MethodHead:
		switch {
		case len(segs) == 1:
			if err := supported(SearchType); err != nil {
				return e, err
			}
			e.search, err = s.searchRequestFor(e.typ, query, strict)
			return e, err
		case len(segs) == 2:
			e.subset, err = readSubset(&request{typ: e.typ, query: query})
			if err != nil {
				return e, err
			}
			return e, supported(Read)
		case len(segs) == 4 && segs[2] == "_history":
			e.vid = segs[3]
			e.subset, err = readSubset(&request{typ: e.typ, query: query})
			if err != nil {
				return e, err
			}
			return e, supported(VRead)
		}
		return e, bad()
	case http.MethodDelete:
		switch {
		case len(segs) == 2:
			return e, supported(Delete)
		case conditional:
			return e, supported(Delete, SearchType)
		}
		return e, bad()
	case http.MethodPatch:
		switch {
		case len(segs) == 2:
			err = supported(Patch)
		case conditional:
			err = supported(Patch, SearchType)
		default:
			return e, bad()
		}
		if err != nil {
			return e, err
		}
		res, ok := m["resource"].(map[string]any)
		if !ok {
			return e, fhir.Errorf(fhir.CodeRequired, "a PATCH entry needs a resource: a Binary (JSON Patch) or Parameters (FHIRPath Patch)").WithStatus(http.StatusBadRequest)
		}
		e.patch, err = interaction.PatchFromEntry(res)
		return e, err
	case http.MethodPost:
		if len(segs) != 1 || rawQuery != "" {
			return e, bad()
		}
		if err := supported(Create); err != nil {
			return e, err
		}
		if v, _ := rq["ifNoneExist"].(string); v != "" {
			if err := supported(SearchType); err != nil {
				return e, err
			}
			c, err := interaction.ParseCriteriaString(e.typ, v)
			if err != nil {
				return e, err
			}
			e.ifNoneExist = &c
		}
	case http.MethodPut:
		switch {
		case len(segs) == 2:
			err = supported(Update)
		case conditional:
			err = supported(Update, SearchType)
		default:
			return e, bad()
		}
		if err != nil {
			return e, err
		}
	default:
		return e, fhir.Errorf(fhir.CodeNotSupported, "request.method %q is not GET, HEAD, POST, PUT, PATCH or DELETE", e.method).WithStatus(http.StatusBadRequest)
	}
	// POST and PUT carry a resource.
	res, ok := m["resource"].(map[string]any)
	if !ok {
		return e, fhir.Errorf(fhir.CodeRequired, "a %s entry needs a resource", e.method).WithStatus(http.StatusBadRequest)
	}
	if e.resource, err = fhir.ResourceFromObject(res); err != nil {
		return e, err
	}
	if e.resource.Type() != e.typ {
		return e, fhir.Errorf(fhir.CodeInvalid, "resourceType %q does not match request.url's %q", e.resource.Type(), e.typ).At("resourceType").WithStatus(http.StatusBadRequest)
	}
	if e.method == http.MethodPut && e.crit == nil {
		switch e.resource.ID() {
		case e.id:
		case "":
			return e, fhir.Errorf(fhir.CodeRequired, "the resource must carry the id of request.url (%s)", e.id).At(e.typ + ".id").WithStatus(http.StatusBadRequest)
		default:
			return e, fhir.Errorf(fhir.CodeInvalid, "the resource's id %q does not match request.url's %q", e.resource.ID(), e.id).At(e.typ + ".id").WithStatus(http.StatusBadRequest)
		}
	}
	return e, s.validate(ctx, e.resource, strict)
}

// entryError names the entry in every issue of err: the diagnostics
// start with Bundle.entry[i] and the method and url, and expressions
// about the resource become Bundle.entry[i].resource.... Errors that are
// not a fhir.Error stay internal.
func entryError(e *entry, err error) error {
	fe, ok := fhir.AsError(err)
	if !ok {
		return err
	}
	prefix := fmt.Sprintf("Bundle.entry[%d]", e.index)
	label := prefix
	if e.method != "" || e.url != "" {
		label += " (" + strings.TrimSpace(e.method+" "+e.url) + ")"
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
			case e.typ != "" && (x == e.typ || strings.HasPrefix(x, e.typ+".")) && e.method != http.MethodGet:
				exprs = append(exprs, prefix+".resource"+strings.TrimPrefix(x, e.typ))
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

// transactionRetries bounds how often a transaction that lost such a
// race runs again.
const transactionRetries = 3

// transaction runs the entries in one Store.Transaction, each entry's
// AuditEvent with them. On failure it reports the failing entry's index
// (-1 when the failure is not an entry's).
func (s *Server) transaction(req *request, entries []*entry, strict bool) ([]result, int, error) {
	ctx := req.ctx
	var keys []string
	for _, e := range entries {
		if e.ifNoneExist != nil {
			keys = append(keys, e.ifNoneExist.Key)
		}
		if e.crit != nil {
			keys = append(keys, e.crit.Key)
		}
		if e.method == http.MethodPatch && e.crit == nil {
			keys = append(keys, interaction.PatchLockKey(e.typ, e.id))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	prefetched := map[int]vread{}
	for i, e := range entries {
		if e.vid != "" {
			prefetched[i] = s.readAhead(ctx, req.principal, e)
		}
	}
	var results []result
	var err error
	failed := -1
	for attempt := 0; attempt < transactionRetries; attempt++ {
		err = s.store.Transaction(ctx, func(tx store.Tx) error {
			if err := interaction.LockAll(ctx, tx, keys); err != nil {
				return err
			}
			run := s.newRun(req, tx, entries, strict)
			run.vreads = prefetched
			err := run.do()
			failed = run.failed
			if err != nil {
				return err
			}
			results = run.results
			return run.recordAudits()
		})
		if !errors.Is(err, interaction.ErrConcurrentWrite) {
			break
		}
	}
	if err != nil {
		return nil, failed, err
	}
	return results, -1, nil
}

// newRun prepares one attempt at running entries in tx.
func (s *Server) newRun(req *request, tx store.Tx, entries []*entry, strict bool) *txRun {
	return &txRun{srv: s, req: req, ctx: req.ctx, tx: s.guard(req.principal, tx), raw: tx, base: req.base, entries: entries, strict: strict, failed: -1}
}

// vread is a version read ahead of a transaction.
type vread struct {
	v   store.Version
	err error
}

func (s *Server) readAhead(ctx context.Context, p *auth.Principal, e *entry) vread {
	n, ok := parseVersion(e.vid)
	if !ok {
		return vread{err: fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %q", e.typ, e.id, e.vid).WithStatus(http.StatusNotFound)}
	}
	v, err := s.versionRead(ctx, p, e.typ, e.id, n)
	return vread{v: v, err: err}
}

// batch runs each entry in a transaction of its own, with its AuditEvent;
// errs holds the parse errors and receives the processing ones. An entry
// on patient data that fails leaves a failure AuditEvent.
func (s *Server) batch(req *request, entries []*entry, errs []error, strict bool) []result {
	ctx := req.ctx
	results := make([]result, len(entries))
	for i, e := range entries {
		if errs[i] != nil {
			if e.perms != nil {
				s.auditFailure(req, e.audit, errs[i])
			}
			continue
		}
		var out []result
		var err error
		for attempt := 0; attempt < transactionRetries; attempt++ {
			err = s.store.Transaction(ctx, func(tx store.Tx) error {
				run := s.newRun(req, tx, []*entry{e}, strict)
				if e.vid != "" {
					run.vreads = map[int]vread{0: s.readAhead(ctx, req.principal, e)}
				}
				if err := run.do(); err != nil {
					return err
				}
				out = run.results
				return run.recordAudits()
			})
			if !errors.Is(err, interaction.ErrConcurrentWrite) {
				break
			}
		}
		if err != nil {
			errs[i] = err
			s.auditFailure(req, e.audit, err)
			continue
		}
		results[i] = out[0]
	}
	return results
}

// readResult answers a GET entry that found v.
func readResult(e *entry, v store.Version) (result, error) {
	if notModified(v, e.ifNoneMatch, e.ifModifiedSince) {
		return result{Outcome: interaction.NotModified, Version: v}, nil
	}
	body, err := e.subset.apply(v.Type, v.Body, true)
	if err != nil {
		return result{}, fmt.Errorf("subset %s/%s: %w", v.Type, v.ID, err)
	}
	return result{Outcome: interaction.Done, Version: v, Body: body}, nil
}

// txRun is one attempt at running entries inside tx.
type txRun struct {
	srv *Server
	req *request
	ctx context.Context
	// tx is the caller's tenantTx on raw, the store's transaction, which
	// AuditEvents are written to.
	tx      *tenantTx
	raw     store.Tx
	base    string
	entries []*entry
	strict  bool
	// failed is the index of the entry that failed, -1 while none has.
	failed int
	// practices holds, per entry, the practices of what it wrote or read.
	practices [][]string

	results []result
	// work holds this attempt's copies of the entries' resources: a
	// retried attempt starts again from the Bundle as sent.
	work []*fhir.Resource
	// ids are the resolved targets of POST, PUT, PATCH and DELETE
	// entries; creates marks conditional PUTs that create.
	ids     []string
	creates []bool
	// matched holds what a POST's ifNoneExist found.
	matched []*store.Version
	// sameAs is, for a conditional create repeating an earlier one's
	// criteria, that entry's index; -1 otherwise.
	sameAs []int
	// targets maps Type/id to the entry acting on it.
	targets map[string]int
	// refs maps temporary fullUrls to Type/id.
	refs map[string]string
	// vreads are the vread entries read ahead, by entry index.
	vreads map[int]vread
	// found holds what step 2's identifier criteria match, by lock key
	// (prefetchIdentifiers).
	found map[string][]store.Version
}

func (t *txRun) fail(e *entry, err error) error {
	t.failed = e.index
	return entryError(e, err)
}

// recordAudits writes the AuditEvent of every entry on patient data, in
// the transaction that did what it records.
func (t *txRun) recordAudits() error {
	for i, e := range t.entries {
		if e.audit == nil {
			continue
		}
		a := *e.audit
		out := t.results[i]
		a.status = statusOf(out)
		if out.Version.ID != "" {
			a.id, a.version = out.Version.ID, out.Version.VersionID
		}
		a.practices = t.practices[i]
		if err := t.srv.recordAudit(t.ctx, t.raw, t.req, &a); err != nil {
			return err
		}
	}
	return nil
}

// claim records that e acts on typ/id; a second entry on the same
// resource fails the transaction.
func (t *txRun) claim(e *entry, typ, id string) error {
	key := typ + "/" + id
	if j, dup := t.targets[key]; dup {
		return t.fail(e, fhir.Errorf(fhir.CodeInvalid, "Bundle.entry[%d] already acts on %s; a Bundle may act on a resource once", j, key).WithStatus(http.StatusBadRequest))
	}
	t.targets[key] = e.index
	return nil
}

func (t *txRun) do() error {
	n := len(t.entries)
	t.results = make([]result, n)
	t.practices = make([][]string, n)
	t.work = make([]*fhir.Resource, n)
	t.ids = make([]string, n)
	t.creates = make([]bool, n)
	t.matched = make([]*store.Version, n)
	t.sameAs = make([]int, n)
	for i := range t.sameAs {
		t.sameAs[i] = -1
	}
	t.targets = map[string]int{}
	t.refs = map[string]string{}
	for i, e := range t.entries {
		if e.resource != nil {
			t.work[i] = e.resource.Clone()
		}
	}
	ctx, tx := t.ctx, t.tx
	byMethod := func(methods ...string) []int {
		var out []int
		for i, e := range t.entries {
			if slices.Contains(methods, e.method) {
				out = append(out, i)
			}
		}
		return out
	}

	// 1. DELETE.
	for _, i := range byMethod(http.MethodDelete) {
		e := t.entries[i]
		id := e.id
		if e.crit != nil {
			found, err := interaction.Matches(ctx, tx, *e.crit)
			if err != nil {
				return t.fail(e, err)
			}
			switch len(found) {
			case 0:
				t.results[i] = result{Outcome: interaction.Deleted, Info: "nothing matches " + e.crit.Text + "; nothing changed"}
				continue
			case 1:
				id = found[0].ID
			default:
				return t.fail(e, interaction.SeveralMatch(*e.crit, "conditional delete"))
			}
		}
		if err := t.claim(e, e.typ, id); err != nil {
			return err
		}
		out, err := interaction.Delete(ctx, tx, e.typ, id, e.pre)
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}

	// 2. Identities of what POST, PUT and PATCH write. Nothing is written
	// until step 4, so the criteria of this step may be searched together.
	if err := t.prefetchIdentifiers(); err != nil {
		return err
	}
	// Conditional entries with the same criteria in one Bundle: two
	// conditional creates are one create (as HAPI FHIR consolidates
	// them), the second answering with what the first made; any other
	// pair would act twice on one identity, which R4 refuses.
	conditionals := map[string]int{}
	for _, i := range byMethod(http.MethodPost) {
		e := t.entries[i]
		t.ids[i] = uuid.NewString()
		if e.ifNoneExist != nil {
			if j, dup := conditionals[e.ifNoneExist.Key]; dup {
				t.ids[i], t.matched[i], t.sameAs[i] = t.ids[j], t.matched[j], j
				if e.fullURL != "" {
					t.refs[e.fullURL] = e.typ + "/" + t.ids[i]
				}
				continue
			}
			conditionals[e.ifNoneExist.Key] = i
			found, err := t.matches(*e.ifNoneExist)
			if err != nil {
				return t.fail(e, err)
			}
			switch len(found) {
			case 0:
			case 1:
				t.matched[i] = &found[0]
				t.ids[i] = found[0].ID
			default:
				return t.fail(e, interaction.SeveralMatch(*e.ifNoneExist, "conditional create"))
			}
		}
		if err := t.claim(e, e.typ, t.ids[i]); err != nil {
			return err
		}
		if e.fullURL != "" {
			t.refs[e.fullURL] = e.typ + "/" + t.ids[i]
		}
	}
	for _, i := range byMethod(http.MethodPut, http.MethodPatch) {
		e := t.entries[i]
		t.ids[i] = e.id
		if e.crit != nil {
			if j, dup := conditionals[e.crit.Key]; dup {
				return t.fail(e, fhir.Errorf(fhir.CodeInvalid, "Bundle.entry[%d] already acts on what %s matches; a Bundle may act on a resource once", j, e.crit.Text).WithStatus(http.StatusBadRequest))
			}
			conditionals[e.crit.Key] = i
			var err error
			if e.method == http.MethodPut {
				var found []store.Version
				if found, err = t.matches(*e.crit); err == nil {
					t.ids[i], t.creates[i], err = interaction.TargetOf(ctx, tx, e.typ, t.work[i].ID(), *e.crit, found)
				}
			} else {
				t.ids[i], err = interaction.ConditionalID(ctx, tx, *e.crit, "conditional patch")
			}
			if err != nil {
				return t.fail(e, err)
			}
		}
		if err := t.claim(e, e.typ, t.ids[i]); err != nil {
			return err
		}
		if strings.HasPrefix(e.fullURL, "urn:") {
			t.refs[e.fullURL] = e.typ + "/" + t.ids[i]
		}
	}

	// 3. References to the Bundle's temporary ids, and the other links
	// R4 rewrites: uri, url, oid and uuid elements and narrative links.
	// All take Type/id, relative to the base, as HAPI FHIR writes them.
	if len(t.refs) > 0 {
		for _, r := range t.work {
			if r != nil {
				fhir.RewriteReferences(r.Object(), func(ref string) (string, bool) { to, ok := t.refs[ref]; return to, ok })
				fhir.RewriteLinks(r.Object(), t.refs)
			}
		}
	}

	// 4. POST, then PUT and PATCH. Creates under server ids may be sent
	// together at the end of the step (createsTogether).
	together := t.createsTogether()
	var pending, pendingUpdates []int
	for _, i := range byMethod(http.MethodPost) {
		e := t.entries[i]
		if t.sameAs[i] >= 0 {
			continue // answered once the entry it repeats is written
		}
		if t.matched[i] != nil {
			t.results[i] = interaction.Existing(*t.matched[i])
			continue
		}
		r := t.work[i]
		if err := interaction.ResolveConditionalReferences(ctx, tx, r.Object()); err != nil {
			return t.fail(e, err)
		}
		r.SetID(t.ids[i])
		if together && t.deferrable(e.typ) {
			pending = append(pending, i)
			continue
		}
		out, err := interaction.Create(ctx, tx, r)
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}
	for _, i := range byMethod(http.MethodPut, http.MethodPatch) {
		e := t.entries[i]
		var out result
		var err error
		if e.method == http.MethodPatch {
			out, err = t.srv.patchIn(ctx, tx, e.typ, t.ids[i], e.patch, e.pre, t.strict)
		} else {
			r := t.work[i]
			if err = interaction.ResolveConditionalReferences(ctx, tx, r.Object()); err == nil {
				r.SetID(t.ids[i])
				switch {
				case !t.creates[i] && together && e.pre.IfMatch == 0 && t.deferrableUpdate(e.typ):
					pendingUpdates = append(pendingUpdates, i)
					continue
				case !t.creates[i]:
					out, err = interaction.Update(ctx, tx, r, e.pre)
				case e.pre.IfMatch != 0:
					err = fhir.Errorf(fhir.CodeConflict, "nothing matches %s, so ifMatch cannot match", e.crit.Text).WithStatus(http.StatusPreconditionFailed)
				case together && t.deferrable(e.typ):
					pending = append(pending, i)
					continue
				default:
					out, err = interaction.Create(ctx, tx, r)
				}
			}
		}
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}
	if err := t.createPending(pending); err != nil {
		return err
	}
	if err := t.updatePending(pendingUpdates); err != nil {
		return err
	}
	for i, j := range t.sameAs {
		if j >= 0 {
			v := t.results[j].Version
			t.results[i], t.practices[i] = interaction.Existing(v), t.practices[j]
			t.results[i].Info = fmt.Sprintf("%s/%s, which Bundle.entry[%d] made with the same criteria; nothing more was created", v.Type, v.ID, j)
		}
	}

	// 5. GET and HEAD.
	for _, i := range byMethod(http.MethodGet, http.MethodHead) {
		e := t.entries[i]
		switch {
		case e.vid != "":
			ahead := t.vreads[i]
			n, _ := parseVersion(e.vid)
			if cur, err := tx.Read(ctx, e.typ, e.id); err == nil && cur.VersionID == n {
				ahead = vread{v: cur}
			}
			if ahead.err != nil {
				return t.fail(e, ahead.err)
			}
			out, err := readResult(e, ahead.v)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i], t.practices[i] = out, t.srv.practicesOf(ahead.v.Body)
		case e.search != nil:
			body, err := searchIn(ctx, tx, t.base, e.search)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i] = result{Outcome: interaction.Done, Body: body}
		default:
			v, err := tx.Read(ctx, e.typ, e.id)
			if err != nil {
				return t.fail(e, err)
			}
			out, err := readResult(e, v)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i], t.practices[i] = out, t.srv.practicesOf(v.Body)
		}
	}
	return nil
}

// bundleResponse renders a transaction-response or batch-response.
func (s *Server) bundleResponse(req *request, kind string, entries []*entry, results []result, errs []error) ([]byte, error) {
	ret := preference(req.header, "return")
	b := bundleOut{ResourceType: "Bundle", Type: kind, Entry: make([]bundleEntry, len(entries))}
	// The entries' OperationOutcomes share fhir.MaxIssues, as the issues
	// of one do: past it, a failed entry shows its first issue and how
	// many more it had, so a batch of entries made of errors cannot make
	// an answer a hundred times its size.
	shown := 0
	for i, e := range entries {
		if errs != nil && errs[i] != nil {
			shownErr := errs[i]
			if fe, ok := fhir.AsError(shownErr); ok {
				if n := len(fe.Issues); shown >= fhir.MaxIssues && n > 1 {
					first := fe.Issues[0] // it decides the status, as before
					shownErr = &fhir.Error{Status: fe.Status, Detail: fe.Detail, Issues: []fhir.Issue{first, {Severity: first.Severity, Code: fhir.CodeTooCostly,
						Diagnostics: fmt.Sprintf("and %d more issues", n-1)}}}
				}
				shown += len(fe.Issues)
			}
			shownErr, _ = s.asUnavailable(shownErr)
			status, body, internal := errorResponse(shownErr)
			if internal {
				s.log.LogAttrs(req.ctx, slog.LevelError, "batch entry failed",
					slog.Int("entry", i), slog.Int("status", status), slog.String("error", errs[i].Error()))
			}
			b.Entry[i] = bundleEntry{Response: &entryResponse{Status: statusLine(status), Outcome: body}}
			continue
		}
		out := results[i]
		v := out.Version
		resp := &entryResponse{Status: statusLine(statusOf(out))}
		if v.VersionID != 0 {
			resp.Etag = fmt.Sprintf(`W/"%d"`, v.VersionID)
			resp.LastModified = v.LastUpdated.UTC().Format(fhir.InstantFormat)
		}
		be := bundleEntry{Response: resp}
		switch {
		case e.reads():
			if e.method == http.MethodGet && out.Body != nil {
				be.Resource = out.Body
				if v.ID != "" {
					be.FullURL = req.base + "/" + v.Type + "/" + v.ID
				}
			}
		case ret == "OperationOutcome":
			resp.Outcome = information(out.Info)
		}
		if e.writes() && v.ID != "" {
			resp.Location = fmt.Sprintf("%s/%s/_history/%d", v.Type, v.ID, v.VersionID)
			if ret == "representation" {
				be.Resource = v.Body
				be.FullURL = req.base + "/" + v.Type + "/" + v.ID
			}
		}
		b.Entry[i] = be
	}
	return marshal(b)
}

// statusLine is a Bundle entry's response.status: "201 Created".
func statusLine(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}
