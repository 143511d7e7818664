package snomed_test

import (
	"context"
	"encoding/csv"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
	"github.com/signpost-fhir/signpost/snomed/internal/shipped"
	"github.com/signpost-fhir/signpost/snomed/sctid"
)

const (
	verifiedCSV   = "../testdata/snomed/verified-codes.csv"
	unverifiedCSV = "../testdata/snomed/unverified-codes.csv"
)

// csvIDs reads the sctid column of one of the shared lists.
func csvIDs(t testing.TB, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err, "the verified SNOMED CT lists are in testdata/snomed")
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, r := range rows[1:] {
		ids[r[0]] = true
	}
	return ids
}

func newTerminology(t testing.TB) *snomed.Terminology {
	t.Helper()
	cs, err := snomed.Shipped()
	require.NoError(t, err)
	term, err := snomed.New(cs, snomed.Options{})
	require.NoError(t, err)
	return term
}

// The embedded file is what `go generate` makes from the shared list today.
func TestShippedFileIsUpToDate(t *testing.T) {
	data, err := os.ReadFile(verifiedCSV)
	require.NoError(t, err)
	cs, err := snomed.Shipped()
	require.NoError(t, err)
	want, err := shipped.Generate(data, cs.Edition().Date)
	require.NoError(t, err)
	got, err := os.ReadFile("data/concepts.tsv")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go generate ./snomed/...")
}

func TestShippedSet(t *testing.T) {
	cs, err := snomed.Shipped()
	require.NoError(t, err)
	ids := csvIDs(t, verifiedCSV)
	assert.Equal(t, len(ids), cs.Len())
	for id := range ids {
		c, ok := cs.Get(id)
		require.True(t, ok, id)
		assert.True(t, c.Active)
		assert.NotEmpty(t, c.Preferred, id)
		assert.NotEmpty(t, c.Source, id)
		assert.NotEmpty(t, c.Category, id)
	}
	ed := cs.Edition()
	assert.Equal(t, "2026-11-21", ed.Date)
	assert.Contains(t, ed.Source, "verified-codes.csv")
	assert.Contains(t, ed.Source, "sha256")

	c, _ := cs.Get("308447003")
	assert.Equal(t, "Referral to physiotherapist (procedure)", c.FSN)
	assert.Equal(t, "Referral to physiotherapist", c.Preferred)
	assert.Equal(t, "procedure", c.SemanticTag())
	c, _ = cs.Get("1036481000000106") // a parenthesis that is not a semantic tag
	assert.Equal(t, "", c.FSN)
	assert.Equal(t, "Self-referral to IAPT (Improving Access to Psychological Therapies) programme", c.Preferred)

	for id := range csvIDs(t, unverifiedCSV) {
		_, ok := cs.Get(id)
		assert.False(t, ok, "unverified %s must not ship", id)
	}
}

// Every SNOMED CT code Signpost ships in a value set or the concept map is
// in the verified list: no SCTID is invented.
func TestShippedCodesAreVerified(t *testing.T) {
	ids := csvIDs(t, verifiedCSV)
	unverified := csvIDs(t, unverifiedCSV)
	term := newTerminology(t)
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	seen := 0
	for _, r := range rs {
		walkCodings(r.Object(), func(system, code string) {
			if system != snomed.System {
				return
			}
			seen++
			assert.True(t, ids[code], "%s/%s uses %s, which is not in verified-codes.csv", r.Type(), r.ID(), code)
			assert.False(t, unverified[code], "%s/%s uses unverified %s", r.Type(), r.ID(), code)
		})
	}
	assert.Greater(t, seen, 100)
	assert.Empty(t, term.MissingCodes())
}

// walkCodings finds every (system, code) pair of value set composes and
// concept map groups.
func walkCodings(obj map[string]any, fn func(system, code string)) {
	if compose, ok := obj["compose"].(map[string]any); ok {
		for _, inc := range compose["include"].([]any) {
			m := inc.(map[string]any)
			for _, c := range fhir.List(m["concept"]) {
				fn(m["system"].(string), c.(map[string]any)["code"].(string))
			}
		}
	}
	for _, g := range fhir.List(obj["group"]) {
		gm := g.(map[string]any)
		for _, e := range fhir.List(gm["element"]) {
			em := e.(map[string]any)
			fn(gm["source"].(string), em["code"].(string))
			for _, tg := range fhir.List(em["target"]) {
				tm := tg.(map[string]any)
				fn(gm["target"].(string), tm["code"].(string))
				for _, a := range append(fhir.List(tm["dependsOn"]), fhir.List(tm["product"])...) {
					am := a.(map[string]any)
					fn(am["system"].(string), am["value"].(string))
				}
			}
		}
	}
}

