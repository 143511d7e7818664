package postgres_test

import (
	"context"
	"os"
	"sync"
	"testing"

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
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, postgres.WithMaxConns(testConns)) })
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
	if n != 2 {
		t.Errorf("found %d body columns, want 2 (resources, resource_history)", n)
	}
}
