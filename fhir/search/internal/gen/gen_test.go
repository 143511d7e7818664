package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The reference folder is testdata/fhir; the test is
// skipped where it is absent.
const (
	paramsFile = "../../../../testdata/fhir/search-parameters/search-parameters.official-4.0.1.json"
	coreDir    = "../../../../testdata/fhir/r4-core-4.0.1"
	committed  = "../../table_gen.go"
)

func TestCommittedTableIsCurrent(t *testing.T) {
	if _, err := os.Stat(paramsFile); err != nil {
		t.Skipf("the FHIR material is not in testdata/fhir: %v", err)
	}
	got, err := Generate(paramsFile, coreDir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./fhir/search", filepath.Clean(committed))
	}
	again, err := Generate(paramsFile, coreDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("two runs of the generator differ")
	}
}

func TestSplitUnion(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Task.for", []string{"Task.for"}},
		{"(Observation.value as Quantity) | (Observation.value as SampledData)", []string{"(Observation.value as Quantity)", "(Observation.value as SampledData)"}},
		{"A.b.where(c = 'x|y') | B.c", []string{"A.b.where(c = 'x|y')", "B.c"}},
		{"A.b.where(c | d) | B.c", []string{"A.b.where(c | d)", "B.c"}},
	}
	for _, tc := range tests {
		got := splitUnion(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("splitUnion(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("splitUnion(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
