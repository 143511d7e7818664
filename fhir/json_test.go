package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeJSONRejectsWhatFHIRForbids(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"duplicate member", `{"a":1,"a":2}`, "duplicate member"},
		{"nested duplicate", `{"a":{"b":1,"b":1}}`, "duplicate member"},
		{"trailing data", `{"a":1} {}`, "after the top-level value"},
		{"invalid utf-8", "{\"a\":\"\xff\"}", "UTF-8"},
		{"leading zero", `{"a":01}`, "leading zero"},
		{"bare fraction", `{"a":1.}`, "fraction"},
		{"control character", "{\"a\":\"x\ny\"}", "control character"},
		{"unterminated", `{"a":"b`, "unterminated"},
		{"empty", ``, "end of input"},
		{"bad literal", `{"a":tru}`, "literal"},
		{"missing colon", `{"a" 1}`, "':'"},
		{"bad escape", `{"a":"\q"}`, "escape"},
		{"too deep", strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2), "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeJSON([]byte(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestDecodeJSONKeepsNumberTextAndStrings(t *testing.T) {
	in := `{"a":1.50,"b":1.0e2,"c":-0.0,"d":1E-7,"e":"<b>&amp;</b> \u00e9 \ud83d\ude00","f":[true,false,null],"g":12345678901234567890}`
	v, err := decodeJSON([]byte(in))
	require.NoError(t, err)
	obj := v.(map[string]any)
	assert.Equal(t, json.Number("1.50"), obj["a"])
	assert.Equal(t, json.Number("1.0e2"), obj["b"])
	assert.Equal(t, json.Number("-0.0"), obj["c"])
	assert.Equal(t, json.Number("1E-7"), obj["d"])
	assert.Equal(t, "<b>&amp;</b> é 😀", obj["e"])
	assert.Equal(t, json.Number("12345678901234567890"), obj["g"])
	out, err := appendJSON(nil, v)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"e":"<b>&amp;</b> é 😀"`, "no HTML escaping")
	back, err := decodeJSON(out)
	require.NoError(t, err)
	assert.True(t, Equal(v, back))
}

func TestEncodeOrdersLeadingMembers(t *testing.T) {
	r, err := ParseResource([]byte(`{"status":"draft","meta":{"source":"x"},"id":"a","resourceType":"Task","intent":"order"}`))
	require.NoError(t, err)
	b, err := r.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, `{"resourceType":"Task","id":"a","meta":{"source":"x"},"intent":"order","status":"draft"}`, string(b))
}

func TestStampKeepsClientMeta(t *testing.T) {
	r, err := ParseResource([]byte(`{"resourceType":"Task","meta":{"versionId":"99","profile":["http://x/p"],"_lastUpdated":{"extension":[]}}}`))
	require.NoError(t, err)
	r.Stamp("abc", 3, mustTime(t, "2026-11-21T10:00:00.123456789Z"))
	m := r.Object()["meta"].(map[string]any)
	assert.Equal(t, "3", m["versionId"])
	assert.Equal(t, "2026-11-21T10:00:00.123456Z", m["lastUpdated"])
	assert.Equal(t, []any{"http://x/p"}, m["profile"])
	assert.NotContains(t, m, "_lastUpdated")
	assert.Equal(t, "abc", r.ID())
	assert.Equal(t, "3", r.VersionID())
}

func TestParseResourceStructure(t *testing.T) {
	for _, in := range []string{`[]`, `"x"`, `{}`, `{"resourceType":1}`, `{"resourceType":"task"}`, `{"resourceType":"Task","id":"a b"}`, `{"resourceType":"Task","id":7}`} {
		_, err := ParseResource([]byte(in))
		fe, ok := AsError(err)
		require.True(t, ok, in)
		assert.Equal(t, 400, fe.Status, in)
	}
}

func TestGeneratePrunesEmptyMembers(t *testing.T) {
	b, err := Generate(map[string]any{"resourceType": "Basic", "a": "", "b": []any{}, "c": map[string]any{"d": nil}, "e": false, "f": 0, "g": []any{"", "x"}})
	require.NoError(t, err)
	assert.Equal(t, `{"resourceType":"Basic","e":false,"f":0,"g":["x"]}`, string(b))
}

// TestGenerateKeepsRawJSON: stored bytes are copied as they are (member
// order and number text untouched, nothing decoded), an empty one is
// dropped like any empty member, and the tree around them is generated
// as usual.
func TestGenerateKeepsRawJSON(t *testing.T) {
	stored := RawJSON(`{"resourceType":"Task","id":"t1","zeta":1.50,"alpha":"a"}`)
	b, err := Generate(map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "task", "resource": stored},
		map[string]any{"name": "none", "resource": RawJSON(nil), "valueString": ""},
		map[string]any{"name": "n", "valueInteger": 2},
	}})
	require.NoError(t, err)
	assert.Equal(t, `{"resourceType":"Parameters","parameter":[{"name":"task","resource":{"resourceType":"Task","id":"t1","zeta":1.50,"alpha":"a"}},{"name":"none"},{"name":"n","valueInteger":2}]}`, string(b))
	_, err = decodeJSON(b)
	require.NoError(t, err)
}

func TestOutcomeIsValidJSON(t *testing.T) {
	b := Errorf(CodeRequired, "missing").At("Task.status").Outcome()
	v, err := decodeJSON(b)
	require.NoError(t, err)
	obj := v.(map[string]any)
	assert.Equal(t, "OperationOutcome", obj["resourceType"])
	is := obj["issue"].([]any)[0].(map[string]any)
	assert.Equal(t, "error", is["severity"])
	assert.Equal(t, "required", is["code"])
	assert.Equal(t, []any{"Task.status"}, is["expression"])
}

func TestErrorsIsBySentinel(t *testing.T) {
	assert.ErrorIs(t, NotFound("Task", "x"), ErrNotFound)
	assert.ErrorIs(t, Gone("Task", "x"), ErrDeleted)
	assert.NotErrorIs(t, Gone("Task", "x"), ErrNotFound)
	err := VersionConflict("Task", "x", "1", "2")
	assert.ErrorIs(t, err, ErrConflict)
	assert.Equal(t, 412, err.Status)
}

// TestRoundTripOfficialExamples: every official R4 and UK Core example of
// the fixtures folder survives parse and encode with the same meaning.
func TestRoundTripOfficialExamples(t *testing.T) {
	dirs := []string{"../testdata/fhir/r4-examples-4.0.1", "../testdata/fhir/ukcore-examples"}
	n := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			if filepath.Base(f) == "package.json" {
				continue
			}
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var want any
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&want), f)
			r, err := ParseResource(data)
			require.NoError(t, err, f)
			out, err := r.MarshalJSON()
			require.NoError(t, err, f)
			got, err := decodeJSON(out)
			require.NoError(t, err, f)
			assert.True(t, Equal(want, got), "%s changed meaning", f)
			n++
		}
	}
	if n == 0 {
		t.Skip("the FHIR examples are not in testdata/fhir")
	}
	t.Logf("%d examples round-tripped", n)
}

func BenchmarkParseAndEncode(b *testing.B) {
	data, err := os.ReadFile("../testdata/task-navigate.json")
	if err != nil {
		b.Skip("fixture missing")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseResource(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// generateByText is what Generate did before it built trees directly:
// encoding/json, the decoder, prune. Generate must agree with it.
func generateByText(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	tree, err := decodeGo(raw)
	require.NoError(t, err)
	tree, _ = prune(tree)
	b, err := appendJSON(nil, tree)
	require.NoError(t, err)
	return b
}

func TestGenerateMatchesTheTextRoundTrip(t *testing.T) {
	task, err := ParseResource([]byte(`{"resourceType":"Task","id":"t1","status":"requested","intent":"order","input":[{"type":{"text":"x"},"valueDecimal":1.50},{"type":{"text":"y"},"valueInteger":7}]}`))
	require.NoError(t, err)
	type coding struct {
		System string `json:"system,omitempty"`
		Code   string `json:"code"`
	}
	cases := map[string]any{
		"parameters with a resource": map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "task", "resource": task},
			map[string]any{"name": "n", "valueInteger": 3, "valueDecimal": 2.5},
			map[string]any{"name": "empty", "valueString": ""},
		}},
		"floats and ints":             map[string]any{"a": 1e21, "b": 1e-7, "c": 0.1, "d": int64(-4), "e": 3.0, "f": json.Number("1.500")},
		"empties at depth":            map[string]any{"a": []any{map[string]any{"b": []any{nil, ""}}}, "c": map[string]any{}, "d": false},
		"structs and typed slices":    map[string]any{"coding": []coding{{Code: "a"}, {System: "s", Code: "b"}}, "tags": []string{"x", ""}, "m": map[string]string{"k": "v"}},
		"html and control characters": map[string]any{"text": "<div>a & b</div>\n\t\u0001", "\u00e9": "é"},
		"invalid UTF-8":               map[string]any{"s": "a\xffb", "k\xfe": "v"},
		"raw message":                 map[string]any{"r": json.RawMessage(`{"x":1.0,"y":""}`)},
		"a bare resource":             task,
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			before := generateByText(t, v)
			got, err := Generate(v)
			require.NoError(t, err)
			assert.Equal(t, string(generateByText(t, v)), string(got))
			assert.Equal(t, string(before), string(generateByText(t, v)), "Generate left its input unchanged")
		})
	}
}

func TestRewriteReferences(t *testing.T) {
	tree := map[string]any{
		"subject":   map[string]any{"reference": "Patient/1", "display": "Patient/1"},
		"basedOn":   []any{map[string]any{"reference": "ServiceRequest/2"}, map[string]any{"reference": "Other/3"}},
		"contained": []any{map[string]any{"focus": map[string]any{"reference": "Patient/1"}}},
		"reference": 7, // not a string: left alone
	}
	to := map[string]string{"Patient/1": "urn:uuid:a", "ServiceRequest/2": "urn:uuid:b"}
	RewriteReferences(tree, func(ref string) (string, bool) { n, ok := to[ref]; return n, ok })
	assert.Equal(t, map[string]any{
		"subject":   map[string]any{"reference": "urn:uuid:a", "display": "Patient/1"},
		"basedOn":   []any{map[string]any{"reference": "urn:uuid:b"}, map[string]any{"reference": "Other/3"}},
		"contained": []any{map[string]any{"focus": map[string]any{"reference": "urn:uuid:a"}}},
		"reference": 7,
	}, tree)
}
