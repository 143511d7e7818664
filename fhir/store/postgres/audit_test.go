package postgres_test

import (
	"testing"

	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

// TestAuditEvents: the audit table serves AuditEvents through the same
// Store calls as every other type, refuses to change them, and refuses
// with a 400 the searches its terms cannot answer (storetest.RunAuditEvents,
// which the embedded store runs too).
func TestAuditEvents(t *testing.T) {
	storetest.RunAuditEvents(t, open(t, postgres.WithBaseURL(storetest.BaseURL)))
}
