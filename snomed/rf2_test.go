package snomed_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/snomed"
	"github.com/signpost-fhir/signpost/snomed/sctid"
)

const (
	conceptHeader     = "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\n"
	descriptionHeader = "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\n"
	fsnType           = "900000000000003001"
	synonymType       = "900000000000013009"
	// Generated files use made-up module and definition-status ids built
	// with valid check digits: they are test data, not SNOMED CT content.
	testModule = "1234567000000109"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func mustMake(t testing.TB, item uint64, ns string, kind sctid.Kind) string {
	t.Helper()
	s, err := sctid.Make(item, ns, kind)
	require.NoError(t, err)
	return s
}

func TestLoadRF2Rules(t *testing.T) {
	dir := t.TempDir()
	c1 := mustMake(t, 100001, "", sctid.Concept)        // FSN-minus-tag synonym present
	c2 := mustMake(t, 100002, "", sctid.Concept)        // no such synonym: lowest description id
	c3 := mustMake(t, 100003, "1000000", sctid.Concept) // extension id; inactive
	c4 := mustMake(t, 100004, "", sctid.Concept)        // no synonym at all
	d := func(i uint64) string { return mustMake(t, i, "", sctid.Description) }
	concepts := conceptHeader +
		c1 + "\t20200101\t1\t" + testModule + "\t900000000000074008\n" +
		c2 + "\t20200101\t1\t" + testModule + "\t900000000000074008\n" +
		c3 + "\t20210101\t0\t" + testModule + "\t900000000000074008\n" +
		c4 + "\t20200101\t1\t" + testModule + "\t900000000000074008\n"
	descs := descriptionHeader +
		d(9001) + "\t20200101\t1\t" + testModule + "\t" + c1 + "\ten\t" + fsnType + "\tCough (finding)\t900000000000448009\n" +
		d(9002) + "\t20200101\t1\t" + testModule + "\t" + c1 + "\ten\t" + synonymType + "\tAlpha cough\t900000000000448009\n" +
		d(9003) + "\t20200101\t1\t" + testModule + "\t" + c1 + "\ten\t" + synonymType + "\tCough\t900000000000448009\n" +
		d(9004) + "\t20200101\t0\t" + testModule + "\t" + c1 + "\ten\t" + synonymType + "\tRetired cough\t900000000000448009\n" +
		d(9012) + "\t20200101\t1\t" + testModule + "\t" + c2 + "\ten\t" + fsnType + "\tBreathlessness finding (finding)\t900000000000448009\n" +
		d(9011) + "\t20200101\t1\t" + testModule + "\t" + c2 + "\ten\t" + synonymType + "\tSOB\t900000000000448009\n" +
		d(9013) + "\t20200101\t1\t" + testModule + "\t" + c2 + "\ten\t" + synonymType + "\tBreathless\t900000000000448009\n" +
		d(9021) + "\t20210101\t1\t" + testModule + "\t" + c3 + "\ten\t" + fsnType + "\tOld thing (finding)\t900000000000448009\n" +
		d(9031) + "\t20200101\t1\t" + testModule + "\t" + c4 + "\ten\t" + fsnType + "\tLonely (finding)\t900000000000448009\n" +
		d(9041) + "\t20200101\t1\t" + testModule + "\t" + mustMake(t, 555555, "", sctid.Concept) + "\ten\t" + fsnType + "\tNot in subset (finding)\t900000000000448009\n"
	writeFile(t, filepath.Join(dir, "Snapshot", "Terminology", "sct2_Concept_Snapshot_INT_20240101.txt"), concepts)
	writeFile(t, filepath.Join(dir, "Snapshot", "Terminology", "sct2_Description_Snapshot-en_INT_20240101.txt"), descs)
	writeFile(t, filepath.Join(dir, "Snapshot", "Terminology", "sct2_TextDefinition_Snapshot-en_INT_20240101.txt"), "ignored")

	cs, err := snomed.LoadRF2(dir, snomed.RF2Options{Version: "http://snomed.info/sct/999/version/20240101"})
	require.NoError(t, err)
	assert.Equal(t, 4, cs.Len())
	assert.Equal(t, "20240101", cs.Edition().Date)
	assert.Equal(t, "http://snomed.info/sct/999/version/20240101", cs.Edition().Version)

	c, ok := cs.Get(c1)
	require.True(t, ok)
	assert.Equal(t, "Cough (finding)", c.FSN)
	assert.Equal(t, "Cough", c.Preferred)
	assert.Equal(t, []string{"Alpha cough"}, c.Synonyms)
	assert.True(t, c.Active)
	assert.Equal(t, testModule, c.ModuleID)

	c, _ = cs.Get(c2)
	assert.Equal(t, "SOB", c.Preferred, "lowest description id when no synonym equals the FSN's term")
	assert.Equal(t, []string{"Breathless"}, c.Synonyms)

	c, _ = cs.Get(c3)
	assert.False(t, c.Active)
	assert.Equal(t, "Old thing", c.Preferred)

	c, _ = cs.Get(c4)
	assert.Equal(t, "Lonely", c.Preferred)

	// The terminology answers from it: inactive concepts validate with a
	// warning; displays may be any active synonym.
	term, err := snomed.New(cs, snomed.Options{})
	require.NoError(t, err)
	assert.NotEmpty(t, term.MissingCodes(), "this subset lacks the shipped value sets' codes")
	ctx := context.Background()
	res, err := term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: c3}}})
	require.NoError(t, err)
	assert.True(t, res.Result)
	assert.Contains(t, res.Message, "inactive")
	res, err = term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: c1, Display: "alpha COUGH"}}})
	require.NoError(t, err)
	assert.True(t, res.Result)
	res, err = term.ValidateCode(ctx, nil, snomed.ValidateCodeRequest{URL: snomed.System, Codings: []snomed.Coding{{Code: c1, Display: "Retired cough"}}})
	require.NoError(t, err)
	assert.False(t, res.Result, "inactive descriptions are not displays")
	lr, err := term.Lookup(ctx, nil, snomed.LookupRequest{System: snomed.System + "|http://snomed.info/sct/999/version/20240101", Code: c3})
	require.NoError(t, err)
	assert.Equal(t, "http://snomed.info/sct/999/version/20240101", lr.Version)
	assert.Contains(t, lr.Properties, snomed.Property{Code: "inactive", Type: "Boolean", Value: true})
	_, err = term.Lookup(ctx, nil, snomed.LookupRequest{System: snomed.System + "|http://snomed.info/sct/999/version/20190101", Code: c3})
	assert.Error(t, err)
}

