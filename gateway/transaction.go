package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/tenancy"
)

// Batch and transaction Bundles (R4 3.1.0.11), POSTed to the base. The
// entries are parsed and run by fhir/interaction (bundle.go, run.go and
// together.go there: the order of the entries, the rewriting of
// references, the conditional entries, the batched writes). The gateway
// reads the request, authorizes each entry against the caller's scopes,
// and writes the answer; what the run needs of the gateway goes through
// bundleHost (which types and interactions are served, searches, reads,
// validation, versions, audit) and the caller's tenancy.Tx over the
// store's transaction; audit.ForEntry says which entries are audited.
//
// A transaction that fails is answered with the failing entry's status
// and an OperationOutcome naming it (Bundle.entry[3]...); a batch's
// entries each answer with their own status, a failure carrying its
// OperationOutcome in response.outcome.
//
// Answers list, per entry, response.status ("201 Created"), location
// (Type/id/_history/n), etag and lastModified. The status line is the
// status the same interaction gets as a REST request (statusOf, and
// errors.go for errors), so it is made here, beside them, and handed to
// interaction.ResponseBundle, which writes the Bundle. Written
// resources are included with Prefer: return=representation, an
// OperationOutcome per entry with return=OperationOutcome; by default
// (R4 leaves it to the server) they are not, since the client holds what
// it sent and a 500-entry directory sync does not want it back. GET
// entries always carry what they read.

// bundle is POST [base].
func (s *Server) bundle(req *request) (*response, error) {
	if req.body == nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "a Bundle body is required")
	}
	data, err := io.ReadAll(req.body)
	if err != nil {
		return nil, err
	}
	kind, list, err := interaction.ReadBundle(data, s.opts.MaxBundleEntries)
	if kind != "" {
		req.interaction = kind
	}
	if err != nil {
		return nil, err
	}
	strict := strictHandling(req.header)
	h := &bundleHost{s: s, req: req, audits: make([]*audit.Entry, len(list))}
	entries := make([]*interaction.Entry, len(list))
	errs := make([]error, len(list))
	for i, raw := range list {
		entries[i], errs[i] = interaction.ParseEntry(req.ctx, h, req.base, i, raw, strict)
		if errs[i] != nil {
			errs[i] = interaction.EntryError(entries[i], errs[i])
			continue
		}
		// Scopes, entry by entry: a transaction fails as a whole, naming
		// the entry; a batch entry fails alone.
		e := entries[i]
		perms := entryPermissions(e)
		h.audits[i] = audit.ForEntry(e, touchesPatientData(perms))
		if err := s.authorizeAll(req.principal, perms); err != nil {
			errs[i] = interaction.EntryError(e, err)
		}
	}
	opts := interaction.Options{Base: req.base, Strict: strict}
	var results []result
	if kind == "transaction" {
		for i, err := range errs {
			if err != nil {
				req.audit = h.audits[i]
				return nil, err
			}
		}
		var failed int
		if results, failed, err = interaction.Transaction(req.ctx, s.store, h, entries, opts); err != nil {
			if failed >= 0 {
				req.audit = h.audits[failed]
			}
			return nil, err
		}
		req.audited = true
		errs = nil
	} else {
		results = interaction.Batch(req.ctx, s.store, h, entries, errs, opts)
	}
	body, err := s.bundleResponse(req, kind+"-response", entries, results, errs)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}

// bundleHost is what parsing and running a Bundle's entries needs of the
// server, for one request (interaction.Parser and interaction.Host).
type bundleHost struct {
	s   *Server
	req *request
	// audits are the entries' AuditEvents (nil: not audited), by index.
	audits []*audit.Entry
}

var (
	_ interaction.Parser  = (*bundleHost)(nil)
	_ interaction.Host    = (*bundleHost)(nil)
	_ interaction.Guarded = (*tenancy.Tx)(nil)
)

