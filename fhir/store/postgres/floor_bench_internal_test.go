package postgres

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// BenchmarkCreateStatementParallel is the database's share of a create,
// alone: the one statement Create sends (resource row, history row and
// search index rows) for the benchmark Task, with every argument built
// once before the timer starts, so each op is a new id and the database's
// work, and nothing else. It is the ceiling of any create path over this
// schema, against BenchmarkRawInsertParallel's bare single-row insert in
// the same run: "1" sends one create per transaction, as Create does;
// "8" sends eight in one transaction (pipelined, as CreateAll does), the
// most a gateway that grouped concurrent creates could save in commits
// and round trips. The "+audit" cases add the insert of the create's
// AuditEvent (testdata/auditevent-create.json, as the gateway records a
// create) to each create's transaction, as the gateway writes it.
func BenchmarkCreateStatementParallel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(b), WithMaxConns(storetest.BenchClients))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	data, err := os.ReadFile("../../../testdata/task-navigate.json")
	if err != nil {
		b.Fatal(err)
	}
	r, err := fhir.ParseResource(data)
	if err != nil {
		b.Fatal(err)
	}
	body, err := stamp(r, 1, store.Now())
	if err != nil {
		b.Fatal(err)
	}
	rows := sqlsearch.RowsWith(r, &s.sums)
	mask := tableMask(&rows)
	sql := insertSQL(mask)
	// args(id) is the statement's arguments for a create of id: the
	// index arrays are shared, since pgx only reads them.
	index := indexArgs(&rows, mask)
	args := func(id string) []any {
		return append([]any{r.Type(), id, store.Now(), string(store.MethodCreate), body}, index...)
	}
	data, err = os.ReadFile("../../../testdata/auditevent-create.json")
	if err != nil {
		b.Fatal(err)
	}
	ae, err := fhir.ParseResource(data)
	if err != nil {
		b.Fatal(err)
	}
	ae.SetID("template")
	audit, err := auditInsert(ae)
	if err != nil {
		b.Fatal(err)
	}
	auditArgs := func(id string) []any {
		a := audit.args()
		a[0] = id
		return a
	}
	// n counts the creates sent, audits the AuditEvents: the rows found
	// after each case must match, so no statement wrote nothing unseen.
	var n, audits atomic.Int64
	for _, c := range []struct {
		name  string
		perTx int
		audit bool
	}{{"1", 1, false}, {"8", 8, false}, {"1+audit", 1, true}, {"8+audit", 8, true}} {
		b.Run(c.name, func(b *testing.B) {
			var audited func(string) []any
			if c.audit {
				audited = func(id string) []any {
					audits.Add(1)
					return auditArgs(id)
				}
			}
			perTx := c.perTx
			b.SetBytes(int64(len(body)))
			storetest.SetClients(b, storetest.BenchClients)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := createStatements(ctx, s, sql, args, audited, &n, perTx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// Each op is perTx creates: report the time of one.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx), "ns/create")
			b.StopTimer()
			var tasks, events int64
			if err := s.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM resources), (SELECT count(*) FROM audit_events)").Scan(&tasks, &events); err != nil {
				b.Fatal(err)
			}
			if tasks != n.Load() || events != audits.Load() {
				b.Fatalf("stored %d resources and %d AuditEvents, sent %d and %d", tasks, events, n.Load(), audits.Load())
			}
		})
	}
}

// createStatements sends perTx create statements of new ids, each with
// its AuditEvent's insert when audit is set: one statement alone, else
// all in one transaction.
func createStatements(ctx context.Context, s *Store, sql string, args, audit func(string) []any, n *atomic.Int64, perTx int) error {
	id := func() string { return "floor-" + strconv.FormatInt(n.Add(1), 10) }
	if perTx == 1 && audit == nil {
		_, err := s.pool.Exec(ctx, sql, args(id())...)
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for range perTx {
			id := id()
			batch.Queue(sql, args(id)...)
			if audit != nil {
				batch.Queue(insertAuditSQL, audit(id)...)
			}
		}
		return tx.SendBatch(ctx, batch).Close()
	})
}
