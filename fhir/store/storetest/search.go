package storetest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// BaseURL is the FHIR base the stores under test must be opened with:
// absolute references under it are local, others are not.
const BaseURL = "https://signpost.test/fhir"

// searchFixture is a small synthetic world whose expected search answers
// are worked out by hand in searchCases (from the table in each
// resource's comment), not by any code under test.
var searchFixture = []string{
	`{"resourceType":"Organization","id":"org-a","name":"Alpha Practice","active":true,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"A001"}]}`,
	`{"resourceType":"Organization","id":"org-b","name":"Beta Surgery","active":true,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"B002"}]}`,

	// pat-1 accented names; managed through an absolute reference to this
	// server. pat-3 is managed by another server's org-a.
	`{"resourceType":"Patient","id":"pat-1","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},
	  "identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"NH"}]},"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000001"}],
	  "name":[{"family":"Dupré","given":["Élodie"]}],"gender":"female","birthDate":"1980-05-17",
	  "managingOrganization":{"reference":"https://signpost.test/fhir/Organization/org-a"}}`,
	`{"resourceType":"Patient","id":"pat-2","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000002"}],
	  "name":[{"family":"Smith","given":["John"]}],"gender":"male","birthDate":"1980","managingOrganization":{"reference":"Organization/org-b"}}`,
	`{"resourceType":"Patient","id":"pat-3","name":[{"family":"Smithson"}],"gender":"male","birthDate":"1990-02",
	  "managingOrganization":{"reference":"http://other.example/fhir/Organization/org-a"}}`,
	`{"resourceType":"Patient","id":"pat-4","name":[{"family":"O'Neil_100%"}],"gender":"unknown"}`,
	// pat-5 is deleted once everything is loaded.
	`{"resourceType":"Patient","id":"pat-5","name":[{"family":"Smythe"}],"gender":"male"}`,

	`{"resourceType":"HealthcareService","id":"hs-1","active":true,"name":"Physio Direct","providedBy":{"reference":"Organization/org-a"}}`,
	`{"resourceType":"HealthcareService","id":"hs-2","active":true,"name":"Pharmacy First","providedBy":{"reference":"Organization/org-b"}}`,
	`{"resourceType":"HealthcareService","id":"hs-3","active":false,"name":"100% Care_Line","providedBy":{"reference":"Organization/org-a"}}`,

	`{"resourceType":"ServiceRequest","id":"sr-1","status":"active","intent":"order","subject":{"reference":"Patient/pat-1"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"183524004","display":"Referral to physiotherapy service"}]},
	  "performer":[{"reference":"HealthcareService/hs-1"}],"authoredOn":"2025-03-01",
	  "instantiatesCanonical":["https://signpost.test/fhir/PlanDefinition/navigate|2"],"instantiatesUri":["https://signpost.test/protocols/navigation/v2"]}`,
	`{"resourceType":"ServiceRequest","id":"sr-2","status":"active","intent":"order","subject":{"reference":"Patient/pat-2"},
	  "performer":[{"reference":"HealthcareService/hs-2"}],"authoredOn":"2025-03-02",
	  "instantiatesCanonical":["https://signpost.test/fhir/PlanDefinition/navigate|1"],"instantiatesUri":["https://signpost.test/protocols/navigation/v1"]}`,
	`{"resourceType":"ServiceRequest","id":"sr-3","status":"completed","intent":"order","subject":{"reference":"Patient/pat-1"},
	  "performer":[{"reference":"HealthcareService/hs-3"}],"authoredOn":"2025-02",
	  "instantiatesCanonical":["https://signpost.test/fhir/PlanDefinition/triage"]}`,

	// Tasks. authoredOn as UTC ranges:
	//   t-01 2025-01-10T09:00:00 (second)     t-02 2025-01-10 (day)
	//   t-03 2025-01 (month)                  t-04 2025-01-01T00:30:00 (-01:00 offset)
	//   t-05 none                             t-06 2025-02-14T12:00:00
	//   t-07 2025-02-14T12:00:00              t-08 2025-02 (month)
	`{"resourceType":"Task","id":"t-01","meta":{"tag":[{"system":"https://signpost.test/queue","code":"same-day"}]},"status":"requested","intent":"order","priority":"routine",
	  "identifier":[{"type":{"coding":[{"system":"https://signpost.test/id-type","code":"contact"}]},"system":"https://signpost.test/contact","value":"C1"}],
	  "businessStatus":{"text":"Awaiting triage"},
	  "owner":{"reference":"Organization/org-a"},"for":{"reference":"Patient/pat-1"},"focus":{"reference":"ServiceRequest/sr-1"},"authoredOn":"2025-01-10T09:00:00Z"}`,
	`{"resourceType":"Task","id":"t-02","meta":{"source":"https://signpost.test/source/online"},"status":"requested","intent":"order","priority":"urgent",
	  "identifier":[{"system":"https://signpost.test/contact","value":"C2"}],
	  "owner":{"reference":"Organization/org-a"},"for":{"reference":"Patient/pat-2"},"focus":{"reference":"ServiceRequest/sr-2"},"authoredOn":"2025-01-10"}`,
	`{"resourceType":"Task","id":"t-03","status":"accepted","intent":"order",
	  "businessStatus":{"coding":[{"system":"https://signpost.test/business","code":"callback","display":"Call back"}],"text":"Awaiting call back"},
	  "owner":{"reference":"Organization/org-b"},"for":{"reference":"Patient/pat-1"},"focus":{"reference":"ServiceRequest/sr-3"},"authoredOn":"2025-01"}`,
	`{"resourceType":"Task","id":"t-04","meta":{"profile":["https://signpost.test/fhir/StructureDefinition/navigation-task"]},"status":"completed","intent":"order","priority":"stat",
	  "owner":{"reference":"Organization/org-a"},"for":{"reference":"Patient/pat-3"},"authoredOn":"2024-12-31T23:30:00-01:00"}`,
	`{"resourceType":"Task","id":"t-05","status":"requested","intent":"order",
	  "owner":{"reference":"Organization/org-b"},"for":{"type":"Patient","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000002"}}}`,
	`{"resourceType":"Task","id":"t-06","status":"cancelled","intent":"order",
	  "owner":{"reference":"https://signpost.test/fhir/Organization/org-a"},"for":{"reference":"Patient/pat-2"},"authoredOn":"2025-02-14T12:00:00Z",
	  "executionPeriod":{"start":"2025-02-14","end":"2025-02-20"}}`,
	`{"resourceType":"Task","id":"t-07","status":"requested","intent":"order",
	  "owner":{"reference":"http://other.example/fhir/Organization/org-a"},"for":{"reference":"Patient/pat-1"},"authoredOn":"2025-02-14T12:00:00Z",
	  "executionPeriod":{"start":"2025-02-18T10:00:00Z"}}`,
	`{"resourceType":"Task","id":"t-08","status":"draft","intent":"order",
	  "owner":{"reference":"Organization/org-b"},"for":{"reference":"Patient/pat-5"},"partOf":[{"reference":"Task/t-01"}],"authoredOn":"2025-02"}`,

	// Conditions for quantities: a point and two Ranges (one open).
	`{"resourceType":"Condition","id":"cond-1","subject":{"reference":"Patient/pat-1"},"onsetAge":{"value":30,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}}`,
	`{"resourceType":"Condition","id":"cond-2","subject":{"reference":"Patient/pat-2"},"onsetRange":{"low":{"value":20,"system":"http://unitsofmeasure.org","code":"a"},"high":{"value":40,"system":"http://unitsofmeasure.org","code":"a"}}}`,
	`{"resourceType":"Condition","id":"cond-3","subject":{"reference":"Patient/pat-1"},"onsetRange":{"low":{"value":60,"system":"http://unitsofmeasure.org","code":"a"}}}`,
}

