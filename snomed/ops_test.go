package snomed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/snomed"
)

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func seededStore(t testing.TB, term *snomed.Terminology) store.Store {
	t.Helper()
	st := openStore(t)
	_, err := term.Seed(context.Background(), st)
	require.NoError(t, err)
	return st
}

func actions(rs []snomed.SeedResult) map[string]snomed.SeedAction {
	m := map[string]snomed.SeedAction{}
	for _, r := range rs {
		m[r.Type+"/"+r.ID] = r.Action
	}
	return m
}

func TestSeedIsIdempotentAndKeepsAdminChanges(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := openStore(t)

	first, err := term.Seed(ctx, st)
	require.NoError(t, err)
	assert.Len(t, first, 30)
	for _, r := range first {
		assert.Equal(t, snomed.SeedCreated, r.Action, r.Type+"/"+r.ID)
		assert.EqualValues(t, 1, r.Version)
	}
	again, err := term.Seed(ctx, st)
	require.NoError(t, err)
	for _, r := range again {
		assert.Equal(t, snomed.SeedUnchanged, r.Action, r.Type+"/"+r.ID)
	}

	// An administrator edits the ConceptMap (keeping the tag, as a GET,
	// edit, PUT does) and deletes a ValueSet.
	v, err := st.Read(ctx, "ConceptMap", "allocation")
	require.NoError(t, err)
	edited, err := fhir.ParseResource([]byte(strings.Replace(string(v.Body), `"code":"183561008"`, `"code":"308435009"`, 1)))
	require.NoError(t, err)
	_, err = st.Update(ctx, edited, store.Precondition{})
	require.NoError(t, err)
	_, err = st.Delete(ctx, "ValueSet", "red-flag-finding", store.Precondition{})
	require.NoError(t, err)

	// An older release left unmodified content of its own: simulate it by
	// storing different content with a matching hash tag.
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	var old *fhir.Resource
	for _, r := range rs {
		if r.Type() == "CodeSystem" && r.ID() == "contact-route" {
			old = r
		}
	}
	old.Object()["description"] = "An older release's wording."
	delete(old.Object(), "meta")
	b, _ := old.MarshalJSON()
	old, _ = fhir.ParseResource(b)
	older := taggedAsShipped(t, old)
	_, err = st.Update(ctx, older, store.Precondition{})
	require.NoError(t, err)

	third, err := term.Seed(ctx, st)
	require.NoError(t, err)
	a := actions(third)
	assert.Equal(t, snomed.SeedKept, a["ConceptMap/allocation"])
	assert.Equal(t, snomed.SeedRestored, a["ValueSet/red-flag-finding"])
	assert.Equal(t, snomed.SeedUpdated, a["CodeSystem/contact-route"])
	assert.Equal(t, snomed.SeedUnchanged, a["CodeSystem/navigation-urgency"])

	v, err = st.Read(ctx, "ConceptMap", "allocation")
	require.NoError(t, err)
	assert.Contains(t, string(v.Body), `"code":"308435009"`, "the administrator's map is kept")
	v, err = st.Read(ctx, "CodeSystem", "contact-route")
	require.NoError(t, err)
	assert.NotContains(t, string(v.Body), "older release")

	// Replaced without the tag (a fresh resource): kept too.
	fresh := `{"resourceType":"ValueSet","id":"consultation-mode","url":"` + term.URL("ValueSet", "consultation-mode") + `","status":"active","compose":{"include":[{"system":"http://snomed.info/sct","concept":[{"code":"386472008"}]}]}}`
	r, _ := fhir.ParseResource([]byte(fresh))
	_, err = st.Update(ctx, r, store.Precondition{})
	require.NoError(t, err)
	fourth, err := term.Seed(ctx, st)
	require.NoError(t, err)
	assert.Equal(t, snomed.SeedKept, actions(fourth)["ValueSet/consultation-mode"])
}

// taggedAsShipped tags r with the hash of its own content, as an older
// release would have shipped it.
func taggedAsShipped(t *testing.T, r *fhir.Resource) *fhir.Resource {
	t.Helper()
	h, err := snomed.ContentHash(r.Object())
	require.NoError(t, err)
	r.Object()["meta"] = map[string]any{"tag": []any{map[string]any{"system": snomed.ShippedTagSystem, "code": h}}}
	return r
}

