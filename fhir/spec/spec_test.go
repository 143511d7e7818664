package spec

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	if _, err := load(embedded); err != nil {
		t.Fatal(err)
	}
	if got := FHIRVersion(); got != "4.0.1" {
		t.Errorf("FHIRVersion = %q", got)
	}
}

func TestResourceTypes(t *testing.T) {
	rts := ResourceTypes()
	if len(rts) != 146 {
		t.Errorf("%d resource types, want the 146 concrete R4 resources", len(rts))
	}
	if !slices.IsSorted(rts) {
		t.Error("ResourceTypes is not sorted")
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Task", true}, {"Bundle", true}, {"Parameters", true}, {"Binary", true},
		{"Resource", false}, {"DomainResource", false}, {"Coding", false},
		{"string", false}, {"task", false}, {"", false},
	} {
		if got := IsResourceType(tc.name); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	rts[0] = "mutated"
	if ResourceTypes()[0] == "mutated" {
		t.Error("ResourceTypes returns shared storage")
	}
}

func TestElementByPath(t *testing.T) {
	for _, tc := range []struct {
		path    string
		min     int
		max     int
		types   []string
		binding string
	}{
		{"Task.status", 1, 1, []string{"code"}, "http://hl7.org/fhir/ValueSet/task-status"},
		{"Task.intent", 1, 1, []string{"code"}, "http://hl7.org/fhir/ValueSet/task-intent"},
		{"Task.id", 0, 1, []string{"id"}, ""},
		{"Task.input", 0, Unbounded, []string{"BackboneElement"}, ""},
		{"Task.input.type", 1, 1, []string{"CodeableConcept"}, ""},
		{"ServiceRequest.subject", 1, 1, []string{"Reference"}, ""},
		{"Extension.url", 1, 1, []string{"uri"}, ""},
		{"Coding.id", 0, 1, []string{"string"}, ""},
		{"Narrative.div", 1, 1, []string{"xhtml"}, ""},
		{"Questionnaire.item.item", 0, Unbounded, []string{"BackboneElement"}, ""},
	} {
		e, ok := ElementByPath(tc.path)
		if !ok {
			t.Errorf("%s: not found", tc.path)
			continue
		}
		var types []string
		for _, tr := range e.Types {
			types = append(types, tr.Code)
		}
		if e.Min != tc.min || e.Max != tc.max || !slices.Equal(types, tc.types) || e.Binding != tc.binding {
			t.Errorf("%s: min %d max %d types %v binding %q", tc.path, e.Min, e.Max, types, e.Binding)
		}
	}
	item, _ := ElementByPath("Questionnaire.item")
	nested, _ := ElementByPath("Questionnaire.item.item")
	if nested.ContentReference != "#Questionnaire.item" || nested.Children != item.Children || item.Children == nil {
		t.Error("Questionnaire.item.item does not share Questionnaire.item's shape")
	}
	ref, _ := ElementByPath("ServiceRequest.subject")
	if !slices.Contains(ref.Types[0].TargetProfiles, "http://hl7.org/fhir/StructureDefinition/Patient") {
		t.Errorf("ServiceRequest.subject targets %v", ref.Types[0].TargetProfiles)
	}
}

func TestMembers(t *testing.T) {
	task, _ := LookupType("Task")
	s := task.Structure()
	in, ok := s.Member("input")
	if !ok || in.Element.Children == nil {
		t.Fatal("Task.input is not a backbone element")
	}
	m, ok := in.Element.Children.Member("valueCode")
	if !ok || m.Type.Name != "code" || m.Element.Path != "Task.input.value[x]" {
		t.Errorf("valueCode = %+v, %v", m, ok)
	}
	if _, ok := in.Element.Children.Member("value"); ok {
		t.Error("a bare choice name resolved")
	}
	var req []string
	for _, e := range s.Required {
		req = append(req, e.Name)
	}
	if !slices.Equal(req, []string{"status", "intent"}) {
		t.Errorf("Task requires %v", req)
	}
	ext, _ := LookupType("Extension")
	val, _ := ext.Structure().Member("valueString")
	if !slices.Contains(val.Element.MemberNames, "_valueString") || !slices.Contains(val.Element.MemberNames, "valueCodeableConcept") {
		t.Errorf("Extension.value[x] member names %v", val.Element.MemberNames)
	}
}

func TestValueSets(t *testing.T) {
	vs, ok := RequiredValueSet("http://hl7.org/fhir/ValueSet/task-status|4.0.1")
	if !ok || !vs.Checked() {
		t.Fatal("task-status missing or unchecked")
	}
	if !vs.HasCode("requested") || vs.HasCode("bogus") || !vs.HasCoding("http://hl7.org/fhir/task-status", "completed") {
		t.Error("task-status codes wrong")
	}
	if got := vs.Systems(); !slices.Equal(got, []string{"http://hl7.org/fhir/task-status"}) {
		t.Errorf("task-status systems %v", got)
	}
	for _, url := range []string{
		"http://hl7.org/fhir/ValueSet/mimetypes",
		"http://hl7.org/fhir/ValueSet/ucum-units",
		"http://hl7.org/fhir/ValueSet/currencies",
	} {
		vs, ok := RequiredValueSet(url)
		if !ok || vs.Checked() {
			t.Errorf("%s should be present and unchecked", url)
		}
	}
	// A nested CodeSystem concept: v3 ActCode-like hierarchies appear in
	// some required sets; all-types nests data types under their parents.
	if vs, _ := RequiredValueSet("http://hl7.org/fhir/ValueSet/all-types"); !vs.HasCode("Task") || !vs.HasCode("dateTime") {
		t.Error("all-types misses nested concepts")
	}
}

func TestPrimitiveRegex(t *testing.T) {
	for _, tc := range []struct {
		typ, value string
		ok         bool
	}{
		{"date", "2024-02-29", true},
		{"date", "2024-13-45", false},
		{"date", "x2024-01-01", false},
		{"dateTime", "2024-01-01T10:00:00Z", true},
		{"dateTime", "2024-01-01T10:00", false},
		{"instant", "2024-01-01", false},
		{"id", "abc-1.2", true},
		{"id", "abc_1", false},
		{"code", "a b", true},
		{"code", " a", false},
		{"uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", true},
		{"oid", "urn:oid:1.2.3", true},
		{"oid", "1.2.3", false},
	} {
		re, ok := PrimitiveRegex(tc.typ)
		if !ok {
			t.Fatalf("%s has no regex", tc.typ)
		}
		if got := re.MatchString(tc.value); got != tc.ok {
			t.Errorf("%s %q: %v, want %v", tc.typ, tc.value, got, tc.ok)
		}
	}
	if _, ok := PrimitiveRegex("xhtml"); ok {
		t.Error("xhtml has a regex")
	}
	if _, ok := PrimitiveRegex("Coding"); ok {
		t.Error("Coding has a regex")
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := load(embedded); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFastMatchersAgreeWithRegex(t *testing.T) {
	used := map[string]bool{}
	for _, name := range []string{"string", "markdown", "uri", "url", "canonical", "code", "id"} {
		ty, _ := LookupType(name)
		if ty.match == nil {
			t.Errorf("%s has no fast matcher: its published pattern changed?", name)
		}
	}
	corpus := []string{
		"", " ", "a", "a b", "a  b", " a", "a ", "\ta", "a\tb", "a\nb", "a\fb", "\f",
		"a\vb", "café", "a\u00a0b", "日本", "x\x00y", "http://example.org/a?b=c",
		"has space", "urn:uuid:1", "abc-1.2", "abc_1", "-", ".", strings.Repeat("a", 64),
		strings.Repeat("a", 65), "A-z.9", "\xff", "a\r\nb", "line one\nline two",
	}
	// Random strings over an alphabet rich in the characters the patterns
	// care about.
	alphabet := []string{"a", "Z", "0", "-", ".", "_", " ", "\t", "\n", "\r", "\f", "\v", "é", "\u00a0", ":", "/"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		corpus = append(corpus, b.String())
	}
	for pattern, fast := range fastMatchers {
		re := regexp.MustCompile(`^(?:` + pattern + `)$`)
		for _, s := range corpus {
			if got, want := fast(s), re.MatchString(s); got != want {
				t.Errorf("pattern %s, %q: fast %v, regex %v", pattern, s, got, want)
			}
		}
		used[pattern] = true
	}
	for _, ty := range get().types {
		if ty.match != nil && !used[strings.TrimSuffix(strings.TrimPrefix(ty.Regex.String(), "^(?:"), ")$")] {
			t.Errorf("%s uses a fast matcher for a pattern the test does not cover", ty.Name)
		}
	}
}

// TestSummaryFlags: isSummary is carried over from the definitions, for
// _summary=true.
func TestSummaryFlags(t *testing.T) {
	for path, want := range map[string]bool{
		"Task.status": true, "Task.owner": true, "Task.input": false, "Task.text": false,
		"Patient.name": true, "Patient.contact": false, "Coding.code": true,
		"Task.restriction.modifierExtension": true, "Task.restriction.period": false,
	} {
		e, ok := ElementByPath(path)
		if !ok {
			t.Errorf("%s is missing", path)
			continue
		}
		if e.Summary != want {
			t.Errorf("%s: Summary = %v, want %v", path, e.Summary, want)
		}
	}
}