func TestShippedResourcesAreValidR4(t *testing.T) {
	term := newTerminology(t)
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	assert.Len(t, rs, 11+11+7+1)
	ids := map[string]bool{}
	for _, r := range rs {
		key := r.Type() + "/" + r.ID()
		assert.False(t, ids[key], "duplicate %s", key)
		ids[key] = true
		assert.Empty(t, fhir.Validate(r, fhir.ValidateOptions{Strict: true}), key)
		assert.NoError(t, r.Validate(fhir.ValidateOptions{Strict: true}), key)
		assert.Equal(t, snomed.DefaultBase+"/"+key, r.Object()["url"])
	}
	// The canonical base is configurable.
	cs, _ := snomed.Shipped()
	other, err := snomed.New(cs, snomed.Options{Base: "https://nav.practice.nhs.example/fhir/"})
	require.NoError(t, err)
	rs, err = other.ShippedResources()
	require.NoError(t, err)
	b, err := rs[0].MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"url":"https://nav.practice.nhs.example/fhir/CodeSystem/`)
	assert.NotContains(t, string(b), "signpost.example")
	_, err = snomed.New(cs, snomed.Options{Base: "not a url"})
	assert.Error(t, err)
}

// The local code systems hold exactly the fixed codes of NAVIGATION-API.md.
func TestLocalCodeSystemsMatchTheContract(t *testing.T) {
	want := map[string]string{
		"navigation-task":     "navigate clinician-review",
		"navigation-input":    "contact-route request-type admin-kind informant problem symptom duration asked-before trend tried seen-elsewhere ice preferred-mode preferred-practitioner unavailable communication-need contact-phone sms-consent patient-urgency escalating-concern automated-decision-consent share-consent",
		"navigation-output":   "allocation decision urgency category rule protocol-version automated safety-netting rationale",
		"navigation-urgency":  "emergency same-day within-week routine",
		"navigation-category": "emergency clinician practice-team external-referral signpost self-care administrative",
		"navigation-status":   "captured awaiting-information escalated proposed allocated declined review-requested closed referral-accepted referral-cancelled",
		"patient-need-group":  "1 2 3 4 5 6 7 8 9 10 11",
		"navigator-tier":      "essential enhanced expert",
		"contact-route":       "phone online walk-in referral",
		"navigation-decision": "signposting signposting-nhs-111 self-care emergency-services practice-team-other referral-other administrative-request",
		"navigation-role":     "social-prescribing-link-worker care-navigator care-coordinator",
	}
	term := newTerminology(t)
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	found := 0
	for _, r := range rs {
		if r.Type() != "CodeSystem" {
			continue
		}
		found++
		var codes []string
		for _, c := range r.Object()["concept"].([]any) {
			codes = append(codes, c.(map[string]any)["code"].(string))
		}
		assert.Equal(t, want[r.ID()], strings.Join(codes, " "), r.ID())
	}
	assert.Equal(t, len(want), found)

	png := map[string][2]string{
		"1": {"Non-user", "low"}, "2": {"Low need child", "low"}, "3": {"Low need adult", "low"},
		"4": {"Multi-morbidity, low complexity", "low"}, "5": {"Multi-morbidity, medium complexity", "moderate"},
		"6": {"Pregnancy, low complexity", "moderate"}, "7": {"Pregnancy, high complexity", "moderate"},
		"8": {"Dominant psychiatric or behavioural condition", "moderate"}, "9": {"Dominant major chronic condition", "moderate"},
		"10": {"Multi-morbidity, high complexity", "high"}, "11": {"Frailty", "high"},
	}
	ctx := context.Background()
	src := seededStore(t, term)
	for code, w := range png {
		res, err := term.Lookup(ctx, src, snomed.LookupRequest{System: term.URL("CodeSystem", "patient-need-group"), Code: code})
		require.NoError(t, err)
		assert.Equal(t, w[0], res.Display)
		assert.Contains(t, res.Properties, snomed.Property{Code: "level", Type: "Code", Value: w[1]})
	}
}

