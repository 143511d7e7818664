package gateway

import (
	"context"
	"net/http"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Audit is package audit's (which interactions are audited, what an
// AuditEvent says, when and how it is written); the handlers start its
// Entry with what they parsed, fill in the rest once the interaction has
// run, and say which failures are recorded: a refusal (403) and a miss
// (404, 410).

// outcome is the audit.Outcome of an interaction answered with status.
func outcome(status int) audit.Outcome { return audit.OutcomeOf(status, http.StatusText(status)) }

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

// recordAudit creates e's AuditEvent, answered with status, on tx (the
// raw store, never the caller's tenancy.Tx).
func (s *Server) recordAudit(ctx context.Context, tx store.Tx, req *request, e audit.Entry, status int) error {
	e.Outcome = outcome(status)
	return s.audits.Record(ctx, tx, req.who(), e)
}

// auditRead records a successful read-type access, answered with
// status, before its response is sent: if that fails, so does the
// request (500), and the data stays unsent.
func (s *Server) auditRead(req *request, e *audit.Entry, status int) error {
	if e == nil {
		return nil
	}
	read := *e
	read.Outcome = outcome(status)
	if err := s.audits.Read(req.ctx, req.who(), read); err != nil {
		return err
	}
	req.audited = true
	return nil
}

// auditFailure records that an audited interaction failed with err, when
// it is a refusal (403) or a miss (404, 410); a miss on another
// practice's id is recorded for that practice too (audit.Failure).
func (s *Server) auditFailure(req *request, e *audit.Entry, err error) {
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
	f.Outcome = outcome(status)
	s.audits.Failure(req.ctx, req.who(), f, status != http.StatusForbidden)
}
