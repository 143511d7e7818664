package clinicalsystem

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
)

// What a refusal or failure keeps.
//
// A delivery's cause is shown to API clients ($delivery-status lastError,
// $dead-letters). The receiver's answer body is the receiver's: it may
// echo patient data, or, were an address ever one the operator did not
// mean, an internal service's answer. So a cause keeps the HTTP status
// and, from an OperationOutcome, only its issue codes (FHIR's fixed
// vocabulary); from a failed connection, the kind of failure without the
// address.

// maxReasonCodes bounds how many issue codes a cause lists.
const maxReasonCodes = 3

// refusalReason is " (issue code, ...)" for an OperationOutcome answer,
// else "".
func refusalReason(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	if len(body) == 0 || len(body) > maxKeptBody || json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var codes []string
	for _, is := range oo.Issue {
		if len(codes) == maxReasonCodes {
			break
		}
		if issueCode(is.Code) {
			codes = append(codes, is.Code)
		}
	}
	if len(codes) == 0 {
		return ""
	}
	return " (OperationOutcome issue: " + strings.Join(codes, ", ") + ")"
}

// issueCode reports whether s looks like a FHIR issue code: a short
// lower-case token.
func issueCode(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// sendError describes a failed request without its URL.
func sendError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "no such host"):
		return "host not found"
	case strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "certificate"):
		return "TLS failure"
	}
	return "connection failed"
}
