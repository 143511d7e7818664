package auth_test

import (
	"testing"

	"github.com/signpost-fhir/signpost/auth"
)

func TestParseScope(t *testing.T) {
	const all = auth.Create | auth.Read | auth.Update | auth.Delete | auth.Search
	for _, tc := range []struct {
		raw        string
		ok         bool
		ctx, rt    string
		actions    auth.Action
		version    int
		restricted bool
	}{
		{"system/Task.cruds", true, "system", "Task", all, 2, false},
		{"user/ServiceRequest.rs", true, "user", "ServiceRequest", auth.Read | auth.Search, 2, false},
		{"system/*.cruds", true, "system", "*", all, 2, false},
		{"system/Task.c", true, "system", "Task", auth.Create, 2, false},
		{"system/Task.ud", true, "system", "Task", auth.Update | auth.Delete, 2, false},
		{"patient/*.r", true, "patient", "*", auth.Read, 2, true},
		{"system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", true, "system", "Observation", auth.Read | auth.Search, 2, true},
		{"system/Task.read", true, "system", "Task", auth.Read | auth.Search, 1, false},
		{"system/Task.write", true, "system", "Task", auth.Create | auth.Update | auth.Delete, 1, false},
		{"system/Task.*", true, "system", "Task", all, 1, false},
		{"user/*.*", true, "user", "*", all, 1, false},
		{"user/*.read", true, "user", "*", auth.Read | auth.Search, 1, false},
		// Not SMART resource scopes, or malformed.
		{"openid", false, "", "", 0, 0, false},
		{"launch/patient", false, "", "", 0, 0, false},
		{"offline_access", false, "", "", 0, 0, false},
		{"system/Task", false, "", "", 0, 0, false},
		{"system/Task.", false, "", "", 0, 0, false},
		{"system/Task.rc", false, "", "", 0, 0, false},       // out of order
		{"system/Task.rr", false, "", "", 0, 0, false},       // repeated
		{"system/Task.x", false, "", "", 0, 0, false},        // unknown letter
		{"system/Task.RS", false, "", "", 0, 0, false},       // case matters
		{"system/task.rs", false, "", "", 0, 0, false},       // not a type name
		{"system/Ta-sk.rs", false, "", "", 0, 0, false},      // not a type name
		{"admin/Task.rs", false, "", "", 0, 0, false},        // unknown context
		{"System/Task.rs", false, "", "", 0, 0, false},       // case matters
		{"system/Task.read?x=1", false, "", "", 0, 0, false}, // parameters are v2 only
		{"system/Task.rs?", false, "", "", 0, 0, false},
		{"system/Task.rs?%zz", false, "", "", 0, 0, false},
		{"", false, "", "", 0, 0, false},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			s, ok := auth.ParseScope(tc.raw)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, s)
			}
			if !ok {
				return
			}
			if s.Context != tc.ctx || s.ResourceType != tc.rt || s.Actions != tc.actions || s.Version != tc.version || s.Restricted() != tc.restricted {
				t.Errorf("got %+v (restricted %v)", s, s.Restricted())
			}
			if s.String() != tc.raw {
				t.Errorf("String = %q", s.String())
			}
		})
	}
}