func TestValueSets(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := seededStore(t, term)
	vs := func(id string) string { return term.URL("ValueSet", id) }
	tests := []struct {
		vs     string
		coding snomed.Coding
		ok     bool
		msg    string
	}{
		{vs("red-flag-finding"), snomed.Coding{System: snomed.System, Code: "29857009"}, true, ""},
		{vs("red-flag-finding"), snomed.Coding{System: snomed.System, Code: "29857009", Display: "Chest pain"}, true, ""},
		{vs("red-flag-finding"), snomed.Coding{System: snomed.System, Code: "29857009", Display: "Headache"}, false, "preferred term"},
		{vs("red-flag-finding"), snomed.Coding{System: snomed.System, Code: "308447003"}, false, "not in ValueSet"},
		{vs("red-flag-finding"), snomed.Coding{System: snomed.System, Code: "29857019"}, false, "not in ValueSet"},
		{vs("allocation-decision"), snomed.Coding{System: term.URL("CodeSystem", "navigation-decision"), Code: "self-care"}, true, ""},
		{vs("allocation-decision"), snomed.Coding{System: term.URL("CodeSystem", "navigation-decision"), Code: "nonsense"}, false, "not in CodeSystem"},
		{vs("performer-occupation"), snomed.Coding{System: term.URL("CodeSystem", "navigation-role"), Code: "care-navigator"}, true, ""},
		{vs("navigation-urgency"), snomed.Coding{System: term.URL("CodeSystem", "navigation-urgency"), Code: "same-day"}, true, ""},
		{vs("navigation-urgency"), snomed.Coding{System: term.URL("CodeSystem", "navigation-urgency"), Code: "Same-Day"}, false, "not in CodeSystem"},
		{vs("navigation-urgency"), snomed.Coding{System: term.URL("CodeSystem", "navigation-urgency"), Code: "routine", Display: "Routine"}, true, ""},
		{vs("navigation-urgency"), snomed.Coding{System: term.URL("CodeSystem", "navigation-urgency"), Code: "routine", Display: "Later"}, false, "display"},
		{vs("navigation-urgency"), snomed.Coding{System: term.URL("CodeSystem", "navigation-category"), Code: "emergency"}, false, "not in ValueSet"},
		{snomed.ImplicitSNOMED, snomed.Coding{System: snomed.System, Code: "62247001"}, true, ""},
	}
	for _, tt := range tests {
		res, err := term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{URL: tt.vs, Codings: []snomed.Coding{tt.coding}})
		require.NoError(t, err, "%v", tt.coding)
		assert.Equal(t, tt.ok, res.Result, "%s %v: %s", tt.vs, tt.coding, res.Message)
		assert.Contains(t, res.Message, tt.msg)
	}
	// Every member of every shipped SNOMED CT value set validates in it.
	rs, _ := term.ShippedResources()
	for _, r := range rs {
		if r.Type() != "ValueSet" {
			continue
		}
		walkCodings(r.Object(), func(system, code string) {
			res, err := term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{ID: r.ID(), Codings: []snomed.Coding{{System: system, Code: code}}})
			require.NoError(t, err)
			assert.True(t, res.Result, "%s in %s: %s", code, r.ID(), res.Message)
		})
	}
	// A CodeableConcept is valid when any coding is.
	res, err := term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{URL: vs("red-flag-finding"), Codings: []snomed.Coding{
		{System: snomed.System, Code: "308447003"}, {System: snomed.System, Code: "39579001"},
	}})
	require.NoError(t, err)
	assert.True(t, res.Result)

	_, err = term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{URL: term.URL("ValueSet", "nope"), Codings: []snomed.Coding{{System: snomed.System, Code: "29857009"}}})
	assert.ErrorIs(t, err, fhir.ErrNotFound)
	_, err = term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{URL: "http://elsewhere.example/ValueSet/x", Codings: []snomed.Coding{{System: snomed.System, Code: "29857009"}}})
	assert.ErrorIs(t, err, fhir.ErrNotFound)
	_, err = term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{URL: vs("red-flag-finding"), Codings: []snomed.Coding{{Code: "29857009"}}})
	assert.ErrorIs(t, err, fhir.ErrInvalid)
}

