package auth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
)

func principal(scopes []string, mutate func(*auth.Principal)) *auth.Principal {
	s, _ := auth.ParseScopes(scopes)
	p := &auth.Principal{Subject: "u", ClientID: "c", Scopes: s}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestTenancy(t *testing.T) {
	p := principal([]string{"system/*.cruds"}, func(p *auth.Principal) { p.ODS = []string{"A81001", "A81002"} })
	for ods, want := range map[string]bool{"A81001": true, "a81002": true, " A81001 ": true, "B82002": false, "": false} {
		if got := p.CanSeePractice(ods); got != want {
			t.Errorf("CanSeePractice(%q) = %v, want %v", ods, got, want)
		}
	}
	got := p.Practices()
	got[0] = "MUTATED"
	if p.ODS[0] != "A81001" {
		t.Error("Practices returned the principal's own slice")
	}
	if !p.CanReadPatientData() {
		t.Error("practice caller cannot read patient data")
	}

	none := principal([]string{"system/*.cruds"}, nil)
	if none.CanSeePractice("A81001") || none.CanReadPatientData() || len(none.Practices()) != 0 {
		t.Error("a token without practices sees something")
	}

	dev := auth.DevPrincipal()
	if !dev.Dev || !dev.AllPractices || !dev.CanSeePractice("ANY123") || dev.Practices() != nil || !dev.CanReadPatientData() {
		t.Errorf("dev = %+v", dev)
	}
	if dev.Tier != auth.TierExpert || !dev.HasRole(auth.RoleNavigator) || !dev.HasRole(auth.RoleClinician) || !dev.CanPublish("ANY") {
		t.Errorf("dev = %+v", dev)
	}

	var nobody *auth.Principal
	if nobody.CanSeePractice("A81001") || nobody.CanReadPatientData() || nobody.HasRole(auth.RoleAdmin) || nobody.CanPublish("QWE") || nobody.Practices() != nil {
		t.Error("nil principal has rights")
	}
}

func TestPublisher(t *testing.T) {
	pub := principal([]string{"system/HealthcareService.cruds", "system/Location.cruds", "system/*.rs"}, func(p *auth.Principal) {
		p.Roles = []auth.Role{auth.RolePublisher, auth.RoleNavigator}
		p.ODS = []string{"A81001"} // a publisher with a practice is still a publisher
		p.Publisher = auth.PublisherScope{Organizations: []string{"QWE"}, IdentifierSystems: []string{"https://dir.example.nhs.uk/id"}}
	})
	if !pub.IsPublisher() || pub.CanReadPatientData() {
		t.Errorf("publisher flags wrong: %+v", pub)
	}
	for _, tc := range []struct {
		org     string
		systems []string
		want    bool
	}{
		{"QWE", nil, true},
		{"qwe", nil, true},
		{"", []string{"https://dir.example.nhs.uk/id"}, true},
		{"XYZ", []string{"https://other.example/id", "https://dir.example.nhs.uk/id"}, true},
		{"XYZ", nil, false},
		{"", []string{"https://other.example/id"}, false},
		{"", nil, false},
	} {
		if got := pub.CanPublish(tc.org, tc.systems...); got != tc.want {
			t.Errorf("CanPublish(%q, %q) = %v, want %v", tc.org, tc.systems, got, tc.want)
		}
	}
	notPub := principal([]string{"system/*.cruds"}, func(p *auth.Principal) {
		p.Publisher = auth.PublisherScope{Organizations: []string{"QWE"}}
	})
	if notPub.CanPublish("QWE") {
		t.Error("a publisher scope without the publisher role publishes")
	}
	if (auth.PublisherScope{}).Empty() != true || pub.Publisher.Empty() {
		t.Error("PublisherScope.Empty")
	}
}

func TestAuthorize(t *testing.T) {
	navigator := principal([]string{"system/Task.cruds", "system/HealthcareService.cruds", "system/Observation.rs"}, func(p *auth.Principal) {
		p.ODS = []string{"A81001"}
		p.Roles = []auth.Role{auth.RoleNavigator}
	})
	publisher := principal([]string{"system/*.cruds"}, func(p *auth.Principal) {
		p.Roles = []auth.Role{auth.RolePublisher}
		p.Publisher.Organizations = []string{"QWE"}
	})
	noPractice := principal([]string{"system/*.cruds"}, nil)
	for _, tc := range []struct {
		name   string
		p      *auth.Principal
		rt     string
		action auth.Action
		code   fhir.IssueCode // "" means allowed
	}{
		{"navigator reads a task", navigator, "Task", auth.Read, ""},
		{"navigator creates a task", navigator, "Task", auth.Create, ""},
		{"navigator searches observations", navigator, "Observation", auth.Search, ""},
		{"navigator writes an observation: no scope", navigator, "Observation", auth.Create, fhir.CodeForbidden},
		{"navigator reads patients: no scope", navigator, "Patient", auth.Read, fhir.CodeForbidden},
		{"navigator writes the directory: not a publisher", navigator, "HealthcareService", auth.Update, fhir.CodeForbidden},
		{"navigator reads the directory", navigator, "HealthcareService", auth.Read, ""},
		{"publisher writes the directory", publisher, "HealthcareService", auth.Create, ""},
		{"publisher writes an endpoint", publisher, "Endpoint", auth.Update, ""},
		{"publisher reads a task: patient data", publisher, "Task", auth.Read, fhir.CodeForbidden},
		{"publisher searches audit events", publisher, "AuditEvent", auth.Search, fhir.CodeForbidden},
		{"publisher reads value sets", publisher, "ValueSet", auth.Read, ""},
		{"no practice reads a task", noPractice, "Task", auth.Read, fhir.CodeForbidden},
		{"no practice reads the directory", noPractice, "Location", auth.Read, ""},
		{"developer deletes anything", auth.DevPrincipal(), "AuditEvent", auth.Delete, ""},
		{"nobody", nil, "Task", auth.Read, fhir.CodeLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Authorize(tc.rt, tc.action)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			fe, ok := fhir.AsError(err)
			if !ok || fe.Code() != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestPatientLinkedTypes(t *testing.T) {
	for _, rt := range []string{"Task", "ServiceRequest", "Observation", "Flag", "Provenance", "Communication", "AuditEvent", "Patient", "RelatedPerson", "QuestionnaireResponse", "Consent", "Condition", "MeasureReport", "Encounter"} {
		if !auth.IsPatientLinked(rt) {
			t.Errorf("%s is not patient-linked", rt)
		}
	}
	for _, rt := range []string{"HealthcareService", "Location", "Organization", "Endpoint", "ValueSet", "CodeSystem", "CapabilityStatement", "Subscription", "task", ""} {
		if auth.IsPatientLinked(rt) {
			t.Errorf("%s is patient-linked", rt)
		}
	}
	list := auth.PatientLinkedTypes()
	if !slices.IsSorted(list) || !slices.Contains(list, "Task") || len(list) < 60 {
		t.Errorf("PatientLinkedTypes = %v", list)
	}
	for _, rt := range []string{"HealthcareService", "Location", "Organization", "Endpoint"} {
		if !auth.IsDirectoryType(rt) {
			t.Errorf("%s is not a directory type", rt)
		}
	}
	if auth.IsDirectoryType("Task") {
		t.Error("Task is a directory type")
	}
}

func TestTiersAndRoles(t *testing.T) {
	order := []auth.Tier{auth.TierNone, auth.TierEssential, auth.TierEnhanced, auth.TierExpert}
	for i, a := range order {
		for j, b := range order {
			if got := a.AtLeast(b); got != (i >= j) {
				t.Errorf("%q.AtLeast(%q) = %v", a, b, got)
			}
		}
	}
	for in, want := range map[string]auth.Tier{"essential": auth.TierEssential, " ENHANCED ": auth.TierEnhanced, "Expert": auth.TierExpert, "": auth.TierNone} {
		if got, ok := auth.ParseTier(in); !ok || got != want {
			t.Errorf("ParseTier(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := auth.ParseTier("advanced"); ok {
		t.Error("ParseTier accepted advanced")
	}
	for _, r := range []string{"navigator", "clinician", "admin", "publisher", "auditor", "Navigator"} {
		if _, ok := auth.ParseRole(r); !ok {
			t.Errorf("ParseRole(%q) failed", r)
		}
	}
	if _, ok := auth.ParseRole("superuser"); ok {
		t.Error("ParseRole accepted superuser")
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := auth.FromContext(ctx); ok {
		t.Error("principal in an empty context")
	}
	p := auth.DevPrincipal()
	got, ok := auth.FromContext(auth.NewContext(ctx, p))
	if !ok || got != p {
		t.Errorf("FromContext = %v, %v", got, ok)
	}
	if _, ok := auth.FromContext(auth.NewContext(ctx, nil)); ok {
		t.Error("nil principal found")
	}
}
