package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// BulkLoad writes resources as version 1 (method POST), history row and
// index rows included, with COPY, in one transaction: the fast way to
// seed a benchmark or test database with exactly what Create would have
// written (the same stamping and the same sqlsearch.RowsOf). It is not a
// REST interaction: ids must be valid and new (an id in use fails the
// whole load with a unique violation), and resources are stamped in
// place.
func (s *Store) BulkLoad(ctx context.Context, rs []*fhir.Resource) error {
	var res, tok, str, ref, dat, num, qty, uri, sum [][]any
	now := store.Now()
	for _, r := range rs {
		if err := store.CheckResource(r); err != nil {
			return err
		}
		typ, id := r.Type(), r.ID()
		body, err := stamp(r, 1, now)
		if err != nil {
			return err
		}
		res = append(res, []any{typ, id, int64(1), now, string(store.MethodCreate), false, body})
		rows := sqlsearch.RowsWith(r, &s.sums)
		for _, x := range rows.Summaries {
			sum = append(sum, []any{typ, id, x.Kind, x.Key, x.At, x.Data})
		}
		for _, x := range rows.Tokens {
			tok = append(tok, []any{typ, id, x.Param, x.System, x.Code, x.Text, x.TypeSystem, x.TypeCode})
		}
		for _, x := range rows.Strings {
			str = append(str, []any{typ, id, x.Param, x.Value, x.Exact})
		}
		for _, x := range rows.References {
			ref = append(ref, []any{typ, id, x.Param, x.Base, nullText(x.Type), nullText(x.ID), x.Version, x.URL, x.IdentifierSystem, nullText(x.IdentifierValue), nullText(rows.Status), nullInt(rows.DateLow, rows.HasDate), nullInt(rows.DateHigh, rows.HasDate)})
		}
		for _, x := range rows.Dates {
			dat = append(dat, []any{typ, id, x.Param, x.Low, x.High})
		}
		for _, x := range rows.Numbers {
			num = append(num, []any{typ, id, x.Param, numeric(x.Value), numeric(x.Low), numeric(x.High)})
		}
		for _, x := range rows.Quantities {
			qty = append(qty, []any{typ, id, x.Param, numeric(x.Value), numeric(x.Low), numeric(x.High), x.System, x.Code, x.Unit})
		}
		for _, x := range rows.URIs {
			uri = append(uri, []any{typ, id, x.Param, x.Value})
		}
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"resources", []string{"type", "id", "version", "last_updated", "method", "deleted", "body"}, res},
		{"resource_history", []string{"type", "id", "version", "last_updated", "method", "deleted", "body"}, res},
		{"idx_token", []string{"res_type", "res_id", "param", "system", "code", "text", "type_system", "type_code"}, tok},
		{"idx_string", []string{"res_type", "res_id", "param", "value", "exact"}, str},
		{"idx_reference", []string{"res_type", "res_id", "param", "base", "target_type", "target_id", "version", "url", "id_system", "id_value", "res_status", "res_date_low", "res_date_high"}, ref},
		{"idx_date", []string{"res_type", "res_id", "param", "low", "high"}, dat},
		{"idx_number", []string{"res_type", "res_id", "param", "value", "low", "high"}, num},
		{"idx_quantity", []string{"res_type", "res_id", "param", "value", "low", "high", "system", "code", "unit"}, qty},
		{"idx_uri", []string{"res_type", "res_id", "param", "value"}, uri},
		{"idx_summary", []string{"res_type", "res_id", "kind", "key", "at", "data"}, sum},
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, c := range copies {
			if len(c.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("copy into %s: %w", c.table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: bulk load: %w", err)
	}
	return nil
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(n int64, ok bool) any {
	if !ok {
		return nil
	}
	return n
}

func numeric(d search.Decimal) any {
	if d.IsUnbounded() {
		return nil
	}
	var n pgtype.Numeric
	if err := n.Scan(string(d)); err != nil {
		return nil
	}
	return n
}

// SeedConfig sizes SeedTasks.
type SeedConfig struct {
	// Tasks, spread evenly over Practices (Organizations org-0000 ...)
	// and Patients (pat-000000 ..., each with an NHS number identifier).
	Tasks, Practices, Patients int
	// Template is the JSON of the Task every seeded Task is a copy of
	// (testdata/task-navigate.json); id, status, owner, for, authoredOn
	// and identifier are replaced.
	Template []byte
	// Seed makes the data reproducible: the same seed gives the same
	// resources, so a benchmark knows which values it can ask for.
	Seed uint64
	// Workers load batches concurrently (4 when 0).
	Workers int
	// Progress, when set, is told the number of Tasks loaded so far.
	Progress func(tasks int)
}

// NHS number system of the seeded Patients.
const nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// SeedPractice and SeedNHSNumber name the seeded Organization i and the
// identifier value of seeded Patient i.
func SeedPractice(i int) string  { return fmt.Sprintf("org-%04d", i) }
func SeedPatient(i int) string   { return fmt.Sprintf("pat-%06d", i) }
func SeedNHSNumber(i int) string { return fmt.Sprintf("9%09d", i) }

// seedStatuses is the Task status mix: a quarter requested.
var seedStatuses = []string{"requested", "requested", "accepted", "in-progress", "in-progress", "completed", "completed", "completed"}

// SeedTasks fills an empty store with a care-navigation workload for
// benchmarks: cfg.Practices Organizations, cfg.Patients Patients and
// cfg.Tasks navigation Tasks (a quarter of them requested, authored over
// the two years before 2026-01-01), each owned by a practice and for a
// patient through literal references, through BulkLoad. It does not
// ANALYZE; callers about to measure queries should.
func SeedTasks(ctx context.Context, s *Store, cfg SeedConfig) error {
	if cfg.Tasks < 0 || cfg.Practices <= 0 || cfg.Patients <= 0 {
		return fmt.Errorf("postgres: seed: need practices and patients")
	}
	tmpl, err := fhir.ParseResource(cfg.Template)
	if err != nil {
		return fmt.Errorf("postgres: seed: template: %w", err)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = 4
	}
	const batch = 2000
	var base []*fhir.Resource
	for i := range cfg.Practices {
		r, err := fhir.ParseResource(fmt.Appendf(nil,
			`{"resourceType":"Organization","id":%q,"active":true,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y%05d"}],"name":"Practice %d"}`,
			SeedPractice(i), i, i))
		if err != nil {
			return err
		}
		base = append(base, r)
	}
	for i := range cfg.Patients {
		r, err := fhir.ParseResource(fmt.Appendf(nil,
			`{"resourceType":"Patient","id":%q,"identifier":[{"system":%q,"value":%q}],"name":[{"family":"Seeded%d","given":["Pat"]}],"gender":"unknown"}`,
			SeedPatient(i), nhsNumberSystem, SeedNHSNumber(i), i))
		if err != nil {
			return err
		}
		base = append(base, r)
	}
	for len(base) > 0 {
		n := min(batch, len(base))
		if err := s.BulkLoad(ctx, base[:n]); err != nil {
			return err
		}
		base = base[n:]
	}

	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	span := int64(2 * 365 * 24 * time.Hour / time.Second)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				from := int(next.Add(batch)) - batch
				if from >= cfg.Tasks || ctx.Err() != nil {
					return
				}
				to := min(from+batch, cfg.Tasks)
				rs := make([]*fhir.Resource, 0, to-from)
				for i := from; i < to; i++ {
					// One generator per Task: reproducible whatever the
					// worker that builds it.
					rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
					r := tmpl.Clone()
					o := r.Object()
					o["id"] = fmt.Sprintf("task-%07d", i)
					o["status"] = seedStatuses[rng.IntN(len(seedStatuses))]
					practice := i % cfg.Practices
					o["owner"] = map[string]any{"reference": "Organization/" + SeedPractice(practice)}
					o["for"] = map[string]any{"reference": "Patient/" + SeedPatient(rng.IntN(cfg.Patients))}
					o["authoredOn"] = start.Add(time.Duration(rng.Int64N(span)) * time.Second).Format(time.RFC3339)
					o["identifier"] = []any{map[string]any{"system": "https://signpost.example/fhir/sid/contact-id", "value": fmt.Sprintf("c-%07d", i)}}
					rs = append(rs, r)
				}
				if err := s.BulkLoad(ctx, rs); err != nil {
					errs <- err
					return
				}
				if cfg.Progress != nil {
					cfg.Progress(int(done.Add(int64(len(rs)))))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}
