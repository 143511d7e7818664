package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestURLIsolated checks each URL is its own empty schema, that what one
// test writes the other does not see, and that the schema is gone after
// the test that asked for it.
func TestURLIsolated(t *testing.T) {
	ctx := context.Background()
	var schemaA string
	t.Run("a", func(t *testing.T) {
		a, b := pgtest.URL(t), pgtest.URL(t)
		ca, err := pgx.Connect(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		defer ca.Close(ctx)
		cb, err := pgx.Connect(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		defer cb.Close(ctx)
		var schemaB string
		if err := ca.QueryRow(ctx, "SELECT current_schema()").Scan(&schemaA); err != nil {
			t.Fatal(err)
		}
		if err := cb.QueryRow(ctx, "SELECT current_schema()").Scan(&schemaB); err != nil {
			t.Fatal(err)
		}
		if schemaA == "" || schemaA == schemaB {
			t.Fatalf("schemas %q and %q: want two distinct schemas", schemaA, schemaB)
		}
		var tables int
		if err := ca.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("a new schema has %d tables, want 0", tables)
		}
		if _, err := ca.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.Exec(ctx, "SELECT * FROM t"); err == nil {
			t.Fatal("a table made through one URL is visible through another")
		}
	})
	if schemaA == "" {
		return // skipped: no server
	}
	admin := pgtest.URL(t)
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schemaA).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("schema %s is still there after its test ended", schemaA)
	}
}

// TestClusterStopStart stops a private cluster in each shutdown mode and
// starts it again: while it is down nothing connects, and afterwards every
// committed row is still there, an immediate shutdown included.
func TestClusterStopStart(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for i, mode := range []string{"fast", "immediate"} {
		conn, err := pgx.Connect(ctx, c.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
		c.Stop(t, mode)
		if err := conn.Ping(ctx); err == nil {
			t.Fatalf("after pg_ctl stop -m %s a connection still answers", mode)
		}
		conn.Close(ctx)
		if conn, err := pgx.Connect(ctx, c.URL); err == nil {
			conn.Close(ctx)
			t.Fatalf("after pg_ctl stop -m %s a new connection opens", mode)
		}
		c.Start(t)
		conn, err = pgx.Connect(ctx, c.URL)
		if err != nil {
			t.Fatalf("after restarting from a %s shutdown: %v", mode, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if n != i+1 {
			t.Fatalf("after a %s shutdown %d committed rows remain, want %d", mode, n, i+1)
		}
	}
}