// searchCase is one search and its answer: match ids in order when
// ordered, else as a set, and Included as sorted Type/id.
type searchCase struct {
	typ, query string
	want       []string
	ordered    bool
	included   []string
}

func ids(s ...string) []string { return s }

var allTasks = ids("t-01", "t-02", "t-03", "t-04", "t-05", "t-06", "t-07", "t-08")

var searchCases = []searchCase{
	// token
	{typ: "Task", query: "status=requested", want: ids("t-01", "t-02", "t-05", "t-07")},
	{typ: "Task", query: "status=requested,accepted", want: ids("t-01", "t-02", "t-03", "t-05", "t-07")},
	{typ: "Task", query: "status:not=requested", want: ids("t-03", "t-04", "t-06", "t-08")},
	{typ: "Task", query: "status:not=requested,draft", want: ids("t-03", "t-04", "t-06")},
	{typ: "Task", query: "status=requested&priority=urgent", want: ids("t-02")},
	{typ: "Task", query: "status=requested&status=accepted", want: nil},
	{typ: "Task", query: "priority:missing=true", want: ids("t-03", "t-05", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "priority:missing=false", want: ids("t-01", "t-02", "t-04")},
	{typ: "Task", query: "identifier=https://signpost.test/contact|C1", want: ids("t-01")},
	{typ: "Task", query: "identifier=C2", want: ids("t-02")},
	{typ: "Task", query: "identifier=|C1", want: nil},
	{typ: "Task", query: "identifier=https://signpost.test/contact|", want: ids("t-01", "t-02")},
	{typ: "Task", query: "identifier:of-type=https://signpost.test/id-type|contact|C1", want: ids("t-01")},
	{typ: "Task", query: "identifier:of-type=https://signpost.test/id-type|contact|C2", want: nil},
	{typ: "Task", query: "business-status:text=awaiting", want: ids("t-01", "t-03")},
	{typ: "Task", query: "business-status:text=CALL", want: ids("t-03")},
	{typ: "Task", query: "business-status=https://signpost.test/business|callback", want: ids("t-03")},
	{typ: "Task", query: "_tag=https://signpost.test/queue|same-day", want: ids("t-01")},
	{typ: "Patient", query: "_security=R", want: ids("pat-1")},
	{typ: "Task", query: "_id=t-01,t-03,nobody", want: ids("t-01", "t-03")},
	{typ: "Task", query: "_id:not=t-01", want: ids("t-02", "t-03", "t-04", "t-05", "t-06", "t-07", "t-08")},
	{typ: "Patient", query: "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NH|9000000001", want: ids("pat-1")},
	{typ: "Patient", query: "gender=male", want: ids("pat-2", "pat-3")},
	{typ: "HealthcareService", query: "active=false", want: ids("hs-3")},

	// string
	{typ: "Patient", query: "family=smi", want: ids("pat-2", "pat-3")},
	{typ: "Patient", query: "family=DUPRE", want: ids("pat-1")},
	{typ: "Patient", query: "given=elo", want: ids("pat-1")},
	{typ: "Patient", query: "family:exact=Dupré", want: ids("pat-1")},
	{typ: "Patient", query: "family:exact=dupré", want: nil},
	{typ: "Patient", query: "family:exact=Smith", want: ids("pat-2")},
	{typ: "Patient", query: "family:contains=eil_1", want: ids("pat-4")},
	{typ: "Patient", query: "family:contains=_", want: ids("pat-4")},
	{typ: "Patient", query: "family:contains=%25", want: ids("pat-4")},
	{typ: "Patient", query: "family:contains=mit", want: ids("pat-2", "pat-3")},
	{typ: "Patient", query: "name=smith,dup", want: ids("pat-1", "pat-2", "pat-3")},
	{typ: "HealthcareService", query: "name=p", want: ids("hs-1", "hs-2")},
	{typ: "HealthcareService", query: "name:contains=_", want: ids("hs-3")},

	// reference
	{typ: "Task", query: "owner=Organization/org-a", want: ids("t-01", "t-02", "t-04", "t-06")},
	{typ: "Task", query: "owner=org-a", want: ids("t-01", "t-02", "t-04", "t-06")},
	{typ: "Task", query: "owner:Organization=org-a", want: ids("t-01", "t-02", "t-04", "t-06")},
	{typ: "Task", query: "owner:Practitioner=org-a", want: nil},
	{typ: "Task", query: "owner=https://signpost.test/fhir/Organization/org-a", want: ids("t-01", "t-02", "t-04", "t-06")},
	{typ: "Task", query: "owner=http://other.example/fhir/Organization/org-a", want: ids("t-07")},
	{typ: "Task", query: "patient=Patient/pat-1", want: ids("t-01", "t-03", "t-07")},
	{typ: "Task", query: "patient=pat-1,pat-3", want: ids("t-01", "t-03", "t-04", "t-07")},
	{typ: "Task", query: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000002", want: ids("t-05")},
	{typ: "Task", query: "patient:identifier=9000000002", want: ids("t-05")},
	{typ: "Task", query: "focus:missing=true", want: ids("t-04", "t-05", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "part-of=Task/t-01", want: ids("t-08")},
	{typ: "Task", query: "focus=ServiceRequest/sr-1,ServiceRequest/sr-3", want: ids("t-01", "t-03")},
	// a reference and a status: the worklist searches
	{typ: "Task", query: "owner=Organization/org-a&status=requested", want: ids("t-01", "t-02")},
	{typ: "Task", query: "owner=Organization/org-a&status=requested&_sort=-authored-on", ordered: true, want: ids("t-02", "t-01")},
	{typ: "Task", query: "patient=Patient/pat-1&status=requested,accepted", want: ids("t-01", "t-03", "t-07")},
	{typ: "Task", query: "owner=Organization/org-b&_sort=authored-on", ordered: true, want: ids("t-03", "t-08", "t-05")},
	{typ: "Task", query: "owner=Organization/org-b&_sort=-authored-on", ordered: true, want: ids("t-08", "t-03", "t-05")},
	{typ: "Task", query: "patient=Patient/pat-1&_sort=-authored-on", ordered: true, want: ids("t-07", "t-03", "t-01")},
	{typ: "Task", query: "patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9000000001&_sort=authored-on", ordered: true, want: ids("t-03", "t-01", "t-07")},
	{typ: "Task", query: "owner=org-a,org-b&status=requested&_sort=-authored-on,_id", ordered: true, want: ids("t-02", "t-01", "t-05")},
	{typ: "Task", query: "patient:identifier=9000000002&status=requested", want: ids("t-05")},
	{typ: "Task", query: "owner=Organization/org-b&status=completed", want: nil},
	{typ: "Task", query: "owner=Organization/org-a&status:not=requested", want: ids("t-04", "t-06")},
	{typ: "Task", query: "owner=Organization/org-a&status=http://hl7.org/fhir/task-status|requested", want: nil},
	{typ: "Task", query: "owner=Organization/org-a&status=|requested", want: ids("t-01", "t-02")},
	{typ: "ServiceRequest", query: "subject=Patient/pat-1&status=active", want: ids("sr-1")},
	{typ: "Patient", query: "organization=Organization/org-a", want: ids("pat-1")},
	{typ: "ServiceRequest", query: "instantiates-canonical=https://signpost.test/fhir/PlanDefinition/navigate", want: ids("sr-1", "sr-2")},
	{typ: "ServiceRequest", query: "instantiates-canonical=https://signpost.test/fhir/PlanDefinition/navigate|2", want: ids("sr-1")},

	// chains and _has
	{typ: "Task", query: "patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9000000001", want: ids("t-01", "t-03", "t-07")},
	{typ: "Task", query: "patient.family=smi", want: ids("t-02", "t-04", "t-06")},
	{typ: "Task", query: "patient.family=smythe", want: nil},
	{typ: "Task", query: "patient.gender:not=male", want: ids("t-01", "t-03", "t-07")},
	{typ: "Task", query: "patient._id=pat-2", want: ids("t-02", "t-06")},
	{typ: "Task", query: "owner:Organization.name=beta", want: ids("t-03", "t-05", "t-08")},
	{typ: "Task", query: "owner:Organization.name=alpha&status=requested", want: ids("t-01", "t-02")},
	{typ: "ServiceRequest", query: "performer:HealthcareService.name=pharmacy", want: ids("sr-2")},
	{typ: "ServiceRequest", query: "performer:HealthcareService.name:contains=100%25", want: ids("sr-3")},
	{typ: "Patient", query: "_has:Task:patient:status=accepted", want: ids("pat-1")},
	{typ: "Patient", query: "_has:Task:patient:status=requested", want: ids("pat-1", "pat-2")},
	{typ: "Patient", query: "_has:Task:patient:_id=t-04", want: ids("pat-3")},
	{typ: "Organization", query: "_has:Task:owner:status=cancelled", want: ids("org-a")},
	{typ: "HealthcareService", query: "_has:ServiceRequest:performer:status=completed", want: ids("hs-3")},

	// date (see the table above the Tasks)
	{typ: "Task", query: "authored-on=2025-01-10", want: ids("t-01", "t-02")},
	{typ: "Task", query: "authored-on=2025-01", want: ids("t-01", "t-02", "t-03", "t-04")},
	{typ: "Task", query: "authored-on=2024", want: nil},
	{typ: "Task", query: "authored-on=2025-01-01", want: ids("t-04")},
	{typ: "Task", query: "authored-on=ne2025-01", want: ids("t-06", "t-07", "t-08")},
	{typ: "Task", query: "authored-on=gt2025-01-10", want: ids("t-03", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "authored-on=lt2025-01-10", want: ids("t-03", "t-04")},
	{typ: "Task", query: "authored-on=ge2025-01-10", want: ids("t-01", "t-02", "t-03", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "authored-on=le2025-01-10", want: ids("t-01", "t-02", "t-03", "t-04")},
	{typ: "Task", query: "authored-on=sa2025-01-10", want: ids("t-06", "t-07", "t-08")},
	{typ: "Task", query: "authored-on=eb2025-01-10", want: ids("t-04")},
	{typ: "Task", query: "authored-on=2025-01-10T09:00:00Z", want: ids("t-01")},
	{typ: "Task", query: "authored-on=2025-01-10T10:00:00%2B01:00", want: ids("t-01")},
	{typ: "Task", query: "authored-on=ge2025-01-01&authored-on=lt2025-01-10", want: ids("t-03", "t-04")},
	{typ: "Task", query: "authored-on:missing=true", want: ids("t-05")},
	{typ: "Task", query: "period=2025-02-19", want: nil},
	{typ: "Task", query: "period=ge2025-02-19", want: ids("t-06", "t-07")},
	{typ: "Task", query: "period=sa2025-02-15", want: ids("t-07")},
	{typ: "Task", query: "period=eb2025-02-15", want: nil},
	{typ: "Task", query: "period=2025-02", want: ids("t-06")},
	// A range overlapping the search value's edge: ge and le want it to
	// reach beyond the value or lie within it, not merely to touch it.
	{typ: "Task", query: "period=ge2025-02-20", want: ids("t-07")},
	{typ: "Task", query: "period=le2025-02-14", want: nil},
	{typ: "Task", query: "period=gt2025-02-19", want: ids("t-06", "t-07")},
	{typ: "Task", query: "period=lt2025-02-19", want: ids("t-06", "t-07")},
	{typ: "Task", query: "period=ne2025-02", want: ids("t-07")},
	{typ: "Task", query: "_lastUpdated=gt2000-01-01", want: allTasks},
	{typ: "Task", query: "_lastUpdated=lt2000-01-01", want: nil},
	{typ: "Patient", query: "birthdate=1980", want: ids("pat-1", "pat-2")},
	{typ: "Patient", query: "birthdate=1980-05", want: ids("pat-1")},

	// quantity: cond-1 30 a; cond-2 [20, 40] a; cond-3 [60, open) a
	{typ: "Condition", query: "onset-age=30", want: ids("cond-1")},
	{typ: "Condition", query: "onset-age=gt50", want: ids("cond-3")},
	{typ: "Condition", query: "onset-age=lt25", want: ids("cond-2")},
	{typ: "Condition", query: "onset-age=ge60", want: ids("cond-3")},
	{typ: "Condition", query: "onset-age=le30", want: ids("cond-1", "cond-2")},
	{typ: "Condition", query: "onset-age=sa50", want: ids("cond-3")},
	{typ: "Condition", query: "onset-age=eb19", want: nil},
	{typ: "Condition", query: "onset-age=ap33", want: ids("cond-1", "cond-2")},
	{typ: "Condition", query: "onset-age=ne30", want: ids("cond-2", "cond-3")},
	{typ: "Condition", query: "onset-age=30|http://unitsofmeasure.org|a", want: ids("cond-1")},
	{typ: "Condition", query: "onset-age=30||a", want: ids("cond-1")},
	{typ: "Condition", query: "onset-age=30||mo", want: nil},
	{typ: "Condition", query: "onset-age:missing=false", want: ids("cond-1", "cond-2", "cond-3")},

	// uri
	{typ: "ServiceRequest", query: "instantiates-uri=https://signpost.test/protocols/navigation/v2", want: ids("sr-1")},
	{typ: "ServiceRequest", query: "instantiates-uri:below=https://signpost.test/protocols/navigation", want: ids("sr-1", "sr-2")},
	{typ: "ServiceRequest", query: "instantiates-uri:above=https://signpost.test/protocols/navigation/v2/extra", want: ids("sr-1")},
	{typ: "ServiceRequest", query: "instantiates-uri:missing=true", want: ids("sr-3")},
	{typ: "Task", query: "_profile=https://signpost.test/fhir/StructureDefinition/navigation-task", want: ids("t-04")},
	{typ: "Task", query: "_source=https://signpost.test/source/online", want: ids("t-02")},

	// sort: missing values last, ties by id
	{typ: "Task", query: "_sort=authored-on", ordered: true, want: ids("t-03", "t-04", "t-02", "t-01", "t-08", "t-06", "t-07", "t-05")},
	{typ: "Task", query: "_sort=-authored-on", ordered: true, want: ids("t-08", "t-06", "t-07", "t-03", "t-02", "t-01", "t-04", "t-05")},
	{typ: "Task", query: "_sort=status,-authored-on", ordered: true, want: ids("t-03", "t-06", "t-04", "t-08", "t-07", "t-02", "t-01", "t-05")},
	{typ: "Task", query: "_sort=_id", ordered: true, want: allTasks},
	{typ: "Task", query: "_sort=-_id", ordered: true, want: ids("t-08", "t-07", "t-06", "t-05", "t-04", "t-03", "t-02", "t-01")},
	{typ: "Task", query: "_sort=priority", ordered: true, want: ids("t-01", "t-04", "t-02", "t-03", "t-05", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "_sort=-priority", ordered: true, want: ids("t-02", "t-04", "t-01", "t-03", "t-05", "t-06", "t-07", "t-08")},
	{typ: "Task", query: "_sort=-authored-on&status=requested", ordered: true, want: ids("t-07", "t-02", "t-01", "t-05")},
	{typ: "Patient", query: "_sort=family", ordered: true, want: ids("pat-1", "pat-4", "pat-2", "pat-3")},
	// cond-3's Range has no high: no value to sort by descending.
	{typ: "Condition", query: "_sort=-onset-age", ordered: true, want: ids("cond-2", "cond-1", "cond-3")},
	{typ: "Condition", query: "_sort=onset-age", ordered: true, want: ids("cond-2", "cond-1", "cond-3")},
	{typ: "Task", query: "_sort=business-status", ordered: true, want: ids("t-03", "t-01", "t-02", "t-04", "t-05", "t-06", "t-07", "t-08")},

	// includes and revincludes
	{typ: "Task", query: "_id=t-01&_include=Task:focus", want: ids("t-01"), included: ids("ServiceRequest/sr-1")},
	{typ: "Task", query: "_id=t-01&_include=Task:focus&_include:iterate=ServiceRequest:performer", want: ids("t-01"),
		included: ids("HealthcareService/hs-1", "ServiceRequest/sr-1")},
	{typ: "Task", query: "_id=t-01,t-02&_include:iterate=Task:focus&_include:iterate=ServiceRequest:performer", want: ids("t-01", "t-02"),
		included: ids("HealthcareService/hs-1", "HealthcareService/hs-2", "ServiceRequest/sr-1", "ServiceRequest/sr-2")},
	{typ: "Task", query: "_id=t-01&_include=Task:focus&_include=ServiceRequest:performer", want: ids("t-01"), included: ids("ServiceRequest/sr-1")},
	{typ: "Task", query: "_id=t-01,t-03&_include=Task:patient", want: ids("t-01", "t-03"), included: ids("Patient/pat-1")},
	{typ: "Task", query: "_id=t-01&_include=Task:*", want: ids("t-01"), included: ids("Organization/org-a", "Patient/pat-1", "ServiceRequest/sr-1")},
	{typ: "Task", query: "_id=t-01&_include=*", want: ids("t-01"), included: ids("Organization/org-a", "Patient/pat-1", "ServiceRequest/sr-1")},
	{typ: "Task", query: "_id=t-01&_include=Task:owner:Organization", want: ids("t-01"), included: ids("Organization/org-a")},
	{typ: "Task", query: "_id=t-01&_include=Task:owner:Patient", want: ids("t-01")},
	{typ: "Task", query: "_id=t-08&_include=Task:part-of", want: ids("t-08"), included: ids("Task/t-01")},
	{typ: "Task", query: "_id=t-01,t-08&_include=Task:part-of", want: ids("t-01", "t-08")},
	{typ: "Task", query: "_id=t-08&_include=Task:patient", want: ids("t-08")},
	{typ: "Task", query: "_id=t-06,t-07&_include=Task:owner", want: ids("t-06", "t-07"), included: ids("Organization/org-a")},
	{typ: "Patient", query: "_id=pat-1&_revinclude=Task:patient", want: ids("pat-1"), included: ids("Task/t-01", "Task/t-03", "Task/t-07")},
	{typ: "Patient", query: "_id=pat-1&_revinclude=Task:patient&_revinclude:iterate=Task:part-of", want: ids("pat-1"),
		included: ids("Task/t-01", "Task/t-03", "Task/t-07", "Task/t-08")},
	{typ: "Organization", query: "_id=org-a&_revinclude=Task:owner", want: ids("org-a"), included: ids("Task/t-01", "Task/t-02", "Task/t-04", "Task/t-06")},
	{typ: "HealthcareService", query: "_id=hs-1&_revinclude=ServiceRequest:performer&_revinclude:iterate=Task:focus", want: ids("hs-1"),
		included: ids("ServiceRequest/sr-1", "Task/t-01")},
	{typ: "Task", query: "_id=t-01&_include=Task:focus&_include:iterate=ServiceRequest:performer&_revinclude:iterate=HealthcareService:organization", want: ids("t-01"),
		included: ids("HealthcareService/hs-1", "ServiceRequest/sr-1")},
	{typ: "Patient", query: "_id=pat-1&_revinclude=*", want: ids("pat-1"),
		included: ids("Condition/cond-1", "Condition/cond-3", "ServiceRequest/sr-1", "ServiceRequest/sr-3", "Task/t-01", "Task/t-03", "Task/t-07")},
}

// officialCases are searches over the official R4 examples of a few
// types; the answers were worked out from the example files by a separate
// script (plain JSON reading with its own date and decimal arithmetic),
// not by the code under test.
var officialCases = []searchCase{
	{typ: "Patient", query: "gender=female", want: ids("animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat4", "proband")},
	{typ: "Patient", query: "gender=female,other", want: ids("animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat2", "pat4", "proband")},
	{typ: "Patient", query: "gender:not=male", want: ids("animal", "genetics-example1", "ihe-pcd", "infant-mom", "infant-twin-1", "mom", "pat2", "pat4", "proband")},
	{typ: "Patient", query: "gender:missing=true", want: ids("ihe-pcd")},
	{typ: "Patient", query: "gender:missing=false&gender=male", want: ids("ch-example", "dicom", "example", "f001", "f201", "glossy", "infant-fetal", "infant-twin-2", "newborn", "pat1", "pat3", "xcda", "xds")},
	{typ: "Patient", query: "birthdate=1974-12-25", want: ids("ch-example", "example")},
	{typ: "Patient", query: "birthdate=lt1950", want: ids("f001", "glossy", "xcda")},
	{typ: "Patient", query: "birthdate=ge2017", want: ids("infant-twin-1", "infant-twin-2", "newborn")},
	{typ: "Patient", query: "birthdate=1982", want: ids("pat3", "pat4")},
	{typ: "Patient", query: "birthdate=sa1980", want: ids("animal", "infant-mom", "infant-twin-1", "infant-twin-2", "newborn", "pat3", "pat4")},
	{typ: "Patient", query: "birthdate=eb1950-01", want: ids("f001", "glossy", "xcda")},
	{typ: "Patient", query: "birthdate=ne1974-12-25", want: ids("animal", "f001", "f201", "genetics-example1", "glossy", "infant-mom", "infant-twin-1", "infant-twin-2", "mom", "newborn", "pat3", "pat4", "proband", "xcda", "xds")},
	{typ: "Patient", query: "birthdate=le1944-11-17", want: ids("f001", "glossy", "xcda")},
	{typ: "Patient", query: "birthdate=gt2017-05-15", want: ids("newborn")},
	{typ: "Patient", query: "family=sol", want: ids("infant-mom", "infant-twin-1", "infant-twin-2")},
	{typ: "Patient", query: "family:exact=Solo", want: ids("infant-mom", "infant-twin-1", "infant-twin-2")},
	{typ: "Patient", query: "family:exact=solo", want: nil},
	{typ: "Patient", query: "family:contains=OTSOW", want: ids("pat3", "pat4")},
	{typ: "Patient", query: "name=pet", want: ids("example")},
	{typ: "Patient", query: "family=sol&gender=male", want: ids("infant-twin-2")},
	{typ: "Patient", query: "organization=Organization/1", want: ids("ch-example", "dicom", "example", "pat1", "pat2", "pat3", "pat4")},
	{typ: "Patient", query: "identifier=urn:oid:0.1.2.3.4.5.6.7|123456", want: ids("pat2")},
	{typ: "Patient", query: "identifier=123456", want: ids("glossy", "pat2")},
	{typ: "Patient", query: "identifier=|AB60001", want: ids("ihe-pcd")},
	{typ: "Patient", query: "identifier=http://hl7.org/fhir/sid/us-ssn|", want: ids("genetics-example1", "mom")},
	{typ: "Patient", query: "_id=example,pat1,nobody", want: ids("example", "pat1")},
	{typ: "Observation", query: "value-quantity=10", want: ids("10minute-apgar-score", "20minute-apgar-score", "5minute-apgar-score")},
	{typ: "Observation", query: "value-quantity=gt100", want: ids("656", "example", "f204")},
	{typ: "Observation", query: "value-quantity=le13", want: ids("10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "bmd", "f001", "f002", "f003", "f004", "f005", "gcs-qa", "glasgow", "herd1")},
	{typ: "Observation", query: "value-quantity=ap100", want: ids("satO2")},
	{typ: "Observation", query: "value-quantity=16.2|http://unitsofmeasure.org|kg/m2", want: ids("bmi", "bmi-using-related")},
	{typ: "Observation", query: "value-quantity=ne10", want: ids("1minute-apgar-score", "2minute-apgar-score", "656", "bmd", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "example", "f001", "f002", "f003", "f004", "f005", "f202", "f203", "f204", "gcs-qa", "glasgow", "head-circumference", "heart-rate", "herd1", "map-sitting", "mbp", "respiratory-rate", "satO2")},
	{typ: "Observation", query: "value-quantity=lt0.5", want: ids("1minute-apgar-score", "herd1")},
	{typ: "Observation", query: "value-quantity=36.5||Cel", want: ids("body-temperature")},
	{typ: "Observation", query: "value-quantity=4.12||10^12/L", want: ids("f004")},
	{typ: "Observation", query: "code=http://loinc.org|8302-2", want: ids("body-height", "body-length")},
	{typ: "Observation", query: "code=8302-2,9279-1", want: ids("body-height", "body-length", "respiratory-rate")},
	{typ: "Observation", query: "subject=Patient/f001", want: ids("ekg", "f001", "f002", "f003", "f004", "f005", "unsat")},
	{typ: "Observation", query: "subject=f001", want: ids("ekg", "f001", "f002", "f003", "f004", "f005", "unsat")},
	{typ: "Observation", query: "status:not=final", want: ids("blood-pressure-cancel", "example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-haplotype1", "example-haplotype2", "f202", "unsat", "vp-oyster")},
	{typ: "Observation", query: "subject=Patient/f001&code=http://loinc.org|15074-8", want: ids("f001", "unsat")},
	{typ: "Observation", query: "date=ge2018", want: ids("abdo-tender", "bgpanel", "bloodgroup", "clinical-gender", "f001", "map-sitting", "rhstatus", "trachcare")},
	{typ: "Observation", query: "date=lt2013", want: ids("blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "head-circumference", "heart-rate", "mbp", "respiratory-rate", "vitals-panel")},
	{typ: "Observation", query: "date=2013-04", want: ids("f002", "f003", "f004", "f005", "unsat")},
	{typ: "Observation", query: "date=sa2017", want: ids("abdo-tender", "bgpanel", "bloodgroup", "clinical-gender", "map-sitting", "rhstatus", "trachcare")},
	{typ: "Observation", query: "date=eb2013-04-03", want: ids("blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "head-circumference", "heart-rate", "mbp", "respiratory-rate", "vitals-panel")},
	{typ: "Observation", query: "date=le2012-09-17", want: ids("blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "head-circumference", "heart-rate", "mbp", "respiratory-rate", "vitals-panel")},
	{typ: "Observation", query: "date=2016-05-18T22:33:22Z", want: ids("10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "secondsmoke", "vomiting")},
	{typ: "Observation", query: "date=gt2018-04-02T10:30:10%2B01:00", want: ids("abdo-tender", "f001", "map-sitting")},
	{typ: "Task", query: "status=requested", want: ids("fm-example1", "fm-example2", "fm-example3", "fm-example4", "fm-example5")},
	{typ: "Task", query: "owner=Practitioner/example", want: ids("example3")},
	{typ: "Task", query: "owner:Practitioner=example", want: ids("example3")},
	{typ: "Task", query: "authored-on=gt2016-10-31T09:00:00%2B00:00", want: ids("fm-example1", "fm-example2", "fm-example3", "fm-example4", "fm-example5", "fm-example6")},
	{typ: "ServiceRequest", query: "subject=Patient/example&status=active", want: ids("benchpress", "do-not-turn", "lipid", "og-example1")},
	{typ: "ServiceRequest", query: "code:text=colon", want: ids("colonoscopy")},
}

// loadFixture creates every resource of js and deletes pat-5.
func loadFixture(t *testing.T, s store.Store, js []string) {
	t.Helper()
	ctx := testContext(t)
	for _, j := range js {
		try(s.Create(ctx, parse(t, j))).must(t)
	}
	if _, err := s.Read(ctx, "Patient", "pat-5"); err == nil {
		try(s.Delete(ctx, "Patient", "pat-5", none())).must(t)
	}
}

// examplesDir is the official R4 examples folder, found from this
// file's place in the repository.
func examplesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "fhir", "r4-examples-4.0.1")
}

// officialExamples reads the official examples of the types the cases ask
// about.
func officialExamples(t *testing.T) []string {
	t.Helper()
	dir := examplesDir()
	var out []string
	for _, typ := range []string{"Patient", "Observation", "Task", "ServiceRequest", "Organization", "Practitioner"} {
		files, err := filepath.Glob(filepath.Join(dir, typ+"-*.json"))
		if err != nil || len(files) == 0 {
			t.Skipf("no official examples of %s in %s", typ, dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// parseQuery parses a query string for typ strictly: every parameter of
// the cases must be served.
func parseQuery(t *testing.T, typ, query string) *search.Query {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	q, err := search.ParseQuery(typ, v, true)
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, query, err)
	}
	return q
}

// searchAll pages through a search with pages of count, checking every
// page's Total, and returns the matches and the included resources of all
// pages (as Type/id).
func searchAll(t *testing.T, tx store.Tx, q *search.Query, count int) (matches []string, included []string) {
	t.Helper()
	ctx := testContext(t)
	cursor := ""
	seenInc := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages: the cursors loop")
		}
		page := try(tx.Search(ctx, q, store.PageRequest{Count: count, Cursor: cursor, Total: pages == 0})).must(t)
		if pages == 0 {
			matches = []string{}
			defer func(first store.SearchPage) {
				if first.Total != len(matches) {
					t.Errorf("%s: Total %d, but %d matches", describeQuery(q), first.Total, len(matches))
				}
				if first.Previous != "" {
					t.Errorf("%s: the first page has a previous link", describeQuery(q))
				}
			}(page)
		} else if page.Total != -1 {
			t.Errorf("Total %d on a page that did not ask for it", page.Total)
		}
		if len(page.Matches) > count {
			t.Fatalf("%d matches on a page of %d", len(page.Matches), count)
		}
		for _, v := range page.Matches {
			if v.Type != q.Type || v.Deleted || v.Body == nil {
				t.Fatalf("match %s/%s deleted=%v is not a live %s", v.Type, v.ID, v.Deleted, q.Type)
			}
			matches = append(matches, v.ID)
		}
		for _, v := range page.Included {
			k := v.Type + "/" + v.ID
			if v.Deleted || v.Body == nil {
				t.Fatalf("included %s is not live", k)
			}
			if seenInc[k] {
				// Pages may each include the same resource; one page
				// must not include it twice.
				continue
			}
			seenInc[k] = true
			included = append(included, k)
		}
		checkOnce(t, page)
		if page.Next == "" {
			break
		}
		if len(page.Matches) < count {
			t.Errorf("a page of %d before the last has %d matches", count, len(page.Matches))
		}
		cursor = page.Next
	}
	sort.Strings(included)
	return matches, included
}

// checkOnce checks a page includes each resource once and no match.
func checkOnce(t *testing.T, page store.SearchPage) {
	t.Helper()
	seen := map[string]bool{}
	for _, v := range page.Matches {
		seen[v.Type+"/"+v.ID] = true
	}
	for _, v := range page.Included {
		k := v.Type + "/" + v.ID
		if seen[k] {
			t.Errorf("%s is on the page twice (a match, or included twice)", k)
		}
		seen[k] = true
	}
}

func describeQuery(q *search.Query) string { return fmt.Sprintf("%s %d params", q.Type, len(q.Params)) }

func runCases(t *testing.T, s store.Store, cases []searchCase) {
	for _, tc := range cases {
		t.Run(tc.typ+"?"+tc.query, func(t *testing.T) {
			q := parseQuery(t, tc.typ, tc.query)
			for _, count := range []int{2, 100} {
				got, inc := searchAll(t, s, q, count)
				want := append([]string{}, tc.want...)
				if !tc.ordered {
					slices.Sort(got)
					slices.Sort(want)
				}
				if want == nil {
					want = []string{}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages of %d: got %v, want %v", count, got, want)
				}
				wantInc := tc.included
				if count == 100 && !slices.Equal(inc, wantInc) && !(len(inc) == 0 && len(wantInc) == 0) {
					t.Fatalf("included %v, want %v", inc, wantInc)
				}
			}
		})
	}
}

func testSearch(t *testing.T, s store.Store) {
	loadFixture(t, s, searchFixture)
	runCases(t, s, searchCases)
}

func testSearchOfficialExamples(t *testing.T, s store.Store) {
	loadFixture(t, s, officialExamples(t))
	runCases(t, s, officialCases)
}

// testSearchDefaultSort checks the default order, newest first, and that
// Count 0 gives only a total.
func testSearchDefaultSort(t *testing.T, s store.Store) {
	ctx := testContext(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("d-%d", i)
		try(s.Create(ctx, task(t, id, "requested"))).must(t)
		want = append([]string{id}, want...)
	}
	// An update makes a resource the newest.
	try(s.Update(ctx, task(t, "d-3", "accepted"), none())).must(t)
	want = append([]string{"d-3"}, slices.DeleteFunc(want, func(s string) bool { return s == "d-3" })...)
	q := parseQuery(t, "Task", "")
	got, _ := searchAll(t, s, q, 2)
	if !slices.Equal(got, want) {
		t.Fatalf("default order %v, want newest first %v", got, want)
	}
	page := try(s.Search(ctx, q, store.PageRequest{Count: 0, Total: true})).must(t)
	if page.Total != 7 || len(page.Matches) != 0 || page.Next != "" {
		t.Fatalf("Count 0: total %d, %d matches, next %q; want 7, none, none", page.Total, len(page.Matches), page.Next)
	}
	page = try(s.Search(ctx, q, store.PageRequest{Count: 3})).must(t)
	if page.Total != -1 {
		t.Fatalf("Total %d when not asked, want -1", page.Total)
	}
	if _, err := s.Search(ctx, q, store.PageRequest{Count: 3, Cursor: "not-a-cursor"}); err == nil {
		t.Fatal("a made-up cursor was accepted")
	} else {
		wantError(t, err, fhir.CodeInvalid, 400)
	}
	// A cursor belongs to its sort.
	other := parseQuery(t, "Task", "_sort=_id")
	if _, err := s.Search(ctx, other, store.PageRequest{Count: 3, Cursor: page.Next}); err == nil {
		t.Fatal("a cursor was accepted for another sort")
	}
}

// testSearchPagingWhileWriting pages through a sorted search while other
// resources are created on both sides of the cursor and with equal sort
// values: every resource that existed before the first page is seen
// exactly once, in order; then it walks back with Previous and sees the
// same pages.
func testSearchPagingWhileWriting(t *testing.T, s store.Store) {
	ctx := testContext(t)
	mk := func(id, authored string) {
		t.Helper()
		try(s.Create(ctx, parse(t, fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":"requested","intent":"order","authoredOn":%q}`, id, authored)))).must(t)
	}
	var before []string
	for i := range 20 {
		id := fmt.Sprintf("p-%02d", i)
		// Pairs share a day, so ties are broken by id across pages.
		mk(id, fmt.Sprintf("2025-03-%02d", 1+i/2))
		before = append(before, id)
	}
	for _, query := range []string{"_sort=authored-on", "_sort=-authored-on", "", "_sort=_id"} {
		t.Run(query, func(t *testing.T) {
			q := parseQuery(t, "Task", query)
			var got []string
			var pages []store.SearchPage
			cursor := ""
			for n := 0; ; n++ {
				page := try(s.Search(ctx, q, store.PageRequest{Count: 3, Cursor: cursor})).must(t)
				pages = append(pages, page)
				for _, v := range page.Matches {
					got = append(got, v.ID)
				}
				// Writes between pages: before, at and after the
				// cursor's position in every order.
				for j, day := range []string{"2025-02-27", fmt.Sprintf("2025-03-%02d", 1+n%10), "2025-04-01"} {
					mk(fmt.Sprintf("w%d-%d-%d", len(query), n, j), day)
				}
				if page.Next == "" {
					break
				}
				cursor = page.Next
			}
			var old []string
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s came twice: %v", id, got)
				}
				seen[id] = true
				if strings.HasPrefix(id, "p-") {
					old = append(old, id)
				}
			}
			want := slices.Clone(before)
			switch query {
			case "_sort=-authored-on":
				// Days descending; within a day (equal ends), id ascending.
				want = nil
				for i := 9; i >= 0; i-- {
					want = append(want, fmt.Sprintf("p-%02d", 2*i), fmt.Sprintf("p-%02d", 2*i+1))
				}
			case "":
				slices.Reverse(want) // created in order, newest first
			}
			if !slices.Equal(old, want) {
				t.Fatalf("pre-existing resources came as %v, want %v", old, want)
			}
			// Back with Previous from the last page: the same pages, in
			// reverse, except for what was written since (which may
			// now appear).
			last := pages[len(pages)-1]
			cursor = last.Previous
			for i := len(pages) - 2; i >= 0 && cursor != ""; i-- {
				page := try(s.Search(ctx, q, store.PageRequest{Count: 3, Cursor: cursor})).must(t)
				var ids []string
				for _, v := range page.Matches {
					ids = append(ids, v.ID)
				}
				for _, v := range pages[i].Matches {
					if !slices.Contains(ids, v.ID) && len(ids) < 3 {
						t.Fatalf("going back, page %d is %v, it had %s", i, ids, v.ID)
					}
				}
				if page.Next == "" {
					t.Fatalf("a page reached with Previous has no Next")
				}
				cursor = page.Previous
			}
		})
	}
}

// testSearchIndexFollowsWrites checks index rows are the current
// version's: an update moves a resource between answers, a deletion takes
// it out of all, a new version brings it back.
func testSearchIndexFollowsWrites(t *testing.T, s store.Store) {
	ctx := testContext(t)
	find := func(query string) []string {
		t.Helper()
		got, _ := searchAll(t, s, parseQuery(t, "Task", query), 10)
		return got
	}
	expect := func(query string, want ...string) {
		t.Helper()
		if got := find(query); !slices.Equal(got, append([]string{}, want...)) {
			t.Fatalf("%s: %v, want %v", query, got, want)
		}
	}
	owned := func(status, owner string) *fhir.Resource {
		return parse(t, fmt.Sprintf(`{"resourceType":"Task","id":"w","status":%q,"intent":"order","owner":{"reference":%q}}`, status, owner))
	}
	try(s.Create(ctx, owned("requested", "Organization/o1"))).must(t)
	expect("status=requested", "w")
	expect("owner=Organization/o1", "w")
	try(s.Update(ctx, owned("completed", "Organization/o2"), none())).must(t)
	expect("status=requested")
	expect("owner=Organization/o1")
	expect("status=completed", "w")
	expect("owner=Organization/o2", "w")
	expect("owner=Organization/o2&status=completed", "w")
	expect("owner=Organization/o2&status=requested")
	expect("intent=order", "w") // one row each, not one per version
	try(s.Delete(ctx, "Task", "w", none())).must(t)
	expect("status=completed")
	expect("intent=order")
	expect("status:missing=true")
	expect("_id=w")
	try(s.Update(ctx, owned("accepted", "Organization/o1"), none())).must(t)
	expect("status=accepted", "w")
	expect("owner=Organization/o1&status=accepted", "w")
	expect("owner=Organization/o1", "w")
	expect("status=completed")
}

// testSearchManyIndexRows: a resource with more index rows than one
// statement can bind (SQLite allows 32,766 parameters; a ValueSet of
// 6,000 codes has 6,000 token rows of 8 columns) is written, found by its
// last code, and rewritten; the official ValueSet c80-doc-typecodes has
// over 4,000.
func testSearchManyIndexRows(t *testing.T, s store.Store) {
	ctx := testContext(t)
	const n = 6000
	valueSet := func(prefix string) *fhir.Resource {
		var b strings.Builder
		b.WriteString(`{"resourceType":"ValueSet","id":"many","status":"active","compose":{"include":[{"system":"http://example.org/cs","concept":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"code":"%s%d"}`, prefix, i)
		}
		b.WriteString(`]}]}}`)
		return parse(t, b.String())
	}
	find := func(query string) []string {
		t.Helper()
		got, _ := searchAll(t, s, parseQuery(t, "ValueSet", query), 10)
		return got
	}
	try(s.Create(ctx, valueSet("a"))).must(t)
	if got := find(fmt.Sprintf("code=a%d", n-1)); !slices.Equal(got, []string{"many"}) {
		t.Fatalf("the last code: %v", got)
	}
	try(s.Update(ctx, valueSet("b"), none())).must(t)
	if got := find("code=a0"); len(got) != 0 {
		t.Fatalf("an old code still found: %v", got)
	}
	if got := find(fmt.Sprintf("code=b%d", n-1)); !slices.Equal(got, []string{"many"}) {
		t.Fatalf("the last code after the update: %v", got)
	}
}

// errRollback is what the atomicity tests make fn fail with.
var errRollback = errors.New("storetest: roll back")

// testTransaction checks a transaction's writes, index rows included, are
// seen inside it, not outside it until it commits, and that an error from
// fn leaves everything as it was.
func testTransaction(t *testing.T, s store.Store) {
	ctx := testContext(t)
	try(s.Create(ctx, parse(t, `{"resourceType":"Task","id":"keep","status":"requested","intent":"order","identifier":[{"system":"s","value":"keep"}]}`))).must(t)
	try(s.Create(ctx, parse(t, `{"resourceType":"Task","id":"gone","status":"requested","intent":"order"}`))).must(t)
	snapshot := func() []string {
		var out []string
		for _, query := range []string{"status=requested", "status=completed", "identifier=s|new", "identifier=s|keep", "_sort=_id"} {
			got, _ := searchAll(t, s, parseQuery(t, "Task", query), 10)
			out = append(out, query+"="+strings.Join(got, ","))
		}
		for _, id := range []string{"keep", "gone", "new"} {
			v, err := s.Read(ctx, "Task", id)
			out = append(out, fmt.Sprintf("%s:v%d:%v", id, v.VersionID, err))
		}
		return out
	}
	start := snapshot()
	work := func(tx store.Tx) error {
		try(tx.Create(ctx, parse(t, `{"resourceType":"Task","id":"new","status":"requested","intent":"order","identifier":[{"system":"s","value":"new"}]}`))).must(t)
		try(tx.Update(ctx, parse(t, `{"resourceType":"Task","id":"keep","status":"completed","intent":"order","identifier":[{"system":"s","value":"keep"}]}`), none())).must(t)
		try(tx.Delete(ctx, "Task", "gone", none())).must(t)
		// Inside: the transaction's own writes.
		got, _ := searchAll(t, tx, parseQuery(t, "Task", "status=requested"), 10)
		if !slices.Equal(got, []string{"new"}) {
			t.Errorf("inside the transaction status=requested is %v, want [new]", got)
		}
		if _, err := tx.Read(ctx, "Task", "new"); err != nil {
			t.Errorf("inside the transaction: %v", err)
		}
		if err := tx.Lock(ctx, "storetest"); err != nil {
			t.Errorf("Lock: %v", err)
		}
		// Outside: nothing yet.
		if _, err := s.Read(ctx, "Task", "new"); !errors.Is(err, fhir.ErrNotFound) {
			t.Errorf("outside the transaction, before it commits, Task/new reads %v", err)
		}
		return nil
	}
	err := s.Transaction(ctx, func(tx store.Tx) error {
		if err := work(tx); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Transaction returned %v, want fn's error", err)
	}
	if got := snapshot(); !slices.Equal(got, start) {
		t.Fatalf("a rolled back transaction changed things:\n got %v\nwant %v", got, start)
	}
	if err := s.Transaction(ctx, work); err != nil {
		t.Fatal(err)
	}
	want := []string{"status=requested=new", "status=completed=keep", "identifier=s|new=new", "identifier=s|keep=keep", "_sort=_id=keep,new",
		"keep:v2:<nil>", "gone:v0:" + fhir.Gone("Task", "gone").Error(), "new:v1:<nil>"}
	if got := snapshot(); !slices.Equal(got, want) {
		t.Fatalf("after commit:\n got %v\nwant %v", got, want)
	}
	// A client error inside fn rolls back the writes before it too.
	err = s.Transaction(ctx, func(tx store.Tx) error {
		try(tx.Create(ctx, task(t, "half", "requested"))).must(t)
		_, err := tx.Create(ctx, task(t, "keep", "requested"))
		return err
	})
	wantError(t, err, fhir.CodeDuplicate, 0)
	if _, err := s.Read(ctx, "Task", "half"); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("the write before a failed one survived: %v", err)
	}
	if err := s.Lock(ctx, "outside"); err != nil {
		t.Fatalf("Lock outside a transaction: %v", err)
	}
}

// ConditionalRacers is how many conditional creates race for one
// identifier.
const ConditionalRacers = 50

// testConditionalCreateRace is what conditional create does: lock the
// criteria, search, create when nothing matches. Racing for one
// identifier, exactly one creates, and every other finds it.
func testConditionalCreateRace(t *testing.T, s store.Store) {
	ctx := testContext(t)
	const criteria = "identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999"
	q := parseQuery(t, "Patient", criteria)
	created := make([]bool, ConditionalRacers)
	errs := race(ConditionalRacers, func(i int) error {
		return s.Transaction(ctx, func(tx store.Tx) error {
			created[i] = false
			if err := tx.Lock(ctx, "Patient?"+criteria); err != nil {
				return err
			}
			page, err := tx.Search(ctx, q, store.PageRequest{Count: 2})
			if err != nil {
				return err
			}
			if len(page.Matches) > 0 {
				return nil
			}
			r := parse(t, fmt.Sprintf(`{"resourceType":"Patient","id":"racer-%d","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9999999999"}]}`, i))
			if _, err := tx.Create(ctx, r); err != nil {
				return err
			}
			created[i] = true
			return nil
		})
	})
	n := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d racers created a Patient, want 1", n)
	}
	page := try(s.Search(ctx, q, store.PageRequest{Count: 10, Total: true})).must(t)
	if page.Total != 1 || len(page.Matches) != 1 {
		t.Fatalf("%d Patients have the identifier, want 1", page.Total)
	}
}

// testTransactionUpdateAsCreateRace races updates as create inside
// transactions: the store's retry of a lost create must work there too.
func testTransactionUpdateAsCreateRace(t *testing.T, s store.Store) {
	ctx := testContext(t)
	results := make([]store.WriteResult, Racers)
	errs := race(Racers, func(i int) error {
		return s.Transaction(ctx, func(tx store.Tx) error {
			var err error
			results[i], err = tx.Update(ctx, patient(t, "fresh-tx", fmt.Sprintf("Racer%d", i)), none())
			return err
		})
	})
	created := 0
	var versions []int64
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		if results[i].Created {
			created++
		}
		versions = append(versions, results[i].Version.VersionID)
	}
	if created != 1 {
		t.Fatalf("%d racers reported Created, want 1", created)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v, want 1..%d", versions, Racers)
		}
	}
	got, _ := searchAll(t, s, parseQuery(t, "Patient", "family=racer"), 10)
	if !slices.Equal(got, []string{"fresh-tx"}) {
		t.Fatalf("family=racer finds %v, want one resource", got)
	}
}
