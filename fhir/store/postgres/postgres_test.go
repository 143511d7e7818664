package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testConns is the pool size in tests: enough for the contract suite's
// racers to contend for real, small enough that parallel subtests stay
// well under a server's max_connections.
const testConns = 8

func open(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.URL(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, postgres.WithMaxConns(testConns), postgres.WithBaseURL(storetest.BaseURL))
	})
}

// TestMigrateConcurrently opens one empty schema from several goroutines
// at once, as gateway replicas starting together do: every Open must
// succeed and the migrations must be recorded once.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, url, postgres.WithMaxConns(2)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var applied, distinct int
	if err := stores[0].Pool().QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", applied, distinct)
	}
	// Opening again applies nothing and works.
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestBodyIsJSONNotJSONB guards the column type: jsonb would rewrite
// decimals, and the contract suite's lossless test might not notice every
// rewrite jsonb makes.
func TestBodyIsJSONNotJSONB(t *testing.T) {
	s := open(t)
	rows, err := s.Pool().Query(context.Background(),
		"SELECT table_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'body'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, typ string
		if err := rows.Scan(&table, &typ); err != nil {
			t.Fatal(err)
		}
		if typ != "json" {
			t.Errorf("%s.body is %s, want json", table, typ)
		}
		n++
	}
	if n != 3 {
		t.Errorf("found %d body columns, want 3 (resources, resource_history, audit_events)", n)
	}
}

// TestTransactionRetriesDeadlock makes two transactions update two
// resources in opposite orders. PostgreSQL aborts one with a deadlock
// (40P01); Transaction must run its fn again, and both must commit.
func TestTransactionRetriesDeadlock(t *testing.T) {
	s := open(t, postgres.WithMaxConns(4))
	ctx := context.Background()
	for _, id := range []string{"x", "y"} {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","id":"` + id + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	var both sync.WaitGroup
	both.Add(2)
	var edits atomic.Int32
	update := func(tx store.Tx, id string) error {
		// Each update changes the content: an unchanged one writes nothing.
		r, _ := fhir.ParseResource([]byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"active":true,"name":[{"family":"edit%d"}]}`, id, edits.Add(1))))
		_, err := tx.Update(ctx, r, store.Precondition{})
		return err
	}
	work := func(first, second string) error {
		return s.Transaction(ctx, func(tx store.Tx) error {
			n := runs.Add(1)
			if err := update(tx, first); err != nil {
				return err
			}
			if n <= 2 {
				// The first runs of both wait for each other, so each
				// holds one row lock when it asks for the other.
				both.Done()
				both.Wait()
			}
			return update(tx, second)
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = work("x", "y") })
	wg.Go(func() { errs[1] = work("y", "x") })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Fatalf("fn ran %d times, want 3 (one retry after the deadlock)", n)
	}
	for _, id := range []string{"x", "y"} {
		v, err := s.Read(ctx, "Patient", id)
		if err != nil || v.VersionID != 3 {
			t.Fatalf("Patient/%s: version %d, %v; want 3", id, v.VersionID, err)
		}
	}
}

func TestCreateAllIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	res := func(id string) *fhir.Resource {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"AuditEvent","id":"` + id + `","recorded":"2026-11-21T07:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	vs, err := s.CreateAll(ctx, []*fhir.Resource{res("a1"), res("a2"), res("a3")})
	if err != nil || len(vs) != 3 {
		t.Fatalf("CreateAll: %v, %d versions", err, len(vs))
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if v, err := s.Read(ctx, "AuditEvent", id); err != nil || v.VersionID != 1 {
			t.Fatalf("AuditEvent/%s: %v", id, err)
		}
	}
	_, err = s.CreateAll(ctx, []*fhir.Resource{res("b1"), res("a2"), res("b3")})
	if !errors.Is(err, fhir.ErrDuplicate) {
		t.Fatalf("a batch with an id in use: %v, want a duplicate error", err)
	}
	for _, id := range []string{"b1", "b3"} {
		if _, err := s.Read(ctx, "AuditEvent", id); !errors.Is(err, fhir.ErrNotFound) {
			t.Errorf("AuditEvent/%s stored by a failed batch: %v", id, err)
		}
	}
}

// TestServerWarnings: a server without autovacuum is reported, one with
// it is not (whichever this one is).
func TestServerWarnings(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer s.Close()
	var on string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT current_setting('autovacuum')").Scan(&on))
	warnings, err := s.ServerWarnings(ctx)
	require.NoError(t, err)
	if on == "on" {
		assert.Empty(t, warnings)
	} else {
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], "autovacuum=off")
	}
}

