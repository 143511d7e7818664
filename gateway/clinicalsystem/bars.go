package clinicalsystem

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// BaRS referrals (the NHS Booking and Referral Standard, FHIR R4
// messaging over POST [base]/$process-message) share the outbox and the
// workers with outcome deliveries; docs/bars.md is the receiver's side.
//
// A delivery is a BaRS message when its order key (Delivery.TaskID)
// starts with "BaRS/": "BaRS/Task/<task id>" orders every message about
// one navigation Task's referrals (a referral, then its cancellation, then
// the next referral), one at a time, apart from the Task's outcome
// deliveries (a BaRS receiver that is down must not hold back the
// practice's clinical system). Its Endpoint is the practice's ODS code, so
// it shows in that practice's dead letters, and its Payload a BaRSMessage.
//
// Where to send is read from the Endpoint when sending (as outcome
// deliveries read the practice's), so the outbox holds no credentials: an
// Endpoint no longer active, no longer a BaRS messaging Endpoint, or whose
// address is off the allow-list gets nothing (a dead letter).

// BaRS codes and systems.
const (
	BaRSKeyPrefix = "BaRS/"
	// BaRSEventSystem is the message event CodeSystem of BaRS.
	BaRSEventSystem = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
	// BaRSReasonSystem is the message reason CodeSystem of BaRS.
	BaRSReasonSystem = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
	// BaRSCategorySystem is the ServiceRequest category CodeSystem.
	BaRSCategorySystem = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest"
	// BaRSErrorSystem is the CodeSystem of the standard's error codes
	// (as its OperationOutcomes spell it).
	BaRSErrorSystem = "https://fhir.nhs.uk/Codesystem/http-error-codes"
	// EventReferralRequest and EventReferralResponse are the events.
	EventReferralRequest  = "servicerequest-request"
	EventReferralResponse = "servicerequest-response"
	// ConnectionTypeSystem and ConnectionMessaging name a FHIR messaging
	// Endpoint.
	ConnectionTypeSystem = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
	ConnectionMessaging  = "hl7-fhir-msg"
	// BaRSAccept is the Accept header the API description asks for.
	BaRSAccept = "application/fhir+json; version=1.0.0"
)

// BaRSKey is the outbox order key of a Task's BaRS messages.
func BaRSKey(taskID string) string { return BaRSKeyPrefix + "Task/" + taskID }

// IsBaRSKey tells a BaRS order key.
func IsBaRSKey(key string) bool { return strings.HasPrefix(key, BaRSKeyPrefix) }

// BaRSMessage is the outbox payload of a BaRS delivery: the message
// Bundle and what the request's headers are made of.
type BaRSMessage struct {
	// Endpoint is the id of the service's messaging Endpoint.
	Endpoint string `json:"endpoint"`
	// Service is the id of the HealthcareService referred to.
	Service string `json:"service"`
	// TargetSystem and TargetValue are the service's identifier
	// (NHSD-Target-Identifier).
	TargetSystem string `json:"targetSystem"`
	TargetValue  string `json:"targetValue"`
	// Practice is the referring practice's ODS code and PracticeName its
	// name (NHSD-End-User-Organisation).
	Practice     string `json:"practice"`
	PracticeName string `json:"practiceName,omitempty"`
	// Correlation is X-Correlation-ID: one per referral (per allocation),
	// the same across retries, the cancellation and the responses.
	Correlation string `json:"correlation"`
	// Allocation is the id of the allocation ServiceRequest referred.
	Allocation string `json:"allocation"`
	// Reason is new or cancel.
	Reason string `json:"reason"`
	// MessageID is the MessageHeader id.
	MessageID string          `json:"messageId"`
	Bundle    json.RawMessage `json:"bundle"`
}

// barsSpace makes the deterministic uuids of BaRS messages.
var barsSpace = uuid.MustParse("0b8e6c55-2f0e-4f43-8d4c-6a1f7e0c2b91")

// CorrelationID is the X-Correlation-ID of the referral of allocation.
func CorrelationID(allocation string) string {
	return uuid.NewSHA1(barsSpace, []byte("correlation/"+allocation)).String()
}

// MessagingEndpoint is a BaRS Endpoint as read when sending.
type MessagingEndpoint struct {
	ID      string
	Address string
	Headers [][2]string
}

// IsBaRSEndpoint says whether an Endpoint resource is an active FHIR
// messaging Endpoint that takes BaRS referral requests.
func IsBaRSEndpoint(body []byte) bool {
	var e struct {
		Status         string `json:"status"`
		Address        string `json:"address"`
		ConnectionType struct {
			System string `json:"system"`
			Code   string `json:"code"`
		} `json:"connectionType"`
		PayloadType []struct {
			Coding []struct {
				System string `json:"system"`
				Code   string `json:"code"`
			} `json:"coding"`
		} `json:"payloadType"`
	}
	if json.Unmarshal(body, &e) != nil || e.Status != "active" || strings.TrimSpace(e.Address) == "" {
		return false
	}
	if e.ConnectionType.Code != ConnectionMessaging || (e.ConnectionType.System != "" && e.ConnectionType.System != ConnectionTypeSystem) {
		return false
	}
	for _, pt := range e.PayloadType {
		for _, c := range pt.Coding {
			if c.System == BaRSEventSystem && c.Code == EventReferralRequest {
				return true
			}
		}
	}
	return false
}

