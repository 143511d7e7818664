package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Audit is package audit's (what an AuditEvent says, when and how it is
// written); the gateway fills its neutral values from the request and
// says which failures are recorded: a refusal (403) and a miss (404,
// 410).

// auditEntry is what one AuditEvent says, as the handlers fill it.
type auditEntry struct {
	// subtype is the restful-interaction code.
	subtype string
	// action is C, R, U, D or E.
	action string
	typ    string
	id     string
	// version is the version read or written, 0 when none.
	version int64
	// params are the search parameter names.
	params []string
	// operation is the $name of an operation.
	operation string
	// types are the types a system search (_type) searched.
	types []string
	// practices the access concerned (the resource's); empty means the
	// caller's.
	practices []string
	// status is the HTTP status of the interaction (0: 200).
	status int
	// entry is the Bundle entry index, -1 for a plain request.
	entry int
}

// auditFor starts the AuditEvent of a REST interaction on req.typ.
func auditFor(subtype, action string, req *request) *auditEntry {
	return &auditEntry{subtype: subtype, action: action, typ: req.typ, id: req.id, entry: -1}
}

// neutral is e as package audit takes it.
func (e *auditEntry) neutral() audit.Entry {
	status := e.status
	if status == 0 {
		status = http.StatusOK
	}
	return audit.Entry{Subtype: e.subtype, Action: e.action, Type: e.typ, ID: e.id, Version: e.version,
		Params: e.params, Operation: e.operation, Types: e.types, Practices: e.practices, Entry: e.entry,
		Outcome: audit.Outcome{Code: outcomeCode(status), Desc: strconv.Itoa(status) + " " + http.StatusText(status)}}
}

// outcomeCode is AuditEvent.outcome for an HTTP status.
func outcomeCode(status int) audit.OutcomeCode {
	switch {
	case status < 400:
		return audit.Success
	case status < 500:
		return audit.MinorFailure
	}
	return audit.SeriousFailure
}

// who is req's caller as package audit takes it.
func (req *request) who() audit.Who {
	return audit.Who{Principal: req.principal, ClientIP: req.clientIP, RequestID: req.requestID}
}

// newAuditor builds s's audit.Recorder.
func (s *Server) newAuditor() *audit.Recorder {
	return audit.New(audit.Options{Store: s.store, Tenancy: s.tenancy, CanonicalBase: s.opts.CanonicalBase,
		Version: s.opts.Version, Now: s.opts.Now, Logger: s.log, FailureTimeout: auditTimeout,
		ObserveBatch: func(n int) { s.metrics.ObserveAuditBatch(n) }})
}

// recordAudit creates e's AuditEvent on tx (the raw store, never the
// caller's tenantTx).
func (s *Server) recordAudit(ctx context.Context, tx store.Tx, req *request, e *auditEntry) error {
	return s.audits.Record(ctx, tx, req.who(), e.neutral())
}

// auditRead records a successful read-type access before its response is
// sent: if that fails, so does the request (500), and the data stays
// unsent.
func (s *Server) auditRead(req *request, e *auditEntry) error {
	if e == nil {
		return nil
	}
	if err := s.audits.Read(req.ctx, req.who(), e.neutral()); err != nil {
		return err
	}
	req.audited = true
	return nil
}

// auditFailure records that an audited interaction failed with err, when
// it is a refusal (403) or a miss (404, 410); a miss on another
// practice's id is recorded for that practice too (audit.Failure).
func (s *Server) auditFailure(req *request, e *auditEntry, err error) {
	if e == nil || req.principal == nil {
		return
	}
	status, _, _ := errorResponse(err)
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
	default:
		return
	}
	f := *e
	f.status = status
	s.audits.Failure(req.ctx, req.who(), f.neutral(), status != http.StatusForbidden)
}

// paramNames are the keys of a search, sorted, without values.
func paramNames(values map[string][]string) []string {
	return audit.ParamNames(values, cursorParam, "_format", "_pretty")
}