func TestLoadRF2Errors(t *testing.T) {
	empty := t.TempDir()
	_, err := snomed.LoadRF2(empty, snomed.RF2Options{})
	assert.ErrorContains(t, err, "no sct2_Concept_Snapshot")

	for name, tt := range map[string]struct{ concepts, descs, want string }{
		"bad check digit":           {conceptHeader + "100009\t20200101\t1\t1\t1\n", descriptionHeader, "check digit"},
		"description id as concept": {conceptHeader + mustMake(t, 100001, "", sctid.Description) + "\t20200101\t1\t1\t1\n", descriptionHeader, "not a concept id"},
		"wrong header":              {"id\tactive\n", descriptionHeader, "column"},
		"short row":                 {conceptHeader + mustMake(t, 100001, "", sctid.Concept) + "\t20200101\n", descriptionHeader, "columns"},
		"bad description id":        {conceptHeader, descriptionHeader + mustMake(t, 100001, "", sctid.Concept) + "\t20200101\t1\t1\t1\ten\t1\tx\t1\n", "description id"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "sct2_Concept_Snapshot_X_20240101.txt"), tt.concepts)
			writeFile(t, filepath.Join(dir, "sct2_Description_Snapshot-en_X_20240101.txt"), tt.descs)
			_, err := snomed.LoadRF2(dir, snomed.RF2Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "line", "the error names the line")
		})
	}
}

