package sqlsearch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Summarizers are the summarizers registered with one store, by resource
// type. The zero value is empty and ready; it is safe for concurrent use.
type Summarizers struct {
	mu     sync.RWMutex
	byType map[string][]store.Summarizer
}

// SummaryRow is a summary row as both stores' idx_summary holds it.
type SummaryRow struct {
	Kind, Key string
	At        int64 // Unix microseconds
	Data      string
}

// Register adds s (replacing a summarizer of the same kind).
func (z *Summarizers) Register(s store.Summarizer) error {
	if s.Kind == "" || s.Type == "" || s.Summarize == nil {
		return fmt.Errorf("a summarizer needs a kind, a type and a function")
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.byType == nil {
		z.byType = map[string][]store.Summarizer{}
	}
	for typ, list := range z.byType {
		kept := list[:0:0]
		for _, x := range list {
			if x.Kind != s.Kind {
				kept = append(kept, x)
			}
		}
		z.byType[typ] = kept
	}
	z.byType[s.Type] = append(z.byType[s.Type], s)
	return nil
}

// Has reports whether resources of typ are summarised: their writes must
// replace summary rows.
func (z *Summarizers) Has(typ string) bool {
	if z == nil {
		return false
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	return len(z.byType[typ]) > 0
}

// Rows are the summary rows of r.
func (z *Summarizers) Rows(r *fhir.Resource) []SummaryRow {
	if z == nil {
		return nil
	}
	z.mu.RLock()
	list := z.byType[r.Type()]
	z.mu.RUnlock()
	var out []SummaryRow
	for _, s := range list {
		out = append(out, summaryRows(s, r)...)
	}
	return out
}

// SummaryRowsOf are the rows one summarizer derives from r, keys made
// distinct (the first row of a key wins).
func SummaryRowsOf(s store.Summarizer, r *fhir.Resource) []SummaryRow { return summaryRows(s, r) }

func summaryRows(s store.Summarizer, r *fhir.Resource) []SummaryRow {
	rows := s.Summarize(r)
	out := make([]SummaryRow, 0, len(rows))
next:
	for _, x := range rows {
		for _, o := range out {
			if o.Key == x.Key {
				continue next
			}
		}
		out = append(out, SummaryRow{Kind: s.Kind, Key: x.Key, At: x.At.UnixMicro(), Data: x.Data})
	}
	return out
}

// RowsWith are RowsOf(r) with the summary rows of z.
func RowsWith(r *fhir.Resource, z *Summarizers) Rows {
	rows := RowsOf(r)
	if z.Has(r.Type()) {
		rows.Summarized = true
		rows.Summaries = z.Rows(r)
	}
	return rows
}

// Summary rows are written and read the same way by both stores, through
// a small interface: Querier's reads, with Exec for a rebuild's writes.
// Statements use ? placeholders, which the PostgreSQL store rebinds.

// SummaryTx is one write transaction of a store, as RebuildSummaries
// uses it.
type SummaryTx interface {
	Querier
	Exec(ctx context.Context, sql string, args ...any) error
}

// rebuildBatch is how many resources a rebuild reads at a time;
// insertBatch how many rows one insert writes (6 values each, well under
// either database's limit on bound values).
const (
	rebuildBatch = 1000
	insertBatch  = 500
)

// RebuildSummaries is the rebuild of store.Summaries.RegisterSummarizer,
// inside tx, a write transaction the store has begun (and which, on a
// database other processes write at once, it has locked for sm.Kind, so
// that processes starting together rebuild once). When the database's
// rows of sm.Kind were made by sm's type and version it does nothing;
// otherwise it replaces them by those sm derives from every current
// resource of sm.Type and records the new fingerprint. A row already
// there is kept (a write's insert overwrites a rebuilt row, a rebuilt row
// never overwrites a write's).
func RebuildSummaries(ctx context.Context, tx SummaryTx, sm store.Summarizer) error {
	fp := store.SummaryFingerprint(sm)
	var have string
	if err := tx.Query(ctx, "SELECT fingerprint FROM summary_kinds WHERE kind = ?", []any{sm.Kind}, func(scan func(dest ...any) error) error {
		return scan(&have)
	}); err != nil {
		return err
	}
	if have == fp {
		return nil
	}
	if err := tx.Exec(ctx, "DELETE FROM idx_summary WHERE kind = ?", sm.Kind); err != nil {
		return err
	}
	type pending struct {
		id  string
		row SummaryRow
	}
	for after := ""; ; {
		var out []pending
		n := 0
		err := tx.Query(ctx, "SELECT id, body FROM resources WHERE type = ? AND NOT deleted AND id > ? ORDER BY id LIMIT ?",
			[]any{sm.Type, after, rebuildBatch}, func(scan func(dest ...any) error) error {
				var id string
				var body []byte
				if err := scan(&id, &body); err != nil {
					return err
				}
				n++
				after = id
				r, err := fhir.ParseResource(body)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", sm.Type, id, err)
				}
				for _, x := range SummaryRowsOf(sm, r) {
					out = append(out, pending{id, x})
				}
				return nil
			})
		if err != nil {
			return err
		}
		for i := 0; i < len(out); i += insertBatch {
			chunk := out[i:min(i+insertBatch, len(out))]
			args := make([]any, 0, 6*len(chunk))
			for _, p := range chunk {
				args = append(args, sm.Type, p.id, p.row.Kind, p.row.Key, p.row.At, p.row.Data)
			}
			sql := "INSERT INTO idx_summary (res_type, res_id, kind, key, at, data) VALUES (?,?,?,?,?,?)" +
				strings.Repeat(",(?,?,?,?,?,?)", len(chunk)-1) + " ON CONFLICT DO NOTHING"
			if err := tx.Exec(ctx, sql, args...); err != nil {
				return err
			}
		}
		if n < rebuildBatch {
			break
		}
	}
	return tx.Exec(ctx, `INSERT INTO summary_kinds (kind, fingerprint) VALUES (?, ?)
		ON CONFLICT (kind) DO UPDATE SET fingerprint = excluded.fingerprint, built_at = CURRENT_TIMESTAMP`, sm.Kind, fp)
}

// ScanSummaries is store.Summaries.ScanSummaries on db, for the store
// named storeName. An error of fn is returned as it is; a failure of the
// database is an internal error (store.Internal).
func ScanSummaries(ctx context.Context, storeName string, db Querier, q store.SummaryQuery, fn func(key string, at time.Time, data string) error) error {
	if len(q.Keys) == 0 {
		return nil
	}
	to := int64(1<<63 - 1)
	if !q.To.IsZero() {
		to = q.To.UnixMicro()
	}
	args := []any{q.Kind, q.From.UnixMicro(), to}
	for _, k := range q.Keys {
		args = append(args, k)
	}
	var fnErr error
	err := db.Query(ctx, "SELECT key, at, data FROM idx_summary WHERE kind = ? AND at >= ? AND at < ? AND key IN (?"+strings.Repeat(",?", len(q.Keys)-1)+") ORDER BY at",
		args, func(scan func(dest ...any) error) error {
			var key, data string
			var at int64
			if err := scan(&key, &at, &data); err != nil {
				return err
			}
			fnErr = fn(key, time.UnixMicro(at).UTC(), data)
			return fnErr
		})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return store.Internal(storeName, err, "read summary %s", q.Kind)
	}
	return nil
}
