package mapping_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/directorytest"
	"github.com/signpost-fhir/signpost/mapping"
)

// candidates5000 are 5,000 generated services, parsed once as the
// gateway's cache holds them.
func candidates5000(tb testing.TB) []mapping.Candidate {
	tb.Helper()
	objs := directorytest.Services(dir, 5000, 1, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	out := make([]mapping.Candidate, len(objs))
	for i, o := range objs {
		// Through the codec, as stored JSON is decoded.
		b, err := fhir.EncodeJSON(o)
		require.NoError(tb, err)
		v, err := fhir.DecodeJSON(b)
		require.NoError(tb, err)
		s, issues := mapping.ParseService(v.(map[string]any), dir)
		require.Empty(tb, issues)
		out[i] = mapping.Candidate{Service: s}
	}
	return out
}

var benchQueries = map[string]mapping.MatchQuery{
	// One service type: what the navigation engine asks.
	"one-type": {AgeYears: 42, HasAge: true, Sex: "female", NeedGroup: "4", Practice: "B86001", Postcode: "LS6 3AA",
		From: wed, To: wed.Add(7 * 24 * time.Hour), ServiceTypes: []mapping.Code{{Code: "722140001"}}},
	// Every service is a candidate: the worst case.
	"all": {AgeYears: 42, HasAge: true, Sex: "female", NeedGroup: "4", Practice: "B86001", Postcode: "LS6 3AA",
		From: wed, To: wed.Add(7 * 24 * time.Hour)},
}

func BenchmarkMatch5000(b *testing.B) {
	cands := candidates5000(b)
	for name, q := range benchQueries {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				mapping.Match(cands, dir, q)
			}
		})
		// Matches only (the matching search without _explain).
		q.SkipReasons = true
		b.Run(name+"-matches-only", func(b *testing.B) {
			for b.Loop() {
				mapping.Match(cands, dir, q)
			}
		})
	}
}

// TestMatchWithoutTexts: a match that skips the reasons' texts (as the
// navigation engine asks) finds the same matches, in the same order, and
// excludes the same services for the same reason codes as one with texts,
// over 5,000 services and patients known and unknown.
func TestMatchWithoutTexts(t *testing.T) {
	cands := candidates5000(t)
	queries := map[string]mapping.MatchQuery{
		"unknown patient": {Categories: []string{"external-referral"}, From: wed, To: wed.Add(7 * 24 * time.Hour),
			ServiceTypes: []mapping.Code{{Code: "722140001"}}},
		"outside catchment": {AgeYears: 70, HasAge: true, Sex: "male", NeedGroup: "9", Practice: "Y99999", Postcode: "BD1 1AA",
			From: wed, To: wed.Add(24 * time.Hour), ReferralMethods: []string{mapping.ReferralSelf},
			Conditions: []mapping.Code{{Code: "35489007"}}},
	}
	for name, q := range benchQueries {
		queries[name] = q
	}
	for name, q := range queries {
		withTexts := mapping.Match(cands, dir, q)
		q.SkipReasons = true
		codes := mapping.Match(cands, dir, q)
		require.NotEmpty(t, withTexts.Excluded, name)
		require.Equal(t, len(withTexts.Matches), len(codes.Matches), name)
		for i := range withTexts.Matches {
			require.Equal(t, withTexts.Matches[i].Service.ID, codes.Matches[i].Service.ID, name)
		}
		require.Equal(t, len(withTexts.Excluded), len(codes.Excluded), name)
		for i, e := range withTexts.Excluded {
			c := codes.Excluded[i]
			require.Equal(t, e.Service.ID, c.Service.ID, name)
			require.Equal(t, len(e.Reasons), len(c.Reasons), "%s: %s", name, e.Service.ID)
			for j, r := range e.Reasons {
				require.NotEmpty(t, r.Text, name)
				require.Equal(t, r.Code, c.Reasons[j].Code, name)
				require.Empty(t, c.Reasons[j].Text, name)
			}
		}
	}
}
