package fhir

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStampUpdateAgreesWithTwoEncodings: for every official example (meta
// with profiles, security labels, tags and extensions among them), and
// for version numbers whose texts change length, StampUpdate finds the
// same content unchanged and a changed one changed, exactly as encoding
// the resource stamped each way and comparing the bytes does, and leaves
// the resource stamped as it says.
func TestStampUpdateAgreesWithTwoEncodings(t *testing.T) {
	curAt := time.Date(2026, 11, 21, 9, 0, 0, 123456000, time.UTC)
	at := curAt.Add(time.Second)
	var files []string
	for _, dir := range []string{"../testdata/fhir/r4-examples-4.0.1", "../testdata/fhir/ukcore-examples"} {
		fs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		files = append(files, fs...)
	}
	require.NotEmpty(t, files)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		parse := func() *Resource {
			r, err := ParseResource(data)
			require.NoError(t, err, f)
			if r.ID() == "" {
				r.SetID("x")
			}
			return r
		}
		if _, err := ParseResource(data); err != nil {
			continue // package.json and the like
		}
		n++
		for _, cur := range []int64{1, 9, 99} {
			stored := parse()
			stored.Stamp(stored.ID(), cur, curAt)
			curBody, err := stored.MarshalJSON()
			require.NoError(t, err)

			r := parse()
			body, same, err := r.StampUpdate(cur, curAt, curBody, cur+1, at)
			require.NoError(t, err, f)
			assert.True(t, same, "%s v%d: same content", f, cur)
			assert.Equal(t, curBody, body)
			again, _ := r.MarshalJSON()
			assert.Equal(t, curBody, again, "%s: left stamped as the current version", f)

			r = parse()
			r.obj["text"] = map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">changed</div>`}
			body, same, err = r.StampUpdate(cur, curAt, curBody, cur+1, at)
			require.NoError(t, err, f)
			assert.False(t, same, "%s v%d: changed content", f, cur)
			want := parse()
			want.obj["text"] = r.obj["text"]
			want.Stamp(want.ID(), cur+1, at)
			wantBody, _ := want.MarshalJSON()
			assert.Equal(t, string(wantBody), string(body), f)
			again, _ = r.MarshalJSON()
			assert.Equal(t, body, again, "%s: left stamped as the next version", f)
		}
	}
	assert.Greater(t, n, 100)
}

// TestStampUpdateSameLengthChange: a change that keeps the encoding's
// length, in meta or elsewhere, is a change.
func TestStampUpdateSameLengthChange(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	stored, err := ParseResource([]byte(`{"resourceType":"Task","id":"t1","meta":{"tag":[{"code":"aa"}]},"status":"ready","intent":"order"}`))
	require.NoError(t, err)
	stored.Stamp("t1", 5, at)
	curBody, err := stored.MarshalJSON()
	require.NoError(t, err)
	for _, body := range []string{
		`{"resourceType":"Task","id":"t1","meta":{"tag":[{"code":"bb"}]},"status":"ready","intent":"order"}`,
		`{"resourceType":"Task","id":"t1","meta":{"tag":[{"code":"aa"}]},"status":"draft","intent":"order"}`,
	} {
		r, err := ParseResource([]byte(body))
		require.NoError(t, err)
		got, same, err := r.StampUpdate(5, at, curBody, 6, at.Add(time.Second))
		require.NoError(t, err)
		assert.False(t, same, body)
		assert.Len(t, got, len(curBody))
		assert.Contains(t, string(got), `"versionId":"6"`)
	}
}

// BenchmarkStampUpdate is what an update of the navigation Task costs to
// stamp and encode, its content changed or not.
func BenchmarkStampUpdate(b *testing.B) {
	data, err := os.ReadFile("../testdata/task-navigate.json")
	require.NoError(b, err)
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	stored, err := ParseResource(data)
	require.NoError(b, err)
	stored.Stamp(stored.ID(), 7, at)
	curBody, err := stored.MarshalJSON()
	require.NoError(b, err)
	for _, c := range []struct {
		name   string
		status string
	}{{"unchanged", stored.obj["status"].(string)}, {"changed", "in-progress"}} {
		b.Run(c.name, func(b *testing.B) {
			r, err := ParseResource(data)
			require.NoError(b, err)
			r.obj["status"] = c.status
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.StampUpdate(7, at, curBody, 8, at.Add(time.Second)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNamesAsThePatterns: ValidID and validTypeName accept exactly what
// the R4 patterns do.
func TestNamesAsThePatterns(t *testing.T) {
	id := regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	typ := regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	cases := []string{"", "a", "A", "Task", "T", "task", "Tà", "a-b.c", "a_b", "a b", "a/b", "1", "-", ".",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "T" + strings.Repeat("a", 63), "T" + strings.Repeat("a", 64),
		"Task\n", "\x00", "ÄB", "AB1"}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "A"+string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
	}
	for _, s := range cases {
		assert.Equal(t, id.MatchString(s), ValidID(s), "id %q", s)
		assert.Equal(t, typ.MatchString(s), validTypeName(s), "type %q", s)
	}
}

// TestEncodingOrder: resourceType, id and meta first, then the other
// members by their bytes (so "_id" and "Z" before "a"), at every depth;
// stored bodies depend on this order staying as it is.
func TestEncodingOrder(t *testing.T) {
	r, err := ParseResource([]byte(`{"meta":{"versionId":"1","lastUpdated":"2026-11-21T09:00:00.000000Z","_versionId":{"id":"x"}},
		"status":"ready","id":"t1","_status":{"extension":[{"valueString":"v","url":"u"}]},"Zeta":1,"resourceType":"Task",
		"a":{"resourceType":"x","meta":2,"id":3,"b":4,"A":5},"identifier":[{"value":"v","system":"s"}],"_id":{"id":"e"}}`))
	require.NoError(t, err)
	b, err := r.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, `{"resourceType":"Task","id":"t1","meta":{"_versionId":{"id":"x"},"lastUpdated":"2026-11-21T09:00:00.000000Z","versionId":"1"},`+
		`"Zeta":1,"_id":{"id":"e"},"_status":{"extension":[{"url":"u","valueString":"v"}]},"a":{"resourceType":"x","id":3,"meta":2,"A":5,"b":4},`+
		`"identifier":[{"system":"s","value":"v"}],"status":"ready"}`, string(b))
}
