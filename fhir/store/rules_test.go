package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// TestStampNext: an update whose content is the current version's is
// Unchanged, whatever the version number's length; a change is a new
// version, whether or not it changes the encoding's length (a change of
// the same length is found by the byte comparison, not the length); a
// deleted current version is always followed by a new one.
func TestStampNext(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	stored := func(t *testing.T, body string, version int64) store.Version {
		t.Helper()
		r, err := fhir.ParseResource([]byte(body))
		require.NoError(t, err)
		b, err := store.Stamp(r, version, at)
		require.NoError(t, err)
		return store.Version{Type: "Task", ID: "t1", VersionID: version, LastUpdated: at, Method: store.MethodUpdate, Body: b}
	}
	next := func(t *testing.T, body string, cur store.Version) (store.WriteResult, *fhir.Resource) {
		t.Helper()
		r, err := fhir.ParseResource([]byte(body))
		require.NoError(t, err)
		res, err := store.StampNext(r, cur)
		require.NoError(t, err)
		return res, r
	}
	const ready = `{"resourceType":"Task","id":"t1","status":"ready","intent":"order"}`
	for _, version := range []int64{1, 9, 99, 1234} {
		cur := stored(t, ready, version)

		res, r := next(t, ready, cur)
		assert.True(t, res.Unchanged, "version %d: same content", version)
		assert.Equal(t, cur, res.Version)
		assert.Equal(t, "t1", r.ID())

		// "ready" and "draft" are as long as each other.
		res, r = next(t, `{"resourceType":"Task","id":"t1","status":"draft","intent":"order"}`, cur)
		assert.False(t, res.Unchanged, "version %d: same length, other content", version)
		assert.Equal(t, version+1, res.Version.VersionID)
		assert.True(t, res.Version.LastUpdated.After(cur.LastUpdated))
		again, err := r.MarshalJSON()
		require.NoError(t, err)
		assert.Equal(t, again, res.Version.Body, "r is left stamped as the new version")
		assert.Contains(t, string(res.Version.Body), `"status":"draft"`)

		res, _ = next(t, `{"resourceType":"Task","id":"t1","status":"in-progress","intent":"order"}`, cur)
		assert.False(t, res.Unchanged, "version %d: longer content", version)
		assert.Equal(t, store.Version{Type: "Task", ID: "t1", VersionID: version + 1, LastUpdated: res.Version.LastUpdated,
			Method: store.MethodUpdate, Body: res.Version.Body}, res.Version)

		gone := store.Version{Type: "Task", ID: "t1", VersionID: version, LastUpdated: at, Method: store.MethodDelete, Deleted: true}
		res, _ = next(t, ready, gone)
		assert.False(t, res.Unchanged, "version %d: after a deletion", version)
		assert.Equal(t, version+1, res.Version.VersionID)
	}
}
