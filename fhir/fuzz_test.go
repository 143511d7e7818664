package fhir_test

import (
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

// FuzzParseResource feeds arbitrary bytes to the resource decoder, the
// validator and the encoder: none may panic, and whatever decodes must
// encode and decode again. The seed corpus is testdata/fuzz/FuzzParseResource
// (official R4 examples and hostile JSON); .ci/run fuzzes it for a fixed
// time.
func FuzzParseResource(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","id":"p1","active":true}`))
	f.Add([]byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := fhir.ParseResource(data)
		if err != nil {
			if _, ok := fhir.AsError(err); !ok {
				t.Fatalf("a decoding failure that is not a fhir.Error: %v", err)
			}
			return
		}
		_ = r.Validate(fhir.ValidateOptions{Strict: true})
		_ = fhir.Validate(r, fhir.ValidateOptions{})
		out, err := r.MarshalJSON()
		if err != nil {
			return
		}
		if _, err := fhir.ParseResource(out); err != nil {
			t.Fatalf("encoded resource does not decode again: %v\n%s", err, out)
		}
	})
}
