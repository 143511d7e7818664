package bars

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// Host is what the package needs of the gateway serving it.
type Host interface {
	// Store is the resource store, read and written as the system (the
	// messages carry their own checks of who may do what).
	Store() store.Store
	// Outbox is where deliveries are enqueued; nil when the gateway
	// delivers nothing.
	Outbox() store.Outbox
	// Validate checks r as R4; strict refuses unknown elements.
	Validate(ctx context.Context, r *fhir.Resource, strict bool) error
	// SetPracticeLabel replaces r's practice labels by ods's.
	SetPracticeLabel(r *fhir.Resource, ods string)
	// PracticesOf lists the practice labels of a stored body.
	PracticesOf(body []byte) []string
	// EndpointAllowed tells whether the outbound allow-list allows url.
	EndpointAllowed(url string) bool
	// Now is the clock.
	Now() time.Time
}

// Navigator navigates the Tasks of referrals received and of patients a
// service turned away: the gateway's navigation.
type Navigator interface {
	// Names are the navigation code systems.
	Names() mapping.NavigationNames
	// Terminology checks the SNOMED CT codes of a referral received; nil
	// when there is none (no code is then taken as known).
	Terminology() *snomed.Terminology
	// Navigate navigates a Task as $navigate does, audited as one.
	Navigate(ctx context.Context, n Navigation) error
}

// Navigation is one navigation Signpost itself asks for.
type Navigation struct {
	// Principal is who acts: Signpost, for the practice.
	Principal *auth.Principal
	// Task is the navigation Task's id.
	Task string
	// Params are the $navigate parameters.
	Params *fhir.Parameters
	// TurnedAway: the service of the Task's allocation turned the patient
	// away, which the decision takes as a decline by the service.
	TurnedAway bool
}

// Config is the gateway's configuration the package reads.
type Config struct {
	// CanonicalBase is the base of Signpost's identifier systems.
	CanonicalBase string
	// PublicBase is the gateway's public FHIR base, "" when not set
	// (CanonicalBase then).
	PublicBase string
	// Log receives the package's log lines (never a message's content).
	Log *slog.Logger
}

// Service sends and receives BaRS messages.
type Service struct {
	host Host
	cfg  Config
}

// New is a Service over host.
func New(host Host, cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{host: host, cfg: cfg}
}

// The error codes of the standard's API (its http-error-codes).
const (
	CodeBadRequest    = "REC_BAD_REQUEST"
	CodeUnprocessable = "REC_UNPROCESSABLE_ENTITY"
	CodeForbidden     = "REC_FORBIDDEN"
	CodeConflict      = "REC_CONFLICT"
)

// Error is one of the standard's refusals of a message: its error code
// and the OperationOutcome issue code that decides the HTTP status
// (invalid 400, processing 422, forbidden 403, conflict 409).
type Error struct {
	Code  string // REC_BAD_REQUEST...
	Issue fhir.IssueCode
	Why   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Why }

// FHIR is the refusal as a *fhir.Error, whose issue code gives the
// status (fhir.HTTPStatus).
func (e *Error) FHIR() *fhir.Error { return fhir.Errorf(e.Issue, "%s", e.Why) }

// Bad is a message that is not well formed: REC_BAD_REQUEST, invalid.
func Bad(format string, a ...any) *Error {
	return &Error{CodeBadRequest, fhir.CodeInvalid, fmt.Sprintf(format, a...)}
}

// Unprocessable is a message this gateway cannot act on:
// REC_UNPROCESSABLE_ENTITY, processing.
func Unprocessable(format string, a ...any) *Error {
	return &Error{CodeUnprocessable, fhir.CodeProcessing, fmt.Sprintf(format, a...)}
}

// forbidden is a sender that may not send the message: REC_FORBIDDEN.
func forbidden(format string, a ...any) *Error {
	return &Error{CodeForbidden, fhir.CodeForbidden, fmt.Sprintf(format, a...)}
}

// conflict is a change the referral's state no longer allows:
// REC_CONFLICT.
func conflict(format string, a ...any) *Error {
	return &Error{CodeConflict, fhir.CodeConflict, fmt.Sprintf(format, a...)}
}

// Outcome is the OperationOutcome of the standard's shape.
func (e *Error) Outcome() []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "id": uuid.NewString(),
		"issue": []any{map[string]any{"severity": "error", "code": string(e.Issue),
			"details":     map[string]any{"coding": []any{map[string]any{"system": clinicalsystem.BaRSErrorSystem, "code": e.Code}}},
			"diagnostics": e.Why}}})
	return b
}

var list = fhir.List

// decode decodes a stored body, which is a JSON object.
var decode = fhir.DecodeObject

// splitRef reads Type/id.
func splitRef(ref string) (string, string) {
	parts := strings.Split(strings.TrimSpace(ref), "/")
	if len(parts) != 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// odsOf is the first ODS code among identifiers.
func odsOf(ids []any) string {
	for _, item := range ids {
		if id, ok := item.(map[string]any); ok && id["system"] == clinicalsystem.ODSSystem {
			if v, _ := id["value"].(string); v != "" {
				return strings.ToUpper(strings.TrimSpace(v))
			}
		}
	}
	return ""
}
