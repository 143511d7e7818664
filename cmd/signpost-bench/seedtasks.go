package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/signpost-fhir/signpost/fhir/store/postgres"
)

// seedTasks is `signpost-bench seedtasks`: it fills an empty PostgreSQL
// database with the search benchmark's workload (postgres.SeedTasks:
// practices, patients with NHS numbers, navigation Tasks owned by the
// practices and for the patients), with exactly the index rows the store
// writes, through COPY, then analyzes it.
//
//	signpost-bench seedtasks [-database-url URL] [-tasks 1000000] [-practices 500] [-patients 200000]
func seedTasks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("signpost-bench seedtasks", flag.ContinueOnError)
	dbURL := fs.String("database-url", "", "postgres:// URL of the database to fill (default DATABASE_URL, DATABASE_URL_FILE)")
	tasks := fs.Int("tasks", 1_000_000, "navigation Tasks to create")
	practices := fs.Int("practices", 500, "practices (Organizations) owning them")
	patients := fs.Int("patients", 0, "patients they are for (default tasks/5)")
	seed := fs.Uint64("seed", 20261120, "seed of the generator: the same seed gives the same data")
	fixture := fs.String("fixture", "", "Task JSON every Task copies (default: the embedded navigation Task)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return errHelp
		}
		return usageErr("seedtasks: %v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("seedtasks: unexpected argument %q", fs.Arg(0))
	}
	url, err := secret(*dbURL, "DATABASE_URL", getenv)
	if err != nil {
		return err
	}
	if url == "" {
		return usageErr("seedtasks: no -database-url or DATABASE_URL")
	}
	if *tasks <= 0 || *practices <= 0 || *patients < 0 {
		return usageErr("seedtasks: -tasks and -practices must be positive, -patients not negative")
	}
	if *patients == 0 {
		*patients = max(1, *tasks/5)
	}
	tmpl := defaultFixture
	if *fixture != "" {
		if tmpl, err = os.ReadFile(*fixture); err != nil {
			return usageErr("seedtasks: %v", err)
		}
	}
	st, err := postgres.Open(ctx, url, postgres.WithMaxConns(4))
	if err != nil {
		return err
	}
	defer st.Close()
	var have int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM resources").Scan(&have); err != nil {
		return err
	}
	if have > 0 {
		return fmt.Errorf("seedtasks: the database already holds %d resources; seed an empty one", have)
	}
	began := time.Now()
	last := began
	err = postgres.SeedTasks(ctx, st, postgres.SeedConfig{
		Tasks: *tasks, Practices: *practices, Patients: *patients, Template: tmpl, Seed: *seed,
		Progress: func(n int) {
			if time.Since(last) >= 10*time.Second {
				last = time.Now()
				fmt.Fprintf(stdout, "seeded %d Tasks in %v\n", n, time.Since(began).Round(time.Second))
			}
		},
	})
	if err != nil {
		return err
	}
	if _, err := st.Pool().Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("seedtasks: vacuum analyze: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d Tasks, %d patients, %d practices in %v\n", *tasks, *patients, *practices, time.Since(began).Round(time.Second))
	return nil
}
