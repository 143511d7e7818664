package carerecord_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/internal/pgtest"
	"github.com/signpost-fhir/signpost/snomed"
)

// recordMapURL is the canonical URL the record's publisher gave its map:
// not under the gateway's canonical base, and not ending in the id the
// gateway stored it under (as after a POST).
const recordMapURL = "https://record.example/fhir/ConceptMap/segments-to-need-groups"

// onStores runs fn with an environment over each real store: the
// ConceptMap lookup by canonical URL is a search of the store.
func onStores(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, sc := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"sqlite", func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithBaseURL(base))
			require.NoError(t, err)
			return st
		}},
		{"postgres", func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.WithBaseURL(base))
			require.NoError(t, err)
			return st
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			t.Cleanup(func() { st.Close() })
			cs, err := snomed.Shipped()
			require.NoError(t, err)
			term, err := snomed.New(cs, snomed.Options{})
			require.NoError(t, err)
			_, err = term.Seed(context.Background(), st)
			require.NoError(t, err)
			fn(t, &env{st: st, term: term, rec: newRecord(t), clock: &clock{now: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)}})
		})
	}
}

// storeMap stores a ConceptMap from the record's segments to need groups
// (H to 11) under id, with url and version.
func storeMap(t *testing.T, e *env, id, url, version string, target string) {
	t.Helper()
	if target == "" {
		target = e.term.URL("CodeSystem", snomed.PatientNeedGroup)
	}
	cm, err := fhir.ResourceFromObject(map[string]any{"resourceType": "ConceptMap", "id": id, "url": url, "version": version,
		"status": "active", "group": []any{map[string]any{"source": segSystem, "target": target, "element": []any{
			map[string]any{"code": "H", "target": []any{map[string]any{"code": "11", "equivalence": "equivalent"}}},
		}}}})
	require.NoError(t, err)
	_, err = e.st.Update(context.Background(), cm, store.Precondition{})
	require.NoError(t, err)
}

// A ConceptMap stored under any id is found by its canonical URL (and
// url|version), checked at start, and used for the need group; one not
// stored yet is ErrNoConceptMap, found as soon as it is stored.
func TestConceptMapByCanonicalURL(t *testing.T) {
	onStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = recordMapURL })
		assert.ErrorIs(t, c.CheckConceptMap(ctx), carerecord.ErrNoConceptMap, "not stored yet")
		_, err := c.NeedGroup(ctx, patient, practice)
		assert.ErrorIs(t, err, carerecord.ErrNoConceptMap)

		storeMap(t, e, "0b7c2f3e-5d0e-4c55-9d7a-1f2f4f3e2a10", recordMapURL, "2", "")
		require.NoError(t, c.CheckConceptMap(ctx))
		ng, err := c.NeedGroup(ctx, patient, practice)
		require.NoError(t, err)
		assert.Equal(t, "11", ng.Code, "H maps to 11 through the ConceptMap found by its URL")

		for _, ref := range []string{recordMapURL + "|2", "0b7c2f3e-5d0e-4c55-9d7a-1f2f4f3e2a10"} {
			c := e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = ref })
			assert.NoError(t, c.CheckConceptMap(ctx), ref)
		}
		c3 := e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = recordMapURL + "|3" })
		assert.ErrorIs(t, c3.CheckConceptMap(ctx), carerecord.ErrNoConceptMap, "no version 3")

		// Two stored under the same URL: ambiguous, unless the version
		// tells them apart.
		storeMap(t, e, "second-copy", recordMapURL, "3", "")
		assert.ErrorIs(t, c.CheckConceptMap(ctx), carerecord.ErrBadConceptMap)
		assert.NoError(t, c3.CheckConceptMap(ctx))
	})
}

// A ConceptMap that maps to something else than the need groups, or an id
// that is not stored, is caught by the start-up check.
func TestConceptMapCheck(t *testing.T) {
	onStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		storeMap(t, e, "elsewhere", "https://record.example/fhir/ConceptMap/elsewhere", "", "https://record.example/CodeSystem/other")
		c := e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = "elsewhere" })
		err := c.CheckConceptMap(ctx)
		assert.ErrorIs(t, err, carerecord.ErrBadConceptMap)
		assert.ErrorContains(t, err, "maps nothing to a need group")
		c = e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = "not-stored" })
		assert.ErrorIs(t, c.CheckConceptMap(ctx), carerecord.ErrNoConceptMap)
		_, err = e.st.Delete(ctx, "ConceptMap", "elsewhere", store.Precondition{})
		require.NoError(t, err)
		c = e.client(t, func(cfg *carerecord.Config) { cfg.ConceptMap = "https://record.example/fhir/ConceptMap/elsewhere" })
		assert.ErrorIs(t, c.CheckConceptMap(ctx), carerecord.ErrNoConceptMap, "deleted")
	})
}
