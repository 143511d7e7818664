package interaction_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// TestUnmodified: If-None-Match by weak comparison, else
// If-Modified-Since in any of HTTP's date formats, to the second.
func TestUnmodified(t *testing.T) {
	t.Parallel()
	updated := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	v := store.Version{VersionID: 3, LastUpdated: updated}
	for _, tc := range []struct {
		ifNoneMatch, ifModifiedSince string
		want                         bool
	}{
		{`W/"3"`, "", true},
		{`"3"`, "", true},
		{`W/"2", W/"3"`, "", true},
		{"*", "", true},
		{`W/"2"`, "", false},
		{`W/"2"`, updated.Format(http.TimeFormat), false},
		{"", updated.Format(http.TimeFormat), true},
		{"", updated.Add(-time.Second).Format(http.TimeFormat), false},
		{"", "Sunday, 01-Mar-26 12:00:00 GMT", true},
		{"", "Sun Mar  1 12:00:00 2026", true},
		{"", "not a date", false},
		{"", "", false},
	} {
		assert.Equal(t, tc.want, interaction.Unmodified(v, tc.ifNoneMatch, tc.ifModifiedSince), "%q %q", tc.ifNoneMatch, tc.ifModifiedSince)
	}
}

// TestReadAnswer: a conditional read the client holds is not modified,
// whatever it asks; otherwise the subset it asks for, with the
// SUBSETTED tag, or the stored bytes.
func TestReadAnswer(t *testing.T) {
	t.Parallel()
	body := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"2"},"gender":"female","birthDate":"1970-01-01","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">p</div>"}}`)
	v := store.Version{Type: "Patient", ID: "p1", VersionID: 2, Body: body}

	res, err := interaction.ReadAnswer(v, map[string][]string{"_summary": {"count"}}, `W/"2"`, "")
	require.NoError(t, err)
	assert.Equal(t, interaction.NotModified, res.Outcome)

	res, err = interaction.ReadAnswer(v, nil, "", "")
	require.NoError(t, err)
	assert.Equal(t, interaction.Done, res.Outcome)
	assert.Equal(t, body, res.Body)

	res, err = interaction.ReadAnswer(v, map[string][]string{"_elements": {"gender, text"}}, "", "")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(res.Body, &got))
	assert.Equal(t, "female", got["gender"])
	assert.NotContains(t, got, "birthDate")
	assert.Contains(t, string(res.Body), "SUBSETTED")

	for _, query := range []map[string][]string{
		{"_summary": {"count"}},
		{"_summary": {"true"}, "_elements": {"gender"}},
	} {
		_, err := interaction.ReadAnswer(v, query, "", "")
		var fe *fhir.Error
		require.ErrorAs(t, err, &fe, "%v", query)
		assert.Equal(t, http.StatusBadRequest, fhir.HTTPStatus(fe), "%v", query)
	}
}

// TestIfNoneMatchWrite: an update under If-None-Match fails
// (precondition-failed) when the resource exists as a listed version,
// or at all with *.
func TestIfNoneMatchWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t)
	check := func(header string) error {
		return st.Transaction(ctx, func(tx store.Tx) error {
			return interaction.IfNoneMatchWrite(ctx, tx, "Patient", "p1", header)
		})
	}
	require.NoError(t, check("*"), "nothing there yet")
	p, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","id":"p1"}`))
	require.NoError(t, err)
	_, err = st.Update(ctx, p, store.Precondition{})
	require.NoError(t, err)
	require.NoError(t, check(`W/"2"`))
	for _, header := range []string{"*", `W/"1"`} {
		err := check(header)
		var fe *fhir.Error
		require.ErrorAs(t, err, &fe, header)
		assert.Equal(t, http.StatusPreconditionFailed, fhir.HTTPStatus(fe), header)
	}
}
