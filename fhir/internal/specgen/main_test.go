package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/fhir/internal/specfile"
)

// corePackage is where go:generate reads from: /work/shared sits beside the
// repository root.
var corePackage = filepath.Join("..", "..", "..", "testdata", "fhir", "r4-core-4.0.1")

const committed = "../../spec/r4.json.gz"

// TestCommittedSpecIsCurrent regenerates the spec twice into temporary files:
// both runs must give the same bytes, and the content must equal the
// committed spec/r4.json.gz. Contents are compared decompressed so that a Go
// release that changes compress/flate's output does not fail this test; it
// only logs that the committed bytes would change on regeneration.
func TestCommittedSpecIsCurrent(t *testing.T) {
	if _, err := os.Stat(filepath.Join(corePackage, "package.json")); err != nil {
		t.Skipf("the R4 core package is not in testdata/fhir: %v", err)
	}
	dir := t.TempDir()
	var runs [2][]byte
	for i := range runs {
		out := filepath.Join(dir, "r4.json.gz")
		if err := run([]string{"-src", corePackage, "-out", out}, io.Discard); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = b
	}
	if !bytes.Equal(runs[0], runs[1]) {
		t.Fatal("two runs over the same package wrote different bytes")
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(runs[0], want) {
		return
	}
	if !bytes.Equal(gunzip(t, runs[0]), gunzip(t, want)) {
		t.Fatal("spec/r4.json.gz is stale: run `go generate ./fhir` and commit the result")
	}
	t.Log("same content, different compression (another Go release?): regenerating would rewrite the file")
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCommittedSpecContent(t *testing.T) {
	raw, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 512<<10 {
		t.Errorf("spec/r4.json.gz is %d bytes; it is embedded in every binary, keep it small", len(raw))
	}
	var f specfile.File
	if err := json.Unmarshal(gunzip(t, raw), &f); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(f.Types, func(a, b specfile.Type) int { return cmpString(a.Name, b.Name) }) {
		t.Error("types are not sorted")
	}
	if !slices.IsSortedFunc(f.ValueSets, func(a, b specfile.ValueSet) int { return cmpString(a.URL, b.URL) }) {
		t.Error("value sets are not sorted")
	}
	for _, vs := range f.ValueSets {
		for _, sc := range vs.Systems {
			if !slices.IsSorted(sc.Codes) || len(slices.Compact(slices.Clone(sc.Codes))) != len(sc.Codes) {
				t.Errorf("%s: codes of %s are not sorted and unique", vs.URL, sc.System)
			}
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestExpand(t *testing.T) {
	hier := &codeSystem{URL: "http://example.org/cs/h", Content: "complete", Concept: []concept{
		{Code: "a", Concept: []concept{{Code: "a1", Concept: []concept{{Code: "a1x"}}}, {Code: "a2"}}},
		{Code: "b"},
	}}
	frag := &codeSystem{URL: "http://example.org/cs/frag", Content: "fragment", Concept: []concept{{Code: "f"}}}
	vs := func(url string, inc, exc []include) *valueSet {
		v := &valueSet{URL: url}
		v.Compose = &struct {
			Include []include `json:"include"`
			Exclude []include `json:"exclude"`
		}{inc, exc}
		return v
	}
	type filter = struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	}
	codes := func(cc ...string) []struct {
		Code string `json:"code"`
	} {
		out := make([]struct {
			Code string `json:"code"`
		}, len(cc))
		for i, c := range cc {
			out[i].Code = c
		}
		return out
	}
	p := &pkg{
		codeSystems: map[string]*codeSystem{hier.URL: hier, frag.URL: frag},
		valueSets: map[string]*valueSet{
			"all":       vs("all", []include{{System: hier.URL}}, nil),
			"listed":    vs("listed", []include{{System: "http://unitsofmeasure.org", Concept: codes("s", "min")}}, nil),
			"is-a":      vs("is-a", []include{{System: hier.URL, Filter: []filter{{"concept", "is-a", "a1"}}}}, nil),
			"desc":      vs("desc", []include{{System: hier.URL, Filter: []filter{{"concept", "descendent-of", "a"}}}}, nil),
			"excl":      vs("excl", []include{{System: hier.URL}}, []include{{System: hier.URL, Concept: codes("a2", "b")}}),
			"import":    vs("import", []include{{ValueSet: []string{"excl|4.0.1"}}, {System: "http://x", Concept: codes("x")}}, nil),
			"external":  vs("external", []include{{System: "urn:ietf:bcp:13"}}, nil),
			"fragment":  vs("fragment", []include{{System: frag.URL}}, nil),
			"regex":     vs("regex", []include{{System: hier.URL, Filter: []filter{{"code", "regex", "a.*"}}}}, nil),
			"loop":      vs("loop", []include{{ValueSet: []string{"loop"}}}, nil),
			"no-system": vs("no-system", []include{{}}, nil),
		},
	}
	tests := []struct {
		url       string
		want      map[string][]string
		unchecked bool
	}{
		{url: "all", want: map[string][]string{hier.URL: {"a", "a1", "a1x", "a2", "b"}}},
		{url: "listed", want: map[string][]string{"http://unitsofmeasure.org": {"min", "s"}}},
		{url: "is-a", want: map[string][]string{hier.URL: {"a1", "a1x"}}},
		{url: "desc", want: map[string][]string{hier.URL: {"a1", "a1x", "a2"}}},
		{url: "excl", want: map[string][]string{hier.URL: {"a", "a1", "a1x"}}},
		{url: "import", want: map[string][]string{hier.URL: {"a", "a1", "a1x"}, "http://x": {"x"}}},
		{url: "external", unchecked: true},
		{url: "fragment", unchecked: true},
		{url: "regex", unchecked: true},
		{url: "loop", unchecked: true},
		{url: "no-system", unchecked: true},
		{url: "missing", unchecked: true},
	}
	for _, tc := range tests {
		x := expander{pkg: p, active: map[string]bool{}}
		got, reason := x.valueSet(tc.url)
		if tc.unchecked {
			if reason == "" {
				t.Errorf("%s: expanded to %v, want unchecked", tc.url, got)
			}
			continue
		}
		if reason != "" {
			t.Errorf("%s: unchecked: %s", tc.url, reason)
			continue
		}
		flat := map[string][]string{}
		for _, sc := range got.sorted() {
			flat[sc.System] = sc.Codes
		}
		if len(flat) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.url, flat, tc.want)
		}
		for sys, w := range tc.want {
			if !slices.Equal(flat[sys], w) {
				t.Errorf("%s: %s codes %v, want %v", tc.url, sys, flat[sys], w)
			}
		}
	}
}

func TestTypeCode(t *testing.T) {
	sd := &structureDefinition{Type: "Task", Kind: specfile.KindResource}
	ext := []extension{{URL: fhirTypeExtension, ValueURL: "string"}}
	for _, tc := range []struct {
		path, code string
		exts       []extension
		want       string
	}{
		{"Task.status", "code", nil, "code"},
		{"Task.id", systemTypePrefix + "String", ext, "id"},
		{"Task.input.id", systemTypePrefix + "String", ext, "string"},
	} {
		got, err := typeCode(sd, tc.path, tc.code, tc.exts)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if _, err := typeCode(sd, "Task.x", systemTypePrefix+"String", nil); err == nil {
		t.Error("a System type without fhir-type extension passed")
	}
}

func TestRunNeedsFlags(t *testing.T) {
	if err := run(nil, io.Discard); err == nil {
		t.Error("run without -src and -out succeeded")
	}
}