// messagingEndpoint reads Endpoint id for a send.
func messagingEndpoint(ctx context.Context, st store.Tx, id string) (MessagingEndpoint, error) {
	v, err := st.Read(ctx, "Endpoint", id)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return MessagingEndpoint{}, &errNoEndpoint{"no endpoint: Endpoint/" + id + " no longer exists"}
	}
	if err != nil {
		return MessagingEndpoint{}, err
	}
	if !IsBaRSEndpoint(v.Body) {
		return MessagingEndpoint{}, &errNoEndpoint{"no endpoint: Endpoint/" + id + " is no longer an active BaRS messaging Endpoint"}
	}
	var e struct {
		Address string   `json:"address"`
		Header  []string `json:"header"`
	}
	if err := json.Unmarshal(v.Body, &e); err != nil {
		return MessagingEndpoint{}, err
	}
	out := MessagingEndpoint{ID: id, Address: strings.TrimRight(strings.TrimSpace(e.Address), "/")}
	for _, h := range e.Header {
		name, value, ok := strings.Cut(h, ":")
		if ok && strings.TrimSpace(name) != "" {
			out.Headers = append(out.Headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	return out, nil
}

// base64JSON is the standard Base64 of v's JSON, as BaRS headers carry
// objects.
func base64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.StdEncoding.EncodeToString(b)
}

// BaRSHeaders are the headers of one attempt of m, apart from the
// Endpoint's own (credentials) and Content-Type.
func BaRSHeaders(m BaRSMessage, requestID string) map[string]string {
	org := map[string]any{"resourceType": "Organization",
		"identifier": []any{map[string]any{"system": ODSSystem, "value": m.Practice}}}
	if m.PracticeName != "" {
		org["name"] = m.PracticeName
	}
	return map[string]string{
		"Accept":                         BaRSAccept,
		"X-Request-ID":                   requestID,
		"X-Correlation-ID":               m.Correlation,
		"NHSD-Target-Identifier":         base64JSON(map[string]string{"system": m.TargetSystem, "value": m.TargetValue}),
		"NHSD-End-User-Organisation-ODS": m.Practice,
		"NHSD-End-User-Organisation":     base64JSON(org),
		"NHSD-Requesting-Software": base64JSON(map[string]any{"resourceType": "Device",
			"identifier": []any{map[string]any{"system": "https://signpost.example/Id/software", "value": "signpost"}},
			"deviceName": []any{map[string]any{"name": "Signpost", "type": "manufacturer-name"}}}),
		"use-context": "signpost|referral|" + EventReferralRequest + "|" + m.Reason,
	}
}

// barsRequestID is the X-Request-ID of one attempt: a uuid per HTTP
// request, derived from the delivery and attempt so logs can name it.
func barsRequestID(dl store.Delivery) string {
	return uuid.NewSHA1(barsSpace, fmt.Appendf(nil, "request/%d/%d", dl.ID, dl.Attempts)).String()
}

// barsRetryable are the standard's error codes that say "try again".
var barsRetryable = map[string]bool{"REC_TIMEOUT": true, "REC_TOO_MANY_REQUESTS": true, "REC_SERVER_ERROR": true,
	"REC_UNAVAILABLE": true, "PROXY_SERVER_ERROR": true, "PROXY_UNAVAILABLE": true, "SEND_TOO_MANY_REQUESTS": true}

// barsErrorCode is the first BaRS error code of an OperationOutcome
// answer ("" for none): an upper-case token of the standard's list.
func barsErrorCode(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if len(body) == 0 || json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	for _, is := range oo.Issue {
		for _, c := range is.Details.Coding {
			if barsCodeShape(c.Code) {
				return c.Code
			}
		}
	}
	return ""
}

func barsCodeShape(s string) bool {
	if s == "" || len(s) > 40 || !strings.Contains(s, "_") {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// attemptBaRS sends one BaRS message.
func (d *Deliverer) attemptBaRS(ctx context.Context, dl store.Delivery) (outcome, string, time.Duration) {
	var m BaRSMessage
	if err := json.Unmarshal(dl.Payload, &m); err != nil || len(m.Bundle) == 0 || m.Endpoint == "" {
		return dead, "not sent: the BaRS message in the outbox cannot be read", 0
	}
	ep, err := messagingEndpoint(ctx, d.st, m.Endpoint)
	var none *errNoEndpoint
	if errors.As(err, &none) {
		return dead, none.msg, 0
	}
	if err != nil {
		return retry, "finding the endpoint: " + err.Error(), 0
	}
	if allow := d.cfg.AllowEndpointAddress; allow != nil && !allow(ep.Address) {
		return dead, fmt.Sprintf("not sent: the address of Endpoint/%s is not on the gateway's outbound allow-list", ep.ID), 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Address+"/$process-message", bytes.NewReader(m.Bundle))
	if err != nil {
		return dead, fmt.Sprintf("Endpoint/%s: bad address", ep.ID), 0
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	for k, v := range BaRSHeaders(m, barsRequestID(dl)) {
		req.Header.Set(k, v)
	}
	code, header, body, failed, failure := d.send(ctx, req, ep.ID, ep.Headers)
	if failed != delivered {
		return failed, failure, 0
	}
	bars := barsErrorCode(body)
	cause := fmt.Sprintf("Endpoint/%s: HTTP %d", ep.ID, code)
	if bars != "" {
		cause += " " + bars
	}
	switch {
	case code >= 200 && code < 300:
		return delivered, "", 0
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code != http.StatusNotImplemented || barsRetryable[bars]:
		return retry, cause, retryAfter(header.Get("Retry-After"))
	default:
		return dead, cause + refusalReason(body), 0
	}
}
