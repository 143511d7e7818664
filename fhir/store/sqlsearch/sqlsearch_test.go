package sqlsearch

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// The behaviour of the SQL is tested against both databases by the
// storetest contract suite; these tests cover the pieces that suite
// cannot pin down: the clock of ap, exact string helpers, cursors.

// recorder is a Querier that answers nothing and keeps what it was asked.
type recorder struct {
	sql  []string
	args [][]any
}

func (r *recorder) Query(_ context.Context, sql string, args []any, _ func(func(...any) error) error) error {
	r.sql, r.args = append(r.sql, sql), append(r.args, args)
	return nil
}

func query(t *testing.T, typ, q string) *search.Query {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	sq, err := search.ParseQuery(typ, v, true)
	if err != nil {
		t.Fatal(err)
	}
	return sq
}

func TestSuccessor(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abd", true},
		{"ab\u007f", "ab\u0080", true},
		{"é", "ê", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF\U0010FFFF", "", false},
		{"x\uD7FF", "x\uE000", true},
	}
	for _, tc := range cases {
		got, ok := successor(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("successor(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		// Every string that starts with in lies in [in, successor).
		if ok {
			for _, s := range []string{tc.in, tc.in + "\U0010FFFF", tc.in + "zzz"} {
				if !(s >= tc.in && s < got) {
					t.Errorf("%q is outside [%q, %q)", s, tc.in, got)
				}
			}
		}
	}
}

func TestEscapeLike(t *testing.T) {
	if got := escapeLike(`100%_a\b`); got != `100\%\_a\\b` {
		t.Fatalf("escapeLike = %q", got)
	}
}

func TestURIPrefixes(t *testing.T) {
	got := uriPrefixes("http://a.org/fhir/ValueSet/x")
	want := []string{"http://a.org/fhir/ValueSet/x", "http://a.org", "http://a.org/", "http://a.org/fhir", "http://a.org/fhir/", "http://a.org/fhir/ValueSet", "http://a.org/fhir/ValueSet/"}
	if !slices.Equal(got, want) {
		t.Fatalf("uriPrefixes = %q, want %q", got, want)
	}
}

func TestRebind(t *testing.T) {
	if got := Rebind("a = ? AND b IN (?, ?) ESCAPE '\\'"); got != "a = $1 AND b IN ($2, $3) ESCAPE '\\'" {
		t.Fatalf("Rebind = %q", got)
	}
}

func TestApproximately(t *testing.T) {
	cases := []struct{ v, lo, hi, wantLo, wantHi string }{
		{"100", "99.5", "100.5", "90", "110"},
		{"1", "0.5", "1.5", "0.5", "1.5"}, // the precision range is wider than 10%
		{"-20", "-20.5", "-19.5", "-22", "-18"},
	}
	for _, tc := range cases {
		lo, hi := approximately(search.Decimal(tc.v), search.Decimal(tc.lo), search.Decimal(tc.hi))
		if string(lo) != tc.wantLo || string(hi) != tc.wantHi {
			t.Errorf("approximately(%s) = [%s, %s], want [%s, %s]", tc.v, lo, hi, tc.wantLo, tc.wantHi)
		}
	}
}

// TestDateApproximately pins ap for dates: the search range widened on
// each side by a tenth of the time between it and now.
func TestDateApproximately(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &recorder{}
	o := Options{Dialect: SQLite, Now: func() time.Time { return now }}
	if _, err := Search(context.Background(), rec, o, query(t, "Task", "authored-on=ap2016-01-01"), store.PageRequest{Count: 1}); err != nil {
		t.Fatal(err)
	}
	lo := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := lo.Add(24*time.Hour - time.Microsecond)
	delta := now.Sub(lo) / 10
	args := rec.args[0]
	if !slices.Contains(args, any(Micros(hi.Add(delta)))) || !slices.Contains(args, any(Micros(lo.Add(-delta)))) {
		t.Fatalf("ap bounds are not ±%v: args %v", delta, args)
	}
	if !strings.Contains(rec.sql[0], "c.low <= ? AND c.high >= ?") {
		t.Fatalf("ap is not an overlap test: %s", rec.sql[0])
	}
}

func TestMicrosSentinels(t *testing.T) {
	if Micros(search.MinTime) != -1<<63 || Micros(search.MaxTime) != 1<<63-1 {
		t.Fatal("the open ends do not map to the extremes of int64")
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	if Micros(at) != at.UnixMicro() {
		t.Fatal("an instant is not its Unix microseconds")
	}
}

func TestCursor(t *testing.T) {
	c := &cursor{Dir: dirAfter, Keys: []any{int64(-1 << 63), "x", nil}, ID: "t-1", Sig: "-authored-on"}
	got, err := decodeCursor(c.encode(), "-authored-on")
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir != c.Dir || got.ID != c.ID || !slices.Equal(got.Keys, c.Keys) {
		t.Fatalf("round trip: %+v, want %+v", got, c)
	}
	for _, bad := range []string{"%%%", c.encode()[:10], (&cursor{Dir: "x", ID: "a", Sig: "s"}).encode()} {
		if _, err := decodeCursor(bad, "-authored-on"); err == nil {
			t.Errorf("cursor %q accepted", bad)
		} else if fe, ok := fhir.AsError(err); !ok || fe.Status != 400 {
			t.Errorf("cursor %q: %v, want a 400", bad, err)
		}
	}
	if _, err := decodeCursor(c.encode(), "_id"); err == nil {
		t.Error("a cursor was accepted for another sort")
	}
}

// TestStatusFold checks a status beside a reference is answered by the
// reference rows' res_status, and a sort on the worklist date by their
// res_date_high, not by a probe per resource.
func TestStatusFold(t *testing.T) {
	rec := &recorder{}
	q := query(t, "Task", "owner=Organization/o1&status=requested,accepted&_sort=-authored-on")
	if _, err := Search(context.Background(), rec, Options{Dialect: Postgres}, q, store.PageRequest{Count: 20}); err != nil {
		t.Fatal(err)
	}
	sql := rec.sql[0]
	if !strings.Contains(sql, "c.res_status IN (?, ?)") || strings.Contains(sql, "idx_token") {
		t.Fatalf("status not folded into the reference condition:\n%s", sql)
	}
	if !strings.Contains(sql, "max(r.dh)") || strings.Contains(sql, "idx_date") {
		t.Fatalf("the worklist sort does not read the reference rows' date:\n%s", sql)
	}
	// Without a reference, status is an ordinary token condition.
	rec = &recorder{}
	if _, err := Search(context.Background(), rec, Options{Dialect: Postgres}, query(t, "Task", "status=requested"), store.PageRequest{Count: 20}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.sql[0], "idx_token") {
		t.Fatalf("status alone is not a token condition:\n%s", rec.sql[0])
	}
}

// TestProbeFilters: on SQLite (Dialect.ProbeFilters) a broad condition
// beside a more selective one that drives the search is a correlated
// EXISTS on the candidate's own index rows, not an IN that first collects
// every row it matches; alone, or on PostgreSQL, it stays an IN.
func TestProbeFilters(t *testing.T) {
	const (
		probe = "EXISTS (SELECT 1 FROM idx_date c WHERE c.res_type = r.type AND c.res_id = r.id AND "
		in    = "r.id IN (SELECT c.res_id FROM idx_date c WHERE "
	)
	cases := []struct {
		name, q   string
		dialect   Dialect
		wantProbe bool
	}{
		{"sqlite, a patient's Tasks since a date", "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9990010005&authored-on=ge2026-09-01&_sort=-authored-on", SQLite, true},
		{"sqlite, a date range alone", "authored-on=ge2026-09-01", SQLite, false},
		{"postgres, a patient's Tasks since a date", "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9990010005&authored-on=ge2026-09-01&_sort=-authored-on", Postgres, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			if _, err := Search(context.Background(), rec, Options{Dialect: tc.dialect}, query(t, "Task", tc.q), store.PageRequest{Count: 20}); err != nil {
				t.Fatal(err)
			}
			sql := rec.sql[0]
			if strings.Contains(sql, probe) != tc.wantProbe || strings.Contains(sql, in) == tc.wantProbe {
				t.Fatalf("want the date condition as a probe: %v; got:\n%s", tc.wantProbe, sql)
			}
		})
	}
}