func TestExpand(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := seededStore(t, term)
	n := func(i int) *int { return &i }
	codes := func(e *snomed.Expansion) []string {
		var out []string
		for _, c := range e.Contains {
			out = append(out, c.Code)
		}
		return out
	}

	all, err := term.Expand(ctx, st, snomed.ExpandRequest{URL: term.URL("ValueSet", "red-flag-finding")})
	require.NoError(t, err)
	assert.Equal(t, 13, all.Total)
	assert.Len(t, all.Contains, 13)

	chest, err := term.Expand(ctx, st, snomed.ExpandRequest{ID: "red-flag-finding", Filter: "chest"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"29857009", "161972006"}, codes(chest))

	two, err := term.Expand(ctx, st, snomed.ExpandRequest{ID: "red-flag-finding", Filter: "hemi"})
	require.NoError(t, err)
	assert.Equal(t, 4, two.Total)
	page, err := term.Expand(ctx, st, snomed.ExpandRequest{ID: "red-flag-finding", Filter: "hemi", Count: n(2), Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 4, page.Total)
	assert.Equal(t, codes(two)[1:3], codes(page))

	multi, err := term.Expand(ctx, st, snomed.ExpandRequest{URL: term.URL("ValueSet", "communication-need"), Filter: "brit sign"})
	require.NoError(t, err)
	assert.Subset(t, codes(multi), []string{"204331000000107", "520471000000105", "415803005", "224625007"})

	png, err := term.Expand(ctx, st, snomed.ExpandRequest{URL: term.URL("ValueSet", "patient-need-group"), Filter: "pregnancy"})
	require.NoError(t, err)
	assert.Equal(t, []string{"6", "7"}, codes(png))

	decisions, err := term.Expand(ctx, st, snomed.ExpandRequest{URL: term.URL("ValueSet", "allocation-decision"), Filter: "self"})
	require.NoError(t, err)
	assert.Subset(t, codes(decisions), []string{"self-care", "199111000000100", "1036481000000106"})

	implicit, err := term.Expand(ctx, st, snomed.ExpandRequest{URL: snomed.ImplicitSNOMED, Count: n(0)})
	require.NoError(t, err)
	assert.Equal(t, 153, implicit.Total)
	assert.Empty(t, implicit.Contains)

	res := implicit.Resource()
	b, err := fhir.Generate(res)
	require.NoError(t, err)
	r, err := fhir.ParseResource(b)
	require.NoError(t, err)
	assert.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}))
	b, _ = fhir.Generate(chest.Resource())
	r, _ = fhir.ParseResource(b)
	assert.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}), "%s", b)

	_, err = term.Expand(ctx, st, snomed.ExpandRequest{ID: "red-flag-finding", Offset: -1})
	assert.ErrorIs(t, err, fhir.ErrInvalid)
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := seededStore(t, term)
	cat := term.LocalCoding(snomed.NavigationCategory, "practice-team")
	physio := []snomed.Dependency{{Element: snomed.ServiceTypeElement, Concept: []snomed.Coding{{System: snomed.System, Code: "722140001"}}}}

	res, err := term.Translate(ctx, st, snomed.TranslateRequest{Coding: cat, Dependencies: physio})
	require.NoError(t, err)
	require.True(t, res.Result)
	first := res.Matches[0]
	assert.Equal(t, "308447003", first.Concept.Code)
	assert.Equal(t, "Referral to physiotherapist", first.Concept.Display)
	require.Len(t, first.Products, 1)
	assert.Equal(t, "309401003", first.Products[0].Coding.Code)
	assert.Equal(t, term.URL("ConceptMap", "allocation"), first.Source)
	assert.Equal(t, "practice-team-other", res.Matches[len(res.Matches)-1].Concept.Code, "the default comes last")

	// Without a dependency only the defaults match.
	res, err = term.Translate(ctx, st, snomed.TranslateRequest{URL: term.URL("ConceptMap", "allocation"), Coding: cat})
	require.NoError(t, err)
	require.Len(t, res.Matches, 1)
	assert.Equal(t, "practice-team-other", res.Matches[0].Concept.Code)

	// Reverse: explain a coded decision.
	res, err = term.Translate(ctx, st, snomed.TranslateRequest{ID: "allocation", Coding: snomed.Coding{System: snomed.System, Code: "308447003"}, Reverse: true})
	require.NoError(t, err)
	require.True(t, res.Result)
	assert.Equal(t, "practice-team", res.Matches[0].Concept.Code)
	assert.Equal(t, "wider", res.Matches[0].Equivalence)
	assert.Equal(t, "722140001", res.Matches[0].Products[0].Coding.Code)

	res, err = term.Translate(ctx, st, snomed.TranslateRequest{Coding: snomed.Coding{System: snomed.System, Code: "29857009"}})
	require.NoError(t, err)
	assert.False(t, res.Result)
	assert.Contains(t, res.Message, "no mapping")

	_, err = term.Translate(ctx, st, snomed.TranslateRequest{Coding: snomed.Coding{Code: "x"}})
	assert.ErrorIs(t, err, fhir.ErrInvalid)
	_, err = term.Translate(ctx, st, snomed.TranslateRequest{ID: "missing", Coding: cat})
	assert.ErrorIs(t, err, fhir.ErrNotFound)
}