// writeRF2Subset generates an RF2 Snapshot of n concepts with valid
// identifiers (one in ten in the long, extension format): an FSN and a
// preferred synonym each, an extra synonym for one in three, an inactive
// description for one in five, and one concept in fifty inactive.
func writeRF2Subset(t testing.TB, dir string, n int) {
	t.Helper()
	cf, err := os.Create(filepath.Join(dir, "sct2_Concept_Snapshot_GEN_20260101.txt"))
	require.NoError(t, err)
	df, err := os.Create(filepath.Join(dir, "sct2_Description_Snapshot-en_GEN_20260101.txt"))
	require.NoError(t, err)
	cw, dw := bufio.NewWriterSize(cf, 1<<20), bufio.NewWriterSize(df, 1<<20)
	cw.WriteString(conceptHeader)
	dw.WriteString(descriptionHeader)
	desc := uint64(1000)
	nextDesc := func() string {
		desc++
		s, _ := sctid.Make(desc, "", sctid.Description)
		return s
	}
	for i := 0; i < n; i++ {
		ns := ""
		if i%10 == 0 {
			ns = "1000000"
		}
		id, err := sctid.Make(uint64(100000+i), ns, sctid.Concept)
		require.NoError(t, err)
		active := "1"
		if i%50 == 0 {
			active = "0"
		}
		fmt.Fprintf(cw, "%s\t20260101\t%s\t%s\t900000000000074008\n", id, active, testModule)
		fmt.Fprintf(dw, "%s\t20260101\t1\t%s\t%s\ten\t%s\tGenerated concept %d (finding)\t900000000000448009\n", nextDesc(), testModule, id, fsnType, i)
		fmt.Fprintf(dw, "%s\t20260101\t1\t%s\t%s\ten\t%s\tGenerated concept %d\t900000000000448009\n", nextDesc(), testModule, id, synonymType, i)
		if i%3 == 0 {
			fmt.Fprintf(dw, "%s\t20260101\t1\t%s\t%s\ten\t%s\tAlternative term for %d\t900000000000448009\n", nextDesc(), testModule, id, synonymType, i)
		}
		if i%5 == 0 {
			fmt.Fprintf(dw, "%s\t20260101\t0\t%s\t%s\ten\t%s\tRetired term %d\t900000000000448009\n", nextDesc(), testModule, id, synonymType, i)
		}
	}
	require.NoError(t, cw.Flush())
	require.NoError(t, dw.Flush())
	require.NoError(t, cf.Close())
	require.NoError(t, df.Close())
}

func TestLoadGeneratedRF2(t *testing.T) {
	dir := t.TempDir()
	writeRF2Subset(t, dir, 2000)
	cs, err := snomed.LoadRF2(dir, snomed.RF2Options{})
	require.NoError(t, err)
	assert.Equal(t, 2000, cs.Len())
	id, _ := sctid.Make(100000+7, "", sctid.Concept)
	c, ok := cs.Get(id)
	require.True(t, ok)
	assert.Equal(t, "Generated concept 7", c.Preferred)
}

// BenchmarkLoadRF2 loads a generated 100,000-concept RF2 Snapshot subset
// and reports the heap the loaded set retains. Run with
// go test -run '^$' -bench LoadRF2 -benchmem ./snomed/
func BenchmarkLoadRF2(b *testing.B) {
	dir := b.TempDir()
	writeRF2Subset(b, dir, 100_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var cs *snomed.ConceptSet
	start := time.Now()
	for b.Loop() {
		var err error
		if cs, err = snomed.LoadRF2(dir, snomed.RF2Options{}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if cs.Len() != 100_000 {
		b.Fatalf("loaded %d concepts", cs.Len())
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "retained-MB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/op")
	b.ReportMetric(float64(after.Sys)/(1<<20), "sys-MB")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/load")
	runtime.KeepAlive(cs)
}

func sctidMake(item uint64) (string, error) { return sctid.Make(item, "", sctid.Concept) }
