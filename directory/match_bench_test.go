package directory

import (
	"fmt"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/directorytest"
	"github.com/signpost-fhir/signpost/mapping"
)

// BenchmarkMatchAnswer5000 is the in-process cost of a $match answer over
// 5,000 services, every type (the largest answer: every excluded
// candidate with its reasons), without HTTP: matching and rendering.
func BenchmarkMatchAnswer5000(b *testing.B) {
	d := mapping.NewDirectory("")
	var versions []store.Version
	for i, obj := range directorytest.Services(d, 5000, 1, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) {
		obj["id"] = fmt.Sprintf("s%05d", i)
		body, err := fhir.EncodeJSON(obj)
		if err != nil {
			b.Fatal(err)
		}
		versions = append(versions, store.Version{Type: "HealthcareService", ID: obj["id"].(string), VersionID: 1, Body: body})
	}
	snap, err := Decode(d, versions)
	if err != nil {
		b.Fatal(err)
	}
	wed := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	q := mapping.MatchQuery{AgeYears: 42, HasAge: true, Sex: "female", NeedGroup: "4", Practice: "B86001", Postcode: "LS6 3AA", From: wed, To: wed.Add(7 * 24 * time.Hour)}
	b.Run("match", func(b *testing.B) {
		for b.Loop() {
			mapping.Match(snap.All(), d, q)
		}
	})
	res := mapping.Match(snap.All(), d, q)
	b.Run("render", func(b *testing.B) {
		for b.Loop() {
			if _, err := MatchBundle("http://x/fhir", d, snap, res, matchCount); err != nil {
				b.Fatal(err)
			}
		}
	})
}
