package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shared care record's settings: absent by default, secrets from the
// environment or a file, and mistakes caught at start-up.
func TestCareRecordConfiguration(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(env map[string]string) (config, error) {
		return loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	}
	c, err := load(nil)
	if err != nil || c.CareRecord.URL != "" {
		t.Fatalf("default: %+v, %v", c.CareRecord, err)
	}
	c, err = load(map[string]string{"SIGNPOST_CARE_RECORD_URL": "https://record.example/fhir/",
		"SIGNPOST_CARE_RECORD_TOKEN_URL": "https://idp.example/token", "SIGNPOST_CARE_RECORD_CLIENT_ID": "signpost",
		"SIGNPOST_CARE_RECORD_CLIENT_SECRET_FILE": secretFile, "SIGNPOST_CARE_RECORD_CONCEPTMAP": "care-record-need-groups",
		"SIGNPOST_NEED_GROUP_MAX_AGE": "12h", "SIGNPOST_CARE_RECORD_TIMEOUT": "800ms"})
	if err != nil {
		t.Fatal(err)
	}
	cr := c.CareRecord
	if cr.URL != "https://record.example/fhir" || cr.ClientSecret != "s3cret" || cr.MaxAge != 12*time.Hour || cr.Timeout != 800*time.Millisecond {
		t.Errorf("loaded %+v", cr)
	}
	base := map[string]string{"SIGNPOST_CARE_RECORD_URL": "https://record.example/fhir", "SIGNPOST_CARE_RECORD_CONCEPTMAP": "m"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		says string
	}{
		{"no ConceptMap", map[string]string{"SIGNPOST_CARE_RECORD_URL": "https://record.example/fhir"}, "SIGNPOST_CARE_RECORD_CONCEPTMAP"},
		{"not a URL", map[string]string{"SIGNPOST_CARE_RECORD_URL": "record", "SIGNPOST_CARE_RECORD_CONCEPTMAP": "m"}, "SIGNPOST_CARE_RECORD_URL"},
		{"both auths", map[string]string{"SIGNPOST_CARE_RECORD_TOKEN": "t", "SIGNPOST_CARE_RECORD_TOKEN_URL": "https://idp.example/token"}, "not both"},
		{"no client", map[string]string{"SIGNPOST_CARE_RECORD_TOKEN_URL": "https://idp.example/token"}, "CLIENT_ID"},
		{"no placeholder", map[string]string{"SIGNPOST_CARE_RECORD_QUERY": "Observation?code=x"}, "{nhs}"},
		{"bad max age", map[string]string{"SIGNPOST_NEED_GROUP_MAX_AGE": "soon"}, "SIGNPOST_NEED_GROUP_MAX_AGE"},
		{"bad timeout", map[string]string{"SIGNPOST_CARE_RECORD_TIMEOUT": "0s"}, "SIGNPOST_CARE_RECORD_TIMEOUT"},
		{"token and file", map[string]string{"SIGNPOST_CARE_RECORD_TOKEN": "t", "SIGNPOST_CARE_RECORD_TOKEN_FILE": secretFile}, "not both"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		if tc.name == "no ConceptMap" || tc.name == "not a URL" {
			env = tc.env
		}
		_, err := load(env)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.says)
		}
	}
}