// $validate-code answers true for every shipped id and false for every
// single-digit change and adjacent transposition of one.
func TestValidateCodeShippedAndCorrupted(t *testing.T) {
	term := newTerminology(t)
	ctx := context.Background()
	ids := csvIDs(t, verifiedCSV)
	variants := 0
	for id := range ids {
		res, err := term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{System: snomed.System, Code: id}}})
		require.NoError(t, err)
		assert.True(t, res.Result, "%s: %s", id, res.Message)
		assert.NotEmpty(t, res.Display)
		for _, v := range sctid.Corruptions(id) {
			if ids[v] {
				continue // cannot happen (Verhoeff), but would not be a corruption
			}
			variants++
			res, err := term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: v}}})
			require.NoError(t, err)
			require.False(t, res.Result, "%s (from %s) validated", v, id)
			assert.NotEmpty(t, res.Message)
		}
	}
	assert.Greater(t, variants, 15000)
}

func TestLookupAndValidateSNOMED(t *testing.T) {
	term := newTerminology(t)
	ctx := context.Background()
	res, err := term.Lookup(ctx, nil, snomed.LookupRequest{System: snomed.System, Code: "308447003"})
	require.NoError(t, err)
	assert.Equal(t, "SNOMED CT", res.Name)
	assert.Equal(t, "Referral to physiotherapist", res.Display)
	assert.Equal(t, "Referral to physiotherapist (procedure)", res.Designations[0].Value)
	assert.Equal(t, "900000000000003001", res.Designations[0].Use.Code)
	assert.Contains(t, res.Properties, snomed.Property{Code: "inactive", Type: "Boolean", Value: false})
	assert.Contains(t, res.Properties, snomed.Property{Code: "semanticTag", Type: "String", Value: "procedure"})

	for _, tt := range []struct {
		code, display string
		ok            bool
		msg           string
	}{
		{"308447003", "", true, ""},
		{"308447003", "referral to  PHYSIOTHERAPIST", true, ""},
		{"308447003", "Referral to physiotherapist (procedure)", true, ""},
		{"308447003", "Referral to dentist", false, "preferred term"},
		{"308447013", "", false, "check digit"},
		{"308447", "", false, "check digit"},
		{"1234567011", "", false, ""}, // malformed or a description: either way not a concept
	} {
		res, err := term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: tt.code, Display: tt.display}}})
		require.NoError(t, err)
		assert.Equal(t, tt.ok, res.Result, "%s %q: %s", tt.code, tt.display, res.Message)
		assert.Contains(t, res.Message, tt.msg)
	}
	// A well-formed description id is not a concept.
	desc, _ := sctid.Make(1234, "", sctid.Description)
	v, err := term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: desc}}})
	require.NoError(t, err)
	assert.False(t, v.Result)
	assert.Contains(t, v.Message, "description id")
	// A well-formed concept id outside the loaded set.
	other, _ := sctid.Make(4242424, "", sctid.Concept)
	v, err = term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: other}}})
	require.NoError(t, err)
	assert.False(t, v.Result)
	assert.Contains(t, v.Message, "not in the loaded set")

	_, err = term.Lookup(ctx, nil, snomed.LookupRequest{System: snomed.System, Code: other})
	assert.ErrorIs(t, err, fhir.ErrNotFound)
	_, err = term.Lookup(ctx, nil, snomed.LookupRequest{System: snomed.System})
	assert.ErrorIs(t, err, fhir.ErrInvalid)
}

// docs/terminology.md documents every local code as shipped.
func TestDocsListEveryLocalCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/terminology.md")
	require.NoError(t, err)
	term := newTerminology(t)
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	for _, r := range rs {
		if r.Type() != "CodeSystem" {
			continue
		}
		sections := strings.SplitAfter(string(doc), "#### `"+r.ID()+"`")
		require.Len(t, sections, 2, "docs/terminology.md has no section for %s", r.ID())
		section, _, _ := strings.Cut(sections[1], "####")
		for _, c := range r.Object()["concept"].([]any) {
			cm := c.(map[string]any)
			assert.Contains(t, section, "| `"+cm["code"].(string)+"` | "+cm["display"].(string)+" |", "%s#%s", r.ID(), cm["code"])
		}
	}
}