// Supports answers an unserved type 404 and an unsupported interaction
// 405, as routing does for a REST request.
func (h *bundleHost) Supports(typ string, ins ...string) error {
	if len(ins) == 0 && !h.s.registry.Serves(typ) {
		return fhir.Errorf(fhir.CodeNotSupported, "resource type %q is not served here", typ).WithStatus(http.StatusNotFound)
	}
	for _, in := range ins {
		if !h.s.registry.Supports(typ, Interaction(in)) {
			return fhir.Errorf(fhir.CodeNotSupported, "%s is not supported for %s", in, typ).WithStatus(http.StatusMethodNotAllowed)
		}
	}
	return nil
}

func (h *bundleHost) Search(typ string, query url.Values, strict bool) (interaction.Search, error) {
	sr, err := h.s.searchRequestFor(typ, query, strict)
	if err != nil {
		return nil, err
	}
	return sr, nil
}

// Run is a search entry's answer (interaction.Search).
func (sr *searchRequest) Run(ctx context.Context, tx store.Tx, base string) ([]byte, error) {
	return searchIn(ctx, tx, base, sr)
}

// Read answers a read entry as a REST read is answered
// (interaction.ReadRender).
func (h *bundleHost) Read(e *interaction.Entry) (interaction.Render, error) {
	return interaction.ReadRender(e)
}

func (h *bundleHost) Validate(ctx context.Context, r *fhir.Resource, strict bool) error {
	return h.s.writeChecks.Validate(ctx, r, strict)
}

func (h *bundleHost) Guard(tx store.Tx) interaction.Guarded {
	return h.s.tenancy.Wrap(h.req.principal, tx)
}

func (h *bundleHost) VersionRead(ctx context.Context, typ, id string, n int64) (store.Version, error) {
	return h.s.tenancy.VersionRead(ctx, h.req.principal, typ, id, n)
}

func (h *bundleHost) PatchChecks(strict bool) interaction.PatchChecks { return h.s.patchChecks(strict) }

// Audit records an entry's AuditEvent on tx, the store's transaction.
func (h *bundleHost) Audit(ctx context.Context, tx store.Tx, e *interaction.Entry, res result, practices []string) error {
	if h.audits[e.Index] == nil {
		return nil
	}
	a := *h.audits[e.Index]
	if res.Version.ID != "" {
		a.ID, a.Version = res.Version.ID, res.Version.VersionID
	}
	a.Practices = practices
	return h.s.recordAudit(ctx, tx, h.req, a, statusOf(res))
}

// Failed leaves a failure AuditEvent for a batch entry on patient data.
func (h *bundleHost) Failed(e *interaction.Entry, err error) {
	h.s.auditFailure(h.req, h.audits[e.Index], err)
}

// bundleResponse renders a transaction-response or batch-response
// (interaction.ResponseBundle) with each entry's HTTP status.
func (s *Server) bundleResponse(req *request, kind string, entries []*interaction.Entry, results []result, errs []error) ([]byte, error) {
	ret := preference(req.header, "return")
	answers := make([]interaction.EntryAnswer, len(entries))
	shownErrs := interaction.ShownErrors(errs) // fhir.MaxIssues over all entries
	for i := range entries {
		if errs != nil && errs[i] != nil {
			shownErr, _ := s.asUnavailable(shownErrs[i])
			status, body, internal := errorResponse(shownErr)
			if internal {
				s.log.LogAttrs(req.ctx, slog.LevelError, "batch entry failed",
					slog.Int("entry", i), slog.Int("status", status), slog.String("error", errs[i].Error()))
			}
			answers[i] = interaction.EntryAnswer{Status: statusLine(status), Failed: true, Failure: body}
			continue
		}
		answers[i] = interaction.EntryAnswer{Status: statusLine(statusOf(results[i])), Result: results[i]}
		if ret == "OperationOutcome" {
			answers[i].Info = information(results[i].Info)
		}
	}
	return interaction.ResponseBundle(kind, req.base, ret, entries, answers)
}

// statusLine is a Bundle entry's response.status: "201 Created".
func statusLine(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}
