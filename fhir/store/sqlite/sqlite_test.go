package sqlite_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

func open(t testing.TB, dir string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), sqlite.WithBaseURL(storetest.BaseURL)) })
}

// TestOpen checks Open makes a missing folder (even one whose name would
// read as URI syntax), the file in it, and that a second store on the same
// folder, opened while the first is open, sees the first's writes.
func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "odd ?name#1%20")
	ctx := context.Background()
	a := open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Fatalf("no database file: %v", err)
	}
	r := mustParse(t, `{"resourceType":"Patient","id":"shared"}`)
	if _, err := a.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir)
	if _, err := b.Read(ctx, "Patient", "shared"); err != nil {
		t.Fatalf("a second store on the same file: %v", err)
	}
}

// TestMigrateConcurrently opens one new folder from several goroutines at
// once (each its own connections, as separate processes would have).
func TestMigrateConcurrently(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := sqlite.Open(context.Background(), dir)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
}

// TestReindexOnUpgrade opens a file whose index was built before
// composite parameters (storetest.RunReindex).
func TestReindexOnUpgrade(t *testing.T) {
	dir := t.TempDir()
	storetest.RunReindex(t, storetest.ReindexHarness{
		Open: func(t *testing.T, log *slog.Logger) store.Store {
			s, err := sqlite.Open(context.Background(), dir, sqlite.WithBaseURL(storetest.BaseURL), sqlite.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Exec: func(t *testing.T, q string) {
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
	})
}

// TestOptional: the optional interfaces the SQLite store provides, each
// agreeing with the way round it (storetest.RunOptional). Its Tx has no
// BatchCreator or TokenMatcher: one writer in the same process gains
// nothing from batching round trips.
func TestOptional(t *testing.T) {
	storetest.RunOptional(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), sqlite.WithBaseURL(storetest.BaseURL)) },
		storetest.Optional{BulkCreator: true, OutboxStatser: true, ChangeCounter: true, MultiLocker: true})
}