// TestReindexOnUpgrade opens a database whose index was built before
// composite parameters (storetest.RunReindex), with a pool of one
// connection (the batches are savepoints of the lock's transaction) and
// of several (each batch its own transaction).
func TestReindexOnUpgrade(t *testing.T) {
	for _, conns := range []int32{1, 4} {
		t.Run(fmt.Sprintf("conns=%d", conns), func(t *testing.T) { testReindexOnUpgrade(t, conns) })
	}
}

func testReindexOnUpgrade(t *testing.T, conns int32) {
	url := pgtest.URL(t)
	storetest.RunReindex(t, storetest.ReindexHarness{
		Open: func(t *testing.T, log *slog.Logger) store.Store {
			s, err := postgres.Open(context.Background(), url, postgres.WithMaxConns(conns), postgres.WithBaseURL(storetest.BaseURL), postgres.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Exec: func(t *testing.T, q string) {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
	})
}

// TestReindexRacesAWrite upgrades a database while a gateway of this
// version updates a resource the rebuild is about to reach, and three
// gateways start together: one rebuilds, the others wait for it, and the
// updated resource keeps the rows of its new body, not rows the rebuild
// derived from the body it replaced.
func TestReindexRacesAWrite(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	running, err := postgres.Open(ctx, url, postgres.WithBaseURL(storetest.BaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	bp := func(id string, systolic int) *fhir.Resource {
		r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"final",
		  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		  "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":%d,"unit":"mmHg"}}]}`, id, systolic))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, r := range []*fhir.Resource{bp("bp-a", 150), bp("bp-b", 95)} {
		if _, err := running.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"DELETE FROM idx_token WHERE param LIKE '%$%'",
		"DELETE FROM idx_quantity WHERE param LIKE '%$%'",
		"DELETE FROM search_index_version",
	} {
		if _, err := running.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	const n = 3
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var once sync.Once
	opened := make(chan struct{})
	err = running.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Update(ctx, bp("bp-a", 90), store.Precondition{}); err != nil {
			return err
		}
		once.Do(func() {
			for i := range n {
				wg.Go(func() {
					stores[i], errs[i] = postgres.Open(ctx, url, postgres.WithMaxConns(2), postgres.WithBaseURL(storetest.BaseURL), postgres.WithLogger(logger))
				})
			}
			go func() { wg.Wait(); close(opened) }()
		})
		// Commit once the rebuild waits on the row this transaction
		// holds, or once the opens are done without waiting for it.
		for {
			select {
			case <-opened:
				return nil
			default:
			}
			var waiting int
			if err := running.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')
				AND (query LIKE '%(type, id) >%' OR query LIKE 'WITH cur AS (SELECT $1::text%')`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	})
	wg.Wait()
	for i := range n {
		if stores[i] != nil {
			defer stores[i].Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	if got := strings.Count(logs.String(), "msg=\"search index rebuilt\""); got != 1 {
		t.Errorf("%d rebuilds, want 1:\n%s", got, logs.String())
	}
	find := func(query string) []string {
		v, err := neturl.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := search.ParseQuery("Observation", v, true)
		if err != nil {
			t.Fatal(err)
		}
		page, err := stores[0].Search(ctx, q, store.PageRequest{Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Matches {
			ids = append(ids, m.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := find("component-code-value-quantity=8480-6$gt100"); len(got) != 0 {
		t.Errorf("systolic > 100 finds %v: the rebuild overwrote the update's rows with its old body's", got)
	}
	if got := find("component-code-value-quantity=8480-6$lt100"); !slices.Equal(got, []string{"bp-a", "bp-b"}) {
		t.Errorf("systolic < 100 finds %v, want [bp-a bp-b]", got)
	}
	if got := find("component-value-quantity=150"); len(got) != 0 {
		t.Errorf("a value of the replaced body is still indexed: %v", got)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestOptional: the PostgreSQL store provides every optional interface,
// each agreeing with the way round it (storetest.RunOptional).
func TestOptional(t *testing.T) {
	storetest.RunOptional(t, func(t *testing.T) store.Store {
		return open(t, postgres.WithMaxConns(testConns), postgres.WithBaseURL(storetest.BaseURL))
	}, storetest.Optional{BulkCreator: true, OutboxStatser: true, ChangeCounter: true, Availability: true,
		BatchCreator: true, TokenMatcher: true, MultiLocker: true})
}