func TestAllows(t *testing.T) {
	type check struct {
		rt     string
		action auth.Action
		want   bool
	}
	for _, tc := range []struct {
		name   string
		scopes []string
		checks []check
	}{
		{"v2 cruds on one type", []string{"system/Task.cruds"}, []check{
			{"Task", auth.Create, true}, {"Task", auth.Read, true}, {"Task", auth.Update, true},
			{"Task", auth.Delete, true}, {"Task", auth.Search, true},
			{"ServiceRequest", auth.Read, false}, {"Patient", auth.Read, false},
		}},
		{"v2 rs", []string{"user/ServiceRequest.rs"}, []check{
			{"ServiceRequest", auth.Read, true}, {"ServiceRequest", auth.Search, true},
			{"ServiceRequest", auth.Create, false}, {"ServiceRequest", auth.Update, false}, {"ServiceRequest", auth.Delete, false},
		}},
		{"v2 wildcard type", []string{"system/*.rs"}, []check{
			{"Task", auth.Read, true}, {"HealthcareService", auth.Search, true}, {"Task", auth.Update, false},
		}},
		{"v2 everything", []string{"system/*.cruds"}, []check{
			{"Task", auth.Delete, true}, {"AuditEvent", auth.Create, true},
		}},
		{"v2 single letters", []string{"system/Task.c", "system/Task.s"}, []check{
			{"Task", auth.Create, true}, {"Task", auth.Search, true}, {"Task", auth.Read, false}, {"Task", auth.Update, false},
		}},
		{"v1 read is r+s", []string{"system/Task.read"}, []check{
			{"Task", auth.Read, true}, {"Task", auth.Search, true}, {"Task", auth.Create, false}, {"Task", auth.Update, false}, {"Task", auth.Delete, false},
		}},
		{"v1 write is c+u+d", []string{"system/Task.write"}, []check{
			{"Task", auth.Create, true}, {"Task", auth.Update, true}, {"Task", auth.Delete, true}, {"Task", auth.Read, false}, {"Task", auth.Search, false},
		}},
		{"v1 star", []string{"system/Task.*"}, []check{
			{"Task", auth.Create, true}, {"Task", auth.Search, true}, {"Flag", auth.Read, false},
		}},
		{"v1 all", []string{"user/*.*"}, []check{
			{"Task", auth.Delete, true}, {"Observation", auth.Search, true},
		}},
		{"v1 and v2 combine", []string{"system/Task.read", "system/Task.u"}, []check{
			{"Task", auth.Read, true}, {"Task", auth.Update, true}, {"Task", auth.Create, false},
		}},
		{"parameters grant nothing", []string{"system/Observation.rs?category=laboratory"}, []check{
			{"Observation", auth.Read, false}, {"Observation", auth.Search, false},
		}},
		{"patient scopes grant nothing", []string{"patient/*.cruds", "patient/Task.read"}, []check{
			{"Task", auth.Read, false}, {"Observation", auth.Read, false},
		}},
		{"restricted alongside unrestricted", []string{"system/Observation.rs?category=laboratory", "system/Observation.r"}, []check{
			{"Observation", auth.Read, true}, {"Observation", auth.Search, false},
		}},
		{"malformed scopes grant nothing", []string{"system/Task.rc", "system/task.cruds", "openid", "Task.read"}, []check{
			{"Task", auth.Read, false}, {"Task", auth.Create, false},
		}},
		{"no scopes", nil, []check{{"Task", auth.Read, false}}},
		{"zero action", []string{"system/*.cruds"}, []check{{"Task", 0, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scopes, _ := auth.ParseScopes(tc.scopes)
			p := &auth.Principal{Subject: "s", Scopes: scopes, ODS: []string{"A81001"}}
			for _, c := range tc.checks {
				if got := p.Allows(c.rt, c.action); got != c.want {
					t.Errorf("Allows(%s, %s) = %v, want %v", c.rt, c.action, got, c.want)
				}
			}
		})
	}
	var nobody *auth.Principal
	if nobody.Allows("Task", auth.Read) {
		t.Error("nil principal allowed")
	}
	if !auth.DevPrincipal().Allows("Anything", auth.Delete) {
		t.Error("developer denied")
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[auth.Action]string{
		auth.Create: "create", auth.Read: "read", auth.Update: "update", auth.Delete: "delete", auth.Search: "search",
		auth.Read | auth.Search: "rs", auth.Create | auth.Update | auth.Delete: "cud",
	} {
		if a.String() != want {
			t.Errorf("%d.String() = %q, want %q", a, a.String(), want)
		}
	}
}