// Every code of the shipped allocation map is in the value set of the
// element it fills.
func TestAllocationMapCodesAreInTheirValueSets(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := seededStore(t, term)
	cm, err := term.AllocationMap(ctx, st)
	require.NoError(t, err)
	in := func(vs string, c snomed.Coding) {
		res, err := term.ValidateValueSetCode(ctx, st, snomed.ValidateCodeRequest{ID: vs, Codings: []snomed.Coding{c}})
		require.NoError(t, err)
		assert.True(t, res.Result, "%s#%s in %s: %s", c.System, c.Code, vs, res.Message)
	}
	targets := 0
	for _, g := range cm.Groups {
		for _, el := range g.Elements {
			in(snomed.NavigationCategory, snomed.Coding{System: g.Source, Code: el.Code})
			for _, tg := range el.Targets {
				targets++
				in(snomed.AllocationDecisionVS, snomed.Coding{System: g.Target, Code: tg.Code, Display: tg.Display})
				for _, d := range tg.DependsOn {
					assert.Equal(t, snomed.ServiceTypeElement, d.Property)
					in(snomed.DestinationServiceTypeVS, d.Coding)
				}
				for _, p := range tg.Products {
					assert.Equal(t, snomed.PerformerTypeElement, p.Property)
					in(snomed.PerformerOccupationVS, p.Coding)
				}
			}
		}
	}
	assert.Equal(t, 23, targets)
}

func TestCheckCoding(t *testing.T) {
	ctx := context.Background()
	term := newTerminology(t)
	st := seededStore(t, term)
	outside, _ := sctidMake(4242424)
	urgency := term.URL("CodeSystem", snomed.NavigationUrgency)
	tests := []struct {
		name     string
		c        snomed.Coding
		valueSet string
		strict   bool
		severity fhir.Severity // "" means no issue
	}{
		{"loaded finding", snomed.Coding{System: snomed.System, Code: "29857009"}, "", false, ""},
		{"malformed", snomed.Coding{System: snomed.System, Code: "29857019"}, "", false, fhir.SeverityError},
		{"outside the set", snomed.Coding{System: snomed.System, Code: outside}, "", false, fhir.SeverityWarning},
		{"outside the set, strict", snomed.Coding{System: snomed.System, Code: outside}, "", true, fhir.SeverityError},
		{"wrong display", snomed.Coding{System: snomed.System, Code: "29857009", Display: "Toothache"}, "", false, fhir.SeverityWarning},
		{"local in value set", snomed.Coding{System: urgency, Code: "routine"}, term.URL("ValueSet", snomed.NavigationUrgency), false, ""},
		{"local unknown", snomed.Coding{System: urgency, Code: "whenever"}, term.URL("ValueSet", snomed.NavigationUrgency), false, fhir.SeverityError},
		{"local unknown, no value set", snomed.Coding{System: urgency, Code: "whenever"}, "", false, fhir.SeverityError},
		{"unknown local system", snomed.Coding{System: term.URL("CodeSystem", "nope"), Code: "x"}, "", false, fhir.SeverityError},
		{"other system", snomed.Coding{System: "http://loinc.org", Code: "1-8"}, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issues, err := term.CheckCoding(ctx, st, "Task.input[3].valueCodeableConcept.coding[0]", tt.c, tt.valueSet, snomed.CheckOptions{Strict: tt.strict})
			require.NoError(t, err)
			if tt.severity == "" {
				assert.Empty(t, issues)
				return
			}
			require.Len(t, issues, 1)
			assert.Equal(t, tt.severity, issues[0].Severity)
			assert.Equal(t, fhir.CodeCodeInvalid, issues[0].Code)
			assert.Equal(t, []string{"Task.input[3].valueCodeableConcept.coding[0]"}, issues[0].Expression)
			assert.NotEmpty(t, issues[0].Diagnostics)
		})
	}
}
