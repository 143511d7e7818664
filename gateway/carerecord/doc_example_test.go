package carerecord_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/mapping"
)

// docs/care-record.md's worked example is true: its ConceptMap, stored in
// the gateway and named by canonical URL|version, maps the example
// searchset's segment to need group 11.
func TestCareRecordDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/care-record.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	require.Len(t, blocks, 2, "the ConceptMap and the searchset")
	cmJSON, bundleJSON := blocks[0][1], blocks[1][1]
	cm, err := fhir.ParseResource(cmJSON)
	require.NoError(t, err)
	require.NoError(t, cm.Validate(fhir.ValidateOptions{Strict: true}))
	bundle, err := fhir.ParseResource(bundleJSON)
	require.NoError(t, err)
	require.NoError(t, bundle.Validate(fhir.ValidateOptions{Strict: true}))

	e := newEnv(t)
	// (newEnv's own map has the same id: the document's replaces it.)
	_, err = e.st.Update(context.Background(), cm, store.Precondition{})
	require.NoError(t, err)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fhir/Observation" || r.URL.Query().Get("subject:identifier") != mapping.NHSNumberSystem+"|9990010072" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write(bundleJSON)
	}))
	t.Cleanup(rec.Close)
	url, _ := cm.Object()["url"].(string)
	version, _ := cm.Object()["version"].(string)
	c, err := carerecord.New(carerecord.Config{BaseURL: rec.URL + "/fhir", ConceptMap: url + "|" + version}, e.st, e.term)
	require.NoError(t, err)
	require.NoError(t, c.CheckConceptMap(context.Background()))
	ng, err := c.NeedGroup(context.Background(), mapping.PatientRef{Reference: "Patient/demo-patient-frail", NHSNumber: "9990010072"}, practice)
	require.NoError(t, err)
	assert.Equal(t, "11", ng.Code)
}
