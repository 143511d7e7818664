package search

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/spec"
)

// examplesDir holds the official R4 examples, in testdata/fhir.
const examplesDir = "../../testdata/fhir/r4-examples-4.0.1"

// listedTypes are every concrete R4 resource type of the package.
var listedTypes = spec.ResourceTypes()

func TestRegistryHoldsEveryListedType(t *testing.T) {
	if got := ResourceTypes(); !slices.Equal(got, slices.Sorted(slices.Values(listedTypes))) {
		t.Fatalf("ResourceTypes() = %v", got)
	}
	for _, typ := range listedTypes {
		for _, code := range []string{"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} {
			d, ok := Lookup(typ, code)
			if !ok || !d.Supported || d.Base != typ {
				t.Errorf("%s has no supported %s", typ, code)
			}
		}
	}
}

func TestRegistryCompilesEveryExpression(t *testing.T) {
	if errs := theRegistry().errs; len(errs) > 0 {
		t.Fatalf("%d expressions do not compile, first: %v", len(errs), errs[0])
	}
}

// TestEveryExpressionEvaluates runs every part of every parameter of every
// type, supported or not, on an empty resource and on every official
// example of the type: no part may panic, every part must have compiled,
// and on an empty resource only computed booleans (and the resource itself,
// for composites whose expression is the type) may give a value.
func TestEveryExpressionEvaluates(t *testing.T) {
	examples := map[string][]*fhir.Resource{}
	if files, _ := filepath.Glob(filepath.Join(examplesDir, "*.json")); len(files) > 0 {
		for _, f := range files {
			if filepath.Base(f) == "package.json" {
				continue
			}
			r := readResource(t, f)
			examples[r.Type()] = append(examples[r.Type()], r)
		}
	}
	n := 0
	for _, typ := range listedTypes {
		for _, d := range Definitions(typ) {
			if got, want := len(d.parts), len(strings.Split(d.Expression, " | ")); got != want {
				t.Errorf("%s.%s: %d of %d parts compiled", typ, d.Code, got, want)
			}
			for _, p := range d.parts {
				n++
				empty := map[string]any{"resourceType": typ}
				for _, it := range p.expr.Eval(empty, typ) {
					if it.Type != "boolean" && !(d.Type == TypeComposite && it.Type == typ) {
						t.Errorf("%s on an empty %s gave %v", p.expr, typ, it)
					}
				}
				for _, r := range examples[typ] {
					p.expr.Eval(r.Object(), typ)
				}
			}
		}
	}
	t.Logf("%d expression parts evaluated", n)
}

func TestDefinitions(t *testing.T) {
	tests := []struct {
		typ, code  string
		wantType   ParamType
		expression string
		targets    []string
		modifiers  []string
		supported  bool
	}{
		{"Task", "patient", TypeReference, "Task.for.where(resolve() is Patient)", []string{"Patient"}, []string{ModMissing, ModIdentifier}, true},
		{"Task", "subject", TypeReference, "Task.for", nil, []string{ModMissing, ModIdentifier}, true},
		{"Task", "authored-on", TypeDate, "Task.authoredOn", nil, []string{ModMissing}, true},
		{"Task", "identifier", TypeToken, "Task.identifier", nil, []string{ModMissing, ModNot, ModText, ModIn, ModNotIn, ModBelow, ModAbove, ModOfType}, true},
		{"Task", "status", TypeToken, "Task.status", nil, []string{ModMissing, ModNot, ModText, ModIn, ModNotIn, ModBelow, ModAbove}, true},
		{"ServiceRequest", "performer", TypeReference, "ServiceRequest.performer", nil, nil, true},
		{"Observation", "value-quantity", TypeQuantity, "(Observation.value as Quantity) | (Observation.value as SampledData)", nil, []string{ModMissing}, true},
		{"Observation", "code-value-quantity", TypeComposite, "Observation", nil, nil, true},
		{"DocumentReference", "relationship", TypeComposite, "DocumentReference.relatesTo", nil, nil, false},
		{"Patient", "phonetic", TypeString, "Patient.name", nil, nil, false},
		{"Patient", "deceased", TypeToken, "Patient.deceased.exists() and Patient.deceased != false", nil, nil, true},
		{"Patient", "email", TypeToken, "Patient.telecom.where(system='email')", nil, nil, true},
		{"Location", "near", TypeSpecial, "Location.position", nil, nil, false},
		{"HealthcareService", "name", TypeString, "HealthcareService.name", nil, []string{ModMissing, ModExact, ModContains}, true},
		{"Subscription", "url", TypeURI, "Subscription.channel.endpoint", nil, []string{ModMissing, ModBelow, ModAbove}, true},
		{"Condition", "onset-age", TypeQuantity, "Condition.onset.as(Age) | Condition.onset.as(Range)", nil, nil, true},
		{"Task", "_lastUpdated", TypeDate, "Resource.meta.lastUpdated", nil, nil, true},
	}
	for _, tc := range tests {
		d, ok := Lookup(tc.typ, tc.code)
		if !ok {
			t.Errorf("%s.%s missing", tc.typ, tc.code)
			continue
		}
		if d.Type != tc.wantType || d.Expression != tc.expression || d.Supported != tc.supported {
			t.Errorf("%s.%s = %s %q supported=%v", tc.typ, tc.code, d.Type, d.Expression, d.Supported)
		}
		if tc.targets != nil && !slices.Equal(d.Targets, tc.targets) {
			t.Errorf("%s.%s targets %v, want %v", tc.typ, tc.code, d.Targets, tc.targets)
		}
		if tc.modifiers != nil && !slices.Equal(d.Modifiers, tc.modifiers) {
			t.Errorf("%s.%s modifiers %v, want %v", tc.typ, tc.code, d.Modifiers, tc.modifiers)
		}
	}
	if d, _ := Lookup("QuestionnaireResponse", "questionnaire"); !d.Canonical {
		t.Error("QuestionnaireResponse.questionnaire is a canonical reference")
	}
	if d, _ := Lookup("Task", "owner"); d.Canonical {
		t.Error("Task.owner is not canonical")
	}
	if _, ok := Lookup("Bundle", "_id"); !ok {
		t.Error("Bundle, a concrete R4 type, is in the registry")
	}
	if _, ok := Lookup("DomainResource", "_id"); ok {
		t.Error("DomainResource is abstract, not in the registry")
	}
	if _, ok := Lookup("Encounter", "patient"); !ok {
		t.Error("Encounter has its R4 parameters")
	}
}

func readResource(t testing.TB, path string) *fhir.Resource {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fhir.ParseResource(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}
