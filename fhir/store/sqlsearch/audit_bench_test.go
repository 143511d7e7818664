package sqlsearch

import (
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

// readAuditEvent is a read's AuditEvent as the gateway writes it.
const readAuditEvent = `{"resourceType":"AuditEvent","id":"bb84886a-9e82-4b74-b95c-0438aa06dbcf","meta":{"lastUpdated":"2026-11-21T14:02:35.459892Z","security":[{"code":"Y99999","system":"https://signpost.example/fhir/CodeSystem/practice"}],"versionId":"1"},"action":"R","agent":[{"network":{"address":"10.20.30.40","type":"2"},"requestor":true,"role":[{"text":"navigator"},{"text":"navigator tier expert"}],"type":{"coding":[{"code":"110153","display":"Source Role ID","system":"http://dicom.nema.org/resources/ontology/DCM"}]},"who":{"identifier":{"system":"https://issuer.example","value":"navigator-1"}}},{"requestor":false,"type":{"coding":[{"code":"110150","display":"Application","system":"http://dicom.nema.org/resources/ontology/DCM"}]},"who":{"identifier":{"value":"signpost-web"}}},{"requestor":false,"type":{"coding":[{"code":"RESP","display":"responsible party","system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}]},"who":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y99999"}}}],"entity":[{"role":{"code":"4","display":"Domain Resource","system":"http://terminology.hl7.org/CodeSystem/object-role"},"type":{"code":"Task","system":"http://hl7.org/fhir/resource-types"},"what":{"reference":"Task/74f6edee-66df-4779-9351-88c148f59d7e/_history/1"}},{"description":"the HTTP request (X-Request-Id)","type":{"code":"4","display":"Other","system":"http://terminology.hl7.org/CodeSystem/audit-entity-type"},"what":{"identifier":{"system":"https://signpost.example/fhir/request-id","value":"f5ca25af0b1e71b47edbb421"}}}],"outcome":"0","outcomeDesc":"200 OK","recorded":"2026-11-21T14:02:35.459859Z","source":{"observer":{"display":"Signpost FHIR gateway"},"site":"Signpost","type":[{"code":"4","display":"Application Server","system":"http://terminology.hl7.org/CodeSystem/security-source-type"}]},"subtype":[{"code":"read","system":"http://hl7.org/fhir/restful-interaction"}],"type":{"code":"rest","display":"RESTful Operation","system":"http://terminology.hl7.org/CodeSystem/audit-event-type"}}`

// BenchmarkAuditRow is what the audit table's row costs the gateway for
// a read's AuditEvent: the index rows and then the terms ("all"), or the
// terms alone.
func BenchmarkAuditRow(b *testing.B) {
	r, err := fhir.ParseResource([]byte(readAuditEvent))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows := RowsOf(r)
			if row := AuditRowOf(&rows); len(row.Terms) == 0 {
				b.Fatal("no terms")
			}
		}
	})
	b.Run("terms", func(b *testing.B) {
		rows := RowsOf(r)
		b.ReportAllocs()
		for b.Loop() {
			if row := AuditRowOf(&rows); len(row.Terms) == 0 {
				b.Fatal("no terms")
			}
		}
	})
}
