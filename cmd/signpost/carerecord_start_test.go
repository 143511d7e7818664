package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGNPOST_CARE_RECORD_CONCEPTMAP is checked at start: a value that
// cannot name a ConceptMap is a one-line usage error; one not stored yet
// is a single warning (it can only be stored through the running
// gateway), and once stored, by any id, its canonical URL finds it; one
// that maps nothing to a need group stops start-up with a one-line
// error naming the variable.
func TestCareRecordConceptMapIsCheckedAtStart(t *testing.T) {
	const mapURL = "https://record.example/fhir/ConceptMap/segments"
	var stderr bytes.Buffer
	env := securityEnv(map[string]string{"SIGNPOST_DATA": t.TempDir(), "SIGNPOST_CARE_RECORD_URL": "https://record.example/fhir",
		"SIGNPOST_CARE_RECORD_CONCEPTMAP": "not an id"})
	code := run(context.Background(), []string{"-addr", "127.0.0.1:0"}, env, &bytes.Buffer{}, &stderr)
	assert.Equal(t, 2, code)
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "%s", stderr.String())
	assert.Contains(t, stderr.String(), "SIGNPOST_CARE_RECORD_CONCEPTMAP")

	data := t.TempDir()
	cfg := map[string]string{"SIGNPOST_DATA": data, "SIGNPOST_DEMO_HISTORY": "off",
		"SIGNPOST_CARE_RECORD_URL": "https://record.example/fhir", "SIGNPOST_CARE_RECORD_CONCEPTMAP": mapURL}
	g := startDevGateway(t, cfg)
	assert.Equal(t, 1, strings.Count(g.log.String(), "SIGNPOST_CARE_RECORD_CONCEPTMAP names a ConceptMap not stored"), "one warning:\n%s", g.log.String())
	// Stored with an id of the gateway's choosing (POST).
	png := "https://signpost.example/fhir/CodeSystem/patient-need-group"
	status, _, body := g.call("POST", "/fhir/ConceptMap", `{"resourceType":"ConceptMap","url":"`+mapURL+`","status":"active",
		"group":[{"source":"https://record.example/CodeSystem/segment","target":"`+png+`","element":[{"code":"H","target":[{"code":"11","equivalence":"equivalent"}]}]}]}`)
	require.Equal(t, http.StatusCreated, status, body)
	status, _, body = g.call("POST", "/fhir/ConceptMap", `{"resourceType":"ConceptMap","id":"x","url":"https://record.example/fhir/ConceptMap/other","status":"active",
		"group":[{"source":"https://record.example/CodeSystem/segment","target":"https://record.example/CodeSystem/other","element":[{"code":"H","target":[{"code":"1","equivalence":"equivalent"}]}]}]}`)
	require.Equal(t, http.StatusCreated, status, body)
	g.stop()

	g = startDevGateway(t, cfg)
	assert.NotContains(t, g.log.String(), "not stored", "found by its canonical URL")
	g.stop()

	cfg["SIGNPOST_CARE_RECORD_CONCEPTMAP"] = "https://record.example/fhir/ConceptMap/other"
	stderr.Reset()
	t.Chdir(repoRoot)
	code = run(context.Background(), []string{"-addr", "127.0.0.1:0"}, securityEnv(cfg), &bytes.Buffer{}, &stderr)
	assert.Equal(t, 2, code)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "signpost: invalid configuration: SIGNPOST_CARE_RECORD_CONCEPTMAP"), "%s", last)
	assert.Contains(t, last, "maps nothing to a need group")
}
