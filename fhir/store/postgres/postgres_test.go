package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
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
// composite parameters (storetest.RunReindex).
func TestReindexOnUpgrade(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunReindex(t, storetest.ReindexHarness{
		Open: func(t *testing.T, log *slog.Logger) store.Store {
			s, err := postgres.Open(context.Background(), url, postgres.WithBaseURL(storetest.BaseURL), postgres.WithLogger(log))
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
