package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/signpost-fhir/signpost/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var (
	errUsage = cli.ErrUsage
	errHelp  = cli.ErrHelp
)

func usageErr(format string, args ...any) error { return cli.Usage(format, args...) }

func secret(flagValue, name string, getenv func(string) string) (string, error) {
	return cli.Secret(flagValue, name, getenv)
}

// run is the whole program; it returns the exit code: 0 done, 1 failed
// (a failed request fails the bench), 2 invalid usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "seedtasks":
		err = seedTasks(ctx, args[1:], getenv, stdout, stderr)
	case len(args) > 0 && args[0] == "bench":
		err = bench(ctx, args[1:], getenv, stdout, stderr)
	case len(args) > 0 && args[0] == "help":
		printOverview(stdout)
		return 0
	case len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-':
		err = usageErr("unknown command %q (want bench, seedtasks or help; with flags only, the bench runs)", args[0])
	default:
		err = bench(ctx, args, getenv, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "signpost-bench:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "signpost-bench:", err)
		return 1
	}
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "signpost-bench: load figures of a Signpost gateway.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage:")
	fmt.Fprintln(w, "  signpost-bench [bench] [flags]    create, read and raw-insert phases; -h for the flags")
	fmt.Fprintln(w, "  signpost-bench seedtasks [flags]  bulk-load synthetic Tasks into PostgreSQL for search benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "docs/performance.md says how the figures are taken and read.")
}
