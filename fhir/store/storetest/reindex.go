package storetest

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/signpost-fhir/signpost/fhir/store"
)

// ReindexHarness is what RunReindex needs of a store: Open opens the same
// database every time, logging to log; Exec runs SQL on that database
// directly, as an operator or an earlier version would.
type ReindexHarness struct {
	Open func(t *testing.T, log *slog.Logger) store.Store
	Exec func(t *testing.T, sql string)
}

// dropCompositeRows deletes every composite index row (their params are
// code$n, search.InstanceParam) and the index version record: what a
// database written before composites were served holds.
var dropCompositeRows = []string{
	"DELETE FROM idx_token WHERE param LIKE '%$%'",
	"DELETE FROM idx_quantity WHERE param LIKE '%$%'",
	"DELETE FROM idx_string WHERE param LIKE '%$%'",
	"DELETE FROM idx_date WHERE param LIKE '%$%'",
	"DELETE FROM idx_number WHERE param LIKE '%$%'",
	"DELETE FROM idx_uri WHERE param LIKE '%$%'",
}

// logBuffer collects a store's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// RunReindex checks the upgrade of a database whose index was built
// before composite parameters: opening it rebuilds the index rows of the
// current resources once, so composite searches find resources stored
// before, plain searches answer as before, and the next open rebuilds
// nothing.
func RunReindex(t *testing.T, h ReindexHarness) {
	bp := func(id, subject string, systolic, diastolic string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"final",
		  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/` + subject + `"},
		  "effectiveDateTime":"2026-03-01T09:00:00Z",
		  "component":[
		    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":` + systolic + `,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":` + diastolic + `,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`
	}
	composite := [][2]string{
		{"component-code-value-quantity=http://loinc.org|8480-6$gt100", "bp-high"},
		{"component-code-value-quantity=8462-4$gt100", "bp-crossed"},
		{"code-value-quantity=85354-9$gt1", ""}, // no Observation.value: none
	}
	plain := []string{
		"component-code=8480-6", "component-value-quantity=gt100", "code=85354-9", "subject=Patient/rx-1",
		"date=2026-03-01", "status=final", "_id=bp-high",
	}
	run := func(t *testing.T, s store.Store, query string) []string {
		t.Helper()
		got, _ := searchAll(t, s, parseQuery(t, "Observation", query), 100)
		slices.Sort(got)
		return got
	}
	wantOf := func(id string) []string {
		if id == "" {
			return []string{}
		}
		return []string{id}
	}

	var log logBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	s := h.Open(t, logger)
	if got := log.lines("search index rebuil"); len(got) != 0 {
		t.Fatalf("a new database was rebuilt: %v", got)
	}
	loadFixture(t, s, []string{
		`{"resourceType":"Patient","id":"rx-1"}`,
		bp("bp-high", "rx-1", "150", "80"),
		bp("bp-crossed", "rx-1", "95", "120"),
		`{"resourceType":"Observation","id":"bp-gone","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]}}`,
	})
	if _, err := s.Delete(testContext(t), "Observation", "bp-gone", none()); err != nil {
		t.Fatal(err)
	}
	before := map[string][]string{}
	for _, q := range plain {
		before[q] = run(t, s, q)
	}
	for _, c := range composite {
		if got := run(t, s, c[0]); !slices.Equal(got, wantOf(c[1])) {
			t.Fatalf("before the downgrade, %s: got %v, want %v", c[0], got, wantOf(c[1]))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The database as the version before composites left it.
	for _, q := range dropCompositeRows {
		h.Exec(t, q)
	}
	h.Exec(t, "DELETE FROM search_index_version")

	s = h.Open(t, logger)
	for _, c := range composite {
		if got := run(t, s, c[0]); !slices.Equal(got, wantOf(c[1])) {
			t.Errorf("after the upgrade, %s: got %v, want %v", c[0], got, wantOf(c[1]))
		}
	}
	for _, q := range plain {
		if got := run(t, s, q); !slices.Equal(got, before[q]) {
			t.Errorf("after the upgrade, %s: got %v, want %v as before", q, got, before[q])
		}
	}
	done := log.lines("search index rebuilt")
	if len(done) != 1 || !strings.Contains(done[0], "resources=3") || !strings.Contains(done[0], "from_version=1") {
		t.Errorf("want one rebuild of the 3 current resources from version 1, logged %v", done)
	}
	if all := strings.Join(log.lines(""), "\n"); strings.Contains(all, "85354-9") || strings.Contains(all, "mmHg") {
		t.Errorf("the log holds resource bodies: %s", all)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The next open finds the version recorded and rebuilds nothing: rows
	// taken away now stay away.
	for _, q := range dropCompositeRows {
		h.Exec(t, q)
	}
	s = h.Open(t, logger)
	if got := log.lines("search index rebuil"); len(got) != 2 { // "started" and "rebuilt" of the one rebuild
		t.Errorf("the second open rebuilt again: %v", got)
	}
	if got := run(t, s, composite[0][0]); len(got) != 0 {
		t.Errorf("the second open rebuilt the composite rows: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
