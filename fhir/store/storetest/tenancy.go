package storetest

import (
	"net/url"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Tenancy: the filters the gateway puts on history (HistoryQuery.Types and
// .Security) and on what a search reaches through references
// (search.Query.Tenancy). Resources carry their practice as a security
// label; the filters keep, of the restricted types, what carries one of the
// allowed labels.

const practiceSystem = "https://signpost.test/fhir/CodeSystem/practice"

func labelled(t testing.TB, js, practice string) string {
	t.Helper()
	return js[:len(js)-1] + `,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"},{"system":"` + practiceSystem + `","code":"` + practice + `"}]}}`
}

func testHistorySecurity(t *testing.T, s store.Store) {
	ctx := testContext(t)
	var all []store.Version
	add := func(res store.WriteResult, err error) {
		t.Helper()
		all = append(all, try(res, err).must(t).Version)
	}
	add(s.Create(ctx, parse(t, labelled(t, `{"resourceType":"Patient","id":"pa","name":[{"family":"A"}]}`, "A81001"))))
	add(s.Create(ctx, parse(t, labelled(t, `{"resourceType":"Patient","id":"pb","name":[{"family":"B"}]}`, "B82002"))))
	add(s.Create(ctx, parse(t, `{"resourceType":"Patient","id":"pn","name":[{"family":"None"}]}`)))
	add(s.Create(ctx, parse(t, `{"resourceType":"Organization","id":"org","name":"Directory"}`)))
	add(s.Update(ctx, parse(t, labelled(t, `{"resourceType":"Patient","id":"pa","name":[{"family":"A2"}]}`, "A81001")), none()))
	add(s.Delete(ctx, "Patient", "pb", none()))
	add(s.Delete(ctx, "Patient", "pa", none()))

	onlyA := &store.SecurityFilter{Types: []string{"Patient", "Task"}, System: practiceSystem, Codes: []string{"A81001"}}
	both := &store.SecurityFilter{Types: []string{"Patient"}, System: practiceSystem, Codes: []string{"A81001", "B82002"}}
	none := &store.SecurityFilter{Types: []string{"Patient"}, System: practiceSystem}
	is := func(typ string, ids ...string) func(v store.Version) bool {
		return func(v store.Version) bool { return v.Type == typ && (len(ids) == 0 || slices.Contains(ids, v.ID)) }
	}
	either := func(fs ...func(v store.Version) bool) func(v store.Version) bool {
		return func(v store.Version) bool {
			for _, f := range fs {
				if f(v) {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		name string
		q    store.HistoryQuery
		keep func(v store.Version) bool
	}{
		{"system, practice A: its versions and its deletion, other types whole", store.HistoryQuery{Count: 100, Security: onlyA}, either(is("Patient", "pa"), is("Organization"))},
		{"system, two practices", store.HistoryQuery{Count: 100, Security: both}, either(is("Patient", "pa", "pb"), is("Organization"))},
		{"system, no practice", store.HistoryQuery{Count: 100, Security: none}, is("Organization")},
		{"type", store.HistoryQuery{Type: "Patient", Count: 100, Security: onlyA}, is("Patient", "pa")},
		{"instance of another practice", store.HistoryQuery{Type: "Patient", ID: "pb", Count: 100, Security: onlyA}, func(store.Version) bool { return false }},
		{"count only", store.HistoryQuery{Type: "Patient", Security: both}, is("Patient", "pa", "pb")},
		{"types", store.HistoryQuery{Count: 100, Types: []string{"Organization"}}, is("Organization")},
		{"types and security", store.HistoryQuery{Count: 100, Types: []string{"Patient"}, Security: onlyA}, is("Patient", "pa")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := pick(all, tc.keep)
			page := try(s.History(testContext(t), tc.q)).must(t)
			if tc.q.Count == 0 {
				samePage(t, page, nil, len(want))
				return
			}
			samePage(t, page, want, len(want))
		})
	}
	t.Run("paging keeps the total", func(t *testing.T) {
		want := pick(all, either(is("Patient", "pa"), is("Organization")))
		var got []store.Version
		for off := 0; off < len(want); off += 2 {
			page := try(s.History(testContext(t), store.HistoryQuery{Count: 2, Offset: off, Security: onlyA})).must(t)
			if page.Total != len(want) {
				t.Fatalf("Total %d at offset %d, want %d", page.Total, off, len(want))
			}
			got = append(got, page.Versions...)
		}
		samePage(t, store.HistoryPage{Versions: got, Total: len(want)}, want, len(want))
	})
}

func testSearchTenancy(t *testing.T, s store.Store) {
	loadFixture(t, s, []string{
		labelled(t, `{"resourceType":"Organization","id":"org-a","name":"Alpha"}`, "A81001"),
		labelled(t, `{"resourceType":"Patient","id":"pa","name":[{"family":"Alpha"}]}`, "A81001"),
		labelled(t, `{"resourceType":"Patient","id":"pb","name":[{"family":"Bravo"}]}`, "B82002"),
		labelled(t, `{"resourceType":"Task","id":"ta","status":"requested","intent":"order","for":{"reference":"Patient/pa"},"owner":{"reference":"Organization/org-a"}}`, "A81001"),
		labelled(t, `{"resourceType":"Task","id":"tb-for-a","status":"requested","intent":"order","for":{"reference":"Patient/pa"},"owner":{"reference":"Organization/org-a"}}`, "B82002"),
		labelled(t, `{"resourceType":"Task","id":"tb","status":"requested","intent":"order","for":{"reference":"Patient/pb"},"owner":{"reference":"Organization/org-a"}}`, "B82002"),
	})
	forB := &search.Tenancy{Types: []string{"Patient", "Task"}, System: practiceSystem, Codes: []string{"B82002"}}
	forBoth := &search.Tenancy{Types: []string{"Patient", "Task"}, System: practiceSystem, Codes: []string{"A81001", "B82002"}}
	cases := []struct {
		name, typ, query string
		tenancy          *search.Tenancy
		matches, incl    []string
	}{
		{"chain without tenancy", "Task", "patient.family=Alpha", nil, []string{"ta", "tb-for-a"}, nil},
		{"chain into another practice", "Task", "patient.family=Alpha", forB, nil, nil},
		{"chain into its own practice", "Task", "patient.family=Bravo", forB, []string{"tb"}, nil},
		{"chain, both practices", "Task", "patient.family=Alpha", forBoth, []string{"ta", "tb-for-a"}, nil},
		{"_has without tenancy", "Patient", "_has:Task:patient:status=requested", nil, []string{"pa", "pb"}, nil},
		{"_has sees only its practice's Tasks", "Organization", "_has:Task:owner:_id=ta", forB, nil, nil},
		{"_has, own Task", "Organization", "_has:Task:owner:_id=tb", forB, []string{"org-a"}, nil},
		{"_include of another practice", "Task", "_id=tb-for-a&_include=Task:patient", forB, []string{"tb-for-a"}, nil},
		{"_include, both", "Task", "_id=tb-for-a&_include=Task:patient", forBoth, []string{"tb-for-a"}, []string{"pa"}},
		{"_revinclude", "Organization", "_id=org-a&_revinclude=Task:owner", forB, []string{"org-a"}, []string{"tb", "tb-for-a"}},
		{"_revinclude:iterate stops at the invisible", "Patient", "_id=pa&_revinclude:iterate=Task:patient&_include:iterate=Task:owner", forB, []string{"pa"}, []string{"org-a", "tb-for-a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := search.ParseQuery(tc.typ, values, true)
			if err != nil {
				t.Fatal(err)
			}
			q.Tenancy = tc.tenancy
			page := try(s.Search(testContext(t), q, store.PageRequest{Count: 100})).must(t)
			var got, incl []string
			for _, v := range page.Matches {
				got = append(got, v.ID)
			}
			for _, v := range page.Included {
				incl = append(incl, v.ID)
			}
			slices.Sort(got)
			slices.Sort(incl)
			if !slices.Equal(got, tc.matches) || !slices.Equal(incl, tc.incl) {
				t.Fatalf("matches %v and included %v, want %v and %v", got, incl, tc.matches, tc.incl)
			}
		})
	}
}
