package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "url")
	if err := os.WriteFile(file, []byte(" postgres://from-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name, flag string
		env        map[string]string
		want       string
		usage      bool
	}{
		{"flag wins", "postgres://flag", map[string]string{"DATABASE_URL": "postgres://env"}, "postgres://flag", false},
		{"variable", "", map[string]string{"DATABASE_URL": "postgres://env"}, "postgres://env", false},
		{"file, trimmed", "", map[string]string{"DATABASE_URL_FILE": file}, "postgres://from-file", false},
		{"neither", "", nil, "", false},
		{"both", "", map[string]string{"DATABASE_URL": "x", "DATABASE_URL_FILE": file}, "", true},
		{"missing file", "", map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "nope")}, "", true},
	}
	for _, c := range cases {
		got, err := Secret(c.flag, "DATABASE_URL", env(c.env))
		if c.usage {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("%s: error %v, want a usage error", c.name, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestChildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "DATABASE_URL=postgres://old", "DATABASE_URL_FILE=/run/secret", "SIGNPOST_ADDR=:80", "SIGNPOST_DATA=/old", "SIGNPOST_LOG_LEVEL=warn"}
	got := ChildEnv(base, "postgres://new", "")
	want := []string{"PATH=/bin", "SIGNPOST_LOG_LEVEL=warn", "DATABASE_URL=postgres://new"}
	if !slices.Equal(got, want) {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	got = ChildEnv(base, "", "/tmp/d")
	want = []string{"PATH=/bin", "SIGNPOST_LOG_LEVEL=warn", "SIGNPOST_DATA=/tmp/d"}
	if !slices.Equal(got, want) {
		t.Errorf("sqlite: %q, want %q", got, want)
	}
}
