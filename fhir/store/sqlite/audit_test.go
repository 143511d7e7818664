package sqlite_test

import (
	"testing"

	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

// TestAuditEvents: the embedded store keeps AuditEvents in audit tables
// too, and an auditor finds the same events with the same searches as on
// PostgreSQL (storetest.RunAuditEvents).
func TestAuditEvents(t *testing.T) {
	storetest.RunAuditEvents(t, open(t, t.TempDir(), sqlite.WithBaseURL(storetest.BaseURL)))
}
