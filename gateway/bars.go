package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/bars"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	navsvc "github.com/signpost-fhir/signpost/navigation"
)

// BaRS referrals (docs/bars.md) are package bars's: the messages a
// committed decision enqueues, and those received at $process-message.
// The gateway registers the operation and translates its headers and
// answers; barsHost and barsNavigator give the package what it needs of
// the gateway and of navigation.

// barsService is the BaRS service over this server.
func (s *Server) barsService() *bars.Service {
	return bars.New(barsHost{s}, bars.Config{CanonicalBase: s.opts.CanonicalBase, PublicBase: s.opts.PublicBase, Log: s.log})
}

// barsHost is the server as package bars needs it.
type barsHost struct{ s *Server }

func (h barsHost) Store() store.Store { return h.s.store }

func (h barsHost) Outbox() store.Outbox { return h.s.outbox }

func (h barsHost) Validate(ctx context.Context, r *fhir.Resource, strict bool) error {
	return h.s.writeChecks.Validate(ctx, r, strict)
}

func (h barsHost) SetPracticeLabel(r *fhir.Resource, ods string) { h.s.labels().Set(r, ods) }

func (h barsHost) PracticesOf(body []byte) []string { return h.s.labels().PracticesOf(body) }

func (h barsHost) EndpointAllowed(url string) bool { return h.s.allowedEndpoints().Allows(url) }

func (h barsHost) Now() time.Time { return h.s.opts.Now() }

// barsNavigator is the navigation as package bars needs it.
type barsNavigator struct {
	s *Server
	*navsvc.Service
}

// Navigate navigates a Task for Signpost itself, audited as any
// $navigate is, in the decision's transaction.
func (n barsNavigator) Navigate(ctx context.Context, in bars.Navigation) error {
	p := in.Principal
	nctx := auth.NewContext(ctx, p)
	req := &request{principal: p, requestID: requestid.FromContext(ctx)}
	e := audit.Operation("navigate", "E", "Task", in.Task)
	_, err := n.Service.Navigate(nctx, navsvc.Request{ID: in.Task, Params: in.Params, Principal: p, TurnedAway: in.TurnedAway,
		Audit: func(ctx context.Context, tx store.Tx) error { return n.s.recordAudit(ctx, tx, req, *e, http.StatusOK) }})
	return err
}

// enqueueBaRS writes the BaRS messages of a committed decision (bars'
// Enqueue).
func (s *Server) enqueueBaRS(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	return s.barsService().Enqueue(ctx, tx, practice, written)
}

// registerBaRSReceiver serves $process-message; nav re-navigates the
// patients services turn away.
func (s *Server) registerBaRSReceiver(nav *navsvc.Service) {
	svc, navigator := s.barsService(), barsNavigator{s: s, Service: nav}
	s.RegisterOperation(Operation{Name: "process-message", Level: SystemLevel,
		Definition:  "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
		Permissions: []Permission{{"MessageHeader", auth.Create}},
		Message: func(ctx context.Context, in OperationInput) (*OperationAnswer, error) {
			// The answer mirrors the request's ids.
			hdr := http.Header{"Content-Type": {"application/fhir+json"}}
			for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
				if v := in.Header.Get(h); v != "" && len(v) <= 64 {
					hdr.Set(h, v)
				}
			}
			body, err := svc.ProcessMessage(ctx, navigator, bars.Message{Body: in.Body,
				RequestID: in.Header.Get("X-Request-ID"), CorrelationID: in.Header.Get("X-Correlation-ID"),
				TargetIdentifier: in.Header.Get("NHSD-Target-Identifier"),
				Principal:        in.Principal, AuditIn: in.AuditIn, AuditAbout: in.AuditAbout})
			if answer, ok := s.barsRefusal(ctx, err, hdr); ok {
				return answer, nil
			}
			if err != nil {
				return nil, err
			}
			return &OperationAnswer{Status: http.StatusOK, Header: hdr, Body: body}, nil
		}})
}

// barsRefusal is the BaRS answer to err when it is a BaRS refusal (its
// OperationOutcome, with the request's mirrored headers, the status its
// issue code's), logged without the message.
func (s *Server) barsRefusal(ctx context.Context, err error, hdr http.Header) (*OperationAnswer, bool) {
	var be *bars.Error
	if !errors.As(err, &be) {
		return nil, false
	}
	status := fhir.HTTPStatus(be.FHIR())
	s.log.LogAttrs(ctx, slog.LevelInfo, "bars message refused", slog.String("code", be.Code), slog.Int("status", status))
	return &OperationAnswer{Status: status, Header: hdr, Body: be.Outcome()}, true
}
